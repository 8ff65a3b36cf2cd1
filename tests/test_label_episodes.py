"""Episode labels (pushseg.labeling.episodes) on constructed episodes with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from pushseg.labeling import Labeler, LabelConfig
from pushseg.labeling.episodes import label_episode
from pushseg.labeling.synthetic import Block, episode, render, Scene
from pushseg.types import Push

W, H = 480, 270
BLOCKS = [Block(0, 0, 60, 44, seed=3), Block(0, 0, 50, 50, seed=5, color=(50, 90, 200)), Block(0, 0, 40, 40, seed=8, color=(60, 170, 80))]


def _truth(states, k):
    """Ground-truth instance ids of image k."""
    bs = [Block(x, y, b.w, b.h, seed=b.seed, color=b.color) for b, (x, y) in zip(BLOCKS, states[k])]
    return render(Scene(W, H, bs), False).instance_ids


def _iou(a, b):
    return float((a & b).sum() / max((a | b).sum(), 1))


def two_pushes(b_to, b_push=Push(215.0, 199.0, 1.57, 0.05)):
    """Push 0 moves block 1 right; push 1 moves block 2 to ``b_to``; block 3 is never touched."""
    states = [[(100, 100), (190, 150), (380, 40)], [(114, 100), (190, 150), (380, 40)], [(114, 100), b_to, (380, 40)]]
    pushes = [Push(101.0, 122.0, 0.0, 0.05), b_push]
    return states, episode(W, H, states, BLOCKS, pushes, seed=1)


def test_two_pushes_of_two_objects_give_both_masks_on_every_image():
    states, ts = two_pushes((190, 136))
    labels = label_episode(ts, Labeler(LabelConfig()))
    assert all(r is not None and r.label.accepted for r in labels.results)
    assert len(labels.images) == 3
    for k, masks in enumerate(labels.images):
        assert sorted(m.push for m in masks) == [0, 1], (k, labels.drops)
        gt = _truth(states, k)
        for m in masks:
            obj = m.push + 1  # push 0 moved block 1, push 1 block 2
            assert _iou(m.mask, gt == obj) >= 0.85, (k, m.push, m.steps)
            assert m.steps == k - m.push
    # Carried masks never overlap.
    for masks in labels.images:
        total = np.sum([m.mask.astype(int) for m in masks], axis=0)
        assert total.max() <= 1


def test_a_mask_whose_object_was_covered_is_dropped_with_the_reason():
    # Push 1 slides block 2 left and up over a corner of block 1 (drawn on top of it).
    states, ts = two_pushes((164, 126), Push(239.0, 175.0, 3.14, 0.05))
    labels = label_episode(ts, Labeler(LabelConfig()))
    assert sorted(m.push for m in labels.images[1]) == [0, 1]
    assert [m.push for m in labels.images[2]] == [1]
    assert any(d.push == 0 and d.image == 2 and d.reason == "occluded" for d in labels.drops), labels.drops


@pytest.mark.slow
def test_same_seed_same_episode_labels():
    _, ts = two_pushes((190, 136))
    a = label_episode(ts, Labeler(LabelConfig(seed=3)))
    b = label_episode(ts, Labeler(LabelConfig(seed=3)))
    for ma, mb in zip(a.images, b.images):
        assert [(m.push, m.steps, m.score) for m in ma] == [(m.push, m.steps, m.score) for m in mb]
        assert all(np.array_equal(x.mask, y.mask) for x, y in zip(ma, mb))
    assert a.drops == b.drops


@pytest.mark.slow
def test_label_run_with_episode_labels_writes_several_masks_per_image(tmp_path):
    import json

    from pycocotools.coco import COCO

    from pushseg.data.run import RunMeta, RunWriter
    from pushseg.labeling.batch import label_run, report_path

    _, ts = two_pushes((190, 136))
    root = tmp_path / "run"
    with RunWriter.create(root, RunMeta(backend="synthetic", camera=ts[0].before.camera)) as w:
        for t in ts:
            w.write(t)
    out = tmp_path / "labels" / "labels.json"
    summary = label_run(root, out, LabelConfig(episode_labels=True), gallery=tmp_path / "gal", progress=False)
    coco = COCO(str(out))
    assert len(coco.getImgIds()) == 3
    for img in coco.getImgIds():
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img]))
        assert sorted(a["push_step"] for a in anns) == [0, 1]
        assert all("steps_carried" in a for a in anns)
    rows = [json.loads(line) for line in report_path(out).read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["push", "push", "image", "image", "image"]
    assert all(r["masks"] == 2 and r["unlabelled"] == 1 for r in rows[2:])  # block 3 was never pushed
    ep = summary["episodes"]
    assert ep["labels_per_push"] == 3.0 and ep["carried_share_iou_50"] == 1.0
    assert (tmp_path / "gal" / "episode_e00000.png").is_file()
