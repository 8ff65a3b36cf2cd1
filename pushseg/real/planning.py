"""From a resolved push (a straight line in base_link) to one PR2 arm joint trajectory.

The trajectory, for the arm chosen by side and reachability:

1. from wherever the arm is (out of view) through the raised ``arms.via`` pose to
   ``hover_height`` above the push start (joint moves);
2. straight down to the start of the push line;
3. along the push line, IK sampled every ``waypoint_spacing`` (1 cm), at ``push.speed``;
4. straight up to ``hover_height`` above the end;
5. back through ``arms.via`` to the arm's out-of-view pose (joint moves).

The gripper keeps one orientation throughout: leaning ``push.gripper_pitch_deg``
below the horizontal (90 = straight down) away from the shoulder towards the
pushed point, finger span horizontal (``kinematics.pushing_orientation``). Timing keeps
every joint within ``velocity_scale`` of its limit and Cartesian parts within
the push speed; :mod:`pushseg.real.safety` re-checks the result independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pushseg.geometry import PushPath
from pushseg.real import kinematics as kin
from pushseg.real.config import RealBackendConfig

# Cubic segments that start and end at rest peak at 1.5x their mean speed.
_REST_TO_REST_PEAK = 1.5
_MIN_DT = 0.02
# Point kinds that are joint-space moves between poses (slower, start and end at rest).
_JOINT_MOVES = ("transit", "retract", "retreat")


class PushRefused(Exception):
    """A push the robot will not do; ``code`` is a short machine-readable reason."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ArmPlan:
    """A joint trajectory for one arm; point 0 is reached at ``times[0]`` from the current state."""

    side: str
    joint_names: list[str]
    start: np.ndarray  # (7,) where the arm was when planned
    positions: np.ndarray  # (N, 7)
    velocities: np.ndarray  # (N, 7)
    times: np.ndarray  # (N,) seconds from the start of the goal
    kinds: tuple[str, ...]  # per point: "transit", "descend", "push", "lift", "retract"
    torso: float

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def tool_points(self) -> np.ndarray:
        arm = kin.pr2_arm(self.side)
        return np.array([kin.fk(arm, q, self.torso)[:3, 3] for q in self.positions])

    def summary(self) -> str:
        push = [i for i, k in enumerate(self.kinds) if k == "push"]
        return (
            f"{self.side} arm, {len(self.positions)} points ({len(push)} on the push line), "
            f"{self.duration:.1f} s"
        )


def _vertical(a: np.ndarray, b: np.ndarray, spacing: float) -> np.ndarray:
    n = max(1, int(np.ceil(np.linalg.norm(b - a) / spacing)))
    return a + np.linspace(0.0, 1.0, n + 1)[1:, None] * (b - a)


def _ik_chain(arm, points, rotation, torso, seed, rest, what) -> list[np.ndarray]:
    """IK for consecutive points, each seeded with the previous solution (no joint flips)."""
    out, q = [], seed
    for i, p in enumerate(points):
        res = kin.solve_ik(arm, p, rotation, torso, q, rest=rest, restarts=0 if out else 6)
        if not res.success:
            raise PushRefused(
                "unreachable",
                f"{arm.side} arm cannot reach {what} point {i} at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m in "
                f"base_link with the gripper's pushing orientation (off by {100 * res.position_error:.1f} cm)",
            )
        q = kin.unwrap_continuous(res.q, q)
        out.append(q)
    return out


