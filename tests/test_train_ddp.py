"""DDP with torchrun and gloo on CPU: 2 processes match 1 process with the same global batch; resume is exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pushseg.training.checkpoint import load_model, save_model
from pushseg.training.config import ModelConfig, TrainConfig
from pushseg.training.model import DeepMask
from pushseg.training.recipes import finetune
from pushseg.training.synthetic import write_synthetic_set

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(work_width=160, patch_size=64, object_size=40, mask_size=16, small_widths=(8, 16, 32, 64),
            reduce_channels=32, hidden=64, score_hidden=64)

# Run by every rank: two methods that rank the batch (their selection must see the global batch), each trained
# uninterrupted and in two parts with resume, then the command line under the same process group.
WORKER = '''
import sys
from pushseg.training.config import TrainConfig
from pushseg.training.recipes import finetune
from pushseg.__main__ import run

start, data, out = sys.argv[1:4]
cfg = lambda epochs, noise: TrainConfig(epochs=epochs, batches_per_epoch=3, batch_size=12, device="cpu", seed=2,
                                        noise=noise, small_loss_drop=0.25, coteaching_ramp_epochs=1)
for noise in ("small-loss", "coteaching"):
    finetune(start, data, f"{out}/{noise}-full", cfg(2, noise), progress=None)
    finetune(start, data, f"{out}/{noise}-cut", cfg(1, noise), progress=None)
    finetune(start, data, f"{out}/{noise}-cut", cfg(2, noise), progress=None, resume=True)
sys.exit(run(["finetune", "--labels", data, "--model", start, "--out", f"{out}/cli", "--epochs", "1",
              "--batch-size", "12", "--batches", "2", "--device", "cpu", "--no-progress"]))
'''


def cfg(epochs, noise):
    return TrainConfig(epochs=epochs, batches_per_epoch=3, batch_size=12, device="cpu", seed=2, noise=noise,
                       small_loss_drop=0.25, coteaching_ramp_epochs=1)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    data = write_synthetic_set(tmp / "shapes", 3, seed=0, height=90, width=160, objects=(1, 3))
    torch.manual_seed(0)
    start = save_model(DeepMask(ModelConfig(**TINY)), tmp / "start.pt")
    (tmp / "worker.py").write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(tmp / "worker.py"), str(start), str(data), str(tmp / "ddp")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, start, data, proc


def weights(path):
    return load_model(path).state_dict()


@pytest.mark.parametrize("noise", ["small-loss", "coteaching"])
@pytest.mark.slow
def test_two_gloo_processes_match_one_process(ddp_run, noise):
    tmp, start, data, _ = ddp_run
    single = tmp / f"single-{noise}"
    finetune(start, data, single, cfg(2, noise), progress=None)
    for file in ["model.pt"] + (["model_peer.pt"] if noise == "coteaching" else []):
        one, two = weights(single / file), weights(tmp / "ddp" / f"{noise}-full" / file)
        diff = max((one[k] - two[k]).abs().max().item() for k in one)
        assert diff < 1e-5, f"{file}: largest weight difference {diff}"
        assert not torch.equal(one["score_head.4.weight"], weights(start)["score_head.4.weight"])
    log1 = json.loads((single / "train_log.json").read_text())
    log2 = json.loads((tmp / "ddp" / f"{noise}-full" / "train_log.json").read_text())
    for a, b in zip(log1, log2):
        assert a["ignored"] == b["ignored"]  # the same samples selected, counted over both ranks
        for k in ("loss", "score_loss", "accuracy"):
            assert a[k] == pytest.approx(b[k], abs=1e-5), k


@pytest.mark.parametrize("noise", ["small-loss", "coteaching"])
@pytest.mark.slow
def test_resumed_ddp_run_matches_uninterrupted(ddp_run, noise):
    tmp = ddp_run[0] / "ddp"
    for file in ["model.pt"] + (["model_peer.pt"] if noise == "coteaching" else []):
        a, b = weights(tmp / f"{noise}-full" / file), weights(tmp / f"{noise}-cut" / file)
        assert all(torch.equal(a[k], b[k]) for k in a), file


@pytest.mark.slow
def test_torchrun_command_line_rank_zero_writes(ddp_run):
    tmp, _, _, proc = ddp_run
    out = tmp / "ddp" / "cli"
    assert (out / "model.pt").is_file() and len(json.loads((out / "train_log.json").read_text())) == 1
    assert proc.stdout.count("wrote ") == 1  # rank 0 only
    assert not list(out.glob("*.tmp"))


def test_sharded_dropout_gives_each_rank_the_rows_one_process_would_draw():
    from pushseg.training.distributed import DistContext, ShardedDropout

    x = torch.randn(8, 16, 1, 1) + 2.0
    torch.manual_seed(3)
    full = torch.nn.Dropout(0.5).train()(x)
    for rank in range(2):
        torch.manual_seed(3)
        part = ShardedDropout(0.5, DistContext(rank=rank, world=2)).train()(x[rank::2])
        assert torch.equal(part, full[rank::2])
    assert torch.equal(ShardedDropout(0.5, DistContext(0, 2)).eval()(x), x)
