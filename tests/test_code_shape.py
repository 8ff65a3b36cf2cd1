"""Readable steps: no function in pushseg/ is longer than 80 lines (a longer one is several steps in one)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pushseg"
MAX_LINES = 80


def long_functions(source: str, where: str, limit: int = MAX_LINES) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                out.append(f"{where}:{node.lineno} {node.name}: {lines} lines")
    return out


def test_no_function_is_longer_than_80_lines():
    found = [hit for path in sorted(PACKAGE.rglob("*.py"))
             for hit in long_functions(path.read_text(), str(path.relative_to(PACKAGE.parent)))]
    assert not found, f"split these into named steps (at most {MAX_LINES} lines each):\n" + "\n".join(found)


def test_the_length_check_can_fail():
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    assert long_functions(f"def f():\n{body}\n", "m.py") == ["m.py:1 f: 81 lines"]
    assert long_functions(f"def f():\n{body[:-12]}\n", "m.py") == []
