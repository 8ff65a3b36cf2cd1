"""The real backend's settings: typed dataclasses of the settings system, PR2 defaults as their defaults.

``RealBackendConfig`` is the "real" section of :mod:`pushseg.config` (``--config
FILE``, ``--set real.safety.max_push_speed=0.05``) and is registered with the
"real" backend in :mod:`pushseg.backends`. Its defaults are the values of
``pr2_defaults.yaml`` (a test keeps the two equal); that file documents every
value and is the template of a user file.

A user file (``--real-config FILE``, ``$PUSHSEG_REAL_CONFIG``) only lists what
it changes; it is merged key by key into the defaults. Unknown keys and values
of the wrong type are errors that name the key (a typo must not silently keep
a default on a real robot), and every value is checked here, before anything
connects to ROS.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from pushseg.config import from_dict, merge, to_dict
from pushseg.errors import InputError
from pushseg.geometry import resolve_push
from pushseg.real import kinematics as kin

# The tool runs this high above the table: resolve_push's default, as in the simulation.
PUSH_HEIGHT = float(inspect.signature(resolve_push).parameters["push_height"].default)

DEFAULTS_FILE = Path(__file__).with_name("pr2_defaults.yaml")
ENV_CONFIG = "PUSHSEG_REAL_CONFIG"  # a user file, when none is given
ENV_DRY_RUN = "PUSHSEG_REAL_DRY_RUN"  # 1: dry run, when not set otherwise
SECTION = "real"  # the section's name in settings files, --set and error messages

Pose = tuple[float, ...]  # 7 joint angles: shoulder_pan, shoulder_lift, upper_arm_roll, elbow_flex, ...


# --- the sections of pr2_defaults.yaml ------------------------------------------------------


@dataclass(frozen=True)
class ArmActionTopics:
    r: str = "/r_arm_controller/joint_trajectory_action"  # the right arm's JointTrajectoryAction
    l: str = "/l_arm_controller/joint_trajectory_action"  # the left arm's JointTrajectoryAction


@dataclass(frozen=True)
class TopicsConfig:
    color: str = "/kinect2/qhd/image_color_rect"  # sensor_msgs/Image, bgr8, rectified
    depth: str = "/kinect2/qhd/image_depth_rect"  # sensor_msgs/Image, 16UC1 mm, registered to colour
    camera_info: str = "/kinect2/qhd/camera_info"  # sensor_msgs/CameraInfo of the rectified images
    joint_states: str = "/joint_states"  # sensor_msgs/JointState
    motors_halted: str = "/pr2_ethercat/motors_halted"  # std_msgs/Bool, true while the run-stop is pressed
    arm_action: ArmActionTopics = field(default_factory=ArmActionTopics)  # per arm

    def arm(self, side: str) -> str:
        return getattr(self.arm_action, side)


@dataclass(frozen=True)
class FramesConfig:
    base: str = "base_link"  # the robot's frame, where pushes are planned
    camera: str = "head_mount_kinect2_rgb_optical_frame"  # the colour optical frame (when camera_info has none)


@dataclass(frozen=True)
class OutOfViewPoses:
    # The tucked poses of pr2_common_actions, moved inside their soft limits (pr2_defaults.yaml).
    r: Pose = (-0.023593, 1.10728, -1.5566882, -2.09, -1.4175, -1.8417, 0.21436)  # right arm
    l: Pose = (0.06024, 1.248526, 1.78907, -1.683386, -1.7343417, -0.13, -0.0864407)  # left arm


@dataclass(frozen=True)
class ViaPoses:
    r: tuple[Pose, ...] = (  # right arm, from out_of_view towards the table
        (-2.1, 0.56, -2.39, -2.09, -0.27, -0.92, 0.43),
        (-0.927, -0.32, -0.909, -1.692, -0.933, -1.95, -2.036),
    )
    l: tuple[Pose, ...] = (  # left arm, from out_of_view towards the table
        (-0.53, 1.26, 1.5, -2.01, -1.69, -1.38, -0.26),
        (2.1, 0.56, 2.39, -2.09, 0.27, -0.92, -0.43),
        (0.927, -0.32, 0.909, -1.692, 0.933, -1.95, 2.036),
    )


@dataclass(frozen=True)
class IkRestPoses:
    r: Pose = (-0.5, 0.0, -1.0, -1.45, -1.6, -1.9, 0.0)  # right arm: elbow out and up, gripper over the table
    l: Pose = (0.5, 0.0, 1.0, -1.45, 1.6, -1.9, 0.0)  # left arm


@dataclass(frozen=True)
class ArmsConfig:
    use: tuple[str, ...] = ("r", "l")  # arms allowed to push; the one on the push's side is tried first
    out_of_view: OutOfViewPoses = field(default_factory=OutOfViewPoses)  # where the arms wait for an image
    via: ViaPoses = field(default_factory=ViaPoses)  # passed through between out_of_view and the table
    ik_rest: IkRestPoses = field(default_factory=IkRestPoses)  # the posture the IK prefers
    out_of_view_tolerance: float = 0.1  # rad; an arm further than this from out_of_view is moved there


@dataclass(frozen=True)
class PushConfig:
    gripper_pitch_deg: float = 45.0  # gripper leans this far below horizontal (90 = straight down)
    waypoint_spacing: float = 0.01  # m between IK samples along the push line
    hover_height: float = 0.12  # m above the table where the gripper comes down to / leaves the push line
    speed: float = 0.05  # m/s along the push line
    table_z: float | None = None  # table top height in base_link; None: fit a plane to the depth image


@dataclass(frozen=True)
class MotionConfig:
    transit_velocity_scale: float = 0.4  # fraction of the joint velocity limits used between poses
    settle_time: float = 0.3  # s to wait after a move before taking an image


@dataclass(frozen=True)
class TableBox:
    x: tuple[float, float] = (0.30, 1.30)  # base_link x of the table top (measure your table)
    y: tuple[float, float] = (-0.80, 0.80)  # base_link y of the table top


@dataclass(frozen=True)
class WorkspaceBox:
    x: tuple[float, float] = (0.40, 0.85)  # base_link x of every point of a push line
    y: tuple[float, float] = (-0.45, 0.45)  # base_link y of every point of a push line
    z_above_table: tuple[float, float] = (0.01, 0.35)  # m above the table top; the floor sits 1 cm above it


@dataclass(frozen=True)
class SafetyConfig:
    dry_run: bool = False  # true: plan and log every step, send nothing
    table: TableBox = field(default_factory=TableBox)  # where the table top is
    workspace: WorkspaceBox = field(default_factory=WorkspaceBox)  # box every push line must lie in
    link_clearance: float = 0.05  # m the elbow and wrist stay above the table over the workspace
    max_push_length: float = 0.20  # m
    max_push_speed: float = 0.10  # m/s
    velocity_scale: float = 0.9  # never plan joints faster than this fraction of their limits
    soft_limit_margin: float = 0.03  # rad every planned point stays inside the soft joint limits
    require_motors_halted_topic: bool = True  # refuse to move without a word from the run-stop topic


@dataclass(frozen=True)
class TimeoutsConfig:
    image: float = 5.0  # s for a fresh colour/depth/camera_info triple
    tf: float = 3.0  # s for the camera's transform
    joint_states: float = 3.0  # s for the arms' joint positions
    motors_halted: float = 3.0  # s for the run-stop topic
    action_server: float = 5.0  # s for an arm's action server (and for the ROS master)
    result_slack: float = 1.5  # result wait = slack x trajectory duration + margin
    result_margin: float = 5.0  # s added to the result wait


@dataclass(frozen=True)
class CameraConfig:
    max_image_age: float = 2.0  # s; images older than this (by their stamp) are refused as stale
    depth_window: int = 2  # median over a (2r+1)^2 window, zeros skipped
    tf_at_image_stamp: bool = True  # camera pose from tf at each image's stamp; false: the latest


@dataclass(frozen=True)
class RecordingConfig:
    file: str = ""  # an MCAP file (new) that receives every message read; "" records nothing


# --- the whole section ----------------------------------------------------------------------


@dataclass(frozen=True)
class RealBackendConfig:
    """Everything the real backend reads; pr2_defaults.yaml documents each value.

    Satisfies :class:`pushseg.backends.BackendConfig`. Make one from mappings with
    :func:`load_config` (or ``pushseg.config.from_dict``); every value is checked
    on construction.
    """

    replayable: ClassVar[bool] = False  # one robot: episodes run in order, in one process

    topics: TopicsConfig = field(default_factory=TopicsConfig)  # ROS topics it reads and commands
    frames: FramesConfig = field(default_factory=FramesConfig)  # tf frames
    arms: ArmsConfig = field(default_factory=ArmsConfig)  # which arms push, and their poses
    push: PushConfig = field(default_factory=PushConfig)  # how a push is carried out
    motion: MotionConfig = field(default_factory=MotionConfig)  # moves between poses
    safety: SafetyConfig = field(default_factory=SafetyConfig)  # limits nothing may cross
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)  # every wait ends with a clear error
    camera: CameraConfig = field(default_factory=CameraConfig)  # which images are used
    node_name: str = "pushseg_real"  # the ROS node's name (anonymous: a suffix is added)
    recording: RecordingConfig = field(default_factory=RecordingConfig)  # collect --record FILE

    def __post_init__(self) -> None:
        _check(self)

    # --- pushseg.backends.BackendConfig ---

    def backend_kwargs(self) -> dict[str, Any]:
        return {"config": self, "record": self.recording.file or None}

    def describe(self) -> dict[str, Any]:
        return {"objects": {}, "world": {}}  # whatever is on the robot's table

    # --- typed helpers ---

    @property
    def dry_run(self) -> bool:
        return self.safety.dry_run

    def arm_pose(self, kind: str, side: str) -> np.ndarray:
        """``out_of_view`` or ``ik_rest`` of one arm, (7,)."""
        return np.array(getattr(getattr(self.arms, kind), side), dtype=np.float64)

    def via_poses(self, side: str) -> list[np.ndarray]:
        return [np.array(p, dtype=np.float64) for p in getattr(self.arms.via, side)]

    def get(self, dotted: str) -> Any:
        """One value by its dotted key (``"safety.max_push_length"``), as written in a settings file."""
        node: Any = self
        for part in dotted.split("."):
            node = getattr(node, part)
        return node

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def with_overrides(self, overrides: Mapping[str, Any]) -> RealBackendConfig:
        """A copy with ``overrides`` (a nested mapping, e.g. ``{"safety": {"dry_run": True}}``) merged in."""
        return from_dict(RealBackendConfig, merge(to_dict(self), overrides), SECTION)


def _check(c: RealBackendConfig) -> None:
    """Ranges and cross-checks; the types are the settings system's (``from_dict``)."""

    def fail(key: str, msg: str) -> None:
        raise InputError(f"real-robot config {key}: {msg}")

    arms, push, safety, ws = c.arms, c.push, c.safety, c.safety.workspace
    if not arms.use or any(s not in ("r", "l") for s in arms.use):
        fail("arms.use", f"must list 'r' and/or 'l', got {list(arms.use)!r}")
    for kind in ("out_of_view", "ik_rest"):
        for side in ("r", "l"):
            v = getattr(getattr(arms, kind), side)
            if len(v) != 7:
                fail(f"arms.{kind}.{side}", f"needs 7 joint angles, got {list(v)!r}")
    for side in ("r", "l"):
        poses = getattr(arms.via, side)
        if any(len(p) != 7 for p in poses):
            fail(f"arms.via.{side}", f"needs a list of poses of 7 joint angles each, got {[list(p) for p in poses]!r}")
    margin = safety.soft_limit_margin
    if not 0 <= margin <= 0.2:
        fail("safety.soft_limit_margin", f"must be radians in [0, 0.2], got {margin!r}")
    # Commanded poses must lie inside the soft limits: a PR2 holds a joint at its soft limit and the goal fails.
    for kind in ("out_of_view", "via"):
        for side in ("r", "l"):
            poses = [c.arm_pose(kind, side)] if kind == "out_of_view" else c.via_poses(side)
            for i, pose in enumerate(poses):
                bad = kin.pr2_arm(side).soft_limit_violations(pose, margin)
                if bad:
                    where = f"arms.{kind}.{side}" + (f"[{i}]" if kind == "via" else "")
                    fail(where, f"{'; '.join(bad)}: move it inside the PR2's soft joint limits (docs/pr2.md)")
    for key in ("waypoint_spacing", "hover_height", "speed"):
        if not getattr(push, key) > 0:
            fail(f"push.{key}", f"must be positive, got {getattr(push, key)!r}")
    if push.speed > safety.max_push_speed:
        fail("push.speed", f"{push.speed} m/s exceeds safety.max_push_speed {safety.max_push_speed} m/s")
    if not 0 < safety.velocity_scale <= 1.0:
        fail("safety.velocity_scale", f"must be in (0, 1], got {safety.velocity_scale!r}")
    if not 0 < c.motion.transit_velocity_scale <= safety.velocity_scale:
        fail("motion.transit_velocity_scale", "must be in (0, safety.velocity_scale]")
    for name, box, axes in (("table", safety.table, ("x", "y")), ("workspace", ws, ("x", "y", "z_above_table"))):
        for axis in axes:
            lo, hi = getattr(box, axis)
            if not lo < hi:
                fail(f"safety.{name}.{axis}", f"needs [low, high] with low < high, got {[lo, hi]!r}")
    if not 0 < push.gripper_pitch_deg <= 90:
        fail("push.gripper_pitch_deg", f"must be in (0, 90] degrees, got {push.gripper_pitch_deg!r}")
    if PUSH_HEIGHT <= ws.z_above_table[0]:
        fail("safety.workspace.z_above_table",
             f"the floor {ws.z_above_table[0]} m must lie below the push height {PUSH_HEIGHT} m above the table")
    for key, value in to_dict(c.timeouts).items():
        if not value > 0:
            fail(f"timeouts.{key}", f"must be positive seconds, got {value!r}")


# --- files and the environment ----------------------------------------------------------------


def read_file(path: str | Path) -> dict[str, Any]:
    """A user file: a mapping in the layout of pr2_defaults.yaml (checked when it becomes a config)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"real-robot config file {p} does not exist; pass a YAML file (see {DEFAULTS_FILE})")
    try:
        user = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"real-robot config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(user, dict):
        raise InputError(f"real-robot config file {p} must hold a mapping at the top level")
    return user


def env_file() -> str | None:
    """``$PUSHSEG_REAL_CONFIG``, the user file to use when none is given."""
    return os.environ.get(ENV_CONFIG) or None


def env_dry_run() -> bool:
    """``$PUSHSEG_REAL_DRY_RUN`` set to anything but 0/false/no: a dry run, unless told otherwise."""
    return os.environ.get(ENV_DRY_RUN, "").strip().lower() not in ("", "0", "false", "no")


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> RealBackendConfig:
    """PR2 defaults, merged with the YAML file at ``path`` and then with ``overrides`` (nested mappings)."""
    data: dict[str, Any] = read_file(path) if path is not None else {}
    if overrides:
        data = merge(data, overrides)
    return from_dict(RealBackendConfig, data, SECTION)
