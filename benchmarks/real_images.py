"""Models on real RGB-D frames: COCO mask AP with bootstrap intervals over frames, CPU time, overlays (json).

``--frames`` is a folder of real frames (``NAME-color.png``, ``NAME-depth.png``,
``NAME-label.png``, ``camera.json``; it is imported into a temporary scenes
folder first) or a scenes folder that ``pushseg import-frames`` wrote. Every
model is scored with its default inference settings (the camera pyramid from
each frame's intrinsics and depth, the encoded depth for depth and rgbd
models) unless ``--set inference.key=value`` says otherwise. AP is class-agnostic
and every labelled object counts; unlabelled things a model finds (a keyboard,
papers) count as false positives, as in any COCO evaluation.

CPU seconds per image are this process's CPU time with one torch thread, from
reading the frame to the masks (depth encoding and the table fit included).

    python benchmarks/real_images.py --frames ../frames/ycbv-dev \
        --models pushseg/checkpoints/pretrained_small.pt,pushseg/checkpoints/pretrained_rgbd.pt \
        --overlays out/real-overlays
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pushseg.config import replace
from pushseg.data.images import read_rgb, write_image_file
from pushseg.data.real_frames import import_frames
from pushseg.evaluation.coco_eval import CocoEvaluator, evaluate_model
from pushseg.evaluation.report import overlay
from pushseg.training.checkpoint import load_model
from pushseg.training.config import InferenceConfig, parse_scales
from pushseg.training.data import find_image
from pushseg.training.inference import Segmenter



def scenes_of(frames: Path, tmp: Path) -> Path:
    """The annotations.json of a scenes folder, importing a raw frames folder first."""
    if (frames / "annotations.json").is_file():
        return frames / "annotations.json"
    out = tmp / "scenes"
    import_frames(frames, out)
    return out / "annotations.json"


def parse_sets(items: list[str]) -> dict:
    """``--set inference.key=value`` -> {key: value} (YAML values)."""
    import yaml

    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key.startswith("inference.") or not value:
            sys.exit(f"real_images.py: --set takes inference.KEY=VALUE, got {item!r}")
        out[key.split(".", 1)[1]] = yaml.safe_load(value)
    return out


def score_model(path: str, gt: Path, overrides: dict, resamples: int, seed: int, overlays: Path | None) -> dict:
    model = load_model(path, device="cpu")
    cfg = InferenceConfig(scales=tuple(model.meta.get("scales", InferenceConfig().scales)))
    if "scales" in overrides:
        overrides = {"pyramid": "fixed", **overrides, "scales": parse_scales(overrides["scales"])}
    cfg = replace(cfg, **overrides)
    seg = Segmenter(model, cfg, "cpu")
    ev = CocoEvaluator()
    c0, t0 = time.process_time(), time.perf_counter()
    r = evaluate_model(seg, gt, progress=False, keep_detections=overlays is not None, evaluator=ev)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    n = r["metrics"]["images"]
    boot = ev.bootstrap(resamples=resamples, seed=seed)
    row = {"model": path, "input": model.config.input, "inference": cfg.to_dict(),
           "metrics": {k: boot[k] for k in ("AP50", "AP75", "AP")}, "detections": r["metrics"]["detections"],
           "images": n, "cpu_s_per_image": round(cpu / n, 3), "wall_s_per_image": round(wall / n, 3),
           "per_image": r["per_image"]}
    if overlays is not None:
        data = json.loads(gt.read_text())
        out = overlays / Path(path).stem
        out.mkdir(parents=True, exist_ok=True)
        for im in data["images"]:
            rgb = read_rgb(find_image(im["file_name"], [gt.parent]))
            name = im.get("frame", Path(im["file_name"]).stem)
            write_image_file(out / f"{name}.png", overlay(rgb, r["detections"][int(im["id"])], title=Path(path).stem))
        row["overlays"] = str(out)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", default=os.environ.get("PUSHSEG_REAL_FRAMES"),
                   help="real frames folder or imported scenes folder (default: $PUSHSEG_REAL_FRAMES)")
    p.add_argument("--models", required=True, help="comma-separated model files")
    p.add_argument("--set", action="append", default=[], help="inference.KEY=VALUE for every model")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples over frames")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the CPU time of one core)")
    p.add_argument("--overlays", default=None, help="folder for one overlay per model and frame")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if not args.frames:
        sys.exit("real_images.py: pass --frames DIR (real RGB-D frames, docs/real-frames.md) or set PUSHSEG_REAL_FRAMES")
    frames = Path(args.frames)
    if not frames.is_dir():
        sys.exit(f"real_images.py: {frames} is not a folder of frames; pass --frames DIR")
    overrides = parse_sets(args.set)
    with tempfile.TemporaryDirectory() as tmp:
        gt = scenes_of(frames, Path(tmp))
        rows = [score_model(m, gt, overrides, args.resamples, args.seed,
                            Path(args.overlays) if args.overlays else None) for m in args.models.split(",")]
    print(json.dumps({"benchmark": "real_images", "frames": frames.name, "threads": args.threads,
                      "interval": "95% percentile bootstrap over frames", "machine": platform.processor() or
                      platform.machine(), "models": rows}, indent=1, default=float))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
