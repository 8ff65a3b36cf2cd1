"""``pushseg label``: masks of the pushed objects of a run, as a COCO json."""

from __future__ import annotations

import argparse
import json

from pushseg.executors import EXECUTORS, ExecutorConfig
from pushseg.labeling.batch import REPORT_FILE, label_run
from pushseg.labeling.config import DIS_PRESETS, FLOW_METHODS, LABEL_METHODS, LabelConfig


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "label",
        help="make object masks from the pushes of a run (self-supervised labels)",
        description=(
            "Label every push of a run folder from its before/after RGB, before depth, camera and push "
            "(never from simulation ground truth). Writes a COCO instance-segmentation json (RLE, one "
            "category 'object', one annotation per accepted push on its before image; file_name is the "
            f"absolute path of the run's before RGB), {REPORT_FILE} next to it (one line per push: "
            "accepted or the reason, score, time, and in simulation the IoU with the best-matching "
            "ground-truth object) and <out stem>_summary.json (yield, and in simulation mean IoU and "
            "the shares with IoU >= 0.5 and >= 0.75), which it also prints."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `pushseg collect`")
    p.add_argument("--out", required=True, help="COCO json to write, e.g. labels.json")
    p.add_argument("--method", default="flow", choices=LABEL_METHODS,
                   help="flow: optical flow + normalized cuts (the paper); framediff: frame differencing baseline")
    p.add_argument("--flow", default="dis", choices=FLOW_METHODS, help="optical flow method")
    p.add_argument("--dis-preset", default="medium", choices=DIS_PRESETS, help="OpenCV DIS preset")
    p.add_argument("--no-action-prior", action="store_true",
                   help="ablation: take the largest moving segment instead of the one at the push pixel")
    p.add_argument("--no-table-filter", action="store_true", help="ablation: keep the flow on the table plane")
    p.add_argument("--episode-labels", action="store_true",
                   help="carry every accepted mask through the images of its episode (several masks per image)")
    p.add_argument("--workers", type=int, default=1, help="processes labelling in parallel (same output for any N)")
    p.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="run transitions in local processes or on Ray (pip install 'pushseg[cluster]')")
    p.add_argument("--ray-address", default=None,
                   help="address of a running Ray cluster for --executor ray (default: start a local Ray)")
    p.add_argument("--gallery", default=None, metavar="DIR", help="also write one PNG sheet per push into DIR")
    p.add_argument("--seed", type=int, default=0, help="seed of RANSAC and the normalized cut")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = LabelConfig(
        method=args.method,
        flow=args.flow,
        dis_preset=args.dis_preset,
        use_action_prior=not args.no_action_prior,
        use_table_filter=not args.no_table_filter,
        episode_labels=args.episode_labels,
        seed=args.seed,
    )
    summary = label_run(
        args.run,
        args.out,
        cfg,
        workers=args.workers,
        executor=ExecutorConfig(executor=args.executor, workers=args.workers, ray_address=args.ray_address),
        gallery=args.gallery,
        progress=False if args.no_progress else None,
    )
    print(json.dumps(summary, indent=2))
    return 0
