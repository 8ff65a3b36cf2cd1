"""DeepMask patch sampling with the paper's augmentation, fully seeded.

* Positive: an object's box centre at the patch centre, jittered by up to
  ``+-jitter`` patch px per axis, its largest side at ``object_size * 2^u`` with
  ``u ~ U(-scale_jitter, scale_jitter)``. Its mask (and only its mask) is the label.
* Negative: a centre and scale such that *every* labelled object of the image is
  at least ``neg_distance`` patch px away from the centre or at least
  ``neg_scale_octaves`` octaves away from its canonical scale. Half of the
  negatives are drawn near an object (hard negatives: off-centre object parts,
  wrong scale), half anywhere in the image.
* Augmentation: vertical flip (``flip_p``) and rotation 0-360 deg (``rotate_p``)
  about the patch centre, applied to image and mask alike.

Patches are cut with one affine warp per patch (``cv2.warpAffine``); the area
outside the image is the dataset mean colour, as at inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from pushseg.errors import InputError
from pushseg.training.config import ModelConfig, SamplerConfig
from pushseg.training.data import Instance, SceneImage
from pushseg.training.depth_input import DEPTH_CHANNELS, needs_depth

PAD_RGB = (124, 116, 104)  # ImageNet mean colour: zero after normalisation


@dataclass
class PatchInfo:
    image_index: int
    label: int  # +1 object, -1 background
    cx: float  # patch centre in the working image
    cy: float
    scale: float  # patch px per working-image px
    flip: bool
    angle: float  # degrees
    instance: int = -1  # index of the centred object for positives


def patch_transform(cx: float, cy: float, scale: float, size: int, flip: bool, angle: float) -> np.ndarray:
    """2x3 affine from working-image px to patch px (centre -> centre, scale, rotate, flip rows)."""
    c = size / 2.0
    a = math.radians(angle)
    R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale
    if flip:
        R = np.array([[1.0, 0.0], [0.0, -1.0]]) @ R
    t = np.array([c, c]) - R @ np.array([cx, cy])
    return np.hstack([R, t[:, None]])


class PatchSampler:
    def __init__(self, images: list[SceneImage], model: ModelConfig, config: SamplerConfig | None = None) -> None:
        self.images = images
        self.model = model
        self.cfg = (config or SamplerConfig()).resolved(model)
        self.objects = [(i, j) for i, im in enumerate(images) for j, inst in enumerate(im.instances)
                        if inst.size >= self.cfg.min_object_px]
        if not self.objects:
            raise InputError("the training set has no labelled object large enough to make positive patches")
        if needs_depth(model.input) and not any(im.depth is not None for im in images):
            raise InputError(f"a model with {model.input} input needs depth: load the training set with depth=True "
                             "(scenes with depth_file and camera per image)")

    # -- geometry -------------------------------------------------------------------------
    def canonical_scale(self, inst: Instance) -> float:
        return self.model.object_size / inst.size

    def is_negative(self, image_index: int, cx: float, cy: float, scale: float) -> bool:
        for inst in self.images[image_index].instances:
            dist = scale * math.hypot(cx - inst.cx, cy - inst.cy)
            octaves = abs(math.log2(scale / self.canonical_scale(inst)))
            if dist < self.cfg.neg_distance and octaves < self.cfg.neg_scale_octaves:
                return False
        return True

    def _augment(self, rng: np.random.Generator) -> tuple[bool, float]:
        flip = bool(rng.random() < self.cfg.flip_p)
        angle = float(rng.uniform(0, 360)) if rng.random() < self.cfg.rotate_p else 0.0
        return flip, angle

    # -- drawing ---------------------------------------------------------------------------
    def draw_positive(self, rng: np.random.Generator) -> PatchInfo:
        i, j = self.objects[int(rng.integers(len(self.objects)))]
        inst = self.images[i].instances[j]
        scale = self.canonical_scale(inst) * 2 ** rng.uniform(-self.cfg.scale_jitter, self.cfg.scale_jitter)
        dx, dy = rng.uniform(-self.cfg.jitter, self.cfg.jitter, size=2)
        flip, angle = self._augment(rng)
        # the object centre lands at patch centre + (dx, dy) before flip/rotation
        return PatchInfo(i, 1, inst.cx - dx / scale, inst.cy - dy / scale, scale, flip, angle, j)

    def draw_negative(self, rng: np.random.Generator, max_tries: int = 100) -> PatchInfo:
        for _ in range(max_tries):
            i = int(rng.integers(len(self.images)))
            im = self.images[i]
            h, w = im.rgb.shape[:2]
            insts = im.instances
            lo, hi = self.cfg.neg_scale_range
            if insts:
                ref = insts[int(rng.integers(len(insts)))]
                scale = self.canonical_scale(ref) * 2 ** rng.uniform(lo, hi)
            else:
                scale = 2 ** rng.uniform(-1.0, 1.5)
            if insts and rng.random() < 0.5:  # near an object: a hard negative
                r = self.model.patch_size / scale
                cx, cy = ref.cx + rng.uniform(-r, r) / 2, ref.cy + rng.uniform(-r, r) / 2
            else:
                cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            if self.is_negative(i, cx, cy, scale):
                flip, angle = self._augment(rng)
                return PatchInfo(i, -1, float(cx), float(cy), float(scale), flip, angle)
        raise InputError("could not find a background patch in 100 tries: the images are full of objects")

    def render_depth(self, info: PatchInfo) -> np.ndarray:
        """-> the encoded depth of the patch (P, P, 3) float32; no reading (zeros) outside the image or without depth."""
        P = self.model.patch_size
        im = self.images[info.image_index]
        if im.depth is None:  # a photo: the network learns to do without depth there
            return np.zeros((P, P, DEPTH_CHANNELS), np.float32)
        M = patch_transform(info.cx, info.cy, info.scale, P, info.flip, info.angle)
        return cv2.warpAffine(im.depth.astype(np.float32), M, (P, P), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0))

    def render(self, info: PatchInfo) -> tuple[np.ndarray, np.ndarray | None]:
        """-> patch (P, P, 3) uint8 and, for positives, the mask (m, m) bool."""
        P, m = self.model.patch_size, self.model.mask_size
        im = self.images[info.image_index]
        M = patch_transform(info.cx, info.cy, info.scale, P, info.flip, info.angle)
        patch = cv2.warpAffine(im.rgb, M, (P, P), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_RGB)
        if info.label < 0:
            return patch, None
        inst = im.instances[info.instance]
        Mm = M * (m / P)  # patch px -> mask px
        Mm[:, 2] += Mm[:, :2] @ np.array([inst.x0, inst.y0])  # the mask is stored cropped to its box
        mask = cv2.warpAffine(inst.mask.astype(np.float32), Mm, (m, m), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0) >= 0.5
        return patch, mask

    def draw(self, rng: np.random.Generator, n: int) -> list[PatchInfo]:
        """``round(n * positive_fraction)`` positives then negatives: where the patches are, not their pixels."""
        n_pos = int(round(n * self.cfg.positive_fraction))
        return [self.draw_positive(rng) for _ in range(n_pos)] + [self.draw_negative(rng) for _ in range(n - n_pos)]

    def collate(self, infos: list[PatchInfo]) -> dict:
        """Render drawn patches into a batch of tensors (no randomness: workers and ranks may do it)."""
        n = len(infos)
        P, m = self.model.patch_size, self.model.mask_size
        images = np.empty((n, P, P, 3), np.uint8)
        masks = -np.ones((n, m, m), np.float32)
        for k, info in enumerate(infos):
            patch, mask = self.render(info)
            images[k] = patch
            if mask is not None:
                masks[k] = np.where(mask, 1.0, -1.0)
        batch = {
            "images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
            "masks": torch.from_numpy(masks),
            "labels": torch.tensor([float(i.label) for i in infos]),
            "infos": infos,
        }
        if needs_depth(self.model.input):
            depth = np.stack([self.render_depth(info) for info in infos]) if infos else np.zeros((0, P, P, 3), np.float32)
            batch["depth"] = torch.from_numpy(depth).permute(0, 3, 1, 2).contiguous()
        return batch

    def batch(self, rng: np.random.Generator, n: int) -> dict:
        """A batch: ``round(n * positive_fraction)`` positives then negatives, as tensors."""
        return self.collate(self.draw(rng, n))
