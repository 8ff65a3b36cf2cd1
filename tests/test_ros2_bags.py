"""Recordings and bags without ROS: the MCAP recorders, and ``pushseg import-bag`` on synthetic bags.

The bags are made here from a simulated session: the simulation renders the
frames before and after two pushes it executes, a Panda (its URDF from
pybullet_data, standing on the table's front edge) moves from its ready pose
down to each push line, along it and back (IK), and its joint states, the
trajectory commands and the camera topics are written with rosbags' writers as
a ROS 2 MCAP bag, a ROS 2 sqlite3 bag, a ROS 1 bag, and with pushseg's own
recorders as bare MCAP files of either ROS version.
"""

from __future__ import annotations

import io
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")
pytest.importorskip("mcap")

from rosbags.highlevel import AnyReader  # noqa: E402
from rosbags.rosbag1 import Writer as Writer1  # noqa: E402
from rosbags.rosbag2 import StoragePlugin  # noqa: E402
from rosbags.rosbag2 import Writer as Writer2  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from pushseg import backends  # noqa: E402
from pushseg.cli.main import main as cli_main  # noqa: E402
from pushseg.data.run import RunReader  # noqa: E402
from pushseg.errors import InputError  # noqa: E402
from pushseg.geometry import matrix_quaternion, push_from_line, resolve_push  # noqa: E402
from pushseg.robot.images import metres_to_16uc1_bytes  # noqa: E402
from pushseg.robot.recording import RecordingError, Ros1Recorder, Ros2Recorder  # noqa: E402
from pushseg.ros2.bag_import import import_bag  # noqa: E402
from pushseg.ros2.bags import Recorder  # noqa: E402
from pushseg.ros2.kinematics import UrdfArm, panda_urdf  # noqa: E402
from pushseg.types import Outcome, Push  # noqa: E402

W, H = 160, 120
MOUNT = np.array([0.20, 0.0, 0.699])  # panda_link0 in the simulation's base_link: on the table's front edge
JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
READY = [0.0, -1.2, 0.0, -2.8, 0.0, 1.6, 0.785]  # up and back, out of the camera's view
IK_REST = [0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.785]
DOWN = np.diag([1.0, -1.0, -1.0])  # the tool pointing down
RATE = 50.0  # joint states per second
IMAGE_PERIOD = 0.2  # s between camera frames
SETTLE = 0.3
TOPICS = {"color": "/camera/color/image_raw", "depth": "/camera/aligned_depth_to_color/image_raw",
          "info": "/camera/color/camera_info", "joints": "/joint_states",
          "trajectory": "/panda_arm_controller/joint_trajectory"}


# --- the simulated session ----------------------------------------------------------------


@dataclass
class Session:
    frames: list  # the frames the camera sees, in order: before push 0, after push 0 = before push 1, ...
    lines: list  # (start, end) of each push in panda_link0
    joints: list  # (t, q)
    commands: list  # (t, positions of the trajectory's last point)
    images: list  # (t, index into frames)
    expected: list  # (before stamp, after stamp) of each push
    T_base_camera: np.ndarray  # the camera in panda_link0


def _pushes_of(sim, frame, n):
    """Pushes at the objects' centres, away from the robot, that the simulation executes."""
    ids = frame.instance_ids
    out = []
    for i in np.unique(ids)[1:]:
        vs, us = np.nonzero(ids == i)
        out.append(Push(float(us.mean()), float(vs.mean()), 0.0, 0.06))
    return out[:n]


def _ik_path(arm, points, seed):
    qs = []
    for p in points:
        seed = arm.ik(p, DOWN, IK_REST, seed=seed)
        qs.append(seed)
    return qs


def _motion(arm, start, end, t0):
    """Joint samples from READY down to the line, along it, up and back to READY, from time t0."""
    ready = np.array(READY)
    hover_s, hover_e = start + [0, 0, 0.10], end + [0, 0, 0.10]
    down = [start + [0, 0, 0.10 * (1 - s)] for s in np.linspace(0, 1, 11)]
    along = [start + (end - start) * s for s in np.linspace(0, 1, int(np.linalg.norm(end - start) / 0.004) + 1)]
    up = [end + [0, 0, 0.10 * s] for s in np.linspace(0, 1, 11)]
    q_hover = arm.ik(hover_s, DOWN, IK_REST)
    q_down = _ik_path(arm, down, q_hover)
    q_along = _ik_path(arm, along, q_down[-1])
    q_up = _ik_path(arm, up, q_along[-1])
    q_back = arm.ik(hover_e, DOWN, IK_REST, seed=q_up[-1])
    qs = [ready + (q_hover - ready) * s for s in np.linspace(0, 1, 40)[1:]]
    qs += q_down + q_along + q_up
    qs += [q_back + (ready - q_back) * s for s in np.linspace(0, 1, 40)]
    return [(t0 + k / RATE, q) for k, q in enumerate(qs)]


