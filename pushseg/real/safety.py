"""Safety checks that run before anything is sent to the robot.

* :func:`check_push` -- push length within ``safety.max_push_length``;
* :func:`check_workspace` -- every point of the push line inside the workspace
  box in base_link, whose floor sits just above the table top;
* :func:`check_plan` -- the planned trajectory, re-checked independently of the
  planner: time strictly increasing, every point inside the safety controller's
  soft joint limits by ``soft_limit_margin`` (:func:`check_soft_limits`), every
  joint within ``velocity_scale`` of its velocity limit, and (sampled densely between
  points, by forward kinematics) the tool never below the floor and the elbow
  and wrist never closer than ``link_clearance`` to the table over the
  workspace.

Refusals are :class:`~pushseg.real.planning.PushRefused` (the push is skipped,
nothing moves); a plan that breaks the velocity limits is a bug and raises
:class:`~pushseg.errors.BackendError`.
"""

from __future__ import annotations

import numpy as np

from pushseg.errors import BackendError
from pushseg.real import kinematics as kin
from pushseg.real.config import RealBackendConfig
from pushseg.real.planning import ArmPlan, PushRefused
from pushseg.types import Push

_PEAK = 1.5  # a rest-to-rest cubic segment peaks at 1.5x its mean speed


def check_push(push: Push, config: RealBackendConfig) -> None:
    limit = config.safety.max_push_length
    if not np.isfinite(push.length) or push.length <= 0:
        raise PushRefused("bad_length", f"push length {push.length!r} m must be a positive number")
    if push.length > limit:
        raise PushRefused(
            "too_long",
            f"push length {push.length:.3f} m exceeds safety.max_push_length {limit:.3f} m; "
            "ask for a shorter push or raise the limit in the real-robot config",
        )


def workspace_bounds(table_z: float, config: RealBackendConfig) -> np.ndarray:
    """[[xmin, xmax], [ymin, ymax], [zmin, zmax]] in base_link."""
    ws = config.safety.workspace
    z0, z1 = ws.z_above_table
    return np.array([ws.x, ws.y, [table_z + z0, table_z + z1]], dtype=np.float64)


def check_workspace(points: np.ndarray, table_z: float, config: RealBackendConfig, what: str = "push line") -> None:
    box = workspace_bounds(table_z, config)
    pts = np.atleast_2d(points)
    inside = np.all((pts >= box[:, 0]) & (pts <= box[:, 1]), axis=1)
    if not inside.all():
        i = int(np.argmin(inside))
        p = pts[i]
        raise PushRefused(
            "outside_workspace",
            f"{what} point ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m in base_link is outside the workspace box "
            f"x [{box[0, 0]:.2f}, {box[0, 1]:.2f}], y [{box[1, 0]:.2f}, {box[1, 1]:.2f}], "
            f"z [{box[2, 0]:.3f}, {box[2, 1]:.3f}] (floor {box[2, 0] - table_z:.3f} m above the table at "
            f"z {table_z:.3f}); choose a push inside it or change safety.workspace in the real-robot config",
        )


def check_soft_limits(plan: ArmPlan, config: RealBackendConfig) -> None:
    """Every point of ``plan`` inside the soft joint limits by ``safety.soft_limit_margin``, else PushRefused.

    A PR2's safety controller holds a joint at its soft limit, so a goal with a
    point beyond one never finishes (docs/pr2.md). Joint moves are linear in
    joint space between points, so checking the points covers the whole motion.
    """
    arm = kin.pr2_arm(plan.side)
    margin = config.safety.soft_limit_margin
    for i, q in enumerate(plan.positions):
        bad = arm.soft_limit_violations(q, margin)
        if bad:
            raise PushRefused(
                "beyond_soft_limit",
                f"point {i} ({plan.kinds[i]}) of the {plan.side} arm's trajectory has {'; '.join(bad)}; "
                "a PR2 stops the joint at its soft limit, so this plan is not sent",
            )


def check_plan(plan: ArmPlan, table_z: float, config: RealBackendConfig, substeps: int = 8) -> None:
    arm = kin.pr2_arm(plan.side)
    safety = config.safety
    times = np.concatenate([[0.0], plan.times])
    if not np.all(np.diff(times) > 0):
        raise BackendError(f"planned {plan.side} arm trajectory has non-increasing times {plan.times}")
    q_all = np.vstack([plan.start[None], plan.positions])
    check_soft_limits(plan, config)  # (inside the soft limits is inside the URDF limits)
    limit = arm.velocity * safety.velocity_scale
    for i in range(len(plan.positions)):
        dq = np.abs(kin.joint_deltas(q_all[i], q_all[i + 1]))
        mean = dq / (times[i + 1] - times[i])
        resting = not plan.velocities[i].any() and (i == 0 or not plan.velocities[i - 1].any())
        peak = mean * (_PEAK if resting else 1.0)
        if np.any(peak > limit + 1e-9):
            j = int(np.argmax(peak / limit))
            raise BackendError(
                f"planned {plan.side} arm segment {i} moves {arm.joint_names[j]} at {peak[j]:.2f} rad/s, "
                f"above {limit[j]:.2f} rad/s (safety.velocity_scale x limit); this is a planning bug"
            )
    floor = workspace_bounds(table_z, config)[2, 0]
    tx, ty = safety.table.x, safety.table.y
    link_floor = table_z + safety.link_clearance
    for i in range(len(plan.positions)):
        d = kin.joint_deltas(q_all[i], q_all[i + 1])
        for s in np.linspace(0.0, 1.0, substeps + 1)[1:]:
            pts = kin.key_points(arm, q_all[i] + s * d, plan.torso)
            for name, p in pts.items():
                over_table = tx[0] <= p[0] <= tx[1] and ty[0] <= p[1] <= ty[1]
                low = floor if name == "tool" else link_floor
                if over_table and p[2] < low - 1e-3:
                    raise PushRefused(
                        "too_close_to_table",
                        f"the {plan.side} arm's {name} would pass {p[2] - table_z:+.3f} m from the table top at "
                        f"({p[0]:.3f}, {p[1]:.3f}) during its {plan.kinds[i]} motion (needs >= "
                        f"{low - table_z:.3f} m); try another push or adjust arms.ik_rest / push.hover_height",
                    )
