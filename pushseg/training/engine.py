"""The training loop, apart from what one step does.

:class:`TrainerBase` owns the loop (``fit``), the hooks and the state: any number of
named models, each with its optimizer, scheduler and gradient scaler, saved together
in ``last.pt`` and restored by ``fit(resume=True)``. A method is a subclass that
registers its networks and overrides :meth:`TrainerBase.run_step` (one batch in,
a dict of numbers out); checkpointing, the json log, evaluation and progress are
hooks (:mod:`pushseg.training.hooks`).

:class:`Trainer` is DeepMask's step, shared by ``pushseg pretrain`` and ``pushseg
finetune``: each batch holds positives and negatives; the mask loss (positives only)
and the score loss (weight ``score_weight`` when the mask head trains too, else 1)
are summed; frozen parts stay in eval mode (batch-norm statistics fixed); the score
loss goes through the noisy-label method named by ``TrainConfig.noise``
(:mod:`pushseg.training.noise`).

Outputs in ``out_dir``: ``model.pt`` (weights + config + meta), ``train_log.json``
(one entry per epoch: losses, score accuracy, mask IoU, ignored samples, time; never
NaN) and ``last.pt`` from which ``resume`` continues. Epoch ``e`` draws its patches
from ``default_rng([seed, e])`` and seeds torch with ``seed * 100003 + e``, so a
resumed run gives the same weights, bit for bit, as an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pushseg import files
from pushseg.errors import InputError
from pushseg.training import distributed as D
from pushseg.training import losses as L
from pushseg.training.checkpoint import save_model, torch_bytes
from pushseg.training.config import TrainConfig
from pushseg.training.hooks import CheckpointHook, HookBase, ProgressHook
from pushseg.training.model import DeepMask
from pushseg.training.noise import NoiseContext, get_noise_method

STATE_FORMAT = "pushseg-train-state"


class NonFiniteError(InputError):
    """The loss or the weights became NaN or infinite: training stops before writing them."""


def pick_device(name: str, ctx: D.DistContext | None = None) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``; under DDP plain ``cuda`` means this rank's local GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {name} asked for, but torch sees no CUDA device; use --device cpu")
    if name == "cuda" and ctx is not None and ctx.enabled:
        return torch.device("cuda", ctx.local_rank)
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


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    total = cfg.epochs * cfg.batches_per_epoch
    if cfg.lr_decay == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 0.5 * (1 + math.cos(math.pi * min(it, total) / total)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 1.0)


class _Drawn(torch.utils.data.Sampler):
    """Yields the samples drawn for this epoch's batches (iterated in the training process)."""

    def __init__(self) -> None:
        self.draws: list[list] = []

    def __iter__(self) -> Iterator[list]:
        return iter(self.draws)

    def __len__(self) -> int:
        return len(self.draws)


class _Collate(torch.utils.data.Dataset):
    """``dataset[samples]`` renders drawn samples into a batch: the part DataLoader workers do."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def __getitem__(self, samples: list) -> dict:
        return self.data.collate(samples)


def _one_thread(_: int) -> None:
    """DataLoader workers: one thread each, so N workers use N cores."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


