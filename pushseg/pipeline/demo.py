"""The end-to-end SelfDeepMask experiment in simulation, behind ``pushseg demo``.

A composition of the stages in :mod:`pushseg.pipeline.stages`; each writes into ``out``
and is skipped when its output is already there, so an interrupted demo
continues where it stopped. ``out/config.yaml`` holds the resolved
``DemoConfig``: ``pushseg demo --config out/config.yaml --out other`` makes the
same report again. Steps:
1. pretrained model: the committed checkpoint (``pushseg pretrain`` on ``source``
   scenes), or with ``pretrain=True`` source scenes + pretraining here;
2. ``target-test`` scenes with ground truth (6-8 novel objects each);
3. collection with the separation agent on ``target-train`` objects;
4. self-made labels (``pushseg label``) and the oracle labels: the ground-truth
   masks of every object of the same before images ("human-labelled");
5. fine-tuning the pretrained model on each (score head only, bootstrapping on);
6. each model's operating point (inference pyramid and NMS threshold) chosen on
   ``target-val`` scenes, as the experiments choose it
   (:mod:`pushseg.experiments.operating_point`);
7. evaluation of four models on the test scenes at their points -- pretrained,
   pretrained with NMS, SelfDeepMask (with NMS) and the oracle (with NMS) -- with
   PNG overlays of the four on the same scenes, ``report.md`` and ``report.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from pushseg import files
from pushseg.config import CONFIG_FILE, write_config
from pushseg.data.coco import CocoBuilder, decode_mask, instance_masks, load_coco
from pushseg.data.collection import CollectConfig
from pushseg.data.images import read_rgb, write_image_file
from pushseg.data.lock import FolderLock
from pushseg.data.run import RunReader
from pushseg.data.scenes import ScenesConfig
from pushseg.envs.sim_backend import SimBackendConfig
from pushseg.errors import InputError
from pushseg.evaluation.report import ap_table, grid, overlay
from pushseg.labeling import LabelConfig
from pushseg.pipeline.record import check_record
from pushseg.pipeline.stages import (
    PRETRAIN_SETTINGS,
    collect,
    evaluate,
    finetune,
    label,
    make_scenes,
    pretrain,
    read_detections,
)
from pushseg.training.checkpoint import PRETRAINED_PATH, load_model
from pushseg.training.config import InferenceConfig, ModelConfig, TrainConfig
from pushseg.training.data import find_image
from pushseg.training.inference import Detection, Segmenter


@dataclass
class DemoConfig:
    seed: int = 0  # master seed; each stage's seed is this plus its offset in SEED_OFFSETS
    width: int = 480  # image width in pixels: half the Kinect2 qhd size (960x540)
    height: int = 270  # image height in pixels
    test_scenes: int = 20  # held-out target-test scenes (6-8 novel objects each)
    val_scenes: int = 10  # target-val scenes (other scenes of the same objects) each model's operating point is chosen on
    episodes: int = 30  # collection episodes (scenes) on target-train objects
    pushes_per_episode: int = 5  # pushes in each collection episode
    finetune_epochs: int = 10  # fine-tuning epochs
    finetune_batches: int = 100  # batches per fine-tuning epoch (the reference implementation: 100 of 32)
    batch_size: int = 32  # patches per fine-tuning batch
    top_k: int = 50  # proposals kept by score before filtering and NMS
    overlays: int = 4  # test scenes drawn with all four models
    workers: int = 1  # processes for collection and labelling
    pretrain: bool = False  # pretrain here instead of loading the committed checkpoint
    source_scenes: int = 300  # source scenes rendered when pretrain is on
    pretrain_epochs: int = 15  # pretraining epochs when pretrain is on
    model: str = ""  # a pretrained model file; "" = the committed checkpoint
    threads: int = 1  # torch CPU threads: 1 is robust when other processes share the cores


# Seed of each stage: DemoConfig.seed plus this offset, so that the stages draw
# independent scenes (test scenes never repeat a collection scene).
SEED_OFFSETS = {"source_scenes": 1000, "test_scenes": 2000, "collect": 3000, "val_scenes": 4000, "label": 0,
                "train": 0}
# The operating points tried on target-val: a half-octave ladder of fixed scales, the model's own pyramid and the
# camera pyramids; NMS thresholds from loose to strict (the rows with NMS).
DEMO_PYRAMIDS = ("1", "1.41", "2", "2.83", "4", "camera", "camera-wide")
DEMO_NMS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)

# The four evaluated models: (row of the AP table, short overlay title, model key, NMS on).
MODELS = (
    ("DeepMask (pretrained)", "DeepMask", "pretrained", False),
    ("DeepMask + NMS", "DeepMask + NMS", "pretrained", True),
    ("SelfDeepMask (self-made labels) + NMS", "SelfDeepMask + NMS", "selfdeepmask", True),
    ("oracle: ground-truth labels + NMS", "oracle + NMS", "oracle", True),
)


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
        # The label's depth and camera come along: a depth model trains on the oracle's images too.
        depth = {k: im[k] for k in ("depth_file", "camera") if k in im}
        image_id = b.add_image(im["file_name"], im["width"], im["height"], **depth)
        for _, mask in instance_masks(ids, min_pixels)[0]:
            b.add_mask(image_id, mask)
    b.write(out)
    return {"images": len(b.images), "annotations": len(b.annotations)}


def _seed(cfg: DemoConfig, stage: str) -> int:
    return cfg.seed + SEED_OFFSETS[stage]


def pretrained_model(out: Path, cfg: DemoConfig, progress: bool) -> Path:
    """The start model: the committed checkpoint, ``cfg.model``, or one pretrained here on source scenes."""

    if not cfg.pretrain:
        return Path(cfg.model) if cfg.model else PRETRAINED_PATH
    src = make_scenes(ScenesConfig(objects="source", count=cfg.source_scenes, seed=_seed(cfg, "source_scenes"),
                                   width=cfg.width, height=cfg.height), out / "source",
                      workers=cfg.workers, progress=progress)
    train = TrainConfig(**{**PRETRAIN_SETTINGS, "epochs": cfg.pretrain_epochs, "seed": _seed(cfg, "train"),
                           "threads": cfg.threads})
    return pretrain(src, out / "pretrained", ModelConfig(work_width=cfg.width), train, progress=progress)


def stage_configs(cfg: DemoConfig) -> dict:
    """The configs of the demo's data stages, derived from ``cfg`` (and SEED_OFFSETS)."""

    return {
        "test_scenes": ScenesConfig(objects="target-test", count=cfg.test_scenes, seed=_seed(cfg, "test_scenes"),
                                    width=cfg.width, height=cfg.height),
        "val_scenes": ScenesConfig(split="target-val", count=cfg.val_scenes, seed=_seed(cfg, "val_scenes"),
                                   width=cfg.width, height=cfg.height),
        "collect": CollectConfig(episodes=cfg.episodes, pushes_per_episode=cfg.pushes_per_episode,
                                 seed=_seed(cfg, "collect"), agent="separation",
                                 backend_config=SimBackendConfig(objects="target-train", width=cfg.width,
                                                                 height=cfg.height)),
        "label": LabelConfig(seed=_seed(cfg, "label")),
        "train": TrainConfig(epochs=cfg.finetune_epochs, batches_per_epoch=cfg.finetune_batches,
                             batch_size=cfg.batch_size, seed=_seed(cfg, "train"), threads=cfg.threads),
    }


