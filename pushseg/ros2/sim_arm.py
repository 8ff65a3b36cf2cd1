"""A simulated Franka Panda on ROS 2, driven by the PyBullet tabletop: for tests, demos and users without a robot.

It speaks what a Panda under ros2_control with an RGB-D camera speaks, so the
ros2 backend can be run end to end on one machine:

* ``/robot_description`` (std_msgs/String, transient local): the Panda's URDF from
  ``pybullet_data``; with ``--camera-in-urdf`` it has a fixed joint
  panda_link0 -> camera_color_optical_frame at the camera's pose;
* ``/joint_states`` at 50 Hz: the seven arm joints and the two finger joints (fixed);
* ``/camera/color/image_raw`` (rgb8, or ``--color-encoding bgr8``),
  ``/camera/aligned_depth_to_color/image_raw`` (16UC1 mm, 0 = no reading, or
  ``--depth-encoding 32FC1`` metres, NaN = none) and ``/camera/color/camera_info``,
  one stamp per frame, frame camera_color_optical_frame, at ``--rate`` Hz;
* ``/panda_arm_controller/joint_trajectory`` (trajectory_msgs/JointTrajectory), as
  joint_trajectory_controller takes it: played back in time from where the arm is
  (``--time-scale``), linearly in joint space; a trajectory naming other joints or
  with a point beyond the URDF's joint limits is refused (logged) and the arm does
  not move; a new one replaces the running one; an empty one stops the arm.

The world is the simulation's base_link; the Panda's panda_link0 stands on the
table's front edge at :data:`MOUNT`. Wherever the tool frame (panda_grasptarget,
by forward kinematics of the motion) comes down near the table, the simulated
pusher follows it, so the arm's motion pushes the objects. The arm's links are
not simulated or drawn: the images show the scene with the arm out of view (the
backend takes images only with the arm at its ready pose), and none are published
while the arm moves. After a motion the scene is rendered anew before images
resume and before the final joint state is reported, so an image stamped after the
arm settled shows the scene after the push.

The simulation is made through the backend registry and used only through
:class:`pushseg.backends.SimulatedBackend`, in :class:`SimulatedArm`, which needs no ROS.

Run: ``python -m pushseg.ros2.sim_arm --seed 0``; ``--print-calibration`` prints the
camera's pose in panda_link0 as the ros2 config's ``camera`` section. Options make
it misbehave for tests: ``--silent-camera``.
"""

from __future__ import annotations

import argparse
import array
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pybullet_data

from pushseg import backends
from pushseg.backends import SimulatedBackend
from pushseg.errors import BackendError, InputError
from pushseg.geometry import matrix_quaternion
from pushseg.robot import images
from pushseg.ros2.kinematics import UrdfArm
from pushseg.ros2.rclenv import ensure_rclpy
from pushseg.types import Frame, ObjectMotion

MOUNT = (0.20, 0.0, 0.699)  # panda_link0 in the simulation's base_link (world): on the table's front edge
ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
FINGERS = 0.0  # closed: the arm pushes with its fingertips
BASE_FRAME = "panda_link0"
TOOL_FRAME = "panda_grasptarget"
CAMERA_FRAME = "camera_color_optical_frame"
READY = (0.0, -1.2, 0.0, -2.8, 0.0, 1.6, 0.785)  # arm up and back, out of the camera's view
LOW_ABOVE_TABLE = 0.14  # the pusher only matters below this height above the table (objects are <= ~12 cm)
ON_TABLE = 0.012  # the tool point is 1 cm above the fingertip: the table stops it this high
STEP_RAD = 0.02  # joint-space interpolation step
LIMIT_TOLERANCE = 1e-6  # rad: refused only beyond the URDF's limits themselves


def panda_urdf_path() -> str:
    return os.path.join(pybullet_data.getDataPath(), "franka_panda", "panda.urdf")


