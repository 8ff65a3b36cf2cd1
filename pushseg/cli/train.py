"""``pushseg pretrain`` and ``pushseg finetune``: train DeepMask."""

from __future__ import annotations

import argparse
from pathlib import Path

from pushseg import files
from pushseg.cli.common import add_overwrite_arg
from pushseg.config import Section, add_config_args, from_dict, resolve, to_dict
from pushseg.evaluation.coco_eval import evaluate_model
from pushseg.evaluation.report import ap_table
from pushseg.limits import check_setting
from pushseg.pipeline.stages import PRETRAIN_SETTINGS, finetune, pretrain, scenes_json
from pushseg.training.checkpoint import PRETRAINED_PATH, load_model
from pushseg.training.config import (
    InferenceConfig,
    ModelConfig,
    SamplerConfig,
    TrainConfig,
)
from pushseg.training.distributed import is_main_process
from pushseg.training.engine import pick_device
from pushseg.training.inference import Segmenter
from pushseg.training.mixing import MixConfig

_ALIASES = {"batches_per_epoch": ["--batches"]}


def _model(values: dict) -> ModelConfig:
    values = dict(values)
    trunk = values.pop("trunk", "small")
    check_setting(ModelConfig, "trunk", trunk, "model.trunk", flag="--trunk", default="small")
    base = ModelConfig.preset(trunk)  # the preset's defaults, then what was given
    return from_dict(ModelConfig, {**_plain(base), **values}, "model")


def _plain(cfg) -> dict:
    return to_dict(cfg)


PRETRAIN_SECTIONS = [
    Section("model", ModelConfig, build=_model, title="model (ModelConfig; --trunk picks the preset the others "
                                                      "default to)"),
    Section("train", TrainConfig, preset=PRETRAIN_SETTINGS, aliases=_ALIASES, title="training (TrainConfig)"),
    Section("sampler", SamplerConfig, title="patch sampling (SamplerConfig)"),
    Section("mix", MixConfig, title="real photos in the mix (MixConfig; e.g. --photos coco/annotations.json "
                                    "--photo-share 0.25)"),
]
FINETUNE_SECTIONS = [
    Section("train", TrainConfig, aliases=_ALIASES, title="training (TrainConfig; the defaults are the paper's "
                                                          "fine-tuning recipe)"),
    Section("sampler", SamplerConfig, title="patch sampling (SamplerConfig)"),
]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_overwrite_arg(p)
    p.add_argument("--images", default=None, help="folder the json's image file names are relative to "
                                                  "(default: the json's folder)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "pretrain", help="train DeepMask (both heads) on ground-truth masks of the source domain",
        description="Train DeepMask from scratch on a labelled scenes folder (pushseg scenes --objects source). "
                    "Writes OUT/model.pt, OUT/train_log.json, OUT/last.pt (for --resume) and OUT/config.yaml "
                    "(the settings); with --val, also OUT/val.json with AP on validation scenes.")
    p.add_argument("--scenes", required=True, help="scenes folder or COCO json with ground-truth masks")
    p.add_argument("--val", default=None, help="scenes folder to evaluate on after training")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--half", action="store_true", help="store the final weights as float16 (half the file size)")
    _common(p)
    add_config_args(p, PRETRAIN_SECTIONS)
    p.set_defaults(func=run_pretrain)

    f = subparsers.add_parser(
        "finetune", help="fine-tune a model on self-made (or any COCO) masks; score head only by default",
        description="Fine-tune DeepMask on a COCO json of masks (pushseg label). The paper's recipe is the "
                    "default: only the score head, SGD lr 0.001 momentum 0.9 weight decay 0.0005, 10 epochs, "
                    "and bootstrapping (no gradient on background patches the start model calls object). "
                    "Writes OUT/model.pt, OUT/train_log.json, OUT/last.pt and OUT/config.yaml.")
    f.add_argument("--labels", required=True, help="COCO json of masks (e.g. from pushseg label)")
    f.add_argument("--model", default=str(PRETRAINED_PATH), help="start model")
    f.add_argument("--out", required=True, help="output folder")
    f.add_argument("--val", default=None, help="scenes folder to evaluate on after training")
    _common(f)
    add_config_args(f, FINETUNE_SECTIONS)
    f.set_defaults(func=run_finetune)


def _validate(model_path: Path, val: str, out: Path, device: str) -> None:
    dev = pick_device(device)
    model = load_model(model_path, device=dev)
    rows = {}
    for name, nms in (("without NMS", None), ("with NMS 0.5", 0.5)):
        cfg = InferenceConfig(scales=tuple(model.meta.get("scales", (1.0,))), nms_threshold=nms)
        rows[name] = evaluate_model(Segmenter(model, cfg, dev), scenes_json(val), desc=f"val {name}")["metrics"]
    files.write_json_atomic(out / "val.json", {"scenes": val, "metrics": rows})
    print(ap_table(rows))


def run_pretrain(args: argparse.Namespace) -> int:
    cfg = resolve(args)
    out = Path(args.out)
    path = pretrain(scenes_json(args.scenes), out, cfg["model"], cfg["train"], cfg["sampler"], images=args.images,
                    resume=args.resume, progress=not args.no_progress, skip_done=False, overwrite=args.overwrite,
                    mix=cfg["mix"], half=args.half)
    if not is_main_process():  # DDP: rank 0 writes and reports
        return 0
    print(f"wrote {path}")
    if args.val:
        _validate(path, args.val, out, cfg["train"].device)
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    cfg = resolve(args)
    out = Path(args.out)
    path = finetune(args.model, args.labels, out, cfg["train"], cfg["sampler"], images=args.images,
                    resume=args.resume, progress=not args.no_progress, skip_done=False, overwrite=args.overwrite)
    if not is_main_process():  # DDP: rank 0 writes and reports
        return 0
    print(f"wrote {path}")
    if args.val:
        _validate(path, args.val, out, cfg["train"].device)
    return 0
