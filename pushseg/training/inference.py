"""Multi-scale, fully-convolutional sliding-window inference with DeepMask.

For each image (resized to the model's working width) and each pyramid scale
``s``: pad by half a patch, run trunk + shared layer once (one window per
stride-16 cell), score every window. The ``top_k`` windows over all scales get
a mask (the mask head runs only on them), which is turned into probabilities,
pasted back at the original image size, thresholded at ``mask_threshold``;
masks larger than ``max_area_fraction`` of the image or smaller than
``min_area_px`` are dropped; then NMS on mask IoU (``nms_threshold``, None to
skip). Images are processed ``batch_size`` at a time per scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from pushseg.training.config import STRIDE, InferenceConfig
from pushseg.training.data import resize_to_width
from pushseg.training.model import DeepMask
from pushseg.training.nms import mask_nms, rle_encode
from pushseg.training.sampler import PAD_RGB


@dataclass
class Detection:
    mask: np.ndarray  # (H, W) bool at the input image's size
    score: float  # object probability
    rle: dict | None = None  # pycocotools RLE of mask (bytes counts)


@dataclass
class _Candidate:
    score: float
    feat: torch.Tensor  # (hidden,)
    scale: float
    row: int
    col: int


def window_box(row: int, col: int, scale: float, patch: int, factor: float) -> tuple[float, float, float]:
    """Window at feature cell (row, col) of pyramid level ``scale`` -> (x0, y0, side) in original image px."""
    k = scale * factor
    return (STRIDE * col - patch / 2) / k, (STRIDE * row - patch / 2) / k, patch / k


def paste_mask(prob: np.ndarray, x0: float, y0: float, side: float, height: int, width: int) -> np.ndarray:
    """Warp an (m, m) probability map onto its square box in an (height, width) image; 0 outside."""
    m = prob.shape[0]
    k = side / m
    bx0, by0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    bx1, by1 = min(width, int(np.ceil(x0 + side))), min(height, int(np.ceil(y0 + side)))
    out = np.zeros((height, width), np.float32)
    if bx1 <= bx0 or by1 <= by0:
        return out
    # mask px (u + 0.5) * k + x0 - 0.5 = image px; shifted into the box
    M = np.array([[k, 0, x0 + 0.5 * k - 0.5 - bx0], [0, k, y0 + 0.5 * k - 0.5 - by0]], np.float64)
    out[by0:by1, bx0:bx1] = cv2.warpAffine(prob.astype(np.float32), M, (bx1 - bx0, by1 - by0),
                                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


class Segmenter:
    def __init__(self, model: DeepMask, config: InferenceConfig | None = None, device: str | torch.device = "cpu") -> None:
        self.model = model.to(device).eval()
        self.cfg = config or InferenceConfig()
        self.device = torch.device(device)

    @torch.inference_mode()
    def _level(self, work: list[np.ndarray], scale: float) -> list[list[_Candidate]]:
        """Score every window of one pyramid level for a batch of same-size images."""
        P = self.model.config.patch_size
        h, w = work[0].shape[:2]
        sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        pad = P // 2
        batch = []
        for rgb in work:
            img = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            img = cv2.copyMakeBorder(img, pad, pad + max(0, P - sh - 2 * pad), pad, pad + max(0, P - sw - 2 * pad),
                                     cv2.BORDER_CONSTANT, value=PAD_RGB)
            batch.append(img)
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).to(self.device)
        feat = self.model.features(self.model.normalize(x))
        scores = self.model.score_logits(feat)[:, 0]  # (B, h', w')
        out = []
        k = min(self.cfg.top_k, scores[0].numel())
        for b in range(len(work)):
            top = torch.topk(scores[b].flatten(), k)
            cols = scores.shape[2]
            cands = []
            for s, idx in zip(top.values.tolist(), top.indices.tolist()):
                r, c = divmod(idx, cols)
                cands.append(_Candidate(s, feat[b, :, r, c].clone(), scale, r, c))
            out.append(cands)
        return out

    @torch.inference_mode()
    def _detections(self, cands: list[_Candidate], height: int, width: int, factor: float) -> list[Detection]:
        cfg = self.cfg
        cands = sorted(cands, key=lambda c: -c.score)[: cfg.top_k]
        if not cands:
            return []
        m = self.model.config.mask_size
        feats = torch.stack([c.feat for c in cands])[:, :, None, None]
        probs = torch.sigmoid(self.model.mask_logits(feats).view(-1, m, m).float()).cpu().numpy()
        dets = []
        max_area = cfg.max_area_fraction * height * width
        for c, prob in zip(cands, probs):
            x0, y0, side = window_box(c.row, c.col, c.scale, self.model.config.patch_size, factor)
            mask = paste_mask(prob, x0, y0, side, height, width) > cfg.mask_threshold
            area = int(mask.sum())
            if area < cfg.min_area_px or area > max_area:
                continue
            dets.append(Detection(mask, float(torch.sigmoid(torch.tensor(c.score))), None))
        rles = rle_encode([d.mask for d in dets])
        for d, r in zip(dets, rles):
            d.rle = r
        if cfg.nms_threshold is not None and dets:
            keep = mask_nms(rles, [d.score for d in dets], cfg.nms_threshold)
            dets = [dets[i] for i in keep]
        return dets

    def __call__(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """RGB uint8 images (any size) -> per image, detections sorted by score."""
        results: list[list[Detection] | None] = [None] * len(images)
        work_w = self.model.config.work_width
        # group same-size images so that they can share a forward pass
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault(im.shape[:2], []).append(i)
        for idxs in groups.values():
            for start in range(0, len(idxs), max(1, self.cfg.batch_size)):
                chunk = idxs[start:start + self.cfg.batch_size]
                resized = [resize_to_width(images[i], work_w) for i in chunk]
                work = [r[0] for r in resized]
                factor = resized[0][1]
                cands: list[list[_Candidate]] = [[] for _ in chunk]
                for scale in self.cfg.scales:
                    for b, cs in enumerate(self._level(work, scale)):
                        cands[b].extend(cs)
                for b, i in enumerate(chunk):
                    h, w = images[i].shape[:2]
                    results[i] = self._detections(cands[b], h, w, factor)
        return [r or [] for r in results]

    def segment(self, image: np.ndarray) -> list[Detection]:
        return self([image])[0]
