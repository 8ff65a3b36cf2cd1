"""``pushseg collect``: push objects and record every interaction in a run folder."""

from __future__ import annotations

import argparse
import sys

from pushseg.cli.common import add_executor_args, executor_config
from pushseg.config import CONFIG_FILE, Section, add_config_args, resolve
from pushseg.data.collection import CollectConfig

SECTIONS = [Section("collect", CollectConfig, title="collection (CollectConfig)")]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "collect",
        help="push objects and record the interactions in a run folder",
        description=(
            "Run push episodes and write a run folder (meta.json, transitions.jsonl, PNG images, and "
            f"{CONFIG_FILE} with the settings). The same --seed gives byte-identical files whatever "
            "--workers is. A killed collection continues with --resume and loses at most the transition "
            "in flight."
        ),
    )
    p.add_argument("--out", required=True, help="run folder to create (or to continue with --resume)")
    add_executor_args(p, "episodes")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-verify", action="store_true", help="--resume: skip checking the images on disk against their sha256")
    add_config_args(p, SECTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pushseg.data.collection import collect
    from pushseg.pipeline.record import write_record

    config = resolve(args)["collect"]
    summary = collect(
        config,
        args.out,
        workers=args.workers,
        resume=args.resume,
        progress=False if args.no_progress else None,
        executor=executor_config(args),
        verify_digests=not args.no_verify,
    )
    write_record(summary.out / CONFIG_FILE, {"collect": config})
    if summary.resume is not None:
        print(f"resumed {summary.out}: {summary.resume.describe()}", file=sys.stderr)
        if summary.replayed:
            print(f"replayed {summary.replayed} transitions to restore the scene; all matched", file=sys.stderr)
    print(f"{summary.out}: wrote {summary.written} transitions, {summary.total} in the run")
    return 0
