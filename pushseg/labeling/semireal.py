"""Semi-real pushes: a real RGB-D frame in which one labelled object is moved along the table.

An approximation of a push on a real camera, for measuring the labeler where no
robot is at hand. What is real: the camera (intrinsics, resolution, its noise in
the before image), the objects' looks and the table. What is made up:

* the object slides rigidly by a 3D translation along the table plane (no
  turn, no new side of it comes into view); each of its pixels moves by the
  image motion that translation gives at the pixel's depth, and its depth
  changes accordingly; where it comes to lie behind another object it is hidden;
* the table it uncovers is filled from nearby pixels (``cv2.inpaint`` on the
  colour; the table plane's depth), so whatever was behind the object in the
  real scene is lost;
* a soft shadow is drawn beside the moved object; the object's real shadow at
  its old place stays;
* both images get independent sensor noise (colour, depth, missing readings
  along depth edges).

Pairs where nothing moved (:func:`renoised`) reuse the same noise model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pushseg.data.real_frames import RealFrame
from pushseg.errors import InputError
from pushseg.types import Frame, Outcome, Push, PushResult, Transition

BACKEND = "semi-real"


@dataclass(frozen=True)
class SemiRealPush:
    """One made-up push and what it did."""

    transition: Transition
    object_id: int  # the label value of the moved object in the frame
    before_mask: np.ndarray  # (H, W) bool, the object in the before image (ground truth)
    distance_m: float  # how far it moved along the table
    image_motion_px: float  # median image motion of its pixels


def _base_points(frame: RealFrame, depth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cam = frame.camera
    ys, xs = np.nonzero(mask)
    z = depth[ys, xs].astype(np.float64)
    good = np.isfinite(z) & (z > 0)
    if not good.any():
        raise InputError(f"frame {frame.name}: the object has no depth reading; choose another object")
    z = np.where(good, z, np.median(z[good]))  # pixels without a reading move with the object's median depth
    p = np.stack([(xs - cam.cx) * z / cam.fx, (ys - cam.cy) * z / cam.fy, z], axis=1)
    R, t = cam.T_base_camera[:3, :3], cam.T_base_camera[:3, 3]
    return ys, xs, p @ R.T + t


def _project(frame: RealFrame, p_base: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cam = frame.camera
    R, t = cam.T_base_camera[:3, :3], cam.T_base_camera[:3, 3]
    p = (p_base - t) @ R  # base -> optical frame
    return cam.fx * p[:, 0] / p[:, 2] + cam.cx, cam.fy * p[:, 1] / p[:, 2] + cam.cy, p[:, 2]


def plane_depth(frame: RealFrame) -> np.ndarray:
    """Depth of the table plane along every pixel's ray (NaN where the ray misses it)."""
    cam = frame.camera
    h, w = cam.height, cam.width
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rays = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones_like(u)], axis=-1)
    n, d = np.asarray(frame.table.normal, np.float64), float(frame.table.offset)
    denom = rays @ n
    with np.errstate(divide="ignore", invalid="ignore"):
        z = -d / denom
    z[~np.isfinite(z) | (z <= 0)] = np.nan
    return z.astype(np.float32)


