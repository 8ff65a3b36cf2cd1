"""Training speed: patches per second (json on stdout).

Synthetic shapes (no simulation needed). Two regimes: pretraining (trunk and
both heads, Adam) and the paper's fine-tuning (score head only, SGD, bootstrapping).
Small trunk on CPU; ResNet-50 on CUDA (mixed precision) when there is a GPU. Usage::

    python benchmarks/train_speed.py [--batches 10] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

import torch

from pushseg.training.config import ModelConfig, TrainConfig
from pushseg.training.data import load_scene_set
from pushseg.training.engine import Trainer
from pushseg.training.model import DeepMask
from pushseg.training.sampler import PatchSampler
from pushseg.training.synthetic import write_synthetic_set


def bench(model_cfg: ModelConfig, train_cfg: TrainConfig, images, tmp: str) -> dict:
    sampler = PatchSampler(images, model_cfg)
    trainer = Trainer(DeepMask(model_cfg), sampler, train_cfg, tmp, progress=None)
    t0 = time.perf_counter()
    trainer.fit()
    s = time.perf_counter() - t0
    n = train_cfg.epochs * train_cfg.batches_per_epoch * train_cfg.batch_size
    return {"trunk": model_cfg.trunk, "device": trainer.device.type, "trunk_trained": train_cfg.train_trunk,
            "patches_per_s": round(n / s, 1), "patches": n, "seconds": round(s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {"host": platform.node(), "torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    with tempfile.TemporaryDirectory() as tmp:
        j = write_synthetic_set(tmp, 20, seed=0, height=270, width=480, objects=(2, 5), size_range=(20, 45))
        runs = [("small", "cpu")] + ([("resnet50", "cuda")] if torch.cuda.is_available() else [])
        for trunk, device in runs:
            mc = ModelConfig.preset(trunk, work_width=480)
            images = load_scene_set(j, mc.work_width)
            pre = TrainConfig(epochs=1, batches_per_epoch=args.batches, optimizer="adam", train_trunk=True,
                              train_mask=True, bootstrap=False, device=device)
            fine = TrainConfig(epochs=1, batches_per_epoch=args.batches, device=device)
            out["results"].append({"regime": "pretrain", **bench(mc, pre, images, tmp + f"/{trunk}p")})
            out["results"].append({"regime": "finetune", **bench(mc, fine, images, tmp + f"/{trunk}f")})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
