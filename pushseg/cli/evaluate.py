"""``pushseg evaluate``: COCO mask AP of a model on a scenes folder (json + markdown)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from pushseg.cli.common import add_overwrite_arg
from pushseg.cli.segment import add_inference_args, inference_config
from pushseg.evaluation.report import ap_table
from pushseg.pipeline.stages import evaluate, scenes_json
from pushseg.training.checkpoint import PRETRAINED_PATH, load_model

__all__ = ["add_parser", "run", "scenes_json"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="AP@0.5, AP@0.75, AP@0.5:0.95 of a model on labelled scenes",
        description="Segment every image of a scenes folder (or COCO json) and score the masks with "
                    "pycocotools, class-agnostic. Prints a markdown table; --out writes metrics.json, "
                    "metrics.md, results.json (COCO results) and config.yaml (the inference settings).")
    p.add_argument("--model", default=str(PRETRAINED_PATH), help="model file")
    p.add_argument("--scenes", required=True, help="scenes folder (with annotations.json) or a COCO json")
    p.add_argument("--out", default=None, help="folder for metrics.json, metrics.md, results.json, config.yaml")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overwrite_arg(p)
    add_inference_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    gt = scenes_json(args.scenes)
    cfg = inference_config(args, load_model(args.model, device="cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        metrics = json.loads(evaluate(args.model, gt, out, cfg, device=args.device, progress=not args.no_progress,
                                      skip_done=False, overwrite=args.overwrite).read_text())["metrics"]
        print(ap_table({Path(args.model).name: metrics}))
    if args.out:
        print(f"wrote {out}/metrics.json, metrics.md, results.json, config.yaml")
    return 0
