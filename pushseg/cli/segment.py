"""``pushseg segment``: segment one image with a DeepMask model and write an overlay."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pushseg.config import Section, add_config_args, explicit, resolve
from pushseg.training.checkpoint import PRETRAINED_PATH
from pushseg.training.config import InferenceConfig

INFERENCE = Section("inference", InferenceConfig, title="inference (InferenceConfig; scales default to the model's)",
                    aliases={"nms_threshold": ["--nms"], "max_area_fraction": ["--max-area"]},
                    negations={"nms_threshold": ["--no-nms"]})


def add_inference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    add_config_args(p, [INFERENCE])


def inference_config(args: argparse.Namespace, model=None) -> InferenceConfig:
    """The resolved inference settings; pyramid scales from the model unless given."""
    cfg = resolve(args)["inference"]
    if "scales" not in explicit(args, "inference") and model is not None and getattr(model, "meta", {}).get("scales"):
        from pushseg.config import replace

        cfg = replace(cfg, scales=tuple(model.meta["scales"]))
    return cfg


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "segment", help="segment one RGB image and write an overlay PNG",
        description="Run multi-scale DeepMask inference on one image; write the masks drawn over it "
                    "(and, with --json, the masks as COCO results).")
    p.add_argument("image", help="RGB image (PNG/JPEG)")
    p.add_argument("--model", default=str(PRETRAINED_PATH), help="model file (pushseg pretrain/finetune)")
    p.add_argument("--out", required=True, help="overlay PNG to write")
    p.add_argument("--json", default=None, help="also write the detections (COCO results, RLE) here")
    add_inference_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pushseg.data.images import read_image_rgb, write_image_file
    from pushseg.evaluation.coco_eval import detections_to_results
    from pushseg.evaluation.report import overlay
    from pushseg.training.checkpoint import load_model
    from pushseg.training.engine import pick_device
    from pushseg.training.inference import Segmenter

    rgb = read_image_rgb(args.image, flag="IMAGE")  # colour, at least 16 px a side
    device = pick_device(args.device)
    model = load_model(args.model, device=device)
    dets = Segmenter(model, inference_config(args, model), device).segment(rgb)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image_file(out, overlay(rgb, dets))  # raises instead of returning False
    if args.json:
        res = detections_to_results(1, dets)
        for r in res:
            r["segmentation"] = {"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].decode("ascii")}
        Path(args.json).write_text(json.dumps(res))
    print(f"{out}: {len(dets)} objects" + (f", best score {dets[0].score:.2f}" if dets else ""))
    return 0
