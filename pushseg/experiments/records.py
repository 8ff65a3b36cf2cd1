"""An experiment's results in one small file, and every table, interval and plot rebuilt from it.

``export_records`` gathers what the reports are computed from -- per cell its
recipe, the operating point chosen on target-val (with the whole grid), the
per-scene records of target-test and of the interactive steps, and the
failures -- into one gzipped JSON file (a few MB for a whole quick run: no
model, no image, no detection). ``rebuild`` writes those records back as cell
folders and runs the same report code over them, so the committed reports can
be checked against their data (``pushseg records rebuild``) and any other
interval computed from the repository alone.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from pushseg import files
from pushseg.errors import InputError
from pushseg.experiments.specs import Profile, load_spec

FORMAT, VERSION = "pushseg-experiment-records", 1
CELL_FILES = ("config.json", "done.json", "val.json", "test.json", "interactive.json", "real.json")


def _cells(out: Path) -> dict[str, dict[str, Any]]:
    cells: dict[str, dict[str, Any]] = {}
    for d in sorted((out / "cells").glob("*/seed-*")):
        entry: dict[str, Any] = {name: json.loads((d / name).read_text()) for name in CELL_FILES
                                 if (d / name).is_file()}
        if (d / "error.txt").is_file():
            entry["error.txt"] = (d / "error.txt").read_text()
        if entry:
            cells[f"{d.parent.name}/{d.name}"] = entry
    return cells


def export_records(out: str | Path, dest: str | Path, specs: list[str] | None = None) -> Path:
    """The records of experiment folder ``out`` (its reports' specs, seeds and profile) -> ``dest`` (.json.gz)."""
    out, dest = Path(out), Path(dest)
    reports = {p.parent.name: json.loads(p.read_text()) for p in sorted(out.glob("*/report.json"))}
    if specs:
        missing = sorted(set(specs) - set(reports))
        if missing:
            raise InputError(f"{out}: no report for {', '.join(missing)}; run `pushseg experiment` first")
        reports = {k: v for k, v in reports.items() if k in specs}
    if not reports:
        raise InputError(f"{out} holds no experiment report (OUT/<table>/report.json); run `pushseg experiment` "
                         "there first")
    data = {"format": FORMAT, "version": VERSION,
            "specs": {name: {"profile": r["profile"], "seeds": r["seeds"]} for name, r in reports.items()},
            "experiment": json.loads((out / "experiment.json").read_text()) if (out / "experiment.json").is_file()
            else None,
            "cells": _cells(out)}
    text = json.dumps(data, separators=(",", ":")).encode()  # key order kept: the reports keep theirs
    dest.parent.mkdir(parents=True, exist_ok=True)
    return files.write_atomic(dest, gzip.compress(text, mtime=0))  # mtime 0: the same records, the same bytes


def read_records(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"records file {path} does not exist; make one with `pushseg records export`")
    try:
        data = json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError):
        raise InputError(f"{path} is not a gzipped JSON records file of `pushseg records export`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path} is not a pushseg experiment records file")
    if data.get("version") != VERSION:
        raise InputError(f"{path}: records version {data.get('version')}; this pushseg reads version {VERSION}")
    return data


def _profile(d: dict[str, Any]) -> Profile:
    d = dict(d)
    for key in ("nms_grid", "scales", "pyramid_grid"):
        if d.get(key) is not None:
            d[key] = tuple(d[key])
    return Profile(**d)


def rebuild(records: str | Path, out: str | Path) -> list[Path]:
    """Write the records' cells into ``out`` and make every report (and the summary) from them alone."""
    from pushseg.experiments.report import write_report
    from pushseg.experiments.summary import write_summary

    data = read_records(records)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty; rebuild into a new folder")
    for name, entry in data["cells"].items():
        d = out / "cells" / name
        d.mkdir(parents=True, exist_ok=True)
        for fname, content in entry.items():
            if fname == "error.txt":
                files.write_text_atomic(d / fname, content, sync_dir=False)
            else:
                files.write_json_atomic(d / fname, content, indent=1, sync_dir=False, default=str)
    if data.get("experiment") is not None:
        files.write_json_atomic(out / "experiment.json", data["experiment"])
    made = [write_report(out, load_spec(name), _profile(s["profile"]), list(s["seeds"]))
            for name, s in data["specs"].items()]
    summary = write_summary(out)
    return made + ([summary] if summary else [])
