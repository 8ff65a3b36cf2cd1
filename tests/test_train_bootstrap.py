"""Bootstrapping and the noisy-label weights zero exactly the intended gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pushseg.training import losses as L
from pushseg.training.config import ModelConfig, SamplerConfig, TrainConfig
from pushseg.training.data import load_scene_set
from pushseg.training.engine import Trainer
from pushseg.training.model import DeepMask
from pushseg.training.sampler import PatchSampler
from pushseg.training.synthetic import write_synthetic_set


def test_bootstrap_weights_rule():
    labels = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0, -1.0])
    teacher = torch.tensor([3.0, 3.0, -3.0, -3.0, 0.01, 0.0])  # p = .95 .95 .05 .05 .5025 .5
    assert L.bootstrap_weights(labels, teacher).tolist() == [1, 0, 1, 1, 0, 1]
    assert L.bootstrap_weights(labels, None).tolist() == [1] * 6


def test_bootstrap_zeroes_exactly_the_suspicious_patch_gradients():
    torch.manual_seed(0)
    model = DeepMask(ModelConfig()).eval()  # eval: no dropout, so samples are independent
    x = torch.randn(6, 3, 96, 96, requires_grad=True)
    labels = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0, -1.0])
    teacher = torch.tensor([3.0, 3.0, -3.0, -3.0, 0.01, 0.0])
    _, score = model(x)
    w = L.bootstrap_weights(labels, teacher)
    L.weighted_mean(L.score_loss_per_sample(score, labels), w).backward()
    per_sample = x.grad.abs().flatten(1).sum(1)
    assert per_sample[1] == 0 and per_sample[4] == 0
    assert (per_sample[[0, 2, 3, 5]] > 0).all()


def test_small_loss_and_self_paced_counts():
    losses = torch.tensor([0.1, 5.0, 0.3, 2.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    w = L.small_loss_weights(losses, 0.1)
    assert w.tolist().count(0.0) == 1 and w[1] == 0  # floor(0.1 * 11) = 1, the largest
    w = L.small_loss_weights(losses, 0.2, active=torch.tensor([1, 0] + [1] * 9))
    assert w[1] == 0 and w[3] == 0 and w[10] == 0 and w.sum() == 8  # inactive one + floor(0.2 * 10) = 2 highest
    assert L.self_paced_weights(losses, 0.45).tolist() == [1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0]


def test_reed_hard_target():
    logits = torch.tensor([2.0, -2.0])
    labels = torch.tensor([-1.0, -1.0])
    l = L.score_loss_per_sample(logits, labels, "reed-hard", 0.7)
    # target 0.3 where the model says object, 0 where it says background
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([0.3, 0.0]), reduction="none")
    assert torch.allclose(l, ref)


@pytest.mark.slow
def test_trainer_bootstrap_leaves_score_head_unchanged_on_suspicious_negatives(tmp_path):
    """A start model that calls everything 'object' + a batch of negatives only: no score-head update."""
    torch.manual_seed(0)
    j = write_synthetic_set(tmp_path, 3, seed=0, height=90, width=160, objects=(1, 2))
    cfg = ModelConfig(work_width=160, small_widths=(8, 16, 32, 64))
    model = DeepMask(cfg)
    with torch.no_grad():
        model.score_head[4].bias.fill_(10.0)  # p(object) ~ 1 everywhere
    sampler = PatchSampler(load_scene_set(j, 160), cfg, SamplerConfig(positive_fraction=0.0))
    before = {k: v.clone() for k, v in model.score_head.state_dict().items()}
    train = TrainConfig(epochs=1, batches_per_epoch=2, batch_size=4, weight_decay=0.0, bootstrap=True)
    log = Trainer(model, sampler, train, tmp_path / "run", progress=False).fit()
    assert log[0]["ignored"] == 8
    for k, v in model.score_head.state_dict().items():
        assert torch.equal(v, before[k]), k
    # without bootstrapping the same batches do move the score head
    model2 = DeepMask(cfg)
    model2.load_state_dict(model.state_dict())
    train.bootstrap = False
    Trainer(model2, sampler, train, tmp_path / "run2", progress=False).fit()
    assert not torch.equal(model2.score_head[4].bias, before["4.bias"])


@pytest.mark.slow
def test_finetune_freezes_what_it_should(tmp_path):
    torch.manual_seed(0)
    j = write_synthetic_set(tmp_path, 3, seed=0, height=90, width=160, objects=(1, 2))
    cfg = ModelConfig(work_width=160, small_widths=(8, 16, 32, 64))
    model = DeepMask(cfg)
    trunk0 = {k: v.clone() for k, v in model.trunk.state_dict().items()}
    mask0 = model.mask_head.weight.clone()
    score0 = model.score_head[1].weight.clone()
    sampler = PatchSampler(load_scene_set(j, 160), cfg)
    Trainer(model, sampler, TrainConfig(epochs=1, batches_per_epoch=2, batch_size=4), tmp_path / "r",
            progress=False).fit()
    for k, v in model.trunk.state_dict().items():  # weights and batch-norm statistics
        assert torch.equal(v, trunk0[k]), k
    assert torch.equal(model.mask_head.weight, mask0)
    assert not torch.equal(model.score_head[1].weight, score0)