def run_demo(out: str | Path, cfg: DemoConfig, progress: bool = True) -> dict[str, Any]:
    """Every stage of the loop into ``out`` (locked against a second demo there); returns the report."""
    out = Path(out)
    with FolderLock(out, "pushseg demo"):
        return _run_demo(out, cfg, progress)


def _run_demo(out: Path, cfg: DemoConfig, progress: bool) -> dict[str, Any]:
    # Continuing a demo is fine with other workers, threads or overlays; other settings need another folder.
    check_record(out / CONFIG_FILE, {"demo": cfg}, ignore=("workers", "threads", "overlays"))
    write_config(out, {"demo": cfg})
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    stage = stage_configs(cfg)
    steps = _Steps(7)
    t_all = time.perf_counter()

    t = steps.start("pretrained model")
    pre_path = pretrained_model(out, cfg, progress)
    pretrained = load_model(pre_path)
    steps.done("pretrained", t)

    t = steps.start("target-test scenes (novel objects, ground truth)")
    test_json = make_scenes(stage["test_scenes"], out / "target-test", workers=cfg.workers, progress=progress)
    steps.done("test_scenes", t)

    t = steps.start(f"collecting {cfg.episodes} x {cfg.pushes_per_episode} pushes on target-train (separation agent)")
    run_dir = collect(stage["collect"], out / "run", workers=cfg.workers, progress=progress)
    steps.done("collect", t)

    t = steps.start("self-made labels (optical flow) and oracle labels (ground truth of the same images)")
    labels = label(run_dir, out / "labels.json", stage["label"], workers=cfg.workers, progress=progress)
    summary_path = out / "labels_summary.json"
    label_summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    oracle = out / "oracle_labels.json"
    oracle_stats = oracle_labels(labels, oracle)
    if oracle_stats["images"] == 0:
        raise InputError("the labeler accepted no push: nothing to fine-tune on; collect more episodes")
    steps.done("label", t)

    t = steps.start("fine-tuning the score head: SelfDeepMask (self-made labels) and oracle (ground truth)")
    model_paths = {"pretrained": pre_path}
    for name, lab in (("selfdeepmask", labels), ("oracle", oracle)):
        model_paths[name] = finetune(pre_path, lab, out / name, stage["train"], progress=progress)
    steps.done("finetune", t)

    t = steps.start("choosing each model's pyramid and NMS threshold on target-val scenes")
    val_json = make_scenes(stage["val_scenes"], out / "target-val", workers=cfg.workers, progress=progress)
    scales = tuple(pretrained.meta.get("scales", (1.0,)))
    points = {name: operating_point(model_paths[key], val_json, nms, scales, cfg,
                                    out / "eval" / "val" / f"{i + 1}_{key}{'_nms' if nms else ''}.json")
              for i, (name, _, key, nms) in enumerate(MODELS)}
    steps.done("operating_points", t)

    t = steps.start("evaluating four models on the target-test scenes")
    metrics, eval_dirs = {}, {}
    for i, (name, _, key, nms) in enumerate(MODELS):
        icfg = inference_at(points[name], scales, cfg.top_k)
        eval_dirs[name] = out / "eval" / f"{i + 1}_{key}{'_nms' if nms else ''}"
        m = json.loads(evaluate(model_paths[key], test_json, eval_dirs[name], icfg, progress=progress,
                                desc=name[:24]).read_text())["metrics"]
        metrics[name] = m
        tqdm.write(f"  {name}: AP@0.5 {m['AP50']:.1f}  AP@0.75 {m['AP75']:.1f}  AP {m['AP']:.1f}")
    steps.done("evaluate", t)

    written = draw_overlays(out / "overlays", test_json, {name: read_detections(d) for name, d in eval_dirs.items()},
                            cfg.overlays)
    total = round(time.perf_counter() - t_all, 1)
    report = {
        "config": asdict(cfg), "pretrained_model": str(pre_path), "pretrained_command": pretrained.meta.get("command"),
        "metrics": metrics, "operating_points": points, "labels": label_summary, "oracle_labels": oracle_stats, "seconds": steps.times,
        "total_seconds": total, "overlays": written,
        # One seed and one scene set: a taste of the loop, not evidence (see `pushseg experiment`).
        "evidence": SINGLE_RUN_NOTE,
    }
    files.write_json_atomic(out / "report.json", report, indent=1, default=str)
    files.write_text_atomic(out / "report.md", report_markdown(cfg, report, scales))
    tqdm.write(ap_table(metrics))
    tqdm.write(f"demo finished in {total:.0f} s: {out / 'report.md'}")
    return report


