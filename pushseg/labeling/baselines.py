"""Frame differencing (Pathak et al. 2018), the paper's baseline labeler.

The flow and the normalized cut are replaced by "what changed": the grey-level
difference of the blurred before and after images, thresholded, cleaned with
a small opening and closing, and split into connected regions. The rest of the
labeler (table filter, action prior, size gates) stays as it is. Without flow
there is no rotation or large-motion gate, and a region cannot tell the moved
object from the place it moved to; the table filter removes the latter
because that place is table in the *before* depth.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from pushseg.labeling.config import LabelConfig, Scaled
from pushseg.labeling.segments import relabel_raster

_EIGHT = np.ones((3, 3), dtype=bool)


def changed_mask(before_rgb: np.ndarray, after_rgb: np.ndarray, cfg: LabelConfig, sc: Scaled) -> np.ndarray:
    """(H, W) bool: pixels where some colour channel changed by more than the threshold.

    Per channel, not grey: a red object on a beige table can have the table's grey level.
    """
    sigma = cfg.framediff_blur_px * sc.s
    a, b = before_rgb, after_rgb
    if sigma > 0:
        a = cv2.GaussianBlur(a, (0, 0), sigma)
        b = cv2.GaussianBlur(b, (0, 0), sigma)
    d = cv2.absdiff(a, b)
    # Channel maximum elementwise: numpy's reduction over a 3-long last axis is ~10x slower.
    return np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]) > cfg.framediff_threshold


def framediff_segments(changed: np.ndarray, sc: Scaled) -> np.ndarray:
    """Connected regions of the changed pixels, labelled 1..N in raster order (0 = unchanged)."""
    k = max(1, int(round(2 * sc.s))) * 2 + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    m = changed.astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
    m = ndi.binary_fill_holes(m.astype(bool))
    labels, _ = ndi.label(m, structure=_EIGHT)
    counts = np.bincount(labels.ravel())
    small = counts < sc.min_area_px / 4
    small[0] = False
    labels[small[labels]] = 0
    return relabel_raster(labels.astype(np.int32))
