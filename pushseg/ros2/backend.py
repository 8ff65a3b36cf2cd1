"""Any arm on ROS 2, behind the same protocol as the simulation and the PR2.

What it speaks (every name from the robot config, :mod:`pushseg.ros2.config`):

* the camera: colour (``rgb8``/``bgr8``), depth registered to colour (``16UC1``
  millimetres or ``32FC1`` metres) and ``camera_info``, paired by stamps within
  ``camera.sync_tolerance`` (drivers such as RealSense stamp them apart), fresh ones only;
* the camera's pose: a fixed hand-eye calibration from the config, or a frame of
  the URDF from the joint states at the image's stamp (a wrist camera);
* the arm: ``trajectory_msgs/JointTrajectory`` on the trajectory controller's
  topic (ros2_control's ``joint_trajectory_controller`` takes it; an empty one
  stops the arm), ``/joint_states`` to follow the motion and to know when it ended;
* the URDF from a file or the ``/robot_description`` topic: IK, limits and
  forward kinematics (:mod:`pushseg.ros2.kinematics`).

A push is resolved into a line in the base frame by the same code as in the
simulation (:func:`pushseg.workspace.check_push`), checked against the
workspace, planned with IK (:mod:`pushseg.ros2.planning`), re-checked
(:mod:`pushseg.ros2.safety`) and only then sent. Every wait has a timeout that
stops the arm and raises :class:`~pushseg.errors.BackendError`. A dry run (the
default) plans and logs everything and sends nothing. Ctrl-C while the arm
moves stops it, takes it back to its ready pose and raises
:class:`~pushseg.robot.interrupts.MotionInterrupted` (:mod:`pushseg.robot.interrupts`).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pushseg.errors import BackendError, InputError
from pushseg.robot import images
from pushseg.robot.interrupts import MotionInterrupted, SigintGuard
from pushseg.ros2 import planning, safety
from pushseg.ros2.config import Ros2BackendConfig, load_config
from pushseg.ros2.kinematics import UrdfArm
from pushseg.ros2.rclenv import ensure_rclpy
from pushseg.types import CameraInfo, Frame, Outcome, Push, PushResult
from pushseg.workspace import PUSH_LENGTH_MIN, Workspace, check_push, table_height

log = logging.getLogger("pushseg.ros2")

__all__ = ["Ros2Backend"]

_POLL = 0.01  # seconds between checks while waiting
_KINDS = ("color", "depth", "info")


@dataclass
class _Stamped:
    stamp: float  # seconds
    msg: Any


class _Interrupted(Exception):
    """An interrupt was seen while waiting; ``sent``: whether a trajectory had already gone out."""

    def __init__(self, sent: bool) -> None:
        super().__init__("interrupted")
        self.sent = sent


def _stamp(header) -> float:
    return float(header.stamp.sec) + 1e-9 * float(header.stamp.nanosec)


def _resolve_config(config: Ros2BackendConfig | str | Path | None, dry_run: bool | None,
                    overrides: dict[str, Any] | None) -> Ros2BackendConfig:
    if not isinstance(config, Ros2BackendConfig):
        config = load_config(config, overrides)
    elif overrides:
        config = config.with_overrides(overrides)
    if dry_run is not None:
        config = config.with_overrides({"safety": {"dry_run": bool(dry_run)}})
    return config


class Ros2Backend:
    """A URDF arm with an RGB-D camera, driven over ROS 2. Implements :class:`pushseg.backends.Backend`.

    ``config``: a :class:`~pushseg.ros2.config.Ros2BackendConfig`, a YAML file
    (the section itself or a settings file with a ``ros2:`` section), or None
    for the defaults (a Franka Panda); ``dry_run`` (when not None) overrides
    ``safety.dry_run``; ``record``: an MCAP file that receives every message
    read and sent (:mod:`pushseg.ros2.bags`). The constructor connects (node,
    URDF, joint states, camera) and fails with a clear :class:`BackendError`
    when something does not answer.
    """

    name = "ros2"

    def __init__(
        self,
        config: Ros2BackendConfig | str | Path | None = None,
        *,
        dry_run: bool | None = None,
        overrides: dict[str, Any] | None = None,
        record: str | Path | None = None,
    ) -> None:
        self.config = config = _resolve_config(config, dry_run, overrides)
        self.dry_run = config.dry_run
        self.goals_sent = 0  # trajectories that left this process (always 0 in a dry run)
        self.last_plan: planning.ArmPlan | None = None
        self.table_z: float | None = config.push.table_z
        self._frame: Frame | None = None
        self._lock = threading.Condition()
        self._images: dict[str, collections.deque] = {k: collections.deque(maxlen=12) for k in _KINDS}
        self._joints: dict[str, float] = {}
        self._joint_history: collections.deque = collections.deque(maxlen=400)  # (stamp, q) for camera poses
        self._joint_count = 0
        self._description: str | None = None
        self._settled_at = 0.0  # node-clock time after which images show the arm at rest, out of view
        self._closed = False
        self._interrupt = threading.Event()
        self._sigint = SigintGuard(self, self._on_sigint)
        self._retracting = False
        self._moving = False  # a trajectory is in flight (close() stops it)
        self._recorder = None
        self._arm: UrdfArm | None = None
        if record is not None:
            from pushseg.ros2.bags import Recorder

            self._recorder = Recorder.open(record)
        try:
            self._connect()
            self._arm = self._load_arm()
            log.info("ros2 backend: node up%s", " (DRY RUN: nothing will be sent)" if self.dry_run else "")
            self._frame = self._grab_frame(after=0.0)
        except BaseException:
            self.close()  # leave no node, thread or half-written recording behind
            raise
        self.camera: CameraInfo = self._frame.camera
        ws = config.safety.workspace
        self.workspace = Workspace(x=ws.x, y=ws.y, length=(PUSH_LENGTH_MIN, config.safety.max_push_length))

    # --- connection ------------------------------------------------------------------

    def _connect(self) -> None:
        ensure_rclpy()
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import CameraInfo as CameraInfoMsg
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        self._rclpy = rclpy
        self._JointTrajectory = JointTrajectory
        self._context = rclpy.Context()
        # Our own SIGINT rule (stop, retract) must not be replaced by rclpy's, which shuts the context down.
        rclpy.init(context=self._context, signal_handler_options=SignalHandlerOptions.NO)
        self._node = rclpy.create_node(self.config.node.name, context=self._context)
        c = self.config
        # Best effort takes images from reliable and best-effort publishers alike.
        sensor = qos_profile_sensor_data
        self._subs = [
            self._node.create_subscription(Image, c.camera.color, lambda m: self._on_image(m, "color"), sensor),
            self._node.create_subscription(Image, c.camera.depth, lambda m: self._on_image(m, "depth"), sensor),
            self._node.create_subscription(CameraInfoMsg, c.camera.camera_info,
                                           lambda m: self._on_image(m, "info"), sensor),
            self._node.create_subscription(JointState, c.controller.joint_states, self._on_joints, 50),
        ]
        if not c.robot.urdf:
            latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                                 reliability=ReliabilityPolicy.RELIABLE)
            self._subs.append(self._node.create_subscription(String, c.robot.description_topic,
                                                             self._on_description, latched))
        self._trajectory_pub = self._node.create_publisher(JointTrajectory, c.controller.trajectory_topic, 10)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._spinner = threading.Thread(target=self._spin, name="pushseg-ros2-spin", daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        while self._context.ok() and not self._closed:
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except Exception as e:  # a shut-down context ends the loop; anything else is logged, not lost
                if self._context.ok() and not self._closed:
                    log.error("ros2 backend: executor stopped: %s: %s", type(e).__name__, e)
                return

    def _now(self) -> float:
        return self._node.get_clock().now().nanoseconds * 1e-9

    def _load_arm(self) -> UrdfArm:
        robot = self.config.robot
        if robot.urdf:
            arm = UrdfArm.from_file(robot.urdf, robot.joints, robot.base_frame, robot.tool_frame)
        else:
            self._wait(lambda: self._description is not None, self.config.timeouts.robot_description,
                       f"no URDF on {robot.description_topic}: is robot_state_publisher running? "
                       "(or give robot.urdf: a file)")
            arm = UrdfArm.from_xml(self._description, robot.joints, robot.base_frame, robot.tool_frame)
        cam = self.config.camera
        if cam.pose == "urdf" and cam.frame not in arm.links:
            arm.close()
            raise InputError(f"ros2 config camera.frame: {cam.frame!r} is not a link of the robot's URDF "
                             f"(links: {', '.join(arm.links)}); name the camera's optical frame, or use "
                             "camera.pose: fixed with a hand-eye calibration")
        bad = arm.limit_violations(np.asarray(robot.ready, dtype=np.float64), self.config.safety.joint_limit_margin)
        if bad:
            arm.close()
            raise InputError(f"ros2 config robot.ready: {'; '.join(bad)}: move it inside the joint limits")
        return arm

    # --- Backend protocol ----------------------------------------------------------

    def reset(self, seed: int | None = None) -> Frame:
        """Arm to its ready pose, a fresh image, and the table height. (The scene is what is on the table.)"""
        if self.table_z is None and self._frame is not None:
            self.table_z = self._fit_table_z(self._frame, seed)  # so the move to ready is checked too
        self._arm_to_ready()
        frame = self.observe()
        if self.config.push.table_z is None:
            self.table_z = self._fit_table_z(frame, seed)
        log.info("reset: table top at z = %.3f m in %s", self.table_z, self.config.robot.base_frame)
        return frame

    def observe(self) -> Frame:
        self._arm_to_ready()
        self._frame = self._grab_frame(after=self._settled_at)
        self.camera = self._frame.camera
        return self._frame

    def push(self, push: Push) -> PushResult:
        """Plan, check and execute one push; refusals come back as REJECTED with a reason."""
        if self._frame is None:
            self.observe()
        frame = self._frame
        assert frame is not None
        if self.table_z is None:
            self.table_z = self._fit_table_z(frame, None)
        try:
            plan, path = self._plan(frame, push)
        except planning.PushRefused as refusal:
            log.warning("push %s refused: %s", push.to_dict(), refusal)
            return PushResult(Outcome.REJECTED, reason=f"{refusal.code}: {refusal.message}")
        self.last_plan = plan
        start = tuple(float(x) for x in path.start)
        end = tuple(float(x) for x in path.end)
        if self.dry_run:
            self._log_plan(plan, logging.INFO)
            return PushResult(Outcome.REJECTED, reason=f"dry_run: planned ({plan.summary()}), nothing sent",
                              start_base=start, end_base=end)
        self._execute(plan, what="push")
        return PushResult(Outcome.EXECUTED, start_base=start, end_base=end)

    def interrupt(self) -> None:
        """Stop the motion in progress, from any thread or a signal handler (as Ctrl-C does)."""
        self._interrupt.set()

    def close(self) -> None:
        """Stop whatever moves, and disconnect."""
        if self._closed:
            return
        try:
            if getattr(self, "_moving", False):
                self._stop_arm()
        finally:
            self._closed = True
            if getattr(self, "_spinner", None) is not None:
                self._spinner.join(timeout=2.0)
            if getattr(self, "_node", None) is not None:
                self._node.destroy_node()
            if getattr(self, "_context", None) is not None and self._context.ok():
                self._rclpy.shutdown(context=self._context)
            if self._arm is not None:
                self._arm.close()
            if self._recorder is not None:
                self._recorder.close()

    def __enter__(self) -> Ros2Backend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- planning ------------------------------------------------------------------

    def _plan(self, frame: Frame, push: Push):
        """Everything up to (not including) moving: raises PushRefused with a reason."""
        safety.check_push(push, self.config)
        path, reason = check_push(frame.camera, frame.depth, push, table_z=self.table_z, workspace=self.workspace)
        if path is None:
            code, _, message = reason.partition(": ")
            raise planning.PushRefused(code, message)
        safety.check_workspace(path.waypoints(self.config.push.waypoint_spacing), self.table_z, self.config)
        plan = planning.plan_push(self._arm, path, self.table_z, self._arm_q(), self.config)
        safety.check_plan(plan, self._arm, self.table_z, self.config)
        log.info("push %s: %s", push.to_dict(), plan.summary())
        return plan, path

    def _log_plan(self, plan: planning.ArmPlan, level: int = logging.DEBUG) -> None:
        log.log(level, "%s trajectory on %s (%s)", "DRY RUN" if self.dry_run else "sending",
                self.config.controller.trajectory_topic, plan.summary())
        for t, kind, q in zip(plan.times, plan.kinds, plan.positions):
            log.log(level, "  t=%6.2f s %-8s q=%s", t, kind, np.round(q, 3).tolist())

    # --- the arm ---------------------------------------------------------------------

    def _arm_to_ready(self) -> None:
        ready = np.asarray(self.config.robot.ready, dtype=np.float64)
        q = self._arm_q()
        if float(np.max(np.abs(q - ready))) <= max(self.config.controller.goal_tolerance, 0.05):
            return
        plan = planning.plan_move(self._arm, q, ready, self.config, kind="ready")
        if self.dry_run:
            log.info("DRY RUN: would move the arm to its ready pose (%s)", plan.summary())
            return
        log.info("moving the arm to its ready pose (%s)", plan.summary())
        self._execute(plan, what="move to the ready pose")

    def _trajectory(self, plan: planning.ArmPlan):
        from builtin_interfaces.msg import Duration
        from trajectory_msgs.msg import JointTrajectoryPoint

        msg = self._JointTrajectory()
        msg.joint_names = list(plan.joint_names)  # header.stamp zero: the controller starts it on receipt
        for q, v, t in zip(plan.positions, plan.velocities, plan.times):
            sec = int(t)
            msg.points.append(JointTrajectoryPoint(
                positions=[float(x) for x in q], velocities=[float(x) for x in v],
                time_from_start=Duration(sec=sec, nanosec=int(round((float(t) - sec) * 1e9)) % 1_000_000_000)))
        return msg

    def _publish(self, msg) -> None:
        self._trajectory_pub.publish(msg)
        self._record(self.config.controller.trajectory_topic, "trajectory_msgs/msg/JointTrajectory", msg)

    def _stop_arm(self) -> None:
        """An empty trajectory: joint_trajectory_controller stops the arm where it is."""
        self._publish(self._JointTrajectory(joint_names=list(self.config.robot.joints)))

    def _execute(self, plan: planning.ArmPlan, what: str) -> None:
        """Send one trajectory and follow it on /joint_states until the arm rests at its end."""
        self._log_plan(plan)
        bad = self._arm.limit_violations(plan.positions[-1], 0.0)
        if bad:  # the last check before anything leaves, whatever made the plan
            raise BackendError(f"{what}: the plan ends beyond a joint limit ({'; '.join(bad)}); nothing was sent")
        try:
            self._sigint.check_thread(what)
        except RuntimeError as e:
            raise BackendError(f"{e}; nothing was sent") from None
        t = self.config.timeouts
        budget = t.motion_slack * plan.duration + t.motion_margin
        with self._sigint.installed():
            try:
                if self._interrupt.is_set():
                    raise _Interrupted(sent=False)
                self._wait_for_controller(what)
                self._moving = True
                try:
                    self._publish(self._trajectory(plan))
                    self.goals_sent += 1
                    log.info("%s: trajectory sent to %s (%.1f s, waiting up to %.1f s)", what,
                             self.config.controller.trajectory_topic, plan.duration, budget)
                    self._follow(plan, budget, what)
                finally:
                    self._moving = False
            except _Interrupted as interrupted:
                if self._retracting:
                    raise
                raise self._after_interrupt(what, interrupted.sent) from None
        self._settled_at = self._now() + self.config.motion.settle_time

    def _wait_for_controller(self, what: str) -> None:
        """A trajectory published before the controller subscribed would be lost: wait for a subscriber."""
        topic = self.config.controller.trajectory_topic
        deadline = time.monotonic() + self.config.timeouts.joint_states
        while self._trajectory_pub.get_subscription_count() == 0:
            if self._interrupt.is_set():
                raise _Interrupted(sent=False)
            if time.monotonic() > deadline:
                raise BackendError(
                    f"{what}: nothing subscribes to {topic}: is the joint_trajectory_controller active "
                    "(ros2 control list_controllers)? check controller.trajectory_topic; nothing was sent")
            time.sleep(_POLL)

    def _follow(self, plan: planning.ArmPlan, budget: float, what: str) -> None:
        """Until /joint_states shows the arm at the plan's end and still; stops the arm on a timeout."""
        target = plan.positions[-1]
        tol = self.config.controller.goal_tolerance
        deadline = time.monotonic() + budget
        previous = None
        while True:
            if self._interrupt.is_set():
                raise _Interrupted(sent=True)
            q = self._arm_q()
            if float(np.max(np.abs(q - target))) <= tol and previous is not None \
                    and float(np.max(np.abs(q - previous))) <= 1e-3:
                return
            previous = q
            if time.monotonic() > deadline:
                self._stop_arm()
                err = float(np.max(np.abs(q - target)))
                raise BackendError(
                    f"{what}: the arm did not reach the end of its trajectory within {budget:.1f} s "
                    f"(trajectory {plan.duration:.1f} s; {self.config.controller.joint_states} says it is "
                    f"{err:.3f} rad away); the arm was stopped. Is the controller running and accepting "
                    f"{self.config.controller.trajectory_topic}?")
            time.sleep(0.02)

    def _on_sigint(self, signum, frame) -> None:
        self._interrupt.set()  # only a flag: the motion's wait loop acts on it

    def _after_interrupt(self, what: str, sent: bool) -> MotionInterrupted:
        """Stop, go back to ready (a second interrupt abandons it), chain the previous handler."""
        self._interrupt.clear()
        if not sent:
            self._sigint.chain()
            return MotionInterrupted(f"{what} interrupted before it was sent: nothing was sent")
        self._stop_arm()
        log.warning("interrupted: arm stopped; moving it back to its ready pose")
        self._retracting = True
        try:
            time.sleep(0.2)  # let the controller stop and /joint_states catch up
            self._arm_to_ready()
            done = "arm back at its ready pose"
        except _Interrupted:
            self._interrupt.clear()
            self._stop_arm()
            done = "a second interrupt abandoned the retract; the arm stopped where it was: move it by hand"
        except (BackendError, planning.PushRefused) as e:
            done = f"but the arm could NOT be moved back ({e}); move it by hand"
        finally:
            self._retracting = False
        self._sigint.chain()
        return MotionInterrupted(f"{what} interrupted: arm stopped, {done}")

    # --- state from topics ---------------------------------------------------------

    def _record(self, topic: str, msgtype: str, msg) -> None:
        if self._recorder is None:
            return
        from rclpy.serialization import serialize_message

        self._recorder.write(topic, msgtype, serialize_message(msg), self._node.get_clock().now().nanoseconds)

    def _on_image(self, msg, kind: str) -> None:
        topic = {"color": self.config.camera.color, "depth": self.config.camera.depth,
                 "info": self.config.camera.camera_info}[kind]
        self._record(topic, "sensor_msgs/msg/CameraInfo" if kind == "info" else "sensor_msgs/msg/Image", msg)
        with self._lock:
            self._images[kind].append(_Stamped(_stamp(msg.header), msg))
            self._lock.notify_all()

    def _on_joints(self, msg) -> None:
        self._record(self.config.controller.joint_states, "sensor_msgs/msg/JointState", msg)
        with self._lock:
            self._joints.update(zip(msg.name, msg.position))
            self._joint_count += 1
            names = self.config.robot.joints
            if all(n in self._joints for n in names):
                self._joint_history.append((_stamp(msg.header), np.array([self._joints[n] for n in names])))
            self._lock.notify_all()

    def _on_description(self, msg) -> None:
        self._record(self.config.robot.description_topic, "std_msgs/msg/String", msg)
        with self._lock:
            self._description = msg.data
            self._lock.notify_all()

    def _wait(self, ready, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BackendError(f"timed out after {timeout:.1f} s: {message}")
                self._lock.wait(min(left, 0.1))

    def _arm_q(self) -> np.ndarray:
        names = self.config.robot.joints
        self._wait(lambda: all(n in self._joints for n in names), self.config.timeouts.joint_states,
                   f"no positions of {', '.join(names)} on {self.config.controller.joint_states}: is the robot's "
                   "joint_state_broadcaster running? check robot.joints and controller.joint_states")
        with self._lock:
            return np.array([self._joints[n] for n in names])

    # --- images ----------------------------------------------------------------------

    def _matching(self, after: float, max_age: float, now: float):
        """The newest colour image with a depth image and camera_info within sync_tolerance, fresh."""
        tol = self.config.camera.sync_tolerance
        for color in sorted(self._images["color"], key=lambda s: s.stamp, reverse=True):
            if color.stamp < after or now - color.stamp > max_age:
                continue
            found = {"color": color.msg}
            for kind in ("depth", "info"):
                near = [s for s in self._images[kind] if abs(s.stamp - color.stamp) <= tol]
                if near:
                    found[kind] = min(near, key=lambda s: abs(s.stamp - color.stamp)).msg
            if len(found) == 3:
                return color.stamp, found
        return None

    def _grab_frame(self, after: float) -> Frame:
        cam = self.config.camera
        timeout = self.config.timeouts.image
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self._matching(after, cam.max_image_age, self._now())
                if found is not None:
                    break
                if time.monotonic() > deadline:
                    raise BackendError(self._image_timeout_message(timeout, after))
                self._lock.wait(0.05)
        stamp, msgs = found
        info = msgs["info"]
        try:
            rgb = images.color_to_rgb(msgs["color"], cam.color)
            depth = images.depth_to_metres(msgs["depth"], cam.depth)
            K = images.intrinsics(info, cam.camera_info)
        except InputError as e:
            raise InputError(f"{e} (check camera.* in the ros2 config and the camera driver's settings)") from None
        w, h = int(info.width), int(info.height)
        for topic, arr in ((cam.color, rgb), (cam.depth, depth)):
            if arr.shape[:2] != (h, w):
                raise BackendError(f"{topic} is {arr.shape[1]}x{arr.shape[0]} but {cam.camera_info} says {w}x{h}: "
                                   "is the depth image registered (aligned) to the colour image?")
        camera = CameraInfo(width=w, height=h, K=K, T_base_camera=self._camera_pose(stamp),
                            frame_id=info.header.frame_id or cam.frame)
        return Frame(rgb=rgb, depth=depth, camera=camera, timestamp=stamp)

    def _camera_pose(self, stamp: float) -> np.ndarray:
        cam = self.config.camera
        if cam.pose == "fixed":
            return cam.T_base_camera()
        with self._lock:
            history = list(self._joint_history)
        if not history:
            raise BackendError(f"no joint states to place the camera frame {cam.frame} at the image's stamp")
        before = [h for h in history if h[0] <= stamp]
        q = (before[-1] if before else history[0])[1]  # the joint state in force when the image was taken
        return self._arm.fk(q, link=cam.frame)

    def _image_timeout_message(self, timeout: float, after: float) -> str:
        cam = self.config.camera
        missing = [t for t, k in ((cam.color, "color"), (cam.depth, "depth"), (cam.camera_info, "info"))
                   if not self._images[k]]
        if missing:
            return (f"no messages on {', '.join(missing)} within {timeout:.1f} s: is the camera driver running "
                    "(ros2 topic hz)? check camera.* in the ros2 config")
        newest = max(s.stamp for s in self._images["color"])
        now = self._now()
        if now - newest > cam.max_image_age:
            return (f"camera images are stale: the newest on {cam.color} is {now - newest:.1f} s old, more than "
                    f"camera.max_image_age {cam.max_image_age:.1f} s; has the camera stopped publishing, "
                    "are the clocks in sync?")
        if newest < after:
            return (f"no image taken after the arm settled (newest stamp {newest:.3f} < {after:.3f}) within "
                    f"{timeout:.1f} s; has the camera stream stalled?")
        return (f"colour, depth and camera_info never came within camera.sync_tolerance "
                f"{cam.sync_tolerance} s of each other in {timeout:.1f} s: check the topic names, or raise the tolerance")

    def _fit_table_z(self, frame: Frame, seed: int | None) -> float:
        s = self.config.safety
        region = (s.table.x, s.table.y)
        at = (float(np.mean(s.workspace.x)), float(np.mean(s.workspace.y)))
        try:
            return table_height(frame.camera, frame.depth, region, at, rng=0 if seed is None else seed)
        except InputError as e:
            raise BackendError(
                f"could not find the table in the depth image within safety.table x {region[0]}, y {region[1]}: "
                f"{e}; check the camera calibration (camera.translation/rotation) and safety.table, "
                "or set push.table_z") from e
