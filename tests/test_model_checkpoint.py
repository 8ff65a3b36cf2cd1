"""Checkpoint round trip; damaged or mismatched files give errors that name the problem."""

from __future__ import annotations

import pytest
import torch

from pushseg.errors import InputError
from pushseg.training.checkpoint import load_model, read_checkpoint, save_model
from pushseg.training.config import ModelConfig
from pushseg.training.model import DeepMask

SMALL = dict(small_widths=(8, 16, 32, 64))


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    model = DeepMask(ModelConfig(**SMALL)).eval()
    path = save_model(model, tmp_path / "m.pt", meta={"command": "pushseg pretrain --seed 0"})
    return model, path


def test_round_trip(saved):
    model, path = saved
    loaded = load_model(path)
    assert loaded.config == model.config
    assert loaded.meta["command"] == "pushseg pretrain --seed 0"
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_half_precision_file_is_smaller_and_close(saved, tmp_path):
    model, path = saved
    half = save_model(model, tmp_path / "h.pt", half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model(x)[1], load_model(half)(x)[1], atol=1e-2)


def test_missing_and_damaged_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(InputError, match="no such model file"):
        load_model(tmp_path / "nope.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="damaged"):
        load_model(cut)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="damaged"):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(InputError, match="not a pushseg DeepMask model"):
        load_model(other)


def test_mismatched_trunk_and_shapes(saved, tmp_path):
    _, path = saved
    with pytest.raises(InputError, match="'small' trunk but a 'resnet50' trunk was asked for"):
        load_model(path, trunk="resnet50")
    blob = read_checkpoint(path)
    blob["config"]["mask_size"] = 24  # the weights were made for 32x32 masks
    bad = tmp_path / "shape.pt"
    torch.save(blob, bad)
    with pytest.raises(InputError, match=r"wrong shape.*mask_head\.weight"):
        load_model(bad)
    blob = read_checkpoint(path)
    del blob["state_dict"]["score_head.4.bias"]
    torch.save(blob, bad)
    with pytest.raises(InputError, match=r"missing 1 tensors.*score_head\.4\.bias"):
        load_model(bad)
    blob = read_checkpoint(path)
    blob["config"]["trunk"] = "resnet50"
    torch.save(blob, bad)
    with pytest.raises(InputError, match="do not fit the 'resnet50' model"):
        load_model(bad)


def test_random_bytes_and_foreign_pickles_are_one_line_errors(saved, tmp_path):
    import numpy as np

    for seed in range(3):
        junk = tmp_path / f"random{seed}.pt"
        junk.write_bytes(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        with pytest.raises(InputError, match=rf"random{seed}\.pt: damaged or not a torch file") as e:
            load_model(junk)
        assert "\n" not in str(e.value)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(InputError, match=r"list\.pt: not a pushseg DeepMask model"):
        load_model(tmp_path / "list.pt")


def test_nan_weights_and_bad_configs_are_refused(saved, tmp_path):
    _, path = saved
    blob = read_checkpoint(path)
    blob["state_dict"]["score_head.4.weight"][0, 0] = float("nan")
    bad = tmp_path / "nan.pt"
    torch.save(blob, bad)
    with pytest.raises(InputError, match=r"nan\.pt: 1 weight tensors hold NaN or infinite values \(e\.g\. score_head"):
        load_model(bad)
    blob = read_checkpoint(path)
    blob["config"]["dropout"] = 2.0
    torch.save(blob, bad)
    with pytest.raises(InputError, match=r"nan\.pt: its model config is not valid: model dropout=2\.0"):
        load_model(bad)
    blob["config"] = {**read_checkpoint(path)["config"], "patch_size": "96"}
    torch.save(blob, bad)
    with pytest.raises(InputError, match=r"nan\.pt: its model config is not valid"):
        load_model(bad)
