"""The real backend against a real rosmaster and the fake PR2 + Kinect2 node (each in its own process).

The master runs on 127.0.0.1 on a free port with a temporary ROS_HOME; this
process has one ROS node (RealBackend reuses it). Every wait has a timeout and
every process is killed in teardown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from ros_fixtures import REPO, FakePR2Process, TopicRecorder, init_test_node, ros_master

from pushseg.errors import BackendError
from pushseg.geometry import base_to_pixel
from pushseg.real.config import load_config
from pushseg.types import Outcome, Push

# rospy and actionlib (Debian) still call Condition.notifyAll.
pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.filterwarnings("ignore:notifyAll:DeprecationWarning")]

# Short timeouts: a hang shows up as a failure within seconds.
FAST = {
    "timeouts": {"image": 3.0, "tf": 3.0, "joint_states": 3.0, "motors_halted": 3.0, "action_server": 2.0,
                 "result_margin": 10.0}
}
OUT_OF_VIEW = {side: load_config().arm_pose("out_of_view", side) for side in "rl"}
ARM_TOPICS = ("/r_arm_controller/joint_trajectory_action", "/l_arm_controller/joint_trajectory_action")


@pytest.fixture(scope="module")
def master():
    with ros_master() as env:
        init_test_node()
        yield env
        import rospy

        rospy.signal_shutdown("pushseg tests done")


@pytest.fixture
def fake(master, tmp_path):
    """A well-behaved fake robot, one per test: two at once would both publish /joint_states."""
    log = tmp_path / "motions.jsonl"
    with FakePR2Process("--motion-log", str(log)) as proc:
        proc.motion_log = log
        yield proc


def _recorder():
    from actionlib_msgs.msg import GoalID

    from pushseg.real.msgs import joint_trajectory_action

    goal_type = joint_trajectory_action().ActionGoal
    topics = {f"{ns}/goal": goal_type for ns in ARM_TOPICS}
    topics.update({f"{ns}/cancel": GoalID for ns in ARM_TOPICS})
    rec = TopicRecorder(topics)
    time.sleep(0.5)  # let the subscriptions connect
    return rec


def _connected(backend, sides=("r", "l"), timeout: float = 10.0) -> None:
    """Wait until the recorder (and the server) listen to the backend's goal topics, so no goal goes unseen."""
    deadline = time.monotonic() + timeout
    for side in sides:
        pub = backend._clients[side].action_client.pub_goal
        while pub.get_num_connections() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)


def _goals(rec) -> int:
    return sum(rec.counts[f"{ns}/goal"] for ns in ARM_TOPICS)


def _pixel(frame, x: float, y: float, z: float) -> tuple[float, float]:
    u, v = base_to_pixel(frame.camera, np.array([x, y, z]))
    return float(u), float(v)


def _motions(path) -> list[dict]:
    if not os.path.exists(path):
        return []
    return [m for line in open(path) for m in json.loads(line)["motions"]]


def test_push_over_ros_moves_the_object_and_returns_the_arm(fake):
    from pushseg.real import RealBackend
    from pushseg.real.kinematics import joint_deltas

    rec = _recorder()
    backend = RealBackend(overrides=FAST)
    _connected(backend)
    try:
        frame = backend.reset(0)
        assert (frame.camera.width, frame.camera.height) == (160, 90)
        assert backend.table_z == pytest.approx(0.699, abs=0.01)  # the simulated table, fitted from depth
        # The camera pose comes from tf and equals the simulated camera's.
        assert frame.camera.T_base_camera[2, 3] == pytest.approx(1.53, abs=0.03)
        # Push the object nearest the robot (found in depth) straight away from the robot.
        h = frame.depth.copy()
        pts = np.argwhere(np.isfinite(h))
        from pushseg.geometry import pixel_to_base

        best = None
        for v, u in pts[::3]:
            p = pixel_to_base(frame.camera, frame.depth, u, v, radius=0)
            if p[2] > backend.table_z + 0.03 and 0.5 < p[0] < 0.75 and abs(p[1]) < 0.3:
                if best is None or p[0] < best[0][0]:
                    best = (p, (u, v))
        assert best is not None, "no object within reach in the fake scene"
        p, (u, v) = best
        before = len(_motions(fake.motion_log))
        result = backend.push(Push(float(u), float(v), 0.0, 0.08))
        assert result.outcome == Outcome.EXECUTED, result.reason
        assert _goals(rec) == 1 and backend.goals_sent == 1
        moved = [m for m in _motions(fake.motion_log)[before:] if m["translation"] > 0.01]
        assert moved, f"the push at {p} moved nothing:\n{fake.output()[-2000:]}"
        after = backend.observe()
        assert after.timestamp > frame.timestamp
        assert np.abs(after.rgb.astype(int) - frame.rgb).mean() > 0.1  # the scene changed
        side = backend.last_plan.side
        assert np.abs(joint_deltas(backend._arm_q(side), OUT_OF_VIEW[side])).max() < 0.05  # out of view again
    finally:
        backend.close()
        rec.close()


