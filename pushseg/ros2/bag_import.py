"""Recorded bags -> transitions (``pushseg import-bag``), without ROS.

A bag of a robot pushing (ROS 1 ``.bag``, a ROS 2 bag folder in sqlite3 or
MCAP, a bare ``.mcap`` file of either ROS version, as
:mod:`pushseg.robot.recording` writes them) becomes the same transitions a
collection writes, so that ``pushseg label`` labels it. The robot config
(:mod:`pushseg.ros2.config`) names the topics, the arm's joints, its ready
pose, the URDF and the camera's pose.

* A push is a motion of the arm away from its ready pose and back, found in the
  joint states; with trajectory commands in the bag, a motion starts at the
  command that started it (the images before it show the arm at rest).
* The before frame is the last colour + depth + camera_info triple (stamps within
  ``camera.sync_tolerance``) with the arm at its ready pose before the motion; the
  after frame the first one ``motion.settle_time`` after the arm is back and still.
* The push line is the stretch of the tool's path (forward kinematics of the joint
  states) where the tool is lowest and moving along the table; the Push is its
  inverse under :func:`pushseg.geometry.resolve_push` in the before frame.

Messages are read twice: once for the stamps and joint states, once for the few
images the transitions use, so a long bag needs little memory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pushseg.errors import InputError
from pushseg.geometry import push_from_line
from pushseg.optional import require
from pushseg.robot import images
from pushseg.robot.recording import ros2_type_name
from pushseg.ros2.config import Ros2BackendConfig, load_config
from pushseg.ros2.kinematics import UrdfArm
from pushseg.types import CameraInfo, Frame, Outcome, PushResult, Transition

__all__ = ["BagImport", "import_bag", "open_bag"]

LOW_BAND = 0.005  # m: the tool is "lowest" within this of its lowest point in a motion
STILL = 1e-3  # rad between joint samples: the arm is still
MIN_TRAVEL = 0.01  # m along the table beyond the approach for a stretch to be a push


@dataclass
class BagImport:
    """What :func:`import_bag` found: the transitions (in order) and the motions it skipped, with why."""

    bag: Path
    backend: str  # "ros2" for a ROS 2 bag, "real" for a ROS 1 bag
    transitions: list[Transition]
    skipped: list[str] = field(default_factory=list)
    topics: dict[str, str] = field(default_factory=dict)  # the bag's topics -> types

    @property
    def camera(self) -> CameraInfo:
        return self.transitions[0].before.camera


# --- reading bags ---------------------------------------------------------------------


class _RosbagsBag:
    """A bag rosbags reads: ROS 1 .bag, ROS 2 folders (sqlite3, MCAP), a ros2-profile .mcap file."""

    def __init__(self, path: Path) -> None:
        highlevel = require("rosbags.highlevel", "pushseg import-bag")
        try:
            self._reader = highlevel.AnyReader([path])
            self._reader.open()
        except highlevel.AnyReaderError as e:
            raise InputError(f"{path}: cannot read the bag ({e})") from None
        self.ros = 2 if self._reader.is2 else 1
        self.topics = {c.topic: c.msgtype for c in self._reader.connections}
        if self.ros == 2:
            for c in self._reader.connections:
                fmt = getattr(c.ext, "serialization_format", "cdr")
                if fmt != "cdr":
                    raise InputError(f"{path}: topic {c.topic} is encoded as {fmt!r}; only cdr (ROS 2) and ros1 "
                                     "messages are supported")

    def messages(self, topics: set[str]) -> Iterator[tuple[str, int, bytes]]:
        conns = [c for c in self._reader.connections if c.topic in topics]
        for c, t, raw in self._reader.messages(connections=conns):
            yield c.topic, t, raw

    def decode(self, topic: str, raw: bytes) -> Any:
        if self.ros == 2:
            return _cdr_message(self._reader.typestore, raw, self.topics[topic])
        return self._reader.deserialize(raw, self.topics[topic])

    def close(self) -> None:
        self._reader.close()


def _cdr_message(typestore, raw: bytes, typename: str) -> Any:
    """A CDR message, ignoring bytes after its end.

    rclpy's ``serialize_message`` (Fast DDS) may hand back a few bytes beyond the
    message's end, which rosbags' strict size check refuses; the message itself
    is complete, so it is read without that check.
    """
    if len(raw) < 4 or bytes(raw[:2]) not in (b"\x00\x00", b"\x00\x01"):
        raise InputError(f"a {typename} message is not CDR-encoded (encapsulation {bytes(raw[:4]).hex()})")
    msgdef = typestore.get_msgdef(typename)
    read = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
    message, _ = read(memoryview(raw)[4:], 0, msgdef.cls, typestore)
    return message


class _Ros1Mcap:
    """An MCAP file with the ros1 profile (``RealBackend(record=...)``): read with the mcap library."""

    def __init__(self, path: Path, reader, stream) -> None:
        typesys = require("rosbags.typesys", "pushseg import-bag")
        self._reader, self._stream = reader, stream
        summary = reader.get_summary()
        if summary is None:
            raise InputError(f"{path}: the MCAP file has no summary (its recording did not finish); "
                             "recover it with `mcap recover` first")
        self._typestore = typesys.get_typestore(typesys.Stores.EMPTY)
        types: dict = {}
        self.topics = {}
        for ch in summary.channels.values():
            schema = summary.schemas.get(ch.schema_id)
            if ch.message_encoding != "ros1" or schema is None or schema.encoding != "ros1msg":
                raise InputError(f"{path}: topic {ch.topic} is encoded as {ch.message_encoding!r} "
                                 f"(schema {getattr(schema, 'encoding', None)!r}); a ros1 MCAP file needs ros1 "
                                 "messages with ros1msg schemas")
            name = ros2_type_name(schema.name)
            types.update(typesys.get_types_from_msg(schema.data.decode(), name))
            self.topics[ch.topic] = name
        self._typestore.register(types)
        self.ros = 1

    def messages(self, topics: set[str]) -> Iterator[tuple[str, int, bytes]]:
        for _, ch, msg in self._reader.iter_messages(topics=sorted(topics), log_time_order=True):
            yield ch.topic, msg.log_time, msg.data

    def decode(self, topic: str, raw: bytes) -> Any:
        return self._typestore.deserialize_ros1(raw, self.topics[topic])

    def close(self) -> None:
        self._stream.close()


@contextmanager
def open_bag(path: str | Path):
    """The bag at ``path`` opened for reading (``.topics``, ``.messages(topics)``, ``.decode``, ``.ros``)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"bag {path} does not exist")
    bag: Any
    if path.is_file() and path.suffix.lower() == ".mcap":
        reader_mod = require("mcap.reader", "pushseg import-bag")
        stream = open(path, "rb")
        try:
            reader = reader_mod.make_reader(stream)
            profile = reader.get_header().profile
        except Exception as e:  # the mcap library raises its own errors for a file that is not MCAP
            stream.close()
            raise InputError(f"{path}: not an MCAP file ({e})") from None
        if profile == "ros1":
            try:
                bag = _Ros1Mcap(path, reader, stream)
            except BaseException:
                stream.close()
                raise
        else:
            stream.close()
            if profile != "ros2":
                raise InputError(f"{path}: MCAP profile {profile!r} is not supported; expected ros2 (cdr messages) "
                                 "or ros1")
            bag = _RosbagsBag(path)
    elif path.is_file() and path.suffix.lower() not in (".bag", ".db3"):
        raise InputError(f"{path}: not a bag (expected a ROS 1 .bag file, a ROS 2 bag folder or an .mcap file)")
    else:
        bag = _RosbagsBag(path.parent if path.suffix.lower() == ".db3" else path)
    try:
        yield bag
    finally:
        bag.close()


