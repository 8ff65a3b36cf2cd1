"""The two training recipes behind ``pushseg pretrain`` and ``pushseg finetune``, as functions.

Each takes the trainer class (``trainer_cls``); by default the config picks it
(:class:`~pushseg.training.coteaching.CoTeachingTrainer` for ``noise='coteaching'``,
else :class:`~pushseg.training.engine.Trainer`). Under ``torchrun`` they train with
DDP (:mod:`pushseg.training.distributed`).

``pretrain`` trains everything from scratch on ground-truth masks; ``finetune``
starts from a model file and by default trains only the score head (the paper's
SelfDeepMask recipe: SGD lr 0.001, momentum 0.9, weight decay 0.0005, 10 epochs
of 100 batches of 32, bootstrapping on).

Both store in the model's meta the inference pyramid ``scales``: octave steps of
2^0.5 that bring the 10th-90th percentile of the training objects' sizes to the
canonical object size (+-1/4 octave), so that evaluation needs no tuning.

``pretrain`` with a :class:`~pushseg.training.mixing.MixConfig` naming photos
mixes real photos into every batch (:mod:`pushseg.training.mixing`); the pyramid
still comes from the simulated scenes alone (the camera the model will look
through), and the meta records the photo set and its share under ``photos``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pushseg.training.checkpoint import load_model
from pushseg.training.config import ModelConfig, SamplerConfig, TrainConfig
from pushseg.training.coteaching import CoTeachingTrainer
from pushseg.training.data import SceneImage, load_scene_set
from pushseg.training.depth_input import needs_depth
from pushseg.training.engine import Trainer, TrainerBase
from pushseg.training.mixing import MixConfig, photo_mix
from pushseg.training.model import DeepMask
from pushseg.training.noise import get_noise_method
from pushseg.training.sampler import PatchSampler


def pyramid_scales(images: list[SceneImage], model: ModelConfig, step: float = 0.5) -> list[float]:
    sizes = np.array([inst.size for im in images for inst in im.instances if inst.size > 0])
    if len(sizes) == 0:
        return [1.0]
    lo = math.log2(model.object_size / np.percentile(sizes, 90)) - 0.25
    hi = math.log2(model.object_size / np.percentile(sizes, 10)) + 0.25
    k0, k1 = math.floor(lo / step + 0.5), math.ceil(hi / step - 0.5)
    return [round(2 ** (k * step), 4) for k in range(k0, max(k0, k1) + 1)]


def trainer_class(cfg: TrainConfig) -> type[Trainer]:
    """The trainer a config asks for: :class:`CoTeachingTrainer` when its noise method needs two networks."""

    if get_noise_method(cfg.noise).needs_peer:
        return CoTeachingTrainer
    return Trainer


def pretrain(coco_json: str | os.PathLike, out_dir: str | os.PathLike, model_cfg: ModelConfig, train_cfg: TrainConfig,
             sampler_cfg: SamplerConfig | None = None, image_root: str | None = None, resume: bool = False,
             progress: bool = True, meta: dict[str, Any] | None = None,
             trainer_cls: type[TrainerBase] | None = None, mix: MixConfig | None = None) -> DeepMask:
    """Train a DeepMask from scratch (seeded initial weights); ``trainer_cls`` defaults to :func:`trainer_class`."""
    images = load_scene_set(coco_json, model_cfg.work_width, image_root, depth=needs_depth(model_cfg.input))
    sampler: Any = PatchSampler(images, model_cfg, sampler_cfg)
    if mix is not None and mix.enabled:
        sampler, photos = photo_mix(sampler, mix, sampler_cfg)
        meta = {"photos": photos, **(meta or {})}
    torch.manual_seed(train_cfg.seed)  # the initial weights
    model = DeepMask(model_cfg)
    meta = {"recipe": "pretrain", "data": str(coco_json), "scales": pyramid_scales(images, model_cfg),
            "sampler": sampler.cfg.__dict__, **(meta or {})}
    trainer = (trainer_cls or trainer_class(train_cfg))(model, sampler, train_cfg, out_dir, meta=meta, progress=progress)
    trainer.fit(resume=resume, desc="pretrain")
    return trainer.models["model"]


def finetune(start_model: str | os.PathLike, coco_json: str | os.PathLike, out_dir: str | os.PathLike,
             train_cfg: TrainConfig, sampler_cfg: SamplerConfig | None = None, image_root: str | None = None,
             resume: bool = False, progress: bool = True, meta: dict[str, Any] | None = None,
             trainer_cls: type[TrainerBase] | None = None) -> DeepMask:
    """Fine-tune a model file on a COCO json; ``trainer_cls`` defaults to :func:`trainer_class`."""
    model = load_model(start_model)
    start_meta = dict(getattr(model, "meta", {}))
    images = load_scene_set(coco_json, model.config.work_width, image_root, depth=needs_depth(model.config.input))
    sampler = PatchSampler(images, model.config, sampler_cfg)
    meta = {"recipe": "finetune", "start_model": str(Path(start_model)), "data": str(coco_json),
            "scales": start_meta.get("scales") or pyramid_scales(images, model.config),
            "sampler": sampler.cfg.__dict__, **(meta or {})}
    trainer = (trainer_cls or trainer_class(train_cfg))(model, sampler, train_cfg, out_dir, meta=meta, progress=progress)
    trainer.fit(resume=resume, desc="finetune")
    return trainer.models["model"]
