"""Taking an arm back out of the camera's view from wherever it is: pure planning, no ROS.

Used after every push and, most of all, after Ctrl-C stopped an arm half-way
(see :mod:`pushseg.real.backend`). The first route that passes the safety
checks (:func:`pushseg.real.safety.check_plan`) wins:

* ``retrace``: back along the trajectory it was interrupted on (a path already checked);
* ``lift``: straight up when the gripper is low over the table, then through the via poses;
* ``via``: through the via poses;
* ``direct``: a single joint move.
"""

from __future__ import annotations

import logging

import numpy as np

from pushseg.real import kinematics as kin
from pushseg.real import planning, safety
from pushseg.real.config import RealBackendConfig

log = logging.getLogger("pushseg.real")


def nearest_segment(points: list[np.ndarray], q: np.ndarray) -> int:
    """Index i of the joint-space segment points[i] -> points[i+1] that passes closest to q."""
    best, best_d = 0, np.inf
    for i in range(len(points) - 1):
        a = points[i]
        d = kin.joint_deltas(a, points[i + 1])
        e = kin.joint_deltas(a, q)
        s = float(np.clip(e @ d / max(float(d @ d), 1e-12), 0.0, 1.0))
        dist = float(np.linalg.norm(e - s * d))
        if dist < best_d:
            best, best_d = i, dist
    return best


def routes(
    side: str,
    q: np.ndarray,
    torso: float,
    table_z: float | None,
    config: RealBackendConfig,
    interrupted: planning.ArmPlan | None = None,
) -> list[tuple[str, list[np.ndarray]]]:
    """The candidate routes (name, joint poses to pass through), best first; see the module doc."""
    arm = kin.pr2_arm(side)
    out = config.arm_pose("out_of_view", side)
    back = [*reversed(config.via_poses(side)), out]
    found: list[tuple[str, list[np.ndarray]]] = []
    if interrupted is not None and interrupted.side == side:
        pts = [interrupted.start, *interrupted.positions]
        k = nearest_segment(pts, q)
        found.append(("retrace", [pts[i] for i in range(k, -1, -1)] + [out]))
    if table_z is not None:
        T = kin.fk(arm, q, torso)
        hover = table_z + config.push.hover_height
        if T[2, 3] < hover:
            target = np.array([T[0, 3], T[1, 3], hover])
            res = kin.solve_ik(arm, target, T[:3, :3], torso, q, restarts=0)
            if res.success:
                found.insert(0, ("lift", [res.q, *back]))
    return found + [("via", back), ("direct", [out])]


def retreat_plan(
    side: str,
    q: np.ndarray,
    torso: float,
    table_z: float | None,
    config: RealBackendConfig,
    interrupted: planning.ArmPlan | None = None,
) -> planning.ArmPlan:
    """The first route of :func:`routes` that passes the safety checks, as a timed plan.

    Without a table height nothing can be checked against the table, and the
    first route is taken (joint limits are still checked). Raises
    :class:`~pushseg.real.planning.PushRefused` (``no_safe_retreat``) when every route fails.
    """
    refusals = []
    for name, poses in routes(side, q, torso, table_z, config, interrupted):
        positions = []
        for pose in poses:
            positions.append(kin.unwrap_continuous(pose, positions[-1] if positions else q))
        plan = planning.timed_plan(side, q, positions, ["retreat"] * len(positions), torso, config)
        if table_z is None:
            return plan
        try:
            safety.check_plan(plan, table_z, config)
        except planning.PushRefused as r:
            refusals.append(f"{name}: {r.message}")
            continue
        log.info("%s arm retreats by the %s route", side, name)
        return plan
    raise planning.PushRefused("no_safe_retreat", "; ".join(refusals))
