"""Model files: weights + model config (+ free-form metadata), checked when loaded.

A checkpoint is a ``torch.save`` dict::

    {"format": "pushseg-deepmask", "version": 1, "config": ModelConfig dict,
     "state_dict": ..., "meta": {...}}

Loading names what does not fit, in one line that names the file: a file that is
missing, damaged or not a pushseg model (random bytes included), a config that is
not valid, a trunk other than the one asked for, weights whose names or shapes do
not match the config, and weights that are NaN or infinite (a diverged training).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from pushseg import files
from pushseg.errors import InputError
from pushseg.training.config import ModelConfig
from pushseg.training.model import DeepMask

FORMAT = "pushseg-deepmask"
VERSION = 1

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
# The default start model: depth input, pretrained on the transfer source, so that it finds objects on
# real RGB-D cameras as well as in simulation (recipe and figures: pushseg/checkpoints/README.md).
PRETRAINED_PATH = CHECKPOINTS / "pretrained_transfer_depth.pt"
# The paper's kind of model: colour only, pretrained on the source primitives. The paper's tables
# (pushseg experiment) start from it, so that they compare like with like.
PAPER_RGB_PATH = CHECKPOINTS / "pretrained_small.pt"


def torch_bytes(obj: Any) -> bytes:
    """What ``torch.save(obj, file)`` writes, as bytes (for an atomic write)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_model(model: DeepMask, path: str | os.PathLike, meta: dict[str, Any] | None = None, half: bool = False) -> Path:
    """Write atomically. ``half`` stores float weights as float16 (half the size)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    blob = {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(), "state_dict": state, "meta": meta or {}}
    return files.write_atomic(path, torch_bytes(blob), sync_dir=False)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file; train one with `pushseg pretrain` or pass another --model")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch.load fails on foreign bytes in many ways (IndexError, KeyError, ...)
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise InputError(f"{path}: damaged or not a torch file ({type(e).__name__}: {first}); re-create it") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise InputError(f"{path}: not a pushseg DeepMask model (no '{FORMAT}' header)")
    if blob.get("version") != VERSION:
        raise InputError(f"{path}: model file version {blob.get('version')} is not supported (expected {VERSION})")
    for key in ("config", "state_dict"):
        if not isinstance(blob.get(key), dict):
            raise InputError(f"{path}: model file lacks its '{key}'")
    return blob


def load_model(path: str | os.PathLike, trunk: str | None = None, device: str | torch.device = "cpu") -> DeepMask:
    """Load a model; ``trunk`` (if given) must match the file's."""
    blob = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(blob["config"])
    except InputError as e:
        raise InputError(f"{path}: its model config is not valid: {e}") from None
    except TypeError as e:
        raise InputError(f"{path}: its model config is not valid ({e})") from None
    if trunk is not None and config.trunk != trunk:
        raise InputError(f"{path}: holds a '{config.trunk}' trunk but a '{trunk}' trunk was asked for")
    model = DeepMask(config)
    load_state(model, blob["state_dict"], str(path))
    model.meta = blob.get("meta", {})  # type: ignore[attr-defined]
    return model.to(device).eval()


def load_state(model: DeepMask, state: dict[str, torch.Tensor], name: str) -> None:
    """Copy weights into ``model``, naming every missing, unexpected or mis-shaped tensor."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensors (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} tensors of the wrong shape (e.g. {'; '.join(wrong[:3])})")
    if problems:
        raise InputError(f"{name}: weights do not fit the '{model.config.trunk}' model config: " + "; ".join(problems))
    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise InputError(f"{name}: {len(bad)} weight tensors hold NaN or infinite values (e.g. {', '.join(bad[:3])}); "
                         "the training that wrote it diverged: train again with a lower learning rate")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
