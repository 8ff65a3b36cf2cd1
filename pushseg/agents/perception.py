"""What an agent sees: a top-down map of the table built from one RGB-D observation.

Only the depth image, the camera's K and extrinsics are used (never simulation
ground truth), so the same code runs on the PR2. Steps: fit the table plane
(``geometry.fit_table_plane``: the highest large horizontal plane under the
grid, so a floor, wall or shelf in view is not taken for the table), lift every pixel to base_link with its
height above the plane, and bin the points into a 5 mm grid over the table:
cells holding points higher than ``min_height`` are *occupied*, cells holding
only table points are *free*, the rest (occlusion shadows, the floor) are
*unknown*. Occupied cells are split into object segments by connected
components and, for touching objects, a watershed on the distance transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from pushseg.errors import InputError
from pushseg.geometry import camera_to_base, fit_table_plane, height_above_plane
from pushseg.types import CameraInfo, Frame


@dataclass(frozen=True)
class GridSpec:
    """The top-down grid in base_link: cell (i, j) covers x = x0 + i * cell, y = y0 + j * cell."""

    x0: float = 0.30
    y0: float = -0.65
    nx: int = 180  # 0.30 .. 1.20 m
    ny: int = 260  # -0.65 .. 0.65 m
    cell: float = 0.005

    def index(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = np.floor((xy[..., 0] - self.x0) / self.cell).astype(np.int64)
        j = np.floor((xy[..., 1] - self.y0) / self.cell).astype(np.int64)
        return i, j

    def centre(self, i, j) -> np.ndarray:
        return np.stack([self.x0 + (np.asarray(i) + 0.5) * self.cell, self.y0 + (np.asarray(j) + 0.5) * self.cell], -1)

    def inside(self, i, j) -> np.ndarray:
        return (i >= 0) & (i < self.nx) & (j >= 0) & (j < self.ny)


@dataclass
class TableMap:
    """The table seen from above. All grids are (nx, ny)."""

    grid: GridSpec
    table_z: float  # table top in base_link, from the plane fit
    occupied: np.ndarray  # bool
    free: np.ndarray  # bool: table seen, nothing on it
    height: np.ndarray  # float, max height above the table (0 where none)
    pixel: np.ndarray  # int (nx, ny, 2): (u, v) of the highest point in the cell, -1 where none
    segments: np.ndarray  # int32, 0 = none, 1..K object segments
    image_fg: np.ndarray  # (H, W) bool: pixels standing above the table

    @property
    def num_segments(self) -> int:
        return int(self.segments.max())


def observation_frame(obs, camera: CameraInfo) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, depth) from a Frame or an env observation dict, checked against ``camera``."""
    if isinstance(obs, Frame):
        rgb, depth = obs.rgb, obs.depth
    elif isinstance(obs, dict) and "depth" in obs:
        rgb, depth = obs.get("rgb"), obs["depth"]
    else:
        raise InputError(f"an agent needs a Frame or an observation dict with 'depth', got {type(obs).__name__}")
    depth = np.asarray(depth, dtype=np.float32)
    if depth.shape != (camera.height, camera.width):
        raise InputError(
            f"depth image has shape {depth.shape}, but the camera is {camera.width}x{camera.height}"
        )
    # Missing readings are 0 in an env observation and NaN in a Frame: make them NaN alike.
    with np.errstate(invalid="ignore"):
        depth = np.where(depth > 0, depth, np.float32(np.nan)).astype(np.float32, copy=False)
    return rgb, depth


