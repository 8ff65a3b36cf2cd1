"""``pushseg segment``: segment one image with a DeepMask model and write an overlay."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pushseg import files
from pushseg.config import Section, add_config_args, explicit, replace, resolve
from pushseg.data.images import read_image_rgb, write_image_file
from pushseg.data.real_frames import FramesCamera, frame_from_arrays, read_depth_png
from pushseg.errors import InputError
from pushseg.evaluation.coco_eval import detections_to_results
from pushseg.evaluation.report import overlay
from pushseg.training.checkpoint import PRETRAINED_PATH, load_model
from pushseg.training.config import InferenceConfig
from pushseg.training.depth_input import encode_depth
from pushseg.training.engine import pick_device
from pushseg.training.inference import Segmenter
from pushseg.training.pyramid import camera_scales

INFERENCE = Section("inference", InferenceConfig, title="inference (InferenceConfig; scales default to the model's)",
                    aliases={"nms_threshold": ["--nms"], "max_area_fraction": ["--max-area"]},
                    negations={"nms_threshold": ["--no-nms"]})


def add_inference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    add_config_args(p, [INFERENCE])


def inference_config(args: argparse.Namespace, model=None) -> InferenceConfig:
    """The resolved inference settings; pyramid scales from the model unless given."""

    cfg = resolve(args)["inference"]
    given = explicit(args, "inference")
    if "scales" not in given and model is not None and getattr(model, "meta", {}).get("scales"):
        cfg = replace(cfg, scales=tuple(model.meta["scales"]))  # where an image has no depth and camera
    if "scales" in given and "pyramid" not in given:
        cfg = replace(cfg, pyramid="fixed")  # scales asked for are the scales used
    return cfg


def frame_depth(args: argparse.Namespace, model, cfg: InferenceConfig, rgb):
    """--depth and --camera -> (the encoded depth or None, the camera pyramid or None)."""

    if args.depth is None and args.camera is None:
        if model.needs_depth:
            raise InputError(f"this model takes {model.config.input} input: give --depth DEPTH.png and --camera "
                             "camera.json, or use an rgb model")
        return None, None
    if args.depth is None or args.camera is None:
        raise InputError("--depth and --camera go together: the depth image needs the camera's intrinsics and units")
    cam = FramesCamera.read(Path(args.camera))
    camera, depth, plane = frame_from_arrays(cam, rgb, read_depth_png(Path(args.depth), cam), args.depth)
    encoded = encode_depth(camera, depth, plane) if model.needs_depth else None
    scales = None
    if cfg.pyramid == "camera":
        scales = camera_scales(model.config, camera, depth, plane, object_size_m=cfg.object_size_m,
                               span=cfg.pyramid_span)
    return encoded, scales


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "segment", help="segment one RGB image and write an overlay PNG",
        description="Run multi-scale DeepMask inference on one image; write the masks drawn over it "
                    "(and, with --json, the masks as COCO results).")
    p.add_argument("image", help="RGB image (PNG/JPEG)")
    p.add_argument("--model", default=str(PRETRAINED_PATH), help="model file (pushseg pretrain/finetune)")
    p.add_argument("--out", required=True, help="overlay PNG to write")
    p.add_argument("--json", default=None, help="also write the detections (COCO results, RLE) here")
    p.add_argument("--depth", default=None, help="the image's depth PNG (16-bit; units from --camera): depth and rgbd "
                   "models need it; with it the pyramid follows the camera")
    p.add_argument("--camera", default=None, help="camera.json of the frame (width, height, fx, fy, cx, cy, "
                   "depth_png_units_per_metre, optional T_base_camera), as import-frames reads it")
    add_inference_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rgb = read_image_rgb(args.image, flag="IMAGE")  # colour (opaque alpha dropped), not too small
    device = pick_device(args.device)
    model = load_model(args.model, device=device)
    cfg = inference_config(args, model)
    depth, scales = frame_depth(args, model, cfg, rgb)
    dets = Segmenter(model, cfg, device)([rgb], None, None if depth is None else [depth],
                                         None if scales is None else [scales])[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image_file(out, overlay(rgb, dets))  # raises instead of returning False
    if args.json is not None:  # main refused an empty --json before any work
        res = detections_to_results(1, dets)
        for r in res:
            r["segmentation"] = {"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].decode("ascii")}
        files.write_text_atomic(args.json, json.dumps(res))
    print(f"{out}: {len(dets)} objects" + (f", best score {dets[0].score:.2f}" if dets else ""))
    return 0
