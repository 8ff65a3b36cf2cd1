"""Types and ranges of every :class:`~pushseg.envs.sim_backend.SimConfig` field, checked at construction.

A wrong value fails here, naming the field, what it got and what it takes, instead
of deep in PyBullet or OpenCV at the first reset (or, for ``gui`` on a machine
without a display, by ending the process).
"""

from __future__ import annotations

import math
import os
import sys
from numbers import Integral, Real

from pushseg.envs.clutter import check_level
from pushseg.envs.rendering import DepthNoise
from pushseg.envs.scene import Jitter
from pushseg.errors import InputError
from pushseg.limits import MAX_IMAGE_SIDE, MIN_IMAGE_SIDE
from pushseg.workspace import Workspace

MAX_OBJECTS = 20


def _int(name: str, v, lo: int, hi: int) -> None:
    if isinstance(v, bool) or not isinstance(v, Integral):
        raise InputError(f"SimConfig.{name} must be an integer, got {type(v).__name__} {v!r}")
    if not lo <= v <= hi:
        raise InputError(f"SimConfig.{name} must lie in [{lo}, {hi}], got {v}")


def _real(name: str, v, lo: float, hi: float, *, open_lo: bool = False) -> None:
    if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(float(v)):
        raise InputError(f"SimConfig.{name} must be a finite number, got {type(v).__name__} {v!r}")
    if not ((lo < v) if open_lo else (lo <= v)) or not v <= hi:
        raise InputError(f"SimConfig.{name} must lie in {'(' if open_lo else '['}{lo}, {hi}], got {v}")


def _range(name: str, v) -> None:
    if not (isinstance(v, (tuple, list)) and len(v) == 2):
        raise InputError(f"SimConfig.{name} must be a (low, high) pair of metres, got {v!r}")
    for x in v:
        _real(name, x, -5.0, 5.0)
    if not v[0] < v[1]:
        raise InputError(f"SimConfig.{name} = {tuple(v)} is reversed or empty: low must be below high")


def has_display() -> bool:
    """Whether a GUI window can open: always on macOS/Windows, with $DISPLAY or $WAYLAND_DISPLAY elsewhere."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def check_sim_config(cfg) -> None:
    """Raise :class:`InputError` on the first field of ``cfg`` with a wrong type or value."""

    _int("width", cfg.width, MIN_IMAGE_SIDE, MAX_IMAGE_SIDE)
    _int("height", cfg.height, MIN_IMAGE_SIDE, MAX_IMAGE_SIDE)
    n = cfg.num_objects
    if not (isinstance(n, (tuple, list)) and len(n) == 2):
        raise InputError(f"SimConfig.num_objects must be a (fewest, most) pair such as (1, 8), got {n!r}; "
                         f"for exactly k objects pass (k, k)")
    for x in n:
        _int("num_objects", x, 1, MAX_OBJECTS)
    if n[0] > n[1]:
        raise InputError(f"SimConfig.num_objects = {tuple(n)} is reversed: fewest must not exceed most")
    _real("clutter", cfg.clutter, 0.0, 1.0)
    check_level(cfg.clutter_level, "SimConfig.clutter_level")
    _range("region_x", cfg.region_x)
    _range("region_y", cfg.region_y)
    if cfg.jitter is not None and not isinstance(cfg.jitter, Jitter):
        raise InputError(f"SimConfig.jitter must be a pushseg.envs.scene.Jitter or None, got {type(cfg.jitter).__name__}")
    if cfg.depth_noise is not None and not isinstance(cfg.depth_noise, DepthNoise):
        raise InputError(f"SimConfig.depth_noise must be a pushseg.envs.rendering.DepthNoise or None, got "
                         f"{type(cfg.depth_noise).__name__} {cfg.depth_noise!r}")
    if isinstance(cfg.depth_noise, DepthNoise):
        d = cfg.depth_noise
        for f in ("base", "quad", "edge_step"):
            _real(f"depth_noise.{f}", getattr(d, f), 0.0, 1.0)
        for f in ("edge_dropout", "random_dropout"):
            _real(f"depth_noise.{f}", getattr(d, f), 0.0, 1.0)
    for f in ("shadows", "gui"):
        if not isinstance(getattr(cfg, f), bool):
            raise InputError(f"SimConfig.{f} must be True or False, got {getattr(cfg, f)!r}")
    _real("time_step", cfg.time_step, 0.0, 0.05, open_lo=True)
    _real("push_speed", cfg.push_speed, 0.0, 1.0, open_lo=True)
    if not isinstance(cfg.workspace, Workspace):
        raise InputError(f"SimConfig.workspace must be a pushseg.workspace.Workspace, got "
                         f"{type(cfg.workspace).__name__}")
    if cfg.gui and not has_display():
        raise InputError("SimConfig.gui=True (render_mode='human') needs a display, and $DISPLAY is not set; "
                         "use render_mode='rgb_array', or run under a virtual display (xvfb-run)")
