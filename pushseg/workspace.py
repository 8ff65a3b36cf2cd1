"""What every backend shares about pushing: the workspace, the table height, and whether a push can be done.

Part of the :class:`pushseg.backends.Backend` contract: each backend has a
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
from pushseg.geometry import PushPath, fit_table_plane, plane_height_at, resolve_push
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


def table_height(
    camera: CameraInfo,
    depth: np.ndarray,
    region: tuple[tuple[float, float], tuple[float, float]],
    at: tuple[float, float] | None = None,
    *,
    rng: np.random.Generator | int = 0,
) -> float:
    """The table top's height (base_link z) from the depth image, as both backends find it.

    The table is the highest large horizontal plane inside ``region`` ((x0, x1),
    (y0, y1) in base_link: the workspace, or where the table is known to be),
    found by :func:`pushseg.geometry.fit_table_plane`, not the largest plane in
    view (a floor or a wall may fill more of it). The height is read above
    ``at`` = (x, y), by default the region's centre. Raises
    :class:`~pushseg.errors.InputError` when there is no such plane.
    """
    stride = max(1, camera.width // 240)  # ~4 px at qhd; every pixel of a tiny image
    plane = fit_table_plane(camera, depth, rng=rng, stride=stride, region=region)
    if at is None:
        at = (float(np.mean(region[0])), float(np.mean(region[1])))
    return plane_height_at(camera, plane, float(at[0]), float(at[1]))