def plan_arm(
    side: str,
    path: PushPath,
    table_z: float,
    torso: float,
    current: np.ndarray,
    config: RealBackendConfig,
) -> ArmPlan:
    """Plan the push with one arm; raises :class:`PushRefused` when that arm cannot do it."""
    arm = kin.pr2_arm(side)
    push = config.push
    spacing = push.waypoint_spacing
    pitch = np.radians(push.gripper_pitch_deg)
    rotation = kin.pushing_orientation(kin.shoulder_heading(side, path.contact), pitch)
    rest = config.arm_pose("ik_rest", side)
    line = path.waypoints(spacing)
    up = np.array([0.0, 0.0, max(0.0, table_z + push.hover_height - float(line[0][2]))])
    hover_start, hover_end = line[0] + up, line[-1] + up

    seed = kin.solve_ik(arm, hover_start, rotation, torso, rest, rest=rest, restarts=10)
    if not seed.success:
        raise PushRefused(
            "unreachable",
            f"{side} arm cannot reach the hover point ({hover_start[0]:.3f}, {hover_start[1]:.3f}, "
            f"{hover_start[2]:.3f}) m above the push start with the gripper's pushing orientation",
        )
    vias = []
    for pose in config.via_poses(side):
        vias.append(kin.unwrap_continuous(pose, vias[-1] if vias else current))
    q_hover = kin.unwrap_continuous(seed.q, vias[-1] if vias else current)
    descend = _ik_chain(arm, _vertical(hover_start, line[0], spacing), rotation, torso, q_hover, rest, "descent")
    along = _ik_chain(arm, line[1:], rotation, torso, descend[-1], rest, "push line")
    lift = _ik_chain(arm, _vertical(line[-1], hover_end, spacing), rotation, torso, along[-1], rest, "lift")
    back = []
    for pose in [*reversed(config.via_poses(side)), config.arm_pose("out_of_view", side)]:
        back.append(kin.unwrap_continuous(pose, back[-1] if back else lift[-1]))

    positions = [*vias, q_hover, *descend, *along, *lift, *back]
    kinds = ["transit"] * (len(vias) + 1) + ["descend"] * len(descend) + ["push"] * len(along)
    kinds += ["lift"] * len(lift) + ["retract"] * len(back)
    cartesian = [None] * len(vias) + [hover_start]
    cartesian += list(_vertical(hover_start, line[0], spacing)) + list(line[1:])
    cartesian += list(_vertical(line[-1], hover_end, spacing)) + [None] * len(back)
    return _timed(arm, np.asarray(current, dtype=np.float64), positions, kinds, cartesian, torso, config)


def _timed(arm, current, positions, kinds, cartesian, torso, config) -> ArmPlan:
    safety, motion = config.safety, config.motion
    speed = config.push.speed
    q = np.array(positions)
    prev_q = np.vstack([current[None], q[:-1]])
    dq = np.abs(kin.joint_deltas(prev_q, q))
    # The joint moves start and end at rest, and so does every change of straight line.
    stops = {i for i, k in enumerate(kinds) if k in _JOINT_MOVES} | {len(q) - 1}
    for i in range(1, len(kinds)):
        if kinds[i] != kinds[i - 1]:
            stops.add(i - 1)
    dts = []
    for i in range(len(q)):
        transit = kinds[i] in _JOINT_MOVES
        scale = motion.transit_velocity_scale if transit else safety.velocity_scale
        dt = float(np.max(dq[i] / (arm.velocity * scale)))
        if transit:
            dt *= _REST_TO_REST_PEAK
        if i > 0 and cartesian[i] is not None and cartesian[i - 1] is not None:  # a straight-line part
            dt = max(dt, float(np.linalg.norm(cartesian[i] - cartesian[i - 1])) / speed)
        dts.append(max(dt, _MIN_DT))
    times = np.cumsum(dts)
    vel = np.zeros_like(q)
    for i in range(1, len(q) - 1):
        if i in stops:
            continue
        vel[i] = kin.joint_deltas(q[i - 1], q[i + 1]) / (times[i + 1] - times[i - 1])
    return ArmPlan(
        side=arm.side,
        joint_names=arm.joint_names,
        start=current,
        positions=q,
        velocities=vel,
        times=times,
        kinds=tuple(kinds),
        torso=torso,
    )


def arm_order(path: PushPath, config: RealBackendConfig) -> list[str]:
    """Arms to try: the one on the side of the pushed point first."""
    preferred = ["l", "r"] if path.contact[1] > 0 else ["r", "l"]
    return [s for s in preferred if s in config.arms.use]


def timed_plan(
    side: str, current: np.ndarray, positions: list[np.ndarray], kinds: list[str], torso: float, config: RealBackendConfig
) -> ArmPlan:
    """Joint moves through ``positions`` (e.g. back to the out-of-view pose), timed within the transit velocity."""
    return _timed(kin.pr2_arm(side), np.asarray(current, dtype=np.float64), positions, kinds,
                  [None] * len(positions), torso, config)