class TrainerBase:
    """The loop: ``fit`` calls ``run_step`` once per batch and the hooks around it.

    ``data`` draws samples with ``draw(rng, n) -> list`` (all randomness there, in this
    process) and turns them into a batch with ``collate(samples)`` (no randomness, so
    DataLoader workers and DDP ranks may do it). A subclass registers its models with
    :meth:`register` and implements :meth:`run_step`, calling :meth:`update` for each
    optimizer.
    """

    desc = "train"
    sum_stats: tuple[str, ...] = ("ignored",)  # step numbers summed over an epoch (the rest are averaged)

    def __init__(self, data: Any, cfg: TrainConfig, out_dir: str | os.PathLike, progress: bool | None = True) -> None:
        self.cfg = cfg
        self.data = data
        self.out_dir = Path(out_dir)
        self.progress = progress
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.dist = D.init_distributed(pick_device(cfg.device).type)
        self.device = pick_device(cfg.device, self.dist)
        if self.dist.enabled and cfg.batch_size % self.dist.world:
            raise InputError(f"batch_size {cfg.batch_size} must be a multiple of the {self.dist.world} DDP processes")
        self.models: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.extra_hooks: list[HookBase] = []
        self.hooks: list[HookBase] = []
        self.log: list[dict[str, Any]] = []
        self.start_epoch = 0
        self.epoch = 0
        self.iter = 0
        self.step_stats: dict[str, float] = {}
        self.rng = np.random.default_rng([cfg.seed, 0])
        self._loader: torch.utils.data.DataLoader | None = None
        self._drawn: _Drawn | None = None

    # -- what a subclass provides --------------------------------------------------------------
    def run_step(self, batch: Any) -> dict[str, float]:
        """One batch: forward, losses, :meth:`update` per optimizer; returns numbers for the log (``loss`` at least)."""
        raise NotImplementedError

    def set_modes(self) -> None:
        """Put models into train/eval mode at the start of each epoch."""
        for m in self.models.values():
            m.train()

    def after_fit(self) -> None:
        """After the last epoch, on every rank, before the ``after_train`` hooks."""
        for m in self.models.values():
            m.eval()

    def build_hooks(self) -> list[HookBase]:
        """Progress, then hooks added with :meth:`register_hooks`, then the checkpoint (rank 0 only writes)."""
        if not self.dist.is_main:
            return list(self.extra_hooks)
        hooks: list[HookBase] = []
        if self.progress is not None:
            hooks.append(ProgressHook(self.desc, bars=bool(self.progress)))
        return hooks + list(self.extra_hooks) + [CheckpointHook()]

    # -- registration and one optimizer step ---------------------------------------------------
    def register(self, name: str, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 scheduler: Any = None, scaler: torch.amp.GradScaler | None = None) -> None:
        """Add a model (and its optimizer, scheduler, scaler) to the saved and restored state."""
        self.models[name] = model
        if optimizer is not None:
            self.optimizers[name] = optimizer
        if scheduler is not None:
            self.schedulers[name] = scheduler
        if scaler is not None:
            self.scalers[name] = scaler
        D.broadcast_state(model, self.dist)

    def register_hooks(self, hooks: list[HookBase]) -> None:
        self.extra_hooks.extend(hooks)

    def update(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss`` and step optimizer ``name`` (gradients averaged over DDP ranks), then its scheduler."""
        opt, scaler = self.optimizers[name], self.scalers.get(name)
        opt.zero_grad(set_to_none=True)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        D.average_gradients([p for g in opt.param_groups for p in g["params"]], self.dist)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        if name in self.schedulers:
            self.schedulers[name].step()
        if name in self.models:
            D.average_buffers(self.models[name], self.dist)

    def check_loss(self, loss: torch.Tensor, name: str = "loss") -> None:
        """Stop (on every rank) before a NaN or infinite loss reaches the weights."""
        bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).all() else 1.0], device=self.device)
        if self.dist.enabled:
            torch.distributed.all_reduce(bad)
        if bad.item() > 0:
            self._non_finite(f"the {name} became {loss.detach().float().sum().item()}")

    def _non_finite(self, what: str) -> None:
        lr = self.cfg.lr
        last = self.out_dir / "last.pt"
        keep = f"{last} holds the last finished epoch" if self.epoch > self.start_epoch or last.is_file() else \
            "nothing was written"
        raise NonFiniteError(f"training stopped in epoch {self.epoch + 1}, batch {self.iter + 1}: {what} "
                             f"(lr {lr:g}); lower the learning rate or check the labels; {keep}")

    # -- data --------------------------------------------------------------------------------
    def epoch_batches(self) -> Iterator[Any]:
        """This epoch's batches, in order; each rank gets samples ``rank::world`` of every global batch."""
        cfg, ctx = self.cfg, self.dist
        pin = self.device.type == "cuda"

        def draw() -> list:
            samples = self.data.draw(self.rng, cfg.batch_size)
            return samples[ctx.rank::ctx.world] if ctx.enabled else samples

        if cfg.workers == 0 and not pin:
            for _ in range(cfg.batches_per_epoch):
                yield self.data.collate(draw())
            return
        if self._loader is None:
            # forkserver: workers do not inherit the OpenMP/OpenCV thread pools of this process (fork would hang);
            # persistent: the data set is sent to each worker once per fit, not once per epoch
            self._drawn = _Drawn()
            self._loader = torch.utils.data.DataLoader(
                _Collate(self.data), batch_size=None, sampler=self._drawn, num_workers=cfg.workers, pin_memory=pin,
                persistent_workers=cfg.workers > 0, worker_init_fn=_one_thread if cfg.workers else None,
                multiprocessing_context="forkserver" if cfg.workers else None,
                generator=torch.Generator())  # its own: the global torch generator (dropout) stays untouched
        self._drawn.draws = [draw() for _ in range(cfg.batches_per_epoch)]
        yield from self._loader

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT, "epoch": self.epoch, "log": self.log, "train_config": self.cfg.to_dict(),
            "models": {k: m.state_dict() for k, m in self.models.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
            "hooks": [h.state_dict() for h in self.hooks],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for kind, own in (("models", self.models), ("optimizers", self.optimizers), ("schedulers", self.schedulers),
                          ("scalers", self.scalers)):
            saved = state.get(kind, {})
            if set(saved) != set(own):
                raise InputError(f"the saved state holds {kind} {sorted(saved)} but this trainer has {sorted(own)}")
            for k, obj in own.items():
                obj.load_state_dict(saved[k])
        for h, s in zip(self.hooks, state.get("hooks", [])):
            h.load_state_dict(s)
        self.log = list(state["log"])
        self.start_epoch = int(state["epoch"]) + 1

    def check_finite_weights(self) -> None:
        for name, model in self.models.items():
            bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
            if bad:
                self._non_finite(f"{len(bad)} weight tensors of '{name}' became NaN or infinite (e.g. {bad[0]})")

    def save_state(self, path: Path) -> None:
        self.check_finite_weights()
        files.write_atomic(path, torch_bytes(self.state_dict()), sync_dir=False)

    def upgrade_state(self, state: dict[str, Any], path: Path) -> dict[str, Any]:
        """Check (and convert older layouts of) a loaded ``last.pt``; errors name ``path``."""
        if state.get("format") != STATE_FORMAT:
            raise InputError(f"{path}: not a pushseg training state; delete it to start over")
        return state

    def try_resume(self) -> bool:
        path = self.out_dir / "last.pt"
        if not path.is_file():
            return False
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
            raise InputError(f"{path}: cannot resume from this file ({type(e).__name__}); delete it to start over") from None
        if not isinstance(state, dict):
            raise InputError(f"{path}: not a pushseg training state; delete it to start over")
        state = self.upgrade_state(state, path)
        try:
            self.load_state_dict(state)
        except InputError as e:
            raise InputError(f"{path}: {e}; delete it or use another --out") from None
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise InputError(f"{path}: does not fit this trainer ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:120]}); delete it or use another --out") from None
        return True

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, resume: bool = False, desc: str | None = None) -> list[dict[str, Any]]:
        """Train from ``start_epoch`` (after ``last.pt`` when ``resume``) to ``cfg.epochs``; returns the log."""
        cfg = self.cfg
        if desc:
            self.desc = desc
        self.hooks = self.build_hooks()
        for h in self.hooks:
            h.trainer = self
        if resume and self.try_resume() and self.progress and self.dist.is_main:
            tqdm.write(f"{self.desc}: resuming after epoch {self.start_epoch} from {self.out_dir / 'last.pt'}")
        self._call("before_train")
        for epoch in range(self.start_epoch, cfg.epochs):
            self.epoch = epoch
            self.rng = np.random.default_rng([cfg.seed, epoch])
            torch.manual_seed(cfg.seed * 100_003 + epoch)
            self.set_modes()
            self._call("before_epoch")
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            for self.iter, batch in enumerate(self.epoch_batches()):
                self._call("before_step")
                stats = D.reduce_stats(self.run_step(batch), self.dist, self.sum_stats, self.device)
                if not math.isfinite(stats.get("loss", 0.0)):
                    self._non_finite(f"the loss became {stats['loss']}")
                self.step_stats = stats
                for k, v in stats.items():
                    if not math.isnan(v):
                        sums[k] = sums.get(k, 0.0) + v
                        counts[k] = counts.get(k, 0) + 1
                self._call("after_step")
            entry: dict[str, Any] = {"epoch": epoch + 1, **{k: sums[k] / counts[k] for k in sums}}
            if self.optimizers:
                entry["lr"] = next(iter(self.optimizers.values())).param_groups[0]["lr"]
            entry["time_s"] = time.perf_counter() - t0
            for k in self.sum_stats:
                if k in sums:
                    entry[k] = sums[k]  # a total, not a mean
            self.log.append(entry)
            self._call("after_epoch")
        self._loader = None  # persistent DataLoader workers end here
        self.after_fit()
        self._call("after_train")
        D.barrier(self.dist)
        return self.log

    def _call(self, point: str) -> None:
        for h in self.hooks:
            getattr(h, point)()


# Keys of a log entry that vary between identical trainings (wall times): kept in
# train_log.json, left out of model.pt so that identical trainings give identical bytes.
VOLATILE_LOG_KEYS = ("time_s",)


class FinalModelHook(HookBase):
    """After training: ``model.pt`` with the training config and log (times aside) in its meta."""

    def __init__(self, name: str = "model", file: str = "model.pt") -> None:
        self.name, self.file = name, file

    def after_train(self) -> None:
        t = self.trainer
        t.check_finite_weights()
        log = [{k: v for k, v in e.items() if k not in VOLATILE_LOG_KEYS} for e in t.log]
        meta = {**getattr(t, "meta", {}), "train_config": t.cfg.to_dict(), "log": log}
        save_model(t.models[self.name], t.out_dir / self.file, meta=meta)


class Trainer(TrainerBase):
    """DeepMask on patches: one network, its noisy-label method from the registry."""

    desc = "train"

    def __init__(self, model: DeepMask, sampler: Any, cfg: TrainConfig, out_dir: str | os.PathLike,
                 meta: dict[str, Any] | None = None, progress: bool | None = True, desc: str | None = None) -> None:
        super().__init__(sampler, cfg, out_dir, progress)
        if desc:
            self.desc = desc
        self.sampler = sampler
        self.meta = meta or {}
        self.method = get_noise_method(cfg.noise)
        self.check_method()
        self.use_amp = cfg.amp and self.device.type == "cuda"
        bf16 = self.use_amp and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.channels_last = cfg.channels_last and self.device.type == "cuda"
        self.model = self.prepare(model)
        self.add_network("model", self.model)  # under DDP every rank now holds rank 0's weights
        # the start model, frozen, for the bootstrapping heuristic
        self.teacher = copy.deepcopy(self.model).eval() if (cfg.bootstrap or self.method.needs_teacher) else None
        if self.teacher is not None:
            for p in self.teacher.parameters():
                p.requires_grad_(False)

    def check_method(self) -> None:
        if self.method.needs_peer:
            raise InputError(f"noise method '{self.method.name}' needs two networks; train it with "
                             "pushseg.training.coteaching.CoTeachingTrainer (the recipes pick it for you)")

    def prepare(self, model: DeepMask) -> DeepMask:
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        D.shard_dropout(model, self.dist)
        return model

    def add_network(self, name: str, model: DeepMask) -> None:
        """Register a DeepMask with its own optimizer, scheduler and scaler (state saved under ``name``)."""
        optimizer = make_optimizer(set_trainable(model, self.cfg), self.cfg)
        scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.register(name, model, optimizer, make_scheduler(optimizer, self.cfg), scaler)

    # aliases of the single network's parts, for callers that know one model
    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.optimizers["model"]

    @property
    def scheduler(self) -> Any:
        return self.schedulers["model"]

    @property
    def scaler(self) -> torch.amp.GradScaler:
        return self.scalers["model"]

    def build_hooks(self) -> list[HookBase]:
        hooks = super().build_hooks()
        return hooks + [FinalModelHook()] if self.dist.is_main else hooks

    def set_modes(self) -> None:
        for m in self.models.values():
            set_modes(m, self.cfg)

    def upgrade_state(self, state: dict[str, Any], path: Path) -> dict[str, Any]:
        if "format" not in state and "model" in state:  # the one-model layout written before the trainer split
            state = {**state, "format": STATE_FORMAT, "models": {"model": state["model"]},
                     "optimizers": {"model": state["optimizer"]}, "schedulers": {"model": state["scheduler"]},
                     "scalers": {"model": state["scaler"]}}
        state = super().upgrade_state(state, path)
        if state.get("model_config") != self.model.config.to_dict():
            raise InputError(f"{path}: was written for another model config; delete it or use another --out")
        return state

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "model_config": self.model.config.to_dict()}

    # -- one batch -----------------------------------------------------------------------------
    def inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        nb = self.device.type == "cuda"
        depth = batch.get("depth")
        x = self.model.normalize(batch["images"].to(self.device, non_blocking=nb),
                                 None if depth is None else depth.to(self.device, non_blocking=nb))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, batch["labels"].to(self.device, non_blocking=nb), batch["masks"].to(self.device, non_blocking=nb)

    def forward(self, model: DeepMask, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> shared features, score logits (B,), mask logits (B, m, m); the trunk under no_grad when frozen."""
        if self.cfg.train_trunk:
            feat = model.features(x)
        else:
            with torch.no_grad():
                feat = model.features(x)
        score = model.score_logits(feat).view(-1)
        m = model.config.mask_size
        return feat, score, model.mask_logits(feat).view(-1, m, m)  # masks always: their IoU is logged

    def teacher_logits(self, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor | None:
        if self.teacher is None:
            return None
        with torch.no_grad():
            tfeat = feat.detach() if not self.cfg.train_trunk else self.teacher.features(x)
            return self.teacher.score_logits(tfeat).view(-1)

    def autocast(self) -> Any:
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.use_amp)

    def select(self, losses: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor | None,
               peer_losses: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample weights of this rank's samples, chosen by the noise method over the global batch."""
        g = lambda t: None if t is None else D.gather_batch(t.detach(), self.dist)  # noqa: E731
        labels_g, teacher_g = g(labels), g(teacher)
        w = L.bootstrap_weights(labels_g, teacher_g if self.cfg.bootstrap else None)
        ctx = NoiseContext(self.cfg, self.epoch, labels_g, g(losses), w, teacher_g, g(peer_losses))
        return D.local_rows(self.method.select(ctx), self.dist)

    def total_loss(self, score_loss: torch.Tensor, mask_loss: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        loss = torch.zeros((), device=self.device)
        if cfg.train_score:
            loss = loss + score_loss * (cfg.score_weight if cfg.train_mask else 1.0)
        if cfg.train_mask:
            loss = loss + mask_loss
        return loss

    @staticmethod
    def mask_loss(mask_logits: torch.Tensor, mask_labels: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        mask_l = L.mask_loss_per_sample(mask_logits, mask_labels)
        return mask_l[pos].mean() if pos.any() else mask_l.sum() * 0

    @staticmethod
    def stats(loss: torch.Tensor, score_loss: torch.Tensor, mask_loss: torch.Tensor, score: torch.Tensor,
              mask_logits: torch.Tensor, mask_labels: torch.Tensor, pos: torch.Tensor, w: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            acc = ((score > 0) == pos).float().mean().item()
            pm, pl = mask_logits[pos] > 0, mask_labels[pos] > 0
            inter = (pm & pl).flatten(1).sum(1).float()
            union = (pm | pl).flatten(1).sum(1).float().clamp(min=1)
            iou = (inter / union).mean().item() if pos.any() else float("nan")
        return {"loss": loss.item(), "score_loss": score_loss.item(), "mask_loss": mask_loss.item(),
                "accuracy": acc, "mask_iou": iou, "ignored": float((w == 0).sum().item())}

    def run_step(self, batch: dict) -> dict[str, float]:
        x, labels, mask_labels = self.inputs(batch)
        pos = labels > 0
        with self.autocast():
            feat, score, mask_logits = self.forward(self.model, x)
            teacher = self.teacher_logits(x, feat)
        score_l = self.method.loss(score, labels, self.cfg)
        w = self.select(score_l, labels, teacher)
        score_loss = L.weighted_mean(score_l, w)
        mask_loss = self.mask_loss(mask_logits, mask_labels, pos)
        loss = self.total_loss(score_loss, mask_loss)
        self.check_loss(loss)
        self.update("model", loss)
        return self.stats(loss, score_loss, mask_loss, score, mask_logits, mask_labels, pos, w)
