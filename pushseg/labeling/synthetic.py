"""Constructed pushes with a known answer, for tests and quick checks.

A textured table seen by the PR2 head camera, with textured blocks standing on
it. Depth is exact (ray-plane intersection at each block's height), images are
drawn in pixel space, and a block can be shifted, rotated about a pixel, or
left alone between the before and after image. Ground truth is the block's
pixels in the before image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pushseg.geometry import kinect2_camera
from pushseg.labeling.flow import check_pair
from pushseg.types import CameraInfo, Frame, ObjectMotion, Outcome, Push, PushResult, Transition

TABLE_Z = 0.72  # table top in base_link, metres


def texture(rng: np.random.Generator, h: int, w: int, blur: float, base: tuple[int, int, int]) -> np.ndarray:
    """Smooth random colour texture around a base colour (uint8 RGB)."""
    noise = rng.standard_normal((h, w, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), blur)
    noise /= noise.std() + 1e-6
    img = np.asarray(base, np.float32) + 40.0 * noise
    return np.clip(img, 0, 255).astype(np.uint8)


def plane_depth(camera: CameraInfo, height: float) -> np.ndarray:
    """Depth (metres along the optical axis) of the horizontal plane z = TABLE_Z + height, per pixel."""
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    ray = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], axis=-1)
    R, t = camera.T_base_camera[:3, :3], camera.T_base_camera[:3, 3]
    denom = ray @ R[2]
    z = (TABLE_Z + height - t[2]) / denom
    z[(denom >= 0) | (z <= 0)] = np.nan
    return z.astype(np.float32)


@dataclass
class Block:
    """A rectangular block in pixel space: top-left (x, y), size (w, h), height above the table."""

    x: int
    y: int
    w: int
    h: int
    height_m: float = 0.05
    shift: tuple[float, float] = (0.0, 0.0)  # (dx, dy) px between before and after
    rotate_deg: float = 0.0  # about ``pivot`` (default: block centre)
    pivot: tuple[float, float] | None = None
    seed: int = 1
    color: tuple[int, int, int] = (200, 80, 60)


@dataclass
class Scene:
    width: int = 480
    height: int = 270
    blocks: list[Block] = field(default_factory=list)
    seed: int = 0
    camera_shift: tuple[int, int] = (0, 0)  # whole after image moved (a moving head)

    def camera(self) -> CameraInfo:
        return kinect2_camera(self.width, self.height)


def _draw(canvas: np.ndarray, depth: np.ndarray, ids: np.ndarray, b: Block, idx: int, M: np.ndarray, cam: CameraInfo) -> None:
    tex = texture(np.random.default_rng(b.seed), b.h, b.w, 2.0, b.color)
    H, W = canvas.shape[:2]
    warped = cv2.warpAffine(tex, M, (W, H), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones((b.h, b.w), np.uint8), M, (W, H), flags=cv2.INTER_NEAREST) > 0
    canvas[inside] = warped[inside]
    depth[inside] = plane_depth(cam, b.height_m)[inside]
    ids[inside] = idx


def _affine(b: Block, after: bool) -> np.ndarray:
    M = np.array([[1.0, 0.0, b.x], [0.0, 1.0, b.y]])
    if not after:
        return M
    px, py = b.pivot if b.pivot is not None else (b.x + b.w / 2.0, b.y + b.h / 2.0)
    R = cv2.getRotationMatrix2D((px, py), b.rotate_deg, 1.0)
    M3 = np.vstack([M, [0, 0, 1]])
    out = R @ M3
    out[:, 2] += b.shift
    return out


def render(scene: Scene, after: bool) -> Frame:
    cam = scene.camera()
    rng = np.random.default_rng(scene.seed)
    pad = 32  # the table texture extends past the image so a moving camera sees table
    table = texture(rng, scene.height + 2 * pad, scene.width + 2 * pad, 3.0, (140, 140, 120))
    dx, dy = scene.camera_shift if after else (0, 0)
    rgb = table[pad - dy : pad - dy + scene.height, pad - dx : pad - dx + scene.width].copy()
    depth = plane_depth(cam, 0.0)
    ids = np.zeros((scene.height, scene.width), np.uint16)
    for i, b in enumerate(scene.blocks, start=1):
        M = _affine(b, after)
        if after and (dx or dy):
            M = M.copy()
            M[:, 2] += (dx, dy)
        _draw(rgb, depth, ids, b, i, M, cam)
    return Frame(rgb=rgb, depth=depth, camera=cam, instance_ids=ids)


def block_motions(scene: Scene, before: Frame) -> tuple[ObjectMotion, ...]:
    """What the simulation would report: each block's centre displacement in metres and its turn."""
    out = []
    for i, b in enumerate(scene.blocks, start=1):
        c0 = _affine(b, False) @ np.array([b.w / 2.0, b.h / 2.0, 1.0])
        c1 = _affine(b, True) @ np.array([b.w / 2.0, b.h / 2.0, 1.0])
        col = int(np.clip(round(c0[0]), 0, scene.width - 1))
        row = int(np.clip(round(c0[1]), 0, scene.height - 1))
        z = float(before.depth[row, col]) if np.isfinite(before.depth[row, col]) else 1.0
        metres = float(np.hypot(*(c1 - c0))) * z / before.camera.fx
        out.append(ObjectMotion(i, f"block{i}", translation=metres, rotation=float(np.deg2rad(b.rotate_deg))))
    return tuple(out)


