"""Quality gates (paper steps 4 and 6, plus size limits) and the quality score.

Rejection reasons, checked in this order (the first that applies is reported):

All sizes and motions are in metres (metric.py), so a setting means the same
on any camera; the defaults are the paper's and the reference implementation's
pixel values at the PR2's Kinect2 (qhd, 1.03 m to the table).

``large_motion``
    The sum over *every pixel of the image* of area times motion of the
    table-filtered flow exceeds 0.025 m^3 (on the PR2's camera: a mean flow of
    7 px at 960x540). The paper says "the mean
    magnitude of all optical-flow vectors in the image". Read as a mean over
    the moved object instead, 7 px would throw away every push that moves an
    object more than ~1.5 cm at the PR2's viewing distance, i.e. nearly every
    useful push; over the image it is a global check: one pushed object of
    ~0.3 % of the image moving 60 px adds ~0.2 px, while many objects sliding
    or toppling together, an arm left in view or a moving background add
    pixels. It uses the filtered flow (the flow the labeler works with)
    because on a textureless table DIS spreads an object's motion over the
    table: on 200 simulated pushes the raw-flow mean exceeded 7 px for 24
    pushes whose labels had IoU 0.96-1.0, while their filtered mean was
    0.1-0.5 px. (Without the table filter it is the raw flow.)
``no_motion``
    Nothing above the table moved faster than the motion threshold.
``no_segment_at_push``
    Something moved, but no segment lies at (or within the prior radius of) the push pixel.
``rotation``
    The standard deviation of the motion (flow length times z / f) in the
    chosen segment exceeds 2.9 cm (15 px on the PR2's camera): the object turned (or toppled) and its flow is unreliable (paper step 4).
    The std is taken over the segment and over it with the segments touching it
    (the normalized cut may have cut a turning object into parts).
    The paper removes such segments before the action prior; we pick first and
    then reject, so a turning pushed object is reported as such instead of
    silently handing the label to a neighbour.
``small_motion``
    The chosen segment moved less than 3 mm on average (flow length times
    z / f): flow noise, parallax of a camera that moved a little, or a push
    that barely touched its object, not a push that moved an object. On real
    frames of a scene where nothing moved, the masks that passed every other
    gate moved 0.1-0.6 mm; semi-real pushes of 3-6 cm measure 16 mm and more,
    and the smallest motion of a good simulated label was about 4 mm.
``too_small`` / ``too_large``
    Area seen face-on under 3.6 cm^2 or over 470 cm^2 (the reference
    implementation's 100 px and 2.5 % of the image on the PR2's camera; on a
    narrow camera close to the table, objects fill 2.5-8 % of the image).
``low_score``
    The quality score is 0 or below ``min_score`` (see :func:`quality_score`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pushseg.labeling import metric
from pushseg.labeling.config import LabelConfig
from pushseg.labeling.flow import flow_magnitude
from pushseg.types import CameraInfo

REASONS = ("large_motion", "no_motion", "no_segment_at_push", "rotation", "small_motion", "too_small", "too_large",
           "low_score")


@dataclass(frozen=True)
class SegmentStats:
    area: int  # px
    mag_mean: float  # px; NaN without flow
    mag_std: float  # px; NaN without flow
    solidity: float  # area / convex hull area
    area_m2: float = float("nan")  # seen face-on; NaN without a camera
    motion_mean_m: float = float("nan")  # mean of flow length times z / f
    motion_std_m: float = float("nan")  # its std (with the context, as mag_std)


def segment_stats(
    mask: np.ndarray,
    flow: np.ndarray | None,
    context: np.ndarray | None = None,
    camera: CameraInfo | None = None,
    depth: np.ndarray | None = None,
) -> SegmentStats:
    """Area, flow statistics and solidity of a mask, in pixels and (with a camera) in metres.

    ``context`` (the chosen segment together with the segments it touches)
    also counts for the std: the normalized cut can cut a turning object into
    parts that each look rigid, and the rotation filter must still see it turn.
    """
    area = int(mask.sum())
    mean = std = mean_m = std_m = float("nan")
    if flow is not None and area:
        mag = flow_magnitude(flow[mask]).astype(np.float64)
        mean, std = float(mag.mean()), float(mag.std())
        if camera is not None:
            mot = mag * metric.metres_per_px(camera, depth, mask)
            mean_m, std_m = float(mot.mean()), float(mot.std())
        if context is not None and context.any():
            cmag = flow_magnitude(flow[context]).astype(np.float64)
            std = max(std, float(cmag.std()))
            if camera is not None:
                std_m = max(std_m, float((cmag * metric.metres_per_px(camera, depth, context)).std()))
    area_m2 = metric.area_m2(camera, depth, mask) if camera is not None else float("nan")
    return SegmentStats(area=area, mag_mean=mean, mag_std=std, solidity=solidity(mask), area_m2=area_m2,
                        motion_mean_m=mean_m, motion_std_m=std_m)


def solidity(mask: np.ndarray) -> float:
    if not mask.any():
        return 0.0
    pts = cv2.findNonZero(mask.astype(np.uint8))
    hull = cv2.convexHull(pts)
    # Pixel areas: the hull through pixel centres misses half a pixel all round.
    hull_area = cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0
    return float(min(1.0, mask.sum() / hull_area))


def segment_reason(stats: SegmentStats, cfg: LabelConfig) -> str:
    """The rejection reason for a chosen segment (stats in metres), or "" when it passes."""
    if np.isfinite(stats.motion_std_m) and stats.motion_std_m > cfg.rotation_std_m:
        return "rotation"
    if np.isfinite(stats.motion_mean_m) and stats.motion_mean_m < cfg.min_motion_m:
        return "small_motion"
    if stats.area_m2 < cfg.min_area_m2:
        return "too_small"
    if stats.area_m2 > cfg.max_area_m2:
        return "too_large"
    return ""


def moved_volume_m3(camera: CameraInfo, depth: np.ndarray | None, mag: np.ndarray, k: int = 1) -> float:
    """Sum of area times motion over an image of flow lengths (px), the large-motion gate's measure.

    ``mag`` may be subsampled by ``k`` (``depth`` then too): each of its pixels stands for k * k pixels.
    Pixels without depth count at the image's median depth.
    """
    if depth is None:
        z = np.float64(metric.REFERENCE_DISTANCE_M)
    else:
        z = metric.depth_or(depth, metric.typical_depth(depth)).astype(np.float64)
    m = z * (k / metric.focal_px(camera))  # metres per subsampled pixel step
    return float((mag.astype(np.float64) / k * m * m * m).sum())


def photometric_consistency(
    mask: np.ndarray, flow: np.ndarray, before_rgb: np.ndarray, after_rgb: np.ndarray, tol: float = 20.0
) -> float:
    """Share of mask pixels whose colour reappears where the flow says they went.

    A cheap check that the flow explains the motion: wrong flow (occlusion,
    textureless drift) lands on other colours.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0.0
    # remap wants maps under 32767 columns: lay the points out in rows of 1024.
    n = len(ys)
    cols = 1024
    rows = -(-n // cols)
    fx = np.zeros(rows * cols, np.float32)
    fy = np.zeros(rows * cols, np.float32)
    fx[:n] = xs + flow[ys, xs, 0]
    fy[:n] = ys + flow[ys, xs, 1]
    warped = cv2.remap(after_rgb, fx.reshape(rows, cols), fy.reshape(rows, cols), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)[:n]
    diff = np.abs(warped.astype(np.int16) - before_rgb[ys, xs].astype(np.int16)).max(axis=1)
    return float((diff < tol).mean())


def quality_score(
    stats: SegmentStats,
    prior_radius_px: float,
    prior_distance_px: float,
    border_motion: float | None = None,
    border_object: float | None = None,
    outline_px: float | None = None,
) -> float:
    """Quality in [0, 1]: geometric mean of the evidence that the mask is one whole moved object.

    - still border: share of a thin ring around the mask that did *not* move
      (a part of a moving region, or one of two objects moving together, has
      moving pixels around it);
    - free border: share of that ring that is table (a mask that stops inside
      an object, or leaks into a neighbour, borders on more object);
    - prior: 1 on the push pixel, 0.5 at the fallback radius (1 without the prior);
    - outline: A / (A + P) for area A and outline length P in pixels, the IoU
      a mask keeps when its outline is off by one pixel: good labels differ
      mostly by such outline errors, and small or ragged masks lose most.

    Left out, measured on simulated pushes (ideal and robot worlds): the
    flow's spread (past the rotation gate it grows with the push's length,
    not with the error), solidity (its rank correlation with IoU changed sign
    between worlds) and photometric consistency (zero for good labels of
    objects that moved further than the flow follows).
    """
    terms = []
    if border_motion is not None:
        terms.append(1.0 - border_motion)
    if border_object is not None:
        terms.append(1.0 - border_object)
    if np.isfinite(prior_distance_px):
        terms.append(max(0.0, 1.0 - 0.5 * prior_distance_px / max(prior_radius_px, 1e-6)))
    if outline_px is not None and stats.area:
        terms.append(stats.area / (stats.area + outline_px))
    if not terms:
        return float(stats.solidity)
    t = np.clip(np.asarray(terms, dtype=np.float64), 0.0, 1.0)
    if (t <= 0).any():
        return 0.0
    return float(np.exp(np.log(t).mean()))


def outline_length(mask: np.ndarray) -> float:
    """Pixels on the mask's outline (mask pixels with a 4-neighbour outside it)."""
    inner = cv2.erode(mask.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8))
    return float(mask.sum() - inner.sum())


def border_motion(mask: np.ndarray, moving: np.ndarray, width_px: int) -> float:
    """Share of a ring ``width_px`` wide just outside the mask that moved too.

    A whole object cut out cleanly is surrounded by still table or still
    neighbours; a mask that stops inside a moving region (a part of the
    object, or one of two objects moving together) has moving pixels around it.
    """
    k = 2 * max(1, int(width_px)) + 1
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool) & ~mask
    n = int(ring.sum())
    return float(moving[ring].mean()) if n else 0.0


def push_direction_agreement(flow: np.ndarray | None, mask: np.ndarray, direction: np.ndarray | None) -> float | None:
    """Cosine between the mask's mean flow and the push direction in the image; None when unknown.

    The pushed object moves away from the pusher; an object that moved the
    other way was not the one pushed (or the flow is wrong).
    """
    if flow is None or direction is None or not mask.any():
        return None
    m = flow[mask].astype(np.float64).mean(axis=0)
    n = float(np.hypot(*m))
    if n < 1e-6:
        return 0.0
    return float(m @ direction / n)
