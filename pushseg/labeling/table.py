"""The table filter (paper step 2): flow on the table plane is set to zero.

The plane comes from the *before* depth (:func:`pushseg.geometry.fit_table_plane`: the
highest large horizontal plane, so a floor, a wall or a lower shelf in view is not taken for
the table; objects on the table are outliers). When the before depth shows no table at all,
:func:`fit_plane` returns None and that transition is labelled without the table filter
(no pixel counts as table) instead of failing the whole batch. A pixel counts as table when
it lies less than ``table_height_m`` above the plane, or below it (the floor or
the table's far edge is never an object on the table). Pixels without a depth
reading are kept (not table): on a Kinect2 they sit on object edges and shiny
surfaces, and zeroing them would punch holes in masks.
"""

from __future__ import annotations

import logging

import numpy as np

from pushseg.errors import InputError
from pushseg.geometry import Plane, fit_table_plane, height_above_plane
from pushseg.labeling.config import LabelConfig
from pushseg.types import CameraInfo

log = logging.getLogger(__name__)


def check_depth(depth: np.ndarray, shape: tuple[int, int]) -> None:
    if depth.shape != shape:
        raise InputError(f"before depth has shape {depth.shape} but the images are {shape}; they must match")
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise InputError(
            "before depth has no valid reading (all NaN or <= 0): the table plane cannot be found; "
            "check the depth stream, or label with use_table_filter=False (--no-table-filter)"
        )


def fit_plane(camera: CameraInfo, depth: np.ndarray, cfg: LabelConfig) -> Plane | None:
    """The table plane of the before depth; None when no table is in view (see the module doc).

    Depth of the wrong shape or without any reading is still an error.
    """
    check_depth(depth, (camera.height, camera.width))
    try:
        return fit_table_plane(
            camera,
            depth,
            rng=cfg.seed,
            iterations=cfg.ransac_iterations,
            inlier_threshold=cfg.ransac_inlier_m,
            stride=cfg.ransac_stride,
        )
    except InputError:
        log.warning("no table found in the before depth: labelling this transition without the table filter")
        return None


def crop_camera(camera: CameraInfo, roi: tuple[slice, slice]) -> CameraInfo:
    """The same camera seen through a crop: the principal point moves by the crop's corner."""
    rows, cols = roi
    K = camera.K.copy()
    K[0, 2] -= cols.start
    K[1, 2] -= rows.start
    return CameraInfo(
        width=cols.stop - cols.start,
        height=rows.stop - rows.start,
        K=K,
        T_base_camera=camera.T_base_camera,
        frame_id=camera.frame_id,
    )


def table_mask(
    camera: CameraInfo,
    depth: np.ndarray,
    cfg: LabelConfig,
    plane: Plane | None = None,
    roi: tuple[slice, slice] | None = None,
) -> np.ndarray:
    """Bool image, True on the table plane (and below it), False on objects and unknown depth.

    With ``roi`` (row and column slices) only that crop is computed: the
    labeler needs the table only where something moved.
    """
    if plane is None:
        plane = fit_plane(camera, depth, cfg)
    if plane is None:
        shape = depth.shape if roi is None else depth[roi].shape
        return np.zeros(shape, bool)
    if roi is not None:
        camera, depth = crop_camera(camera, roi), depth[roi]
    height = height_above_plane(camera, depth, plane)
    with np.errstate(invalid="ignore"):
        return height < cfg.table_height_m  # NaN compares False: unknown depth is not table


def table_mask_subsampled(
    camera: CameraInfo, depth: np.ndarray, cfg: LabelConfig, plane: Plane | None, k: int
) -> np.ndarray | None:
    """:func:`table_mask` at every ``k``-th pixel in both directions (``depth[::k, ::k]``); None without a plane."""
    if plane is None:
        return None
    K = camera.K.copy()
    K[:2] /= k  # pixel i of the subsampled image is pixel k * i of the full one
    h, w = depth[::k, ::k].shape
    sub = CameraInfo(width=w, height=h, K=K, T_base_camera=camera.T_base_camera, frame_id=camera.frame_id)
    height = height_above_plane(sub, depth[::k, ::k], plane)
    with np.errstate(invalid="ignore"):
        return height < cfg.table_height_m


def filter_flow(flow: np.ndarray, table: np.ndarray) -> np.ndarray:
    """A copy of ``flow`` with every vector on the table set to zero."""
    return np.where(table[..., None], np.float32(0.0), flow).astype(np.float32, copy=False)
