"""Statistics of the experiments: known answers for mean ± std, paired t, scene AP and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pycocotools import mask as mu

from pushseg.errors import InputError
from pushseg.evaluation.coco_eval import evaluate_results
from pushseg.experiments.scene_ap import ap_of, records_from_json, records_to_json, scene_records
from pushseg.experiments.stats import (
    Interval, bootstrap, bootstrap_ap_difference, mean_std, paired_over_seeds, verdict)


def _rle(mask):
    r = mu.encode(np.asfortranarray(mask.astype(np.uint8)))
    r["counts"] = r["counts"].decode("ascii")
    return r


def _box(x, y, w=8, h=8, size=64):
    m = np.zeros((size, size), bool)
    m[y:y + h, x:x + w] = True
    return m


def _gt(objects_per_image):
    images, anns = [], []
    for i, boxes in enumerate(objects_per_image, start=1):
        images.append({"id": i, "file_name": f"{i}.png", "width": 64, "height": 64})
        for b in boxes:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "segmentation": _rle(_box(*b)),
                         "iscrowd": 0})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "object"}]}


def _det(image_id, box, score):
    return {"image_id": image_id, "category_id": 1, "segmentation": _rle(_box(*box)), "score": score}


def test_mean_std_known_values():
    m = mean_std([1.0, 2.0, 3.0])
    assert (m.mean, m.std, m.n) == (2.0, 1.0, 3)
    assert m.fmt() == "2.0 ± 1.0"
    assert mean_std([5.0]).fmt() == "5.0" and mean_std([5.0]).std == 0.0
    assert mean_std([]).n == 0


def test_paired_t_interval_known_answer():
    p = paired_over_seeds({0: 11.0, 1: 12.0, 2: 13.0}, {0: 10.0, 1: 10.0, 2: 10.0})
    assert p.differences == (1.0, 2.0, 3.0) and p.mean == 2.0 and p.std == 1.0 and p.wins == 3
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2 dof) * sd / sqrt(n)
    assert p.interval.low == pytest.approx(2 - half) and p.interval.high == pytest.approx(2 + half)
    assert verdict(p.interval) == "no clear difference"  # three seeds, sd 1: the interval reaches below 0
    assert verdict(paired_over_seeds({0: 2.0, 1: 2.1, 2: 1.9}, {0: 0.0, 1: 0.0, 2: 0.0}).interval) == "better"
    # a seed-free row (pretrained) pairs with every seed of the other
    q = paired_over_seeds({0: 1.0, 1: -1.0}, {0: 0.0})
    assert q.differences == (1.0, -1.0) and verdict(q.interval) == "no clear difference"
    with pytest.raises(InputError):
        paired_over_seeds({0: 1.0}, {1: 1.0})


def test_verdict_needs_interval_excluding_zero():
    assert verdict(Interval(1.0, 0.1, 2.0, 0.95)) == "better"
    assert verdict(Interval(1.0, -0.1, 2.0, 0.95)) == "no clear difference"
    assert verdict(Interval(-1.0, -2.0, -0.5, 0.95)) == "worse"
    assert verdict(Interval(1.0, float("nan"), float("nan"), 0.95)) == "not measured"


def test_scene_ap_hand_computed_and_equal_to_pycocotools():
    # one image, two objects; detections: hit (0.9), miss (0.8), hit (0.7)
    gt = _gt([[(2, 2), (30, 30)]])
    res = [_det(1, (2, 2), 0.9), _det(1, (50, 2), 0.8), _det(1, (30, 30), 0.7)]
    recs = scene_records(gt, res)
    # precision envelope 1 up to recall 0.5 (51 points), 2/3 beyond (50 points)
    expected = 100 * (51 + 50 * 2 / 3) / 101
    assert ap_of(recs)["AP50"] == pytest.approx(expected)
    assert evaluate_results(gt, res)["AP50"] == pytest.approx(expected, abs=0.01)


def test_scene_ap_matches_pycocotools_on_random_scenes():
    rng = np.random.default_rng(3)
    objects = [[(int(rng.integers(0, 50)), int(rng.integers(0, 50))) for _ in range(rng.integers(1, 5))]
               for _ in range(12)]
    gt = _gt(objects)
    res = []
    for i, boxes in enumerate(objects, start=1):
        for b in boxes:
            if rng.random() < 0.8:  # a detection shifted by 0-3 px: IoU from 1 down to ~0.4
                res.append(_det(i, (b[0] + int(rng.integers(0, 4)), b[1]), float(rng.random())))
        for _ in range(rng.integers(0, 3)):  # false positives
            res.append(_det(i, (int(rng.integers(0, 50)), int(rng.integers(0, 50))), float(rng.random())))
    recs = scene_records(gt, res)
    ours, theirs = ap_of(recs), evaluate_results(gt, res)
    for k in ("AP50", "AP75", "AP"):
        assert ours[k] == pytest.approx(theirs[k], abs=0.006)  # pycocotools rounds to 2 decimals
    # a resample with repeats equals pycocotools on the same images duplicated
    again = records_from_json(records_to_json(recs))
    assert ap_of(again) == ap_of(recs)
    assert ap_of(recs, [0, 0, 1])["AP50"] >= 0


def test_scene_ap_without_detections_is_zero():
    gt = _gt([[(2, 2)], [(10, 10)]])
    assert ap_of(scene_records(gt, []))["AP50"] == 0.0


def test_bootstrap_of_mean_has_the_textbook_width_and_is_seeded():
    x = np.random.default_rng(0).normal(0.0, 1.0, 400)
    ci = bootstrap(lambda i: float(x[i].mean()), len(x), n_boot=2000, seed=1)
    width = ci.high - ci.low
    assert width == pytest.approx(2 * 1.96 * x.std(ddof=1) / math.sqrt(len(x)), rel=0.1)
    assert bootstrap(lambda i: float(x[i].mean()), len(x), n_boot=200, seed=5) == \
        bootstrap(lambda i: float(x[i].mean()), len(x), n_boot=200, seed=5)


def _two_models():
    objects = [[(4, 4), (30, 30), (48, 8)] for _ in range(10)]
    gt = _gt(objects)
    good = [_det(i, b, 0.9 - 0.1 * k) for i, bs in enumerate(objects, 1) for k, b in enumerate(bs)]
    # the weaker model finds two of three objects and ranks a false positive first
    weak = [_det(i, (40, 50), 0.95) for i in range(1, 11)] + \
           [_det(i, b, 0.8) for i, bs in enumerate(objects, 1) for b in bs[:2]]
    return scene_records(gt, good), scene_records(gt, weak)


def test_bootstrap_paired_difference_is_better_only_when_it_excludes_zero():
    good, weak = _two_models()
    ci, paired = bootstrap_ap_difference({0: good, 1: good}, {0: weak, 1: weak}, "AP50", n_boot=200, seed=0)
    assert paired and ci.low > 0 and verdict(ci) == "better"
    same, paired = bootstrap_ap_difference({0: good}, {0: good}, "AP50", n_boot=100, seed=0)
    assert paired and (same.low, same.high) == (0.0, 0.0) and verdict(same) == "no clear difference"
    # scored on other scenes: resampled on their own, still a valid interval
    ci2, paired2 = bootstrap_ap_difference({0: good}, {0: weak[:7]}, "AP50", n_boot=200, seed=0)
    assert not paired2 and ci2.low > 0
