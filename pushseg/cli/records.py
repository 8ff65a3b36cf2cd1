"""``pushseg records``: an experiment's per-scene records in one file, and its reports rebuilt from it."""

from __future__ import annotations

import argparse

from pushseg.experiments.records import export_records, rebuild


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "records", help="export an experiment's per-scene records, or rebuild its tables and plots from them",
        description="export: gather the records every report of an experiment folder is computed from (operating "
                    "points, per-scene matches of target-test and of Fig. 4, failures; no model or image) into one "
                    "gzipped JSON file. rebuild: write them back as cells in a new folder and make every table, "
                    "interval, plot and the summary from them alone.")
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("export", help="experiment folder -> records file")
    e.add_argument("experiment", help="an experiment folder (the --out of pushseg experiment)")
    e.add_argument("file", help="records file to write (.json.gz)")
    e.add_argument("--specs", default="", help="comma-separated tables to export (default: every report there)")
    r = sub.add_parser("rebuild", help="records file -> reports in a new folder")
    r.add_argument("file", help="records file of `pushseg records export`")
    r.add_argument("out", help="new folder for the rebuilt cells, reports and summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "export":
        path = export_records(args.experiment, args.file, [s for s in args.specs.split(",") if s] or None)
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    else:
        for path in rebuild(args.file, args.out):
            print(path)
    return 0
