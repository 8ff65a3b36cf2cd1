"""Patch sampler: positives centred within the jitter, negatives far from every object, seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pushseg.errors import InputError
from pushseg.training.config import ModelConfig, SamplerConfig
from pushseg.training.data import load_scene_set
from pushseg.training.sampler import PatchSampler, patch_transform
from pushseg.training.synthetic import write_synthetic_set


@pytest.fixture(scope="module")
def scene_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("shapes")
    j = write_synthetic_set(d, 6, seed=1, height=135, width=240, objects=(2, 4), size_range=(20, 44))
    cfg = ModelConfig(work_width=240)
    return load_scene_set(j, cfg.work_width), cfg


def to_patch(info, x, y, size):
    M = patch_transform(info.cx, info.cy, info.scale, size, info.flip, info.angle)
    return M @ np.array([x, y, 1.0])


def test_positives_centred_within_jitter(scene_set):
    images, cfg = scene_set
    s = PatchSampler(images, cfg)
    J, c = s.cfg.jitter, cfg.patch_size / 2
    assert J == pytest.approx(16 * 96 / 160)
    rng = np.random.default_rng(0)
    n_aug = 0
    for _ in range(300):
        info = s.draw_positive(rng)
        inst = images[info.image_index].instances[info.instance]
        px, py = to_patch(info, inst.cx, inst.cy, cfg.patch_size)
        off = np.array([px - c, py - c])
        if info.flip or info.angle:
            n_aug += 1
            assert np.hypot(*off) <= J * math.sqrt(2) + 1e-6  # rotation turns the per-axis box
        else:
            assert np.all(np.abs(off) <= J + 1e-6)
        octaves = math.log2(info.scale * inst.size / cfg.object_size)
        assert abs(octaves) <= 0.25 + 1e-9
    assert 0.3 < n_aug / 300 < 0.6  # flip 0.25 and rotation 0.25, independent: 1 - 0.75^2 = 0.44


def test_positive_mask_is_the_centred_object(scene_set):
    images, cfg = scene_set
    s = PatchSampler(images, cfg, SamplerConfig(flip_p=0, rotate_p=0, jitter=0, scale_jitter=0))
    rng = np.random.default_rng(1)
    for _ in range(20):
        info = s.draw_positive(rng)
        _, mask = s.render(info)
        inst = images[info.image_index].instances[info.instance]
        m = cfg.mask_size
        ys, xs = np.nonzero(mask)
        # box of the warped mask: centred, with largest side object_size (in mask px)
        side = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) * cfg.patch_size / m
        assert abs(side - cfg.object_size) <= 2 * cfg.patch_size / m
        assert abs((xs.min() + xs.max() + 1) / 2 - m / 2) <= 1.5 and abs((ys.min() + ys.max() + 1) / 2 - m / 2) <= 1.5
        assert mask.sum() == pytest.approx(inst.mask.sum() * (info.scale * m / cfg.patch_size) ** 2, rel=0.15)


def test_negatives_far_from_every_object(scene_set):
    images, cfg = scene_set
    s = PatchSampler(images, cfg)
    D = s.cfg.neg_distance
    assert D == pytest.approx(32 * 96 / 160)
    rng = np.random.default_rng(2)
    near = 0
    for _ in range(300):
        info = s.draw_negative(rng)
        assert info.label == -1
        for inst in images[info.image_index].instances:
            dist = info.scale * math.hypot(info.cx - inst.cx, info.cy - inst.cy)
            octaves = abs(math.log2(info.scale * inst.size / cfg.object_size))
            assert dist >= D or octaves >= 1.0
            near += dist < 2 * D
    assert near > 30  # hard negatives are drawn near objects too


def test_batches_are_seeded(scene_set):
    images, cfg = scene_set
    s = PatchSampler(images, cfg)
    a, b = s.batch(np.random.default_rng(7), 8), s.batch(np.random.default_rng(7), 8)
    assert (a["images"] == b["images"]).all() and (a["masks"] == b["masks"]).all()
    assert a["labels"].tolist() == [1.0] * 4 + [-1.0] * 4
    c = s.batch(np.random.default_rng(8), 8)
    assert not (a["images"] == c["images"]).all()
    assert set(np.unique(a["masks"].numpy())) <= {-1.0, 1.0}


def test_no_objects_is_a_clear_error(tmp_path):
    j = write_synthetic_set(tmp_path, 2, seed=0, objects=(0, 0))
    with pytest.raises(InputError, match="no labelled object"):
        PatchSampler(load_scene_set(j, 240), ModelConfig(work_width=240))
