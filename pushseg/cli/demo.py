"""``pushseg demo``: the whole SelfDeepMask loop in simulation, with a report."""

from __future__ import annotations

import argparse

from pushseg.config import CONFIG_FILE, Section, add_config_args, resolve
from pushseg.pipeline.demo import DemoConfig, run_demo

SECTIONS = [Section("demo", DemoConfig, title="demo (DemoConfig)",
                    aliases={"pushes_per_episode": ["--pushes"], "finetune_epochs": ["--epochs"],
                             "finetune_batches": ["--batches"]})]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="pretrained model -> collect -> label -> fine-tune -> evaluate, in simulation",
        description="Run the SelfDeepMask experiment end to end in simulation and write a report folder "
                    "(report.md, report.json, overlays/*.png): four models on held-out target-test scenes -- "
                    "pretrained, pretrained with NMS, fine-tuned on self-made labels (SelfDeepMask) and on "
                    "ground-truth labels of the same images (oracle). Steps whose output exists are skipped, "
                    f"so re-running continues an interrupted demo. OUT/{CONFIG_FILE} holds the settings: "
                    f"--config it (with another --out) to make the same report again.")
    p.add_argument("--out", default="out/demo", help="report folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_args(p, SECTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_demo(args.out, resolve(args)["demo"], progress=not args.no_progress)
    return 0
