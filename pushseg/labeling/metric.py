"""Pixels to metres, so that the labeler's gates mean the same on any camera.

A pixel at depth z spans z / f metres (f the focal length in pixels). Sizes are
areas seen face-on, sum of (z / fx) * (z / fy) over a mask's pixels, and motions
are the flow's length times z / f: the same object moved the same way gives the
same numbers on the PR2's wide Kinect2 at 1 m and on a narrow Xtion at 0.6 m,
where the pixel counts differ by a factor of ten.

The defaults were the reference implementation's pixel thresholds at the
Kinect2's qhd resolution (fx 540.7) and the PR2 head's distance to the table
at the image centre (:data:`REFERENCE_DISTANCE_M`), converted with this rule.
"""

from __future__ import annotations

import math

import numpy as np

from pushseg.types import CameraInfo

# The PR2 head camera (pushseg.geometry.pr2_head_camera_pose, default joints)
# sees the table top (0.72 m) at the image centre 1.03 m away, at fx = fy = 540.7.
REFERENCE_DISTANCE_M = 1.033
REFERENCE_FOCAL_PX = 540.686
REFERENCE_M_PER_PX = REFERENCE_DISTANCE_M / REFERENCE_FOCAL_PX  # 1.91 mm, as config.REFERENCE_M_PER_PX


def focal_px(camera: CameraInfo) -> float:
    """The geometric mean of fx and fy."""
    return math.sqrt(camera.fx * camera.fy)


def angle_scale(camera: CameraInfo) -> float:
    """Pixels per pixel of the reference camera for the same turn of the camera (f / 540.7).

    A head that settles differently turns by an angle; that angle spans f * angle pixels.
    """
    return focal_px(camera) / REFERENCE_FOCAL_PX


def depth_or(depth: np.ndarray | None, fallback: float) -> np.ndarray:
    """Depth with missing readings (NaN, <= 0) replaced by ``fallback`` metres."""
    if depth is None:
        return np.float32(fallback)
    d = np.asarray(depth, np.float32)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(d) & (d > 0), d, np.float32(fallback))


def typical_depth(depth: np.ndarray | None, mask: np.ndarray | None = None) -> float:
    """The median valid depth under ``mask`` (else of the image); the reference distance without any reading."""
    if depth is None:
        return REFERENCE_DISTANCE_M
    for sel in ((depth[mask] if mask is not None and mask.any() else None), depth):
        if sel is None:
            continue
        with np.errstate(invalid="ignore"):
            v = sel[np.isfinite(sel) & (sel > 0)]
        if v.size:
            return float(np.median(v))
    return REFERENCE_DISTANCE_M


def metres_per_px(camera: CameraInfo, depth: np.ndarray | None, mask: np.ndarray) -> np.ndarray:
    """z / f at each pixel of ``mask`` (1-D, in mask order); missing readings take the mask's median depth."""
    z = depth_or(None if depth is None else depth[mask], typical_depth(depth, mask))
    return np.broadcast_to(np.asarray(z, np.float64), (int(mask.sum()),)) / focal_px(camera)


def area_m2(camera: CameraInfo, depth: np.ndarray | None, mask: np.ndarray) -> float:
    """The mask's area seen face-on, in square metres."""
    if not mask.any():
        return 0.0
    m = metres_per_px(camera, depth, mask)
    return float((m * m).sum())


def px_to_m(px: float, camera: CameraInfo, z: float) -> float:
    return px * z / focal_px(camera)


def m_to_px(m: float, camera: CameraInfo, z: float) -> float:
    return m * focal_px(camera) / max(z, 1e-6)
