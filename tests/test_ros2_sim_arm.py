"""The simulated Panda (pushseg.ros2.sim_arm): its ROS-free world in this process, one DDS round trip in subprocesses.

rclpy is never imported here (this process may have ROS 1's message packages);
the node and its client run as their own processes (tests/ros2_fixtures.py).
"""

from __future__ import annotations

import json
import signal
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from pushseg.errors import InputError
from pushseg.geometry import quaternion_matrix, rot_x, rot_z, rpy_matrix
from pushseg.robot import images
from pushseg.ros2 import sim_arm as sa
from pushseg.ros2.kinematics import UrdfArm

from ros2_fixtures import NodeProcess, ros2_env, run_client

CLIENT = Path(__file__).with_name("ros2_sim_arm_client.py")
SMALL = ["--width", "160", "--height", "120"]
DOWN = np.diag([1.0, -1.0, -1.0])  # the tool's z axis pointing down


@pytest.fixture
def world(tmp_path):
    w = sa.make_world(sa.build_parser().parse_args([*SMALL, "--motion-log", str(tmp_path / "motions.jsonl")]))
    yield w
    w.close()


def _push_through(w: sa.SimulatedArm, p: np.ndarray) -> list[np.ndarray]:
    """Joint points taking the tool down behind ``p`` (world), through it away from the arm, and up."""
    mount, top = np.array(sa.MOUNT), w.sim.table.top_z
    d = (p[:2] - mount[:2]) / np.linalg.norm(p[:2] - mount[:2])
    tool = [np.r_[p[:2] - 0.10 * d, top + 0.20], np.r_[p[:2] - 0.10 * d, top + 0.02],
            np.r_[p[:2] + 0.06 * d, top + 0.02], np.r_[p[:2] + 0.06 * d, top + 0.20]]
    points, seed = [w.q], None
    for t in tool:
        seed = w.arm.ik(t - mount, DOWN, sa.READY, seed)
        points.append(seed)
    return points


