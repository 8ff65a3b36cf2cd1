"""Every ```python block of README.md and docs/*.md runs, in order, in one fresh folder per file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A block that cannot run here (e.g. it needs a real robot) says so on the line above it.
NOT_RUN = re.compile(r"<!--\s*not run:\s*\S.*-->\s*$")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    text = path.read_text()
    blocks = []
    for m in BLOCK.finditer(text):
        before = text[: m.start()].rstrip("\n").splitlines()
        if before and NOT_RUN.search(before[-1]):
            continue
        blocks.append((text[: m.start()].count("\n") + 1, m.group(1)))
    return blocks


def test_readme_has_a_python_section():
    assert len(python_blocks(ROOT / "README.md")) >= 5


@pytest.mark.parametrize(
    "path",
    # README's blocks train and evaluate a small model: seconds.
    [pytest.param(p, marks=pytest.mark.slow) if p.name == "README.md" else p for p in DOCS],
    ids=[p.name for p in DOCS],
)
def test_python_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for line, code in python_blocks(path):
        exec(compile(code, f"{path.name}:{line}", "exec"), namespace)  # noqa: S102 - our own docs
