"""The trainer's seams: a two-network method as a short subclass, hooks, exact resume of any state."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pushseg.errors import InputError
from pushseg.training.config import TrainConfig
from pushseg.training.engine import NonFiniteError, TrainerBase
from pushseg.training.hooks import CallbackHook, EvalHook


# -- a co-teaching-shaped toy: two models, two optimizers, each step selecting samples for the other --------------
class NoisyLine:
    """2-d points labelled by the side of a line, 20 % of labels flipped."""

    def draw(self, rng, n):
        x = rng.normal(size=(n, 2)).astype(np.float32)
        y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
        flip = rng.random(n) < 0.2
        y[flip] = 1 - y[flip]
        return list(zip(x, y))

    def collate(self, samples):
        x, y = zip(*samples)
        return torch.from_numpy(np.stack(x)), torch.tensor(y)


class ToyCoTeaching(TrainerBase):
    def __init__(self, cfg, out_dir):
        super().__init__(NoisyLine(), cfg, out_dir, progress=None)
        for name, seed in (("a", 1), ("b", 2)):  # different initial weights
            torch.manual_seed(seed)
            net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
            self.register(name, net, torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9))

    def run_step(self, batch):
        x, y = batch
        losses = {k: F.binary_cross_entropy_with_logits(m(x)[:, 0], y, reduction="none")
                  for k, m in self.models.items()}
        keep = len(y) - int(0.25 * len(y))  # an integer count
        for own, peer in (("a", "b"), ("b", "a")):
            chosen = torch.argsort(losses[peer].detach())[:keep]  # the peer's small-loss samples
            self.update(own, losses[own][chosen].mean())
        return {"loss": losses["a"].mean().item(), "peer_loss": losses["b"].mean().item()}


def toy_cfg(epochs):
    return TrainConfig(epochs=epochs, batches_per_epoch=6, batch_size=16, lr=0.05, device="cpu", seed=4)


def test_toy_coteaching_is_a_short_subclass():
    lines = len(inspect.getsource(NoisyLine).splitlines()) + len(inspect.getsource(ToyCoTeaching).splitlines())
    assert lines < 60, lines


def strip_time(log):
    return [{k: v for k, v in e.items() if k != "time_s"} for e in log]


def test_toy_coteaching_trains_and_resumes_exactly(tmp_path):
    full = ToyCoTeaching(toy_cfg(3), tmp_path / "full")
    log = full.fit()
    assert [e["epoch"] for e in log] == [1, 2, 3] and log[-1]["loss"] < log[0]["loss"]
    assert not torch.equal(full.models["a"][0].weight, full.models["b"][0].weight)
    state = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    assert set(state["models"]) == set(state["optimizers"]) == {"a", "b"}
    ToyCoTeaching(toy_cfg(1), tmp_path / "cut").fit()
    resumed = ToyCoTeaching(toy_cfg(3), tmp_path / "cut")
    resumed.fit(resume=True)
    assert resumed.start_epoch == 1
    for name in ("a", "b"):
        for (k, v), w in zip(full.models[name].state_dict().items(), resumed.models[name].state_dict().values()):
            assert torch.equal(v, w), (name, k)
        mom = [s["momentum_buffer"] for s in full.optimizers[name].state.values()]
        mom2 = [s["momentum_buffer"] for s in resumed.optimizers[name].state.values()]
        assert all(torch.equal(p, q) for p, q in zip(mom, mom2))
    assert strip_time(full.log) == strip_time(resumed.log)
    on_disk = json.loads((tmp_path / "cut" / "train_log.json").read_text())
    assert strip_time(on_disk) == strip_time(full.log)


def test_hooks_see_every_step_and_add_to_the_saved_log(tmp_path):
    trainer = ToyCoTeaching(toy_cfg(2), tmp_path)
    steps = []
    trainer.register_hooks([CallbackHook(after_step=lambda t: steps.append((t.epoch, t.iter))),
                            EvalHook(lambda t: {"acc": 0.5 + t.epoch}, period=1)])
    trainer.fit()
    assert steps == [(e, i) for e in range(2) for i in range(6)]
    saved = json.loads((tmp_path / "train_log.json").read_text())
    assert [e["val_acc"] for e in saved] == [0.5, 1.5]
    with pytest.raises(TypeError, match="no hook point"):
        CallbackHook(after_everything=print)


def test_resume_refuses_a_state_of_other_models(tmp_path):
    ToyCoTeaching(toy_cfg(1), tmp_path).fit()
    other = ToyCoTeaching(toy_cfg(2), tmp_path)
    del other.models["b"], other.optimizers["b"]
    with pytest.raises(InputError, match=r"last\.pt: the saved state holds models \['a', 'b'\]"):
        other.fit(resume=True)
    (tmp_path / "last.pt").write_bytes(b"\x00garbage")
    with pytest.raises(InputError, match=r"last\.pt: cannot resume"):
        ToyCoTeaching(toy_cfg(2), tmp_path).fit(resume=True)


def test_a_diverging_loss_stops_with_a_clear_error_and_no_nan_is_written(tmp_path):
    class Diverging(ToyCoTeaching):
        def run_step(self, batch):
            out = super().run_step(batch)
            return {**out, "loss": float("nan") if self.epoch == 1 and self.iter == 2 else out["loss"]}

    with pytest.raises(NonFiniteError, match=r"epoch 2, batch 3: the loss became nan .*last\.pt holds the last"):
        Diverging(toy_cfg(3), tmp_path).fit()
    text = (tmp_path / "train_log.json").read_text()
    assert "NaN" not in text and len(json.loads(text)) == 1


def test_deepmask_training_that_diverges_stops_before_writing_nan(tmp_path):
    from pushseg.training.config import ModelConfig
    from pushseg.training.data import load_scene_set
    from pushseg.training.engine import Trainer
    from pushseg.training.model import DeepMask
    from pushseg.training.sampler import PatchSampler
    from pushseg.training.synthetic import write_synthetic_set

    j = write_synthetic_set(tmp_path / "s", 2, seed=0, height=90, width=160, objects=(1, 2))
    cfg = ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=16, small_widths=(8, 16, 32, 64),
                      reduce_channels=32, hidden=64, score_hidden=64)
    torch.manual_seed(0)
    trainer = Trainer(DeepMask(cfg), PatchSampler(load_scene_set(j, 160), cfg),
                      TrainConfig(epochs=3, batches_per_epoch=3, batch_size=8, lr=1e38, momentum=0.0, device="cpu",
                                  bootstrap=False), tmp_path / "run", progress=None)
    with pytest.raises(NonFiniteError, match=r"training stopped in epoch \d, batch \d: the loss became (nan|inf).*lr 1e\+38"):
        trainer.fit()
    assert not (tmp_path / "run" / "model.pt").exists()
    log = tmp_path / "run" / "train_log.json"
    assert not log.exists() or "NaN" not in log.read_text()


@pytest.mark.parametrize("bad", [dict(lr=-1.0), dict(lr=float("nan")), dict(lr=float("inf")), dict(lr=0.0),
                                 dict(momentum=1.5), dict(weight_decay=-1e-4), dict(batch_size=1), dict(epochs=0),
                                 dict(small_loss_drop=1.0), dict(reed_beta=2.0), dict(device="gpu"),
                                 dict(workers=-1), dict(noise="co-teach"), dict(lr="0.1"), dict(epochs=2.5)])
def test_training_options_are_validated_in_one_line(bad):
    (key,) = bad
    with pytest.raises(InputError, match=key) as e:
        TrainConfig(**bad)
    assert "\n" not in str(e.value)


def test_last_pt_of_the_one_model_layout_still_resumes(tmp_path):
    """A last.pt written before the trainer kept several models ("model", "optimizer", ... at the top) resumes."""
    from pushseg.training.config import ModelConfig
    from pushseg.training.data import load_scene_set
    from pushseg.training.engine import Trainer
    from pushseg.training.model import DeepMask
    from pushseg.training.sampler import PatchSampler
    from pushseg.training.synthetic import write_synthetic_set

    j = write_synthetic_set(tmp_path / "s", 2, seed=0, height=90, width=160, objects=(1, 2))
    cfg = ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=16, small_widths=(8, 16, 32, 64),
                      reduce_channels=32, hidden=64, score_hidden=64)
    sampler = PatchSampler(load_scene_set(j, 160), cfg)

    def trainer(epochs, out):
        torch.manual_seed(0)
        return Trainer(DeepMask(cfg), sampler, TrainConfig(epochs=epochs, batches_per_epoch=2, batch_size=8,
                                                           device="cpu"), tmp_path / out, progress=None)

    full = trainer(2, "full")
    full.fit()
    trainer(1, "old").fit()
    state = torch.load(tmp_path / "old" / "last.pt", weights_only=True)
    old = {"epoch": state["epoch"], "log": state["log"], "train_config": state["train_config"],
           "model_config": state["model_config"], **{k: state[k + "s"]["model"] for k in
                                                     ("model", "optimizer", "scheduler", "scaler")}}
    torch.save(old, tmp_path / "old" / "last.pt")
    resumed = trainer(2, "old")
    resumed.fit(resume=True)
    assert resumed.start_epoch == 1
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()))