def test_dry_run_plans_but_sends_no_goal(fake):
    from pushseg.real import RealBackend

    rec = _recorder()
    backend = RealBackend(dry_run=True, overrides=FAST)
    try:
        frame = backend.reset(0)
        q_before = backend._arm_q("r")
        result = backend.push(Push(*_pixel(frame, 0.6, -0.1, backend.table_z + 0.01), 0.0, 0.1))
        assert result.outcome == Outcome.REJECTED and result.reason.startswith("dry_run: planned (r arm")
        assert backend.last_plan is not None and backend.last_plan.duration > 1.0
        time.sleep(1.0)
        assert backend.goals_sent == 0 and _goals(rec) == 0
        np.testing.assert_allclose(backend._arm_q("r"), q_before)
    finally:
        backend.close()
        rec.close()


def test_push_outside_the_workspace_is_refused_before_anything_moves(fake):
    from pushseg.real import RealBackend

    rec = _recorder()
    backend = RealBackend(overrides=FAST)
    try:
        frame = backend.reset(0)
        u, v = _pixel(frame, 0.95, 0.0, backend.table_z)  # beyond the 0.85 m workspace edge
        result = backend.push(Push(u, v, 0.0, 0.1))
        assert result.outcome == Outcome.REJECTED
        assert result.reason.startswith("outside_workspace:")
        assert "workspace box x [0.40, 0.85]" in result.reason and "safety.workspace" in result.reason
        time.sleep(0.5)
        assert backend.goals_sent == 0 and _goals(rec) == 0
    finally:
        backend.close()
        rec.close()


def test_a_plan_beyond_a_soft_limit_is_refused_before_anything_is_sent(fake, monkeypatch):
    import dataclasses

    from pushseg.real import RealBackend, planning

    rec = _recorder()
    backend = RealBackend(overrides=FAST)
    _connected(backend)
    plan_arm = planning.plan_arm

    def beyond(*args, **kwargs):  # a planner that puts the right shoulder pan beyond its soft limit (-2.1354)
        plan = plan_arm(*args, **kwargs)
        positions = plan.positions.copy()
        positions[0, 0] = -2.2
        return dataclasses.replace(plan, positions=positions)

    try:
        frame = backend.reset(0)
        monkeypatch.setattr(planning, "plan_arm", beyond)
        result = backend.push(Push(*_pixel(frame, 0.6, -0.1, backend.table_z + 0.01), 0.0, 0.1))
        assert result.outcome == Outcome.REJECTED
        assert result.reason.startswith("beyond_soft_limit: point 0 (transit) of the r arm's trajectory has "
                                        "r_shoulder_pan_joint = -2.2000 rad"), result.reason
        # The last check before a goal leaves holds too, whoever made the plan (here a joint move to a via pose).
        move = planning.timed_plan("r", backend._arm_q("r"), [np.array([-2.2, 0.56, -2.39, -2.09, -0.27, -0.92, 0.43])],
                                   ["transit"], backend._torso(), backend.config)
        with pytest.raises(BackendError, match=r"test move: beyond_soft_limit: .*r_shoulder_pan_joint = -2.2000 rad.*"
                                               r"nothing was sent"):
            backend._execute(move, what="test move")
        time.sleep(0.5)
        assert backend.goals_sent == 0 and _goals(rec) == 0
    finally:
        backend.close()
        rec.close()


def test_arms_are_moved_out_of_view_before_images_but_not_in_dry_run(master, monkeypatch):
    from pushseg.real import RealBackend
    from pushseg.real.kinematics import joint_deltas

    with FakePR2Process("--arms-raised"):
        rec = _recorder()
        monkeypatch.setenv("PUSHSEG_REAL_DRY_RUN", "1")
        dry = RealBackend(overrides=FAST)
        try:
            assert dry.dry_run
            dry.reset(0)
            time.sleep(0.5)
            assert dry.goals_sent == 0 and _goals(rec) == 0
            assert np.abs(joint_deltas(dry._arm_q("r"), OUT_OF_VIEW["r"])).max() > 0.5  # still raised
        finally:
            dry.close()
        monkeypatch.delenv("PUSHSEG_REAL_DRY_RUN")
        backend = RealBackend(overrides=FAST)
        _connected(backend)
        try:
            backend.reset(0)
            assert backend.goals_sent == 2 and _goals(rec) == 2  # one per arm
            for side in "rl":
                assert np.abs(joint_deltas(backend._arm_q(side), OUT_OF_VIEW[side])).max() < 0.05
        finally:
            backend.close()
            rec.close()