def mount_transform(mount: Sequence[float] = MOUNT) -> np.ndarray:
    """T_world_link0: panda_link0 in the world, a translation only."""
    T = np.eye(4)
    T[:3, 3] = np.asarray(mount, dtype=np.float64)
    return T


def camera_in_base(T_world_camera: np.ndarray, mount: Sequence[float] = MOUNT) -> np.ndarray:
    """T_link0_camera = inv(T_world_link0) @ T_world_camera: the calibration a Panda user would have."""
    return np.linalg.inv(mount_transform(mount)) @ np.asarray(T_world_camera, dtype=np.float64)


def calibration_yaml(T_link0_camera: np.ndarray, comment: str = "") -> str:
    """The ros2 config's fixed camera pose (base frame <- colour optical frame) as YAML."""
    t = [round(float(v), 6) for v in T_link0_camera[:3, 3]]
    q = [round(float(v), 6) for v in matrix_quaternion(T_link0_camera[:3, :3])]
    head = f"# {comment}\n" if comment else ""
    return (f"{head}ros2:\n  camera:\n    pose: fixed\n"
            f"    translation: [{', '.join(map(repr, t))}]\n    rotation: [{', '.join(map(repr, q))}]\n")


def matrix_rpy(R: np.ndarray) -> tuple[float, float, float]:
    """URDF roll, pitch, yaw of R = Rz(yaw) @ Ry(pitch) @ Rx(roll) (the inverse of geometry.rpy_matrix)."""
    pitch = float(np.arctan2(-R[2, 0], np.hypot(R[0, 0], R[1, 0])))
    if np.hypot(R[0, 0], R[1, 0]) < 1e-9:  # gimbal lock: put all of the turn into roll
        return float(np.arctan2(-R[1, 2], R[1, 1])), pitch, 0.0
    return float(np.arctan2(R[2, 1], R[2, 2])), pitch, float(np.arctan2(R[1, 0], R[0, 0]))


def urdf_with_camera(urdf: str, T_base_camera: np.ndarray, base: str = BASE_FRAME, frame: str = CAMERA_FRAME) -> str:
    """The URDF with a fixed joint base -> the camera's optical frame, so a backend can read the pose from it."""
    xyz = " ".join(f"{float(v):.9g}" for v in T_base_camera[:3, 3])
    rpy = " ".join(f"{v:.9g}" for v in matrix_rpy(T_base_camera[:3, :3]))
    extra = (f'  <link name="{frame}"/>\n  <joint name="{frame}_joint" type="fixed">\n'
             f'    <parent link="{base}"/>\n    <child link="{frame}"/>\n'
             f'    <origin xyz="{xyz}" rpy="{rpy}"/>\n  </joint>\n')
    end = urdf.rfind("</robot>")
    if end < 0:
        raise InputError("the URDF has no </robot> end tag")
    return urdf[:end] + extra + urdf[end:]


@dataclass(frozen=True)
class Trajectory:
    """A checked trajectory: joint positions in the arm's order and their times from start (s)."""

    points: np.ndarray  # (N, 7)
    times: np.ndarray  # (N,)


def check_trajectory(arm: UrdfArm, names: Sequence[str], points: Sequence[tuple[Sequence[float], float]]) -> Trajectory:
    """What joint_trajectory_controller would accept, reordered to the arm's joints; else InputError why.

    ``points``: (positions, time_from_start in s) each, in the order of ``names``.
    An empty list is valid (it stops the arm).
    """
    names = list(names)
    joints = list(arm.joint_names)
    if len(set(names)) != len(names) or sorted(names) != sorted(joints):
        raise InputError(f"joint_names {names} are not the arm's joints {joints}")
    order = [names.index(n) for n in joints]
    out, times = [], []
    for i, (positions, t) in enumerate(points):
        q = np.asarray(positions, dtype=np.float64)
        if q.shape != (len(names),) or not np.all(np.isfinite(q)):
            raise InputError(f"point {i} has {q.size} positions (finite ones expected: {len(names)})")
        if not np.isfinite(t) or t < 0 or (times and t <= times[-1]):
            raise InputError(f"point {i}: time_from_start {t} s must be finite and increase from point to point")
        q = q[order]
        beyond = [f"{j} {v:.4f} outside [{lo:.4f}, {hi:.4f}]" for j, v, lo, hi in zip(joints, q, arm.lower, arm.upper)
                  if v < lo - LIMIT_TOLERANCE or v > hi + LIMIT_TOLERANCE]
        if beyond:
            raise InputError(f"point {i} beyond the URDF's joint limits: {'; '.join(beyond)}")
        out.append(q)
        times.append(float(t))
    return Trajectory(np.array(out).reshape(-1, len(joints)), np.array(times))


