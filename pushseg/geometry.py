"""Pinhole maths, the PR2 head camera pose, the table plane and push resolution.

One module so that the simulation and the real robot resolve a :class:`Push`
into 3D in exactly the same way. Pure numpy: no cv_bridge, no image_geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from pushseg.errors import InputError
from pushseg.types import CameraInfo, Push

# Kinect2 "qhd" (960x540) factory intrinsics, iai_kinect2 (docs/pr2.md).
KINECT2_QHD_WIDTH = 960
KINECT2_QHD_HEIGHT = 540
KINECT2_QHD_FX = 540.686
KINECT2_QHD_FY = 540.686
KINECT2_QHD_CX = 479.75
KINECT2_QHD_CY = 269.75


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


def transform(R: np.ndarray | None = None, t=(0.0, 0.0, 0.0)) -> np.ndarray:
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    T[:3, 3] = t
    return T


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """URDF convention: R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    return rot_z(yaw) @ rot_y(pitch) @ rot_x(roll)


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """The rotation matrix of a quaternion (x, y, z, w), as ROS messages carry it; need not be unit."""
    n = x * x + y * y + z * z + w * w
    s = 2.0 / n if n > 0 else 0.0
    return np.array(
        [
            [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
            [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
            [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
        ]
    )


def matrix_quaternion(R: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation matrix (Shepperd's method: the largest diagonal term first)."""
    R = np.asarray(R, dtype=np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = ((R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s)
        return tuple(float(v) for v in q)
    i = int(np.argmax(np.diag(R)))
    j, k = (i + 1) % 3, (i + 2) % 3
    s = 2.0 * np.sqrt(1.0 + R[i, i] - R[j, j] - R[k, k])
    q = np.zeros(4)
    q[i] = 0.25 * s
    q[j] = (R[j, i] + R[i, j]) / s
    q[k] = (R[k, i] + R[i, k]) / s
    q[3] = (R[k, j] - R[j, k]) / s
    return tuple(float(v) for v in q)


def pr2_head_camera_pose(torso: float = 0.1, head_pan: float = 0.0, head_tilt: float = 0.9) -> np.ndarray:
    """T_base_optical of the PR2's head Kinect2 colour optical frame.

    The chain and its numbers are those of pr2_description 1.13.1
    (torso.urdf.xacro, head.urdf.xacro, pr2.urdf.xacro with KINECT2,
    kinect2.urdf.xacro), as listed in docs/pr2.md. With the defaults the
    optical frame sits at about (0.154, -0.099, 1.529) looking ~52 deg down.
    """
    chain = [
        transform(t=(-0.05, 0.0, 0.739675 + torso)),  # torso_lift_joint (prismatic z)
        transform(rot_z(head_pan), (-0.01707, 0.0, 0.38145)),  # head_pan_joint
        transform(rot_y(head_tilt), (0.068, 0.0, 0.0)),  # head_tilt_joint
        transform(t=(0.0232, 0.0, 0.0645)),  # head_plate_frame_joint
        transform(t=(-0.137376, 0.0, 0.091746)),  # head_mount_kinect2_joint
        transform(t=(-0.032267, -0.0475, 0.155)),  # head_mount_kinect2_ir_joint
        transform(t=(0.0, -0.05175, 0.0)),  # head_mount_kinect2_rgb_joint
        transform(rpy_matrix(-np.pi / 2, 0.0, -np.pi / 2)),  # rgb_optical_frame_joint
    ]
    T = np.eye(4)
    for link in chain:
        T = T @ link
    return T


def kinect2_camera(
    width: int = KINECT2_QHD_WIDTH,
    height: int = KINECT2_QHD_HEIGHT,
    T_base_camera: np.ndarray | None = None,
) -> CameraInfo:
    """A Kinect2-like camera; intrinsics scale with the resolution asked for."""
    sx = width / KINECT2_QHD_WIDTH
    sy = height / KINECT2_QHD_HEIGHT
    # Pixel centres: scale about the corner, keeping the half-pixel convention.
    K = np.array(
        [
            [KINECT2_QHD_FX * sx, 0.0, (KINECT2_QHD_CX + 0.5) * sx - 0.5],
            [0.0, KINECT2_QHD_FY * sy, (KINECT2_QHD_CY + 0.5) * sy - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )
    if T_base_camera is None:
        T_base_camera = pr2_head_camera_pose()
    return CameraInfo(width=width, height=height, K=K, T_base_camera=T_base_camera)


# --- pixels and points ---------------------------------------------------------------


def deproject(camera: CameraInfo, u: float, v: float, z: float) -> np.ndarray:
    """Pixel (u, v) at depth z (metres along the optical axis) -> point in the optical frame."""
    return np.array([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z])


def project(camera: CameraInfo, p_camera: np.ndarray) -> np.ndarray:
    """Points (..., 3) in the optical frame -> pixels (..., 2)."""
    p = np.asarray(p_camera, dtype=np.float64)
    z = p[..., 2]
    return np.stack([camera.fx * p[..., 0] / z + camera.cx, camera.fy * p[..., 1] / z + camera.cy], axis=-1)


def camera_to_base(camera: CameraInfo, p_camera: np.ndarray) -> np.ndarray:
    p = np.asarray(p_camera, dtype=np.float64)
    return p @ camera.T_base_camera[:3, :3].T + camera.T_base_camera[:3, 3]


def base_to_camera(camera: CameraInfo, p_base: np.ndarray) -> np.ndarray:
    p = np.asarray(p_base, dtype=np.float64)
    R = camera.T_base_camera[:3, :3]
    t = camera.T_base_camera[:3, 3]
    return (p - t) @ R


def base_to_pixel(camera: CameraInfo, p_base: np.ndarray) -> np.ndarray:
    return project(camera, base_to_camera(camera, p_base))


def robust_depth(depth: np.ndarray, u: float, v: float, radius: int = 2) -> float:
    """Median of the valid depths in a (2r+1)^2 window around (u, v); NaN if none.

    Invalid readings (NaN, 0, negative) are skipped, as a Kinect2 reports 0 for none.
    """
    h, w = depth.shape
    ui, vi = int(round(u)), int(round(v))
    win = depth[max(0, vi - radius) : min(h, vi + radius + 1), max(0, ui - radius) : min(w, ui + radius + 1)]
    valid = win[np.isfinite(win) & (win > 0)]
    return float(np.median(valid)) if valid.size else float("nan")


def pixel_to_base(camera: CameraInfo, depth: np.ndarray, u: float, v: float, radius: int = 2) -> np.ndarray:
    """Pixel + depth image -> 3D point in base_link; raises InputError when depth is missing."""
    z = robust_depth(depth, u, v, radius)
    if not np.isfinite(z):
        raise InputError(f"no valid depth within {radius} px of pixel ({u:.1f}, {v:.1f})")
    return camera_to_base(camera, deproject(camera, u, v, z))


def depth_to_points(camera: CameraInfo, depth: np.ndarray, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Back-project a depth image. Returns (points (N, 3) in the optical frame, (N, 2) pixel coords)."""
    d = depth[::stride, ::stride]
    vs, us = np.mgrid[0 : depth.shape[0] : stride, 0 : depth.shape[1] : stride]
    valid = np.isfinite(d) & (d > 0)
    z = d[valid].astype(np.float64)
    u = us[valid].astype(np.float64)
    v = vs[valid].astype(np.float64)
    pts = np.stack([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z], axis=1)
    return pts, np.stack([u, v], axis=1)


# --- the table plane ---------------------------------------------------------------


@dataclass(frozen=True)
class Plane:
    """Points p with normal . p + offset = 0; the normal points towards the camera."""

    normal: np.ndarray  # (3,)
    offset: float

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance; positive on the camera's side (above the table)."""
        return np.asarray(points) @ self.normal + self.offset


def fit_table_plane(
    camera: CameraInfo,
    depth: np.ndarray,
    *,
    rng: np.random.Generator | int = 0,
    iterations: int = 200,
    inlier_threshold: float = 0.008,
    stride: int = 4,
    region: tuple[tuple[float, float], tuple[float, float]] | None = None,
    min_area: float = 0.10,
    min_width: float = 0.10,
    max_tilt_deg: float = 10.0,
) -> Plane:
    """The table top: the highest large horizontal plane below the camera, in the optical frame.

    Not the plane with the most support: a floor, a wall or a lower shelf can
    fill more of a Kinect2's view than the table does. Steps:
    1. back-project the depth (every ``stride``-th pixel) into base_link with
       the camera's extrinsics, keep points below the camera and, when
       ``region`` ((x0, x1), (y0, y1) in base_link) is given, inside it (pass
       the workspace or the table region you know about);
    2. go through 1 cm height bands from the top down; in each, bin the points
       into cells of about 2 cm and take the largest connected patch: the
       first band whose patch covers ``min_area`` m^2 and is at least
       ``min_width`` m wide across (a wall's band is a thin strip, an object's
       top is small) is the table;
    3. RANSAC on the points near that patch, with the normal kept within
       ``max_tilt_deg`` of base_link's z axis, then a least-squares refit on
       the inliers.

    Deterministic for a given ``rng``. Raises InputError when no such plane exists
    (no table in view, or extrinsics far off).
    """
    rng = np.random.default_rng(rng)
    pts_cam, _ = depth_to_points(camera, depth, stride=stride)
    if len(pts_cam) < 3:
        raise InputError("the depth image has fewer than 3 valid readings: cannot fit the table plane")
    pts = camera_to_base(camera, pts_cam)
    keep = pts[:, 2] < camera.T_base_camera[2, 3] - 0.05
    if region is not None:
        (x0, x1), (y0, y1) = region
        keep &= (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    pts_cam, pts = pts_cam[keep], pts[keep]
    where = "" if region is None else f" inside x {tuple(region[0])}, y {tuple(region[1])}"
    if len(pts) < 3:
        raise InputError(f"no depth readings below the camera{where}: cannot find the table")
    # Cells no finer than the spacing of the samples (foreshortened on a plane seen at ~50 deg).
    spacing = 2.0 * stride * float(np.median(pts_cam[:, 2])) / camera.fx
    cell = max(0.02, spacing)
    patch = _highest_horizontal_patch(pts, cell, min_area, min_width)
    if patch is None:
        raise InputError(
            f"no horizontal surface of at least {min_area:g} m^2 found below the camera{where}: "
            "is the table in view, and are the camera's extrinsics (T_base_camera) right?"
        )
    sel_cam = pts_cam[patch]
    up = camera.T_base_camera[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # base z in the optical frame

    def horizontal(normals: np.ndarray, norms: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.abs(normals @ up) / np.where(norms >= 1e-9, norms, 1.0) >= np.cos(np.radians(max_tilt_deg))

    inliers = _ransac_plane(sel_cam, rng, iterations, inlier_threshold, horizontal)
    if inliers is None or inliers.sum() < 3:
        raise InputError(f"could not fit a horizontal table plane to the surface found{where}")
    return _refit_facing_camera(sel_cam[inliers])


def _ransac_plane(pts: np.ndarray, rng: np.random.Generator, iterations: int, threshold: float,
                  accept) -> np.ndarray | None:
    """Inliers of the plane through 3 random points with the most points within ``threshold``, among the
    ``iterations`` hypotheses that ``accept(normals, norms, a)`` lets through (normals not yet unit)."""
    samples = pts[rng.integers(0, len(pts), size=(iterations, 3))]
    a = samples[:, 0]
    normals = np.cross(samples[:, 1] - a, samples[:, 2] - a)
    norms = np.linalg.norm(normals, axis=1)
    ok = (norms >= 1e-9) & accept(normals, norms, a)
    best_count, best = -1, None
    for i in np.flatnonzero(ok):
        inliers = np.abs((pts - a[i]) @ (normals[i] / norms[i])) < threshold
        count = int(inliers.sum())
        if count > best_count:
            best_count, best = count, inliers
    return best


def _refit_facing_camera(inl: np.ndarray) -> Plane:
    """Least-squares plane through the inliers, its normal towards the camera (the optical frame's origin)."""
    centroid = inl.mean(axis=0)
    normal = np.linalg.svd(inl - centroid, full_matrices=False)[2][-1]
    if normal @ (-centroid) < 0:
        normal = -normal
    return Plane(normal=normal, offset=float(-normal @ centroid))


def _narrowest_width(xy: np.ndarray) -> float:
    """About the full width of a patch of points across its narrowest direction (4 standard deviations)."""
    if len(xy) < 3:
        return 0.0
    cov = np.cov(np.asarray(xy, dtype=np.float64).T)
    return 4.0 * float(np.sqrt(max(float(np.linalg.eigvalsh(cov)[0]), 0.0)))


def _highest_horizontal_patch(
    pts: np.ndarray, cell: float, min_area: float, min_width: float, max_object_height: float = 0.25
) -> np.ndarray | None:
    """Bool mask of the points within 4 cm of the table's patch, or None (see fit_table_plane).

    Candidates are the large, wide patches of 1 cm height bands. Going down from the highest,
    a patch is taken for the top of an object standing on a lower patch (and skipped) when
    it is at most ``max_object_height`` above that lower patch and the lower patch holds at
    least half of the lower cells seen in a ring 2-6 cm around it (a table over the floor
    stands higher than that; a table beside a lower shelf is ringed by the floor as well).
    """

    z = pts[:, 2]
    band = 0.01
    lo = np.floor(z.min() / band)
    k = np.floor(z / band) - lo
    counts = np.bincount(k.astype(np.int64))
    ij = np.floor(pts[:, :2] / cell).astype(np.int64)
    ij -= ij.min(axis=0)
    shape = tuple(ij.max(axis=0) + 1)
    zmin = np.full(shape, np.inf)
    np.minimum.at(zmin, (ij[:, 0], ij[:, 1]), z)
    min_cells = min_area / cell**2
    candidates: list[tuple[float, np.ndarray, np.ndarray]] = []  # (height, patch cells, band cells)
    for b in range(len(counts) - 1, -1, -1):
        if counts[max(0, b - 1) : b + 2].sum() < min_cells:
            continue
        h = (lo + b + 0.5) * band
        in_band = np.abs(z - h) < 1.5 * band
        if _narrowest_width(pts[in_band, :2]) < min_width:  # a wall's band, or a few object tops in a row
            continue
        grid = np.zeros(shape, bool)
        grid[ij[in_band, 0], ij[in_band, 1]] = True
        grid = ndi.binary_closing(grid, structure=np.ones((3, 3)))
        labels, n = ndi.label(grid)
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        c = int(np.argmax(sizes)) + 1
        if sizes[c - 1] < min_cells:
            continue
        patch = labels == c
        if _narrowest_width(np.argwhere(patch) * cell) < min_width:
            continue
        member = patch[ij[:, 0], ij[:, 1]] & in_band
        h = float(np.median(z[member]))  # the surface's own height, not the band's centre
        if candidates and abs(candidates[-1][0] - h) < 0.03:
            continue  # the same surface again, one band lower
        surface = np.zeros(shape, bool)  # every cell that sees this surface, around its own height
        near = np.abs(z - h) < 1.5 * band
        surface[ij[near, 0], ij[near, 1]] = True
        candidates.append((h, patch, surface))
    r_in, r_out = max(1, int(round(0.02 / cell))), max(2, int(round(0.06 / cell)))
    for n_, (h, patch, _) in enumerate(candidates):
        ring = ndi.binary_dilation(patch, iterations=r_out) & ~ndi.binary_dilation(patch, iterations=r_in)
        ring &= zmin < h - 0.02  # seen cells around it that hold something lower
        on_lower = ring.sum() >= 3 and any(
            0.0 < h - hq <= max_object_height and (ring & grid_q).sum() >= 0.5 * ring.sum()
            for hq, _, grid_q in candidates[n_ + 1 :]
        )
        if on_lower:
            continue
        member = ndi.binary_dilation(patch, structure=np.ones((3, 3)))
        return member[ij[:, 0], ij[:, 1]] & (np.abs(z - h) < 0.04)
    return None


def height_above_plane(camera: CameraInfo, depth: np.ndarray, plane: Plane) -> np.ndarray:
    """Per-pixel height above the plane in metres (NaN where depth is invalid)."""
    h, w = depth.shape
    n = np.asarray(plane.normal, dtype=np.float64)
    # normal . (z (u - cx) / fx, z (v - cy) / fy, z) = z * (a[u] + b[v]): one row and one
    # column of coefficients instead of an (H, W, 3) point cloud.
    a = n[0] * (np.arange(w, dtype=np.float64) - camera.cx) / camera.fx
    b = n[1] * (np.arange(h, dtype=np.float64) - camera.cy) / camera.fy + n[2]
    z = depth.astype(np.float64)
    out = z * (b[:, None] + a[None, :]) + plane.offset
    out[~(np.isfinite(z) & (z > 0))] = np.nan
    return out


# --- pushes --------------------------------------------------------------------------


@dataclass(frozen=True)
class PushPath:
    """A push resolved into base_link: the pusher travels from ``start`` to ``end``.

    ``contact`` is the 3D point under the push pixel; ``start`` lies ``approach``
    metres behind it so the pusher comes down in free space.
    """

    contact: np.ndarray
    start: np.ndarray
    end: np.ndarray
    direction: np.ndarray  # unit (3,), horizontal

    def waypoints(self, spacing: float = 0.01) -> np.ndarray:
        """Points along the line about every ``spacing`` metres, both ends included."""
        n = max(1, int(np.ceil(np.linalg.norm(self.end - self.start) / spacing)))
        s = np.linspace(0.0, 1.0, n + 1)[:, None]
        return self.start + s * (self.end - self.start)


def resolve_push(
    camera: CameraInfo,
    depth: np.ndarray,
    push: Push,
    *,
    table_z: float,
    push_height: float = 0.025,
    approach: float = 0.04,
) -> PushPath:
    """Turn a pixel push into a straight horizontal line in base_link.

    The push pixel is back-projected with the depth around it; the line runs at
    ``push_height`` above the table top (``table_z`` in base_link), starting
    ``approach`` behind the contact point and ending ``push.length`` beyond it.
    """
    contact = pixel_to_base(camera, depth, push.u, push.v)
    direction = np.array([np.cos(push.angle), np.sin(push.angle), 0.0])
    z = table_z + push_height
    contact_at_height = np.array([contact[0], contact[1], z])
    return PushPath(
        contact=contact,
        start=contact_at_height - approach * direction,
        end=contact_at_height + push.length * direction,
        direction=direction,
    )


def plane_height_at(camera: CameraInfo, plane: Plane, x: float, y: float) -> float:
    """The base_link z of ``plane`` (optical frame) above the point (x, y) of base_link."""
    R, t = camera.T_base_camera[:3, :3], camera.T_base_camera[:3, 3]
    normal = R @ plane.normal
    point = R @ (-plane.offset * plane.normal) + t  # the plane's point nearest the camera
    if abs(normal[2]) < 1e-6:
        raise InputError("the plane is vertical in base_link: it has no height")
    return float(point[2] - (normal[0] * (x - point[0]) + normal[1] * (y - point[1])) / normal[2])


def fit_plane_without_pose(
    camera: CameraInfo,
    depth: np.ndarray,
    *,
    rng: np.random.Generator | int = 0,
    iterations: int = 300,
    inlier_threshold: float = 0.01,
    stride: int = 4,
    min_support: float = 0.15,
    up: np.ndarray | None = None,
    max_tilt_deg: float = 10.0,
) -> Plane:
    """The table of a camera whose pose is unknown: the plane with the most depth support, in the optical frame.

    For a frame taken without a robot (a hand-held or tripod camera) there is no
    gravity to tell the table from a wall, so the table is taken to be the
    largest plane that faces the camera from below the optical axis or level
    with it (a camera looking at a table from above sees its top facing up in
    the image, normal y < 0.2 in the optical frame). RANSAC on every
    ``stride``-th pixel, then a least-squares refit on the inliers.
    ``min_support``: the share of valid readings the plane must hold. ``up``
    (a unit vector in the optical frame, from a known pose): only planes within
    ``max_tilt_deg`` of horizontal count, so a wall never wins.
    """
    rng = np.random.default_rng(rng)
    pts, _ = depth_to_points(camera, np.asarray(depth, dtype=np.float32), stride=stride)
    if len(pts) < 3:
        raise InputError("the depth image has fewer than 3 valid readings: cannot fit the table plane")

    def table_like(normals: np.ndarray, norms: np.ndarray, a: np.ndarray) -> np.ndarray:
        unit = normals / np.where(norms >= 1e-9, norms, 1.0)[:, None]
        unit *= np.where(np.einsum("ij,ij->i", unit, a) > 0, -1.0, 1.0)[:, None]  # face the camera
        if up is None:
            return unit[:, 1] < 0.2
        return unit @ np.asarray(up, np.float64) >= np.cos(np.radians(max_tilt_deg))

    inliers = _ransac_plane(pts, rng, iterations, inlier_threshold, table_like)
    if inliers is None or inliers.sum() < max(3, min_support * len(pts)):
        raise InputError(f"no plane holds {min_support:.0%} of the depth readings: is a table in view?")
    return _refit_facing_camera(pts[inliers])


def push_from_line(
    camera: CameraInfo,
    depth: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    *,
    approach: float = 0.04,
    max_miss: float = 0.01,
) -> Push:
    """The :class:`Push` that :func:`resolve_push` turns into the line ``start`` -> ``end`` (base_link).

    The inverse of :func:`resolve_push` with the same ``approach``: the angle is
    the line's direction in the table plane, the contact lies ``approach`` after
    ``start`` and the length is what remains after it. The pixel is the one whose
    depth reading lies above or below the contact (its x, y within ``max_miss``
    metres), nearest the line's height when several do (an object's side), refined
    to a fraction of a pixel. Raises InputError when no depth reading is there
    (the contact is out of view or hidden) or the line is shorter than ``approach``.
    Used to turn a recorded motion of the arm into a push (``pushseg import-bag``).
    """
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    travel = end[:2] - start[:2]
    dist = float(np.linalg.norm(travel))
    if dist <= approach:
        raise InputError(f"the line is {dist:.3f} m long, no longer than the approach ({approach:.3f} m): no push")
    d = travel / dist
    contact = start[:2] + approach * d
    pixels = _pixels_above(camera, contact, float(start[2]))
    if not pixels:
        raise InputError(f"the push's contact point ({contact[0]:.3f}, {contact[1]:.3f}) in base_link is not in view "
                         "of the camera")
    best, best_cost, best_miss = None, np.inf, np.inf
    for u, v in pixels:  # the points resolve_push would take for these pixels: windowed median depths
        z = robust_depth(depth, u, v)
        if not np.isfinite(z):
            continue
        p = camera_to_base(camera, deproject(camera, u, v, z))
        miss = float(np.linalg.norm(p[:2] - contact))
        cost = miss + 0.1 * abs(float(p[2]) - float(start[2]))  # an object's side: the point at the line's height
        best_miss = min(best_miss, miss)
        if miss <= max_miss and cost < best_cost:
            best, best_cost = (u, v), cost
    if best is None:
        raise InputError(
            f"no depth reading within {max_miss:.3f} m of the push's contact point ({contact[0]:.3f}, "
            f"{contact[1]:.3f}) in base_link (nearest {best_miss:.3f} m): is it in view of the camera?")
    u, v = _refine_pixel(camera, depth, np.array(best, dtype=np.float64), contact)
    return Push(u=u, v=v, angle=float(np.arctan2(d[1], d[0])), length=dist - approach)


def _refine_pixel(camera: CameraInfo, depth: np.ndarray, uv: np.ndarray, target_xy: np.ndarray) -> tuple[float, float]:
    """Move pixel ``uv`` by a fraction of a pixel so that its base_link x, y meet ``target_xy`` (one Newton step).

    Keeps ``uv`` where the depth around it does not allow a step (an edge, missing readings)."""
    u, v = float(uv[0]), float(uv[1])
    try:
        p = pixel_to_base(camera, depth, u, v)[:2]
        ju = pixel_to_base(camera, depth, u + 1, v)[:2] - p
        jv = pixel_to_base(camera, depth, u, v + 1)[:2] - p
    except InputError:
        return u, v
    J = np.stack([ju, jv], axis=1)
    if abs(np.linalg.det(J)) < 1e-12:
        return u, v
    step = np.linalg.solve(J, target_xy - p)
    if np.max(np.abs(step)) > 1.0:  # not a smooth surface around it: the nearest reading is as good as it gets
        return u, v
    step = np.clip(step, -0.49, 0.49)  # resolve_push rounds to the pixel found: keep it, add the fraction
    return u + float(step[0]), v + float(step[1])


def _pixels_above(camera: CameraInfo, xy: np.ndarray, z: float, band: int = 3) -> list[tuple[int, int]]:
    """Pixels within ``band`` of the image of the vertical line through ``xy`` (from 0.5 m below ``z`` to
    0.5 m above it): the only pixels whose depth reading can lie above or below ``xy``."""
    zs = np.linspace(z - 0.5, z + 0.5, 400)
    pts = np.column_stack([np.full_like(zs, xy[0]), np.full_like(zs, xy[1]), zs])
    cam = base_to_camera(camera, pts)
    cam = cam[cam[:, 2] > 1e-3]
    if not len(cam):
        return []
    uv = np.round(project(camera, cam)).astype(np.int64)
    offsets = np.arange(-band, band + 1)
    du, dv = np.meshgrid(offsets, offsets)
    cand = (uv[:, None, :] + np.stack([du.ravel(), dv.ravel()], axis=1)[None]).reshape(-1, 2)
    inside = (cand[:, 0] >= 0) & (cand[:, 0] < camera.width) & (cand[:, 1] >= 0) & (cand[:, 1] < camera.height)
    return [(int(a), int(b)) for a, b in np.unique(cand[inside], axis=0)]
