"""``pushseg collect``: push objects and record every interaction in a run folder."""

from __future__ import annotations

import argparse
import sys

from pushseg.data.collection import AGENTS, CollectConfig, collect
from pushseg.executors import EXECUTORS, ExecutorConfig


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "collect",
        help="push objects and record the interactions in a run folder",
        description=(
            "Run push episodes and write a run folder (meta.json, transitions.jsonl, PNG images). "
            "The same --seed gives byte-identical files whatever --workers is. A killed collection "
            "continues with --resume and loses at most the transition in flight."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--backend", default="sim", help="sim (PyBullet) or real (the PR2)")
    p.add_argument("--objects", default="target-train", help="object set: source, target-train or target-test")
    p.add_argument("--agent", default="separation", choices=AGENTS, help="push policy")
    p.add_argument("--episodes", type=int, default=10, help="number of scenes")
    p.add_argument("--pushes-per-episode", type=int, default=5, help="pushes in each scene")
    p.add_argument("--seed", type=int, default=0, help="master seed; episode seeds are derived from it")
    p.add_argument("--out", required=True, help="run folder to create (or to continue with --resume)")
    p.add_argument("--workers", type=int, default=1, help="episodes run in parallel processes")
    p.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="run episodes in local processes or on Ray (pip install 'pushseg[cluster]')")
    p.add_argument("--ray-address", default=None,
                   help="address of a running Ray cluster for --executor ray (default: start a local Ray)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--width", type=int, default=960, help="image width in pixels")
    p.add_argument("--height", type=int, default=540, help="image height in pixels")
    p.add_argument("--min-objects", type=int, default=None, help="fewest objects per scene (env default if unset)")
    p.add_argument("--max-objects", type=int, default=None, help="most objects per scene (env default if unset)")
    p.add_argument("--real-config", default=None, help="YAML overriding the PR2 defaults (--backend real)")
    p.add_argument("--dry-run", action="store_true", help="real robot: plan and log every push, send nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = CollectConfig(
        episodes=args.episodes,
        pushes_per_episode=args.pushes_per_episode,
        seed=args.seed,
        backend=args.backend,
        objects=args.objects,
        agent=args.agent,
        width=args.width,
        height=args.height,
        min_objects=args.min_objects,
        max_objects=args.max_objects,
        real_config=args.real_config,
        dry_run=args.dry_run,
    )
    summary = collect(
        config,
        args.out,
        workers=args.workers,
        resume=args.resume,
        progress=False if args.no_progress else None,
        executor=ExecutorConfig(executor=args.executor, workers=args.workers, ray_address=args.ray_address),
    )
    if summary.resume is not None:
        print(f"resumed {summary.out}: {summary.resume.describe()}", file=sys.stderr)
        if summary.replayed:
            print(f"replayed {summary.replayed} transitions to restore the scene; all matched", file=sys.stderr)
    print(f"{summary.out}: wrote {summary.written} transitions, {summary.total} in the run")
    return 0
