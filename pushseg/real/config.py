"""The real backend's configuration: PR2 defaults in ``pr2_defaults.yaml``, overridable by a user file.

A user file only lists what it changes; it is merged key by key into the
defaults. Unknown keys are errors (a typo must not silently keep a default on
a real robot), and values are checked before anything connects to ROS.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pushseg.errors import InputError
from pushseg.geometry import resolve_push
from pushseg.real import kinematics as kin

# The tool runs this high above the table: resolve_push's default, as in the simulation.
PUSH_HEIGHT = float(inspect.signature(resolve_push).parameters["push_height"].default)

DEFAULTS_FILE = Path(__file__).with_name("pr2_defaults.yaml")


def _merge(base: dict, override: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in base:
            raise InputError(f"unknown real-robot config key {path!r}; known keys here: {sorted(base)}")
        if isinstance(base[key], dict) and isinstance(value, dict):
            out[key] = _merge(base[key], value, path)
        elif isinstance(base[key], dict) and not isinstance(value, dict):
            raise InputError(f"real-robot config key {path!r} must be a mapping, got {value!r}")
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class RealConfig:
    """Everything the real backend reads; see pr2_defaults.yaml for the meaning of each value."""

    raw: dict[str, Any]

    # Convenience accessors, typed.
    def get(self, dotted: str) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            node = node[part]
        return node

    @property
    def dry_run(self) -> bool:
        return bool(self.raw["safety"]["dry_run"])

    def arm_pose(self, kind: str, side: str) -> np.ndarray:
        """``out_of_view`` or ``ik_rest`` of one arm, (7,)."""
        return np.array(self.raw["arms"][kind][side], dtype=np.float64)

    def via_poses(self, side: str) -> list[np.ndarray]:
        return [np.array(p, dtype=np.float64) for p in self.raw["arms"]["via"][side]]

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.raw)

    def with_overrides(self, overrides: dict[str, Any]) -> "RealConfig":
        return _validated(_merge(self.raw, overrides))


def _validated(raw: dict[str, Any]) -> RealConfig:
    def fail(key: str, msg: str) -> None:
        raise InputError(f"real-robot config {key}: {msg}")

    arms = raw["arms"]
    if not arms["use"] or any(s not in ("r", "l") for s in arms["use"]):
        fail("arms.use", f"must list 'r' and/or 'l', got {arms['use']!r}")
    for kind in ("out_of_view", "ik_rest"):
        for side in ("r", "l"):
            v = arms[kind].get(side)
            if v is None or len(v) != 7:
                fail(f"arms.{kind}.{side}", f"needs 7 joint angles, got {v!r}")
    for side in ("r", "l"):
        poses = arms["via"].get(side)
        if not isinstance(poses, list) or any(not isinstance(p, list) or len(p) != 7 for p in poses):
            fail(f"arms.via.{side}", f"needs a list of poses of 7 joint angles each, got {poses!r}")
    push, safety = raw["push"], raw["safety"]
    margin = safety["soft_limit_margin"]
    if not isinstance(margin, (int, float)) or not 0 <= float(margin) <= 0.2:
        fail("safety.soft_limit_margin", f"must be radians in [0, 0.2], got {margin!r}")
    # Commanded poses must lie inside the soft limits: a PR2 holds a joint at its soft limit and the goal fails.
    for kind in ("out_of_view", "via"):
        for side in ("r", "l"):
            poses = [arms[kind][side]] if kind == "out_of_view" else arms[kind][side]
            for i, pose in enumerate(poses):
                bad = kin.pr2_arm(side).soft_limit_violations(np.asarray(pose, dtype=np.float64), float(margin))
                if bad:
                    where = f"arms.{kind}.{side}" + (f"[{i}]" if kind == "via" else "")
                    fail(where, f"{'; '.join(bad)}: move it inside the PR2's soft joint limits (docs/pr2.md)")
    for key in ("waypoint_spacing", "hover_height", "speed"):
        if not float(push[key]) > 0:
            fail(f"push.{key}", f"must be positive, got {push[key]!r}")
    if push["speed"] > safety["max_push_speed"]:
        fail("push.speed", f"{push['speed']} m/s exceeds safety.max_push_speed {safety['max_push_speed']} m/s")
    if not 0 < float(safety["velocity_scale"]) <= 1.0:
        fail("safety.velocity_scale", f"must be in (0, 1], got {safety['velocity_scale']!r}")
    if not 0 < float(raw["motion"]["transit_velocity_scale"]) <= float(safety["velocity_scale"]):
        fail("motion.transit_velocity_scale", "must be in (0, safety.velocity_scale]")
    ws = safety["workspace"]
    for axis in ("x", "y"):
        lo, hi = safety["table"][axis]
        if not lo < hi:
            fail(f"safety.table.{axis}", f"needs [low, high] with low < high, got {safety['table'][axis]!r}")
    for axis in ("x", "y", "z_above_table"):
        lo, hi = ws[axis]
        if not lo < hi:
            fail(f"safety.workspace.{axis}", f"needs [low, high] with low < high, got {ws[axis]!r}")
    if not 0 < float(push["gripper_pitch_deg"]) <= 90:
        fail("push.gripper_pitch_deg", f"must be in (0, 90] degrees, got {push['gripper_pitch_deg']!r}")
    if PUSH_HEIGHT <= ws["z_above_table"][0]:
        fail("safety.workspace.z_above_table",
             f"the floor {ws['z_above_table'][0]} m must lie below the push height {PUSH_HEIGHT} m above the table")
    for key, value in raw["timeouts"].items():
        if not float(value) > 0:
            fail(f"timeouts.{key}", f"must be positive seconds, got {value!r}")
    return RealConfig(raw=raw)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RealConfig:
    """PR2 defaults, merged with the YAML file at ``path`` and then with ``overrides``."""
    raw = yaml.safe_load(DEFAULTS_FILE.read_text())
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"real-robot config file {p} does not exist; pass a YAML file (see {DEFAULTS_FILE})")
        try:
            user = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise InputError(f"real-robot config file {p} is not valid YAML: {e}") from e
        if not isinstance(user, dict):
            raise InputError(f"real-robot config file {p} must hold a mapping at the top level")
        raw = _merge(raw, user)
    if overrides:
        raw = _merge(raw, overrides)
    return _validated(raw)
