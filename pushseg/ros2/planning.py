"""Pushes and moves of a URDF arm as timed joint trajectories, from IK on the robot's URDF.

A push (:class:`pushseg.geometry.PushPath`, in the base frame) becomes: a
joint-space transit from where the arm is to a hover pose above the push's
start, a straight descent to the start, the push line at ``push.speed`` (IK every
``push.waypoint_spacing``, each solution seeded by the previous one, so the arm
stays in one configuration), and a lift above the end. The tool points straight
down (turned by ``push.tool_yaw_deg``). Segments are timed so that no joint
exceeds ``velocity_scale`` of its URDF velocity limit (a rest-to-rest segment
peaks at 1.5 times its mean speed) and the tool does not exceed ``push.speed``.
Anything the arm cannot do is a :class:`PushRefused` before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pushseg.geometry import PushPath
from pushseg.ros2.config import Ros2BackendConfig
from pushseg.ros2.kinematics import PushRefused, UrdfArm

__all__ = ["ArmPlan", "PushRefused", "plan_move", "plan_push", "tool_rotation"]

PEAK = 1.5  # a rest-to-rest cubic segment peaks at 1.5x its mean speed
MAX_STEP = 0.35  # rad any joint may turn between two IK samples of a line before it counts as a flip
MIN_SEGMENT_S = 0.1  # s: no segment shorter (controllers drop points closer than their period)


@dataclass
class ArmPlan:
    """A timed joint trajectory: ``positions[i]`` at ``times[i]`` s after the start (``start`` at 0)."""

    joint_names: tuple[str, ...]
    start: np.ndarray  # (J,) where the arm is when the plan begins
    times: np.ndarray  # (N,) strictly increasing, > 0
    positions: np.ndarray  # (N, J)
    velocities: np.ndarray  # (N, J)
    kinds: tuple[str, ...]  # per point: transit, descend, push, lift, ready

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for k in self.kinds:
            counts[k] = counts.get(k, 0) + 1
        return f"{len(self.times)} points over {self.duration:.1f} s: " + ", ".join(f"{v} {k}" for k, v in counts.items())

    def tool_points(self, arm: UrdfArm) -> np.ndarray:
        return np.array([arm.fk(q)[:3, 3] for q in self.positions])


def tool_rotation(yaw_deg: float) -> np.ndarray:
    """The tool's z axis straight down, turned ``yaw_deg`` about the vertical."""
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1.0, -1.0, -1.0])


def _rest_to_rest(arm: UrdfArm, q0: np.ndarray, q1: np.ndarray, scale: float) -> float:
    """Seconds for a segment that starts and ends at rest, every joint within ``scale`` of its limit."""
    return max(MIN_SEGMENT_S, float(np.max(PEAK * np.abs(q1 - q0) / (scale * arm.velocity))))


def plan_move(arm: UrdfArm, q_now, q_target, config: Ros2BackendConfig, kind: str = "ready") -> ArmPlan:
    """A joint-space move from ``q_now`` to ``q_target``, at rest at both ends."""
    q0, q1 = np.asarray(q_now, dtype=np.float64), np.asarray(q_target, dtype=np.float64)
    t = _rest_to_rest(arm, q0, q1, config.motion.transit_velocity_scale)
    return ArmPlan(tuple(arm.joint_names), q0, np.array([t]), q1[None], np.zeros((1, len(q1))), (kind,))


def _line(arm: UrdfArm, points: np.ndarray, R: np.ndarray, q_seed: np.ndarray, rest: np.ndarray,
          what: str) -> list[np.ndarray]:
    """IK along ``points``, each seeded by the previous solution; refused where the arm would flip."""
    out, q = [], q_seed
    for p in points:
        q_next = arm.ik(p, R, rest=rest, seed=q)
        if out and float(np.max(np.abs(q_next - q))) > MAX_STEP:
            raise PushRefused("unreachable", f"the arm would have to change its configuration during the {what} "
                                             f"near ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m; try another push")
        out.append(q_next)
        q = q_next
    return out


def _timed(arm: UrdfArm, qs: list[np.ndarray], pts: np.ndarray, speed: float, scale: float) -> np.ndarray:
    """Times between consecutive samples of a Cartesian stretch: the tool at ``speed``, joints within limits."""
    dt = []
    for i in range(1, len(qs)):
        by_tool = float(np.linalg.norm(pts[i] - pts[i - 1])) / speed
        by_joints = float(np.max(np.abs(qs[i] - qs[i - 1]) / (scale * arm.velocity)))
        dt.append(max(by_tool, by_joints, 1e-3))
    return np.array(dt)


def plan_push(arm: UrdfArm, path: PushPath, table_z: float, q_now, config: Ros2BackendConfig) -> ArmPlan:
    """Transit to hover above the start, descend, push along the line, lift above the end."""
    push, scale = config.push, config.safety.velocity_scale
    R = tool_rotation(push.tool_yaw_deg)
    rest = np.asarray(config.robot.ik_rest, dtype=np.float64)
    q0 = np.asarray(q_now, dtype=np.float64)
    start, end = np.asarray(path.start, dtype=np.float64), np.asarray(path.end, dtype=np.float64)
    hover_z = table_z + push.hover_height
    if hover_z <= start[2]:
        raise PushRefused("bad_height", f"push.hover_height {push.hover_height} m is not above the push line")

    def vertical(a: np.ndarray, z0: float, z1: float) -> np.ndarray:
        n = max(2, int(np.ceil(abs(z1 - z0) / push.waypoint_spacing)) + 1)
        return np.array([[a[0], a[1], z] for z in np.linspace(z0, z1, n)])

    q_hover = arm.ik([start[0], start[1], hover_z], R, rest=rest, seed=rest)
    down = vertical(start, hover_z, start[2])
    line = path.waypoints(push.waypoint_spacing)
    up = vertical(end, end[2], hover_z)
    q_down = _line(arm, down, R, q_hover, rest, "descent")
    q_line = _line(arm, line, R, q_down[-1], rest, "push")
    q_up = _line(arm, up, R, q_line[-1], rest, "lift")

    times, positions, velocities, kinds = [], [], [], []
    t = _rest_to_rest(arm, q0, q_hover, config.motion.transit_velocity_scale)
    times.append(t)
    positions.append(q_hover)
    velocities.append(np.zeros_like(q0))
    kinds.append("transit")
    for kind, qs, pts in (("descend", q_down, down), ("push", q_line, line), ("lift", q_up, up)):
        dts = _timed(arm, qs, pts, push.speed, scale)
        # Each stretch starts and ends at rest; inside it the joints move at the finite-difference velocity.
        dts[0] *= PEAK
        dts[-1] *= PEAK
        stamps = t + np.cumsum(dts)
        for i in range(1, len(qs)):
            v = np.zeros_like(q0)
            if i < len(qs) - 1:
                v = (qs[i + 1] - qs[i - 1]) / (stamps[i] - (stamps[i - 2] if i >= 2 else t))
            times.append(float(stamps[i - 1]))
            positions.append(qs[i])
            velocities.append(v)
            kinds.append(kind)
        t = float(stamps[-1])
    return ArmPlan(tuple(arm.joint_names), q0, np.array(times), np.array(positions), np.array(velocities),
                   tuple(kinds))
