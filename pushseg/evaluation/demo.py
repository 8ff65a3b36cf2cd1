"""The end-to-end SelfDeepMask experiment in simulation, behind ``pushseg demo``.

Steps (each writes into ``out`` and is skipped when its output is already there,
so an interrupted demo continues where it stopped):

1. pretrained model: the committed checkpoint (``pushseg pretrain`` on ``source``
   scenes), or with ``pretrain=True`` source scenes + pretraining here;
2. ``target-test`` scenes with ground truth (6-8 novel objects each);
3. collection with the separation agent on ``target-train`` objects;
4. self-made labels (``pushseg label``) and the oracle labels: the ground-truth
   masks of every object of the same before images ("human-labelled");
5. fine-tuning the pretrained model on each (score head only, bootstrapping on);
6. evaluation of four models on the test scenes -- pretrained, pretrained with
   NMS, SelfDeepMask (with NMS) and the oracle (with NMS) -- with PNG overlays of
   the four on the same scenes, ``report.md`` and ``report.json``.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from pushseg.errors import InputError


@dataclass
class DemoConfig:
    seed: int = 0
    width: int = 480  # images are rendered at half the Kinect2 qhd size (960x540)
    height: int = 270
    test_scenes: int = 20
    episodes: int = 30
    pushes_per_episode: int = 5
    finetune_epochs: int = 10
    finetune_batches: int = 100  # the reference implementation: 100 batches of 32 per epoch
    batch_size: int = 32
    nms: float = 0.5
    top_k: int = 50
    overlays: int = 4  # test scenes drawn with all four models
    workers: int = 1  # processes for collection and labelling
    pretrain: bool = False  # pretrain here instead of loading the committed checkpoint
    source_scenes: int = 300
    pretrain_epochs: int = 15
    model: str = ""  # a pretrained model file; "" = the committed checkpoint
    threads: int = 1  # torch CPU threads: 1 is robust when other processes share the cores


class _Steps:
    def __init__(self, total: int) -> None:
        self.total, self.k, self.t0, self.times = total, 0, time.perf_counter(), {}

    def start(self, name: str) -> float:
        self.k += 1
        tqdm.write(f"[{self.k}/{self.total}] {name} (t = {time.perf_counter() - self.t0:.0f} s)")
        return time.perf_counter()

    def done(self, key: str, t: float) -> None:
        self.times[key] = round(time.perf_counter() - t, 1)


def oracle_labels(labels_json: Path, out: Path, min_pixels: int = 30) -> dict[str, int]:
    """Ground-truth masks of every visible object in the images of ``labels_json`` (sim only)."""
    from pushseg.data.coco import CocoBuilder, load_coco
    from pushseg.data.run import RunReader

    data = load_coco(labels_json)
    readers: dict[str, RunReader] = {}
    b = CocoBuilder(info={"description": "ground-truth masks of the self-labelled images (oracle)"})
    for im in data["images"]:
        run = im.get("run")
        if run is None:
            raise InputError(f"{labels_json}: image {im['id']} has no 'run' field; cannot find its ground truth")
        reader = readers.setdefault(run, RunReader(run))
        rec = next(r for r in reader.records if (r.episode, r.step) == (im["episode"], im["step"]))
        ids = reader.load_frame(rec, "before").instance_ids
        if ids is None:
            raise InputError(f"{run}: the run has no ground-truth instance ids (real robot?); no oracle possible")
        image_id = b.add_image(im["file_name"], im["width"], im["height"])
        for v in np.unique(ids):
            m = ids == v
            if v != 0 and m.sum() >= min_pixels:
                b.add_mask(image_id, m)
    b.write(out)
    return {"images": len(b.images), "annotations": len(b.annotations)}


def run_demo(out: str | Path, cfg: DemoConfig, progress: bool = True) -> dict[str, Any]:
    import torch

    from pushseg.data.collection import CollectConfig, collect
    from pushseg.data.scenes import ScenesConfig, write_scenes
    from pushseg.evaluation.coco_eval import evaluate_model
    from pushseg.evaluation.report import ap_table, grid, overlay
    from pushseg.labeling import LabelConfig
    from pushseg.labeling.batch import label_run
    from pushseg.training.checkpoint import PRETRAINED_PATH, load_model
    from pushseg.training.config import InferenceConfig, ModelConfig, SamplerConfig, TrainConfig
    from pushseg.training.data import find_image, read_rgb
    from pushseg.training.recipes import finetune, pretrain

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    steps = _Steps(6)
    t_all = time.perf_counter()

    # 1. pretrained model
    t = steps.start("pretrained model")
    if cfg.pretrain:
        src = out / "source"
        if not (src / "annotations.json").is_file():
            write_scenes(ScenesConfig(objects="source", count=cfg.source_scenes, seed=cfg.seed + 1000,
                                      width=cfg.width, height=cfg.height), src, workers=cfg.workers, progress=progress)
        pre_path = out / "pretrained" / "model.pt"
        if not pre_path.is_file():
            pretrain(src / "annotations.json", out / "pretrained", ModelConfig(work_width=cfg.width),
                     TrainConfig(epochs=cfg.pretrain_epochs, batches_per_epoch=100, optimizer="adam", lr=1e-3,
                                 weight_decay=0.0, lr_decay="cosine", train_trunk=True, train_mask=True,
                                 bootstrap=False, seed=cfg.seed, threads=cfg.threads),
                     resume=True, progress=progress)
    else:
        pre_path = Path(cfg.model) if cfg.model else PRETRAINED_PATH
    pretrained = load_model(pre_path)
    steps.done("pretrained", t)

    # 2. held-out test scenes
    t = steps.start("target-test scenes (novel objects, ground truth)")
    test_dir = out / "target-test"
    if not (test_dir / "annotations.json").is_file():
        shutil.rmtree(test_dir, ignore_errors=True)
        write_scenes(ScenesConfig(objects="target-test", count=cfg.test_scenes, seed=cfg.seed + 2000,
                                  width=cfg.width, height=cfg.height), test_dir, workers=cfg.workers, progress=progress)
    steps.done("test_scenes", t)

    # 3. collection
    t = steps.start(f"collecting {cfg.episodes} x {cfg.pushes_per_episode} pushes on target-train (separation agent)")
    run_dir = out / "run"
    ccfg = CollectConfig(episodes=cfg.episodes, pushes_per_episode=cfg.pushes_per_episode, seed=cfg.seed + 3000,
                         objects="target-train", agent="separation", width=cfg.width, height=cfg.height)
    collect(ccfg, run_dir, workers=cfg.workers, resume=run_dir.exists(), progress=progress)
    steps.done("collect", t)

    # 4. labels
    t = steps.start("self-made labels (optical flow) and oracle labels (ground truth of the same images)")
    labels = out / "labels.json"
    summary_path = out / "labels_summary.json"
    if not summary_path.is_file() or not labels.is_file():
        label_run(run_dir, labels, LabelConfig(seed=cfg.seed), workers=cfg.workers, progress=progress)
    label_summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    oracle = out / "oracle_labels.json"
    oracle_stats = oracle_labels(labels, oracle)
    if oracle_stats["images"] == 0:
        raise InputError("the labeler accepted no push: nothing to fine-tune on; collect more episodes")
    steps.done("label", t)

    # 5. fine-tuning
    t = steps.start("fine-tuning the score head: SelfDeepMask (self-made labels) and oracle (ground truth)")
    tcfg = TrainConfig(epochs=cfg.finetune_epochs, batches_per_epoch=cfg.finetune_batches, batch_size=cfg.batch_size,
                       seed=cfg.seed, threads=cfg.threads)
    models = {}
    for name, lab in (("selfdeepmask", labels), ("oracle", oracle)):
        path = out / name / "model.pt"
        if not path.is_file():
            finetune(pre_path, lab, out / name, tcfg, SamplerConfig(), resume=True, progress=progress)
        models[name] = load_model(path)
    steps.done("finetune", t)

    # 6. evaluation
    t = steps.start("evaluating four models on the target-test scenes")
    scales = tuple(pretrained.meta.get("scales", (1.0,)))
    icfg = dict(scales=scales, top_k=cfg.top_k)
    runs = {
        "DeepMask (pretrained on source)": (pretrained, None),
        "DeepMask + NMS": (pretrained, cfg.nms),
        "SelfDeepMask (self-made labels) + NMS": (models["selfdeepmask"], cfg.nms),
        "oracle: ground-truth labels + NMS": (models["oracle"], cfg.nms),
    }
    from pushseg.training.inference import Segmenter

    metrics, dets = {}, {}
    for name, (model, nms) in runs.items():
        r = evaluate_model(Segmenter(model, InferenceConfig(nms_threshold=nms, **icfg)), test_dir / "annotations.json",
                           progress=progress, desc=name[:24], keep_detections=True)
        metrics[name] = r["metrics"]
        dets[name] = r["detections"]
        tqdm.write(f"  {name}: AP@0.5 {r['metrics']['AP50']:.1f}  AP@0.75 {r['metrics']['AP75']:.1f}  "
                   f"AP {r['metrics']['AP']:.1f}")
    steps.done("evaluate", t)

    # overlays: ground truth and the four models on the same scenes
    from pushseg.data.coco import decode_mask, load_coco
    from pushseg.training.inference import Detection

    gt = load_coco(test_dir / "annotations.json")
    pics = out / "overlays"
    pics.mkdir(exist_ok=True)
    short = ["DeepMask", "DeepMask + NMS", "SelfDeepMask + NMS", "oracle + NMS"]
    written = []
    for im in gt["images"][: cfg.overlays]:
        rgb = read_rgb(find_image(im["file_name"], [test_dir]))
        truth = [Detection(decode_mask(a["segmentation"]), 1.0) for a in gt["annotations"] if a["image_id"] == im["id"]]
        tiles = [overlay(rgb, truth, title="ground truth", show_scores=False), rgb]
        tiles += [overlay(rgb, dets[name][im["id"]][:20], title=s) for name, s in zip(runs, short)]
        path = pics / f"scene_{im['id']:03d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(grid(tiles, 2), cv2.COLOR_RGB2BGR))
        written.append(path.name)

    total = round(time.perf_counter() - t_all, 1)
    table = ap_table(metrics)
    report = {
        "config": asdict(cfg), "pretrained_model": str(pre_path), "pretrained_command": pretrained.meta.get("command"),
        "metrics": metrics, "labels": label_summary, "oracle_labels": oracle_stats, "seconds": steps.times,
        "total_seconds": total, "overlays": written,
        "selfdeepmask_beats_pretrained_nms": {
            k: metrics[list(runs)[2]][k] > metrics[list(runs)[1]][k] for k in ("AP50", "AP75", "AP")},
    }
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    lines = [
        "# pushseg demo: SelfDeepMask in simulation", "",
        f"Target-test: {cfg.test_scenes} scenes of 6-8 novel objects ({cfg.width}x{cfg.height}); "
        f"collection: {cfg.episodes} episodes x {cfg.pushes_per_episode} pushes on target-train objects; "
        f"seed {cfg.seed}; total {total:.0f} s.", "",
        "## Mask AP on target-test (COCO, class-agnostic, %)", "", table, "",
        f"NMS threshold {cfg.nms} on mask IoU; masks above 10 % of the image dropped; top {cfg.top_k} proposals; "
        f"pyramid scales {', '.join(f'{s:g}' for s in scales)}.", "",
        "## Labels", "",
        f"- self-made: {label_summary.get('accepted', '?')} accepted of {label_summary.get('transitions', '?')} pushes"
        + (f", mean IoU with ground truth {label_summary['mean_iou']:.2f}" if isinstance(label_summary.get('mean_iou'), (int, float)) else ""),
        f"- oracle: {oracle_stats['annotations']} ground-truth masks on the same {oracle_stats['images']} images", "",
        "## Time (s)", "", "| step | s |", "|---|---:|", *[f"| {k} | {v} |" for k, v in steps.times.items()], "",
        "## Overlays", "", "Ground truth, input, then the four models (top 20 masks each):", "",
        *[f"![{w}](overlays/{w})" for w in written], "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    tqdm.write(table)
    tqdm.write(f"demo finished in {total:.0f} s: {out / 'report.md'}")
    return report
