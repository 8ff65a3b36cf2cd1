"""The training loop shared by ``pushseg pretrain`` and ``pushseg finetune``.

Each batch holds positives and negatives; the mask loss (positives only) and the
score loss (weight ``score_weight`` when the mask head trains too, else 1) are
summed. Frozen parts stay in eval mode (batch-norm statistics fixed).

Outputs in ``out_dir``: ``model.pt`` (weights + config + meta), ``train_log.json``
(one entry per epoch: losses, score accuracy, mask IoU, ignored samples, time) and
``last.pt`` (model, optimizer, scheduler, epoch) from which ``resume`` continues.
Epoch ``e`` draws its patches from ``default_rng([seed, e])``, so a resumed run
sees the same data as an uninterrupted one.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pushseg.errors import InputError
from pushseg.training import losses as L
from pushseg.training.checkpoint import save_model
from pushseg.training.config import TrainConfig
from pushseg.training.model import DeepMask
from pushseg.training.sampler import PatchSampler


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda asked for, but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def set_trainable(model: DeepMask, cfg: TrainConfig) -> list[torch.nn.Parameter]:
    flags = {"trunk": cfg.train_trunk, "mask": cfg.train_mask, "score": cfg.train_score}
    params = []
    for part, modules in model.parts().items():
        for mod in modules:
            for p in mod.parameters():
                p.requires_grad_(flags[part])
                if flags[part]:
                    params.append(p)
    return params


def set_modes(model: DeepMask, cfg: TrainConfig) -> None:
    flags = {"trunk": cfg.train_trunk, "mask": cfg.train_mask, "score": cfg.train_score}
    for part, modules in model.parts().items():
        for mod in modules:
            mod.train(flags[part])


def make_optimizer(params: list, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class Trainer:
    def __init__(self, model: DeepMask, sampler: PatchSampler, cfg: TrainConfig, out_dir: str | os.PathLike,
                 meta: dict[str, Any] | None = None, progress: bool = True) -> None:
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.model = model.to(self.device)
        self.sampler = sampler
        self.out_dir = Path(out_dir)
        self.meta = meta or {}
        self.progress = progress
        # the start model, frozen, for the bootstrapping heuristic
        self.teacher = copy.deepcopy(model).eval() if cfg.bootstrap else None
        if self.teacher is not None:
            for p in self.teacher.parameters():
                p.requires_grad_(False)
        self.params = set_trainable(self.model, cfg)
        self.optimizer = make_optimizer(self.params, cfg)
        total = cfg.epochs * cfg.batches_per_epoch
        lam = (lambda it: 0.5 * (1 + math.cos(math.pi * min(it, total) / total))) if cfg.lr_decay == "cosine" else (lambda it: 1.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lam)
        self.use_amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.log: list[dict[str, Any]] = []
        self.start_epoch = 0

    # -- state -------------------------------------------------------------------------------
    def save_state(self, epoch: int) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "log": self.log,
            "train_config": self.cfg.to_dict(), "model_config": self.model.config.to_dict(),
        }
        tmp = self.out_dir / "last.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out_dir / "last.pt")
        tmp = self.out_dir / "train_log.json.tmp"
        tmp.write_text(json.dumps(self.log, indent=1))
        os.replace(tmp, self.out_dir / "train_log.json")

    def try_resume(self) -> bool:
        path = self.out_dir / "last.pt"
        if not path.is_file():
            return False
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
            raise InputError(f"{path}: cannot resume from this file ({type(e).__name__}); delete it to start over") from None
        if state.get("model_config") != self.model.config.to_dict():
            raise InputError(f"{path}: was written for another model config; delete it or use another --out")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.log = list(state["log"])
        self.start_epoch = int(state["epoch"]) + 1
        return True

    # -- one batch -----------------------------------------------------------------------------
    def step(self, batch: dict, epoch: int) -> dict[str, float]:
        cfg, model = self.cfg, self.model
        x = model.normalize(batch["images"].to(self.device))
        labels = batch["labels"].to(self.device)
        mask_labels = batch["masks"].to(self.device)
        pos = labels > 0
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp):
            if cfg.train_trunk:
                feat = model.features(x)
            else:
                with torch.no_grad():
                    feat = model.features(x)
            score = model.score_logits(feat).view(-1)
            teacher_score = None
            if self.teacher is not None:
                with torch.no_grad():
                    tfeat = feat.detach() if not cfg.train_trunk else self.teacher.features(x)
                    teacher_score = self.teacher.score_logits(tfeat).view(-1)
            m = model.config.mask_size
            mask_logits = model.mask_logits(feat).view(-1, m, m)  # always: its IoU is logged
        # score loss with its per-sample weights
        score_l = L.score_loss_per_sample(score, labels, cfg.noise, cfg.reed_beta)
        w = L.bootstrap_weights(labels, teacher_score)
        if cfg.noise == "self-paced":
            w = w * L.self_paced_weights(score_l, cfg.self_paced_lambda * cfg.self_paced_growth**epoch)
        elif cfg.noise == "small-loss":
            w = w * L.small_loss_weights(score_l, cfg.small_loss_drop, active=w > 0)
        score_loss = L.weighted_mean(score_l, w)
        mask_l = L.mask_loss_per_sample(mask_logits, mask_labels)
        mask_loss = mask_l[pos].mean() if pos.any() else mask_l.sum() * 0
        loss = torch.zeros((), device=self.device)
        if cfg.train_score:
            loss = loss + score_loss * (cfg.score_weight if cfg.train_mask else 1.0)
        if cfg.train_mask:
            loss = loss + mask_loss
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        with torch.no_grad():
            acc = ((score > 0) == pos).float().mean().item()
            pm, pl = mask_logits[pos] > 0, mask_labels[pos] > 0
            inter = (pm & pl).flatten(1).sum(1).float()
            union = (pm | pl).flatten(1).sum(1).float().clamp(min=1)
            iou = (inter / union).mean().item() if pos.any() else float("nan")
        return {"loss": loss.item(), "score_loss": score_loss.item(), "mask_loss": mask_loss.item(),
                "accuracy": acc, "mask_iou": iou, "ignored": float((w == 0).sum().item())}

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, resume: bool = False, desc: str = "train") -> list[dict[str, Any]]:
        cfg = self.cfg
        if resume and self.try_resume() and self.progress:
            tqdm.write(f"{desc}: resuming after epoch {self.start_epoch} from {self.out_dir / 'last.pt'}")
        for epoch in range(self.start_epoch, cfg.epochs):
            rng = np.random.default_rng([cfg.seed, epoch])
            torch.manual_seed(cfg.seed * 100_003 + epoch)
            set_modes(self.model, cfg)
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            bar = tqdm(range(cfg.batches_per_epoch), desc=f"{desc} epoch {epoch + 1}/{cfg.epochs}",
                       disable=not self.progress, leave=False, dynamic_ncols=True)
            for _ in bar:
                batch = self.sampler.batch(rng, cfg.batch_size)
                stats = self.step(batch, epoch)
                for k, v in stats.items():
                    if not math.isnan(v):
                        sums[k] = sums.get(k, 0.0) + v
                        counts[k] = counts.get(k, 0) + 1
                bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['accuracy']:.2f}")
            entry = {"epoch": epoch + 1, **{k: sums[k] / counts[k] for k in sums},
                     "lr": self.optimizer.param_groups[0]["lr"], "time_s": time.perf_counter() - t0}
            entry["ignored"] = sums.get("ignored", 0.0)  # a total, not a mean
            self.log.append(entry)
            if self.progress is not None:
                tqdm.write(f"{desc} epoch {epoch + 1}/{cfg.epochs}: loss {entry['loss']:.4f} "
                           f"acc {entry['accuracy']:.3f} mask IoU {entry.get('mask_iou', float('nan')):.3f} "
                           f"({entry['time_s']:.1f} s)")
            self.save_state(epoch)
        self.model.eval()
        meta = {**self.meta, "train_config": cfg.to_dict(), "log": self.log}
        save_model(self.model, self.out_dir / "model.pt", meta=meta)
        return self.log
