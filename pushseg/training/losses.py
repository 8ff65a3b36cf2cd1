"""DeepMask losses and the per-sample weights that handle noisy labels.

All losses are the soft-margin (logistic) loss ``log(1 + exp(-y x))`` on labels
``y in {-1, +1}``, returned per sample so that weights can switch samples off.
A weight of exactly 0 gives exactly zero gradient for that sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log(1 + exp(-y x))``."""
    return F.softplus(-labels * logits)


def mask_loss_per_sample(mask_logits: torch.Tensor, mask_labels: torch.Tensor) -> torch.Tensor:
    """(B, m, m) logits and +-1 labels -> (B,) mean pixel loss."""
    return soft_margin(mask_logits.float(), mask_labels).flatten(1).mean(1)


def score_loss_per_sample(score_logits: torch.Tensor, labels: torch.Tensor, noise: str = "none",
                          beta: float = 0.7) -> torch.Tensor:
    """(B,) score loss; ``noise='reed-hard'`` mixes the label with the hard prediction (Reed et al.)."""
    s = score_logits.float()
    if noise != "reed-hard":
        return soft_margin(s, labels)
    y01 = (labels > 0).float()
    hard = (s.detach() > 0).float()
    target = beta * y01 + (1 - beta) * hard
    return F.binary_cross_entropy_with_logits(s, target, reduction="none")


def bootstrap_weights(labels: torch.Tensor, teacher_logits: torch.Tensor | None, threshold: float = 0.5) -> torch.Tensor:
    """1 everywhere except background-labelled samples the start model calls object (p > threshold)."""
    w = torch.ones_like(labels, dtype=torch.float32)
    if teacher_logits is None:
        return w
    suspicious = (labels < 0) & (torch.sigmoid(teacher_logits.float()) > threshold)
    return w.masked_fill(suspicious, 0.0)


def self_paced_weights(losses: torch.Tensor, lam: float) -> torch.Tensor:
    """Keep samples whose loss is at most ``lam`` (Kumar et al.)."""
    return (losses.detach() <= lam).float()


def small_loss_weights(losses: torch.Tensor, drop: float, active: torch.Tensor | None = None) -> torch.Tensor:
    """Drop the ``drop`` share of highest-loss samples (among ``active`` ones) of the batch."""
    active = torch.ones_like(losses, dtype=torch.bool) if active is None else active.bool()
    w = active.float()
    n_drop = int(drop * int(active.sum()))  # an integer count, rounded down
    if n_drop > 0:
        l = losses.detach().masked_fill(~active, float("-inf"))
        w[torch.topk(l, n_drop).indices] = 0.0
    return w


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum of weighted losses over the batch size (a constant, so dropping a sample does not rescale others)."""
    return (losses * weights).sum() / max(1, losses.numel())
