"""sensor_msgs/Image and CameraInfo <-> numpy, without cv_bridge (it fails under numpy 2).

Works on plain attribute objects (duck-typed ROS messages), so the conversions
are testable without ROS. Colour: ``bgr8`` / ``rgb8`` / ``bgra8`` / ``rgba8``;
depth: ``16UC1`` (millimetres, 0 = no reading, as kinect2_bridge sends) or
``32FC1`` (metres). Rows may be padded (``step`` > width x pixel size).
"""

from __future__ import annotations

import numpy as np

from pushseg.errors import InputError

_COLOR = {"bgr8": (3, [2, 1, 0]), "rgb8": (3, [0, 1, 2]), "bgra8": (4, [2, 1, 0]), "rgba8": (4, [0, 1, 2])}


def _rows(msg, bytes_per_pixel: int, topic: str) -> np.ndarray:
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if step < w * bytes_per_pixel:
        raise InputError(f"{topic}: image step {step} is smaller than width {w} x {bytes_per_pixel} bytes")
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, bytes) else msg.data, dtype=np.uint8)
    if data.size < h * step:
        raise InputError(f"{topic}: image data has {data.size} bytes, expected {h} rows of {step}")
    return data[: h * step].reshape(h, step)[:, : w * bytes_per_pixel]


def color_to_rgb(msg, topic: str = "colour image") -> np.ndarray:
    """An Image message -> (H, W, 3) uint8 RGB."""
    enc = msg.encoding.lower()
    if enc not in _COLOR:
        raise InputError(f"{topic}: encoding {msg.encoding!r} is not supported; expected one of {sorted(_COLOR)}")
    channels, order = _COLOR[enc]
    px = _rows(msg, channels, topic).reshape(int(msg.height), int(msg.width), channels)
    return np.ascontiguousarray(px[..., order])


def depth_to_metres(msg, topic: str = "depth image") -> np.ndarray:
    """An Image message -> (H, W) float32 metres, NaN where there is no reading."""
    enc = msg.encoding.upper()
    h, w = int(msg.height), int(msg.width)
    big = bool(msg.is_bigendian)
    if enc in ("16UC1", "MONO16"):
        raw = _rows(msg, 2, topic).copy().view(">u2" if big else "<u2").reshape(h, w)
        depth = raw.astype(np.float32) / 1000.0
        depth[raw == 0] = np.nan
    elif enc == "32FC1":
        depth = _rows(msg, 4, topic).copy().view(">f4" if big else "<f4").reshape(h, w).astype(np.float32)
        depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    else:
        raise InputError(f"{topic}: depth encoding {msg.encoding!r} is not supported; expected 16UC1 (mm) or 32FC1 (m)")
    return depth


def _field(msg, name: str):
    return getattr(msg, name) if hasattr(msg, name) else getattr(msg, name.lower())


def intrinsics(msg, topic: str = "camera_info") -> np.ndarray:
    """K (3x3) of rectified images: from P (projection) when set, else from K.

    ROS 1 names the fields ``P`` and ``K``, ROS 2 ``p`` and ``k``.
    """
    P = np.asarray(_field(msg, "P"), dtype=np.float64).reshape(3, 4)
    if P[0, 0] > 0 and P[1, 1] > 0:
        return P[:, :3].copy()
    K = np.asarray(_field(msg, "K"), dtype=np.float64).reshape(3, 3)
    if K[0, 0] > 0 and K[1, 1] > 0:
        return K
    raise InputError(f"{topic}: both P and K are zero; is the camera calibrated?")


# --- the other direction, for the fake robot -----------------------------------------


def rgb_to_bgr8_bytes(rgb: np.ndarray) -> bytes:
    return np.ascontiguousarray(rgb[..., ::-1]).tobytes()


def metres_to_16uc1_bytes(depth: np.ndarray) -> bytes:
    """float metres (NaN = none) -> little-endian uint16 millimetres, 0 = no reading."""
    mm = np.where(np.isfinite(depth) & (depth > 0), np.round(depth * 1000.0), 0.0)
    return np.clip(mm, 0, 65535).astype("<u2").tobytes()


def rgb_to_rgb8_bytes(rgb: np.ndarray) -> bytes:
    return np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()


def metres_to_32fc1_bytes(depth: np.ndarray) -> bytes:
    """float metres -> little-endian float32 metres, NaN = no reading (as depth_to_metres reads them)."""
    m = np.asarray(depth, dtype=np.float32)
    return np.where(np.isfinite(m) & (m > 0), m, np.float32(np.nan)).astype("<f4").tobytes()
