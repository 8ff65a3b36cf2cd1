"""The import graph: pushseg.envs (the simulation) and pushseg.real (the PR2) never import each other.

Both are backends found by name in pushseg.backends; what they share sits beside
the contracts (pushseg.types, pushseg.geometry, pushseg.workspace). Imports are
read from the source with ast, wherever they are (top level, inside functions,
``importlib.import_module("...")`` with a literal name), so a lazy import counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pushseg"
FORBIDDEN = {"pushseg.envs": "pushseg.real", "pushseg.real": "pushseg.envs"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module ``module``'s source imports, as absolute dotted names (``from a import b`` gives a and a.b)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(module: str, imports: set[str]) -> list[str]:
    out = []
    for owner, banned in FORBIDDEN.items():
        if _within(module, owner):
            out += [f"{module} imports {name}" for name in sorted(imports) if _within(name, banned)]
    return out


def all_modules() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        graph[name] = imported_modules(path.read_text(), name, is_package=path.name == "__init__.py")
    return graph


def test_envs_and_real_do_not_import_each_other():
    graph = all_modules()
    assert any(_within(m, "pushseg.envs") for m in graph) and any(_within(m, "pushseg.real") for m in graph)
    bad = [v for module, imports in graph.items() for v in violations(module, imports)]
    assert not bad, "envs and real must not import each other (use pushseg.backends):\n" + "\n".join(bad)


def test_the_registry_imports_no_backend_at_module_level():
    source = (PACKAGE / "backends.py").read_text()
    top = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            top |= imported_modules(ast.unparse(node), "pushseg.backends")
    assert not [m for m in top if _within(m, "pushseg.envs") or _within(m, "pushseg.real")], top


@pytest.mark.parametrize(
    "module,source,bad",
    [
        ("pushseg.real.x", "from pushseg.envs import scene", True),
        ("pushseg.real.x", "def f():\n    import pushseg.envs.sim_backend", True),
        ("pushseg.real.x", "from pushseg import envs", True),
        ("pushseg.real.x", "from ..envs.scene import TABLE_X", True),
        ("pushseg.real.x", "import importlib\nimportlib.import_module('pushseg.envs')", True),
        ("pushseg.envs.y", "from pushseg.real.kinematics import fk", True),
        ("pushseg.envs.y", "from . import scene\nfrom pushseg import backends, geometry", False),
        ("pushseg.real.x", "from pushseg.environment import thing", False),
    ],
)
def test_the_checker_finds_every_form_of_import(module, source, bad):
    # The checker must be able to fail: each way of writing an import is recognised.
    assert bool(violations(module, imported_modules(source, module))) == bad


def test_importing_the_env_does_not_load_the_robot():
    code = (
        "import sys, pushseg.envs, pushseg.backends;"
        "assert not [m for m in sys.modules if m.startswith('pushseg.real')], 'envs loaded real';"
        "import pushseg.real.fake_pr2, pushseg.real.planning, pushseg.real.retreat;"
        "assert 'pushseg.real.backend' not in sys.modules"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert res.returncode == 0, res.stderr