def _peek_stamp(raw: bytes, ros: int) -> float:
    """header.stamp of a serialized message whose first field is a Header, without decoding it."""
    if ros == 2:  # 4 bytes of CDR encapsulation, then int32 sec, uint32 nanosec
        sec, nsec = struct.unpack_from("<iI" if raw[1] == 1 else ">iI", raw, 4)
    else:  # uint32 seq, then uint32 secs, uint32 nsecs
        sec, nsec = struct.unpack_from("<II", raw, 4)
    return sec + 1e-9 * nsec


def _stamp(header) -> float:
    return float(header.stamp.sec) + 1e-9 * float(header.stamp.nanosec)


# --- the first pass: stamps, joint states, commands -------------------------------------


@dataclass
class _Scan:
    image_stamps: dict[str, np.ndarray]  # kind -> sorted stamps (s)
    t: np.ndarray  # joint state stamps (s)
    q: np.ndarray  # (N, joints)
    commands: np.ndarray  # times (s) of non-empty trajectory commands
    description: str | None


def _topic_names(config: Ros2BackendConfig) -> dict[str, str]:
    c = config.camera
    return {"color": c.color, "depth": c.depth, "info": c.camera_info, "joints": config.controller.joint_states}


def _check_topics(bag, path: Path, config: Ros2BackendConfig) -> None:
    keys = {"color": "camera.color", "depth": "camera.depth", "info": "camera.camera_info",
            "joints": "controller.joint_states"}
    for kind, topic in _topic_names(config).items():
        if topic not in bag.topics:
            listed = ", ".join(f"{t} ({ty})" for t, ty in sorted(bag.topics.items())) or "none"
            raise InputError(f"{path}: no topic {topic} ({keys[kind]} in the robot config) in the bag; "
                             f"its topics: {listed}")


