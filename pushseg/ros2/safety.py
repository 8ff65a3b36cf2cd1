"""Checks that run before anything is sent to the arm, independent of the planner.

* :func:`check_push`: the push's length within ``safety.max_push_length``;
* :func:`check_workspace`: every point of the push line inside the workspace box
  (base frame), whose floor sits just above the table top;
* :func:`check_plan`: the planned trajectory re-checked: times strictly
  increasing, every point inside the URDF limits by ``safety.joint_limit_margin``,
  joint speeds within ``velocity_scale`` of the URDF velocity limits, and (by forward
  kinematics, sampled densely between points, as the controller interpolates) the
  tool never below the workspace floor and every other link origin at least
  ``safety.link_clearance`` above the table wherever it is over the table.

Refusals are :class:`~pushseg.ros2.kinematics.PushRefused` (the push is skipped,
nothing moves); a plan that breaks the velocity limits is a planning bug and
raises :class:`~pushseg.errors.BackendError`.
"""

from __future__ import annotations

import numpy as np

from pushseg.errors import BackendError
from pushseg.ros2.config import Ros2BackendConfig
from pushseg.ros2.kinematics import PushRefused, UrdfArm
from pushseg.ros2.planning import PEAK, ArmPlan
from pushseg.types import Push


def check_push(push: Push, config: Ros2BackendConfig) -> None:
    limit = config.safety.max_push_length
    if not np.isfinite(push.length) or push.length <= 0:
        raise PushRefused("bad_length", f"push length {push.length!r} m must be a positive number")
    if push.length > limit:
        raise PushRefused("too_long", f"push length {push.length:.3f} m exceeds safety.max_push_length {limit:.3f} m; "
                                      "ask for a shorter push or raise the limit in the robot config")


def workspace_bounds(table_z: float, config: Ros2BackendConfig) -> np.ndarray:
    """[[xmin, xmax], [ymin, ymax], [zmin, zmax]] in the base frame."""
    ws = config.safety.workspace
    z0, z1 = ws.z_above_table
    return np.array([ws.x, ws.y, [table_z + z0, table_z + z1]], dtype=np.float64)


def check_workspace(points: np.ndarray, table_z: float, config: Ros2BackendConfig, what: str = "push line") -> None:
    box = workspace_bounds(table_z, config)
    pts = np.atleast_2d(points)
    inside = np.all((pts >= box[:, 0]) & (pts <= box[:, 1]), axis=1)
    if not inside.all():
        p = pts[int(np.argmin(inside))]
        raise PushRefused(
            "outside_workspace",
            f"{what} point ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m in {config.robot.base_frame} is outside the workspace "
            f"box x [{box[0, 0]:.2f}, {box[0, 1]:.2f}], y [{box[1, 0]:.2f}, {box[1, 1]:.2f}], z [{box[2, 0]:.3f}, "
            f"{box[2, 1]:.3f}]; choose a push inside it or change safety.workspace in the robot config")


def check_plan(plan: ArmPlan, arm: UrdfArm, table_z: float, config: Ros2BackendConfig, substeps: int = 4) -> None:
    s = config.safety
    times = np.concatenate([[0.0], plan.times])
    if not np.all(np.diff(times) > 0):
        raise BackendError(f"planned trajectory has non-increasing times {plan.times}")
    for i, q in enumerate(plan.positions):
        bad = arm.limit_violations(q, s.joint_limit_margin)
        if bad:
            raise PushRefused("beyond_limit", f"point {i} ({plan.kinds[i]}) of the trajectory has {'; '.join(bad)} "
                                              f"(within safety.joint_limit_margin {s.joint_limit_margin} rad)")
    q_all = np.vstack([plan.start[None], plan.positions])
    limit = arm.velocity * s.velocity_scale
    for i in range(len(plan.positions)):
        mean = np.abs(q_all[i + 1] - q_all[i]) / (times[i + 1] - times[i])
        resting = not plan.velocities[i].any() and (i == 0 or not plan.velocities[i - 1].any())
        peak = mean * (PEAK if resting else 1.0)
        if np.any(peak > limit * 1.05 + 1e-9):  # 5 %: finite-difference velocities inside a stretch
            j = int(np.argmax(peak / limit))
            raise BackendError(f"planned segment {i} moves {arm.joint_names[j]} at {peak[j]:.2f} rad/s, above "
                               f"{limit[j]:.2f} rad/s (safety.velocity_scale x the URDF limit); this is a planning bug")
    floor = workspace_bounds(table_z, config)[2, 0]
    tx, ty = s.table.x, s.table.y
    others = [link for link in arm.links if link not in (arm.tool_frame, arm.base_frame)]
    for i in range(len(plan.positions)):
        for f in np.linspace(0.0, 1.0, substeps + 1)[1:]:
            poses = arm.fk_links(q_all[i] + f * (q_all[i + 1] - q_all[i]), [arm.tool_frame, *others])
            for link, T in poses.items():
                x, y, z = T[:3, 3]
                if not (tx[0] <= x <= tx[1] and ty[0] <= y <= ty[1]):
                    continue
                low = floor if link == arm.tool_frame else table_z + s.link_clearance
                if z < low - 1e-3:
                    raise PushRefused(
                        "too_close_to_table",
                        f"{link} would pass {z - table_z:+.3f} m from the table top at ({x:.3f}, {y:.3f}) during the "
                        f"{plan.kinds[i]} motion (needs >= {low - table_z:.3f} m); try another push or adjust "
                        "robot.ik_rest / push.hover_height")
