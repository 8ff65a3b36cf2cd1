"""Noisy-label methods by name (Table III) and co-teaching done as Han et al. describe it."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from pushseg.errors import InputError
from pushseg.training import losses as L
from pushseg.training.checkpoint import save_model
from pushseg.training.config import ModelConfig, TrainConfig
from pushseg.training.coteaching import CoTeachingTrainer
from pushseg.training.data import load_scene_set
from pushseg.training.engine import Trainer
from pushseg.training.model import DeepMask
from pushseg.training.noise import NOISE_METHODS, NoiseContext, forget_rate, register_noise_method
from pushseg.training.recipes import finetune, trainer_class
from pushseg.training.sampler import PatchSampler
from pushseg.training.synthetic import write_synthetic_set

TINY = dict(work_width=160, patch_size=64, object_size=40, mask_size=16, small_widths=(8, 16, 32, 64),
            reduce_channels=32, hidden=64, score_hidden=64)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    d = tmp_path_factory.mktemp("shapes")
    return write_synthetic_set(d, 3, seed=0, height=90, width=160, objects=(1, 3))


def sampler_for(shapes, cfg):
    return PatchSampler(load_scene_set(shapes, cfg.work_width), cfg)


def tcfg(**kw):
    base = dict(epochs=1, batches_per_epoch=2, batch_size=12, device="cpu", seed=1)
    return TrainConfig(**{**base, **kw})


def test_table_iii_methods_are_registered_by_name():
    assert {"none", "reed-hard", "bootstrapping", "self-paced", "small-loss", "coteaching"} <= set(NOISE_METHODS)
    assert TrainConfig().reed_beta == 0.7 and TrainConfig().small_loss_drop == 0.1
    assert (TrainConfig().self_paced_lambda, TrainConfig().self_paced_growth) == (0.002, 1.2)
    assert trainer_class(TrainConfig(noise="coteaching")) is CoTeachingTrainer
    assert trainer_class(TrainConfig(noise="small-loss")) is Trainer


def ctx(noise, losses, labels=None, teacher=None, epoch=0, peer=None, **cfg):
    labels = torch.ones_like(losses) if labels is None else labels
    return NoiseContext(TrainConfig(noise=noise, **cfg), epoch, labels, losses, torch.ones_like(losses), teacher, peer)


def test_each_method_selects_what_it_should():
    losses = torch.tensor([0.001, 0.5, 0.0015, 3.0, 0.2, 0.0025, 0.1, 0.05, 0.7, 0.9, 1.1])
    assert NOISE_METHODS["none"].select(ctx("none", losses)).tolist() == [1.0] * 11
    assert NOISE_METHODS["reed-hard"].select(ctx("reed-hard", losses)).tolist() == [1.0] * 11
    w = NOISE_METHODS["small-loss"].select(ctx("small-loss", losses))  # floor(0.1 * 11) = 1: the worst
    assert w.tolist() == [1.0] * 3 + [0.0] + [1.0] * 7
    sp = NOISE_METHODS["self-paced"].select
    assert sp(ctx("self-paced", losses)).tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]  # lambda 0.002
    assert sp(ctx("self-paced", losses, epoch=2)).sum() == 3  # lambda 0.002 x 1.2^2 = 0.00288
    labels = torch.tensor([1.0, -1.0, -1.0])
    teacher = torch.tensor([5.0, 5.0, -5.0])  # the start model calls sample 1 object: a suspicious negative
    assert NOISE_METHODS["bootstrapping"].select(ctx("bootstrapping", torch.ones(3), labels, teacher)).tolist() == [1, 0, 1]
    with pytest.raises(InputError, match="needs two networks"):
        NOISE_METHODS["coteaching"].select(ctx("coteaching", losses))


def test_reed_hard_uses_its_own_loss():
    logits, labels = torch.tensor([2.0, -2.0]), torch.tensor([-1.0, -1.0])
    got = NOISE_METHODS["reed-hard"].loss(logits, labels, TrainConfig(noise="reed-hard"))
    assert torch.allclose(got, L.score_loss_per_sample(logits, labels, "reed-hard", 0.7))


@pytest.mark.parametrize("noise", ["none", "reed-hard", "bootstrapping", "self-paced", "small-loss", "coteaching"])
def test_every_method_trains_by_name(shapes, tmp_path, noise):
    torch.manual_seed(0)
    cfg = ModelConfig(**TINY)
    start = save_model(DeepMask(cfg), tmp_path / "start.pt")
    model = finetune(start, shapes, tmp_path / "out", tcfg(noise=noise, bootstrap=False), progress=None)
    assert not torch.equal(model.score_head[4].weight, DeepMask(cfg).score_head[4].weight)
    assert (tmp_path / "out" / "model.pt").is_file()
    assert (tmp_path / "out" / "model_peer.pt").is_file() == (noise == "coteaching")


def test_a_new_method_is_one_registered_function(shapes, tmp_path):
    @register_noise_method("only-positives")
    def only_positives(c):
        return c.weights * (c.labels > 0).float()

    try:
        torch.manual_seed(0)
        cfg = ModelConfig(**TINY)
        log = Trainer(DeepMask(cfg), sampler_for(shapes, cfg), tcfg(noise="only-positives", bootstrap=False),
                      tmp_path, progress=None).fit()
        assert log[0]["ignored"] == 2 * 6  # the 6 negatives of each batch of 12
    finally:
        del NOISE_METHODS["only-positives"]


def test_one_network_trainer_refuses_coteaching(shapes, tmp_path):
    cfg = ModelConfig(**TINY)
    with pytest.raises(InputError, match="needs two networks"):
        Trainer(DeepMask(cfg), sampler_for(shapes, cfg), tcfg(noise="coteaching"), tmp_path)


# -- co-teaching: the four properties -------------------------------------------------------------------------
def coteacher(shapes, tmp_path, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(**TINY, dropout=kw.pop("dropout", 0.5))
    return CoTeachingTrainer(DeepMask(cfg), sampler_for(shapes, cfg), tcfg(noise="coteaching", **kw), tmp_path,
                             progress=None)


def test_coteaching_networks_start_apart_where_they_train(shapes, tmp_path):
    t = coteacher(shapes, tmp_path)
    a, b = t.models["model"].state_dict(), t.models["peer"].state_dict()
    assert not torch.equal(a["score_head.1.weight"], b["score_head.1.weight"])
    assert not torch.equal(a["score_head.4.weight"], b["score_head.4.weight"])
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("score_head"))  # frozen parts shared
    rel = (a["score_head.1.weight"] - b["score_head.1.weight"]).std() / a["score_head.1.weight"].std()
    assert 0.05 < rel < 0.2  # coteaching_peer_noise = 0.1 of each tensor's spread


def test_coteaching_optimizer_states_are_separate(shapes, tmp_path):
    t = coteacher(shapes, tmp_path)
    oa, ob = t.optimizers["model"], t.optimizers["peer"]
    ids_a = {id(p) for g in oa.param_groups for p in g["params"]}
    ids_b = {id(p) for g in ob.param_groups for p in g["params"]}
    assert oa is not ob and not ids_a & ids_b
    assert ids_a == {id(p) for p in t.models["model"].score_head.parameters()}
    t.fit()
    ma = [s["momentum_buffer"] for s in oa.state.values()]
    mb = [s["momentum_buffer"] for s in ob.state.values()]
    assert len(ma) == len(mb) == 4 and not any(torch.equal(x, y) for x, y in zip(ma, mb))
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(saved["optimizers"]) == {"model", "peer"}


def test_coteaching_each_network_learns_from_the_peers_small_loss_samples(shapes, tmp_path):
    """One step, checked against a hand-made SGD step on the samples the *other* network ranks easiest."""
    t = coteacher(shapes, tmp_path, dropout=0.0, bootstrap=False, small_loss_drop=0.3, coteaching_ramp_epochs=0,
                  momentum=0.0, weight_decay=0.0, lr=0.5, coteaching_peer_noise=1.0)
    a0, b0 = copy.deepcopy(t.models["model"]).eval(), copy.deepcopy(t.models["peer"]).eval()  # no dropout: p = 0
    batch = t.sampler.batch(np.random.default_rng(5), 12)
    t.set_modes()
    t.run_step(batch)
    x = a0.normalize(batch["images"])
    labels = batch["labels"]
    with torch.no_grad():
        la = L.score_loss_per_sample(a0(x)[1], labels)
        lb = L.score_loss_per_sample(b0(x)[1], labels)
    keep = 12 - math.floor(0.3 * 12)  # 9: an integer count, not 8.4
    assert t.last_kept == (keep, keep)
    by_a, by_b = set(torch.argsort(la)[:keep].tolist()), set(torch.argsort(lb)[:keep].tolist())
    assert by_a != by_b  # otherwise this test could not tell cross selection from self selection
    for net, start, chosen in ((t.models["model"], a0, by_b), (t.models["peer"], b0, by_a)):
        ref = copy.deepcopy(start)
        w = torch.zeros(12)
        w[list(chosen)] = 1.0
        loss = (L.score_loss_per_sample(ref(x)[1], labels) * w).sum() / 12
        grads = torch.autograd.grad(loss, list(ref.score_head.parameters()))
        for p, p0, g in zip(net.score_head.parameters(), ref.score_head.parameters(), grads):
            assert torch.allclose(p, p0 - 0.5 * g, atol=1e-6)


def test_coteaching_forget_rate_ramps_over_the_first_epochs(shapes, tmp_path):
    cfg = TrainConfig(noise="coteaching", small_loss_drop=0.2, coteaching_ramp_epochs=4)
    assert [round(forget_rate(cfg, e), 6) for e in range(7)] == [0.0, 0.05, 0.1, 0.15, 0.2, 0.2, 0.2]
    t = coteacher(shapes, tmp_path, epochs=3, batches_per_epoch=1, small_loss_drop=0.2, coteaching_ramp_epochs=4,
                  bootstrap=False, batch_size=20)
    log = t.fit()
    assert [round(e["forget_rate"], 6) for e in log] == [0.0, 0.05, 0.1]
    assert t.last_kept == (20 - math.floor(0.1 * 20),) * 2  # epoch 3: 18 of 20 kept


@pytest.mark.slow
def test_coteaching_resumes_exactly(shapes, tmp_path):
    full = coteacher(shapes, tmp_path / "full", epochs=2)
    full.fit()
    coteacher(shapes, tmp_path / "cut", epochs=1).fit()
    resumed = coteacher(shapes, tmp_path / "cut", epochs=2)
    resumed.fit(resume=True)
    for name in ("model", "peer"):
        for (k, v), w in zip(full.models[name].state_dict().items(), resumed.models[name].state_dict().values()):
            assert torch.equal(v, w), (name, k)
    assert [e["loss"] for e in full.log] == [e["loss"] for e in resumed.log]
