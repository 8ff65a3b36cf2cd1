"""What every backend shares about pushing: the workspace, the table height, and whether a push can be done.

Part of the :class:`pushseg.types.Backend` contract: each backend has a
``workspace`` (:class:`Workspace`) and a ``table_z``, and resolves pushes
with :func:`check_push`. The checks use the observation only (depth, camera,
the table height), so the simulation refuses exactly the pushes the real robot
would refuse. :func:`table_height` finds the table top in a depth image, as
the real robot does at every reset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pushseg.errors import InputError
from pushseg.geometry import PushPath, fit_table_plane, resolve_push
from pushseg.types import CameraInfo, Push

# Rejection codes; PushResult.reason is "<code>: <what was wrong>".
OUTSIDE_IMAGE = "outside_image"
NO_DEPTH = "no_depth"
NOT_ON_TABLE = "not_on_table"
OUTSIDE_WORKSPACE = "outside_workspace"
LENGTH_OUT_OF_BOUNDS = "length_out_of_bounds"

PUSH_LENGTH_MIN = 0.02
PUSH_LENGTH_MAX = 0.20


@dataclass(frozen=True)
class Workspace:
    """Where the pusher may go, in base_link (metres).

    A box in front of the PR2 that both arms reach with the tool 2.5 cm above
    a 0.75 m table (shoulders at x = -0.05, y = -+0.188; shoulder to tool
    frame 0.4 + 0.321 + 0.18 m, docs/pr2.md), kept well inside that reach.
    """

    x: tuple[float, float] = (0.35, 1.05)
    y: tuple[float, float] = (-0.55, 0.55)
    length: tuple[float, float] = (PUSH_LENGTH_MIN, PUSH_LENGTH_MAX)
    # The push pixel must see the table top or something standing on it:
    # from 2 cm below the table top up to 40 cm above it.
    below_table: float = 0.02
    above_table: float = 0.40

    def contains(self, p: np.ndarray) -> bool:
        return bool(self.x[0] <= p[0] <= self.x[1] and self.y[0] <= p[1] <= self.y[1])


def check_push(
    camera: CameraInfo, depth: np.ndarray, push: Push, *, table_z: float, workspace: Workspace = Workspace()
) -> tuple[PushPath | None, str]:
    """Resolve ``push`` into a path, or say why it cannot be done.

    Returns ``(path, "")`` when the push is feasible, else ``(None, reason)``.
    """
    u, v = push.u, push.v
    if not (np.isfinite(u) and np.isfinite(v) and 0 <= u <= camera.width - 1 and 0 <= v <= camera.height - 1):
        return None, f"{OUTSIDE_IMAGE}: pixel ({u}, {v}) is not inside the {camera.width}x{camera.height} image"
    lo, hi = workspace.length
    if not (np.isfinite(push.length) and lo <= push.length <= hi):
        return None, f"{LENGTH_OUT_OF_BOUNDS}: length {push.length} m is not in [{lo}, {hi}]"
    try:
        path = resolve_push(camera, depth, push, table_z=table_z)
    except InputError as exc:
        return None, f"{NO_DEPTH}: {exc}"
    z = path.contact[2]
    if not (table_z - workspace.below_table <= z <= table_z + workspace.above_table):
        return None, (
            f"{NOT_ON_TABLE}: pixel ({u:.0f}, {v:.0f}) sees a point {z - table_z:+.3f} m from the table top, "
            "not the table or an object on it"
        )
    for what, p in (("start", path.start), ("end", path.end)):
        if not workspace.contains(p):
            return None, (
                f"{OUTSIDE_WORKSPACE}: the push {what} ({p[0]:.3f}, {p[1]:.3f}) lies outside "
                f"x in {workspace.x}, y in {workspace.y}"
            )
    return path, ""


# A table tilted more than this from horizontal in base_link means a wrong camera pose.
MAX_TABLE_TILT_DEG = 10.0


def table_height(
    camera: CameraInfo, depth: np.ndarray, at: tuple[float, float], *, rng: np.random.Generator | int = 0
) -> float:
    """The table top's height (base_link z) at the point ``at`` = (x, y), from a plane fitted to ``depth``.

    Raises :class:`~pushseg.errors.InputError` when no plane is found, or when the
    plane is tilted more than ``MAX_TABLE_TILT_DEG`` from horizontal (then the
    camera pose, i.e. the calibration, is wrong rather than the table).
    """
    plane = fit_table_plane(camera, depth, rng=rng)
    R, t = camera.T_base_camera[:3, :3], camera.T_base_camera[:3, 3]
    normal = R @ plane.normal
    point = R @ (-plane.offset * plane.normal) + t  # the plane's point nearest the camera
    tilt = float(np.degrees(np.arccos(min(1.0, abs(normal[2])))))
    if tilt > MAX_TABLE_TILT_DEG:
        raise InputError(
            f"the table plane fitted to the depth image is tilted {tilt:.0f} deg from horizontal in base_link "
            f"(more than {MAX_TABLE_TILT_DEG:.0f}): is the camera pose (calibration) right?"
        )
    x, y = at
    return float(point[2] - (normal[0] * (x - point[0]) + normal[1] * (y - point[1])) / normal[2])