class SimulatedArm:
    """The simulated Panda's world, without ROS: the simulation, the arm's joints and its tool.

    ``sim`` is used only through :class:`pushseg.backends.SimulatedBackend`; its
    table is read as it really is. PyBullet (the simulation and the arm's
    kinematics) is called only under ``sim_lock``.
    """

    def __init__(self, sim: SimulatedBackend, arm: UrdfArm, seed: int, *, start: Sequence[float] = READY,
                 mount: Sequence[float] = MOUNT, motion_log: str = "") -> None:
        if not isinstance(sim, SimulatedBackend):
            raise BackendError(f"the simulated arm needs a simulation that follows tool paths (pushseg.backends."
                               f"SimulatedBackend); {type(sim).__name__} is not one")
        self.sim, self.arm = sim, arm
        self.T_world_link0 = mount_transform(mount)
        self.motion_log = motion_log
        self.sim_lock = threading.RLock()
        self.state_lock = threading.Lock()
        self.on_push: Callable[[tuple[ObjectMotion, ...], int], None] | None = None  # told after every stretch
        q = np.asarray(start, dtype=np.float64)
        check_trajectory(arm, arm.joint_names, [(q, 0.0)])  # the start pose must be inside the limits
        self._q = q.copy()
        with self.sim_lock:
            self.first_frame = sim.reset(seed)

    @property
    def q(self) -> np.ndarray:
        with self.state_lock:
            return self._q.copy()

    def T_base_camera(self) -> np.ndarray:
        """The simulation's (believed) camera in panda_link0."""
        return camera_in_base(self.sim.camera.T_base_camera, self.T_world_link0[:3, 3])

    def image(self) -> Frame:
        """A new image of the scene (the arm is never in it)."""
        with self.sim_lock:
            return self.sim.render()

    def tool_world(self, q: np.ndarray) -> np.ndarray:
        with self.sim_lock:
            T = self.arm.fk(np.asarray(q, dtype=np.float64))
        return (self.T_world_link0 @ T)[:3, 3]

    def _low(self, tool: np.ndarray) -> bool:
        table = self.sim.table
        return bool(tool[2] < table.top_z + LOW_ABOVE_TABLE and table.x[0] < tool[0] < table.x[1]
                    and table.y[0] < tool[1] < table.y[1])

    def move(self, points: Sequence[np.ndarray], wait: Callable[[int, float], bool],
             show: Callable[[np.ndarray, bool], None] | None = None) -> bool:
        """Move the arm through the joint ``points`` (the first: where it is now), linearly in joint space.

        ``wait(i, s)`` paces the motion (before the arm is at fraction ``s`` of
        segment ``i``) and returns False to stop the arm where it is; ``show(q, last)``
        is told each position reached. The pusher follows the tool wherever it comes
        down near the table. True when the arm got to the end.
        """
        points = [np.asarray(q, dtype=np.float64) for q in points]
        pending: list[np.ndarray] = []  # tool points of the current low (near-table) stretch
        finished = True
        for i in range(1, len(points)):
            n = max(1, int(np.ceil(np.max(np.abs(points[i] - points[i - 1])) / STEP_RAD)))
            for s in np.linspace(0.0, 1.0, n + 1)[1:]:
                if not wait(i, float(s)):
                    finished = False
                    break
                q = points[i - 1] + s * (points[i] - points[i - 1])
                pending = self._follow(self.tool_world(q), pending)
                with self.state_lock:
                    self._q = q
                if show is not None:
                    show(q, i == len(points) - 1 and s == 1.0)
            if not finished:
                break
        if pending:
            self.push_along(pending)
        return finished

    def _follow(self, tool: np.ndarray, pending: list[np.ndarray]) -> list[np.ndarray]:
        """Add a tool point to the low stretch, or push along the stretch once the tool has left it."""
        if self._low(tool):
            tool = np.array([tool[0], tool[1], max(tool[2], self.sim.table.top_z + ON_TABLE)])
            if not pending or np.linalg.norm(tool - pending[-1]) >= 0.005:
                pending.append(tool)
            return pending
        if pending:
            self.push_along(pending)
        return []

    def push_along(self, tool_points: list[np.ndarray]) -> tuple[ObjectMotion, ...]:
        with self.sim_lock:
            motions = self.sim.execute_path(np.array(tool_points))
        if self.motion_log:  # ground truth for tests: one JSON line per stretch of pushing
            with open(self.motion_log, "a") as f:
                f.write(json.dumps({"t": time.time(), "points": len(tool_points), "start": np.round(tool_points[0], 4).tolist(),
                                    "end": np.round(tool_points[-1], 4).tolist(),
                                    "motions": [m.to_dict() for m in motions]}) + "\n")
        if self.on_push is not None:
            self.on_push(motions, len(tool_points))
        return motions

    def close(self) -> None:
        with self.sim_lock:
            self.sim.close()
            self.arm.close()


