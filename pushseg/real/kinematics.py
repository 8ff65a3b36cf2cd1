"""Forward and inverse kinematics of the PR2 arms, in numpy.

The kinematic model is the PR2 URDF from ``pr2_description`` 1.13.1
(PR2/pr2_common), as written down in docs/pr2.md:

* ``torso_lift_joint``: prismatic z, origin (-0.05, 0, 0.739675) in base_link
  (pr2.urdf.xacro, torso.urdf.xacro);
* shoulder pan (z) at (0, -/+0.188, 0) from torso_lift_link, shoulder lift (y)
  at (0.1, 0, 0), upper-arm roll (x) at (0, 0, 0) (shoulder.urdf.xacro);
* elbow flex (y) at (0.4, 0, 0), forearm roll (x) at (0, 0, 0) (upper_arm.urdf.xacro);
* wrist flex (y) at (0.321, 0, 0), wrist roll (x) at (0, 0, 0) (forearm.urdf.xacro);
* ``*_gripper_tool_frame`` fixed at (0.18, 0, 0) from the palm (gripper.urdf.xacro).

All arm joint origins have rpy = 0, so each joint is a translation then a
rotation about one axis of its parent. With every joint at 0 and the torso
down, ``r_gripper_tool_frame`` is at (0.951, -0.188, 0.739675).

Each joint has two sets of limits (docs/pr2.md): the URDF's hard limits and,
inside them, the safety controller's soft limits. A PR2 holds a joint at its
soft limit, so a trajectory point beyond one is never reached and its goal
fails: IK solutions and every planned point stay inside the soft limits with a
margin (``safety.soft_limit_margin``). Velocity limits are 0.6 x the tested
values. Forearm roll and wrist roll are continuous.

Inverse kinematics is numeric: damped least squares on position and full
orientation, joint limits by clamping, a pull towards a rest posture in the
null space, and deterministic restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pushseg.geometry import rot_x, rot_y, rot_z

JOINT_SUFFIXES = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "upper_arm_roll_joint",
    "elbow_flex_joint",
    "forearm_roll_joint",
    "wrist_flex_joint",
    "wrist_roll_joint",
)
TORSO_JOINT = "torso_lift_joint"
TORSO_ORIGIN = np.array([-0.05, 0.0, 0.739675])
TORSO_LIMITS = (0.0, 0.33)

# Per joint: (origin xyz from the parent joint, rotation axis).
_ORIGINS = (
    (0.0, None, 0.0),  # shoulder pan: y is -/+0.188, filled per side
    (0.1, 0.0, 0.0),  # shoulder lift
    (0.0, 0.0, 0.0),  # upper arm roll
    (0.4, 0.0, 0.0),  # elbow flex
    (0.0, 0.0, 0.0),  # forearm roll
    (0.321, 0.0, 0.0),  # wrist flex
    (0.0, 0.0, 0.0),  # wrist roll
)
_AXES = ("z", "y", "x", "y", "x", "y", "x")
_ROT = {"x": rot_x, "y": rot_y, "z": rot_z}
_UNIT = {"x": np.array([1.0, 0, 0]), "y": np.array([0, 1.0, 0]), "z": np.array([0, 0, 1.0])}
TOOL_OFFSET = np.array([0.18, 0.0, 0.0])

VELOCITY_LIMITS = np.array([2.088, 2.082, 3.27, 3.3, 3.6, 3.078, 3.6])
CONTINUOUS = np.array([False, False, False, False, True, False, True])

# The safety controller's soft limits lie inside the URDF limits by these margins (lower, upper), per joint
# (safety_controller soft_lower_limit / soft_upper_limit in shoulder/upper_arm/forearm.urdf.xacro; docs/pr2.md).
SOFT_LIMIT_INSET = np.array(
    [(0.15, 0.15), (0.17, 0.10), (0.15, 0.15), (0.20, 0.15), (0.0, 0.0), (0.18, 0.10), (0.0, 0.0)]
)
# How far inside the soft limits IK and plans stay unless the config says otherwise (safety.soft_limit_margin).
SOFT_LIMIT_MARGIN = 0.03

# Tucked poses from pr2_common_actions tuck_arms_main.py (docs/pr2.md). Two of their joints lie a
# few milliradians beyond a soft limit (right elbow, left wrist flex): the robot stops them there.
# The out-of-view poses in pr2_defaults.yaml are these, moved inside the soft limits.
TUCKED = {
    "r": np.array([-0.023593, 1.10728, -1.5566882, -2.124408, -1.4175, -1.8417, 0.21436]),
    "l": np.array([0.06024, 1.248526, 1.78907, -1.683386, -1.7343417, -0.0962141, -0.0864407]),
}


@dataclass(frozen=True)
class Arm:
    """One PR2 arm: its side ('r' or 'l'), joint names and limits."""

    side: str
    lower: np.ndarray  # (7,), -inf for continuous joints
    upper: np.ndarray  # (7,), +inf for continuous joints
    velocity: np.ndarray = field(default_factory=VELOCITY_LIMITS.copy)

    @property
    def joint_names(self) -> list[str]:
        return [f"{self.side}_{s}" for s in JOINT_SUFFIXES]

    @property
    def tool_frame(self) -> str:
        return f"{self.side}_gripper_tool_frame"

    @property
    def shoulder_y(self) -> float:
        return -0.188 if self.side == "r" else 0.188

    @property
    def soft_lower(self) -> np.ndarray:
        """The safety controller's lower soft limits (-inf for continuous joints)."""
        return self.lower + SOFT_LIMIT_INSET[:, 0]

    @property
    def soft_upper(self) -> np.ndarray:
        return self.upper - SOFT_LIMIT_INSET[:, 1]

    def within_limits(self, q: np.ndarray, tol: float = 1e-6) -> bool:
        """Inside the URDF (hard) limits."""
        q = np.asarray(q)
        return bool(np.all(q >= self.lower - tol) and np.all(q <= self.upper + tol))

    def soft_limit_violations(self, q: np.ndarray, margin: float = 0.0, tol: float = 1e-9) -> list[str]:
        """Each joint of ``q`` closer than ``margin`` to (or beyond) its soft limit, described; [] when none."""
        q = np.asarray(q, dtype=np.float64)
        out = []
        for j, name in enumerate(self.joint_names):
            lo, hi = self.soft_lower[j], self.soft_upper[j]
            if q[j] < lo + margin - tol:
                out.append(f"{name} = {q[j]:.4f} rad, below {lo + margin:.4f} (soft lower limit {lo:.4f} + "
                           f"margin {margin:g})")
            elif q[j] > hi - margin + tol:
                out.append(f"{name} = {q[j]:.4f} rad, above {hi - margin:.4f} (soft upper limit {hi:.4f} - "
                           f"margin {margin:g})")
        return out