def operating_point(model_path: Path, val_json: Path, nms: bool, scales: tuple[float, ...], cfg: DemoConfig,
                    record: Path) -> dict[str, Any]:
    """One model's pyramid and NMS threshold, chosen on the target-val scenes (kept in ``record``)."""
    from pushseg.experiments import operating_point as op_

    if record.is_file():
        return json.loads(record.read_text())["operating_point"]
    model = load_model(model_path)
    seg = Segmenter(model, InferenceConfig(scales=scales, top_k=cfg.top_k, nms_threshold=None, pyramid="fixed"))
    pyramids = list(dict.fromkeys([*DEMO_PYRAMIDS, op_.pyramid_name(scales)]))
    _, chosen = op_.choose(seg, op_.load_scene_set(val_json, model), pyramids, list(DEMO_NMS) if nms else [None],
                           "AP")
    record.parent.mkdir(parents=True, exist_ok=True)
    files.write_json_atomic(record, chosen)
    return chosen["operating_point"]


def inference_at(point: dict[str, Any], scales: tuple[float, ...], top_k: int) -> InferenceConfig:
    """The inference settings of an operating point (fixed scales where the camera gives none)."""
    from pushseg.experiments.operating_point import CAMERA_PYRAMIDS

    name, nms = point["pyramid"], point["nms"]
    if name in CAMERA_PYRAMIDS:
        return InferenceConfig(scales=scales, top_k=top_k, nms_threshold=nms, pyramid="camera",
                               pyramid_span=CAMERA_PYRAMIDS[name])
    return InferenceConfig(scales=tuple(float(x) for x in name.split("+")), top_k=top_k, nms_threshold=nms,
                           pyramid="fixed")