def test_lowering_the_tool_through_an_object_pushes_it(world, tmp_path):
    poses = world.sim.object_poses()
    iid, (p, _) = min(poses.items(), key=lambda kv: kv[1][0][0])  # the object nearest the arm
    assert not world._low(world.tool_world(world.q)), "the ready pose must hold the tool high"
    points = _push_through(world, p)
    assert world.move(points, lambda i, s: True)
    moved = np.hypot(*(world.sim.object_poses()[iid][0][:2] - p[:2]))
    assert moved > 0.03, moved
    np.testing.assert_allclose(world.q, points[-1])
    lines = [json.loads(x) for x in (tmp_path / "motions.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["points"] > 5
    assert max(m["translation"] for m in lines[0]["motions"] if m["instance_id"] == iid) == pytest.approx(moved, abs=1e-6)


def test_a_motion_that_stays_high_pushes_nothing_and_a_stop_holds_the_arm_where_it_is(world, tmp_path):
    before = world.sim.object_poses()
    goal = np.array(sa.READY) + np.array([0.8, 0.2, 0.0, 0.3, 0.0, 0.0, 0.0])
    calls = []

    def wait(i: int, s: float) -> bool:
        calls.append(s)
        return len(calls) < 5

    assert not world.move([world.q, goal], wait)
    q = world.q
    assert 0 < q[0] < 0.8 and not np.allclose(q, goal)
    assert world.move([q, goal], lambda i, s: True)
    after = world.sim.object_poses()
    assert all(np.allclose(before[k][0], after[k][0], atol=1e-6) for k in before)
    assert not (tmp_path / "motions.jsonl").exists()


def test_the_tool_is_mapped_to_the_world_by_the_mount_and_the_camera_back(world):
    q = np.array(sa.READY)
    np.testing.assert_allclose(world.tool_world(q), world.arm.fk(q)[:3, 3] + np.array(sa.MOUNT))
    T = np.eye(4)
    T[:3, :3] = rot_z(0.3) @ rot_x(2.0)
    T[:3, 3] = (0.1, -0.2, 1.5)
    C = sa.camera_in_base(T)
    np.testing.assert_allclose(C[:3, :3], T[:3, :3])
    np.testing.assert_allclose(C[:3, 3], (0.1 - 0.20, -0.2, 1.5 - 0.699))
    np.testing.assert_allclose(sa.mount_transform() @ C, T)
    np.testing.assert_allclose(world.T_base_camera(), sa.camera_in_base(world.sim.camera.T_base_camera))


@pytest.mark.parametrize("rpy", [(0.3, -0.4, 2.0), (-2.5, 0.1, -1.0), (0.2, np.pi / 2, 0.4), (0.0, -np.pi / 2, 0.0)])
def test_urdf_angles_give_back_the_rotation(rpy):
    R = rpy_matrix(*rpy)
    np.testing.assert_allclose(rpy_matrix(*sa.matrix_rpy(R)), R, atol=1e-9)


def test_the_camera_in_the_urdf_is_where_the_calibration_says(world):
    T = world.T_base_camera()
    urdf = sa.urdf_with_camera(Path(sa.panda_urdf_path()).read_text(), T)
    joint = [j for j in ET.fromstring(urdf).iter("joint") if j.find("child").get("link") == sa.CAMERA_FRAME]
    assert len(joint) == 1 and joint[0].find("parent").get("link") == sa.BASE_FRAME
    with UrdfArm.from_xml(urdf, list(sa.ARM_JOINTS), sa.BASE_FRAME, sa.TOOL_FRAME) as arm:
        np.testing.assert_allclose(arm.fk(np.array(sa.READY), link=sa.CAMERA_FRAME), T, atol=1e-6)
    with pytest.raises(InputError):
        sa.urdf_with_camera("<robot name='x'>", T)


def test_print_calibration_is_the_ros2_camera_section(world, capsys):
    assert sa.main(["--print-calibration", *SMALL]) == 0
    cam = yaml.safe_load(capsys.readouterr().out)["ros2"]["camera"]
    assert cam["pose"] == "fixed"
    T = world.T_base_camera()  # the same seed (0) and image size: the same scene's camera
    np.testing.assert_allclose(cam["translation"], T[:3, 3], atol=1e-6)
    np.testing.assert_allclose(quaternion_matrix(*cam["rotation"]), T[:3, :3], atol=1e-5)


def test_trajectories_are_checked_like_the_controller_does(world):
    arm, joints = world.arm, list(sa.ARM_JOINTS)
    q = np.array(sa.READY)
    traj = sa.check_trajectory(arm, joints[::-1], [(q[::-1], 1.0), (q[::-1] * 0.5, 2.5)])
    np.testing.assert_allclose(traj.points, [q, q * 0.5])
    np.testing.assert_allclose(traj.times, [1.0, 2.5])
    assert len(sa.check_trajectory(arm, joints, []).points) == 0  # an empty one: stop
    bad = [
        (joints[:6], [(q[:6], 1.0)], "not the arm's joints"),
        (joints[:6] + ["panda_finger_joint1"], [(q, 1.0)], "not the arm's joints"),
        (joints[:6] + [joints[0]], [(q, 1.0)], "not the arm's joints"),
        (joints, [(q[:6], 1.0)], "positions"),
        (joints, [(q, 1.0), (q, 1.0)], "time_from_start"),
        (joints, [(np.r_[q[:3], 0.5, q[4:]], 1.0)], "panda_joint4 0.5000 outside"),
    ]
    for names, points, why in bad:
        with pytest.raises(InputError, match=why):
            sa.check_trajectory(arm, names, points)


@pytest.mark.slow
def test_the_node_speaks_ros2_and_moves_the_arm_in_time(tmp_path):
    target = [0.3, -1.0, 0.1, -2.5, 0.0, 1.7, 0.6]
    with ros2_env() as env:
        with NodeProcess("pushseg.ros2.sim_arm", *SMALL, "--time-scale", "0.1", "--rate", "20", "--camera-in-urdf",
                         env=env, ready="sim_arm: ready", ready_timeout=30.0) as node:
            seen = run_client(CLIENT, json.dumps(target), env=env, timeout=40.0)
            assert node.stop(signal.SIGTERM) == 0, node.output()
    assert seen["camera_joint"] and seen["urdf_chars"] > 5000
    assert seen["names"] == [*sa.ARM_JOINTS, *sa.FINGER_JOINTS]
    assert seen["color"] == ["rgb8", 160, 120, sa.CAMERA_FRAME, 160 * 120 * 3]
    assert seen["depth"] == ["16UC1", 160 * 120 * 2]
    assert seen["k"][0] > 0 and seen["k"][8] == 1.0
    assert len(set(seen["stamps"])) == 1, "one stamp for the colour, depth and camera info of a frame"
    np.testing.assert_allclose(seen["start"], sa.READY)
    np.testing.assert_allclose(seen["after_refused"], sa.READY)  # beyond the limits: refused, not moved
    assert "trajectory refused" in node.output() and "panda_joint4" in node.output()
    np.testing.assert_allclose(seen["end"], target)
    # 3 s at a time scale of 0.1: about 0.3 s from the send to the arrival, not at once
    assert 0.15 < seen["arrived"] - seen["sent"] < 3.0, seen
    first, last = seen["between"]
    assert not [t for t in seen["image_stamps"] if first <= t <= last], "no images while the arm moves"
    assert seen["image_after"] > seen["arrived"]


def _until(done, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_the_player_renders_before_it_shows_the_final_pose(world):
    events = []
    goal = np.array(sa.READY) + np.array([0.4, 0.1, 0.0, 0.2, 0.0, 0.0, 0.0])
    player = sa.TrajectoryPlayer(world, 0.1)
    player.on_frame = lambda frame: events.append(("frame", player.moving, player.shown.copy()))
    player.on_resumed = lambda: events.append(("resumed", player.moving, player.shown.copy()))
    player.on_arrived = lambda: events.append(("arrived", player.moving, player.shown.copy()))
    try:
        t0 = time.monotonic()
        player.submit(sa.check_trajectory(world.arm, sa.ARM_JOINTS, [(goal, 2.0)]))
        _until(lambda: len(events) == 3)
        assert 0.15 < time.monotonic() - t0 < 2.0  # played in time: 2 s at a scale of 0.1
        (k1, moving1, q1), (k2, moving2, q2), (k3, moving3, q3) = events
        assert (k1, k2, k3) == ("frame", "resumed", "arrived")
        assert moving1 and not moving2 and not moving3
        assert not np.allclose(q1, goal) and not np.allclose(q2, goal)
        np.testing.assert_allclose(q3, goal)
    finally:
        player.close()


def test_a_new_trajectory_replaces_the_running_one_and_an_empty_one_stops_the_arm(world):
    start = np.array(sa.READY)
    far = start + np.array([1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    other = start + np.array([0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0])
    player = sa.TrajectoryPlayer(world, 1.0)
    try:
        player.submit(sa.check_trajectory(world.arm, sa.ARM_JOINTS, [(far, 20.0)]))
        _until(lambda: player.shown[0] > 0.01)
        player.submit(sa.check_trajectory(world.arm, sa.ARM_JOINTS, [(other, 0.2)]))  # from where it is now
        _until(lambda: not player.moving)
        assert player.frames == 1, "no image between a trajectory and the one replacing it"
        np.testing.assert_allclose(player.shown, other)
        player.submit(sa.check_trajectory(world.arm, sa.ARM_JOINTS, [(far, 20.0)]))
        _until(lambda: player.shown[0] > 0.01)
        player.submit(sa.check_trajectory(world.arm, sa.ARM_JOINTS, []))
        _until(lambda: not player.moving)
        stopped = player.shown.copy()
        assert 0.01 < stopped[0] < 0.5 and player.frames == 2
        time.sleep(0.1)
        np.testing.assert_allclose(player.shown, stopped)  # it stays there
        player.submit(sa.check_trajectory(world.arm, sa.ARM_JOINTS, []))  # a stop at rest: nothing happens
        time.sleep(0.05)
        assert player.frames == 2 and not player.moving
    finally:
        player.close()


def test_the_encodings_read_back(world):
    frame = world.first_frame
    h, w = frame.depth.shape
    msg = SimpleNamespace(height=h, width=w, is_bigendian=0)
    color = SimpleNamespace(**vars(msg), encoding="rgb8", step=3 * w, data=images.rgb_to_rgb8_bytes(frame.rgb))
    np.testing.assert_array_equal(images.color_to_rgb(color), frame.rgb)
    depth = SimpleNamespace(**vars(msg), encoding="32FC1", step=4 * w, data=images.metres_to_32fc1_bytes(frame.depth))
    back = images.depth_to_metres(depth)
    assert np.array_equal(np.isnan(back), ~(np.isfinite(frame.depth) & (frame.depth > 0)))
    np.testing.assert_array_equal(back[np.isfinite(back)], frame.depth[np.isfinite(back)])
