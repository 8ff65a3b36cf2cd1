"""The one place where pushseg makes ROS1 (rospy & co.) importable.

ROS1 Noetic comes from Debian packages (``python3-rospy``, ``python3-actionlib``,
``python3-tf2-ros``, ``python3-genpy`` ...), installed under
``/usr/lib/python3/dist-packages``. The project venv runs its own Python 3.11
with numpy 2, so we must not let Debian's site-packages shadow the venv's:
when ``import rospy`` fails we append the Debian directory (or the directories
in ``$PUSHSEG_ROS_PYTHONPATH``, separated by ``os.pathsep``) to the *end* of
``sys.path``. The venv's numpy, yaml, ... keep winning; only what the venv
lacks (rospy, genpy, tf2 ...) comes from Debian.

ROS 2's message packages (the ``ros2`` extra) install ``std_msgs``, ``sensor_msgs``
... into the same venv under the same names. ROS 1 and ROS 2 messages cannot
share one process, so once a process makes ROS 1 importable, every ROS 1
message package Debian has (a top-level package with a ``msg`` or ``srv``
folder there) is loaded from Debian, ahead of the venv (:class:`_Ros1Messages`);
ROS 2 code refuses to run in such a process (:mod:`pushseg.ros2.rclenv`).

Debian's cv_bridge and image_geometry are built against numpy 1 and fail under
numpy 2, so pushseg never imports them: images and pinhole maths are numpy
(``pushseg.robot.images``, ``pushseg.geometry``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
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


class _Ros1Messages(importlib.abc.MetaPathFinder):
    """Finds ROS 1 message packages (``std_msgs``, ``sensor_msgs``, ...) in the Debian folders first.

    Without it, ROS 2's packages of the same names in the venv would win and
    rospy would fail (``cannot import name 'Log' from 'rosgraph_msgs.msg'``).
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def find_spec(self, fullname, path=None, target=None):
        if "." in fullname:
            return None  # submodules follow their package
        for root in self.paths:
            if os.path.isdir(os.path.join(root, fullname, "msg")) or os.path.isdir(os.path.join(root, fullname, "srv")):
                return importlib.machinery.PathFinder.find_spec(fullname, [root])
        return None


def _prefer_ros1_messages(paths: list[str]) -> None:
    if not any(isinstance(f, _Ros1Messages) for f in sys.meta_path):
        sys.meta_path.insert(0, _Ros1Messages([p for p in paths if os.path.isdir(p)]))


def ros1_messages_preferred() -> bool:
    """True once this process made ROS 1 importable (its message packages then shadow ROS 2's)."""
    return any(isinstance(f, _Ros1Messages) for f in sys.meta_path)


def ensure_ros_importable() -> None:
    """Make ``import rospy`` work, or raise ImportError saying how to install ROS."""
    if ros1_messages_preferred() and "rospy" in sys.modules:
        return
    paths = _candidate_paths()
    _prefer_ros1_messages(paths)
    try:
        importlib.import_module("rospy")
        return
    except ImportError:
        pass
    for path in paths:
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