def make_session(pushes: int = 2) -> Session:
    sim = backends.make_backend("sim", width=W, height=H, num_objects=(2, 2))
    arm = UrdfArm.from_file(panda_urdf(), JOINTS, "panda_link0", "panda_grasptarget")
    try:
        frames = [sim.reset(seed=0)]
        lines = []
        for push in _pushes_of(sim, frames[0], pushes):
            path = resolve_push(frames[-1].camera, frames[-1].depth, push, table_z=sim.table_z)
            result = sim.push(push)
            assert result.outcome == Outcome.EXECUTED, result.reason
            lines.append((np.array(result.start_base) - MOUNT, np.array(result.end_base) - MOUNT))
            assert np.allclose(lines[-1][0], path.start - MOUNT)
            frames.append(sim.observe())
        T = frames[0].camera.T_base_camera.copy()
        T[:3, 3] -= MOUNT
        t = 1.0
        joints, commands, images, expected = [], [], [], []
        stamps = np.arange(0.5071, 100, IMAGE_PERIOD)
        shown = 0  # the frame the camera shows now
        for start, end in lines:
            t_cmd = t + 0.55
            motion = _motion(arm, start, end, t_cmd + 0.05)
            joints += [(s, np.array(READY)) for s in np.arange(t, t_cmd + 0.05 - 1e-9, 1 / RATE)]
            commands.append((t_cmd, READY))
            joints += motion
            t_back = motion[-1][0]
            before = stamps[stamps < t_cmd].max()
            images += [(s, shown) for s in stamps[(stamps >= t - 0.5 + 1e-9) & (stamps < t_cmd)] if s > 0]
            shown += 1
            images += [(s, shown) for s in stamps[(stamps >= t_cmd) & (stamps < t_back + 1.5)]]
            joints += [(s, np.array(READY)) for s in np.arange(t_back + 1 / RATE, t_back + 1.5 - 1e-9, 1 / RATE)]
            t = t_back + 1.5
            after = stamps[stamps >= t_back + 1 / RATE + SETTLE].min()
            expected.append((before, after))
        images = sorted(dict(images).items())
        return Session(frames, lines, joints, commands, images, expected, T)
    finally:
        arm.close()
        sim.close()


@pytest.fixture(scope="module")
def session() -> Session:
    return make_session()


def robot_config(tmp: Path, session: Session, settle: float = SETTLE, *, urdf: str | None = None,
                 pose: str = "fixed") -> Path:
    qx, qy, qz, qw = matrix_quaternion(session.T_base_camera[:3, :3])
    cfg = {"ros2": {
        "robot": {"urdf": str(panda_urdf()) if urdf is None else urdf, "description_topic": "/robot_description",
                  "base_frame": "panda_link0", "tool_frame": "panda_grasptarget", "joints": JOINTS, "ready": READY},
        "controller": {"trajectory_topic": TOPICS["trajectory"], "joint_states": TOPICS["joints"]},
        "camera": {"color": TOPICS["color"], "depth": TOPICS["depth"], "camera_info": TOPICS["info"],
                   "pose": pose, "frame": "camera_color_optical_frame", "translation": [float(x) for x in session.T_base_camera[:3, 3]],
                   "rotation": [qx, qy, qz, qw], "sync_tolerance": 0.01},
        "motion": {"settle_time": settle},
    }}
    path = tmp / "robot.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


# --- messages -----------------------------------------------------------------------------