def pr2_arm(side: str) -> Arm:
    """The URDF limits of the right ('r') or left ('l') arm (shoulder/upper_arm/forearm.urdf.xacro)."""
    inf = np.inf
    if side == "r":
        lower = [-2.2854, -0.5236, -3.9, -2.3213, -inf, -2.18, -inf]
        upper = [0.7146, 1.3963, 0.8, 0.0, inf, 0.0, inf]
    elif side == "l":
        lower = [-0.7146, -0.5236, -0.8, -2.3213, -inf, -2.18, -inf]
        upper = [2.2854, 1.3963, 3.9, 0.0, inf, 0.0, inf]
    else:
        raise ValueError(f"arm side must be 'r' or 'l', got {side!r}")
    return Arm(side=side, lower=np.array(lower), upper=np.array(upper))


def joint_frames(arm: Arm, q: np.ndarray, torso: float) -> tuple[np.ndarray, np.ndarray]:
    """Every joint frame after its rotation, in base_link: (8, 4, 4), the last being the tool frame.

    Also returns the joints' world axes (7, 3), for the Jacobian.
    """
    q = np.asarray(q, dtype=np.float64)
    T = np.eye(4)
    T[:3, 3] = TORSO_ORIGIN + np.array([0.0, 0.0, torso])
    frames = np.empty((8, 4, 4))
    axes = np.empty((7, 3))
    for i, (origin, axis) in enumerate(zip(_ORIGINS, _AXES)):
        t = np.array([origin[0], arm.shoulder_y if origin[1] is None else origin[1], origin[2]])
        step = np.eye(4)
        step[:3, :3] = _ROT[axis](q[i])
        step[:3, 3] = t
        T = T @ step
        frames[i] = T
        axes[i] = T[:3, :3] @ _UNIT[axis]
    tool = np.eye(4)
    tool[:3, 3] = TOOL_OFFSET
    frames[7] = T @ tool
    return frames, axes