def draw_overlays(pics: Path, test_json: Path, dets: dict[str, dict[int, list]], count: int) -> list[str]:
    """Ground truth, the input and each model's top 20 masks on the first ``count`` test scenes."""

    gt = load_coco(test_json)
    pics.mkdir(parents=True, exist_ok=True)
    titles = {name: short for name, short, _, _ in MODELS}
    written = []
    for im in gt["images"][:count]:
        rgb = read_rgb(find_image(im["file_name"], [test_json.parent]))
        truth = [Detection(decode_mask(a["segmentation"]), 1.0) for a in gt["annotations"] if a["image_id"] == im["id"]]
        tiles = [overlay(rgb, truth, title="ground truth", show_scores=False), rgb]
        tiles += [overlay(rgb, dets[name].get(im["id"], [])[:20], title=titles[name]) for name in dets]
        path = pics / f"scene_{im['id']:03d}.png"
        write_image_file(path, grid(tiles, 2))
        written.append(path.name)
    return written


SINGLE_RUN_NOTE = (
    "A single run (one seed, one scene set): it shows the loop working, not which model is better. "
    "For mean ± std over seeds and confidence intervals, run `pushseg experiment table1`."
)


def report_markdown(cfg: DemoConfig, report: dict, scales: tuple[float, ...]) -> str:
    label_summary, oracle_stats = report["labels"], report["oracle_labels"]
    mean_iou = label_summary.get("mean_iou")
    lines = [
        "# pushseg demo: SelfDeepMask in simulation", "",
        f"Target-test: {cfg.test_scenes} scenes of 6-8 novel objects ({cfg.width}x{cfg.height}); "
        f"collection: {cfg.episodes} episodes x {cfg.pushes_per_episode} pushes on target-train objects; "
        f"seed {cfg.seed}; total {report['total_seconds']:.0f} s.", "",
        "## Mask AP on target-test (COCO, class-agnostic, %)", "", ap_table(report["metrics"]), "",
        f"*{SINGLE_RUN_NOTE}*", "",
        f"Each model's operating point, chosen on {cfg.val_scenes} target-val scenes by AP@0.5:0.95 (pyramid "
        f"from {', '.join(DEMO_PYRAMIDS)} and the model's own; NMS from {', '.join(f'{x:g}' for x in DEMO_NMS)}; "
        f"camera pyramids fall back to {', '.join(f'{s:g}' for s in scales)} where an image has no table in "
        f"view): " + "; ".join(f"{name}: pyramid {p['pyramid']}, NMS {'off' if p['nms'] is None else p['nms']}"
                              for name, p in report["operating_points"].items())
        + f". Masks above 10 % of the image dropped; top {cfg.top_k} proposals.", "",
        "## Labels", "",
        f"- self-made: {label_summary.get('accepted', '?')} accepted of {label_summary.get('transitions', '?')} pushes"
        + (f", mean IoU with ground truth {mean_iou:.2f}" if isinstance(mean_iou, (int, float)) else ""),
        f"- oracle: {oracle_stats['annotations']} ground-truth masks on the same {oracle_stats['images']} images", "",
        "## Time (s)", "", "| step | s |", "|---|---:|", *[f"| {k} | {v} |" for k, v in report["seconds"].items()], "",
        "## Overlays", "", "Ground truth, input, then the four models (top 20 masks each):", "",
        *[f"![{w}](overlays/{w})" for w in report["overlays"]], "",
    ]
    return "\n".join(lines)
