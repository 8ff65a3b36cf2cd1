"""The ros2 backend's robot config, push planning and safety checks on the Panda's URDF (no ROS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from pushseg.errors import InputError
from pushseg.geometry import PushPath
from pushseg.ros2 import planning, safety
from pushseg.ros2.config import Ros2BackendConfig, load_config
from pushseg.ros2.kinematics import PushRefused, UrdfArm, panda_urdf
from pushseg.types import Push

REPO = Path(__file__).resolve().parents[1]
TABLE_Z = 0.0  # the simulated Panda stands on the table: its top is z = 0 in panda_link0


@pytest.fixture(scope="module")
def config() -> Ros2BackendConfig:
    return Ros2BackendConfig()


@pytest.fixture(scope="module")
def arm(config):
    a = UrdfArm.from_file(panda_urdf(), config.robot.joints, config.robot.base_frame, config.robot.tool_frame)
    yield a
    a.close()


def _path(start, end) -> PushPath:
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    d = (end - start) / np.linalg.norm(end - start)
    return PushPath(contact=start + 0.04 * d, start=start, end=end, direction=d)


@pytest.mark.parametrize("start,end", [
    ((0.40, 0.00, 0.025), (0.55, 0.00, 0.025)),  # away from the robot
    ((0.55, 0.20, 0.025), (0.45, 0.10, 0.025)),  # back and across
    ((0.35, -0.25, 0.025), (0.40, -0.10, 0.025)),  # near the edge of the workspace
])
def test_reachable_pushes_plan_inside_the_limits_and_follow_the_line(arm, config, start, end):
    plan = planning.plan_push(arm, _path(start, end), TABLE_Z, np.asarray(config.robot.ready), config)
    safety.check_plan(plan, arm, TABLE_Z, config)  # raises on any violation
    margin = config.safety.joint_limit_margin
    assert np.all(plan.positions >= arm.lower + margin - 1e-9) and np.all(plan.positions <= arm.upper - margin + 1e-9)
    assert np.all(np.diff(np.concatenate([[0.0], plan.times])) > 0)
    tool = plan.tool_points(arm)
    on_line = tool[np.array(plan.kinds) == "push"]
    a, b = np.asarray(start), np.asarray(end)
    d = (b - a) / np.linalg.norm(b - a)
    off = np.linalg.norm((on_line - a) - np.outer((on_line - a) @ d, d), axis=1)
    assert off.max() < 0.003, "the tool follows the push line within 3 mm"
    np.testing.assert_allclose(on_line[-1], b, atol=0.003)
    # The tool speed along the line stays within push.speed.
    t = plan.times[np.array(plan.kinds) == "push"]
    assert np.all(np.linalg.norm(np.diff(on_line, axis=0), axis=1) / np.diff(t) <= config.push.speed * 1.05), "within the IK accuracy"
    assert tool[np.array(plan.kinds) == "transit"][0][2] == pytest.approx(TABLE_Z + config.push.hover_height, abs=0.003)


def test_joint_speeds_stay_within_the_velocity_scale(arm, config):
    slow = config.with_overrides({"safety": {"velocity_scale": 0.2}, "motion": {"transit_velocity_scale": 0.1}})
    fast = planning.plan_push(arm, _path((0.4, 0, 0.025), (0.5, 0, 0.025)), TABLE_Z, np.asarray(config.robot.ready), config)
    careful = planning.plan_push(arm, _path((0.4, 0, 0.025), (0.5, 0, 0.025)), TABLE_Z, np.asarray(config.robot.ready), slow)
    safety.check_plan(careful, arm, TABLE_Z, slow)
    assert careful.duration > fast.duration
    transit = careful.times[0]
    peak = planning.PEAK * np.abs(careful.positions[0] - careful.start) / transit
    assert np.all(peak <= 0.1 * arm.velocity + 1e-9)


@pytest.mark.parametrize("start,end,code", [
    ((0.95, 0.0, 0.025), (1.05, 0.0, 0.025), "unreachable"),  # beyond the arm's reach
    ((0.05, 0.0, 0.025), (0.10, 0.0, 0.025), None),  # under the arm's own base: refused one way or another
])
def test_unreachable_pushes_are_refused_before_anything_is_sent(arm, config, start, end, code):
    with pytest.raises(PushRefused) as refused:
        path = _path(start, end)
        safety.check_workspace(path.waypoints(0.01), TABLE_Z, config)
        plan = planning.plan_push(arm, path, TABLE_Z, np.asarray(config.robot.ready), config)
        safety.check_plan(plan, arm, TABLE_Z, config)
    if code:
        assert refused.value.code in (code, "outside_workspace")
    assert refused.value.message


def test_the_workspace_and_the_push_length_are_checked(config):
    with pytest.raises(PushRefused, match="outside the workspace box"):
        safety.check_workspace(np.array([[0.9, 0.0, 0.02]]), TABLE_Z, config)
    with pytest.raises(PushRefused, match="max_push_length"):
        safety.check_push(Push(u=1, v=1, angle=0.0, length=0.5), config)
    with pytest.raises(PushRefused, match="positive"):
        safety.check_push(Push(u=1, v=1, angle=0.0, length=float("nan")), config)


def test_a_plan_beyond_a_joint_limit_is_refused(arm, config):
    plan = planning.plan_move(arm, np.asarray(config.robot.ready), np.asarray(config.robot.ready), config)
    plan.positions[0, 3] = arm.upper[3] - 0.01  # inside the URDF limit, not inside the margin
    with pytest.raises(PushRefused, match="beyond|panda_joint4"):
        safety.check_plan(plan, arm, TABLE_Z, config)


def test_the_examples_load_and_the_default_is_a_dry_run():
    panda = load_config(REPO / "examples" / "panda_ros2.yaml")
    assert panda.dry_run and panda.camera.pose == "fixed"
    assert abs(np.linalg.det(panda.camera.T_base_camera()[:3, :3]) - 1) < 1e-6
    ur = load_config(REPO / "examples" / "ur5e_ros2.yaml")
    assert ur.robot.tool_frame == "tool0" and len(ur.robot.ready) == 6


@pytest.mark.parametrize("override,key", [
    ({"camera": {"color": ""}}, "camera.color"),
    ({"controller": {"trajectory_topic": " "}}, "controller.trajectory_topic"),
    ({"camera": {"pose": "calibrated"}}, "camera.pose"),
    ({"camera": {"rotation": [0, 0, 0, 2]}}, "camera.rotation"),
    ({"robot": {"ready": [0.0, 1.0]}}, "robot.ready"),
    ({"robot": {"urdf": "/no/such/robot.urdf"}}, "robot.urdf"),
    ({"push": {"speed": 0.5}}, "push.speed"),
    ({"timeouts": {"image": 0}}, "timeouts.image"),
    ({"safety": {"workspace": {"x": [0.6, 0.3]}}}, "safety.workspace.x"),
])
def test_config_errors_name_the_key(tmp_path, override, key):
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump({"ros2": override}))
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        load_config(path)


def test_a_file_without_a_ros2_section_is_refused(tmp_path):
    path = tmp_path / "robot.yaml"
    path.write_text("collect: {episodes: 1}\n")
    with pytest.raises(InputError, match="no ros2: section"):
        load_config(path)