@pytest.mark.parametrize(
    "flags,match",
    [
        (("--silent-camera",), r"no messages on /kinect2/qhd/image_color_rect"),
        (("--stamp-lag", "30"), r"stale"),
        (("--no-tf",), r"no transform base_link <- head_mount_kinect2_rgb_optical_frame"),
    ],
)
def test_camera_problems_time_out_with_a_clear_error(master, flags, match):
    from pushseg.real import RealBackend

    with FakePR2Process(*flags):
        t0 = time.monotonic()
        with pytest.raises(BackendError, match=match):
            RealBackend(overrides={**FAST, "timeouts": {**FAST["timeouts"], "image": 1.5, "tf": 1.5}})
        assert time.monotonic() - t0 < 10


def test_missing_action_server_times_out_and_sends_nothing(master):
    from pushseg.real import RealBackend

    with FakePR2Process("--no-arm", "r", "--no-arm", "l"):
        backend = RealBackend(overrides=FAST)
        try:
            frame = backend.reset(0)
            t0 = time.monotonic()
            with pytest.raises(BackendError, match=r"action server /r_arm_controller/joint_trajectory_action did not"):
                backend.push(Push(*_pixel(frame, 0.6, -0.1, backend.table_z + 0.01), 0.0, 0.1))
            assert time.monotonic() - t0 < 10
            assert backend.goals_sent == 0
        finally:
            backend.close()


def test_result_timeout_cancels_the_goal(master):
    from pushseg.real import RealBackend

    with FakePR2Process("--stall"):
        rec = _recorder()
        backend = RealBackend(overrides={"timeouts": {**FAST["timeouts"], "result_slack": 0.05, "result_margin": 1.0}})
        _connected(backend, sides=("r",))
        try:
            frame = backend.reset(0)
            t0 = time.monotonic()
            no_result = r"no result from /r_arm_controller/joint_trajectory_action .* goal cancelled"
            with pytest.raises(BackendError, match=no_result):
                backend.push(Push(*_pixel(frame, 0.6, -0.1, backend.table_z + 0.01), 0.0, 0.1))
            assert time.monotonic() - t0 < 10
            time.sleep(0.5)
            assert _goals(rec) == 1 and rec.counts[f"{ARM_TOPICS[0]}/cancel"] >= 1
        finally:
            backend.close()
            rec.close()


def test_halted_motors_stop_the_push_before_it_is_sent(master):
    from pushseg.real import RealBackend

    with FakePR2Process("--motors-halted"):
        backend = RealBackend(overrides=FAST)
        try:
            frame = backend.reset(0)
            with pytest.raises(BackendError, match="motors are halted"):
                backend.push(Push(*_pixel(frame, 0.6, -0.1, backend.table_z + 0.01), 0.0, 0.1))
            assert backend.goals_sent == 0
        finally:
            backend.close()


SIGINT_SCRIPT = textwrap.dedent(
    """
    import signal
    import sys
    import numpy as np
    from pushseg.geometry import base_to_pixel
    from pushseg.real import RealBackend
    from pushseg.types import Push

    if sys.argv[1] == "rospy-first":  # rospy's own SIGINT handler, installed before the backend's
        from pushseg.real.rosenv import ensure_ros_importable
        ensure_ros_importable()
        import rospy
        rospy.init_node("sigint_test", anonymous=True, disable_signals=False)
        assert signal.getsignal(signal.SIGINT).__name__ == "_ros_signal"
    elif sys.argv[1] == "ignored":  # as in a background job of a non-interactive shell
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    b = RealBackend(overrides={"timeouts": {"action_server": 5.0, "image": 5.0}})
    f = b.reset(0)
    import time
    for _ in range(200):  # until the test's recorder listens to the goal topic
        if b._clients["r"].action_client.pub_goal.get_num_connections() >= 2:
            break
        time.sleep(0.05)
    u, v = base_to_pixel(f.camera, np.array([0.6, -0.1, b.table_z + 0.01]))
    print("PUSHING", flush=True)
    try:
        b.push(Push(float(u), float(v), 0.0, 0.1))
    except KeyboardInterrupt as e:
        print("INTERRUPTED:", type(e).__name__, e, flush=True)
        sys.exit(130)
    print("FINISHED", flush=True)
    """
)


