"""What every robot backend shares, without ROS: image encodings and the Ctrl-C rule.

:mod:`pushseg.robot.images` converts ``sensor_msgs/Image`` and ``CameraInfo``
(ROS 1 or ROS 2, duck-typed) to numpy; :mod:`pushseg.robot.interrupts` is what
Ctrl-C does while an arm moves. ``pushseg.real`` (the PR2 over ROS 1) and
``pushseg.ros2`` (any arm over ROS 2) import these and never each other.
"""
