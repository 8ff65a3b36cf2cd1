"""COCO mask AP over any multiset of test scenes, from one pycocotools evaluation.

pycocotools matches detections to ground truth image by image (``evaluate``) and
only then pools the images (``accumulate``). This module keeps the per-image
matches -- scores, matched-or-not at each IoU threshold, how many ground-truth
objects -- so that AP can be recomputed for a resampled set of scenes in
microseconds, exactly as ``accumulate`` + ``summarize`` would (area "all", at
most 100 detections per image, 101 recall points, class-agnostic). That is what
a bootstrap over test scenes needs.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools.cocoeval import COCOeval

from pushseg.errors import InputError
from pushseg.evaluation.coco_eval import _coco_from_dict

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100
METRICS = ("AP50", "AP75", "AP")


@dataclass
class SceneRecord:
    """One test image's detections as pycocotools matched them."""

    image_id: int
    scores: np.ndarray  # (D,) float, sorted high to low, at most MAX_DETS
    matched: np.ndarray  # (T, D) bool: a true positive at IoU threshold t
    ignored: np.ndarray  # (T, D) bool: matched to an ignored (crowd) object
    num_gt: int  # ground-truth objects that count


def scene_records(gt: dict[str, Any], results: list[dict[str, Any]]) -> list[SceneRecord]:
    """Ground-truth COCO dict + COCO result entries -> one record per ground-truth image, in image order."""


    if not gt.get("annotations"):
        raise InputError("the ground-truth set has no annotations: nothing to evaluate against")
    coco_gt = _coco_from_dict(gt)
    image_ids = sorted(int(im["id"]) for im in gt["images"])
    empty = {i: SceneRecord(i, np.zeros(0), np.zeros((len(IOU_THRESHOLDS), 0), bool),
                            np.zeros((len(IOU_THRESHOLDS), 0), bool), 0) for i in image_ids}
    if not results:
        for a in gt["annotations"]:
            if not a.get("iscrowd", 0):
                empty[int(a["image_id"])].num_gt += 1
        return [empty[i] for i in image_ids]
    res = []
    for r in results:
        r = dict(r, category_id=1)
        seg = dict(r["segmentation"])
        if isinstance(seg.get("counts"), str):
            seg["counts"] = seg["counts"].encode("ascii")
        r["segmentation"] = seg
        res.append(r)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(res)
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.params.useCats = 0
        ev.params.imgIds = image_ids
        ev.evaluate()
    n_img = len(ev.params.imgIds)
    out = []
    for k, image_id in enumerate(ev.params.imgIds):
        e = ev.evalImgs[k]  # area range "all" comes first, then the image
        if e is None:
            out.append(empty[int(image_id)])
            continue
        scores = np.asarray(e["dtScores"][:MAX_DETS], float)
        out.append(SceneRecord(
            int(image_id), scores,
            np.asarray(e["dtMatches"][:, :MAX_DETS] > 0, bool),
            np.asarray(e["dtIgnore"][:, :MAX_DETS], bool),
            int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)),
        ))
    assert len(out) == n_img
    return out


def ap_of(records: Sequence[SceneRecord], index: Sequence[int] | np.ndarray | None = None) -> dict[str, float]:
    """AP@0.5, AP@0.75 and AP@0.5:0.95 in percent over ``records[index]`` (repeats allowed)."""
    recs = list(records) if index is None else [records[int(i)] for i in index]
    num_gt = sum(r.num_gt for r in recs)
    if num_gt == 0:
        return {m: float("nan") for m in METRICS}
    scores = np.concatenate([r.scores for r in recs])
    order = np.argsort(-scores, kind="mergesort")  # as pycocotools, for the same tie order
    matched = np.concatenate([r.matched for r in recs], axis=1)[:, order]
    ignored = np.concatenate([r.ignored for r in recs], axis=1)[:, order]
    tp = np.cumsum(matched & ~ignored, axis=1, dtype=float)
    fp = np.cumsum(~matched & ~ignored, axis=1, dtype=float)
    precision = np.zeros((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
    if tp.shape[1]:
        recall = tp / num_gt
        pr = tp / (tp + fp + np.spacing(1))
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # the precision envelope
        for t in range(len(IOU_THRESHOLDS)):
            idx = np.searchsorted(recall[t], RECALL_POINTS, side="left")
            ok = idx < pr.shape[1]  # recall points beyond the reached recall keep precision 0
            precision[t, ok] = pr[t, idx[ok]]
    return {"AP50": 100 * float(precision[0].mean()), "AP75": 100 * float(precision[5].mean()),
            "AP": 100 * float(precision.mean())}


def records_to_json(records: Sequence[SceneRecord]) -> list[dict[str, Any]]:
    return [{"image_id": r.image_id, "scores": np.round(r.scores, 6).tolist(),
             "matched": r.matched.astype(np.uint8).tolist(), "ignored": r.ignored.astype(np.uint8).tolist(),
             "num_gt": r.num_gt} for r in records]


def records_from_json(data: list[dict[str, Any]]) -> list[SceneRecord]:
    T = len(IOU_THRESHOLDS)
    return [SceneRecord(int(d["image_id"]), np.asarray(d["scores"], float),
                        np.asarray(d["matched"], bool).reshape(T, -1), np.asarray(d["ignored"], bool).reshape(T, -1),
                        int(d["num_gt"])) for d in data]