def _sigint_during_a_push(handlers: str) -> None:
    from sensor_msgs.msg import JointState

    from pushseg.real.kinematics import joint_deltas, pr2_arm

    # Played back at half speed, so that the push is still running when SIGINT comes.
    with FakePR2Process("--time-scale", "0.5"):
        rec = _recorder()
        joints = TopicRecorder({"/joint_states": JointState})
        proc = subprocess.Popen([sys.executable, "-c", SIGINT_SCRIPT, handlers], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=os.environ.copy(), start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while _goals(rec) == 0 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            if _goals(rec) != 1:
                proc.kill()
                pytest.fail(f"the push goal never went out: {proc.communicate(timeout=10)[0][-3000:]}")
            time.sleep(1.0)
            assert proc.poll() is None, "the push finished before SIGINT"
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        assert proc.returncode == 130, out
        assert "INTERRUPTED: MotionInterrupted push interrupted: goals cancelled, arms retracted" in out, out
        assert rec.counts[f"{ARM_TOPICS[0]}/cancel"] >= 1
        # A second goal took the arm back out of view, and it got there.
        assert rec.counts[f"{ARM_TOPICS[0]}/goal"] == 2
        retract = rec.messages[f"{ARM_TOPICS[0]}/goal"][-1].goal.trajectory
        np.testing.assert_allclose(joint_deltas(OUT_OF_VIEW["r"], np.array(retract.points[-1].positions)), 0, atol=1e-6)
        last = joints.messages["/joint_states"][-1]
        q = np.array([last.position[last.name.index(n)] for n in pr2_arm("r").joint_names])
        assert np.abs(joint_deltas(q, OUT_OF_VIEW["r"])).max() < 0.05
        rec.close()
        joints.close()


def test_sigint_during_a_push_cancels_the_goal_and_retracts(master):
    # With whatever SIGINT disposition this test process was started with (a shell's background
    # job inherits SIG_IGN): the outcome must not depend on it.
    _sigint_during_a_push("inherited")


def test_sigint_raises_the_same_exception_when_rospy_handled_it_first(master):
    _sigint_during_a_push("rospy-first")


def test_a_motion_from_another_thread_needs_sigint_forwarded(master):
    import threading

    from pushseg.real import RealBackend
    from pushseg.robot.interrupts import MotionInterrupted, forward_sigint

    with FakePR2Process("--time-scale", "0.5"):
        rec = _recorder()
        backend = RealBackend(overrides=FAST)
        _connected(backend)
        try:
            frame = backend.reset(0)
            push = Push(*_pixel(frame, 0.6, -0.1, backend.table_z + 0.01), 0.0, 0.1)
            outcome = {}

            def work():
                try:
                    outcome["result"] = backend.push(push)
                except BaseException as e:  # noqa: BLE001 - the test looks at what came out
                    outcome["error"] = e

            worker = threading.Thread(target=work, name="pusher")
            worker.start()
            worker.join(60)
            # Refused: a Ctrl-C could not have stopped it.
            assert isinstance(outcome.get("error"), BackendError), outcome
            assert "from thread 'pusher', but Ctrl-C reaches only the main thread" in str(outcome["error"])
            assert "nothing was sent" in str(outcome["error"])
            assert backend.goals_sent == 0 and _goals(rec) == 0
            # Forwarded from the main thread, Ctrl-C stops the worker's motion the same way as in the main thread.
            outcome.clear()
            with forward_sigint(backend):
                worker = threading.Thread(target=work, name="pusher")
                worker.start()
                deadline = time.monotonic() + 30
                while _goals(rec) == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)
                assert worker.is_alive(), "the push finished before SIGINT"
                os.kill(os.getpid(), signal.SIGINT)
                worker.join(60)
            assert isinstance(outcome.get("error"), MotionInterrupted), outcome
            assert "goals cancelled, arms retracted" in str(outcome["error"])
            assert rec.counts[f"{ARM_TOPICS[0]}/cancel"] >= 1 and rec.counts[f"{ARM_TOPICS[0]}/goal"] == 2
        finally:
            backend.close()
            rec.close()


