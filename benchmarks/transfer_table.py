"""Input x pretraining source x test set: which pretraining carries to a real camera (json).

Every cell trains DeepMask from scratch with one recipe, once per training seed,
on one of these sources, all at 480x270 and from master seed 100:

* ``source``   -- ``pushseg scenes --split source``: procedural primitives, the PR2-like camera;
* ``transfer`` -- ``pushseg scenes --split transfer-source``: household-like meshes, procedural
  textures, any common RGB-D camera at any table (docs/world-profiles.md, "The transfer world");
* ``photos``   -- the ``source`` scenes with real photos in every batch (``--photos``; rgb only,
  photos have no depth).

Each model is scored with its default inference settings on the demo's simulated
target-test scenes (20 scenes, seed 1, 6-8 objects) and on real RGB-D frames
(imported with ``pushseg import-frames``). A row's interval is a percentile
bootstrap over test images of the AP averaged over training seeds; the
``vs_source`` interval is the paired bootstrap of the difference to the
``source`` row of the same input (the same resampled images for both). Nothing
here is tuned on the test sets.

    python benchmarks/transfer_table.py --work out/transfer-table --frames FRAMES \
        --photos COCO_JSON --seeds 0,1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from pushseg.data.real_frames import import_frames
from pushseg.evaluation.coco_eval import evaluate_model
from pushseg.experiments.scene_ap import ap_of, scene_records
from pushseg.experiments.stats import bootstrap, bootstrap_ap_difference
from pushseg.training.checkpoint import load_model
from pushseg.training.config import InferenceConfig
from pushseg.training.inference import Segmenter

SPLITS = {"source": "source", "transfer": "transfer-source"}
SIZE = ("--width", "480", "--height", "270")


def pushseg(*args: str) -> None:
    cmd = [str(Path(sys.executable).with_name("pushseg")), *args, "--no-progress"]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"transfer_table.py: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")


def make_scenes(out: Path, *args: str) -> Path:
    if not (out / "meta.json").is_file():
        pushseg("scenes", *args, *SIZE, "--out", str(out), "--workers", "2")
    return out / "annotations.json"


def train(work: Path, source: str, inp: str, seed: int, a) -> Path:
    out = work / "models" / f"{inp}-{source}-s{seed}"
    if not (out / "model.pt").is_file():
        scenes = work / "scenes" / ("source" if source == "photos" else source)
        extra = ("--photos", a.photos, "--photo-share", str(a.photo_share)) if source == "photos" else ()
        pushseg("pretrain", "--scenes", str(scenes), "--out", str(out), "--epochs", str(a.epochs), "--batches",
                str(a.batches), "--seed", str(seed), "--threads", str(a.threads), "--input", inp, *extra)
    return out / "model.pt"


def score(model_path: Path, gt: Path) -> list:
    model = load_model(str(model_path), device="cpu")
    cfg = InferenceConfig(scales=tuple(model.meta.get("scales", InferenceConfig().scales)))
    r = evaluate_model(Segmenter(model, cfg, "cpu"), gt, progress=False)
    return scene_records(json.loads(gt.read_text()), r["results"])


def row_interval(records: dict[int, list], metric: str, resamples: int) -> dict:
    seeds = sorted(records)
    n = len(records[seeds[0]])
    iv = bootstrap(lambda idx: sum(ap_of(records[s], idx)[metric] for s in seeds) / len(seeds), n,
                   n_boot=resamples, seed=0)
    per_seed = {s: round(ap_of(records[s])[metric], 1) for s in seeds}
    return {"mean": round(iv.estimate, 1), "low": round(iv.low, 1), "high": round(iv.high, 1), "per_seed": per_seed}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="out/transfer-table", help="folder for scenes and models (reused when present)")
    p.add_argument("--frames", default=os.environ.get("PUSHSEG_REAL_FRAMES"),
                   help="real frames folder (NAME-color/depth/label.png, camera.json; default: $PUSHSEG_REAL_FRAMES)")
    p.add_argument("--inputs", default="rgb,depth,rgbd")
    p.add_argument("--sources", default="source,transfer,photos")
    p.add_argument("--photos", default=None, help="COCO json of real photos (needed for the photos source)")
    p.add_argument("--photo-share", type=float, default=0.25)
    p.add_argument("--seeds", default="0,1", help="training seeds")
    p.add_argument("--train-scenes", type=int, default=120)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resamples", type=int, default=1000)
    a = p.parse_args()
    work = Path(a.work)
    inputs, sources = a.inputs.split(","), a.sources.split(",")
    seeds = [int(s) for s in a.seeds.split(",")]
    if not a.frames or not Path(a.frames).is_dir():
        sys.exit("transfer_table.py: pass --frames DIR (real RGB-D frames, docs/real-frames.md) or set PUSHSEG_REAL_FRAMES")
    if "photos" in sources and not a.photos:
        sys.exit("transfer_table.py: the photos source needs --photos COCO_JSON (or leave it out of --sources)")
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    for src in {"source" if s == "photos" else s for s in sources}:
        make_scenes(work / "scenes" / src, "--split", SPLITS[src], "--count", str(a.train_scenes), "--seed", "100")
    tests = {"sim target-test": make_scenes(work / "scenes" / "target-test", "--objects", "target-test", "--count",
                                            "20", "--seed", "1", "--min-objects", "6", "--max-objects", "8")}
    real = work / "scenes" / "real"
    if not (real / "annotations.json").is_file():
        import_frames(Path(a.frames), real)
    tests["real frames"] = real / "annotations.json"

    records: dict[tuple[str, str, str], dict[int, list]] = {}
    for inp in inputs:
        for src in sources:
            if src == "photos" and inp == "depth":
                continue  # a depth-only network cannot learn from photos
            for seed in seeds:
                model = train(work, src, inp, seed, a)
                for test, gt in tests.items():
                    records.setdefault((inp, src, test), {})[seed] = score(model, gt)
    rows = []
    for (inp, src, test), recs in records.items():
        row = {"input": inp, "source": src, "test": test, "AP50": row_interval(recs, "AP50", a.resamples),
               "AP": row_interval(recs, "AP", a.resamples)}
        base = records.get((inp, "source", test))
        if src != "source" and base:
            iv, paired = bootstrap_ap_difference(recs, base, "AP50", n_boot=a.resamples)
            row["AP50_vs_source"] = {"mean": round(iv.estimate, 1), "low": round(iv.low, 1),
                                     "high": round(iv.high, 1), "paired": paired}
        rows.append(row)
    print(json.dumps({"benchmark": "transfer_table", "recipe": {"train_scenes": a.train_scenes, "epochs": a.epochs,
                      "batches": a.batches, "seeds": seeds, "photo_share": a.photo_share, "size": "480x270"},
                      "interval": "95% percentile bootstrap over test images, AP averaged over training seeds",
                      "seconds": round(time.perf_counter() - t0), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
