"""``pushseg experiment``: the paper's tables and Fig. 4 over seeds, with intervals and plots."""

from __future__ import annotations

import argparse

from pushseg.cli.common import WORKERS
from pushseg.executors import EXECUTORS, ExecutorConfig
from pushseg.experiments.specs import PROFILES, SPECS, load_profile, profile_overrides
from pushseg.limits import int_arg
from pushseg.pipeline.experiment import run_experiment


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "experiment", help="reproduce Tables I-III and Fig. 4 over seeds (mean ± std, bootstrap intervals, plots)",
        description="Run the cells (variant x seed) of one of the paper's tables or figures, each in its own folder "
                    "under OUT/cells with its resolved config, log and metrics; then write OUT/<table>/report.md, "
                    "report.json and PNG plots, with the paper's numbers beside ours. Re-running the same command "
                    "continues an interrupted experiment and skips finished cells. Splits: the robot pushes "
                    "target-train objects; the operating point of each row and seed (inference pyramid and NMS "
                    "threshold) is chosen on target-val scenes; target-test scenes are read once per cell, at "
                    "the end, at that point. `pushseg records` exports the per-scene records and rebuilds the "
                    "reports from them.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("table", choices=[*SPECS, "all"], help="which table or figure (all: every one)")
    p.add_argument("--profile", default="quick",
                   help=f"sizes: {', '.join(PROFILES)}, or a profile .yaml file")
    p.add_argument("--set", action="append", default=[], metavar="profile.KEY=VALUE",
                   help="override a profile setting, e.g. --set profile.test_scenes=50 --set profile.finetune.epochs=5 "
                        "(repeatable)")
    p.add_argument("--seeds", type=int_arg("seeds"), default=None, help="seeds 0..N-1 (default: the profile's)")
    p.add_argument("--out", default="out/experiment", help="experiment folder (cells, data, reports)")
    p.add_argument("--workers", type=int_arg("workers", WORKERS), default=1,
                   help="cells (and collection, labelling, rendering units) run at once, one torch thread each")
    p.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="local processes, or Ray actors (the output is the same)")
    p.add_argument("--ray-address", default=None,
                   help="address of a running Ray cluster for --executor ray (default: start a local Ray)")
    p.add_argument("--variants", default="", help="comma-separated variant keys: run only these rows")
    p.add_argument("--data-seed", type=int_arg("seed"), default=0, help="seed of the target-val and target-test scenes")
    p.add_argument("--real-frames", default=None, metavar="DIR",
                   help="also measure every row on these real RGB-D frames (a frames folder or one import-frames "
                        "wrote), at the operating point chosen on simulated target-val; no model learns from them")
    p.add_argument("--report-only", action="store_true",
                   help="only aggregate the cells finished so far into the reports (e.g. while it runs)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    only = [v.strip() for v in args.variants.split(",") if v.strip()] or None
    profile = load_profile(args.profile, profile_overrides(args.profile, args.set))
    executor = ExecutorConfig(executor=args.executor, workers=args.workers, ray_address=args.ray_address)
    summary = run_experiment([args.table], args.out, profile, args.seeds, executor=executor,
                             data_seed=args.data_seed, only=only, real_frames=args.real_frames,
                             progress=not args.no_progress,
                             report_only=args.report_only)
    for path in summary["reports"]:
        print(path)
    print(f"{summary['cells']} cells; {summary['seconds']:.0f} s wall, {summary['cpu_seconds']:.0f} CPU s "
          f"(this process and its workers)")
    if summary["failed"]:
        print(f"{len(summary['failed'])} of {summary['cells']} cells failed; see error.txt in their folders "
              f"and re-run the same command to retry them")
        return 1
    return 0