def _scan(bag, config: Ros2BackendConfig) -> _Scan:
    names = _topic_names(config)
    kinds = {names[k]: k for k in ("color", "depth", "info")}
    joints_topic, traj_topic = names["joints"], config.controller.trajectory_topic
    desc_topic = config.robot.description_topic
    wanted = set(kinds) | {joints_topic} | ({traj_topic, desc_topic} & set(bag.topics))
    stamps: dict[str, list[float]] = {k: [] for k in ("color", "depth", "info")}
    arm = list(config.robot.joints)
    latest: dict[str, float] = {}
    t, q, commands, description = [], [], [], None
    for topic, log_ns, raw in bag.messages(wanted):
        if topic in kinds:
            stamps[kinds[topic]].append(_peek_stamp(raw, bag.ros))
        elif topic == joints_topic:
            msg = bag.decode(topic, raw)
            latest.update(zip(msg.name, (float(p) for p in msg.position)))
            if all(n in latest for n in arm):
                t.append(_stamp(msg.header))
                q.append([latest[n] for n in arm])
        elif topic == traj_topic:
            msg = bag.decode(topic, raw)
            if len(msg.points):
                stamp = _stamp(msg.header)
                commands.append(stamp if stamp > 0 else log_ns * 1e-9)
        elif topic == desc_topic:
            description = bag.decode(topic, raw).data
    if not t:
        raise InputError(f"no positions of all of {', '.join(arm)} on {joints_topic}: check robot.joints "
                         f"(names: {', '.join(sorted(latest)) or 'none'})")
    order = np.argsort(t, kind="stable")
    return _Scan({k: np.sort(np.array(v)) for k, v in stamps.items()}, np.array(t)[order],
                 np.array(q, dtype=np.float64)[order], np.sort(np.array(commands, dtype=np.float64)), description)


# --- motions ------------------------------------------------------------------------------


@dataclass
class _Motion:
    start: float  # s: the arm leaves its ready pose (or the command that moved it)
    first: int  # index of the first joint sample away from ready
    last: int  # index of the last joint sample away from ready
    settled: float  # s: back at ready and still, plus the settle time
    rest_since: float  # s: the arm has been at ready since (the before frame's earliest stamp)


def _tolerance(config: Ros2BackendConfig) -> float:
    return max(float(getattr(config.controller, "goal_tolerance", 0.01)), 1e-3)


def _motions(scan: _Scan, config: Ros2BackendConfig, skipped: list[str]) -> list[_Motion]:
    """Stretches of joint samples away from the ready pose that leave from it and come back to it."""
    ready = np.asarray(config.robot.ready, dtype=np.float64)
    at_ready = np.max(np.abs(scan.q - ready), axis=1) <= _tolerance(config)
    still = np.r_[False, np.max(np.abs(np.diff(scan.q, axis=0)), axis=1) <= STILL]
    settle = float(config.motion.settle_time)
    away = np.flatnonzero(~at_ready)
    if not len(away):
        return []
    runs = np.split(away, np.flatnonzero(np.diff(away) > 1) + 1)
    out: list[_Motion] = []
    rest_since = float(scan.t[0])
    for run in runs:
        first, last = int(run[0]), int(run[-1])
        if first == 0:
            skipped.append(f"the motion ending at {scan.t[last]:.3f} s: the bag starts with the arm away from ready")
            continue
        back = np.flatnonzero(at_ready[last + 1:] & still[last + 1:])
        if not len(back):
            skipped.append(f"the motion from {scan.t[first]:.3f} s: the arm is not back at ready and still "
                           "when the bag ends")
            continue
        start = float(scan.t[first - 1])
        cmds = scan.commands[(scan.commands > rest_since) & (scan.commands <= scan.t[first])]
        if len(cmds):
            start = min(start, float(cmds[0]))  # the images before the command show the arm at rest
        settled = float(scan.t[last + 1 + back[0]]) + settle
        out.append(_Motion(start, first, last, settled, rest_since))
        rest_since = settled
    return out


