"""Any arm on ROS 2: a joint-trajectory controller, any RGB-D camera, IK and limits from the URDF.

``Ros2Backend`` (``--backend ros2``, :mod:`pushseg.ros2.backend`) needs rclpy
(the ``ros2`` extra) and is imported lazily; the config, URDF kinematics,
planning and safety checks, the simulated arm's world and the bag importer
need no ROS. See docs/ros2.md.
"""

from __future__ import annotations

__all__ = ["Ros2Backend"]


def __getattr__(name: str):
    if name == "Ros2Backend":
        from pushseg.ros2.backend import Ros2Backend

        return Ros2Backend
    raise AttributeError(f"module 'pushseg.ros2' has no attribute {name!r}")
