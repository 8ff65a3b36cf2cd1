"""The real PR2 + Kinect2 backend over ROS1 (see docs/real-robot.md).

``RealBackend`` needs rospy (Debian ROS Noetic, made importable by
:mod:`pushseg.real.rosenv`) and is imported lazily, so the kinematics, planning,
safety checks and config are usable without ROS.
"""

from __future__ import annotations

from pushseg.real.config import RealConfig, load_config

__all__ = ["RealBackend", "RealConfig", "load_config"]


def __getattr__(name: str):
    if name == "RealBackend":
        from pushseg.real.backend import RealBackend

        return RealBackend
    raise AttributeError(f"module 'pushseg.real' has no attribute {name!r}")
