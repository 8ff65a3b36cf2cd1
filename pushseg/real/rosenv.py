"""The one place where pushseg makes ROS1 (rospy & co.) importable.

ROS1 Noetic comes from Debian packages (``python3-rospy``, ``python3-actionlib``,
``python3-tf2-ros``, ``python3-genpy`` ...), installed under
``/usr/lib/python3/dist-packages``. The project venv runs its own Python 3.11
with numpy 2, so we must not let Debian's site-packages shadow the venv's:
when ``import rospy`` fails we append the Debian directory (or the directories
in ``$PUSHSEG_ROS_PYTHONPATH``, separated by ``os.pathsep``) to the *end* of
``sys.path``. The venv's numpy, yaml, ... keep winning; only what the venv
lacks (rospy, genpy, tf2 ...) comes from Debian.

Debian's cv_bridge and image_geometry are built against numpy 1 and fail under
numpy 2, so pushseg never imports them: images and pinhole maths are numpy
(``pushseg.robot.images``, ``pushseg.geometry``).
"""

from __future__ import annotations

import importlib
import os
import sys

DEBIAN_ROS_PYTHONPATH = "/usr/lib/python3/dist-packages"
ENV_VAR = "PUSHSEG_ROS_PYTHONPATH"
REQUIRE_VAR = "PUSHSEG_REQUIRE_ROS"

INSTALL_HINT = (
    "install ROS1 Noetic from Debian: apt-get install -y ros-core python3-rospy python3-actionlib "
    "python3-sensor-msgs python3-geometry-msgs python3-trajectory-msgs python3-tf2-ros python3-genpy "
    f"(or point ${ENV_VAR} at the directory that holds rospy)"
)


def _candidate_paths() -> list[str]:
    extra = os.environ.get(ENV_VAR, "")
    paths = [p for p in extra.split(os.pathsep) if p]
    return paths or [DEBIAN_ROS_PYTHONPATH]


def ensure_ros_importable() -> None:
    """Make ``import rospy`` work, or raise ImportError saying how to install ROS."""
    try:
        importlib.import_module("rospy")
        return
    except ImportError:
        pass
    for path in _candidate_paths():
        if os.path.isdir(path) and path not in sys.path:
            sys.path.append(path)  # the end: the venv's own packages keep precedence
    importlib.invalidate_caches()
    try:
        importlib.import_module("rospy")
    except ImportError as e:
        raise ImportError(f"rospy is not importable ({e}); {INSTALL_HINT}") from e


def ros_available() -> tuple[bool, str]:
    """(True, "") when rospy, actionlib, tf2_ros and genpy import; else (False, why)."""
    try:
        ensure_ros_importable()
        for name in ("actionlib", "tf2_ros", "genpy", "sensor_msgs.msg", "trajectory_msgs.msg"):
            importlib.import_module(name)
    except ImportError as e:
        return False, str(e)
    return True, ""


def ros_required() -> bool:
    """CI sets PUSHSEG_REQUIRE_ROS=1: then a missing ROS is an error, not a skip."""
    return os.environ.get(REQUIRE_VAR, "").strip() not in ("", "0", "false", "no")