def make_world(args: argparse.Namespace) -> SimulatedArm:
    """The simulation through the backend registry (pushseg.ros2 never imports pushseg.envs), and the Panda."""
    sim = backends.make_backend(args.backend, objects=args.objects, width=args.width, height=args.height,
                                region_x=tuple(args.region_x), region_y=tuple(args.region_y), world=args.world)
    try:
        arm = UrdfArm.from_file(panda_urdf_path(), list(ARM_JOINTS), BASE_FRAME, TOOL_FRAME)
    except BaseException:
        sim.close()
        raise
    try:
        return SimulatedArm(sim, arm, args.seed, start=args.start_pose, motion_log=args.motion_log)
    except BaseException:
        sim.close()
        arm.close()
        raise


_STOP = object()  # an empty trajectory: stop where the arm is


ARRIVAL_MARGIN = 0.06  # rad: above any sensible goal tolerance of a client (ros2 default 0.02)


class TrajectoryPlayer:
    """joint_trajectory_controller's playback, without ROS: one motion thread for the world's arm.

    :meth:`submit` a checked trajectory: it replaces the running one (an empty one
    stops the arm where it is). ``shown`` is the pose to report: the final pose of a
    motion is shown only after the scene was rendered anew (``on_frame(frame)``) and
    images may go out again (``moving`` False, then ``on_resumed()``); then
    ``on_arrived()``. No image is rendered between a trajectory and the one replacing it.
    """

    def __init__(self, world: SimulatedArm, time_scale: float = 1.0, *,
                 on_frame: Callable[[Frame], None] | None = None, on_resumed: Callable[[], None] | None = None,
                 on_arrived: Callable[[], None] | None = None) -> None:
        self.world, self.time_scale = world, float(time_scale)
        self.on_frame, self.on_resumed, self.on_arrived = on_frame, on_resumed, on_arrived
        self.lock = threading.Lock()
        self.moving = False
        self.shown = world.q
        self.frames = 0  # scenes rendered after motions
        self._request = None
        self._wake = threading.Condition(self.lock)
        self._interrupt = threading.Event()
        self._closing = False
        self._worker = threading.Thread(target=self._loop, name="sim-arm-motion", daemon=True)
        self._worker.start()

    def submit(self, traj: Trajectory) -> None:
        with self._wake:
            self._request = traj if len(traj.points) else _STOP
            self._interrupt.set()
            self._wake.notify()

    def _next(self):
        """The next request (None: closing); marks the arm as moving unless it is a stop of a resting arm."""
        with self._wake:
            while True:
                while self._request is None and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return None
                request, self._request = self._request, None
                self._interrupt.clear()
                if request is not _STOP or self.moving:
                    self.moving = True
                    return request

    def _loop(self) -> None:
        while (request := self._next()) is not None:
            if request is not _STOP:
                self._play(request)
            with self._wake:
                if self._request is not None and self._request is not _STOP and not self._closing:
                    continue  # replaced: the arm goes on moving
            self._settled()

    def _play(self, traj: Trajectory) -> bool:
        points = [self.world.q, *traj.points]
        times = [0.0, *traj.times.tolist()]
        t0 = time.monotonic()

        def wait(i: int, s: float) -> bool:
            """Play back in (scaled) time; a new trajectory, an empty one or closing stops the arm where it is."""
            due = t0 + self.time_scale * (times[i - 1] + s * (times[i] - times[i - 1]))
            while True:
                if self._interrupt.is_set() or self._closing:
                    return False
                left = due - time.monotonic()
                if left <= 0:
                    return True
                self._interrupt.wait(min(0.01, left))

        final = np.asarray(points[-1], dtype=np.float64)

        def show(q: np.ndarray, last: bool) -> None:
            # The final pose is shown only after the scene is rendered anew; poses closer to it than
            # ARRIVAL_MARGIN are not shown either, so no client tolerance mistakes them for arrival.
            if not last and float(np.max(np.abs(np.asarray(q) - final))) > ARRIVAL_MARGIN:
                with self.lock:
                    self.shown = q

        return self.world.move(points, wait, show)

    def _settled(self) -> None:
        frame = self.world.image()
        if self.on_frame is not None:
            self.on_frame(frame)
        with self.lock:
            self.moving = False
            self.frames += 1
        if self.on_resumed is not None:
            self.on_resumed()
        with self.lock:
            self.shown = self.world.q
        if self.on_arrived is not None:
            self.on_arrived()

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._interrupt.set()
            self._wake.notify()
        self._worker.join(timeout=10.0)


