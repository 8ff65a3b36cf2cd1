"""Noisy-label methods for the score loss, as a registry of named functions (Table III of the paper).

A method has two parts:

* ``loss(logits, labels, cfg)`` -- the per-sample score loss (differentiable); the
  soft-margin loss for every method except ``reed-hard``;
* ``select(ctx)`` -- per-sample weights in {0, 1} from *detached* numbers of the whole
  batch (its losses, labels, the start model's logits, the peer network's losses).
  Under DDP the trainer gathers these over every rank first, so a method that ranks
  samples (small-loss, co-teaching) ranks the global batch exactly as one process would.

``TrainConfig.noise`` names the method; ``TrainConfig.bootstrap`` is the paper's
bootstrapping heuristic, applied before the method (``ctx.weights``) and on by default,
as in the SelfDeepMask recipe. For the rows of Table III use ``bootstrap=False`` and
``noise=<row>``: ``none`` (no noise handling), ``reed-hard``, ``bootstrapping``
(the heuristic alone), ``self-paced``, ``small-loss``, ``coteaching``.

A new method is one decorated function::

    @register_noise_method("my-method")
    def my_method(ctx: NoiseContext) -> torch.Tensor:
        return ctx.weights * (ctx.losses < 1.0).float()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from pushseg.errors import InputError
from pushseg.training import losses as L


class NoiseSettings(Protocol):
    """The settings the methods read (fields of ``training.config.TrainConfig``, which imports this registry)."""

    bootstrap: bool
    coteaching_ramp_epochs: int
    reed_beta: float
    self_paced_growth: float
    self_paced_lambda: float
    small_loss_drop: float


@dataclass
class NoiseContext:
    """Everything a selection may look at; every tensor is (B,) over the (global) batch, detached."""

    cfg: NoiseSettings
    epoch: int  # 0-based
    labels: torch.Tensor  # +1 object, -1 background
    losses: torch.Tensor  # this network's per-sample score loss
    weights: torch.Tensor  # weights so far (bootstrapping heuristic when cfg.bootstrap, else ones)
    teacher_logits: torch.Tensor | None = None  # the frozen start model's score logits
    peer_losses: torch.Tensor | None = None  # the other network's per-sample loss (co-teaching)


LossFn = Callable[[torch.Tensor, torch.Tensor, NoiseSettings], torch.Tensor]
SelectFn = Callable[[NoiseContext], torch.Tensor]


@dataclass(frozen=True)
class NoiseMethod:
    name: str
    select: SelectFn
    loss: LossFn
    needs_teacher: bool = False  # the trainer keeps a frozen copy of the start model
    needs_peer: bool = False  # the method needs two networks (a trainer such as CoTeachingTrainer)


def soft_margin_loss(logits: torch.Tensor, labels: torch.Tensor, cfg: NoiseSettings) -> torch.Tensor:
    return L.score_loss_per_sample(logits, labels)


def reed_hard_loss(logits: torch.Tensor, labels: torch.Tensor, cfg: NoiseSettings) -> torch.Tensor:
    return L.score_loss_per_sample(logits, labels, "reed-hard", cfg.reed_beta)


NOISE_METHODS: dict[str, NoiseMethod] = {}


def register_noise_method(name: str, loss: LossFn = soft_margin_loss, needs_teacher: bool = False,
                          needs_peer: bool = False) -> Callable[[SelectFn], SelectFn]:
    def wrap(fn: SelectFn) -> SelectFn:
        NOISE_METHODS[name] = NoiseMethod(name, fn, loss, needs_teacher, needs_peer)
        return fn
    return wrap


def get_noise_method(name: str) -> NoiseMethod:
    if name not in NOISE_METHODS:
        raise InputError(f"noise method '{name}' is unknown; use one of {', '.join(NOISE_METHODS)}")
    return NOISE_METHODS[name]


@register_noise_method("none")
def keep_all(ctx: NoiseContext) -> torch.Tensor:
    """No noise handling beyond ``ctx.weights``."""
    return ctx.weights


@register_noise_method("reed-hard", loss=reed_hard_loss)
def reed_hard(ctx: NoiseContext) -> torch.Tensor:
    """Reed et al. 2015, hard bootstrap: the target mixes label and hard prediction (the loss does it)."""
    return ctx.weights


@register_noise_method("bootstrapping", needs_teacher=True)
def bootstrapping(ctx: NoiseContext) -> torch.Tensor:
    """The paper's heuristic as a method: no gradient on negatives the start model calls object (p > 0.5)."""
    return ctx.weights * L.bootstrap_weights(ctx.labels, ctx.teacher_logits)


@register_noise_method("self-paced")
def self_paced(ctx: NoiseContext) -> torch.Tensor:
    """Kumar et al. 2010: keep samples with loss <= lambda, lambda = lambda0 x growth^epoch."""
    lam = ctx.cfg.self_paced_lambda * ctx.cfg.self_paced_growth**ctx.epoch
    return ctx.weights * L.self_paced_weights(ctx.losses, lam)


@register_noise_method("small-loss")
def small_loss(ctx: NoiseContext) -> torch.Tensor:
    """Han et al. 2018, one network: drop the ``small_loss_drop`` share of highest-loss samples."""
    return ctx.weights * L.small_loss_weights(ctx.losses, ctx.cfg.small_loss_drop, active=ctx.weights > 0)


def forget_rate(cfg: NoiseSettings, epoch: int) -> float:
    """Co-teaching's forget rate: 0 at epoch 0, linear to ``small_loss_drop`` at ``coteaching_ramp_epochs``."""
    if cfg.coteaching_ramp_epochs <= 0:
        return cfg.small_loss_drop
    return cfg.small_loss_drop * min(1.0, epoch / cfg.coteaching_ramp_epochs)


@register_noise_method("coteaching", needs_peer=True)
def coteaching(ctx: NoiseContext) -> torch.Tensor:
    """Han et al. 2018: keep the samples the *peer* network finds easiest (an integer count)."""
    if ctx.peer_losses is None:
        raise InputError("noise method 'coteaching' needs two networks: train it with CoTeachingTrainer "
                         "(the recipes pick it for noise='coteaching')")
    return ctx.weights * L.small_loss_weights(ctx.peer_losses, forget_rate(ctx.cfg, ctx.epoch), active=ctx.weights > 0)
