"""Greedy non-maximum suppression on mask IoU (pycocotools RLE IoU)."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def rle_encode(masks: list[np.ndarray]) -> list[dict]:
    return [mask_utils.encode(np.asfortranarray(m.astype(np.uint8))) for m in masks]


def mask_iou_matrix(rles: list[dict]) -> np.ndarray:
    if not rles:
        return np.zeros((0, 0))
    return np.asarray(mask_utils.iou(rles, rles, [0] * len(rles)), dtype=np.float64).reshape(len(rles), len(rles))


def mask_nms(rles: list[dict], scores: np.ndarray | list[float], threshold: float) -> list[int]:
    """Indices kept, best score first: a mask is dropped when its IoU with a kept one exceeds ``threshold``."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    iou = mask_iou_matrix(rles)
    keep: list[int] = []
    for i in order:
        if all(iou[i, j] <= threshold for j in keep):
            keep.append(int(i))
    return keep
