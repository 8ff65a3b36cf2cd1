"""The Backend protocol, and backends by name: the one place that turns "sim", "real" or a plug-in's name into a Backend.

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
:class:`Backend` (name, camera, workspace, table_z, reset, push,
observe, close). :func:`register` adds one at run time (tests, notebooks).

**Settings.** A backend may come with its own settings, a dataclass of the
settings system that satisfies :class:`BackendConfig`
(``SimBackendConfig`` for "sim", ``RealBackendConfig`` for "real"):
:func:`config_class` finds it, :func:`make_from_config` makes the backend from
one. A plug-in names its class with ``register(name, factory, config=...)`` or
as a ``config_class`` attribute of its factory; without one it takes no settings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from pushseg.errors import BackendError, InputError
from pushseg.types import CameraInfo, Frame, ObjectMotion, Push, PushResult
from pushseg.workspace import Workspace

# --- the protocol every backend satisfies -------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """What the env needs from the world: the simulation, the real robot, or a plug-in.

    Backends are made by name through the registry below. What every
    backend shares lives in the contracts: the push checks and the
    :class:`~pushseg.workspace.Workspace` in :mod:`pushseg.workspace`, the
    push resolution in :func:`pushseg.geometry.resolve_push`.
    """

    name: str  # the name written into transitions and run folders, e.g. "sim"
    camera: CameraInfo  # of the latest image
    workspace: Workspace  # where pushes may go; agents plan within it
    table_z: float | None  # the table top's height in base_link (m); None until the backend knows it

    def reset(self, seed: int | None = None) -> Frame:
        """Start a new episode (a new scene in simulation) and return the first image."""

    def push(self, push: Push) -> PushResult:
        """Execute one push, or refuse it with a reason. Arms end out of the camera's view."""

    def observe(self) -> Frame:
        """Take an image now, with the arms out of view."""

    def close(self) -> None:
        """Release the simulation or the robot connection."""


@runtime_checkable
class BackendConfig(Protocol):
    """A backend's own settings: a dataclass of the settings system (:mod:`pushseg.config`).

    Each is registered with its backend in :mod:`pushseg.backends`
    (``SimBackendConfig`` with "sim", ``RealBackendConfig`` with "real"); a
    collection holds the backend's name and one of these, and needs nothing else
    from the backend's side.
    """

    # True: an episode replays bit for bit from its seed (a simulation), so episodes may run in
    # any process and a partial one is replayed on resume; False: one world (a robot), one process.
    replayable: ClassVar[bool]

    def backend_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the backend's factory."""

    def describe(self) -> dict[str, Any]:
        """What a run folder records about the world: ``{"objects": {...}, "world": {...}}``."""


class TableTop(Protocol):
    """A rectangular table top in base_link: its extent (m) and its height (m)."""

    x: tuple[float, float]
    y: tuple[float, float]
    top_z: float


@runtime_checkable
class SimulatedBackend(Backend, Protocol):
    """A backend that also moves a tool along any path: a simulation that plays a robot (the fake PR2).

    ``SimBackend`` is one. What a fake robot needs beyond :class:`Backend`: the
    table as it really is, a tool that follows the arm's path, and a new image
    after the arm moved (the head and the sensor noise change with every image).
    """

    table: TableTop  # the table as it really is (ground truth; table_z is what the robot believes)

    def execute_path(self, waypoints_base: np.ndarray) -> tuple[ObjectMotion, ...]:
        """Move the tool through ``waypoints_base`` (N, 3) in base_link; how every object moved."""

    def render(self) -> Frame:
        """A new image of the scene as it is now (``observe`` keeps the last one until something moves)."""


# --- the registry -----------------------------------------------------------------------------

ENTRY_POINT_GROUP = "pushseg.backends"

# Built in: the PyBullet simulation, the PR2 over ROS 1, any URDF arm over ROS 2.
BUILTIN: dict[str, str] = {
    "sim": "pushseg.envs.sim_backend:SimBackend",
    "real": "pushseg.real:RealBackend",
    "ros2": "pushseg.ros2:Ros2Backend",
}

# Their settings (BackendConfig), importable without ROS or PyBullet running.
BUILTIN_CONFIGS: dict[str, str] = {
    "sim": "pushseg.envs.sim_backend:SimBackendConfig",
    "real": "pushseg.real.config:RealBackendConfig",
    "ros2": "pushseg.ros2.config:Ros2BackendConfig",
}

_registered: dict[str, str | Callable[..., Any]] = {}
_registered_configs: dict[str, str | type] = {}


def register(name: str, factory: str | Callable[..., Any], config: str | type | None = None) -> None:
    """Make ``factory`` (a callable, or ``"module:attribute"``) available as backend ``name``.

    ``config``: its settings class (or ``"module:attribute"``), see :func:`config_class`.
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"a backend name must be a non-empty string, got {name!r}")
    _registered[name] = factory
    _registered_configs.pop(name, None)
    if config is not None:
        _registered_configs[name] = config


def unregister(name: str) -> None:
    """Forget a backend added with :func:`register` (built-in and entry-point backends stay)."""
    _registered.pop(name, None)
    _registered_configs.pop(name, None)


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
        hint = {
            "real": "install ROS1 (docs/real-robot.md) and check pushseg/real, or use backend='sim'",
            "ros2": "install the ros2 extra (docs/ros2.md), or use backend='sim'",
        }.get(name, "check that the package providing it is installed")
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


def config_class(name: str) -> type | None:
    """The settings class of backend ``name`` (a :class:`BackendConfig`), None if it takes none."""
    if name in _registered:
        found = _registered_configs.get(name)
        return _load(found, name) if isinstance(found, str) else found
    if name in BUILTIN_CONFIGS:
        return _load(BUILTIN_CONFIGS[name], name)
    return getattr(factory(name), "config_class", None)  # an entry point's (unknown names fail here)


def make_from_config(name: str, config: BackendConfig | None) -> Backend:
    """Backend ``name`` made from its settings (None: a backend that takes none, made with no arguments)."""
    return make_backend(name, **(config.backend_kwargs() if config is not None else {}))


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
            "of the Backend protocol (pushseg.backends.Backend)"
        )
    return made


_PROTOCOL_MEMBERS = ("name", "camera", "workspace", "table_z", "reset", "push", "observe", "close")
