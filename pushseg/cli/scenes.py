"""``pushseg scenes``: render labelled scenes with ground-truth masks (COCO json)."""

from __future__ import annotations

import argparse

from pushseg.executors import EXECUTORS, ExecutorConfig
from pushseg.data.scenes import ScenesConfig, write_scenes


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "scenes",
        help="render labelled scenes with ground-truth masks as COCO json",
        description=(
            "Render simulated table scenes and write their images, depth, instance ids and a COCO "
            "instances json (one RLE mask per visible object). Use --objects source for pretraining "
            "data and --objects target-test for validation and test sets (with different seeds)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--split", default=None, choices=("source", "target-val", "target-test"),
                   help="named split: fixes the object set and a seed stream disjoint from the other splits")
    p.add_argument("--objects", default=None,
                   help="object set: source, target-train or target-test (default: the split's, else target-test)")
    p.add_argument("--world", default=None, choices=("ideal", "robot", "harsh"),
                   help="world profile (default: robot for target sets, ideal for source)")
    p.add_argument("--count", type=int, default=50, help="number of scenes")
    p.add_argument("--seed", type=int, default=0, help="master seed; scene seeds are derived from it")
    p.add_argument("--out", required=True, help="folder to create")
    p.add_argument("--min-objects", type=int, default=6, help="fewest objects per scene")
    p.add_argument("--max-objects", type=int, default=8, help="most objects per scene")
    p.add_argument("--min-pixels", type=int, default=30, help="visible pixels an object needs to be annotated")
    p.add_argument("--width", type=int, default=960, help="image width in pixels")
    p.add_argument("--height", type=int, default=540, help="image height in pixels")
    p.add_argument("--workers", type=int, default=1, help="scenes rendered in parallel processes")
    p.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="run scenes in local processes or on Ray (pip install 'pushseg[cluster]')")
    p.add_argument("--ray-address", default=None,
                   help="address of a running Ray cluster for --executor ray (default: start a local Ray)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = ScenesConfig(
        objects=args.objects,
        split=args.split,
        world=args.world,
        count=args.count,
        seed=args.seed,
        width=args.width,
        height=args.height,
        min_objects=args.min_objects,
        max_objects=args.max_objects,
        min_pixels=args.min_pixels,
    )
    executor = ExecutorConfig(executor=args.executor, workers=args.workers, ray_address=args.ray_address)
    s = write_scenes(config, args.out, progress=False if args.no_progress else None, executor=executor)
    print(f"{s.out}: {s.images} scenes, {s.annotations} annotated objects ({s.skipped_small} too small to annotate)")
    return 0
