"""The real PR2 + Kinect2 backend over ROS1, behind the same protocol as the simulation.

What it speaks (topics and frames come from the config, PR2 defaults in
``pr2_defaults.yaml``):

* camera (iai_kinect2 ``kinect2_bridge``): rectified colour (bgr8), registered
  depth (16UC1 mm) and camera_info, paired by equal stamps, fresh ones only;
* tf2: ``base_link`` <- the colour optical frame (the camera calibration), at each image's stamp;
* arms: ``pr2_controllers_msgs/JointTrajectoryAction`` per arm (types made at
  run time, :mod:`pushseg.real.msgs`), ``/joint_states`` for where they are;
* ``/pr2_ethercat/motors_halted``: nothing is sent while it is true.

A push is resolved into a base_link line by the same code as in the
simulation (:func:`pushseg.workspace.check_push`, which calls
:func:`pushseg.geometry.resolve_push`), checked against the safety box,
planned with IK (:mod:`pushseg.real.planning`), re-checked
(:mod:`pushseg.real.safety`) and only then sent. Every wait has a timeout
that cancels what is running and raises :class:`~pushseg.errors.BackendError`.
In dry-run mode everything is computed and logged, and nothing is sent.
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pushseg.errors import BackendError, InputError
from pushseg.real import planning, retreat, safety
from pushseg.robot import images
from pushseg.real import kinematics as kin
from pushseg.real.camera_pose import StampBeforeTf, camera_pose
from pushseg.real.config import (
    ENV_CONFIG,
    ENV_DRY_RUN,
    RealBackendConfig,
    env_dry_run,
    env_file,
    load_config,
)
from pushseg.robot.interrupts import MotionInterrupted, SigintGuard
from pushseg.robot.recording import Ros1Recorder
from pushseg.real.rosenv import ensure_ros_importable
from pushseg.types import CameraInfo, Frame, Outcome, Push, PushResult
from pushseg.workspace import PUSH_LENGTH_MIN, Workspace, check_push, table_height

log = logging.getLogger("pushseg.real")

__all__ = ["ENV_CONFIG", "ENV_DRY_RUN", "RealBackend"]

_POLL = 0.02  # seconds between checks while waiting
_STATE_NAMES = {0: "PENDING", 1: "ACTIVE", 2: "PREEMPTED", 3: "SUCCEEDED", 4: "ABORTED", 5: "REJECTED",
                6: "PREEMPTING", 7: "RECALLING", 8: "RECALLED", 9: "LOST"}


@dataclass
class _Stamped:
    stamp: float  # seconds
    msg: Any


class _Interrupted(Exception):
    """An interrupt was seen while waiting; ``sent``: whether a goal had already gone out."""

    def __init__(self, sent: bool) -> None:
        super().__init__("interrupted")
        self.sent = sent


def _check_master(timeout: float) -> None:
    """rospy.init_node blocks forever without a master: fail fast and clearly instead."""
    import rosgraph

    uri = rosgraph.get_master_uri()
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        online = rosgraph.is_master_online(uri)
    finally:
        socket.setdefaulttimeout(old)
    if not online:
        raise BackendError(
            f"no ROS master at ROS_MASTER_URI={uri}: start roscore (or the robot's master) "
            "and set ROS_MASTER_URI / ROS_IP so this machine can reach it"
        )


def _resolve_config(config: RealBackendConfig | str | Path | None, dry_run: bool | None,
                    overrides: dict[str, Any] | None) -> RealBackendConfig:
    """The config to run with. Environment fallbacks, so `pushseg collect --backend real` needs no extra
    flags: PUSHSEG_REAL_CONFIG=my_pr2.yaml (when no config is given), PUSHSEG_REAL_DRY_RUN=1."""
    if config is None:
        config = env_file()
    if dry_run is None and env_dry_run():
        dry_run = True
    if not isinstance(config, RealBackendConfig):
        config = load_config(config, overrides)
    elif overrides:
        config = config.with_overrides(overrides)
    if dry_run is not None:
        config = config.with_overrides({"safety": {"dry_run": bool(dry_run)}})
    return config


class RealBackend:
    """A PR2 with a head Kinect2, driven over ROS1. Implements :class:`pushseg.backends.Backend`.

    ``config``: a :class:`~pushseg.real.config.RealBackendConfig`, a YAML file that
    overrides the PR2 defaults, or None for the defaults; ``overrides``: a nested
    mapping merged into it. ``dry_run`` (when not None) overrides
    ``safety.dry_run``; without them, ``$PUSHSEG_REAL_CONFIG`` and
    ``$PUSHSEG_REAL_DRY_RUN=1`` are read. ``record``: an MCAP file that receives every message
    the subscriptions get (:mod:`pushseg.robot.recording`; ``pushseg import-bag`` reads it). The
    constructor connects (ROS node, camera, tf) and fails with a clear :class:`BackendError` when
    something does not answer.
    """

    name = "real"

    def __init__(
        self,
        config: RealBackendConfig | str | Path | None = None,
        *,
        dry_run: bool | None = None,
        overrides: dict[str, Any] | None = None,
        record: str | Path | None = None,
    ) -> None:
        self.config = config = _resolve_config(config, dry_run, overrides)
        self.dry_run = config.dry_run
        self.goals_sent = 0  # every goal that left this process (always 0 in dry run)
        self.last_plan: planning.ArmPlan | None = None
        self.table_z: float | None = config.push.table_z
        self._frame: Frame | None = None
        self._lock = threading.Condition()
        self._images: dict[str, collections.deque] = {
            k: collections.deque(maxlen=8) for k in ("color", "depth", "info")
        }
        self._joints: dict[str, float] = {}
        self._joints_stamp = 0.0
        self._halted: bool | None = None
        self._settled_at = 0.0  # ROS time after which images show the arms out of view
        self._closed = False
        self._interrupt = threading.Event()  # set by Ctrl-C or interrupt(); seen by the motion's wait loop
        self._sigint = SigintGuard(self, self._on_sigint)
        self._retracting = False
        self._active: set[str] = set()  # arms with a goal in flight
        self._inflight: planning.ArmPlan | None = None  # the trajectory running (or interrupted)
        self._recorder = Ros1Recorder.open(record) if record is not None else None
        try:
            self._connect()
        except BaseException:
            if self._recorder is not None:
                self._recorder.close()
            raise
        log.info("real backend: node up%s", " (DRY RUN: nothing will be sent)" if self.dry_run else "")
        try:
            self._frame = self._grab_frame(after=0.0)
        except BaseException:
            self.close()  # do not leave subscribers and clients behind
            raise
        self.camera: CameraInfo = self._frame.camera
        ws = config.safety.workspace
        # Where pushes can go, in the form push agents take (pushseg.workspace).
        self.workspace = Workspace(x=ws.x, y=ws.y, length=(PUSH_LENGTH_MIN, config.safety.max_push_length))

    def _connect(self) -> None:
        """The ROS node, the subscriptions, tf and the arms' action clients."""
        ensure_ros_importable()
        import actionlib
        import rospy
        import tf2_ros
        from sensor_msgs.msg import CameraInfo as CameraInfoMsg
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import Bool

        from pushseg.real.msgs import joint_trajectory_action

        self._rospy = rospy
        _check_master(self.config.timeouts.action_server)
        if not rospy.core.is_initialized():
            # Our own SIGINT handling (cancel goals, retract) must not be replaced by rospy's.
            rospy.init_node(self.config.node_name, anonymous=True, disable_signals=True)
        self._types = joint_trajectory_action()
        topics = self.config.topics
        self._subs = [
            rospy.Subscriber(topics.color, Image, self._on_image, "color", queue_size=2, buff_size=2**24),
            rospy.Subscriber(topics.depth, Image, self._on_image, "depth", queue_size=2, buff_size=2**24),
            rospy.Subscriber(topics.camera_info, CameraInfoMsg, self._on_image, "info", queue_size=2),
            rospy.Subscriber(topics.joint_states, JointState, self._on_joints, queue_size=5),
            rospy.Subscriber(topics.motors_halted, Bool, self._on_halted, queue_size=2),
        ]
        self._tf = tf2_ros.Buffer(cache_time=rospy.Duration(30.0))
        self._tf_listener = tf2_ros.TransformListener(self._tf)
        self._clients = {
            side: actionlib.SimpleActionClient(topics.arm(side), self._types.Action) for side in ("r", "l")
        }

    # --- Backend protocol ----------------------------------------------------------

    def reset(self, seed: int | None = None) -> Frame:
        """Arms out of view, a fresh image, and the table height. (The scene is what is on the table.)"""
        if self.table_z is None and self._frame is not None:
            # A first estimate, so that moving the arms out of view is checked against the table too.
            self.table_z = self._fit_table_z(self._frame, seed)
        self._arms_out_of_view()
        frame = self.observe()
        if self.config.push.table_z is None:
            self.table_z = self._fit_table_z(frame, seed)
        log.info("reset: table top at z = %.3f m in base_link", self.table_z)
        return frame

    def observe(self) -> Frame:
        self._arms_out_of_view()
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
            return PushResult(Outcome.REJECTED, reason=str(refusal))
        self.last_plan = plan
        start = tuple(float(x) for x in path.start)
        end = tuple(float(x) for x in path.end)
        if self.dry_run:
            self._log_plan(plan, level=logging.INFO)
            return PushResult(
                Outcome.REJECTED,
                reason=f"dry_run: planned ({plan.summary()}), nothing sent",
                start_base=start,
                end_base=end,
            )
        self._execute(plan, what="push")
        return PushResult(Outcome.EXECUTED, start_base=start, end_base=end)

    def close(self) -> None:
        """Cancel whatever runs, and disconnect (the ROS node stays up for the process)."""
        if self._closed:
            return
        self._closed = True
        for side in list(self._active):
            self._clients[side].cancel_all_goals()
        for client in self._clients.values():
            client.action_client.stop()
        for sub in self._subs:
            sub.unregister()
        self._tf_listener.unregister()
        if self._recorder is not None:
            self._recorder.close()

    def __enter__(self) -> "RealBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- planning ------------------------------------------------------------------

    def _plan(self, frame: Frame, push: Push) -> tuple[planning.ArmPlan, Any]:
        """Everything up to (not including) moving: raises PushRefused with a reason."""
        safety.check_push(push, self.config)
        path, reason = check_push(frame.camera, frame.depth, push, table_z=self.table_z)
        if path is None:
            code, _, message = reason.partition(": ")
            raise planning.PushRefused(code, message)
        spacing = self.config.push.waypoint_spacing
        safety.check_workspace(path.waypoints(spacing), self.table_z, self.config)
        torso = self._torso()
        refusals = []
        for side in planning.arm_order(path, self.config):
            try:
                plan = planning.plan_arm(side, path, self.table_z, torso, self._arm_q(side), self.config)
                safety.check_plan(plan, self.table_z, self.config)
            except planning.PushRefused as r:
                refusals.append(r)
                continue
            log.info("push %s: %s", push.to_dict(), plan.summary())
            return plan, path
        codes = {r.code for r in refusals}
        raise planning.PushRefused(
            codes.pop() if len(codes) == 1 else "unreachable", "; ".join(r.message for r in refusals)
        )

    def _log_plan(self, plan: planning.ArmPlan, level: int = logging.DEBUG) -> None:
        tool = plan.tool_points()
        log.log(level, "%s trajectory for %s (%s):", "DRY RUN" if self.dry_run else "sending",
                self.config.topics.arm(plan.side), plan.summary())
        for t, kind, q, p in zip(plan.times, plan.kinds, plan.positions, tool):
            log.log(level, "  t=%6.2f s %-8s tool (%.3f, %.3f, %.3f)  q=%s", t, kind, *p, np.round(q, 3).tolist())

    # --- arms ----------------------------------------------------------------------

    def _arms_out_of_view(self) -> None:
        tol = self.config.arms.out_of_view_tolerance
        torso = None
        for side in ("r", "l"):
            q = self._arm_q(side)
            target = self.config.arm_pose("out_of_view", side)
            if np.max(np.abs(kin.joint_deltas(q, target))) <= tol:
                continue
            torso = self._torso() if torso is None else torso
            plan = self._retreat_plan(side, q, torso)
            if self.dry_run:
                log.info("DRY RUN: would move the %s arm out of view (%s)", side, plan.summary())
                self._log_plan(plan)
                continue
            log.info("moving the %s arm out of view (%s)", side, plan.summary())
            self._execute(plan, what=f"{side} arm out of view")

    def _retreat_plan(self, side: str, q: np.ndarray, torso: float) -> planning.ArmPlan:
        """From wherever the arm is to out_of_view, by the first safe route (:mod:`pushseg.real.retreat`)."""
        return retreat.retreat_plan(side, q, torso, self.table_z, self.config, interrupted=self._inflight)

    def _execute(self, plan: planning.ArmPlan, what: str) -> None:
        """Send one trajectory and wait for it, guarded; the arm ends where the plan ends.

        Ctrl-C while it runs: see :mod:`pushseg.robot.interrupts` (goals cancelled,
        arms retracted, :class:`MotionInterrupted` raised, whatever handled SIGINT before).
        """
        self._log_plan(plan)
        try:  # the last check before a goal leaves: whatever made the plan, no point beyond a soft limit
            safety.check_soft_limits(plan, self.config)
        except planning.PushRefused as r:
            raise BackendError(f"{what}: {r}; nothing was sent") from None
        try:
            self._sigint.check_thread(what)
        except RuntimeError as e:
            raise BackendError(f"{e}; nothing was sent") from None
        self._require_motors_on()
        client = self._clients[plan.side]
        ns = self.config.topics.arm(plan.side)
        t = self.config.timeouts
        with self._sigint.installed():
            try:
                self._wait_for_server(client, plan, ns, t.action_server)
                goal = self._goal(plan)
                budget = t.result_slack * plan.duration + t.result_margin
                self._raise_if_interrupted()  # nothing is sent after an interrupt
                try:
                    self._active.add(plan.side)
                    self._inflight = plan
                    client.send_goal(goal)
                    self.goals_sent += 1
                    log.info("%s: goal sent to %s (%.1f s, waiting up to %.1f s)", what, ns, plan.duration, budget)
                    self._wait_for(client, plan, ns, budget, what)
                finally:
                    self._active.discard(plan.side)
            except _Interrupted as interrupted:
                if self._retracting:
                    raise  # a second interrupt during the retract: the outer motion handles it
                raise self._after_interrupt(what, sent=interrupted.sent) from None
        self._inflight = None
        self._settled_at = self._rospy.Time.now().to_sec() + self.config.motion.settle_time
        self._wait_at(plan)

    def interrupt(self) -> None:
        """Stop the arm motion in progress, from any thread or a signal handler (as Ctrl-C does).

        The motion's own thread cancels every goal, retracts the arms and raises
        :class:`~pushseg.robot.interrupts.MotionInterrupted`. Called while nothing
        moves, the next motion raises it before sending anything.
        """
        self._interrupt.set()

    def _on_sigint(self, signum, frame) -> None:
        # Only a flag: raising here could land inside rospy or actionlib code that swallows exceptions.
        self._interrupt.set()

    def _raise_if_interrupted(self) -> None:
        if self._interrupt.is_set():
            raise _Interrupted(sent=False)

    def _after_interrupt(self, what: str, sent: bool) -> MotionInterrupted:
        """Cancel, retract (a second interrupt abandons it), chain the previous handler; the exception to raise."""
        self._interrupt.clear()
        if not sent:
            self._sigint.chain()
            return MotionInterrupted(f"{what} interrupted before it was sent: nothing was sent")
        self._retracting = True
        try:
            done = self._emergency_stop()
        except _Interrupted:
            self._interrupt.clear()
            for client in self._clients.values():
                client.cancel_all_goals()
            done = "a second interrupt abandoned the retract, the arms stopped where they were; retract them by hand"
            log.error("%s", done)
        finally:
            self._retracting = False
        self._inflight = None
        self._sigint.chain()
        return MotionInterrupted(f"{what} interrupted: goals cancelled, {done}")

    def _wait_for_server(self, client, plan, ns: str, timeout: float) -> None:
        """Wait for the action server in short slices, so that an interrupt is seen at once."""
        deadline = time.monotonic() + timeout
        while not client.wait_for_server(self._rospy.Duration(min(0.1, timeout))):
            self._raise_if_interrupted()
            if time.monotonic() > deadline:
                raise BackendError(
                    f"action server {ns} did not answer within {timeout} s: is the {plan.side}_arm_controller "
                    "running (pr2_controller_manager list)? nothing was sent"
                )

    def _wait_for(self, client, plan, ns: str, budget: float, what: str) -> None:
        from actionlib_msgs.msg import GoalStatus

        deadline = time.monotonic() + budget
        while True:
            if self._interrupt.is_set():
                raise _Interrupted(sent=True)
            state = client.get_state()
            if state in (GoalStatus.SUCCEEDED, GoalStatus.ABORTED, GoalStatus.REJECTED, GoalStatus.PREEMPTED,
                         GoalStatus.RECALLED, GoalStatus.LOST):
                break
            if self._halted:
                client.cancel_all_goals()
                raise BackendError(
                    f"{what}: motors halted during the motion (run-stop?); goal on {ns} cancelled. "
                    "Release the run-stop, reset the motors, and check the scene before going on"
                )
            if time.monotonic() > deadline:
                client.cancel_all_goals()
                raise BackendError(
                    f"{what}: no result from {ns} within {budget:.1f} s (trajectory {plan.duration:.1f} s); "
                    "goal cancelled. Check the controller (is it running, does it accept the joints?)"
                )
            time.sleep(_POLL)
        if self._interrupt.is_set():  # came during the last poll: the motion may have ended early
            raise _Interrupted(sent=True)
        if state != GoalStatus.SUCCEEDED:
            text = client.get_goal_status_text()
            raise BackendError(
                f"{what}: {ns} ended the goal as {_STATE_NAMES.get(state, state)} "
                f"({text or 'no text'}); the arm may not have finished its motion"
            )

    def _wait_at(self, plan: planning.ArmPlan) -> None:
        """After success the arm must report (via /joint_states) the plan's last point."""
        target = plan.positions[-1]
        deadline = time.monotonic() + self.config.timeouts.joint_states
        while True:
            q = self._arm_q(plan.side)
            err = float(np.max(np.abs(kin.joint_deltas(q, target))))
            if err <= self.config.arms.out_of_view_tolerance:
                return
            if time.monotonic() > deadline:
                raise BackendError(
                    f"the {plan.side} arm reports joints {err:.3f} rad from where its trajectory ended; "
                    f"check {self.config.topics.joint_states} and the controller"
                )
            time.sleep(_POLL)

    def _goal(self, plan: planning.ArmPlan):
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        rospy = self._rospy
        traj = JointTrajectory()
        traj.joint_names = list(plan.joint_names)
        # Start a little in the future so the first point is not already late.
        traj.header.stamp = rospy.Time.now() + rospy.Duration(0.1)
        for q, v, t in zip(plan.positions, plan.velocities, plan.times):
            traj.points.append(
                JointTrajectoryPoint(
                    positions=q.tolist(), velocities=v.tolist(), time_from_start=rospy.Duration(float(t))
                )
            )
        goal = self._types.Goal()
        goal.trajectory = traj
        return goal

    def _emergency_stop(self) -> str:
        """Cancel every goal, then retract every arm that is out of place; says how that went."""
        for client in self._clients.values():
            client.cancel_all_goals()
        log.warning("interrupted: all arm goals cancelled; retracting the arms")
        time.sleep(0.2)  # let the controllers stop and /joint_states catch up
        try:
            self._arms_out_of_view()
        except (BackendError, planning.PushRefused) as e:
            log.error("could not retract the arms after the interrupt: %s. Retract them by hand (teleop/tuck_arms)", e)
            return f"but the arms could NOT be retracted ({e}); retract them by hand"
        return "arms retracted"

    def _require_motors_on(self) -> None:
        if self.dry_run:
            return
        topic = self.config.topics.motors_halted
        if self._halted is None and self.config.safety.require_motors_halted_topic:
            self._wait(lambda: self._halted is not None, self.config.timeouts.motors_halted,
                       f"no message on {topic}: is pr2_ethercat running? (set "
                       "safety.require_motors_halted_topic: false only on a robot without it); nothing was sent")
        if self._halted:
            raise BackendError(
                f"{topic} says the motors are halted (run-stop pressed?): release it and reset the motors "
                "(e.g. rosservice call /pr2_ethercat/reset_motors); nothing was sent"
            )

    # --- state from topics ---------------------------------------------------------

    def _record(self, topic: str, msg) -> None:
        if self._recorder is not None:
            self._recorder.write(topic, msg, self._rospy.get_rostime().to_nsec())

    def _on_image(self, msg, kind: str) -> None:
        t = self.config.topics
        self._record({"color": t.color, "depth": t.depth, "info": t.camera_info}[kind], msg)
        with self._lock:
            self._images[kind].append(_Stamped(msg.header.stamp.to_sec(), msg))
            self._lock.notify_all()

    def _on_joints(self, msg) -> None:
        self._record(self.config.topics.joint_states, msg)
        with self._lock:
            self._joints.update(zip(msg.name, msg.position))
            self._joints_stamp = time.monotonic()
            self._lock.notify_all()

    def _on_halted(self, msg) -> None:
        self._record(self.config.topics.motors_halted, msg)
        with self._lock:
            self._halted = bool(msg.data)

    def _wait(self, ready, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not ready():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BackendError(f"timed out after {timeout:.1f} s: {message}")
                self._lock.wait(min(left, 0.1))

    def _arm_q(self, side: str) -> np.ndarray:
        names = kin.pr2_arm(side).joint_names
        self._wait(lambda: all(n in self._joints for n in names), self.config.timeouts.joint_states,
                   f"no positions of {', '.join(names)} on {self.config.topics.joint_states}: "
                   "is the robot (robot_state/joint_states publisher) running?")
        with self._lock:
            return np.array([self._joints[n] for n in names])

    def _torso(self) -> float:
        self._wait(lambda: kin.TORSO_JOINT in self._joints, self.config.timeouts.joint_states,
                   f"no {kin.TORSO_JOINT} on {self.config.topics.joint_states}")
        with self._lock:
            return float(self._joints[kin.TORSO_JOINT])

    # --- images ----------------------------------------------------------------------

    def _matching(self, after: float, max_age: float, now: float, newer_than: float | None = None):
        """The newest colour/depth/info triple with equal stamps, taken after ``after`` and fresh
        (and stamped after ``newer_than``, the last image dropped, when given)."""
        by_stamp = {}
        for kind in ("color", "depth", "info"):
            for s in self._images[kind]:
                by_stamp.setdefault(s.stamp, {})[kind] = s.msg
        for stamp in sorted(by_stamp, reverse=True):
            msgs = by_stamp[stamp]
            if newer_than is not None and stamp <= newer_than:
                break
            if len(msgs) == 3 and stamp >= after and now - stamp <= max_age:
                return stamp, msgs
        return None

    def _grab_frame(self, after: float) -> Frame:
        """The newest matching image with its camera pose; an image older than the tf buffer is dropped
        and the next one taken, until ``timeouts.image`` runs out (:mod:`pushseg.real.camera_pose`)."""
        topics = self.config.topics
        timeout = self.config.timeouts.image
        max_age = self.config.camera.max_image_age
        deadline = time.monotonic() + timeout
        dropped: list[StampBeforeTf] = []
        frame_id = self.config.frames.camera
        while True:
            found = None
            newer_than = dropped[-1].stamp if dropped else None
            with self._lock:
                while found is None:
                    found = self._matching(after, max_age, self._rospy.Time.now().to_sec(), newer_than)
                    if found is not None:
                        break
                    if time.monotonic() > deadline:
                        if dropped:
                            raise BackendError(self._before_tf_message(dropped, frame_id, timeout))
                        raise BackendError(self._image_timeout_message(topics, timeout, after, max_age))
                    self._lock.wait(0.05)
            stamp, msgs = found
            info = msgs["info"]
            frame_id = info.header.frame_id.lstrip("/") or self.config.frames.camera
            try:
                T_base_camera = self._lookup(frame_id, stamp)
            except StampBeforeTf as e:
                log.info("dropped the image stamped %.3f s: older than tf's oldest transform %s <- %s (%.3f s)",
                         stamp, self.config.frames.base, frame_id, e.oldest)
                dropped.append(e)
                continue
            break
        rgb = images.color_to_rgb(msgs["color"], topics.color)
        depth = images.depth_to_metres(msgs["depth"], topics.depth)
        w, h = int(info.width), int(info.height)
        for topic, arr in ((topics.color, rgb), (topics.depth, depth)):
            if arr.shape[:2] != (h, w):
                raise BackendError(f"{topic} is {arr.shape[1]}x{arr.shape[0]} but camera_info says {w}x{h}")
        camera = CameraInfo(
            width=w, height=h, K=images.intrinsics(info, topics.camera_info),
            T_base_camera=T_base_camera, frame_id=frame_id,
        )
        return Frame(rgb=rgb, depth=depth, camera=camera, timestamp=stamp)

    def _before_tf_message(self, dropped: list[StampBeforeTf], frame_id: str, timeout: float) -> str:
        first, last = dropped[0], dropped[-1]
        return (f"no usable image within {timeout:.1f} s: {len(dropped)} image(s) were older than the oldest transform "
                f"tf holds for {self.config.frames.base} <- {frame_id} and were dropped (stamps {first.stamp:.3f} "
                f"to {last.stamp:.3f} s; tf's oldest transform {last.oldest:.3f} s, {last.oldest - last.stamp:.3f} s "
                f"later), and no usable image came after them. Are the clocks of this machine, the robot and the camera in sync "
                f"(the camera's stamps must not lag the robot's), is the head's tf published continuously "
                f"(rostopic hz /tf), and does {self.config.topics.color} keep coming (rostopic hz)?")

    def _image_timeout_message(self, topics, timeout: float, after: float, max_age: float) -> str:
        missing = [getattr(topics, k) for k, key in (("color", "color"), ("depth", "depth"), ("camera_info", "info"))
                   if not self._images[key]]
        if missing:
            return (f"no messages on {', '.join(missing)} within {timeout:.1f} s: is kinect2_bridge running "
                    "and publishing (rostopic hz)? check topics.* in the real-robot config")
        newest = max(s.stamp for s in self._images["color"])
        now = self._rospy.Time.now().to_sec()
        if now - newest > max_age:
            return (f"camera images are stale: the newest on {topics.color} is {now - newest:.1f} s old, more than "
                    f"camera.max_image_age {max_age:.1f} s; is the camera still running, are the clocks in sync?")
        if newest < after:
            return (f"no image taken after the arms settled (newest stamp {newest:.3f} < {after:.3f}) within "
                    f"{timeout:.1f} s; is the camera stream stalled?")
        return (f"colour, depth and camera_info never shared a stamp within {timeout:.1f} s; kinect2_bridge "
                "publishes all three of one frame with one stamp: check the topic names")

    def _lookup(self, frame_id: str, stamp: float) -> np.ndarray:
        """T_base_camera at the image's stamp (:mod:`pushseg.real.camera_pose`)."""
        return camera_pose(self._tf, self.config.frames.base, frame_id, stamp,
                           self.config.timeouts.tf, at_stamp=self.config.camera.tf_at_image_stamp)

    def _fit_table_z(self, frame: Frame, seed: int | None) -> float:
        """The table top height in base_link at the workspace centre, fitted inside ``safety.table``."""
        safety_ = self.config.safety
        region = (safety_.table.x, safety_.table.y)
        at = (float(np.mean(safety_.workspace.x)), float(np.mean(safety_.workspace.y)))
        try:
            return table_height(frame.camera, frame.depth, region, at, rng=0 if seed is None else seed)
        except InputError as e:
            raise BackendError(
                f"could not find the table in the depth image within safety.table x {region[0]}, y {region[1]}: "
                f"{e}; check the camera calibration tf and safety.table, or set push.table_z"
            ) from e