def _push_line(arm: UrdfArm, q: np.ndarray) -> tuple[np.ndarray, np.ndarray] | str:
    """(start, end) of the stretch where the tool is lowest and moves along the table; or why there is none."""
    p = np.array([arm.fk(qi)[:3, 3] for qi in q])
    low = p[:, 2] <= p[:, 2].min() + LOW_BAND
    idx = np.flatnonzero(low)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    run = max(runs, key=lambda r: float(np.linalg.norm(p[r[-1], :2] - p[r[0], :2])))
    xy = p[run, :2]
    d = xy[-1] - xy[0]
    if np.linalg.norm(d) < 1e-9:
        return "the tool did not move along the table at its lowest"
    d = d / np.linalg.norm(d)
    s = (xy - xy[0]) @ d
    if s.max() - s.min() < MIN_TRAVEL:
        return f"the tool moved {s.max() - s.min():.3f} m along the table at its lowest: not a push"
    z = float(np.median(p[run, 2]))
    start = np.r_[xy[0] + s.min() * d, z]
    end = np.r_[xy[0] + s.max() * d, z]
    return start, end


# --- frames ---------------------------------------------------------------------------------


def _triples(stamps: dict[str, np.ndarray], tol: float) -> list[tuple[float, float, float]]:
    """(colour, depth, info) stamps: each colour image with the nearest depth and info within ``tol``."""
    out = []
    for c in stamps["color"]:
        found = [c]
        for kind in ("depth", "info"):
            s = stamps[kind]
            if not len(s):
                break
            j = int(np.argmin(np.abs(s - c)))
            if abs(s[j] - c) > tol:
                break
            found.append(float(s[j]))
        if len(found) == 3:
            out.append(tuple(float(x) for x in found))
    return out


def _q_at(scan: _Scan, stamp: float) -> np.ndarray:
    """The joint state in force at ``stamp`` (the last one at or before it)."""
    i = int(np.searchsorted(scan.t, stamp, side="right")) - 1
    return scan.q[max(i, 0)]


def _at_ready(scan: _Scan, stamp: float, config: Ros2BackendConfig) -> bool:
    ready = np.asarray(config.robot.ready, dtype=np.float64)
    return float(np.max(np.abs(_q_at(scan, stamp) - ready))) <= _tolerance(config)


@dataclass
class _Planned:
    motion: _Motion
    before: tuple[float, float, float]
    after: tuple[float, float, float]
    line: tuple[np.ndarray, np.ndarray]


def _plan(scan: _Scan, motions: list[_Motion], arm: UrdfArm, config: Ros2BackendConfig,
          skipped: list[str]) -> list[_Planned]:
    triples = _triples(scan.image_stamps, float(config.camera.sync_tolerance))
    out = []
    for n, m in enumerate(motions):
        what = f"the motion at {m.start:.3f} s"
        until = motions[n + 1].start if n + 1 < len(motions) else np.inf
        before = [tr for tr in triples if m.rest_since <= tr[0] < m.start and _at_ready(scan, tr[0], config)]
        after = [tr for tr in triples if m.settled <= tr[0] < until and _at_ready(scan, tr[0], config)]
        if not before:
            skipped.append(f"{what}: no colour + depth + camera_info with the arm at ready before it")
            continue
        if not after:
            skipped.append(f"{what}: no colour + depth + camera_info after the arm settled at ready")
            continue
        line = _push_line(arm, scan.q[m.first - 1:m.last + 2])
        if isinstance(line, str):
            skipped.append(f"{what}: {line}")
            continue
        out.append(_Planned(m, before[-1], after[0], line))
    return out


class _InfoView:
    """A CameraInfo message with ROS 1 field names (K, P), as pushseg.robot.images reads them."""

    def __init__(self, msg) -> None:
        self.K = msg.K if hasattr(msg, "K") else msg.k
        self.P = msg.P if hasattr(msg, "P") else msg.p


def _load_messages(bag, config: Ros2BackendConfig, wanted: dict[str, set[float]]) -> dict[tuple[str, float], Any]:
    """The second pass: the camera messages with the stamps asked for, decoded."""
    names = _topic_names(config)
    topics = {names[k]: k for k in wanted}
    found: dict[tuple[str, float], Any] = {}
    for topic, _, raw in bag.messages(set(topics)):
        kind = topics[topic]
        stamp = _peek_stamp(raw, bag.ros)
        if stamp in wanted[kind] and (kind, stamp) not in found:
            found[(kind, stamp)] = bag.decode(topic, raw)
    return found


