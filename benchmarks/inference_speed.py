"""Inference speed, old against new in the same run (json on stdout).

``old`` is the reference path (``InferenceConfig(fast=False)``) with the model's
pyramid (``meta["scales"]`` of the committed checkpoint: 1.41, 2, 2.83, 4);
``new`` is the fast path (batch norm folded, channels-last, bf16 on CUDA) with
``--new-scales``, or the scales :func:`pushseg.evaluation.coco_eval.choose_scales`
picks on ``--val-scenes``, and with ``--table-region`` only windows on the table.
The two are timed interleaved, image by image, so that a machine shared with
other work slows both alike; CPU time (this process) is reported beside wall time.

Without ``--test-scenes`` the images are random 960x540 ones (speed does not
depend on content); with it they are the scenes' images, and AP@0.5/0.75/0.5:0.95
of old and new on them are reported too. ``--device cuda`` times the small trunk
and the ResNet-50 trunk (random weights, the same pyramid relative to objects).

    python benchmarks/inference_speed.py --threads 1
    python benchmarks/inference_speed.py --test-scenes data/test --val-scenes data/val --table-region
    python benchmarks/inference_speed.py --device cuda --images 20
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from pushseg.training.checkpoint import PRETRAINED_PATH, load_model
from pushseg.training.config import InferenceConfig, ModelConfig, parse_scales
from pushseg.training.inference import Segmenter
from pushseg.training.model import DeepMask


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(segs: dict[str, Segmenter], images: list[np.ndarray], regions: dict[str, list], repeats: int) -> dict:
    """ms per image (wall and this process's CPU) of each segmenter, timed image by image in turn.

    ``regions[k][i]`` is None or a function that makes image i's region: it is timed with the segmenter.
    """
    wall = {k: 0.0 for k in segs}
    cpu = {k: 0.0 for k in segs}
    def region(k: str, i: int):
        return None if regions[k][i] is None else regions[k][i]()

    for k, seg in segs.items():  # warm-up (first-call allocations, cuDNN autotuning)
        seg(images[:1], [region(k, 0)])
    for _ in range(repeats):
        for i, im in enumerate(images):
            for k, seg in segs.items():
                _sync(seg.device)
                t0, c0 = time.perf_counter(), time.process_time()
                seg([im], [region(k, i)])
                _sync(seg.device)
                wall[k] += time.perf_counter() - t0
                cpu[k] += time.process_time() - c0
    n = repeats * len(images)
    return {k: {"ms_per_image": round(1000 * wall[k] / n, 1), "cpu_ms_per_image": round(1000 * cpu[k] / n, 1)}
            for k in segs}


def paired_bootstrap(old, new, resamples: int, seed: int = 0) -> dict:
    """new - old AP on the same scenes, with a 95 % percentile interval over scenes resampled in pairs."""
    ids = np.asarray(old.image_ids)
    rng = np.random.default_rng(seed)
    diffs: dict[str, list[float]] = {k: [] for k in ("AP50", "AP75", "AP")}
    for _ in range(resamples):
        sample = rng.choice(ids, len(ids), replace=True).tolist()
        a, b = old.evaluate(sample), new.evaluate(sample)
        for k in diffs:
            diffs[k].append(b[k] - a[k])
    a, b = old.evaluate(), new.evaluate()
    return {k: {"value": round(b[k] - a[k], 2), "low": round(float(np.percentile(v, 2.5)), 2),
                "high": round(float(np.percentile(v, 97.5)), 2)} for k, v in diffs.items()} | {
        "resamples": resamples, "scenes": len(ids)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--images", type=int, default=5, help="random 960x540 images (without --test-scenes)")
    ap.add_argument("--repeats", type=int, default=1, help="passes over the images")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--model", default=str(PRETRAINED_PATH), help="small-trunk model file (its meta scales are old)")
    ap.add_argument("--new-scales", default="2", help="scales of the new path (what --val-scenes chose here)")
    ap.add_argument("--val-scenes", default=None, help="scenes folder: choose the new scales on it instead")
    ap.add_argument("--test-scenes", default=None, help="scenes folder: time on its images and report AP")
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the test scenes")
    ap.add_argument("--table-region", action="store_true", help="new path scores only windows on the table")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from pushseg.training.engine import pick_device

    device = pick_device(args.device)
    model = load_model(args.model)
    old_scales = tuple(model.meta.get("scales") or InferenceConfig().scales)
    new_scales = parse_scales(args.new_scales)
    out: dict = {"host": platform.node(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                 "device": str(device), "interleaved": True}
    if args.val_scenes:
        from pushseg.evaluation.coco_eval import choose_scales

        t0 = time.process_time()
        probe = Segmenter(model, InferenceConfig(scales=old_scales, table_region=args.table_region), device)
        pick = choose_scales(probe, f"{args.val_scenes}/annotations.json")
        new_scales = tuple(pick["scales"])
        out["scale_choice"] = {**pick, "cpu_seconds": round(time.process_time() - t0, 1)}
    old_cfg = InferenceConfig(scales=old_scales, fast=False)
    new_cfg = InferenceConfig(scales=new_scales, table_region=args.table_region)
    out["old"] = {"scales": list(old_scales), "fast": False, "table_region": False}
    out["new"] = {"scales": list(new_scales), "fast": True, "table_region": args.table_region}

    if args.test_scenes:
        from pushseg.data.coco import load_coco
        from pushseg.evaluation.coco_eval import CocoEvaluator, evaluate_model, scene_table_region
        from pushseg.training.data import find_image, read_rgb

        test_json = Path(args.test_scenes) / "annotations.json"
        segs = {"old": Segmenter(model, old_cfg, device), "new": Segmenter(model, new_cfg, device)}
        evs = {k: CocoEvaluator() for k in segs}
        for k, seg in segs.items():
            out[k].update(evaluate_model(seg, test_json, progress=False, evaluator=evs[k])["metrics"])
        out["new_minus_old"] = paired_bootstrap(evs["old"], evs["new"], args.resamples)
        gt = load_coco(test_json)
        roots = [test_json.parent]
        images = [read_rgb(find_image(im["file_name"], roots)) for im in gt["images"]]
        regions = {"old": [None] * len(images),
                   "new": [(lambda im=im: scene_table_region(im, roots)) if args.table_region else None
                           for im in gt["images"]]}  # depth read and table fit are timed with the new path
        speed = interleaved(segs, images, regions, args.repeats)
        for k in segs:
            out[k].update(speed[k])
        out["image_size"] = list(images[0].shape[:2][::-1])
    else:
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (540, 960, 3), dtype=np.uint8) for _ in range(args.images)]
        if args.table_region:
            ap.error("--table-region needs --test-scenes (the region comes from each scene's depth)")
        out["image_size"] = [960, 540]
        trunks = [("small", model)]
        if device.type == "cuda":
            torch.manual_seed(0)
            trunks.append(("resnet50", DeepMask(ModelConfig.preset("resnet50")).eval()))
        out["trunks"] = {}
        for name, net in trunks:
            # the same pyramid relative to objects: ResNet-50 works at 960 px with 92-px canonical objects
            k = 1.0 if name == "small" else (92 / 56) * (480 / 960)
            segs = {"old": Segmenter(net, InferenceConfig(scales=tuple(s * k for s in old_scales), fast=False), device),
                    "new": Segmenter(net, InferenceConfig(scales=tuple(s * k for s in new_scales)), device)}
            t = interleaved(segs, images, {"old": [None] * len(images), "new": [None] * len(images)}, args.repeats)
            t["ratio_wall"] = round(t["old"]["ms_per_image"] / t["new"]["ms_per_image"], 2)
            out["trunks"][name] = t
        out["old"].update(out["trunks"]["small"]["old"])  # the small trunk's figures at the top level
        out["new"].update(out["trunks"]["small"]["new"])
    out["ratio_wall"] = round(out["old"]["ms_per_image"] / out["new"]["ms_per_image"], 2)
    out["ratio_cpu"] = round(out["old"]["cpu_ms_per_image"] / max(1e-9, out["new"]["cpu_ms_per_image"]), 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    from pushseg.errors import InputError

    try:
        main()
    except InputError as e:  # e.g. --device cuda without a GPU: one line, exit 2
        raise SystemExit(f"error: {e}") from None
