"""pretrain / finetune commands on a tiny synthetic set: outputs, json log, resume == uninterrupted."""

from __future__ import annotations

import json

import pytest
import torch

from pushseg.cli.main import main
from pushseg.training.checkpoint import load_model
from pushseg.training.synthetic import write_synthetic_set

TINY = ["--work-width", "160", "--patch-size", "64", "--object-size", "40", "--mask-size", "16",
        "--batches", "2", "--batch-size", "4", "--device", "cpu", "--no-progress", "--lr-decay", "none"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    d = tmp_path_factory.mktemp("shapes")
    write_synthetic_set(d, 4, seed=0, height=90, width=160, objects=(1, 3))
    return d


@pytest.mark.slow
def test_pretrain_resume_matches_uninterrupted(shapes, tmp_path):
    assert main(["pretrain", "--scenes", str(shapes), "--out", str(tmp_path / "a"), "--epochs", "2", *TINY]) == 0
    log = json.loads((tmp_path / "a" / "train_log.json").read_text())
    assert [e["epoch"] for e in log] == [1, 2]
    assert {"loss", "accuracy", "mask_iou", "time_s", "score_loss", "mask_loss"} <= set(log[0])
    # one epoch, then resume to two
    assert main(["pretrain", "--scenes", str(shapes), "--out", str(tmp_path / "b"), "--epochs", "1", *TINY]) == 0
    assert main(["pretrain", "--scenes", str(shapes), "--out", str(tmp_path / "b"), "--epochs", "2", "--resume",
                 *TINY]) == 0
    a, b = load_model(tmp_path / "a" / "model.pt"), load_model(tmp_path / "b" / "model.pt")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k  # bit for bit
    assert "pushseg pretrain" in a.meta.get("command", "") or a.meta.get("recipe") == "pretrain"
    assert a.meta["scales"]


@pytest.mark.slow
def test_finetune_defaults_to_score_head(shapes, tmp_path):
    assert main(["pretrain", "--scenes", str(shapes), "--out", str(tmp_path / "p"), "--epochs", "1", *TINY]) == 0
    start = load_model(tmp_path / "p" / "model.pt")
    assert main(["finetune", "--labels", str(shapes / "annotations.json"), "--model", str(tmp_path / "p" / "model.pt"),
                 "--out", str(tmp_path / "f"), "--epochs", "1", "--batches", "2", "--batch-size", "4",
                 "--device", "cpu", "--no-progress"]) == 0
    tuned = load_model(tmp_path / "f" / "model.pt")
    assert torch.equal(tuned.mask_head.weight, start.mask_head.weight)
    assert torch.equal(tuned.trunk.stem[0].weight, start.trunk.stem[0].weight)
    assert not torch.equal(tuned.score_head[4].weight, start.score_head[4].weight)
    cfg = tuned.meta["train_config"]
    assert (cfg["optimizer"], cfg["lr"], cfg["momentum"], cfg["weight_decay"]) == ("sgd", 0.001, 0.9, 0.0005)
    assert cfg["bootstrap"] is True


def test_bad_inputs_exit_with_a_message(shapes, tmp_path, capsys):
    assert main(["finetune", "--labels", str(tmp_path / "none.json"), "--out", str(tmp_path / "x")]) == 2
    assert "no such labels json" in capsys.readouterr().err
    assert main(["pretrain", "--scenes", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no annotations.json" in capsys.readouterr().err


def test_bad_numbers_are_one_line_errors(shapes, tmp_path, capsys):
    labels = str(shapes / "annotations.json")
    for lr in ("-1", "nan", "0", "inf"):
        try:
            code = main(["finetune", "--labels", labels, "--out", str(tmp_path / "x"), "--lr", lr])
        except SystemExit as e:  # refused while parsing the command line
            code = e.code
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "lr" in err and ("finite number" in err or "must be in (0, 10]" in err), err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_finetune_coteaching_by_name(shapes, tmp_path):
    from pushseg.training.checkpoint import save_model
    from pushseg.training.config import ModelConfig
    from pushseg.training.model import DeepMask

    torch.manual_seed(0)
    start = save_model(DeepMask(ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=16,
                                            small_widths=(8, 16, 32, 64))), tmp_path / "start.pt")
    assert main(["finetune", "--labels", str(shapes / "annotations.json"), "--model", str(start), "--out",
                 str(tmp_path / "f"), "--epochs", "1", "--batches", "2", "--batch-size", "8", "--device", "cpu",
                 "--no-progress", "--set", "train.noise=coteaching"]) == 0
    peer, model = load_model(tmp_path / "f" / "model_peer.pt"), load_model(tmp_path / "f" / "model.pt")
    assert not torch.equal(peer.score_head[4].weight, model.score_head[4].weight)
    log = json.loads((tmp_path / "f" / "train_log.json").read_text())
    assert log[0]["forget_rate"] == 0.0 and "peer_loss" in log[0]