class Messages:
    """The session's messages for one ROS version, as (topic, msgtype, stamp_ns, message)."""

    def __init__(self, ros: int) -> None:
        self.ros = ros
        self.ts = get_typestore(Stores.ROS2_JAZZY if ros == 2 else Stores.ROS1_NOETIC)
        self.T = self.ts.types

    def header(self, t: float, frame: str = ""):
        sec = int(np.floor(t))
        stamp = self.T["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(round((t - sec) * 1e9)))
        if self.ros == 1:
            return self.T["std_msgs/msg/Header"](seq=0, stamp=stamp, frame_id=frame)
        return self.T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame)

    def image(self, t, data: bytes, encoding: str, step: int):
        return self.T["sensor_msgs/msg/Image"](header=self.header(t, "camera_color_optical_frame"), height=H, width=W,
                                               encoding=encoding, is_bigendian=0, step=step,
                                               data=np.frombuffer(data, np.uint8))

    def info(self, t, K):
        C = self.T["sensor_msgs/msg/CameraInfo"]
        roi = self.T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        P = np.zeros(12)
        P[[0, 2, 5, 6, 10]] = [K[0, 0], K[0, 2], K[1, 1], K[1, 2], 1.0]
        mats = dict(D=np.zeros(5), K=K.reshape(-1), R=np.eye(3).reshape(-1), P=P)
        if self.ros == 2:
            mats = {k.lower(): v for k, v in mats.items()}
        return C(header=self.header(t, "camera_color_optical_frame"), height=H, width=W,
                 distortion_model="plumb_bob", binning_x=0, binning_y=0, roi=roi, **mats)

    def joint_state(self, t, q):
        return self.T["sensor_msgs/msg/JointState"](header=self.header(t), name=JOINTS, position=np.asarray(q),
                                                    velocity=np.zeros(0), effort=np.zeros(0))

    def trajectory(self, t, q):
        Dur = self.T["builtin_interfaces/msg/Duration"]
        dur = Dur(sec=2, nanosec=0) if self.ros == 2 else Dur(sec=2, nanosec=0)
        pt = self.T["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=np.asarray(q, float), velocities=np.zeros(0), accelerations=np.zeros(0), effort=np.zeros(0),
            time_from_start=dur)
        return self.T["trajectory_msgs/msg/JointTrajectory"](header=self.header(0.0), joint_names=JOINTS,
                                                            points=[pt])

    def all(self, s: Session, *, trajectory: bool = True, skip: tuple[str, ...] = (), description: str = ""):
        out = []
        if description:
            out.append(("/robot_description", "std_msgs/msg/String", 0.1, self.T["std_msgs/msg/String"](data=description)))
        K = s.frames[0].camera.K
        for t, i in s.images:
            f = s.frames[i]
            rgb = np.ascontiguousarray(f.rgb).tobytes()
            out.append((TOPICS["color"], "sensor_msgs/msg/Image", t, self.image(t, rgb, "rgb8", 3 * W)))
            td = t + 0.003  # drivers stamp depth a little apart
            out.append((TOPICS["depth"], "sensor_msgs/msg/Image", td,
                        self.image(td, metres_to_16uc1_bytes(f.depth), "16UC1", 2 * W)))
            out.append((TOPICS["info"], "sensor_msgs/msg/CameraInfo", t, self.info(t, K)))
        for t, q in s.joints:
            out.append((TOPICS["joints"], "sensor_msgs/msg/JointState", t, self.joint_state(t, q)))
        if trajectory:
            for t, q in s.commands:
                out.append((TOPICS["trajectory"], "trajectory_msgs/msg/JointTrajectory", t, self.trajectory(t, q)))
        out = [m for m in out if m[0] not in skip]
        return sorted(out, key=lambda m: m[2])

    def serialize(self, msg, msgtype):
        return self.ts.serialize_cdr(msg, msgtype) if self.ros == 2 else self.ts.serialize_ros1(msg, msgtype)


def write_rosbag2(path: Path, s: Session, storage, **kw) -> Path:
    m = Messages(2)
    with Writer2(path, version=9, storage_plugin=storage) as w:
        conns = {}
        for topic, msgtype, t, msg in m.all(s, **kw):
            if topic not in conns:
                conns[topic] = w.add_connection(topic, msgtype, typestore=m.ts)
            w.write(conns[topic], int(t * 1e9), m.serialize(msg, msgtype))
    return path


def write_rosbag1(path: Path, s: Session, **kw) -> Path:
    m = Messages(1)
    with Writer1(path) as w:
        conns = {}
        for topic, msgtype, t, msg in m.all(s, **kw):
            if topic not in conns:
                conns[topic] = w.add_connection(topic, msgtype, typestore=m.ts)
            w.write(conns[topic], int(t * 1e9), m.serialize(msg, msgtype))
    return path


