"""The camera's pose in base_link from tf2, at the moment an image was taken.

The head may move (or settle) while images stream, so the pose is read at the
image's stamp, not as "the latest transform": the two differ by whatever the
head did in between. tf2 interpolates between the transforms it holds; a
static calibration (``/tf_static``) holds for every time.

A stamp newer than the latest transform is waited for (up to the timeout). A
stamp older than the oldest transform tf2 holds for the chain can never be
looked up (a PR2 publishes the head's tf on ``/tf`` at 20 Hz, and the first
image after connecting is often a few ms older than the first transform): that
raises :class:`StampBeforeTf` at once, and the backend drops the image and
takes the next one (within ``timeouts.image``). When tf2 still holds nothing
at that time after the wait, or has no such chain, the lookup fails with a
clear :class:`~pushseg.errors.BackendError` that names the stamp, unless
``camera.tf_at_image_stamp`` is false: then the latest transform is used,
which is right only with the head still.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import yaml

from pushseg.errors import BackendError
from pushseg.geometry import quaternion_matrix
from pushseg.real.rosenv import ensure_ros_importable

log = logging.getLogger("pushseg.real")

_POLL = 0.01  # seconds between looks at the buffer while waiting for a transform
# tf2 reports each frame's oldest transform to the millisecond: a stamp within half of that above it
# may still be older than the buffer.
_YAML_ROUNDING = 0.0005


class StampBeforeTf(BackendError):
    """The image's stamp is older than the oldest transform tf2 holds for the chain: no wait can help."""

    def __init__(self, message: str, stamp: float, oldest: float) -> None:
        super().__init__(message)
        self.stamp = stamp
        self.oldest = oldest


def transform_matrix(msg: Any) -> np.ndarray:
    """geometry_msgs/TransformStamped -> 4x4 matrix (parent <- child)."""
    r, p = msg.transform.rotation, msg.transform.translation
    T = np.eye(4)
    T[:3, :3] = quaternion_matrix(r.x, r.y, r.z, r.w)
    T[:3, 3] = (p.x, p.y, p.z)
    return T


def oldest_transform(buffer: Any, base: str, frame: str) -> float | None:
    """The earliest time (seconds, to the ms) at which ``buffer`` holds every link of ``base`` <- ``frame``.

    0.0 when every link is static; None when the two frames are not (yet) connected in the buffer.
    """
    try:
        frames = yaml.safe_load(buffer.all_frames_as_yaml()) or {}
    except yaml.YAMLError:  # a frame name YAML cannot read: no answer, the lookup decides
        return None
    if not isinstance(frames, dict):
        return None

    def to_root(f: str) -> list[str]:
        path = [f]
        while f in frames and len(path) <= len(frames):
            f = str(frames[f]["parent"])
            path.append(f)
        return path

    up_base, up_frame = to_root(base), to_root(frame)
    if up_base[-1] != up_frame[-1]:
        return None
    common = set(up_base) & set(up_frame)
    links = [f for f in up_base + up_frame if f not in common]  # each with its transform to its parent
    return max((float(frames[f]["oldest_transform"]) for f in links), default=0.0)


def camera_pose(buffer: Any, base: str, frame: str, stamp: float, timeout: float, at_stamp: bool = True) -> np.ndarray:
    """T_base_frame at ``stamp`` (seconds) from the tf2 ``buffer``, waiting up to ``timeout`` seconds.

    Raises :class:`StampBeforeTf` without waiting when ``stamp`` is older than
    the oldest transform of the chain in the buffer. ``at_stamp=False`` takes
    the latest transform instead (a still head only).
    """
    ensure_ros_importable()
    import rospy
    import tf2_ros

    if at_stamp:
        when = rospy.Time.from_sec(stamp)
        deadline = time.monotonic() + timeout
        while not buffer.can_transform(base, frame, when):
            oldest = oldest_transform(buffer, base, frame)
            if oldest is not None and stamp < oldest + _YAML_ROUNDING:
                raise StampBeforeTf(
                    f"tf has no transform {base} <- {frame} at the image's stamp {stamp:.3f} s (older than the "
                    f"oldest transform tf holds for that chain, {oldest:.3f} s). Are the clocks of this "
                    "machine, the robot and the camera in sync, and is the head's tf published continuously? "
                    "With the head held still, camera.tf_at_image_stamp: false uses the latest transform instead",
                    stamp, oldest,
                )
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(_POLL, left))
        wait = rospy.Duration(0.0)  # waited above
    else:
        when = rospy.Time(0)
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
