"""Label quality against ground truth: the pushed object, wrong-object and merged labels, rank correlation."""

from __future__ import annotations

import numpy as np

from pushseg.labeling.report import assess, pushed_object, spearman, summarize
from pushseg.labeling.synthetic import Block, Scene, make_transition
from pushseg.types import Push


def _ids() -> np.ndarray:
    ids = np.zeros((40, 60), np.uint16)
    ids[5:15, 5:15] = 1  # 100 px
    ids[5:15, 15:25] = 2  # touching object 1
    ids[25:35, 40:55] = 3
    return ids


def test_pushed_object_is_the_one_that_moved_most():
    scene = Scene(480, 270, [Block(60, 60, 40, 30, shift=(2.0, 0.0), seed=1), Block(200, 100, 50, 40, shift=(9.0, 0.0), seed=2),
                             Block(300, 50, 30, 30, seed=3)])
    t = make_transition(scene, Push(201.0, 120.0, 0.0, 0.05))
    assert pushed_object(t) == 2
    still = make_transition(Scene(480, 270, [Block(60, 60, 40, 30, seed=1)]), Push(61.0, 75.0, 0.0, 0.05))
    assert pushed_object(still) == 0


def test_assessment_against_the_pushed_object():
    ids = _ids()
    right = assess(ids == 1, ids, 1)
    assert right.iou == 1.0 and not right.wrong_object and not right.merged
    wrong = assess(ids == 3, ids, 1)  # a perfect mask of an object the push did not move
    assert wrong.iou == 0.0 and wrong.best_iou == 1.0 and wrong.wrong_object
    both = assess((ids == 1) | (ids == 2), ids, 1)
    assert both.merged and both.iou == 0.5
    nothing = assess(ids == 1, ids, 0)  # the push moved nothing
    assert nothing.wrong_object


def test_summary_reports_wrong_merged_and_rank_correlation():
    rows = [
        {"accepted": True, "reason": "", "ms": 1.0, "score": s, "iou": i, "wrong_object": w, "merged": m, "pushed_id": 1}
        for s, i, w, m in [(0.9, 0.95, False, False), (0.8, 0.9, False, False), (0.5, 0.4, False, True), (0.2, 0.0, True, False)]
    ] + [{"accepted": False, "reason": "rotation", "ms": 1.0, "score": 0.0}]
    s = summarize(rows)
    assert s["yield"] == 0.8 and s["wrong_object"] == 0.25 and s["merged"] == 0.25
    assert s["share_iou_50"] == 0.5 and s["score_iou_spearman"] == 1.0
    assert spearman(np.array([1.0, 1.0, 1.0]), np.array([0.1, 0.2, 0.3])) is None
