"""The camera's pose in base_link from tf2, at the moment an image was taken.

The head may move (or settle) while images stream, so the pose is read at the
image's stamp, not as "the latest transform": the two differ by whatever the
head did in between. tf2 interpolates between the transforms it holds; a
static calibration (``/tf_static``) holds for every time.

When tf2 holds nothing at that time (the stamp is older than its buffer, or
newer than anything published within the wait), the lookup fails with a
clear :class:`~pushseg.errors.BackendError` that names the stamp, unless
``camera.tf_at_image_stamp`` is false: then the latest transform is used,
which is right only with the head still.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pushseg.errors import BackendError
from pushseg.geometry import quaternion_matrix
from pushseg.real.rosenv import ensure_ros_importable

log = logging.getLogger("pushseg.real")


def transform_matrix(msg: Any) -> np.ndarray:
    """geometry_msgs/TransformStamped -> 4x4 matrix (parent <- child)."""
    r, p = msg.transform.rotation, msg.transform.translation
    T = np.eye(4)
    T[:3, :3] = quaternion_matrix(r.x, r.y, r.z, r.w)
    T[:3, 3] = (p.x, p.y, p.z)
    return T


def camera_pose(buffer: Any, base: str, frame: str, stamp: float, timeout: float, at_stamp: bool = True) -> np.ndarray:
    """T_base_frame at ``stamp`` (seconds) from the tf2 ``buffer``, waiting up to ``timeout`` seconds.

    ``at_stamp=False`` takes the latest transform instead (a still head only).
    """
    ensure_ros_importable()
    import rospy
    import tf2_ros

    when = rospy.Time.from_sec(stamp) if at_stamp else rospy.Time(0)
    wait = rospy.Duration(timeout)
    try:
        return transform_matrix(buffer.lookup_transform(base, frame, when, wait))
    except tf2_ros.ExtrapolationException as e:
        raise BackendError(
            f"tf has no transform {base} <- {frame} at the image's stamp {stamp:.3f} s (waited {timeout:.1f} s): {e}. "
            "Are the clocks of this machine, the robot and the camera in sync, and is the head's tf published? "
            "With the head held still, camera.tf_at_image_stamp: false uses the latest transform instead"
        ) from e
    except tf2_ros.TransformException as e:  # LookupException, ConnectivityException, ...
        raise BackendError(
            f"no transform {base} <- {frame} within {timeout:.1f} s ({e}); publish the camera-to-robot "
            "calibration (see docs/real-robot.md) and check frames.* in the real-robot config"
        ) from e
