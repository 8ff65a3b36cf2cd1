"""COCO AP: ground truth submitted as predictions scores 100; errors and partial credit."""

from __future__ import annotations

import numpy as np
import pytest

from pushseg.data.coco import CocoBuilder, decode_mask, encode_mask
from pushseg.errors import InputError
from pushseg.evaluation.coco_eval import evaluate_results


def gt_set():
    b = CocoBuilder()
    rng = np.random.default_rng(0)
    for _ in range(3):
        i = b.add_image("x.png", 64, 48)
        for x in (0, 22, 44):  # disjoint, 2+ px apart
            y = int(rng.integers(0, 28))
            m = np.zeros((48, 64), bool)
            m[y:y + 16, x:x + 16] = True
            b.add_mask(i, m)
    return b.to_dict()


def as_results(gt, shift=0):
    out = []
    for a in gt["annotations"]:
        m = np.roll(decode_mask(a["segmentation"]), shift, axis=1)
        out.append({"image_id": a["image_id"], "category_id": 1, "segmentation": encode_mask(m), "score": 0.9})
    return out


def test_ground_truth_as_predictions_scores_100():
    gt = gt_set()
    m = evaluate_results(gt, as_results(gt))
    assert (m["AP50"], m["AP75"], m["AP"]) == (100.0, 100.0, 100.0)


def test_class_agnostic():
    gt = gt_set()
    res = as_results(gt)
    for r in res:
        r["category_id"] = 7  # any category: the metric ignores it
    assert evaluate_results(gt, res)["AP"] == 100.0


def test_partial_and_empty():
    gt = gt_set()
    shifted = evaluate_results(gt, as_results(gt, shift=4))  # IoU 12*16 / 20*16 = 0.6
    assert shifted["AP50"] == 100.0 and shifted["AP75"] == 0.0 and 0 < shifted["AP"] < 100
    assert evaluate_results(gt, [])["AP"] == 0.0
    dup = as_results(gt) + as_results(gt)  # duplicates are false positives
    for r in dup[len(dup) // 2:]:
        r["score"] = 0.5
    assert evaluate_results(gt, dup)["AP"] == 100.0  # ranked after all true positives: precision stays 1
    with pytest.raises(InputError, match="no annotations"):
        evaluate_results({**gt, "annotations": []}, as_results(gt))
