"""The one place where pushseg checks that ROS 2 (rclpy) can be used in this process.

ROS 2 Jazzy comes from PyPI (the ``ros2`` extra: ``ros-jazzy-rclpy`` with Fast
DDS and the message packages). Its message packages have the names of ROS 1's
(``sensor_msgs``, ``std_msgs`` ...), so a process that has made ROS 1 importable
(:mod:`pushseg.real.rosenv`) cannot use ROS 2: that is refused with a clear
error rather than failing inside a message class.

In CI ``PUSHSEG_REQUIRE_ROS2=1`` turns a missing rclpy into a test failure
instead of a skip (as ``PUSHSEG_REQUIRE_ROS`` does for ROS 1).
"""

from __future__ import annotations

import importlib
import os
import sys

from pushseg.errors import BackendError

REQUIRE_VAR = "PUSHSEG_REQUIRE_ROS2"
INSTALL_HINT = "install the ros2 extra: pip install 'pushseg[ros2]' (ROS 2 Jazzy's rclpy and messages from PyPI)"
MESSAGES = ("sensor_msgs.msg", "std_msgs.msg", "trajectory_msgs.msg", "builtin_interfaces.msg")


def _ros1_in_process() -> bool:
    return any(type(f).__name__ == "_Ros1Messages" for f in sys.meta_path) or "rospy" in sys.modules


def ensure_rclpy() -> None:
    """Make sure rclpy and the ROS 2 messages import here, or raise BackendError saying why and what to do."""
    if _ros1_in_process():
        raise BackendError(
            "this process already uses ROS 1 (rospy), whose message packages have the same names as ROS 2's; "
            "run the ros2 backend in its own process"
        )
    try:
        importlib.import_module("rclpy")
        for name in MESSAGES:
            importlib.import_module(name)
    except ImportError as e:
        raise BackendError(f"ROS 2 is not importable ({e}); {INSTALL_HINT}") from e
    import sensor_msgs.msg

    if not hasattr(sensor_msgs.msg.Image, "get_fields_and_field_types"):
        raise BackendError(f"sensor_msgs here is not ROS 2's ({sensor_msgs.__file__}); {INSTALL_HINT}")


def ros2_available() -> tuple[bool, str]:
    """(True, "") when rclpy and the messages import in this process; else (False, why)."""
    try:
        ensure_rclpy()
    except BackendError as e:
        return False, str(e)
    return True, ""


def ros2_required() -> bool:
    """CI sets PUSHSEG_REQUIRE_ROS2=1: then a missing rclpy is an error, not a skip."""
    return os.environ.get(REQUIRE_VAR, "").strip() not in ("", "0", "false", "no")
