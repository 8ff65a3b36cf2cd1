"""Co-teaching (Han et al. 2018) for DeepMask's score head: two networks that pick samples for each other.

Done as the method describes, avoiding the mistakes a reimplementation can make:

* **different initial weights**: the peer is the start model with every trainable
  tensor moved by ``coteaching_peer_noise`` x its own standard deviation x N(0, 1)
  (a seeded generator), so the two networks start apart but keep what pretraining
  taught them (fine-tuning from scratch would throw that away);
* **separate optimizer states**: each network has its own optimizer, scheduler and
  gradient scaler, saved under its own name in ``last.pt``;
* **cross selection**: each network ranks the batch by its own loss and the *other*
  network learns from the samples it finds easiest (``noise.coteaching``);
* **integer selection counts**: ``floor(forget_rate x n)`` of the ``n`` eligible
  samples are dropped (samples the bootstrapping heuristic ignores are not eligible);
* **forget-rate ramp**: the forget rate grows linearly from 0 at the first epoch to
  ``small_loss_drop`` after ``coteaching_ramp_epochs`` epochs (Han et al. ramp over
  their first 10 of 200 epochs; the paper's fine-tuning has 10 epochs, so the default
  ramp is 5).

``model.pt`` is the first network (the one that started from the start model);
``model_peer.pt`` is the second.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import torch

from pushseg.training import losses as L
from pushseg.training.config import TrainConfig
from pushseg.training.engine import FinalModelHook, Trainer, set_trainable
from pushseg.training.hooks import HookBase
from pushseg.training.model import DeepMask
from pushseg.training.noise import forget_rate


def make_peer(model: DeepMask, cfg: TrainConfig) -> DeepMask:
    """A copy of ``model`` whose trainable tensors are moved by ``cfg.coteaching_peer_noise`` of their spread."""
    peer = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + 77_777)
    with torch.no_grad():
        for p in set_trainable(peer, cfg):
            if p.numel() > 1:
                noise = torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.device, p.dtype)
                p.add_(noise * (cfg.coteaching_peer_noise * p.float().std().item()))
    return peer


class CoTeachingTrainer(Trainer):
    """Two DeepMask networks, ``model`` and ``peer``; each learns from the samples the other finds easiest."""

    def __init__(self, model: DeepMask, sampler: Any, cfg: TrainConfig, out_dir: str | os.PathLike,
                 meta: dict[str, Any] | None = None, progress: bool | None = True, desc: str | None = None) -> None:
        super().__init__(model, sampler, cfg, out_dir, meta=meta, progress=progress, desc=desc)
        self.peer = self.prepare(make_peer(self.model, cfg))
        self.add_network("peer", self.peer)
        self.last_kept: tuple[int, int] = (0, 0)  # samples each network learned from in the last step (this rank)

    def check_method(self) -> None:
        pass  # every method works with two networks; only 'coteaching' makes them select for each other

    def build_hooks(self) -> list[HookBase]:
        hooks = super().build_hooks()
        return hooks + [FinalModelHook("peer", "model_peer.pt")] if self.dist.is_main else hooks

    def run_step(self, batch: dict) -> dict[str, float]:
        cfg = self.cfg
        x, labels, mask_labels = self.inputs(batch)
        pos = labels > 0
        with self.autocast():
            feat, score, mask_logits = self.forward(self.model, x)
            _, peer_score, peer_mask_logits = self.forward(self.peer, x)
            teacher = self.teacher_logits(x, feat)
        loss_a = self.method.loss(score, labels, cfg)
        loss_b = self.method.loss(peer_score, labels, cfg)
        w_a = self.select(loss_a, labels, teacher, peer_losses=loss_b)  # the peer picks for the model
        w_b = self.select(loss_b, labels, teacher, peer_losses=loss_a)  # and the model for the peer
        score_a, score_b = L.weighted_mean(loss_a, w_a), L.weighted_mean(loss_b, w_b)
        mask_a = self.mask_loss(mask_logits, mask_labels, pos)
        mask_b = self.mask_loss(peer_mask_logits, mask_labels, pos)
        total_a, total_b = self.total_loss(score_a, mask_a), self.total_loss(score_b, mask_b)
        self.check_loss(total_a)
        self.check_loss(total_b, "peer's loss")
        self.update("model", total_a)
        self.update("peer", total_b)
        self.last_kept = (int((w_a > 0).sum()), int((w_b > 0).sum()))
        stats = self.stats(total_a, score_a, mask_a, score, mask_logits, mask_labels, pos, w_a)
        stats["peer_loss"] = total_b.item()
        stats["forget_rate"] = forget_rate(cfg, self.epoch) if self.method.needs_peer else 0.0
        return stats
