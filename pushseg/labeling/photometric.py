"""Make the after image comparable with the before image, before flow and differencing.

A Kinect2's RGB camera runs auto exposure and auto white balance, so the after
image of a push can be brighter, darker or tinted compared with the before
image although nothing but the pushed object changed; and a PR2's head can
settle a pixel or two differently between the two shots. Both change almost
every pixel a little, which the change cue and the flow's brightness
constancy would read as motion everywhere.

1. **Colour**: each channel of the after image is mapped onto the before
   image's by histogram specification (matching cumulative histograms). Any
   monotone per-channel tone change (gain, offset, gamma, white balance) is
   undone, and a push changes too few pixels (an object of ~1 % of the view
   moves) to bend the histograms.
2. **Head shift**: the global translation between the two images is found by
   phase correlation (``cv2.phaseCorrelate``, normalised cross-power spectrum,
   hence insensitive to brightness) at half resolution, and the after image
   is shifted back by it when that removes a clear share of the difference
   between the images (a moving textured object can nudge the peak by a
   fraction of a pixel; shifting by that would only blur).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Alignment:
    lut_shift: float  # mean |LUT(x) - x| over the channels and levels in use (0-255): how much colour changed
    shift_px: tuple[float, float]  # (dx, dy) of the after image relative to the before image, full resolution
    gain: float  # share of the grey difference that shifting back removes
    shifted: bool  # whether the after image was shifted back


def _hist(values: np.ndarray) -> np.ndarray:
    return np.bincount(values.ravel(), minlength=256).astype(np.float64)


def _lut_from_histograms(hs: np.ndarray, hr: np.ndarray) -> np.ndarray:
    """(256,) uint8 look-up table that maps histogram ``hs`` onto histogram ``hr``."""
    cs = np.cumsum(hs) / max(hs.sum(), 1.0)
    cr = np.cumsum(hr) / max(hr.sum(), 1.0)
    # Each source level goes to the reference level at the same quantile (mid-bin).
    mid = cs - hs / max(hs.sum(), 1.0) / 2.0
    lut = np.interp(mid, cr - hr / max(hr.sum(), 1.0) / 2.0, np.arange(256, dtype=np.float64))
    return np.clip(np.round(lut), 0, 255).astype(np.uint8)


def match_colors(before: np.ndarray, after: np.ndarray, step: int = 2) -> tuple[np.ndarray, float]:
    """The after image with each channel's histogram matched to the before image's; and how far it moved."""
    b, a = before[::step, ::step], after[::step, ::step]
    luts = []
    moved = []
    for c in range(3):
        hs = _hist(a[..., c])  # each histogram once: for the table and for the levels in use
        lut = _lut_from_histograms(hs, _hist(b[..., c]))
        used = hs > 0
        moved.append(float(np.abs(lut.astype(np.float64) - np.arange(256))[used].mean()) if used.any() else 0.0)
        luts.append(lut)
    lut3 = np.stack(luts, axis=1).reshape(256, 1, 3)
    return cv2.LUT(after, lut3), float(np.mean(moved))


def global_shift(before: np.ndarray, after: np.ndarray, scale: float = 0.5) -> tuple[float, float, float]:
    """(dx, dy, gain): after(x + dx, y + dy) ~ before(x, y), in full-resolution pixels.

    ``gain`` is the share by which shifting the after image back reduces the
    mean absolute grey difference on the before image's strongest edges: a
    real head shift makes every edge differ and shifting removes most of it,
    while a peak nudged by one moving textured object removes next to nothing.
    """
    gb = cv2.cvtColor(before, cv2.COLOR_RGB2GRAY)
    ga = cv2.cvtColor(after, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        gb = cv2.resize(gb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ga = cv2.resize(ga, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # OpenCV pads to its preferred DFT size, and its peak is biased by half a
    # pixel along an odd (padded) dimension: crop to an even preferred size.
    h, w = _even_dft_size(gb.shape[0]), _even_dft_size(gb.shape[1])
    if min(h, w) < 16:
        return 0.0, 0.0, 0.0  # too small an image to tell a head shift from anything else
    y0, x0 = (gb.shape[0] - h) // 2, (gb.shape[1] - w) // 2
    gb = gb[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    ga = ga[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    win = cv2.createHanningWindow((w, h), cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(gb, ga, win)
    # Judge the shift where it shows: on the strongest edges of the before
    # image (flat areas only carry sensor noise), away from the border.
    m = 4
    gx = cv2.Sobel(gb, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gb, cv2.CV_32F, 0, 1, ksize=3)
    mag = (gx * gx + gy * gy)[m : h - m, m : w - m]
    if mag.size == 0:
        return 0.0, 0.0, 0.0
    edges = mag >= np.percentile(mag, 90)
    inner = (slice(m, h - m), slice(m, w - m))
    before_err = float(np.abs(ga - gb)[inner][edges].mean())
    after_err = float(np.abs(shift_image(ga, dx, dy) - gb)[inner][edges].mean())
    gain = 1.0 - after_err / before_err if before_err > 0 else 0.0
    return float(dx / scale), float(dy / scale), gain


def _even_dft_size(n: int) -> int:
    m = n
    while m > 2 and (m % 2 or cv2.getOptimalDFTSize(m) != m):
        m -= 1
    return m


def shift_image(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``img`` moved by (-dx, -dy): out(x, y) = img(x + dx, y + dy), borders replicated."""
    M = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], dtype=np.float64)
    h, w = img.shape[:2]
    return cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align_after(
    before: np.ndarray, after: np.ndarray, *, colors: bool, shift: bool, min_shift_px: float, max_shift_px: float,
    min_gain: float = 0.2
) -> tuple[np.ndarray, Alignment]:
    """The after image corrected for colour and head shift (each switchable), and what was done."""
    moved = 0.0
    if colors:
        after, moved = match_colors(before, after)
    dxdy = (0.0, 0.0)
    gain = 0.0
    shifted = False
    if shift:
        dx, dy, gain = global_shift(before, after)
        dxdy = (dx, dy)
        n = float(np.hypot(dx, dy))
        if min_shift_px <= n <= max_shift_px and gain >= min_gain:
            after = shift_image(after, dx, dy)
            shifted = True
    return after, Alignment(lut_shift=moved, shift_px=dxdy, gain=gain, shifted=shifted)
