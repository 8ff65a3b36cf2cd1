"""The action prior (paper step 5): keep the segment that the pusher touched.

The push starts at the object's edge and moves it away from that pixel, so the
moved region of the *before* image contains the push pixel or lies right next
to it. We take the segment under the pixel; if the pixel is still (it can fall
a pixel or two outside the object, or on a part whose flow was zeroed), the
nearest segment by Euclidean distance transform within a radius. The
reference implementation instead drew 50 unseeded Gaussian samples; this is
deterministic and picks by label id, not by colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from pushseg.errors import InputError
from pushseg.types import Push


@dataclass(frozen=True)
class PriorPick:
    segment: int  # label id, 0 when none
    distance_px: float  # 0 when the push pixel lies on the segment


def check_push(push: Push, shape: tuple[int, int]) -> tuple[int, int]:
    """The push pixel as integer (row, col); a clear error when it is outside the image."""
    h, w = shape
    if not (np.isfinite(push.u) and np.isfinite(push.v)):
        raise InputError(f"push pixel ({push.u}, {push.v}) is not finite")
    col, row = int(round(push.u)), int(round(push.v))
    if not (0 <= col < w and 0 <= row < h):
        raise InputError(
            f"push pixel (u={push.u:.1f}, v={push.v:.1f}) lies outside the {w}x{h} image; "
            "the push must start at a pixel of the before image"
        )
    return row, col


def pick_at_push(segments: np.ndarray, push: Push, radius_px: float) -> PriorPick:
    row, col = check_push(push, segments.shape)
    here = int(segments[row, col])
    if here:
        return PriorPick(here, 0.0)
    if not segments.any():
        return PriorPick(0, float("inf"))
    # Only a window around the pixel matters: keeps the transform cheap at full resolution.
    r = int(np.ceil(radius_px)) + 1
    r0, c0 = max(0, row - r), max(0, col - r)
    win = segments[r0 : row + r + 1, c0 : col + r + 1]
    if not win.any():
        return PriorPick(0, float("inf"))
    dist, (ri, ci) = ndi.distance_transform_edt(win == 0, return_indices=True)
    d = float(dist[row - r0, col - c0])
    if d > radius_px:
        return PriorPick(0, d)
    return PriorPick(int(win[ri[row - r0, col - c0], ci[row - r0, col - c0]]), d)


def pick_largest(segments: np.ndarray) -> PriorPick:
    """The "without action prior" ablation: the largest moving segment (lowest id on ties)."""
    counts = np.bincount(segments.ravel())
    if len(counts) < 2 or counts[1:].max() == 0:
        return PriorPick(0, float("inf"))
    return PriorPick(int(np.argmax(counts[1:]) + 1), float("nan"))
