"""The ros2 backend's settings: the robot config, typed dataclasses of the settings system.

``Ros2BackendConfig`` is the ``ros2`` section of :mod:`pushseg.config`
(``--config FILE`` with a ``ros2:`` section, ``--set ros2.safety.dry_run=false``)
and is registered with the "ros2" backend in :mod:`pushseg.backends`. The
defaults describe a Franka Panda with a RealSense-style camera; docs/ros2.md
explains every key. Unknown keys and values of the wrong type are errors that
name the key (the settings system), and every value is checked here, before
anything connects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from pushseg.config import from_dict, merge, to_dict
from pushseg.errors import InputError
from pushseg.geometry import quaternion_matrix

SECTION = "ros2"  # the section's name in settings files, --set and error messages
PANDA_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))


@dataclass(frozen=True)
class RobotConfig:
    urdf: str = ""  # a URDF file; "" reads description_topic (robot_state_publisher)
    description_topic: str = "/robot_description"  # std_msgs/String, transient local
    base_frame: str = "panda_link0"  # the link pushes are planned in
    tool_frame: str = "panda_grasptarget"  # the link that pushes (its origin touches the objects)
    joints: tuple[str, ...] = PANDA_JOINTS  # the arm's joints, in the order trajectories list them
    ready: tuple[float, ...] = (0.0, -1.2, 0.0, -2.8, 0.0, 1.6, 0.785)  # out of the camera's view: up and back
    ik_rest: tuple[float, ...] = (0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.785)  # the posture IK prefers over the table


@dataclass(frozen=True)
class ControllerConfig:
    trajectory_topic: str = "/panda_arm_controller/joint_trajectory"  # trajectory_msgs/JointTrajectory
    joint_states: str = "/joint_states"  # sensor_msgs/JointState
    goal_tolerance: float = 0.02  # rad: the arm has arrived when every joint is this close to the end


@dataclass(frozen=True)
class CameraConfig:
    color: str = "/camera/color/image_raw"  # sensor_msgs/Image, rgb8 or bgr8
    depth: str = "/camera/aligned_depth_to_color/image_raw"  # 16UC1 mm or 32FC1 m, registered to colour
    camera_info: str = "/camera/color/camera_info"  # of the colour image
    pose: str = "fixed"  # fixed: translation/rotation below; urdf: the link `frame` by forward kinematics
    frame: str = "camera_color_optical_frame"  # the colour optical frame (a URDF link when pose: urdf)
    translation: tuple[float, float, float] = (0.0, 0.0, 0.8)  # m, base_frame <- optical frame (hand-eye)
    rotation: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # quaternion x, y, z, w (looking down)
    max_image_age: float = 2.0  # s; older images (by stamp) are refused as stale
    sync_tolerance: float = 0.02  # s between the colour, depth and camera_info stamps of one frame

    def T_base_camera(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = quaternion_matrix(*self.rotation)
        T[:3, 3] = self.translation
        return T


@dataclass(frozen=True)
class PushConfig:
    hover_height: float = 0.10  # m above the table where the tool comes down to / leaves the push line
    speed: float = 0.05  # m/s along the push line
    waypoint_spacing: float = 0.01  # m between IK solutions along the line
    tool_yaw_deg: float = 0.0  # the tool points straight down; its turn about the vertical
    table_z: float | None = None  # table top height in base_frame; None: fitted to the depth image


@dataclass(frozen=True)
class MotionConfig:
    transit_velocity_scale: float = 0.3  # fraction of the joint velocity limits between poses
    settle_time: float = 0.3  # s to wait after a motion before taking an image


@dataclass(frozen=True)
class TableBox:
    x: tuple[float, float] = (0.10, 1.10)  # base_frame x of the table top
    y: tuple[float, float] = (-0.80, 0.80)  # base_frame y of the table top


@dataclass(frozen=True)
class WorkspaceBox:
    x: tuple[float, float] = (0.28, 0.68)  # base_frame x of every point of a push line
    y: tuple[float, float] = (-0.32, 0.32)  # base_frame y of every point of a push line
    z_above_table: tuple[float, float] = (0.005, 0.35)  # m above the table top


@dataclass(frozen=True)
class SafetyConfig:
    dry_run: bool = True  # plan and log every motion, send nothing (switch it off to move)
    table: TableBox = field(default_factory=TableBox)
    workspace: WorkspaceBox = field(default_factory=WorkspaceBox)
    max_push_length: float = 0.20  # m
    max_push_speed: float = 0.10  # m/s
    velocity_scale: float = 0.8  # never plan joints faster than this fraction of their URDF limits
    joint_limit_margin: float = 0.05  # rad every planned point stays inside the URDF limits
    link_clearance: float = 0.03  # m every link origin stays above the table over it


@dataclass(frozen=True)
class TimeoutsConfig:
    image: float = 5.0  # s for a fresh colour/depth/camera_info triple
    joint_states: float = 3.0  # s for the arm's joint positions (and for the controller to subscribe)
    robot_description: float = 5.0  # s for the URDF on description_topic
    motion_slack: float = 1.5  # motion wait = slack x trajectory duration + margin
    motion_margin: float = 5.0  # s added to the motion wait


@dataclass(frozen=True)
class NodeConfig:
    name: str = "pushseg_ros2"  # the ROS 2 node's name


@dataclass(frozen=True)
class RecordingConfig:
    file: str = ""  # an MCAP file (new) that receives every message read and sent; "" records nothing


@dataclass(frozen=True)
class Ros2BackendConfig:
    """Everything the ros2 backend reads. Satisfies :class:`pushseg.backends.BackendConfig`."""

    replayable: ClassVar[bool] = False  # one robot: episodes run in order, in one process

    robot: RobotConfig = field(default_factory=RobotConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    push: PushConfig = field(default_factory=PushConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    node: NodeConfig = field(default_factory=NodeConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)  # collect --record FILE

    def __post_init__(self) -> None:
        _check(self)

    def backend_kwargs(self) -> dict[str, Any]:
        return {"config": self, "record": self.recording.file or None}

    def describe(self) -> dict[str, Any]:
        return {"objects": {}, "world": {}}  # whatever is on the robot's table

    @property
    def dry_run(self) -> bool:
        return self.safety.dry_run

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Ros2BackendConfig:
        return from_dict(Ros2BackendConfig, merge(to_dict(self), overrides), SECTION)


def _check(c: Ros2BackendConfig) -> None:
    def fail(key: str, msg: str) -> None:
        raise InputError(f"ros2 config {key}: {msg}")

    topics = {"robot.description_topic": c.robot.description_topic, "controller.trajectory_topic":
              c.controller.trajectory_topic, "controller.joint_states": c.controller.joint_states,
              "camera.color": c.camera.color, "camera.depth": c.camera.depth, "camera.camera_info": c.camera.camera_info}
    for key, topic in topics.items():
        if not topic or not topic.strip() or " " in topic:
            fail(key, f"needs a topic name such as /camera/color/image_raw, got {topic!r}")
    for key in ("base_frame", "tool_frame"):
        if not getattr(c.robot, key):
            fail(f"robot.{key}", "needs a link name of the robot's URDF")
    if not c.robot.joints or len(set(c.robot.joints)) != len(c.robot.joints):
        fail("robot.joints", f"needs the arm's joint names, each once, got {list(c.robot.joints)!r}")
    for key in ("ready", "ik_rest"):
        pose = getattr(c.robot, key)
        if len(pose) != len(c.robot.joints) or not all(np.isfinite(pose)):
            fail(f"robot.{key}", f"needs {len(c.robot.joints)} joint positions (one per robot.joints), got {list(pose)!r}")
    if c.robot.urdf and not Path(c.robot.urdf).is_file():
        fail("robot.urdf", f"{c.robot.urdf} is not a file; give the robot's URDF, or \"\" to read "
                           f"{c.robot.description_topic}")
    if c.camera.pose not in ("fixed", "urdf"):
        fail("camera.pose", f"must be fixed (a hand-eye calibration) or urdf (a frame of the URDF), got {c.camera.pose!r}")
    if c.camera.pose == "urdf" and not c.camera.frame:
        fail("camera.frame", "needs the camera's link in the URDF with camera.pose: urdf")
    q = np.asarray(c.camera.rotation, dtype=np.float64)
    if not np.isfinite(q).all() or abs(np.linalg.norm(q) - 1.0) > 1e-3:
        fail("camera.rotation", f"needs a unit quaternion x, y, z, w, got {list(c.camera.rotation)!r}")
    positive = {"controller.goal_tolerance": c.controller.goal_tolerance, "camera.max_image_age": c.camera.max_image_age,
                "camera.sync_tolerance": c.camera.sync_tolerance, "push.hover_height": c.push.hover_height,
                "push.speed": c.push.speed, "push.waypoint_spacing": c.push.waypoint_spacing,
                "safety.max_push_length": c.safety.max_push_length, "safety.max_push_speed": c.safety.max_push_speed,
                **{f"timeouts.{k}": v for k, v in to_dict(c.timeouts).items()}}
    for key, value in positive.items():
        if not (np.isfinite(value) and value > 0):
            fail(key, f"must be a positive number, got {value!r}")
    if c.push.speed > c.safety.max_push_speed:
        fail("push.speed", f"{c.push.speed} m/s exceeds safety.max_push_speed {c.safety.max_push_speed} m/s")
    if not 0 < c.safety.velocity_scale <= 1.0:
        fail("safety.velocity_scale", f"must be in (0, 1], got {c.safety.velocity_scale!r}")
    if not 0 < c.motion.transit_velocity_scale <= c.safety.velocity_scale:
        fail("motion.transit_velocity_scale", "must be in (0, safety.velocity_scale]")
    if not 0 <= c.safety.joint_limit_margin <= 0.3:
        fail("safety.joint_limit_margin", f"must be radians in [0, 0.3], got {c.safety.joint_limit_margin!r}")
    for name, box, axes in (("table", c.safety.table, ("x", "y")),
                            ("workspace", c.safety.workspace, ("x", "y", "z_above_table"))):
        for axis in axes:
            lo, hi = getattr(box, axis)
            if not lo < hi:
                fail(f"safety.{name}.{axis}", f"needs [low, high] with low < high, got {[lo, hi]!r}")


def read_file(path: str | Path) -> dict[str, Any]:
    """The ``ros2`` mapping of a YAML file: the section itself, or a settings file with a ``ros2:`` section."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"robot config {p} does not exist; pass a YAML file such as examples/panda_ros2.yaml")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"robot config {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(f"robot config {p} must hold a mapping at the top level")
    if SECTION in data:
        section = data[SECTION] or {}
        if not isinstance(section, dict):
            raise InputError(f"robot config {p}: the {SECTION}: section must be a mapping")
        return section
    known = {f for f in Ros2BackendConfig.__dataclass_fields__}
    if data and not set(data) & known:
        raise InputError(f"robot config {p} has no {SECTION}: section (top-level keys: {', '.join(map(str, data))})")
    return data


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Ros2BackendConfig:
    """Panda defaults, merged with the robot config at ``path`` and then with ``overrides`` (nested mappings)."""
    data: dict[str, Any] = read_file(path) if path is not None else {}
    if overrides:
        data = merge(data, overrides)
    return from_dict(Ros2BackendConfig, data, SECTION)
