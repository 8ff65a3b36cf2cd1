"""A fake PR2 + Kinect2 as a ROS1 node, driven by the PyBullet simulation.

It speaks what a real PR2 with a head Kinect2 speaks, so the real backend can
be run end to end on one machine:

* ``/kinect2/qhd/image_color_rect`` (bgr8), ``/kinect2/qhd/image_depth_rect``
  (16UC1 mm, 0 = no reading) and ``/kinect2/qhd/camera_info``, one stamp per
  frame, at ``--rate`` Hz (the scene is rendered again only after it changed);
* ``/tf_static``: base_link -> head_mount_kinect2_rgb_optical_frame (the
  calibration), from the simulated camera pose; with ``--tf-rate 20`` it goes
  on ``/tf`` instead, stamped now, 20 times a second (as a PR2's
  robot_state_publisher sends the head's transforms);
* ``/joint_states`` (arms, torso, head) and ``/pr2_ethercat/motors_halted``;
* ``/{r,l}_arm_controller/joint_trajectory_action``: a goal with a point beyond
  the safety controller's soft joint limits is aborted before the arm moves
  (a real PR2 holds the joint at the limit and the goal fails); any other goal
  is played back in time (``--time-scale`` speeds it up); the gripper tool frame's path,
  from forward kinematics of the trajectory, is followed by the simulated
  pusher wherever it comes down near the table (``execute_path``).
  Cancelling a goal stops the arm where it is.

The simulation is driven through :class:`pushseg.backends.SimulatedBackend`
alone (the Backend protocol plus ``table``, ``execute_path`` and ``render``),
in :class:`SimulatedPR2`, which needs no ROS; ``--backend`` picks any
registered backend that satisfies it.

Run: ``python -m pushseg.real.fake_pr2 --objects target-train --seed 0``
(needs a ROS master, e.g. ``roscore``). Options make it misbehave for tests:
``--silent-camera``, ``--stamp-lag``, ``--no-tf``, ``--no-arm r``, ``--stall``,
``--motors-halted``, and ``--early-images N`` (with ``--early-by S``): the first
N images sent once the colour topic has a subscriber are stamped S seconds in
the past, so that with ``--tf-rate`` they are older than any transform the
subscriber's tf buffer holds (the startup race of a real PR2).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from pushseg import backends
from pushseg.backends import SimulatedBackend
from pushseg.errors import BackendError
from pushseg.geometry import matrix_quaternion
from pushseg.robot import images
from pushseg.real import kinematics as kin
from pushseg.real.config import RealBackendConfig
from pushseg.real.rosenv import ensure_ros_importable
from pushseg.types import Frame, ObjectMotion

# The pusher only matters below this height above the table (objects are at most ~12 cm tall).
LOW_ABOVE_TABLE = 0.14
HEAD = {"head_pan_joint": 0.0, "head_tilt_joint": 0.9}  # the pose pr2_head_camera_pose assumes
SOFT_LIMIT_TOLERANCE = 1e-6  # rad: goals are refused only beyond the soft limits themselves (no planning margin)


class SimulatedPR2:
    """The fake robot's world, without ROS: a simulation, the arms' joints and the torso.

    ``sim`` is used only through :class:`pushseg.backends.SimulatedBackend`. Its
    table is read as it really is (its size and height vary with the world profile).
    """

    def __init__(self, sim: SimulatedBackend, seed: int, *, torso: float = 0.1, arms_raised: bool = False,
                 motion_log: str = "") -> None:
        if not isinstance(sim, SimulatedBackend):
            raise BackendError(f"the fake PR2 needs a simulation that follows tool paths (pushseg.types."
                               f"SimulatedBackend); {type(sim).__name__} is not one")
        self.sim = sim
        self.sim_lock = threading.Lock()  # PyBullet is not thread-safe; both arms share it
        self.state_lock = threading.Lock()
        self.first_frame = sim.reset(seed)
        self.torso = float(torso)
        self.motion_log = motion_log
        self.on_push: Callable[[tuple[ObjectMotion, ...], int], None] | None = None  # told after every stretch
        config = RealBackendConfig()
        if arms_raised:  # in the camera's view: the backend must move them out first
            self.q = {side: config.via_poses(side)[-1].copy() for side in ("r", "l")}
        else:  # tucked (out of view), where a PR2's safety controller lets a tucked arm rest
            self.q = {side: config.arm_pose("out_of_view", side) for side in ("r", "l")}

    def image(self) -> Frame:
        """A new image of the scene (the arms are never in it)."""
        with self.sim_lock:
            return self.sim.render()

    def _low(self, tool: np.ndarray) -> bool:
        table = self.sim.table
        return bool(tool[2] < table.top_z + LOW_ABOVE_TABLE and table.x[0] < tool[0] < table.x[1]
                    and table.y[0] < tool[1] < table.y[1])

    def move(self, side: str, points: list[np.ndarray], wait: Callable[[int, float], bool]) -> bool:
        """Move ``side``'s arm through the joint ``points`` (the first: where it is now).

        The pusher follows the tool wherever it comes down near the table.
        ``wait(i, s)`` paces the motion (fraction ``s`` of segment ``i``) and returns
        False to stop the arm where it is. True when the arm got to the end.
        """
        arm = kin.pr2_arm(side)
        points = [np.asarray(q, dtype=np.float64) for q in points]
        for i in range(1, len(points)):  # the controller moves continuous joints the short way; so does this
            points[i] = points[i - 1] + kin.joint_deltas(points[i - 1], points[i])
        pending: list[np.ndarray] = []  # tool points of the current low (near-table) stretch
        finished = True
        for i in range(1, len(points)):
            n = max(2, int(np.ceil(np.max(np.abs(points[i] - points[i - 1])) / 0.02)))
            for s in np.linspace(0.0, 1.0, n + 1)[1:]:
                q = points[i - 1] + s * (points[i] - points[i - 1])
                tool = kin.fk(arm, q, self.torso)[:3, 3]
                if self._low(tool):
                    if not pending or np.linalg.norm(tool - pending[-1]) >= 0.005:
                        pending.append(tool)
                elif pending:
                    self.push_along(pending)
                    pending = []
                with self.state_lock:
                    self.q[side] = q
                if not wait(i, float(s)):
                    finished = False
                    break
            if not finished:
                break
        if pending:
            self.push_along(pending)
        return finished

    def push_along(self, tool_points: list[np.ndarray]) -> tuple[ObjectMotion, ...]:
        with self.sim_lock:
            motions = self.sim.execute_path(np.array(tool_points))
        if self.motion_log:  # ground truth for tests: one JSON line per stretch of pushing
            with open(self.motion_log, "a") as f:
                f.write(json.dumps({"points": len(tool_points), "motions": [m.to_dict() for m in motions]}) + "\n")
        if self.on_push is not None:
            self.on_push(motions, len(tool_points))
        return motions


class FakePR2:
    def __init__(self, args: argparse.Namespace) -> None:
        ensure_ros_importable()
        import actionlib
        import rospy
        import tf2_ros
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Bool

        from pushseg.real.msgs import joint_trajectory_action

        self.args = args
        self.rospy = rospy
        self._Image, self._CameraInfo, self._JointState = Image, CameraInfo, JointState
        # The simulation through the backend registry: pushseg.real never imports pushseg.envs.
        sim = backends.make_backend(args.backend, objects=args.objects, width=args.width, height=args.height,
                                    region_x=tuple(args.region_x), region_y=tuple(args.region_y), world=args.world)
        self.world = SimulatedPR2(sim, args.seed, torso=args.torso, arms_raised=args.arms_raised,
                                  motion_log=args.motion_log)
        self.world.on_push = self._push_logged
        self.state_lock = self.world.state_lock
        self.goals = {"r": 0, "l": 0}
        self.refused = {"r": 0, "l": 0}
        self.early_left = int(args.early_images)  # images still to stamp early (once subscribed)

        rospy.init_node("fake_pr2", anonymous=False, disable_signals=False)
        self.pub_color = rospy.Publisher(args.color_topic, Image, queue_size=2)
        self.pub_depth = rospy.Publisher(args.depth_topic, Image, queue_size=2)
        self.pub_info = rospy.Publisher(args.info_topic, CameraInfo, queue_size=2)
        self.pub_joints = rospy.Publisher("/joint_states", JointState, queue_size=10)
        self.pub_halted = rospy.Publisher("/pr2_ethercat/motors_halted", Bool, queue_size=1, latch=True)
        self.pub_halted.publish(Bool(data=bool(args.motors_halted)))
        self._Bool = Bool
        self._render()
        self._publish_tf(tf2_ros)

        types = joint_trajectory_action()
        self.servers = {}
        for side in ("r", "l"):
            if side in args.no_arm:
                continue
            ns = f"/{side}_arm_controller/joint_trajectory_action"
            server = actionlib.SimpleActionServer(
                ns, types.Action, execute_cb=lambda goal, s=side: self._execute(s, goal), auto_start=False
            )
            server.start()
            self.servers[side] = server
        self._result_type = types.Result

    # --- camera --------------------------------------------------------------------

    def _render(self) -> None:
        """Render the scene (arms out of view) and keep the three messages to publish."""
        frame = self.world.image()
        h, w = frame.depth.shape
        color = self._Image(height=h, width=w, encoding="bgr8", is_bigendian=0, step=3 * w,
                            data=images.rgb_to_bgr8_bytes(frame.rgb))
        depth = self._Image(height=h, width=w, encoding="16UC1", is_bigendian=0, step=2 * w,
                            data=images.metres_to_16uc1_bytes(frame.depth))
        K = frame.camera.K
        info = self._CameraInfo(height=h, width=w, distortion_model="plumb_bob", D=[0.0] * 5,
                                K=K.reshape(-1).tolist(), R=np.eye(3).reshape(-1).tolist(),
                                P=np.hstack([K, np.zeros((3, 1))]).reshape(-1).tolist())
        frame_id = self.args.camera_frame
        for m in (color, depth, info):
            m.header.frame_id = frame_id
        with self.state_lock:
            self.camera_msgs = (color, depth, info)
            self.T_base_camera = frame.camera.T_base_camera

    def _publish_tf(self, tf2_ros) -> None:
        from geometry_msgs.msg import TransformStamped

        self._tf_broadcaster = None
        if self.args.no_tf:
            return
        T = self.T_base_camera
        t = TransformStamped()
        t.header.stamp = self.rospy.Time.now()
        t.header.frame_id = "base_link"
        t.child_frame_id = self.args.camera_frame
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in T[:3, 3])
        q = matrix_quaternion(T[:3, :3])
        (t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w) = q
        self._tf_msg = t
        if self.args.tf_rate > 0:  # on /tf, stamped now, from the main loop (publish_tf)
            self._tf_broadcaster = tf2_ros.TransformBroadcaster()
            return
        tf2_ros.StaticTransformBroadcaster().sendTransform(t)

    def publish_tf(self) -> None:
        """The camera's transform on /tf, stamped now (only with --tf-rate)."""
        if self._tf_broadcaster is None:
            return
        self._tf_msg.header.stamp = self.rospy.Time.now()
        self._tf_broadcaster.sendTransform(self._tf_msg)

    def publish_camera(self) -> None:
        if self.args.silent_camera:
            return
        with self.state_lock:
            msgs = self.camera_msgs
        lag = float(self.args.stamp_lag)
        if self.early_left > 0 and self.pub_color.get_num_connections() > 0:
            self.early_left -= 1
            lag += float(self.args.early_by)
        stamp = self.rospy.Time.now() - self.rospy.Duration(lag)
        for m in msgs:
            m.header.stamp = stamp
        self.pub_color.publish(msgs[0])
        self.pub_depth.publish(msgs[1])
        self.pub_info.publish(msgs[2])

    def publish_joints(self) -> None:
        msg = self._JointState()
        msg.header.stamp = self.rospy.Time.now()
        with self.state_lock:
            for side in ("r", "l"):
                msg.name += kin.pr2_arm(side).joint_names
                msg.position += self.world.q[side].tolist()
        msg.name += [kin.TORSO_JOINT, *HEAD]
        msg.position += [self.world.torso, *HEAD.values()]
        self.pub_joints.publish(msg)

    # --- arms ----------------------------------------------------------------------

    def _execute(self, side: str, goal) -> None:
        server = self.servers[side]
        arm = kin.pr2_arm(side)
        traj = goal.trajectory
        self.goals[side] += 1
        names = list(traj.joint_names)
        if sorted(names) != sorted(arm.joint_names) or not traj.points:
            server.set_aborted(self._result_type(), f"expected the joints {arm.joint_names} and at least one point")
            return
        if self.args.stall:  # accept the goal and never finish it (result-timeout tests)
            while not server.is_preempt_requested() and not self.rospy.is_shutdown():
                time.sleep(0.02)
            server.set_preempted(self._result_type(), "cancelled while stalled")
            return
        order = [names.index(n) for n in arm.joint_names]
        with self.state_lock:
            start = self.world.q[side].copy()
        points = [start] + [np.asarray(p.positions, dtype=np.float64)[order] for p in traj.points]
        for i, q in enumerate(points[1:]):
            # A PR2's safety controller holds a joint at its soft limit, so such a goal never completes
            # (the controller aborts it); here it is refused at once and the arm does not move.
            beyond = arm.soft_limit_violations(q, tol=SOFT_LIMIT_TOLERANCE)
            if beyond:
                self.refused[side] += 1
                text = f"point {i} beyond the soft joint limits: {'; '.join(beyond)}"
                self.rospy.logwarn("fake_pr2: %s arm goal aborted: %s", side, text)
                server.set_aborted(self._result_type(), text)
                return
        times = [0.0] + [p.time_from_start.to_sec() for p in traj.points]
        scale = float(self.args.time_scale)
        t0 = time.monotonic()

        def wait(i: int, s: float) -> bool:
            """Play back in (scaled) time; a cancel stops the arm where it is."""
            due = t0 + scale * (times[i - 1] + s * (times[i] - times[i - 1]))
            while time.monotonic() < due:
                if server.is_preempt_requested() or self.rospy.is_shutdown():
                    return False
                time.sleep(min(0.01, max(0.0, due - time.monotonic())))
            return True

        finished = self.world.move(side, points, wait)
        self._render()
        if finished:
            server.set_succeeded(self._result_type(), "done")
        else:
            server.set_preempted(self._result_type(), "cancelled")

    def _push_logged(self, motions: tuple[ObjectMotion, ...], points: int) -> None:
        moved = [f"{m.name} {100 * m.translation:.1f} cm" for m in motions if m.translation > 0.002]
        self.rospy.loginfo("fake_pr2: pusher followed %d tool points; moved: %s", points, ", ".join(moved) or "nothing")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pushseg.real.fake_pr2", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="sim",
                   help="the simulation: a registered backend that follows tool paths (pushseg.backends.SimulatedBackend)")
    p.add_argument("--objects", default="target-train", help="simulated object set")
    p.add_argument("--seed", type=int, default=0, help="scene seed")
    p.add_argument("--world", default=None, choices=["ideal", "robot", "harsh"],
                   help="simulated world profile (default: the object set's, robot for the target sets)")
    p.add_argument("--width", type=int, default=960, help="image width (a Kinect2 qhd is 960)")
    p.add_argument("--height", type=int, default=540, help="image height (a Kinect2 qhd is 540)")
    p.add_argument("--region-x", type=float, nargs=2, default=(0.50, 0.80), metavar=("MIN", "MAX"),
                   help="where objects are put down, base_link x (default: within the PR2's reach)")
    p.add_argument("--region-y", type=float, nargs=2, default=(-0.30, 0.30), metavar=("MIN", "MAX"),
                   help="where objects are put down, base_link y")
    p.add_argument("--rate", type=float, default=10.0, help="camera frames per second")
    p.add_argument("--time-scale", type=float, default=1.0, help="trajectory playback: 0.1 = ten times faster")
    p.add_argument("--torso", type=float, default=0.1, help="torso_lift_joint position (m)")
    p.add_argument("--camera-frame", default="head_mount_kinect2_rgb_optical_frame")
    p.add_argument("--color-topic", default="/kinect2/qhd/image_color_rect")
    p.add_argument("--depth-topic", default="/kinect2/qhd/image_depth_rect")
    p.add_argument("--info-topic", default="/kinect2/qhd/camera_info")
    p.add_argument("--silent-camera", action="store_true", help="publish no images (timeout tests)")
    p.add_argument("--stamp-lag", type=float, default=0.0, help="stamp images this many seconds in the past")
    p.add_argument("--no-tf", action="store_true", help="publish no camera tf")
    p.add_argument("--tf-rate", type=float, default=0.0, metavar="HZ",
                   help="publish the camera tf on /tf at this rate, stamped now (default 0: once on /tf_static)")
    p.add_argument("--early-images", type=int, default=0, metavar="N",
                   help="stamp the first N images sent once the colour topic has a subscriber --early-by in the past")
    p.add_argument("--early-by", type=float, default=0.5, metavar="S",
                   help="how many seconds --early-images stamps them in the past")
    p.add_argument("--no-arm", action="append", default=[], choices=["r", "l"], help="do not serve this arm")
    p.add_argument("--arms-raised", action="store_true", help="start with both arms raised instead of tucked")
    p.add_argument("--stall", action="store_true", help="accept arm goals but never finish them")
    p.add_argument("--motors-halted", action="store_true", help="report the run-stop as pressed")
    p.add_argument("--motion-log", default="", help="append how the objects moved (JSON lines) to this file")
    return p


def _objects_in_view(frame: Frame) -> int:
    ids = frame.instance_ids
    return 0 if ids is None else int(np.count_nonzero(np.unique(ids)))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    node = FakePR2(args)
    rospy = node.rospy
    print(f"fake_pr2: ready ({args.width}x{args.height}, {_objects_in_view(node.world.first_frame)} objects in view, "
          f"serving arms {sorted(node.servers)})", flush=True)
    period = 1.0 / max(args.rate, 1e-3)
    tf_period = 1.0 / args.tf_rate if args.tf_rate > 0 else None
    next_camera = next_halted = next_tf = time.monotonic()
    while not rospy.is_shutdown():
        now = time.monotonic()
        node.publish_joints()  # 50 Hz, like the PR2's joint_states
        if tf_period is not None and now >= next_tf:
            node.publish_tf()
            next_tf = max(next_tf + tf_period, now)
        if now >= next_camera:
            node.publish_camera()
            next_camera = max(next_camera + period, now)
        if now >= next_halted:
            node.pub_halted.publish(node._Bool(data=bool(args.motors_halted)))
            next_halted = now + 0.5
        time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
