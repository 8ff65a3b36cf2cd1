"""Hooks: what the training loop does around its steps, apart from the steps.

A hook sees the trainer (``self.trainer``) and may act before/after training, each
epoch and each step. The loop calls them in list order; after an epoch the trainer
has already appended that epoch's entry to ``trainer.log``, so an evaluation hook
placed before the checkpoint hook adds its numbers to the entry that gets saved.
Hooks with state return it from ``state_dict`` and it travels in ``last.pt``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Protocol

from tqdm import tqdm

from pushseg import files


class TrainerBase(Protocol):
    """What a hook may read of the trainer running it (``engine.TrainerBase``; the engine imports hooks, not
    the other way round)."""

    cfg: Any  # the TrainConfig
    epoch: int
    log: list[dict[str, Any]]
    out_dir: Path
    step_stats: dict[str, float]

    def save_state(self, path: Path) -> None: ...


class HookBase:
    trainer: TrainerBase

    def before_train(self) -> None: ...
    def after_train(self) -> None: ...
    def before_epoch(self) -> None: ...
    def after_epoch(self) -> None: ...
    def before_step(self) -> None: ...
    def after_step(self) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def finite_or_none(obj: Any) -> Any:
    """A copy with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def write_json_atomic(path: Path, obj: Any) -> None:
    files.write_text_atomic(path, json.dumps(finite_or_none(obj), indent=1, allow_nan=False), sync_dir=False)


class ProgressHook(HookBase):
    """A tqdm bar per epoch (``bars``) and one summary line per epoch."""

    def __init__(self, desc: str, bars: bool = True) -> None:
        self.desc, self.bars, self.bar = desc, bars, None

    def before_epoch(self) -> None:
        t = self.trainer
        self.bar = tqdm(total=t.cfg.batches_per_epoch, desc=f"{self.desc} epoch {t.epoch + 1}/{t.cfg.epochs}",
                        disable=not self.bars, leave=False, dynamic_ncols=True)

    def after_step(self) -> None:
        s = self.trainer.step_stats
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{s['loss']:.3f}", acc=f"{s.get('accuracy', float('nan')):.2f}")

    def after_epoch(self) -> None:
        self.bar.close()
        t, e = self.trainer, self.trainer.log[-1]
        tqdm.write(f"{self.desc} epoch {t.epoch + 1}/{t.cfg.epochs}: loss {e['loss']:.4f} "
                   f"acc {e.get('accuracy', float('nan')):.3f} mask IoU {e.get('mask_iou', float('nan')):.3f} "
                   f"({e['time_s']:.1f} s)")


class CheckpointHook(HookBase):
    """After every epoch: ``last.pt`` (the trainer's whole state) and ``train_log.json``, both atomic."""

    def after_epoch(self) -> None:
        t = self.trainer
        t.out_dir.mkdir(parents=True, exist_ok=True)
        t.save_state(t.out_dir / "last.pt")
        write_json_atomic(t.out_dir / "train_log.json", t.log)


class EvalHook(HookBase):
    """Every ``period`` epochs (and after the last), ``fn(trainer) -> dict`` adds its numbers to the epoch's entry."""

    def __init__(self, fn: Callable[[TrainerBase], dict[str, float]], period: int = 1, prefix: str = "val_") -> None:
        self.fn, self.period, self.prefix = fn, period, prefix

    def after_epoch(self) -> None:
        t = self.trainer
        if (t.epoch + 1) % self.period == 0 or t.epoch + 1 == t.cfg.epochs:
            t.log[-1].update({self.prefix + k: v for k, v in self.fn(t).items()})


class CallbackHook(HookBase):
    """A hook from plain functions, e.g. ``CallbackHook(after_step=lambda t: ...)``."""

    def __init__(self, **fns: Callable[[TrainerBase], None]) -> None:
        self.fns = fns
        for name, fn in fns.items():
            if not hasattr(HookBase, name):
                raise TypeError(f"CallbackHook: no hook point named {name!r}")
            setattr(self, name, (lambda f: lambda: f(self.trainer))(fn))
