"""``pushseg import-frames``: real RGB-D frames with instance labels -> a scenes folder."""

from __future__ import annotations

import argparse

from pushseg.data.real_frames import import_frames
from pushseg.limits import int_arg


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "import-frames",
        help="turn a folder of real RGB-D frames with instance labels into a scenes folder",
        description=(
            "Read NAME-color.png, NAME-depth.png and NAME-label.png per frame and camera.json (intrinsics, "
            "depth_png_units_per_metre, depth_missing, optional T_base_camera) and write a scenes folder "
            "(images, depth in millimetres, instance ids, COCO annotations.json with each image's camera) that "
            "evaluate, pretrain, finetune and segment accept. Without a pose in camera.json the table plane is "
            "fitted from depth and the camera placed in a table frame (docs/real-frames.md)."
        ),
    )
    p.add_argument("frames", help="folder of frames and camera.json")
    p.add_argument("--out", required=True, help="scenes folder to create (must not exist or be empty)")
    p.add_argument("--min-pixels", type=int_arg("min_pixels"), default=30, help="labels with fewer pixels get no annotation")
    p.add_argument("--seed", type=int_arg("seed"), default=0, help="seed of the table-plane fit (RANSAC)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    s = import_frames(args.frames, args.out, min_pixels=args.min_pixels, seed=args.seed)
    print(f"{s.out}: {s.images} frames, {s.annotations} labelled objects")
    return 0