def write_recorder2(path: Path, s: Session, **kw) -> Path:
    m = Messages(2)
    with Recorder.open(path) as rec:
        for topic, msgtype, t, msg in m.all(s, **kw):
            rec.write(topic, msgtype, m.serialize(msg, msgtype), int(t * 1e9))
    return path


class Genpy:
    """A message as genpy gives it to a ROS 1 callback: serialize(), _type, _full_text, _md5sum."""

    def __init__(self, ts, msg, msgtype: str) -> None:
        self._ts, self._msg, self._msgtype = ts, msg, msgtype
        self._type = msgtype.replace("/msg/", "/")
        self._full_text, self._md5sum = ts.generate_msgdef(msgtype)

    def serialize(self, buff: io.BytesIO) -> None:
        buff.write(bytes(self._ts.serialize_ros1(self._msg, self._msgtype)))


def write_recorder1(path: Path, s: Session, **kw) -> Path:
    m = Messages(1)
    with Ros1Recorder.open(path) as rec:
        for topic, msgtype, t, msg in m.all(s, **kw):
            rec.write(topic, Genpy(m.ts, msg, msgtype), int(t * 1e9))
    return path


# --- the recorders --------------------------------------------------------------------------


def test_the_ros2_recorder_round_trips_through_rosbags(tmp_path):
    m = Messages(2)
    path = tmp_path / "rec.mcap"
    sent = [(f"/t{i % 2}", i * 1_000_000, m.joint_state(i * 0.001, np.full(7, float(i)))) for i in range(40)]
    with Recorder.open(path) as rec:
        threads = [threading.Thread(target=lambda part=sent[k::4]: [
            rec.write(topic, "sensor_msgs/JointState", m.serialize(msg, "sensor_msgs/msg/JointState"), ns)
            for topic, ns, msg in part]) for k in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert rec.messages == 40
    with AnyReader([path]) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == {"/t0": "sensor_msgs/msg/JointState",
                                                                     "/t1": "sensor_msgs/msg/JointState"}
        got = sorted((c.topic, t, float(reader.deserialize(raw, c.msgtype).position[0]))
                     for c, t, raw in reader.messages())
    assert got == sorted((topic, ns, float(msg.position[0])) for topic, ns, msg in sent)


def test_the_ros1_recorder_writes_ros1_channels(tmp_path):
    from mcap.reader import make_reader

    m = Messages(1)
    path = tmp_path / "rec1.mcap"
    with Ros1Recorder.open(path) as rec:
        for i in range(3):
            rec.write("/joint_states", Genpy(m.ts, m.joint_state(i, np.arange(7.0) + i), "sensor_msgs/msg/JointState"),
                      i * 10**9)
    with open(path, "rb") as f:
        reader = make_reader(f)
        assert reader.get_header().profile == "ros1"
        msgs = list(reader.iter_messages())
    schema, channel, _ = msgs[0]
    assert (schema.name, schema.encoding, channel.message_encoding) == ("sensor_msgs/JointState", "ros1msg", "ros1")
    assert channel.metadata["md5sum"] == m.ts.generate_msgdef("sensor_msgs/msg/JointState")[1]
    back = [m.ts.deserialize_ros1(msg.data, "sensor_msgs/msg/JointState").position[0] for _, _, msg in msgs]
    assert back == [0.0, 1.0, 2.0]


def test_a_recording_refuses_an_existing_file_unless_told(tmp_path):
    path = tmp_path / "x.mcap"
    path.write_bytes(b"keep")
    with pytest.raises(RecordingError, match="already exists"):
        Recorder.open(path)
    assert path.read_bytes() == b"keep"
    Recorder.open(path, overwrite=True).close()
    assert path.read_bytes()[:5] == b"\x89MCAP"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_error_naming_the_recording():
    m = Messages(2)
    data = m.serialize(m.image(0.0, bytes(3 * W * H), "rgb8", 3 * W), "sensor_msgs/msg/Image")
    rec = Ros2Recorder.open("/dev/full", overwrite=True, compression="none")
    written = [rec.write("/image", "sensor_msgs/msg/Image", data, i) for i in range(100)]
    assert written[0] and not written[-1]  # never raised into the caller (a subscription callback)
    assert rec.error is not None and "/dev/full: " in str(rec.error) and "ENOSPC" in str(rec.error)
    with pytest.raises(RecordingError, match=r"/dev/full: .*ENOSPC"):
        rec.check()
    with pytest.raises(RecordingError, match="/dev/full"):
        rec.close()


# --- geometry --------------------------------------------------------------------------------


def test_push_from_line_inverts_resolve_push(session):
    f = session.frames[0]
    for push in (Push(80.0, 60.0, 0.3, 0.08), Push(60.4, 75.7, -2.0, 0.05), Push(100.0, 50.0, 1.2, 0.12)):
        path = resolve_push(f.camera, f.depth, push, table_z=0.7)
        back = push_from_line(f.camera, f.depth, path.start, path.end)
        again = resolve_push(f.camera, f.depth, back, table_z=0.7)
        assert np.allclose(again.start, path.start, atol=2e-3) and np.allclose(again.end, path.end, atol=2e-3)
        assert back.angle == pytest.approx(push.angle) and back.length == pytest.approx(push.length)
    with pytest.raises(InputError, match="not in view"):
        push_from_line(f.camera, f.depth, np.array([5.0, 5.0, 0.7]), np.array([5.1, 5.0, 0.7]))


# --- import-bag --------------------------------------------------------------------------------


def check_import(bag: Path, session: Session, config: Path, backend: str):
    got = import_bag(bag, config)
    assert got.backend == backend
    assert len(got.transitions) == len(session.lines)
    for tr, (start, end), (t_before, t_after), k in zip(got.transitions, session.lines, session.expected,
                                                         range(len(session.lines))):
        assert np.allclose(tr.result.start_base, start, atol=0.004), (tr.result.start_base, start)
        assert np.allclose(tr.result.end_base, end, atol=0.004), (tr.result.end_base, end)
        assert tr.before.timestamp == pytest.approx(t_before, abs=1e-6)
        assert tr.after.timestamp == pytest.approx(t_after, abs=1e-6)
        assert np.array_equal(tr.before.rgb, session.frames[k].rgb)
        assert np.array_equal(tr.after.rgb, session.frames[k + 1].rgb)
        assert np.allclose(tr.before.camera.T_base_camera, session.T_base_camera, atol=1e-6)
        assert tr.backend == backend and tr.result.outcome == Outcome.EXECUTED
        path = resolve_push(tr.before.camera, tr.before.depth, tr.push, table_z=start[2] - 0.025)
        assert np.allclose(path.start, start, atol=0.004) and np.allclose(path.end, end, atol=0.004)
    return got


@pytest.mark.parametrize("kind", ["mcap", "sqlite3", "ros1", "recorder2", "recorder1"])
def test_import_bag_finds_the_pushes(tmp_path, session, kind):
    config = robot_config(tmp_path, session)
    bag, backend = {
        "mcap": (lambda: write_rosbag2(tmp_path / "bag_mcap", session, StoragePlugin.MCAP), "ros2"),
        "sqlite3": (lambda: write_rosbag2(tmp_path / "bag_db3", session, StoragePlugin.SQLITE3), "ros2"),
        "ros1": (lambda: write_rosbag1(tmp_path / "session.bag", session), "real"),
        "recorder2": (lambda: write_recorder2(tmp_path / "session.mcap", session), "ros2"),
        "recorder1": (lambda: write_recorder1(tmp_path / "session1.mcap", session), "real"),
    }[kind]
    check_import(bag(), session, config, backend)


def test_import_bag_without_trajectory_commands(tmp_path, session):
    config = robot_config(tmp_path, session)
    bag = write_rosbag2(tmp_path / "bag", session, StoragePlugin.MCAP, trajectory=False)
    check_import(bag, session, config, "ros2")


def test_import_bag_with_the_urdf_and_the_camera_pose_from_the_bag(tmp_path, session):
    from pushseg.ros2.sim_arm import urdf_with_camera

    urdf = urdf_with_camera(panda_urdf().read_text(), session.T_base_camera, "panda_link0",
                            "camera_color_optical_frame")
    config = robot_config(tmp_path, session, urdf="", pose="urdf")
    bag = write_rosbag2(tmp_path / "bag", session, StoragePlugin.MCAP, description=urdf)
    check_import(bag, session, config, "ros2")
    bare = write_rosbag2(tmp_path / "bare", session, StoragePlugin.MCAP)
    with pytest.raises(InputError, match="no URDF: the bag has no /robot_description"):
        import_bag(bare, config)


def test_the_cli_writes_a_run_that_reads_back_and_labels(tmp_path, session):
    config = robot_config(tmp_path, session)
    bag = write_recorder2(tmp_path / "session.mcap", session)
    out = tmp_path / "run"
    assert cli_main(["import-bag", str(bag), "--config", str(config), "--out", str(out)]) == 0
    reader = RunReader(out)
    assert reader.backend == "ros2" and len(reader) == 2
    trs = list(reader)
    assert [t.step for t in trs] == [0, 1] and trs[0].result.executed
    assert np.array_equal(trs[1].before.rgb, session.frames[1].rgb)
    assert cli_main(["label", str(out), "--out", str(tmp_path / "labels.json")]) == 0
    summary = json.loads((tmp_path / "labels_summary.json").read_text())
    assert summary["transitions"] == 2 and summary["accepted"] >= 1


def _cli_error(capsys, *argv) -> str:
    assert cli_main(["import-bag", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_import_bag_errors(tmp_path, session, capsys):
    config = robot_config(tmp_path, session)
    out = str(tmp_path / "run")
    assert "does not exist" in _cli_error(capsys, str(tmp_path / "nope.bag"), "--config", str(config), "--out", out)
    bag = write_rosbag2(tmp_path / "nodepth", session, StoragePlugin.MCAP, skip=(TOPICS["depth"],))
    err = _cli_error(capsys, str(bag), "--config", str(config), "--out", out)
    assert TOPICS["depth"] in err and "camera.depth" in err and TOPICS["color"] in err  # lists the bag's topics
    # no motion at all: only the frames before the first push and the arm at ready
    still = Session(session.frames, session.lines, [j for j in session.joints if j[0] < 1.5], [],
                    [im for im in session.images if im[0] < 1.5], session.expected, session.T_base_camera)
    bag = write_recorder2(tmp_path / "still.mcap", still)
    assert "no pushes found" in _cli_error(capsys, str(bag), "--config", str(config), "--out", out)
    odd = tmp_path / "odd.mcap"
    from mcap.writer import Writer

    with open(odd, "wb") as f:
        w = Writer(f)
        w.start(profile="", library="test")
        sid = w.register_schema("x", "jsonschema", b"{}")
        w.register_channel("/x", "json", sid)
        w.finish()
    assert "not supported" in _cli_error(capsys, str(odd), "--config", str(config), "--out", out)
    assert not Path(out).exists()


class _RosTime:
    def __init__(self, ns: int) -> None:
        self.ns = ns

    def to_nsec(self) -> int:
        return self.ns


def test_the_real_backend_records_what_its_subscriptions_get(tmp_path):
    import collections

    from pushseg.real.backend import RealBackend
    from pushseg.real.config import load_config as load_real_config

    m = Messages(1)
    backend = RealBackend.__new__(RealBackend)  # no ROS here: only the callbacks and close's recording part
    backend.config = load_real_config()
    backend._lock = threading.Condition()
    backend._joints, backend._images = {}, {k: collections.deque(maxlen=8) for k in ("color", "depth", "info")}
    backend._rospy = type("R", (), {"get_rostime": staticmethod(lambda: _RosTime(7 * 10**9))})
    backend._recorder = Ros1Recorder.open(tmp_path / "pr2.mcap")
    js = Genpy(m.ts, m.joint_state(1.0, np.arange(7.0)), "sensor_msgs/msg/JointState")
    js.name, js.position = JOINTS, list(range(7))
    backend._on_joints(js)
    backend._recorder.close()
    assert backend._joints["panda_joint2"] == 1
    got = import_messages(tmp_path / "pr2.mcap")
    assert got == [(backend.config.topics.joint_states, 7 * 10**9, list(np.arange(7.0)))]


def import_messages(path: Path):
    from pushseg.ros2.bag_import import open_bag

    with open_bag(path) as bag:
        assert bag.ros == 1
        return [(topic, t, list(bag.decode(topic, raw).position)) for topic, t, raw in bag.messages(set(bag.topics))]
