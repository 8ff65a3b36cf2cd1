"""``pushseg evaluate``: COCO mask AP of a model on a scenes folder (json + markdown)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pushseg.cli.segment import add_inference_args, inference_config
from pushseg.errors import InputError
from pushseg.training.checkpoint import PRETRAINED_PATH


def scenes_json(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "annotations.json"
    if not p.is_file():
        raise InputError(f"{path}: no annotations.json; make a scenes folder with `pushseg scenes --out DIR`")
    return p


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="AP@0.5, AP@0.75, AP@0.5:0.95 of a model on labelled scenes",
        description="Segment every image of a scenes folder (or COCO json) and score the masks with "
                    "pycocotools, class-agnostic. Prints a markdown table; --out writes metrics.json, "
                    "metrics.md and results.json (COCO results).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=str(PRETRAINED_PATH), help="model file")
    p.add_argument("--scenes", required=True, help="scenes folder (with annotations.json) or a COCO json")
    p.add_argument("--out", default=None, help="folder for metrics.json, metrics.md, results.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_inference_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pushseg.evaluation.coco_eval import evaluate_model
    from pushseg.evaluation.report import ap_table
    from pushseg.training.checkpoint import load_model
    from pushseg.training.engine import pick_device
    from pushseg.training.inference import Segmenter

    gt = scenes_json(args.scenes)
    device = pick_device(args.device)
    model = load_model(args.model, device=device)
    cfg = inference_config(args, model)
    r = evaluate_model(Segmenter(model, cfg, device), gt, progress=not args.no_progress)
    name = Path(args.model).name
    table = ap_table({name: r["metrics"]})
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        doc = {"model": str(args.model), "scenes": str(gt), "inference": cfg.to_dict(), "metrics": r["metrics"]}
        (out / "metrics.json").write_text(json.dumps(doc, indent=1))
        (out / "metrics.md").write_text(f"# Evaluation\n\nmodel `{args.model}` on `{gt}`\n\n{table}\n")
        res = [{**x, "segmentation": {"size": x["segmentation"]["size"],
                                      "counts": x["segmentation"]["counts"].decode("ascii")}} for x in r["results"]]
        (out / "results.json").write_text(json.dumps(res))
        print(f"wrote {out}/metrics.json, metrics.md, results.json")
    return 0
