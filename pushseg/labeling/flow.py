"""Optical flow from the before image to the after image.

The paper used FlowNet2; here OpenCV's DIS (Kroeger et al. 2016, "medium"
preset by default) runs on one CPU core in milliseconds, and Farneback is the
classic alternative. Both sit behind :class:`FlowEstimator` so a learned model
(RAFT, FlowNet2) can be dropped in: anything that maps two RGB images to an
(H, W, 2) float32 array of (u, v) pixel displacements, defined on the *before*
image, fits.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from pushseg.errors import InputError
from pushseg.labeling.config import LabelConfig

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@runtime_checkable
class FlowEstimator(Protocol):
    name: str

    def __call__(self, before_rgb: np.ndarray, after_rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 twice -> (H, W, 2) float32 flow, before -> after, in pixels."""


def _grey(rgb: np.ndarray, scale: float) -> np.ndarray:
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        g = cv2.resize(g, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return g


def _upsample(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    if flow.shape[:2] == (h, w):
        return flow.astype(np.float32, copy=False)
    sy, sx = h / flow.shape[0], w / flow.shape[1]
    up = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    up[..., 0] *= sx
    up[..., 1] *= sy
    return up.astype(np.float32, copy=False)


def check_pair(before_rgb: np.ndarray, after_rgb: np.ndarray) -> None:
    for name, img in (("before", before_rgb), ("after", after_rgb)):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise InputError(f"{name} image must be (H, W, 3) uint8 RGB, got {img.dtype} {img.shape}")
    if before_rgb.shape != after_rgb.shape:
        raise InputError(
            f"before and after images differ in shape ({before_rgb.shape} vs {after_rgb.shape}); "
            "both must come from the same camera at the same resolution"
        )


class DISFlow:
    """OpenCV Dense Inverse Search, computed at ``scale`` and upsampled."""

    def __init__(self, preset: str = "medium", scale: float = 0.5) -> None:
        if preset not in _DIS_PRESETS:
            raise InputError(f"unknown DIS preset {preset!r}; choose one of {sorted(_DIS_PRESETS)}")
        self.name = f"dis-{preset}@{scale:g}"
        self.preset = preset
        self.scale = scale
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])

    def __call__(self, before_rgb: np.ndarray, after_rgb: np.ndarray) -> np.ndarray:
        check_pair(before_rgb, after_rgb)
        flow = self._dis.calc(_grey(before_rgb, self.scale), _grey(after_rgb, self.scale), None)
        return _upsample(flow, before_rgb.shape[:2])


class FarnebackFlow:
    """OpenCV Farneback polynomial-expansion flow, computed at ``scale`` and upsampled."""

    def __init__(self, scale: float = 0.5, levels: int = 5, winsize: int = 15, iterations: int = 3) -> None:
        self.name = f"farneback@{scale:g}"
        self.scale = scale
        self.levels = levels
        self.winsize = winsize
        self.iterations = iterations

    def __call__(self, before_rgb: np.ndarray, after_rgb: np.ndarray) -> np.ndarray:
        check_pair(before_rgb, after_rgb)
        flow = cv2.calcOpticalFlowFarneback(
            _grey(before_rgb, self.scale),
            _grey(after_rgb, self.scale),
            None,
            0.5,
            self.levels,
            self.winsize,
            self.iterations,
            5,
            1.1,
            cv2.OPTFLOW_FARNEBACK_GAUSSIAN,
        )
        return _upsample(flow, before_rgb.shape[:2])


def make_flow_estimator(cfg: LabelConfig) -> FlowEstimator:
    if cfg.flow == "dis":
        return DISFlow(cfg.dis_preset, cfg.flow_scale)
    if cfg.flow == "farneback":
        return FarnebackFlow(cfg.flow_scale)
    raise InputError(f"unknown flow method {cfg.flow!r}; choose 'dis' or 'farneback'")


def guided_flow(
    estimator: FlowEstimator,
    before_rgb: np.ndarray,
    after_rgb: np.ndarray,
    shifts: list[tuple[float, float]],
    window_px: int = 15,
    margin: float = 2.0,
    fail_level: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Flow that follows motions beyond the estimator's reach, guided by the motions a push can make.

    A coarse-to-fine flow follows a few tens of pixels; a 3-6 cm push seen by a
    narrow camera close to the table moves an object 50-110 px. For each
    expected image motion ``(dx, dy)`` (from the push's direction and length at
    the push pixel's depth), the flow is also computed against the after image
    shifted back by it, and the shift added again; each pixel keeps the
    hypothesis whose warped after image matches the before image best (mean
    absolute grey difference over a ``window_px`` box). A pixel leaves the plain
    flow only where that flow fails (its difference is over ``fail_level`` grey
    levels, several times the sensor noise) and another hypothesis is better by
    more than ``margin``: where the plain flow explains the images (a short
    motion, a textureless table on which every hypothesis fits) it stays. Returns the flow and the index of the hypothesis
    kept per pixel (0 = plain).
    """
    h, w = before_rgb.shape[:2]
    flows = [estimator(before_rgb, after_rgb)]
    for dx, dy in shifts:
        M = np.float32([[1, 0, dx], [0, 1, dy]])  # shifted(x) = after(x + d), so before ~ shifted
        shifted = cv2.warpAffine(after_rgb, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
        f = estimator(before_rgb, shifted)
        f[..., 0] += np.float32(dx)
        f[..., 1] += np.float32(dy)
        flows.append(f)
    if len(flows) == 1:
        return flows[0], np.zeros((h, w), np.uint8)
    g0 = cv2.cvtColor(before_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g1 = cv2.cvtColor(after_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    k = max(3, int(window_px) | 1)
    errs = []
    for i, f in enumerate(flows):
        warped = cv2.remap(g1, gx + f[..., 0], gy + f[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        e = cv2.blur(np.abs(warped - g0), (k, k))
        errs.append(e + (margin if i else 0.0))
    best = np.argmin(np.stack(errs), axis=0).astype(np.uint8)
    best[errs[0] <= fail_level] = 0
    out = flows[0].copy()
    for i in range(1, len(flows)):
        sel = best == i
        out[sel] = flows[i][sel]
    return out, best


def flow_magnitude(flow: np.ndarray) -> np.ndarray:
    """|(u, v)| per pixel, for any leading shape (..., 2)."""
    f = np.asarray(flow, dtype=np.float32)
    return np.sqrt(f[..., 0] * f[..., 0] + f[..., 1] * f[..., 1])


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Flow as an RGB picture: hue = direction, brightness = speed (white-free HSV)."""
    mag = flow_magnitude(flow)
    ang = np.arctan2(flow[..., 1], flow[..., 0])
    top = float(max_magnitude) if max_magnitude else float(mag.max())
    hsv = np.zeros(flow.shape[:2] + (3,), dtype=np.uint8)
    hsv[..., 0] = ((ang + np.pi) * (90.0 / np.pi)).astype(np.uint8) % 180
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / max(top, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