def build_table_map(
    camera: CameraInfo,
    depth: np.ndarray,
    *,
    rng: np.random.Generator | int = 0,
    grid: GridSpec = GridSpec(),
    min_height: float = 0.012,
    min_segment_area: float = 4e-4,
    split_distance: float = 0.02,
) -> TableMap:
    """Build the top-down map; see the module doc.

    Above 480 px of width, pixels are sampled with a stride so that their
    spacing on the table (~2 mm per qhd pixel at 1 m) stays below a cell.
    """
    stride = max(1, camera.width // 480)
    # The table under the grid, not the largest plane in view (the floor, a wall, a shelf).
    region = ((grid.x0, grid.x0 + grid.nx * grid.cell), (grid.y0, grid.y0 + grid.ny * grid.cell))
    plane = fit_table_plane(camera, depth, rng=rng, stride=4 * stride, region=region)
    h = height_above_plane(camera, depth, plane)  # (H, W), NaN where no depth
    H, W = depth.shape
    vs, us = np.mgrid[0:H:stride, 0:W:stride]
    z = depth[::stride, ::stride].astype(np.float64)
    hs = h[::stride, ::stride]
    valid = np.isfinite(hs)
    pts_cam = np.stack([(us - camera.cx) * z / camera.fx, (vs - camera.cy) * z / camera.fy, z], -1)[valid]
    pts = camera_to_base(camera, pts_cam)
    hv = hs[valid]
    uv = np.stack([us[valid], vs[valid]], -1)

    on_table = np.abs(hv) < 0.006
    table_z = float(np.median(pts[on_table, 2])) if on_table.any() else float(np.median(pts[:, 2]))
    i, j = grid.index(pts[:, :2])
    keep = grid.inside(i, j) & (hv > -0.02) & (hv < 0.40)
    i, j, hv, uv, on_table = i[keep], j[keep], hv[keep], uv[keep], on_table[keep]
    flat = i * grid.ny + j

    high = hv > min_height
    occupied = np.zeros(grid.nx * grid.ny, bool)
    occupied[flat[high]] = True
    seen_table = np.zeros(grid.nx * grid.ny, bool)
    seen_table[flat[on_table]] = True
    height = np.zeros(grid.nx * grid.ny)
    np.maximum.at(height, flat[high], hv[high])
    # The pixel of the highest point per cell: sort by height, last write wins.
    order = np.argsort(hv[high], kind="stable")
    pixel = -np.ones((grid.nx * grid.ny, 2), np.int64)
    pixel[flat[high][order]] = uv[high][order]

    shape = (grid.nx, grid.ny)
    occupied = occupied.reshape(shape)
    # Fill holes between sparse samples (far away or at low resolution).
    occupied = cv2.morphologyEx(occupied.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)).astype(bool)
    free = seen_table.reshape(shape) & ~occupied
    segments = _segment(occupied, grid, min_segment_area, split_distance)
    image_fg = np.zeros((H, W), bool)
    full_valid = np.isfinite(h)
    image_fg[full_valid] = h[full_valid] > min_height
    return TableMap(
        grid=grid,
        table_z=table_z,
        occupied=occupied,
        free=free,
        height=height.reshape(shape),
        pixel=pixel.reshape(grid.nx, grid.ny, 2),
        segments=segments,
        image_fg=image_fg,
    )


def _segment(occupied: np.ndarray, grid: GridSpec, min_area: float, split_distance: float) -> np.ndarray:
    """Connected components, each split by a watershed where two blobs meet at a neck."""

    labels, n = ndi.label(occupied)
    out = np.zeros(occupied.shape, np.int32)
    min_cells = min_area / grid.cell**2
    k = 0
    dist = ndi.distance_transform_edt(occupied) * grid.cell
    for c in range(1, n + 1):
        comp = labels == c
        if comp.sum() < min_cells:
            continue
        # Markers: maxima of the distance transform at least ``split_distance`` apart.
        d = np.where(comp, dist, 0.0)
        size = max(3, int(round(2 * split_distance / grid.cell)) | 1)
        peaks = (d == ndi.maximum_filter(d, size=size)) & (d > 0.4 * d.max())
        markers, m = ndi.label(peaks)
        if m <= 1:
            k += 1
            out[comp] = k
            continue
        ws = watershed(-d, markers, mask=comp)
        for s in range(1, m + 1):
            part = ws == s
            if part.sum() >= min_cells:
                k += 1
                out[part] = k
            else:
                out[part] = 0
    return out