def fk(arm: Arm, q: np.ndarray, torso: float) -> np.ndarray:
    """T_base_tool (4x4) of ``*_gripper_tool_frame``."""
    return joint_frames(arm, q, torso)[0][7]


def key_points(arm: Arm, q: np.ndarray, torso: float) -> dict[str, np.ndarray]:
    """Elbow, wrist and tool positions in base_link: what must stay clear of the table."""
    frames, _ = joint_frames(arm, q, torso)
    return {"elbow": frames[3][:3, 3], "wrist": frames[5][:3, 3], "tool": frames[7][:3, 3]}


def jacobian(arm: Arm, q: np.ndarray, torso: float) -> tuple[np.ndarray, np.ndarray]:
    """Geometric Jacobian (6, 7) of the tool frame (linear rows first), and the tool pose."""
    frames, axes = joint_frames(arm, q, torso)
    p = frames[7][:3, 3]
    J = np.empty((6, 7))
    for i in range(7):
        J[:3, i] = np.cross(axes[i], p - frames[i][:3, 3])
        J[3:, i] = axes[i]
    return J, frames[7]


def orientation_error(R: np.ndarray, R_target: np.ndarray) -> np.ndarray:
    """A rotation vector taking R towards R_target (small-angle, in base_link)."""
    return 0.5 * sum(np.cross(R[:, i], R_target[:, i]) for i in range(3))


def pushing_orientation(heading: np.ndarray, pitch: float) -> np.ndarray:
    """The gripper's fixed orientation for a push: leaning ``pitch`` radians below the horizontal.

    Tool x (along the gripper, towards the finger tips) points along the
    horizontal ``heading`` tilted down by ``pitch`` (pi/2: straight down); tool
    y (the finger span) stays horizontal. Leaning forward reaches further over
    the table than pointing straight down, with the finger tips still first to
    touch what is pushed.
    """
    h = np.asarray(heading, dtype=np.float64).copy()
    h[2] = 0.0
    h /= np.linalg.norm(h)
    up = np.array([0.0, 0.0, 1.0])
    x = np.cos(pitch) * h - np.sin(pitch) * up
    y = np.cross(up, h)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def shoulder_heading(side: str, point: np.ndarray) -> np.ndarray:
    """Horizontal unit vector from the arm's shoulder pan axis to ``point``."""
    d = np.asarray(point, dtype=np.float64)[:2] - np.array([TORSO_ORIGIN[0], pr2_arm(side).shoulder_y])
    n = np.linalg.norm(d)
    return np.array([1.0, 0.0, 0.0]) if n < 1e-9 else np.array([d[0] / n, d[1] / n, 0.0])


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray
    success: bool
    position_error: float  # metres
    orientation_error: float  # radians (approximately)


def _clamp(arm: Arm, q: np.ndarray, margin: float) -> np.ndarray:
    """Inside the soft limits by ``margin`` (continuous joints are left as they are)."""
    lo = np.where(np.isfinite(arm.soft_lower), arm.soft_lower + margin, -np.inf)
    hi = np.where(np.isfinite(arm.soft_upper), arm.soft_upper - margin, np.inf)
    return np.clip(q, lo, hi)


