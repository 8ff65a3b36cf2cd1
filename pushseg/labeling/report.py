"""Label quality against simulation ground truth, and the summary of a labelling run.

Ground truth is only read here, after the labeler has decided: it measures
labels, it never makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
from scipy.stats import spearmanr

from pushseg.types import Transition

# How far a turn counts in metres: the arc a point this far from the object's
# centre travels (a typical target object is 5-15 cm across).
ROTATION_ARM_M = 0.05
# A label "merges" objects when it covers at least this share of each of two or more.
MERGE_COVER = 0.5


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


def pushed_object(t: Transition) -> int:
    """The ground-truth object the push actually moved: the one that moved most (0: none moved).

    Movement is translation plus ``ROTATION_ARM_M`` times the turn; only objects
    above the simulation's "moved" thresholds count (``Transition.moved_ids``).
    """
    moved = set(t.moved_ids)
    best, best_d = 0, -1.0
    for m in t.result.motions:
        d = m.translation + ROTATION_ARM_M * abs(m.rotation)
        if m.instance_id in moved and d > best_d:
            best, best_d = m.instance_id, d
    return best


@dataclass(frozen=True)
class Assessment:
    """One mask against the ground truth of its (before) image and the object that was pushed."""

    pushed_id: int  # 0 when the push moved nothing
    iou: float  # with the pushed object (0 when it moved nothing or is not visible)
    best_id: int  # the object the mask overlaps best by IoU (0: none)
    best_iou: float
    wrong_object: bool  # the mask is not on the pushed object (best match differs, or nothing moved)
    merged: bool  # covers at least MERGE_COVER of two or more objects

    def to_row(self) -> dict[str, Any]:
        return {
            "pushed_id": self.pushed_id,
            "iou": round(self.iou, 4),
            "gt_id": self.best_id,
            "best_iou": round(self.best_iou, 4),
            "wrong_object": self.wrong_object,
            "merged": self.merged,
        }


def assess(mask: np.ndarray, instance_ids: np.ndarray, pushed_id: int) -> Assessment:
    ids = instance_ids.astype(np.int64)
    n = int(ids.max()) + 1 if ids.size else 1
    inter = np.bincount(ids[mask], minlength=n)
    total = np.bincount(ids.ravel(), minlength=n)
    union = total + int(mask.sum()) - inter
    ious = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    ious[0] = -1.0
    cover = np.where(total > 0, inter / np.maximum(total, 1), 0.0)
    cover[0] = 0.0
    best = int(np.argmax(ious)) if n > 1 and ious.max() > 0 else 0
    best_iou = float(max(ious[best], 0.0)) if best else 0.0
    iou = float(max(ious[pushed_id], 0.0)) if 0 < pushed_id < n else 0.0
    return Assessment(
        pushed_id=pushed_id,
        iou=iou,
        best_id=best,
        best_iou=best_iou,
        wrong_object=pushed_id == 0 or best != pushed_id,
        merged=int((cover >= MERGE_COVER).sum()) >= 2,
    )


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation with average ranks for ties; None when undefined."""

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(spearmanr(a, b).statistic)


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Yield, reasons and (where ground truth exists) label quality over report rows.

    A row has ``accepted`` (bool), ``reason`` (str), ``ms`` (float) and, in
    simulation, the fields of :meth:`Assessment.to_row` (``iou`` is with the
    pushed object).
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
    judged = [r for r in accepted if r.get("iou") is not None]
    if judged:
        ious = np.array([r["iou"] for r in judged], dtype=np.float64)
        scores = np.array([r["score"] for r in judged], dtype=np.float64)
        out.update(
            mean_iou=float(ious.mean()),
            share_iou_50=float((ious >= 0.5).mean()),
            share_iou_75=float((ious >= 0.75).mean()),
            labels_iou_50_per_push=float((ious >= 0.5).sum() / n),
            wrong_object=float(np.mean([bool(r.get("wrong_object")) for r in judged])),
            merged=float(np.mean([bool(r.get("merged")) for r in judged])),
            nothing_moved=float(np.mean([r.get("pushed_id") == 0 for r in judged])),
            score_iou_spearman=spearman(scores, ious),
        )
    return out
