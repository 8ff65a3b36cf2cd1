"""Recording a ROS 2 session into one MCAP file (``Ros2Backend(record=...)``).

The writer itself is shared with the ROS 1 backend and needs no ROS
(:mod:`pushseg.robot.recording`); here it is under the name the ROS 2 backend
uses. ``Recorder.open(path)`` creates the file, ``write(topic, msgtype, data,
stamp_ns)`` takes the CDR bytes of ``rclpy.serialization.serialize_message``.
A recording is read back by ``pushseg import-bag`` (:mod:`pushseg.ros2.bag_import`).
"""

from __future__ import annotations

from pushseg.robot.recording import RecordingError, Ros2Recorder, ros2_type_name

__all__ = ["Recorder", "RecordingError", "ros2_type_name"]

Recorder = Ros2Recorder
