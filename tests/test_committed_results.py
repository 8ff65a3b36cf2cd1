"""The committed experiment results are what their committed records give, byte for byte.

``docs/results/quick/records.json.gz`` holds the per-scene records of the headline run;
``pushseg records rebuild`` must make every committed report and the summary from them
alone, so that any interval quoted in the README can be recomputed from the repository.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from pushseg.cli.main import main

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results" / "quick"


def test_committed_reports_are_rebuilt_exactly_from_the_committed_records(tmp_path):
    records = RESULTS / "records.json.gz"
    specs = json.loads(gzip.decompress(records.read_bytes()))["specs"]
    assert {"table1", "fig4"} <= set(specs)
    assert records.stat().st_size < 5_000_000  # compact: no model, image or detection
    assert main(["records", "rebuild", str(records), str(tmp_path / "rebuilt")]) == 0
    for spec in specs:
        for name in ("report.json", "report.md"):
            assert (tmp_path / "rebuilt" / spec / name).read_bytes() == (RESULTS / spec / name).read_bytes(), \
                f"{spec}/{name}"
    for name in ("summary.json", "summary.md"):
        assert (tmp_path / "rebuilt" / name).read_bytes() == (RESULTS / name).read_bytes(), name
