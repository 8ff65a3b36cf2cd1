"""Label quality against simulation ground truth, and the summary of a labelling run.

Ground truth is only read here, after the labeler has decided: it measures
labels, it never makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np


@dataclass(frozen=True)
class Match:
    iou: float
    instance_id: int  # 0 when the image has no object


def best_match(mask: np.ndarray, instance_ids: np.ndarray) -> Match:
    """IoU of ``mask`` with the ground-truth object it overlaps best (before image)."""
    ids = instance_ids.astype(np.int64)
    n = int(ids.max()) + 1 if ids.size else 1
    inter = np.bincount(ids[mask], minlength=n)
    total = np.bincount(ids.ravel(), minlength=n)
    area = int(mask.sum())
    union = total + area - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    iou[0] = -1.0  # background is not an object
    if n < 2:
        return Match(0.0, 0)
    k = int(np.argmax(iou))
    return Match(float(max(iou[k], 0.0)), k)


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Yield, reasons and (where ground truth exists) IoU figures over report rows.

    A row has ``accepted`` (bool), ``reason`` (str), ``ms`` (float) and, in
    simulation, ``iou`` (float or None).
    """
    rows = list(rows)
    n = len(rows)
    accepted = [r for r in rows if r["accepted"]]
    reasons: dict[str, int] = {}
    for r in rows:
        if not r["accepted"]:
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    # Pushes the backend refused were never labelled: they count for the yield, not the time.
    ms = np.array([r["ms"] for r in rows if r.get("reason") != "push_not_executed"], dtype=np.float64)
    out: dict[str, Any] = {
        "transitions": n,
        "accepted": len(accepted),
        "yield": len(accepted) / n if n else 0.0,
        "rejected": dict(sorted(reasons.items())),
        "ms_median": float(np.median(ms)) if len(ms) else None,
        "ms_mean": float(ms.mean()) if len(ms) else None,
    }
    ious = np.array([r["iou"] for r in accepted if r.get("iou") is not None], dtype=np.float64)
    if len(ious):
        out.update(
            mean_iou=float(ious.mean()),
            share_iou_50=float((ious >= 0.5).mean()),
            share_iou_75=float((ious >= 0.75).mean()),
            labels_iou_50_per_push=float((ious >= 0.5).sum() / n),
        )
        scores = np.array([r["score"] for r in accepted if r.get("iou") is not None], dtype=np.float64)
        if len(ious) > 2 and ious.std() > 0 and scores.std() > 0:
            out["score_iou_spearman"] = _spearman(scores, ious)
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(np.float64)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])
