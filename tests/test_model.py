"""DeepMask shapes, trunk strides and a tiny overfit on a synthetic one-object set."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from pushseg.errors import InputError
from pushseg.training.config import ModelConfig, SamplerConfig, TrainConfig
from pushseg.training.data import load_scene_set
from pushseg.training.engine import Trainer
from pushseg.training.model import DeepMask
from pushseg.training.sampler import PatchSampler
from pushseg.training.synthetic import write_synthetic_set
from pushseg.training.trunks import ResNet50Trunk, SmallTrunk


def test_small_model_shapes():
    torch.manual_seed(0)
    cfg = ModelConfig()
    model = DeepMask(cfg).eval()
    x = torch.randn(3, 3, cfg.patch_size, cfg.patch_size)
    masks, scores = model(x)
    assert masks.shape == (3, cfg.mask_size, cfg.mask_size)
    assert scores.shape == (3,)
    # dense: one window per stride-16 cell of a larger image
    m, s = model.dense(torch.randn(2, 3, 160, 224))
    assert s.shape == (2, 160 // 16 - cfg.window + 1, 224 // 16 - cfg.window + 1)
    assert m.shape == (2, cfg.mask_size**2, *s.shape[1:])


def test_score_head_layout_matches_paper():
    model = DeepMask(ModelConfig())
    kinds = [type(m).__name__ for m in model.score_head]
    assert kinds == ["Dropout", "Conv2d", "ReLU", "Dropout", "Conv2d"]
    assert model.score_head[1].out_channels == 1024 and model.score_head[4].out_channels == 1
    assert model.shared[0].out_channels == 128 and model.shared[2].out_channels == 512


def test_trunk_strides_and_channels():
    torch.manual_seed(0)
    assert SmallTrunk()(torch.randn(1, 3, 64, 96)).shape == (1, 128, 4, 6)
    r = ResNet50Trunk().eval()
    with torch.no_grad():
        assert r(torch.randn(1, 3, 64, 96)).shape == (1, 1024, 4, 6)
    n = sum(p.numel() for p in r.parameters())
    assert 8.4e6 < n < 8.6e6  # ResNet-50 conv1..conv4_x: 8.5 M parameters


def test_resnet50_preset_shapes():
    cfg = ModelConfig.preset("resnet50")
    assert (cfg.patch_size, cfg.object_size, cfg.mask_size, cfg.window) == (160, 92, 56, 10)
    model = DeepMask(cfg).eval()
    with torch.no_grad():
        masks, scores = model(torch.randn(1, 3, 160, 160))
    assert masks.shape == (1, 56, 56) and scores.shape == (1,)


def test_bad_config_is_named():
    with pytest.raises(InputError, match="trunk"):
        ModelConfig(trunk="vgg")
    with pytest.raises(InputError, match="multiple of 16"):
        ModelConfig(patch_size=100)
    with pytest.raises(ValueError, match="patches"):
        DeepMask(ModelConfig())(torch.randn(1, 3, 64, 64))


@pytest.mark.slow
def test_tiny_overfit_one_object(tmp_path):
    """Mask IoU > 0.8 on held-out patches of a synthetic one-object set within a minute of CPU.

    A reduced small model (64 px patches, 24x24 masks, narrower trunk) keeps this under ~20 s of CPU time;
    flip/rotation are off because the point is fitting, not generalising.
    """
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # no OpenMP spin-waiting when the cores are shared
    try:
        _overfit(tmp_path)
    finally:
        torch.set_num_threads(threads)


def _overfit(tmp_path):
    j = write_synthetic_set(tmp_path, 4, seed=3, height=120, width=160, objects=(1, 1), size_range=(36, 48))
    cfg = ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=24, small_widths=(16, 32, 48, 64),
                      reduce_channels=64, hidden=256, score_hidden=256)
    sampler = PatchSampler(load_scene_set(j, cfg.work_width), cfg, SamplerConfig(flip_p=0.0, rotate_p=0.0))
    model = DeepMask(cfg)
    train = TrainConfig(epochs=12, batches_per_epoch=20, batch_size=16, optimizer="adam", lr=3e-3,
                        weight_decay=0.0, train_trunk=True, train_mask=True, bootstrap=False, seed=0)
    t0 = time.process_time()
    Trainer(model, sampler, train, tmp_path / "run", progress=False).fit()
    assert time.process_time() - t0 < 60  # CPU seconds, so that other load on the machine does not count
    rng = np.random.default_rng(123)  # held-out draws of positives
    infos = [sampler.draw_positive(rng) for _ in range(32)]
    patches, labels = zip(*(sampler.render(i) for i in infos))
    x = model.normalize(torch.from_numpy(np.stack(patches)).permute(0, 3, 1, 2))
    model.eval()
    with torch.no_grad():
        logits, scores = model(x)
    pred, gt = logits.numpy() > 0, np.stack(labels)
    iou = (pred & gt).sum((1, 2)) / np.maximum(1, (pred | gt).sum((1, 2)))
    assert iou.mean() > 0.8, f"mask IoU {iou.mean():.3f}"
    assert (scores > 0).float().mean() > 0.8