def test_collect_over_ros_gives_a_valid_labeled_run(master, tmp_path):
    """`pushseg collect --backend real` end to end, at the Kinect2's real 960x540."""
    from pushseg.data.run import RunReader

    log = tmp_path / "motions.jsonl"
    out = tmp_path / "run"
    # Objects where the PR2 reaches them with room to push (the agent does not know the arm's reach).
    region = ("--region-x", "0.5", "0.68", "--region-y", "-0.25", "0.25")
    size = ("--width", "960", "--height", "540")
    with FakePR2Process(*size, *region, "--motion-log", str(log), ready_timeout=120) as proc:
        argv = ["collect", "--backend", "real", "--episodes", "1", "--pushes-per-episode", "3", "--out", str(out),
                "--no-progress"]
        cmd = [sys.executable, "-m", "pushseg.cli.main", *argv]  # = `pushseg collect ...`
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240, env=os.environ.copy())
        assert res.returncode == 0, res.stdout + res.stderr + proc.output()[-2000:]
    reader = RunReader(out)
    assert reader.backend == "real" and len(reader) == 3
    assert (reader.camera.width, reader.camera.height) == (960, 540)
    transitions = list(reader)
    executed = [t for t in transitions if t.result.executed]
    assert len(executed) >= 2, [t.result.reason for t in transitions]
    assert any(m["translation"] > 0.01 for m in _motions(log)), "no object moved in the simulation"
    from pushseg.labeling import Labeler

    labeler = Labeler()
    accepted = [labeler.label_transition(t).label.accepted for t in executed]
    assert sum(accepted) >= (len(executed) + 1) // 2, accepted


def test_collect_dry_run_flag_plans_every_push_and_moves_nothing(master, tmp_path):
    """`pushseg collect --backend real --dry-run`: a run of planned pushes, and nothing moved."""
    from pushseg.data.run import RunReader

    log = tmp_path / "motions.jsonl"
    out = tmp_path / "dry"
    region = ("--region-x", "0.5", "0.68", "--region-y", "-0.25", "0.25")
    with FakePR2Process("--width", "320", "--height", "180", *region, "--motion-log", str(log)) as proc:
        argv = ["collect", "--backend", "real", "--dry-run", "--episodes", "1", "--pushes-per-episode", "2",
                "--out", str(out), "--no-progress"]
        env = {k: v for k, v in os.environ.items() if k != "PUSHSEG_REAL_DRY_RUN"}
        res = subprocess.run([sys.executable, "-m", "pushseg.cli.main", *argv], cwd=REPO, capture_output=True,
                             text=True, timeout=180, env=env)
        assert res.returncode == 0, res.stdout + res.stderr + proc.output()[-2000:]
    transitions = list(RunReader(out))
    assert len(transitions) == 2
    assert all(t.result.reason.startswith("dry_run") for t in transitions), [t.result.reason for t in transitions]
    assert not any(m["translation"] > 0.002 for m in _motions(log))


def test_fake_pr2_aborts_a_goal_beyond_the_soft_limits_without_moving(fake):
    """The fake robot behaves as a PR2's controllers do: a goal past a soft limit never completes."""
    import actionlib
    import rospy
    from actionlib_msgs.msg import GoalStatus
    from trajectory_msgs.msg import JointTrajectoryPoint

    from pushseg.real.kinematics import pr2_arm
    from pushseg.real.msgs import joint_trajectory_action

    types = joint_trajectory_action()
    client = actionlib.SimpleActionClient(ARM_TOPICS[1], types.Action)
    assert client.wait_for_server(rospy.Duration(10.0))
    q = OUT_OF_VIEW["l"].copy()
    q[0] = -0.66  # the old default via pose's left shoulder pan: soft lower limit -0.5646
    goal = types.Goal()
    goal.trajectory.joint_names = pr2_arm("l").joint_names
    goal.trajectory.points = [JointTrajectoryPoint(positions=q.tolist(), velocities=[0.0] * 7,
                                                   time_from_start=rospy.Duration(2.0))]
    client.send_goal(goal)
    assert client.wait_for_result(rospy.Duration(10.0))
    assert client.get_state() == GoalStatus.ABORTED
    assert "l_shoulder_pan_joint = -0.6600 rad, below -0.5646" in client.get_goal_status_text()
    time.sleep(0.3)
    from sensor_msgs.msg import JointState

    msg = rospy.wait_for_message("/joint_states", JointState, timeout=5.0)
    now = np.array([msg.position[msg.name.index(n)] for n in pr2_arm("l").joint_names])
    np.testing.assert_allclose(now, OUT_OF_VIEW["l"], atol=1e-9)  # it did not move
    client.action_client.stop()
