"""PR2 arm kinematics, IK, push planning and the safety checks (no ROS needed)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pushseg.errors import BackendError
from pushseg.geometry import PushPath
from pushseg.real import kinematics as kin
from pushseg.real import planning, safety
from pushseg.real.config import load_config
from pushseg.types import Push

TABLE_Z = 0.699


def _path(x: float, y: float, angle: float, length: float = 0.1) -> PushPath:
    d = np.array([np.cos(angle), np.sin(angle), 0.0])
    p = np.array([x, y, TABLE_Z + 0.025])
    return PushPath(contact=p, start=p - 0.04 * d, end=p + length * d, direction=d)


def test_fk_zero_pose_matches_pr2_description():
    # The sanity value of docs/pr2.md: all joints 0, torso 0.
    np.testing.assert_allclose(kin.fk(kin.pr2_arm("r"), np.zeros(7), 0.0)[:3, 3], [0.951, -0.188, 0.739675], atol=1e-9)
    np.testing.assert_allclose(kin.fk(kin.pr2_arm("l"), np.zeros(7), 0.0)[:3, 3], [0.951, 0.188, 0.739675], atol=1e-9)
    # The torso is prismatic z; the elbow flex bends the forearm about y.
    np.testing.assert_allclose(kin.fk(kin.pr2_arm("r"), np.zeros(7), 0.2)[:3, 3], [0.951, -0.188, 0.939675], atol=1e-9)
    q = np.zeros(7)
    q[3] = -np.pi / 2  # elbow flex -90 deg: forearm + tool point up (rotation about y by -90 deg)
    np.testing.assert_allclose(kin.fk(kin.pr2_arm("r"), q, 0.0)[:3, 3], [0.45, -0.188, 0.739675 + 0.501], atol=1e-9)


def test_jacobian_matches_finite_differences():
    arm = kin.pr2_arm("l")
    q = np.random.default_rng(3).uniform(-1.0, 0.0, 7)
    J, T = kin.jacobian(arm, q, 0.1)
    eps = 1e-6
    for i in range(7):
        dq = np.zeros(7)
        dq[i] = eps
        T2 = kin.fk(arm, q + dq, 0.1)
        np.testing.assert_allclose((T2[:3, 3] - T[:3, 3]) / eps, J[:3, i], atol=1e-5)
        w = kin.orientation_error(T[:3, :3], T2[:3, :3]) / eps
        np.testing.assert_allclose(w, J[3:, i], atol=1e-5)


@pytest.mark.parametrize("side", ["r", "l"])
def test_ik_recovers_reachable_poses_within_limits(side):
    arm = kin.pr2_arm(side)
    rng = np.random.default_rng(0)
    rest = load_config().arm_pose("ik_rest", side)
    solved = 0
    for _ in range(6):
        q_true = np.clip(rest + rng.normal(0, 0.3, 7), arm.soft_lower + 0.05, arm.soft_upper - 0.05)
        T = kin.fk(arm, q_true, 0.1)
        res = kin.solve_ik(arm, T[:3, 3], T[:3, :3], 0.1, rest, rest=rest)
        assert res.success, res
        assert arm.within_limits(res.q)
        T2 = kin.fk(arm, res.q, 0.1)
        assert np.linalg.norm(T2[:3, 3] - T[:3, 3]) < 0.002
        assert np.linalg.norm(kin.orientation_error(T2[:3, :3], T[:3, :3])) < 0.03
        solved += 1
    assert solved == 6


def test_ik_reports_failure_out_of_reach():
    arm = kin.pr2_arm("r")
    R = kin.pushing_orientation(np.array([1.0, 0, 0]), np.pi / 2)
    res = kin.solve_ik(arm, np.array([1.3, -0.2, 0.72]), R, 0.1, kin.TUCKED["r"], restarts=2)
    assert not res.success and res.position_error > 0.1


def test_pushing_orientation_is_a_rotation_leaning_down():
    for pitch in (np.pi / 2, np.pi / 4):
        R = kin.pushing_orientation(np.array([0.6, 0.8, 0.3]), pitch)
        np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
        assert R[2, 0] == pytest.approx(-np.sin(pitch))  # tool x points down by the pitch
        assert R[2, 1] == pytest.approx(0.0)  # finger span horizontal


def test_unwrap_and_shortest_deltas_only_touch_continuous_joints():
    ref = np.zeros(7)
    q = np.full(7, 2 * np.pi + 0.1)
    u = kin.unwrap_continuous(q, ref)
    assert u[4] == pytest.approx(0.1) and u[6] == pytest.approx(0.1) and u[0] == pytest.approx(2 * np.pi + 0.1)
    d = kin.joint_deltas(np.zeros(7), np.full(7, 3 * np.pi / 2))
    assert d[4] == pytest.approx(-np.pi / 2) and d[1] == pytest.approx(3 * np.pi / 2)


@pytest.mark.parametrize(
    "x,y,angle", [(0.6, -0.15, 0.0), (0.55, 0.2, np.pi / 2), (0.75, 0.0, np.pi), (0.55, -0.3, -2.0)]
)
def test_planned_push_follows_the_line_every_centimetre_within_limits(x, y, angle):
    config = load_config()
    path = _path(x, y, angle)
    order = planning.arm_order(path, config)
    assert order[0] == ("l" if y > 0 else "r")
    plan = planning.plan_arm(order[0], path, TABLE_Z, 0.1, kin.TUCKED[order[0]], config)
    safety.check_plan(plan, TABLE_Z, config)  # raises if anything is off
    arm = kin.pr2_arm(plan.side)
    assert all(arm.within_limits(q) for q in plan.positions)
    assert np.all(np.diff(plan.times) > 0)
    tool = plan.tool_points()
    push = tool[[k == "push" for k in plan.kinds]]
    steps = np.linalg.norm(np.diff(push, axis=0), axis=1)
    assert steps.max() < 0.0105 and len(push) >= 13  # 14 cm sampled about every centimetre
    # On the line, at the push height, in order from start to end.
    rel = push - path.start
    along = rel @ path.direction
    assert np.all(np.diff(along) > 0)
    assert np.abs(rel - np.outer(along, path.direction)).max() < 0.003
    np.testing.assert_allclose(push[-1], path.end, atol=0.003)
    # Push speed within the configured one; ends where the arm is out of view.
    dt = np.diff(plan.times[[k == "push" for k in plan.kinds]])
    # (Measured on the IK solutions, which may be 2 mm off the line: a 10% margin.)
    assert np.all(steps / dt <= 1.1 * config.get("push.speed"))
    assert np.all(steps / dt <= config.get("safety.max_push_speed"))
    out = config.arm_pose("out_of_view", plan.side)
    np.testing.assert_allclose(kin.joint_deltas(out, plan.positions[-1]), 0, atol=1e-9)


@pytest.mark.slow
def test_unreachable_push_is_refused_with_a_reason():
    config = load_config()
    with pytest.raises(planning.PushRefused, match="cannot reach") as e:
        planning.plan_arm("r", _path(1.2, -0.1, 0.0), TABLE_Z, 0.1, kin.TUCKED["r"], config)
    assert e.value.code == "unreachable"


def test_workspace_and_length_checks_name_the_limits():
    config = load_config()
    safety.check_workspace(_path(0.6, 0.0, 0.0).waypoints(), TABLE_Z, config)
    with pytest.raises(planning.PushRefused, match=r"outside the workspace box x \[0.40, 0.85\]") as e:
        safety.check_workspace(_path(0.95, 0.0, 0.0).waypoints(), TABLE_Z, config)
    assert e.value.code == "outside_workspace"
    low = _path(0.6, 0.0, 0.0).waypoints() - [0, 0, 0.02]  # 5 mm above the table: under the 1 cm floor
    with pytest.raises(planning.PushRefused, match="floor"):
        safety.check_workspace(low, TABLE_Z, config)
    safety.check_push(Push(1, 1, 0.0, 0.2), config)
    with pytest.raises(planning.PushRefused, match="max_push_length") as e:
        safety.check_push(Push(1, 1, 0.0, 0.25), config)
    assert e.value.code == "too_long"


def test_check_plan_catches_too_fast_and_too_low_plans():
    config = load_config()
    plan = planning.plan_arm("r", _path(0.6, -0.1, 0.0), TABLE_Z, 0.1, kin.TUCKED["r"], config)
    fast = dataclasses.replace(plan, times=plan.times * 0.3)
    with pytest.raises(BackendError, match="rad/s"):
        safety.check_plan(fast, TABLE_Z, config)
    # The same motion over a table 10 cm higher would drive the tool into it.
    with pytest.raises(planning.PushRefused, match="from the table top") as e:
        safety.check_plan(plan, TABLE_Z + 0.10, config)
    assert e.value.code == "too_close_to_table"


def test_joint_moves_start_and_end_at_rest_and_respect_transit_speed():
    config = load_config()
    q0 = config.via_poses("r")[-1]
    plan = planning.timed_plan("r", q0, [config.arm_pose("out_of_view", "r")], ["retract"], 0.1, config)
    assert not plan.velocities.any()
    peak = 1.5 * np.abs(kin.joint_deltas(q0, plan.positions[0])) / plan.times[0]
    assert np.all(peak <= kin.VELOCITY_LIMITS * config.get("motion.transit_velocity_scale") + 1e-9)


def test_ik_and_plans_stay_inside_the_soft_limits_with_the_margin():
    config = load_config()
    margin = config.get("safety.soft_limit_margin")
    for side, y in (("r", -0.2), ("l", 0.2)):
        arm = kin.pr2_arm(side)
        # Asked for a pose that needs the wrist beyond its soft limit, IK stops at the soft limit + margin.
        q_far = np.array(config.arm_pose("ik_rest", side))
        q_far[5] = -0.02  # wrist flex 2 cm from its URDF limit, beyond the soft limit -0.10
        T = kin.fk(arm, q_far, 0.1)
        res = kin.solve_ik(arm, T[:3, 3], T[:3, :3], 0.1, q_far, restarts=0)
        assert res.q[5] <= arm.soft_upper[5] - margin + 1e-9
        plan = planning.plan_arm(side, _path(0.6, y, 0.0), TABLE_Z, 0.1, config.arm_pose("out_of_view", side), config)
        assert all(arm.soft_limit_violations(q, margin) == [] for q in plan.positions)


def test_a_plan_with_a_point_beyond_a_soft_limit_is_refused():
    config = load_config()
    plan = planning.plan_arm("r", _path(0.6, -0.1, 0.0), TABLE_Z, 0.1, config.arm_pose("out_of_view", "r"), config)
    safety.check_plan(plan, TABLE_Z, config)
    positions = plan.positions.copy()
    positions[1, 0] = -2.2  # the old default via pose's shoulder pan: inside the URDF limit, beyond the soft one
    bad = dataclasses.replace(plan, positions=positions)
    assert kin.pr2_arm("r").within_limits(positions[1])
    for check in (safety.check_soft_limits, lambda p, c: safety.check_plan(p, TABLE_Z, c)):
        with pytest.raises(planning.PushRefused, match=r"point 1 \(transit\) of the r arm's trajectory has "
                           r"r_shoulder_pan_joint = -2.2000 rad, below -2.1054 \(soft lower limit -2.1354") as e:
            check(bad, config)
        assert e.value.code == "beyond_soft_limit"
