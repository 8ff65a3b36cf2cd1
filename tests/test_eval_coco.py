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


# --- the streaming evaluator ---------------------------------------------------------


def reference_ap(gt, results):
    """pycocotools called directly, the way evaluate_results did before the streaming evaluator."""
    import contextlib
    import copy
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    data = copy.deepcopy(gt)
    for a in data["annotations"]:
        a["segmentation"]["counts"] = a["segmentation"]["counts"].encode("ascii")
        a["iscrowd"] = 0
    coco = COCO()
    coco.dataset = data
    res = []
    for r in results:
        res.append({**r, "segmentation": {"size": r["segmentation"]["size"],
                                          "counts": r["segmentation"]["counts"].encode("ascii")}})
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(res), iouType="segm")
        ev.params.useCats = 0
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [round(100 * max(0.0, float(ev.stats[k])), 2) for k in (1, 2, 0)]


def noisy_results(gt, seed=0):
    """Shifted, dropped and spurious masks with random scores: AP strictly between 0 and 100."""
    rng = np.random.default_rng(seed)
    out = []
    for a in gt["annotations"]:
        if rng.random() < 0.2:
            continue
        m = np.roll(decode_mask(a["segmentation"]), int(rng.integers(0, 7)), axis=1)
        out.append({"image_id": a["image_id"], "category_id": 1, "segmentation": encode_mask(m),
                    "score": float(rng.random())})
        if rng.random() < 0.3:
            fp = np.zeros_like(m)
            fp[:8, :8] = True
            out.append({"image_id": a["image_id"], "category_id": 1, "segmentation": encode_mask(fp),
                        "score": float(rng.random())})
    return out


def big_gt_set(n=8, seed=1):
    b = CocoBuilder()
    rng = np.random.default_rng(seed)
    for _ in range(n):
        i = b.add_image("x.png", 64, 48)
        for x in rng.choice([0, 22, 44], int(rng.integers(1, 4)), replace=False):
            y = int(rng.integers(0, 28))
            m = np.zeros((48, 64), bool)
            m[y:y + 16, x:x + 16] = True
            b.add_mask(i, m)
    return b.to_dict()


def feed(ev, gt, results, ids=None, new_ids=None):
    ids = ids if ids is not None else [im["id"] for im in gt["images"]]
    for k, i in enumerate(ids):
        masks = [decode_mask(a["segmentation"]) for a in gt["annotations"] if a["image_id"] == i]
        dets = [r for r in results if r["image_id"] == i]
        ev.process(new_ids[k] if new_ids else i, masks, dets, size=(48, 64))


def test_streaming_evaluator_gives_the_numbers_of_pycocotools():
    from pushseg.evaluation.coco_eval import CocoEvaluator

    gt = big_gt_set()
    for seed in range(3):
        res = noisy_results(gt, seed)
        ref = reference_ap(gt, res)
        assert 0 < ref[2] < 100
        m = evaluate_results(gt, res)
        assert [m["AP50"], m["AP75"], m["AP"]] == ref
        ev = CocoEvaluator()
        feed(ev, gt, res)  # masks as arrays, results as dicts
        m = ev.evaluate()
        assert [m["AP50"], m["AP75"], m["AP"]] == ref and m["detections"] == len(res)
        ev.reset()
        assert len(ev) == 0


@pytest.mark.slow
def test_subsets_and_resamples_score_like_a_fresh_evaluator():
    from pushseg.evaluation.coco_eval import CocoEvaluator

    gt = big_gt_set()
    res = noisy_results(gt, 4)
    ev = CocoEvaluator()
    feed(ev, gt, res)
    for ids in ([1, 3, 5], [2, 2, 2, 7], [8, 1, 1, 4, 6, 6]):
        fresh = CocoEvaluator()
        feed(fresh, gt, res, ids, new_ids=list(range(100, 100 + len(ids))))  # repeats are separate images
        assert ev.evaluate(ids) == fresh.evaluate()
    per = ev.per_image()
    assert [p["image_id"] for p in per] == list(range(1, 9))
    assert sum(p["gt"] for p in per) == len(gt["annotations"]) and sum(p["detections"] for p in per) == len(res)
    assert all(0 <= p["true_positives"] <= min(p["gt"], p["detections"]) for p in per)
    ci = ev.bootstrap(200, seed=0)
    assert ci == ev.bootstrap(200, seed=0)
    for k in ("AP50", "AP75", "AP"):
        assert ci[k]["low"] <= ci[k]["value"] <= ci[k]["high"] and ci[k]["low"] < ci[k]["high"]


def test_streaming_evaluator_refuses_bad_input_in_one_line():
    from pushseg.evaluation.coco_eval import CocoEvaluator
    from pushseg.training.inference import Detection

    ev = CocoEvaluator()
    m = np.zeros((48, 64), bool)
    m[:10, :10] = True
    bad = [
        (lambda: ev.process(1, [m], [Detection(np.zeros((40, 64), bool), 0.5)]), "different sizes"),
        (lambda: ev.process(1, [m], [Detection(m, float("nan"))]), "finite"),
        (lambda: ev.process(1, [m[None]], []), "2-D"),
        (lambda: ev.process(1, [m * 3], []), "0/1"),
        (lambda: ev.process("a", [m], []), "integer"),
        (lambda: ev.process(1, [], []), "size"),
        (lambda: ev.process(1, [m], [{"score": 1.0}]), "segmentation"),
        (lambda: ev.evaluate([5]), "never processed"),
        (lambda: ev.evaluate(), "process"),
    ]
    for call, text in bad:
        with pytest.raises(InputError, match=text) as e:
            call()
        assert "\n" not in str(e.value)
    ev.process(1, [m], [Detection(m, 0.9)])
    with pytest.raises(InputError, match="already"):
        ev.process(1, [m], [])
    ev.process(2, np.zeros((0, 48, 64), bool), [])  # an image without objects: size from the empty stack
    assert ev.evaluate()["AP"] == 100.0
    with pytest.raises(InputError, match="no annotations"):
        ev.evaluate([2])


def test_no_detections_at_all_scores_zero_with_per_image_rows():
    from pushseg.evaluation.coco_eval import CocoEvaluator

    gt = big_gt_set(3)
    ev = CocoEvaluator()
    feed(ev, gt, [])
    assert ev.evaluate()["AP"] == 0.0
    assert [p["true_positives"] for p in ev.per_image()] == [0, 0, 0]