# --- the ROS 2 node ------------------------------------------------------------------------

class SimArmNode:
    """The node: publishers, the trajectory subscription, and the motion thread."""

    def __init__(self, args: argparse.Namespace, world: SimulatedArm) -> None:
        import rclpy
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        self.args, self.world = args, world
        self._shutdown_errors = (KeyboardInterrupt, ExternalShutdownException)
        self._Image, self._CameraInfo, self._JointState = Image, CameraInfo, JointState
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)  # ours: see spin()
        self.node = rclpy.create_node("sim_arm", context=self.context)
        self.log = self.node.get_logger()
        world.on_push = self._push_logged
        self.lock = threading.Lock()
        self.camera_msgs: tuple | None = None
        self._make_camera_msgs(world.first_frame)

        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.pub_description = self.node.create_publisher(String, args.description_topic, latched)
        self.pub_description.publish(String(data=self.description()))
        self.pub_joints = self.node.create_publisher(JointState, args.joint_states_topic, 10)
        self.pub_color = self.node.create_publisher(Image, args.color_topic, 5)
        self.pub_depth = self.node.create_publisher(Image, args.depth_topic, 5)
        self.pub_info = self.node.create_publisher(CameraInfo, args.info_topic, 5)
        self.node.create_subscription(JointTrajectory, args.trajectory_topic, self._on_trajectory, 10)
        self.node.create_timer(0.02, self.publish_joints)
        self.node.create_timer(1.0 / max(args.rate, 1e-3), self.publish_camera)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.trajectories = 0  # accepted, counted for the log (tests wait for the first)
        self.player = TrajectoryPlayer(world, args.time_scale, on_frame=self._make_camera_msgs,
                                       on_resumed=self.publish_camera, on_arrived=self.publish_joints)

    def description(self) -> str:
        with open(panda_urdf_path()) as f:
            urdf = f.read()
        if self.args.camera_in_urdf:
            urdf = urdf_with_camera(urdf, self.world.T_base_camera(), frame=self.args.camera_frame)
        return urdf

    # --- camera --------------------------------------------------------------------

    def _make_camera_msgs(self, frame: Frame) -> None:
        """Keep the three messages of this image, to be stamped and published until the scene changes."""
        h, w = frame.depth.shape
        if self.args.color_encoding == "bgr8":
            rgb = images.rgb_to_bgr8_bytes(frame.rgb)
        else:
            rgb = images.rgb_to_rgb8_bytes(frame.rgb)
        if self.args.depth_encoding == "32FC1":
            depth, size = images.metres_to_32fc1_bytes(frame.depth), 4
        else:
            depth, size = images.metres_to_16uc1_bytes(frame.depth), 2
        color = self._Image(height=h, width=w, encoding=self.args.color_encoding, is_bigendian=0, step=3 * w,
                            data=array.array("B", rgb))
        depth_msg = self._Image(height=h, width=w, encoding=self.args.depth_encoding, is_bigendian=0,
                                step=size * w, data=array.array("B", depth))
        K = frame.camera.K
        info = self._CameraInfo(height=h, width=w, distortion_model="plumb_bob", d=[0.0] * 5,
                                k=K.reshape(-1).tolist(), r=np.eye(3).reshape(-1).tolist(),
                                p=np.hstack([K, np.zeros((3, 1))]).reshape(-1).tolist())
        for m in (color, depth_msg, info):
            m.header.frame_id = self.args.camera_frame
        with self.lock:
            self.camera_msgs = (color, depth_msg, info)

    def publish_camera(self) -> None:
        if self.args.silent_camera:
            return
        with self.lock:
            if self.player.moving or self.camera_msgs is None:
                return
            msgs = self.camera_msgs
            stamp = self.node.get_clock().now().to_msg()
            for m in msgs:
                m.header.stamp = stamp
            self.pub_color.publish(msgs[0])
            self.pub_depth.publish(msgs[1])
            self.pub_info.publish(msgs[2])

    def publish_joints(self) -> None:
        msg = self._JointState()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        with self.player.lock:
            q = self.player.shown
        msg.name = [*self.world.arm.joint_names, *FINGER_JOINTS]
        msg.position = [*(float(v) for v in q), FINGERS, FINGERS]
        self.pub_joints.publish(msg)

    # --- the arm -------------------------------------------------------------------

    def _on_trajectory(self, msg) -> None:
        points = [(p.positions, p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec) for p in msg.points]
        try:
            traj = check_trajectory(self.world.arm, msg.joint_names, points)
        except InputError as e:
            self.log.warning(f"trajectory refused, the arm does not move: {e}")
            return
        if points:
            self.trajectories += 1
            self.log.info(f"trajectory {self.trajectories} accepted: {len(points)} points, {points[-1][1]:.2f} s")
        else:
            self.log.info("empty trajectory: stopping the arm")
        self.player.submit(traj)

    def _push_logged(self, motions: tuple[ObjectMotion, ...], points: int) -> None:
        moved = [f"{m.name} {100 * m.translation:.1f} cm" for m in motions if m.translation > 0.002]
        self.log.info(f"pusher followed {points} tool points; moved: {', '.join(moved) or 'nothing'}")

    # --- running -------------------------------------------------------------------

    def spin(self) -> None:
        """Serve until SIGINT or SIGTERM (either ends the node cleanly: 0)."""
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except self._shutdown_errors:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def close(self) -> None:
        self.player.close()
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.context.try_shutdown()