def solve_ik(
    arm: Arm,
    position: np.ndarray,
    rotation: np.ndarray,
    torso: float,
    seed: np.ndarray,
    *,
    rest: np.ndarray | None = None,
    position_tol: float = 0.002,
    orientation_tol: float = 0.03,
    max_iterations: int = 150,
    damping: float = 0.05,
    limit_margin: float = SOFT_LIMIT_MARGIN,
    restarts: int = 8,
    rng: int = 0,
) -> IKResult:
    """Damped-least-squares IK for the tool frame; tries ``seed`` first, then deterministic restarts.

    Solutions stay ``limit_margin`` inside the soft joint limits.
    """
    position = np.asarray(position, dtype=np.float64)
    rng_ = np.random.default_rng(rng)
    rest = np.asarray(seed if rest is None else rest, dtype=np.float64)
    best: IKResult | None = None
    for attempt in range(restarts + 1):
        if attempt == 0:
            q = _clamp(arm, np.asarray(seed, dtype=np.float64), limit_margin)
        else:  # a random posture near the rest posture, wider each time
            spread = min(1.0, 0.25 * attempt)
            lo = np.where(np.isfinite(arm.lower), arm.lower, -np.pi)
            hi = np.where(np.isfinite(arm.upper), arm.upper, np.pi)
            q = _clamp(arm, rest + spread * rng_.uniform(lo - rest, hi - rest) * 0.5, limit_margin)
        result = _dls(arm, position, rotation, torso, q, rest, position_tol, orientation_tol,
                      max_iterations, damping, limit_margin)
        if result.success:
            return result
        if best is None or result.position_error < best.position_error:
            best = result
    assert best is not None
    return best


def _dls(arm, position, rotation, torso, q, rest, position_tol, orientation_tol, max_iterations, damping,
         limit_margin) -> IKResult:
    for _ in range(max_iterations):
        J, T = jacobian(arm, q, torso)
        e_pos = position - T[:3, 3]
        e_rot = orientation_error(T[:3, :3], rotation)
        ep, er = float(np.linalg.norm(e_pos)), float(np.linalg.norm(e_rot))
        if ep < position_tol and er < orientation_tol:
            return IKResult(q, True, ep, er)
        err = np.concatenate([e_pos, 0.3 * e_rot])  # 0.3 m per radian: both matter at pusher scale
        Jw = J.copy()
        Jw[3:] *= 0.3
        JJt = Jw @ Jw.T + (damping**2) * np.eye(6)
        J_pinv = Jw.T @ np.linalg.inv(JJt)
        dq = J_pinv @ err
        # Drift towards the rest posture where it does not disturb the tool.
        # (The exact projector, so that the pull leaves no steady-state error at the tool.)
        null = np.eye(7) - np.linalg.pinv(Jw) @ Jw
        dq += null @ (0.1 * joint_deltas(q, rest))
        n = np.linalg.norm(dq)
        if n > 0.3:
            dq *= 0.3 / n
        q = _clamp(arm, q + dq, limit_margin)
    T = fk(arm, q, torso)
    ep = float(np.linalg.norm(position - T[:3, 3]))
    er = float(np.linalg.norm(orientation_error(T[:3, :3], rotation)))
    return IKResult(q, ep < position_tol and er < orientation_tol, ep, er)


def unwrap_continuous(q: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Continuous joints moved by whole turns to lie within pi of ``reference``."""
    q = np.asarray(q, dtype=np.float64).copy()
    d = q - reference
    q[CONTINUOUS] = reference[CONTINUOUS] + (d[CONTINUOUS] + np.pi) % (2 * np.pi) - np.pi
    return q


def joint_deltas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b - a per joint, the shortest way round for continuous joints (as the PR2 controller moves)."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    d[..., CONTINUOUS] = (d[..., CONTINUOUS] + np.pi) % (2 * np.pi) - np.pi
    return d
