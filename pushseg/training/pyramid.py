"""Inference scales that fit the camera: where tabletop objects are expected to be in pixels.

DeepMask finds an object when the pyramid brings its largest side near the
model's canonical size (``ModelConfig.object_size``, 56 px for the small
model). How many pixels an object spans depends on the camera, not on the
network: ``fx * S / d`` for an object of size ``S`` at distance ``d``. A
pyramid fixed for one camera (the PR2's wide Kinect2 at 1 m, objects of ~25 px)
misses every object of a narrow camera at 0.6 m (objects of ~140 px).

So the pyramid is computed per image from its intrinsics and its depth:

1. the table plane (:func:`pushseg.training.depth_input.table_plane`) and the
   median distance ``d`` of the pixels on it;
2. a typical tabletop object of ``object_size_m`` (10 cm largest side as
   seen: what cups, boxes, cans and bottles on a table measure, in simulation
   and in the real frames alike) spans ``fx * S / d`` pixels, times the
   resize to the working width;
3. the scale that brings it to the canonical size, and ``span`` more levels a
   half octave (the paper's step) below and above it for scenes whose objects
   differ more in size.

One level is the default: on the simulated test scenes more levels cost AP
(windows of object parts at the larger scale and of pairs at the smaller one
outscore the whole objects) and time.
"""

from __future__ import annotations

import math

import numpy as np

from pushseg.errors import InputError
from pushseg.geometry import Plane, height_above_plane
from pushseg.training.config import ModelConfig
from pushseg.training.depth_input import table_plane
from pushseg.types import CameraInfo

TABLETOP_OBJECT_M = 0.10  # largest side of a typical tabletop object as the camera sees it
STEP_OCTAVES = 0.5


def scales_for_pixel_size(model: ModelConfig, size_px: float, image_width: int, span: int = 0,
                          step: float = STEP_OCTAVES) -> tuple[float, ...]:
    """Scales of the working image that bring an object of ``size_px`` (original image px) to canonical size,
    and ``span`` levels ``step`` octaves apart on each side."""
    if not (math.isfinite(size_px) and size_px > 0):
        raise InputError(f"the expected object size must be a positive number of pixels, got {size_px}")
    if isinstance(span, bool) or not isinstance(span, int) or span < 0:
        raise InputError(f"pyramid span must be a whole number >= 0, got {span!r}")
    centre = model.object_size / (size_px * model.work_width / image_width)
    return tuple(round(centre * 2 ** (k * step), 4) for k in range(-span, span + 1))


def table_distance(camera: CameraInfo, depth: np.ndarray, plane: Plane, tolerance_m: float = 0.01) -> float:
    """Median distance (m) from the camera to what it sees of the table."""
    with np.errstate(invalid="ignore"):
        on_table = np.abs(height_above_plane(camera, depth, plane)) < tolerance_m
    if not on_table.any():
        raise InputError("no depth reading lies on the fitted table plane: cannot tell how far the table is")
    return float(np.median(depth[on_table]))


def camera_scales(model: ModelConfig, camera: CameraInfo, depth: np.ndarray, plane: Plane | None = None,
                  object_size_m: float = TABLETOP_OBJECT_M, span: int = 0, seed: int = 0) -> tuple[float, ...]:
    """The pyramid of one frame: a tabletop object of ``object_size_m`` at the table's distance, at canonical size."""
    depth = np.asarray(depth, np.float32)
    plane = plane or table_plane(camera, depth, seed)
    d = table_distance(camera, depth, plane)
    f = math.sqrt(camera.fx * camera.fy)
    return scales_for_pixel_size(model, f * object_size_m / d, camera.width, span)