def make_transition(scene: Scene, push: Push) -> Transition:
    before, after = render(scene, False), render(scene, True)
    return Transition(
        before=before,
        after=after,
        push=push,
        result=PushResult(Outcome.EXECUTED, motions=block_motions(scene, before)),
        backend="synthetic",
        seed=scene.seed,
    )


def block_mask(scene: Scene, index: int) -> np.ndarray:
    """Ground truth: block ``index`` (1-based) in the before image."""
    return render(scene, False).instance_ids == index


def exact_flow(scene: Scene) -> np.ndarray:
    """The true before -> after flow of a scene, (H, W, 2) float32, defined on the before image."""
    h, w = scene.height, scene.width
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = scene.camera_shift
    ids = render(scene, False).instance_ids
    for i, b in enumerate(scene.blocks, start=1):
        Mb = np.vstack([_affine(b, False), [0, 0, 1]])
        Ma = np.vstack([_affine(b, True), [0, 0, 1]])
        Ma[:2, 2] += scene.camera_shift
        T = Ma @ np.linalg.inv(Mb)
        sel = ids == i
        x, y = u[sel], v[sel]
        flow[sel, 0] = T[0, 0] * x + T[0, 1] * y + T[0, 2] - x
        flow[sel, 1] = T[1, 0] * x + T[1, 1] * y + T[1, 2] - y
    return flow


class OracleFlow:
    """A :class:`~pushseg.labeling.flow.FlowEstimator` that returns a scene's true flow.

    For tests of the steps after the flow: it checks the images and ignores them.
    """

    name = "oracle"

    def __init__(self, scene: Scene) -> None:
        self.flow = exact_flow(scene)

    def __call__(self, before_rgb: np.ndarray, after_rgb: np.ndarray) -> np.ndarray:
        check_pair(before_rgb, after_rgb)
        return self.flow.copy()


def episode(
    width: int, height: int, states: list[list[tuple[int, int]]], blocks: list[Block], pushes: list[Push], seed: int = 0
) -> list[Transition]:
    """A push episode: ``states[k]`` holds every block's top-left (x, y) in image k; push k leads to image k+1.

    ``blocks`` gives sizes, textures and colours (their own x, y are replaced).
    Later blocks are drawn over earlier ones, so one can be pushed over another.
    """
    if len(states) != len(pushes) + 1:
        raise ValueError("an episode of K pushes has K + 1 states")
    out = []
    for k, push in enumerate(pushes):
        bs = []
        for b, (x0, y0), (x1, y1) in zip(blocks, states[k], states[k + 1]):
            bs.append(Block(x0, y0, b.w, b.h, b.height_m, shift=(float(x1 - x0), float(y1 - y0)), seed=b.seed, color=b.color))
        t = make_transition(Scene(width, height, bs, seed=seed), push)
        t.episode, t.step = 0, k
        out.append(t)
    return out