def _joint_list(text: str) -> list[float]:
    return [float(v) for v in text.replace(",", " ").split()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pushseg.ros2.sim_arm", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="sim",
                   help="the simulation: a registered backend that follows tool paths (pushseg.backends.SimulatedBackend)")
    p.add_argument("--objects", default="target-train", help="simulated object set")
    p.add_argument("--seed", type=int, default=0, help="scene seed")
    p.add_argument("--world", default=None, choices=["ideal", "robot", "harsh"],
                   help="simulated world profile (default: the object set's, robot for the target sets)")
    p.add_argument("--width", type=int, default=640, help="image width")
    p.add_argument("--height", type=int, default=480, help="image height")
    p.add_argument("--region-x", type=float, nargs=2, default=(0.50, 0.80), metavar=("MIN", "MAX"),
                   help="where objects are put down, world x (panda_link0 is at x 0.20)")
    p.add_argument("--region-y", type=float, nargs=2, default=(-0.30, 0.30), metavar=("MIN", "MAX"),
                   help="where objects are put down, world y")
    p.add_argument("--rate", type=float, default=10.0, help="camera frames per second")
    p.add_argument("--time-scale", type=float, default=1.0, help="trajectory playback: 0.1 = ten times faster")
    p.add_argument("--start-pose", type=float, nargs=7, default=READY, metavar="Q",
                   help="the arm's joints at start, panda_joint1..7 (default: up and back, out of view)")
    p.add_argument("--color-encoding", default="rgb8", choices=["rgb8", "bgr8"])
    p.add_argument("--depth-encoding", default="16UC1", choices=["16UC1", "32FC1"],
                   help="16UC1: millimetres, 0 = no reading; 32FC1: metres, NaN = none")
    p.add_argument("--camera-frame", default=CAMERA_FRAME)
    p.add_argument("--camera-in-urdf", action="store_true",
                   help=f"add a fixed joint {BASE_FRAME} -> the camera frame to /robot_description")
    p.add_argument("--color-topic", default="/camera/color/image_raw")
    p.add_argument("--depth-topic", default="/camera/aligned_depth_to_color/image_raw")
    p.add_argument("--info-topic", default="/camera/color/camera_info")
    p.add_argument("--joint-states-topic", default="/joint_states")
    p.add_argument("--description-topic", default="/robot_description")
    p.add_argument("--trajectory-topic", default="/panda_arm_controller/joint_trajectory")
    p.add_argument("--silent-camera", action="store_true", help="publish no images (timeout tests)")
    p.add_argument("--motion-log", default="", help="append how the objects moved (JSON lines) to this file")
    p.add_argument("--print-calibration", action="store_true",
                   help=f"print the camera's pose in {BASE_FRAME} as the ros2 config's camera section, and exit")
    return p


def _objects_in_view(frame: Frame) -> int:
    ids = frame.instance_ids
    return 0 if ids is None else int(np.count_nonzero(np.unique(ids)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rate <= 0 or args.time_scale < 0:
        print("sim_arm: --rate must be > 0 and --time-scale >= 0", file=sys.stderr)
        return 2
    try:
        world = make_world(args)
    except InputError as e:
        print(f"sim_arm: {e}", file=sys.stderr)
        return 2
    try:
        if args.print_calibration:
            print(calibration_yaml(world.T_base_camera(), f"the simulated camera ({args.width}x{args.height}, seed "
                                   f"{args.seed}) in {BASE_FRAME}, {args.camera_frame}"), end="", flush=True)
            return 0
        ensure_rclpy()
        node = SimArmNode(args, world)
        try:
            print(f"sim_arm: ready ({args.width}x{args.height}, {_objects_in_view(world.first_frame)} objects in "
                  f"view, joints {', '.join(world.arm.joint_names)}, ROS_DOMAIN_ID "
                  f"{os.environ.get('ROS_DOMAIN_ID', '0')})", flush=True)
            node.spin()
        finally:
            node.close()
    finally:
        world.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
