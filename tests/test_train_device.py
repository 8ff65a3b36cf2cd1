"""Device options: DataLoader workers render the same batches; CUDA-only options are ignored on CPU."""

from __future__ import annotations

import pytest
import torch

from pushseg.errors import InputError
from pushseg.training.config import ModelConfig, TrainConfig
from pushseg.training.data import load_scene_set
from pushseg.training.engine import Trainer, pick_device
from pushseg.training.model import DeepMask
from pushseg.training.sampler import PatchSampler
from pushseg.training.synthetic import write_synthetic_set

TINY = dict(work_width=160, patch_size=64, object_size=40, mask_size=16, small_widths=(8, 16, 32, 64),
            reduce_channels=32, hidden=64, score_hidden=64)


def train(tmp_path, name, **kw):
    j = write_synthetic_set(tmp_path / "s", 2, seed=0, height=90, width=160, objects=(1, 2))
    cfg = ModelConfig(**TINY)
    torch.manual_seed(0)
    t = Trainer(DeepMask(cfg), PatchSampler(load_scene_set(j, 160), cfg),
                TrainConfig(epochs=1, batches_per_epoch=3, batch_size=8, device="cpu", **kw), tmp_path / name,
                progress=None)
    t.fit()
    return t


@pytest.mark.slow
def test_dataloader_workers_give_the_same_weights(tmp_path):
    a = train(tmp_path, "inline", workers=0)
    b = train(tmp_path, "workers", workers=2)
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(v, w), k


def test_cuda_options_are_ignored_on_cpu(tmp_path):
    t = train(tmp_path, "cpu", amp=True, channels_last=True)
    assert t.device.type == "cpu" and not t.use_amp and not t.channels_last
    assert not t.scaler.is_enabled()


def test_device_names():
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")
        with pytest.raises(InputError, match="no CUDA device"):
            pick_device("cuda")
