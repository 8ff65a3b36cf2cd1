"""Backends by name: the one place that turns "sim", "real" or a plug-in's name into a Backend.

The composition root (the env, the CLI, collection, the fake PR2) asks this
registry; no backend package imports another. Each entry is a dotted path
``"package.module:attribute"`` to a factory (usually the backend class), and
it is imported only when that backend is made, so ``import pushseg.backends``
costs nothing and the real robot's ROS imports happen only for ``"real"``.

Third-party backends register through the ``pushseg.backends`` entry-point
group, e.g. in their ``pyproject.toml``::

    [project.entry-points."pushseg.backends"]
    ur5 = "my_lab.pushseg_ur5:UR5Backend"

and are then available as ``PushSegEnv(backend="ur5", ...)``. A factory takes
keyword arguments and returns an object that satisfies
:class:`pushseg.types.Backend` (name, camera, workspace, table_z, reset, push,
observe, close). :func:`register` adds one at run time (tests, notebooks).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata
from typing import Any

from pushseg.errors import BackendError, InputError
from pushseg.types import Backend

ENTRY_POINT_GROUP = "pushseg.backends"

# Built in: the PyBullet simulation, and the PR2 over ROS1.
BUILTIN: dict[str, str] = {
    "sim": "pushseg.envs.sim_backend:SimBackend",
    "real": "pushseg.real:RealBackend",
}

_registered: dict[str, str | Callable[..., Any]] = {}


def register(name: str, factory: str | Callable[..., Any]) -> None:
    """Make ``factory`` (a callable, or ``"module:attribute"``) available as backend ``name``."""
    if not isinstance(name, str) or not name:
        raise InputError(f"a backend name must be a non-empty string, got {name!r}")
    _registered[name] = factory


def unregister(name: str) -> None:
    """Forget a backend added with :func:`register` (built-in and entry-point backends stay)."""
    _registered.pop(name, None)


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Every backend name that :func:`make_backend` accepts, sorted."""
    return sorted({*BUILTIN, *_entry_points(), *_registered})


def _load(target: str, name: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        hint = (
            "install ROS1 (docs/real-robot.md) and check pushseg/real, or use backend='sim'"
            if name == "real"
            else "check that the package providing it is installed"
        )
        raise BackendError(f"backend {name!r} needs {target}, which is not available ({exc}); {hint}") from exc
    return obj


def factory(name: str) -> Callable[..., Any]:
    """The factory registered as ``name`` (run-time registrations first, then built-ins, then entry points)."""
    if name in _registered:
        f = _registered[name]
        return _load(f, name) if isinstance(f, str) else f
    if name in BUILTIN:
        return _load(BUILTIN[name], name)
    eps = _entry_points()
    if name in eps:
        try:
            return eps[name].load()
        except Exception as exc:  # a broken plug-in must not look like a pushseg bug
            raise BackendError(
                f"backend {name!r} (entry point {eps[name].value} in group {ENTRY_POINT_GROUP!r}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    raise InputError(f"unknown backend {name!r}: use one of {', '.join(available())} or pass a Backend instance")


def make_backend(backend: str | Backend, **kwargs: Any) -> Backend:
    """A ready Backend: ``backend`` itself when it is one, else the registered factory called with ``kwargs``."""
    if not isinstance(backend, str):
        if kwargs:
            raise InputError(
                f"backend options {sorted(kwargs)} were given with a ready backend object; "
                "configure the object itself instead"
            )
        if not isinstance(backend, Backend):
            missing = [m for m in _PROTOCOL_MEMBERS if not hasattr(backend, m)]
            raise InputError(
                f"backend must be a name ({', '.join(available())}) or a Backend instance; "
                f"{type(backend).__name__} lacks {', '.join(missing)}"
            )
        return backend
    made = factory(backend)(**kwargs)
    if not isinstance(made, Backend):
        missing = [m for m in _PROTOCOL_MEMBERS if not hasattr(made, m)]
        raise BackendError(
            f"backend {backend!r} made a {type(made).__name__}, which lacks {', '.join(missing)} "
            "of the Backend protocol (pushseg.types.Backend)"
        )
    return made


_PROTOCOL_MEMBERS = ("name", "camera", "workspace", "table_z", "reset", "push", "observe", "close")