def add_noise(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
              rgb_sigma: float = 2.5, depth_rel_sigma: float = 0.0025, edge_drop: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Sensor noise: Gaussian colour noise, depth noise growing with depth squared, readings lost along depth edges.

    ``depth_rel_sigma`` is the std at 1 m (a structured-light sensor's depth
    noise grows with z^2: ~1 mm at 0.6 m); ``edge_drop`` the share of pixels on
    depth steps over 1 cm that lose their reading (mixed returns).
    """
    noisy = np.clip(rgb.astype(np.float32) + rng.normal(0.0, rgb_sigma, rgb.shape), 0, 255).astype(np.uint8)
    d = depth.astype(np.float32).copy()
    d += (rng.standard_normal(d.shape) * depth_rel_sigma * d * d).astype(np.float32)
    filled = np.nan_to_num(d, nan=0.0)
    step = np.maximum(np.abs(cv2.Sobel(filled, cv2.CV_32F, 1, 0, ksize=3)),
                      np.abs(cv2.Sobel(filled, cv2.CV_32F, 0, 1, ksize=3))) / 4.0
    edges = (step > 0.01) & (rng.random(d.shape) < edge_drop)
    d[edges] = np.nan
    return noisy, d


def _frame(rgb: np.ndarray, depth: np.ndarray, source: RealFrame, timestamp: float) -> Frame:
    return Frame(rgb=rgb, depth=depth.astype(np.float32), camera=source.camera, timestamp=timestamp)


def renoised(frame: RealFrame, seed: int) -> Frame:
    """The frame with fresh sensor noise: a second shot of a scene where nothing moved."""
    rgb, depth = add_noise(frame.rgb, frame.depth, np.random.default_rng(seed))
    return _frame(rgb, depth, frame, 1.0)


def push_pixel(mask: np.ndarray) -> tuple[float, float]:
    """The object pixel farthest inside it (a pusher aims at the object, not its outline)."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    v, u = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(u), float(v)


def make_push(frame: RealFrame, object_id: int, angle: float, distance_m: float, seed: int,
              shadow: float = 0.35) -> SemiRealPush:
    """Move ``object_id`` by ``distance_m`` along the table in direction ``angle`` (table frame, radians).

    Returns the transition a robot would have recorded (before and after frame,
    the push) and the object's before mask. Noise and shadow are drawn from ``seed``.
    """
    labels = frame.labels
    mask = labels == object_id
    if not mask.any():
        raise InputError(f"frame {frame.name} has no object {object_id}; choose one of {frame.instance_ids}")
    h, w = mask.shape
    rng = np.random.default_rng(seed)
    shift = distance_m * np.array([np.cos(angle), np.sin(angle), 0.0])

    # Where each object pixel goes and at which depth.
    ys, xs, p = _base_points(frame, frame.depth, mask)
    u2, v2, z2 = _project(frame, p + shift)
    du, dv = u2 - xs, v2 - ys
    dz = z2 - _project(frame, p)[2]
    # The motion varies smoothly over the object: dense fields by nearest object pixel,
    # then each after pixel looks up its source one fixed-point step back.
    field = np.zeros((h, w, 3), np.float32)
    field[ys, xs] = np.stack([du, dv, dz], axis=1)
    _, idx = cv2.distanceTransformWithLabels((~mask).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lab_of = np.zeros(idx.max() + 1, np.int64)
    lab_of[idx[ys, xs]] = np.arange(len(ys))
    dense = field[ys, xs][lab_of[idx]]  # (H, W, 3)
    gu, gv = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    su, sv = gu - dense[..., 0], gv - dense[..., 1]
    back = cv2.remap(dense, su, sv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    su, sv = gu - back[..., 0], gv - back[..., 1]
    src_mask = cv2.remap(mask.astype(np.uint8), su, sv, cv2.INTER_NEAREST, borderValue=0).astype(bool)
    obj_rgb = cv2.remap(frame.rgb, su, sv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    obj_depth = cv2.remap(np.nan_to_num(frame.depth, nan=0.0), su, sv, cv2.INTER_NEAREST) + back[..., 2]
    src_valid = cv2.remap(np.isfinite(frame.depth).astype(np.uint8), su, sv, cv2.INTER_NEAREST).astype(bool)

    # The uncovered table: colour from the surroundings, depth from the plane.
    others = (labels > 0) & ~mask
    rgb = frame.rgb.copy()
    depth = frame.depth.copy()
    hole = mask.astype(np.uint8)
    rgb = cv2.inpaint(rgb, cv2.dilate(hole, np.ones((5, 5), np.uint8)), 7, cv2.INPAINT_TELEA)
    table_z = plane_depth(frame)
    depth[mask] = table_z[mask]
    # Keep the other objects' real pixels where the inpaint's dilation touched them.
    rgb[others] = frame.rgb[others]

    # A soft shadow beside the moved object, on everything it does not cover.
    if shadow > 0:
        offset = rng.uniform(-4, 4, size=2)
        sh = cv2.GaussianBlur(src_mask.astype(np.float32), (0, 0), 6.0)
        sh = cv2.warpAffine(sh, np.float32([[1, 0, offset[0]], [0, 1, offset[1] + 6]]), (w, h))
        dark = 1.0 - shadow * np.clip(sh, 0, 1)
        rgb = np.clip(rgb.astype(np.float32) * dark[..., None], 0, 255).astype(np.uint8)

    # The moved object in front of whatever it now covers, behind what is nearer.
    with np.errstate(invalid="ignore"):
        hidden = others & np.isfinite(frame.depth) & (frame.depth < obj_depth)
    put = src_mask & ~hidden
    rgb[put] = obj_rgb[put]
    depth[put] = np.where(src_valid[put], obj_depth[put], np.nan)

    before_rgb, before_depth = add_noise(frame.rgb, frame.depth, rng)
    after_rgb, after_depth = add_noise(rgb, depth, rng)
    u, v = push_pixel(mask)
    push = Push(u=u, v=v, angle=float(angle), length=float(distance_m))
    t = Transition(
        before=_frame(before_rgb, before_depth, frame, 0.0),
        after=_frame(after_rgb, after_depth, frame, 1.0),
        push=push,
        result=PushResult(Outcome.EXECUTED),
        backend=BACKEND,
        seed=seed,
    )
    return SemiRealPush(t, object_id, mask, float(distance_m), float(np.median(np.hypot(du, dv))))


def in_view_share(frame: RealFrame, object_id: int, angle: float, distance_m: float) -> float:
    """Share of the object's pixels that stay in the image after the move (to choose pushes that keep it in view)."""
    mask = frame.labels == object_id
    ys, xs, p = _base_points(frame, frame.depth, mask)
    u2, v2, _ = _project(frame, p + distance_m * np.array([np.cos(angle), np.sin(angle), 0.0]))
    h, w = mask.shape
    return float(((u2 >= 0) & (u2 < w) & (v2 >= 0) & (v2 < h)).mean())
