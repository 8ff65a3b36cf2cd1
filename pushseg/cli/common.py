"""Options several commands share."""

from __future__ import annotations

import argparse

from pushseg.executors import EXECUTORS, ExecutorConfig
from pushseg.limits import Limit, int_arg

WORKERS = Limit(1, 256)  # processes or Ray actors at once


def add_executor_args(p: argparse.ArgumentParser, jobs: str) -> None:
    """``--workers``, ``--executor``, ``--ray-address``: how the ``jobs`` run (never what they produce)."""
    p.add_argument("--workers", type=int_arg("workers", WORKERS), default=1, metavar="N",
                   help=f"{jobs} run in parallel (same output for any number)")
    p.add_argument("--executor", default="local", choices=EXECUTORS,
                   help=f"run {jobs} in local processes or on Ray (pip install 'pushseg[cluster]')")
    p.add_argument("--ray-address", default=None,
                   help="address of a running Ray cluster for --executor ray (default: start a local Ray)")


def add_overwrite_arg(p: argparse.ArgumentParser) -> None:
    """``--overwrite``: an output made from other inputs or settings is replaced instead of refused."""
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output made from other inputs or with other settings (refused without it)")


def executor_config(args: argparse.Namespace) -> ExecutorConfig:
    return ExecutorConfig(executor=args.executor, workers=args.workers, ray_address=args.ray_address)
