"""A ROS 2 client of the simulated arm, run as its own process by tests/test_ros2_sim_arm.py (never inside pytest).

It takes the robot description, a camera frame and joint states, sends a trajectory
beyond the joint limits (refused: the arm must not move), then a good one, and
follows /joint_states until the arm is at its end. Prints one JSON line of what it saw.
"""

from __future__ import annotations

import json
import sys
import time

from pushseg.ros2.rclenv import ensure_rclpy

ensure_rclpy()

import rclpy  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint  # noqa: E402

JOINTS = [f"panda_joint{i}" for i in range(1, 8)]


def stamp(msg) -> float:
    return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec


class Client:
    def __init__(self) -> None:
        rclpy.init()
        self.node = rclpy.create_node("sim_arm_test_client")
        self.got: dict[str, list] = {"color": [], "depth": [], "info": [], "joints": [], "urdf": []}
        keep = self.got
        n = self.node
        n.create_subscription(Image, "/camera/color/image_raw", keep["color"].append, qos_profile_sensor_data)
        n.create_subscription(Image, "/camera/aligned_depth_to_color/image_raw", keep["depth"].append,
                              qos_profile_sensor_data)
        n.create_subscription(CameraInfo, "/camera/color/camera_info", keep["info"].append, qos_profile_sensor_data)
        n.create_subscription(JointState, "/joint_states", keep["joints"].append, 50)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
        n.create_subscription(String, "/robot_description", keep["urdf"].append, latched)
        self.pub = n.create_publisher(JointTrajectory, "/panda_arm_controller/joint_trajectory", 10)

    def spin_until(self, done, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out after {timeout} s waiting for {what}")
            rclpy.spin_once(self.node, timeout_sec=0.02)

    def q(self) -> list[float]:
        m = self.got["joints"][-1]
        return [m.position[list(m.name).index(j)] for j in JOINTS]

    def send(self, positions: list[float], seconds: float, names: list[str] = JOINTS) -> None:
        msg = JointTrajectory(joint_names=names)
        msg.points = [JointTrajectoryPoint(positions=positions)]
        msg.points[0].time_from_start.sec = int(seconds)
        msg.points[0].time_from_start.nanosec = int(round((seconds - int(seconds)) * 1e9))
        self.pub.publish(msg)


def main() -> None:
    target = json.loads(sys.argv[1])
    c = Client()
    got = c.got
    c.spin_until(lambda: got["urdf"] and got["joints"] and got["color"] and got["depth"] and got["info"]
                 and c.pub.get_subscription_count() > 0, 15.0, "the description, joint states, images, a subscriber")
    start = c.q()
    out = {"urdf_chars": len(got["urdf"][0].data), "camera_joint": "camera_color_optical_frame" in got["urdf"][0].data,
           "names": list(got["joints"][-1].name), "start": start,
           "color": [got["color"][-1].encoding, got["color"][-1].width, got["color"][-1].height,
                     got["color"][-1].header.frame_id, len(got["color"][-1].data)],
           "depth": [got["depth"][-1].encoding, len(got["depth"][-1].data)], "k": list(got["info"][-1].k),
           "stamps": [stamp(got[k][-1]) for k in ("color", "depth", "info")]}
    c.send([*start[:3], 1.0, *start[4:]], 1.0)  # panda_joint4 1.0 is beyond its upper limit 0
    t = time.monotonic()
    c.spin_until(lambda: time.monotonic() - t > 0.5, 2.0, "nothing")
    out["after_refused"] = c.q()
    for k in got:
        got[k].clear()
    sent = c.node.get_clock().now().nanoseconds * 1e-9
    c.send(list(reversed(target)), 3.0, list(reversed(JOINTS)))  # any order of the joints
    c.spin_until(lambda: got["joints"] and max(abs(a - b) for a, b in zip(c.q(), target)) < 1e-6, 15.0,
                 "the arm to arrive")
    def off(m, q) -> float:
        return max(abs(m.position[list(m.name).index(j)] - v) for j, v in zip(JOINTS, q))

    between = [stamp(m) for m in got["joints"] if off(m, start) > 1e-9 and off(m, target) > 1e-6]
    arrived = min(stamp(m) for m in got["joints"] if off(m, target) <= 1e-6)
    out.update(sent=sent, arrived=arrived, between=[between[0], between[-1]] if between else [],
               image_stamps=[stamp(m) for m in got["color"]], end=c.q())
    c.spin_until(lambda: got["color"] and stamp(got["color"][-1]) > arrived, 5.0, "an image after the motion")
    out["image_after"] = stamp(got["color"][-1])
    print(json.dumps(out), flush=True)
    c.node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
