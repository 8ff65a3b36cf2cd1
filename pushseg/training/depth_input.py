"""Depth as a network input that means the same on any camera.

Raw depth in metres depends on where the camera stands: the same mug is 0.6 m
away on one robot and 1.2 m on another, and a tilted camera sees the table as
a ramp. What does not depend on the camera is the scene's geometry relative to
the table it stands on, so a depth image becomes three channels:

0. **height above the table plane**, in units of 10 cm, clipped to [-1, 4]
   (-10 cm to +40 cm): objects stand out of the table as they do in the world;
1. **uprightness of the surface**: the surface normal's component along the
   table's normal, in [-1, 1] (1 on tops and on the table, near 0 on sides),
   from the back-projected points' local derivatives;
2. **a reading is there**: 1 where the sensor returned depth, 0 where it did
   not (dark, shiny or grazing surfaces, out of range, outside the image);
   channels 0 and 1 are 0 there, so a missing reading never looks like the table.

The table plane is fitted from the depth (:func:`table_plane`): with the
camera's pose when one is known (the highest large horizontal plane), without
it (the dominant plane facing the camera) when the pose is the identity, as for
a camera of unknown placement.

The encoding is a per-pixel map at the image's own size; the patch sampler and
the inference pyramid resize and warp it with the RGB image, so it is sampled
with the patch.
"""

from __future__ import annotations

import cv2
import numpy as np

from pushseg.errors import InputError
from pushseg.geometry import Plane, fit_plane_without_pose, height_above_plane
from pushseg.types import CameraInfo

INPUTS = ("rgb", "depth", "rgbd")
DEPTH_CHANNELS = 3
HEIGHT_UNIT_M = 0.10
HEIGHT_RANGE = (-1.0, 4.0)  # in HEIGHT_UNIT_M


def input_channels(kind: str) -> int:
    if kind not in INPUTS:
        raise InputError(f"model input '{kind}' is unknown; choose one of {', '.join(INPUTS)}")
    return {"rgb": 3, "depth": DEPTH_CHANNELS, "rgbd": 3 + DEPTH_CHANNELS}[kind]


def needs_depth(kind: str) -> bool:
    return kind in ("depth", "rgbd")


def has_pose(camera: CameraInfo) -> bool:
    return not np.allclose(camera.T_base_camera, np.eye(4))


def table_plane(camera: CameraInfo, depth: np.ndarray, seed: int = 0) -> Plane:
    """The table plane in the optical frame: the horizontal plane with most support (with a pose), the dominant
    plane facing the camera (without one).

    Not :func:`pushseg.geometry.fit_table_plane`'s highest horizontal surface: for
    the network, the table is where most of the view stands, not a higher desk
    in the background.
    """
    if has_pose(camera):
        up = camera.T_base_camera[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # base z in the optical frame
        try:
            return fit_plane_without_pose(camera, depth, rng=seed, up=up)
        except InputError:
            pass  # a pose that is off: fall back to the dominant plane
    return fit_plane_without_pose(camera, depth, rng=seed)


def _uprightness(camera: CameraInfo, depth: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Per pixel: unit surface normal . table normal, from central differences of the back-projected points."""
    h, w = depth.shape
    z = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    # smooth over the Kinect-like 1 mm steps and noise before differentiating; holes do not bleed in
    valid = (z > 0).astype(np.float32)
    k = max(3, int(round(w / 160)) | 1)
    zs = cv2.boxFilter(z, -1, (k, k), normalize=False)
    ws = cv2.boxFilter(valid, -1, (k, k), normalize=False)
    z = np.where(ws > 0, zs / np.maximum(ws, 1e-6), 0.0).astype(np.float32)
    u = ((np.arange(w, dtype=np.float32) - camera.cx) / camera.fx).astype(np.float32)[None, :]
    v = ((np.arange(h, dtype=np.float32) - camera.cy) / camera.fy).astype(np.float32)[:, None]
    # Central differences of the points (X, Y, Z) = (z u, z v, z) along u and v, component by component
    # (no (H, W, 3) stacks: this runs on every frame a depth model sees).
    zu = np.zeros_like(z)
    zv = np.zeros_like(z)
    zu[:, 1:-1] = z[:, 2:] - z[:, :-2]
    zv[1:-1] = z[2:] - z[:-2]
    xu = np.zeros_like(z)
    xu[:, 1:-1] = z[:, 2:] * u[:, 2:] - z[:, :-2] * u[:, :-2]
    yv = np.zeros_like(z)
    yv[1:-1] = z[2:] * v[2:] - z[:-2] * v[:-2]
    yu, xv = zu * v, zv * u  # v is constant along a row, u along a column
    nx, ny, nz = yu * zv - zu * yv, zu * xv - xu * zv, xu * yv - yu * xv
    a, b, c = (np.float32(x) for x in normal)
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.abs(nx * a + ny * b + nz * c) / norm
    return np.where(norm > 0, cos, 0.0).astype(np.float32)


def encode_depth(camera: CameraInfo, depth: np.ndarray, plane: Plane | None = None, seed: int = 0) -> np.ndarray:
    """Depth (H, W) metres, NaN or 0 = no reading -> (H, W, 3) float32: height, uprightness, valid."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != (camera.height, camera.width):
        raise InputError(f"depth is {depth.shape[1]}x{depth.shape[0]} px but the camera is "
                         f"{camera.width}x{camera.height}: give the depth image that belongs to the camera")
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float32)
    valid = np.isfinite(depth)
    if valid.mean() < 0.05:
        raise InputError("fewer than 5% of the depth pixels have a reading: is this the frame's depth image "
                         "(metres; for a PNG, check its units)?")
    plane = plane or table_plane(camera, depth, seed)
    height = height_above_plane(camera, depth, plane) / HEIGHT_UNIT_M
    out = np.zeros(depth.shape + (DEPTH_CHANNELS,), np.float32)
    out[..., 0] = np.where(valid, np.clip(np.nan_to_num(height), *HEIGHT_RANGE), 0.0)
    out[..., 1] = np.where(valid, _uprightness(camera, depth, plane.normal), 0.0)
    out[..., 2] = valid
    return out
