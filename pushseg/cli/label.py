"""``pushseg label``: masks of the pushed objects of a run, as a COCO json."""

from __future__ import annotations

import argparse
import json

from pushseg.cli.common import add_executor_args, add_overwrite_arg, executor_config
from pushseg.config import Section, add_config_args, resolve
from pushseg.labeling.batch import REPORT_FILE
from pushseg.labeling.config import LabelConfig
from pushseg.pipeline.stages import label

SECTIONS = [Section("label", LabelConfig, title="labeler (LabelConfig)",
                    negations={"use_action_prior": ["--no-action-prior"], "use_table_filter": ["--no-table-filter"]})]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "label",
        help="make object masks from the pushes of a run (self-supervised labels)",
        description=(
            "Label every push of a run folder from its before/after RGB, before depth, camera and push "
            "(never from simulation ground truth). Writes a COCO instance-segmentation json (RLE, one "
            "category 'object', one annotation per accepted push on its before image; file_name is the "
            f"absolute path of the run's before RGB), {REPORT_FILE} next to it (one line per push: "
            "accepted or the reason, score, time, and in simulation the IoU with the object the push "
            "moved), <out stem>_summary.json (yield, and in simulation mean IoU, wrong-object and merged "
            "shares, the score's rank correlation with IoU), which it also prints, and <out stem>_config.yaml "
            "(the settings it ran with; --config it to label again the same way). With --episode-labels "
            "every accepted mask is carried through the images of its episode: several masks per image, "
            "each with the push it came from and the steps it was carried."
        ),
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `pushseg collect`")
    p.add_argument("--out", required=True, help="COCO json to write, e.g. labels.json")
    add_executor_args(p, "transitions")
    p.add_argument("--gallery", default=None, metavar="DIR", help="also write one PNG sheet per push into DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overwrite_arg(p)
    p.add_argument("--no-verify", action="store_true", help="skip checking each image against its stored sha256")
    add_config_args(p, SECTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = resolve(args)["label"]
    path = label(args.run, args.out, cfg, executor=executor_config(args), gallery=args.gallery,
                 progress=False if args.no_progress else None, force=True, overwrite=args.overwrite,
                 verify_digests=not args.no_verify)
    print(json.dumps(json.loads(path.with_name(path.stem + "_summary.json").read_text()), indent=2))
    return 0
