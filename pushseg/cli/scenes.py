"""``pushseg scenes``: render labelled scenes with ground-truth masks (COCO json)."""

from __future__ import annotations

import argparse

from pushseg.cli.common import add_executor_args, executor_config
from pushseg.config import CONFIG_FILE, Section, add_config_args, resolve
from pushseg.data.scenes import ScenesConfig, write_scenes
from pushseg.pipeline.record import record_text

SECTIONS = [Section("scenes", ScenesConfig, title="scenes (ScenesConfig)")]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "scenes",
        help="render labelled scenes with ground-truth masks as COCO json",
        description=(
            "Render simulated table scenes and write their images, depth, instance ids and a COCO "
            "instances json (one RLE mask per visible object), and the settings in "
            f"{CONFIG_FILE}. Use --objects source for pretraining data and --objects target-test for "
            "validation and test sets (with different seeds)."
        ),
    )
    p.add_argument("--out", required=True, help="folder to create")
    add_executor_args(p, "scenes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run of this command in --out")
    add_config_args(p, SECTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = resolve(args)["scenes"]
    s = write_scenes(config, args.out, progress=False if args.no_progress else None, executor=executor_config(args),
                     resume=args.resume, record=record_text({"scenes": config}))
    print(f"{s.out}: {s.images} scenes, {s.annotations} annotated objects ({s.skipped_small} too small to annotate)")
    return 0
