"""The real PR2 + Kinect2 backend over ROS1 (see docs/real-robot.md).

``RealBackend`` needs rospy (Debian ROS Noetic, made importable by
:mod:`pushseg.real.rosenv`) and is imported lazily, so the kinematics, planning,
safety checks, config and Ctrl-C handling (:mod:`pushseg.robot.interrupts`)
are usable without ROS. The env and the CLI find it by name through
:mod:`pushseg.backends`; nothing here imports :mod:`pushseg.envs`.
"""

from __future__ import annotations

from pushseg.real.config import RealBackendConfig, load_config
from pushseg.robot.interrupts import MotionInterrupted, forward_sigint

__all__ = ["MotionInterrupted", "RealBackend", "RealBackendConfig", "forward_sigint", "load_config"]


def __getattr__(name: str):
    if name == "RealBackend":
        from pushseg.real.backend import RealBackend

        return RealBackend
    raise AttributeError(f"module 'pushseg.real' has no attribute {name!r}")
