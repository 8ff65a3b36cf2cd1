"""The import graph: layers from the contracts up to the composition root, no cycles.

Each package imports only packages of lower layers (``LAYERS``, lowest first) and its
own modules; pushseg.envs (the simulation) and pushseg.real (the PR2) share a layer and
never import each other -- both are backends found by name in pushseg.backends. No
module reaches itself through its imports. Imports are read from the source with ast,
wherever they are (top level, inside functions, under ``if TYPE_CHECKING``,
``importlib.import_module("...")`` with a literal name), so a lazy import counts too.
The package's own ``__init__`` is a façade that names its exports by string and
imports nothing of its own at module level.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pushseg"
FORBIDDEN = {"pushseg.envs": "pushseg.real", "pushseg.real": "pushseg.envs"}

# Lowest first; a package may import the packages of the layers before its own.
LAYERS: list[tuple[str, ...]] = [
    ("pushseg.errors",),
    ("pushseg.files", "pushseg.optional", "pushseg.limits"),
    ("pushseg.types",),
    ("pushseg.geometry",),
    ("pushseg.workspace",),
    ("pushseg.config", "pushseg.executors"),
    ("pushseg.backends",),
    ("pushseg.robot",),  # what the robot backends share (image encodings, Ctrl-C)
    ("pushseg.agents",),
    ("pushseg.envs", "pushseg.real", "pushseg.ros2"),
    ("pushseg.data",),
    ("pushseg.labeling",),
    ("pushseg.training",),
    ("pushseg.evaluation",),
    ("pushseg.experiments",),
    ("pushseg.pipeline",),  # the composition root
    ("pushseg.cli",),
    ("pushseg.__main__",),  # python -m pushseg: the training commands, ready for torchrun
]


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


def unit(module: str) -> str:
    """The layered unit a module belongs to: ``pushseg.X`` (a top-level module or subpackage)."""
    return ".".join(module.split(".")[:2])


def layer_of(module: str) -> int | None:
    for i, units in enumerate(LAYERS):
        if unit(module) in units:
            return i
    return None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go up the layers or sideways into another package of the same layer."""
    out = []
    for module, imports in graph.items():
        if module == "pushseg":
            continue
        mine = layer_of(module)
        for name in sorted(imports):
            if not _within(name, "pushseg") or name == "pushseg" or unit(name) == unit(module):
                continue
            theirs = layer_of(name)
            if theirs is None or mine is None or theirs >= mine:
                out.append(f"{module} (layer {mine}) imports {name} (layer {theirs})")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between modules (an import of a module's own parent package is not an edge: it runs first)."""
    edges = {m: sorted(i for i in imps if i in graph and i != m and not m.startswith(i + ".")) for m, imps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_package_has_a_layer():
    units = {unit(m) for m in all_modules()} - {"pushseg"}
    assert not [u for u in sorted(units) if layer_of(u) is None], "add the new package to LAYERS"


def test_imports_go_down_the_layers_only():
    bad = layer_violations(all_modules())
    assert not bad, "imports must go to lower layers (see LAYERS):\n" + "\n".join(bad)


def test_no_import_cycles():
    found = cycles(all_modules())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_root_package_imports_nothing_of_its_own_at_module_level():
    imports = imported_modules((PACKAGE / "__init__.py").read_text(), "pushseg", is_package=True)
    assert not [m for m in imports if _within(m, "pushseg") and m != "pushseg"], imports


@pytest.mark.parametrize(
    "graph,layer_bad,cycle",
    [
        ({"pushseg.data.a": {"pushseg.training.b"}, "pushseg.training.b": set()}, True, False),
        ({"pushseg.training.b": {"pushseg.data.a"}, "pushseg.data.a": set()}, False, False),
        ({"pushseg.envs.a": {"pushseg.real.b"}, "pushseg.real.b": set()}, True, False),
        ({"pushseg.data.a": {"pushseg.data.b"}, "pushseg.data.b": {"pushseg.data.a"}}, False, True),
        ({"pushseg.data": {"pushseg.data.a"}, "pushseg.data.a": {"pushseg.data"}}, False, False),
        ({"pushseg.cli.a": {"pushseg.pipeline.b"}, "pushseg.pipeline.b": {"pushseg.newthing.c"},
          "pushseg.newthing.c": set()}, True, False),
    ],
)
def test_the_layer_and_cycle_checks_can_fail(graph, layer_bad, cycle):
    assert bool(layer_violations(graph)) == layer_bad
    assert bool(cycles(graph)) == cycle
