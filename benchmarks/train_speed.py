"""Training speed: patches per second (json on stdout).

Synthetic shapes (no simulation needed). Two regimes: pretraining (trunk and both
heads, Adam) and the paper's fine-tuning (score head only, SGD, bootstrapping).
Each run trains one warm-up epoch and one timed epoch; the figure is the timed
epoch's patches over its wall time. Usage::

    python benchmarks/train_speed.py [--device cpu|cuda|auto] [--trunks small,resnet50] [--batches 10]
                                     [--batch-size 32] [--workers N] [--threads N] [--no-amp] [--no-channels-last]

``--device cuda`` runs both trunks by default (mixed precision: bf16 where the GPU
has it, channels-last, pinned memory); on CPU only the small trunk, unless
``--trunks`` says otherwise. ``--workers`` renders patches in DataLoader processes.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile

import torch

from pushseg.training.config import ModelConfig, TrainConfig
from pushseg.training.data import load_scene_set
from pushseg.training.engine import Trainer, pick_device
from pushseg.training.model import DeepMask
from pushseg.training.sampler import PatchSampler
from pushseg.training.synthetic import write_synthetic_set


def bench(model_cfg: ModelConfig, train_cfg: TrainConfig, images, tmp: str) -> dict:
    sampler = PatchSampler(images, model_cfg)
    torch.manual_seed(0)
    trainer = Trainer(DeepMask(model_cfg), sampler, train_cfg, tmp, progress=None)
    log = trainer.fit()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    s = log[-1]["time_s"]  # the second epoch: no start-up costs
    n = train_cfg.batches_per_epoch * train_cfg.batch_size
    return {"trunk": model_cfg.trunk, "device": trainer.device.type, "trunk_trained": train_cfg.train_trunk,
            "amp": str(trainer.amp_dtype).replace("torch.", "") if trainer.use_amp else "off",
            "channels_last": trainer.channels_last, "workers": train_cfg.workers,
            "patches_per_s": round(n / s, 1), "patches": n, "seconds": round(s, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--trunks", default=None, help="comma-separated (default: small on CPU, small,resnet50 on CUDA)")
    ap.add_argument("--batches", type=int, default=10, help="batches per timed epoch")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader processes rendering patches")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--no-channels-last", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    trunks = args.trunks.split(",") if args.trunks else (["small", "resnet50"] if device.type == "cuda" else ["small"])
    out = {"host": platform.node(), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "results": []}
    common = dict(epochs=2, batches_per_epoch=args.batches, batch_size=args.batch_size, device=str(device),
                  amp=not args.no_amp, channels_last=not args.no_channels_last, workers=args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        j = write_synthetic_set(tmp, 20, seed=0, height=540, width=960, objects=(2, 5), size_range=(40, 90))
        for trunk in trunks:
            mc = ModelConfig.preset(trunk)  # its own working width: 480 (small) or 960 (resnet50)
            images = load_scene_set(j, mc.work_width)
            pre = TrainConfig(optimizer="adam", train_trunk=True, train_mask=True, bootstrap=False, **common)
            fine = TrainConfig(**common)
            out["results"].append({"regime": "pretrain", **bench(mc, pre, images, tmp + f"/{trunk}p")})
            out["results"].append({"regime": "finetune", **bench(mc, fine, images, tmp + f"/{trunk}f")})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