def _frame(msgs: dict, triple: tuple[float, float, float], scan: _Scan, arm: UrdfArm,
           config: Ros2BackendConfig) -> Frame:
    cam = config.camera
    color, depth_msg, info = msgs[("color", triple[0])], msgs[("depth", triple[1])], msgs[("info", triple[2])]
    rgb = images.color_to_rgb(color, cam.color)
    depth = images.depth_to_metres(depth_msg, cam.depth)
    K = images.intrinsics(_InfoView(info), cam.camera_info)
    w, h = int(info.width), int(info.height)
    for topic, arr in ((cam.color, rgb), (cam.depth, depth)):
        if arr.shape[:2] != (h, w):
            raise InputError(f"{topic} is {arr.shape[1]}x{arr.shape[0]} but {cam.camera_info} says {w}x{h}: "
                             "is the depth image registered (aligned) to the colour image?")
    T = cam.T_base_camera() if cam.pose == "fixed" else arm.fk(_q_at(scan, triple[0]), link=cam.frame)
    camera = CameraInfo(width=w, height=h, K=K, T_base_camera=np.asarray(T, dtype=np.float64),
                        frame_id=info.header.frame_id or cam.frame)
    return Frame(rgb=rgb, depth=depth, camera=camera, timestamp=triple[0])


# --- the whole import --------------------------------------------------------------------


def _load_arm(config: Ros2BackendConfig, scan: _Scan, path: Path) -> UrdfArm:
    robot = config.robot
    if robot.urdf:
        return UrdfArm.from_file(robot.urdf, robot.joints, robot.base_frame, robot.tool_frame)
    if scan.description is None:
        raise InputError(f"{path}: no URDF: the bag has no {robot.description_topic} message; give robot.urdf "
                         "(a file) in the robot config")
    return UrdfArm.from_xml(scan.description, robot.joints, robot.base_frame, robot.tool_frame)


def import_bag(bag_path: str | Path, config: Ros2BackendConfig | str | Path | None = None, *,
               arm: UrdfArm | None = None) -> BagImport:
    """The pushes a bag recorded, as transitions (episode 0, steps in order); InputError when there are none.

    ``config``: a :class:`Ros2BackendConfig`, a robot config file, or None (the
    defaults). ``arm``: the kinematics to use instead of the URDF's.
    """
    path = Path(bag_path)
    if not isinstance(config, Ros2BackendConfig):
        config = load_config(config, None)
    with open_bag(path) as bag:
        _check_topics(bag, path, config)
        scan = _scan(bag, config)
        skipped: list[str] = []
        motions = _motions(scan, config, skipped)
        own_arm = arm is None
        if own_arm:
            arm = _load_arm(config, scan, path)
        try:
            planned = _plan(scan, motions, arm, config, skipped)
            wanted: dict[str, set[float]] = {"color": set(), "depth": set(), "info": set()}
            for p in planned:
                for tr in (p.before, p.after):
                    for kind, s in zip(("color", "depth", "info"), tr):
                        wanted[kind].add(s)
            msgs = _load_messages(bag, config, wanted) if planned else {}
            transitions = _transitions(planned, msgs, scan, arm, config, "ros2" if bag.ros == 2 else "real", skipped)
        finally:
            if own_arm and hasattr(arm, "close"):
                arm.close()
        topics = dict(bag.topics)
    if not transitions:
        why = "; ".join(skipped) if skipped else (
            f"the arm never left its ready pose (robot.ready {list(config.robot.ready)}) on "
            f"{config.controller.joint_states}")
        raise InputError(f"{path}: no pushes found: {why}")
    return BagImport(path, "ros2" if bag.ros == 2 else "real", transitions, skipped, topics)


def _transitions(planned: list[_Planned], msgs: dict, scan: _Scan, arm: UrdfArm, config: Ros2BackendConfig,
                 backend: str, skipped: list[str]) -> list[Transition]:
    out = []
    for p in planned:
        before = _frame(msgs, p.before, scan, arm, config)
        after = _frame(msgs, p.after, scan, arm, config)
        start, end = p.line
        try:
            push = push_from_line(before.camera, before.depth, start, end)
        except InputError as e:
            skipped.append(f"the motion at {p.motion.start:.3f} s: {e}")
            continue
        result = PushResult(Outcome.EXECUTED, start_base=tuple(float(x) for x in start),
                            end_base=tuple(float(x) for x in end))
        out.append(Transition(before=before, after=after, push=push, result=result, backend=backend,
                              seed=None, episode=0, step=len(out)))
    return out
