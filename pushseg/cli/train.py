"""``pushseg pretrain`` and ``pushseg finetune``: train DeepMask."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from pushseg.cli.evaluate import scenes_json
from pushseg.errors import InputError
from pushseg.training.checkpoint import PRETRAINED_PATH
from pushseg.training.config import ModelConfig, SamplerConfig, TrainConfig
from pushseg.training.distributed import is_main_process
from pushseg.training.noise import NOISE_METHODS


def _common(p: argparse.ArgumentParser, epochs: int, batches: int, optimizer: str, lr: float, wd: float,
            decay: str) -> None:
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, default=epochs)
    g.add_argument("--batches", type=int, default=batches, help="batches per epoch")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--optimizer", default=optimizer, choices=["sgd", "adam"])
    g.add_argument("--lr", type=float, default=lr)
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    g.add_argument("--weight-decay", type=float, default=wd)
    g.add_argument("--lr-decay", default=decay, choices=["none", "cosine"])
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto, cpu or cuda (mixed precision on CUDA)")
    g.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    g.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    g.add_argument("--images", default=None, help="folder the json's image file names are relative to "
                                                  "(default: the json's folder)")


def add_parser(subparsers) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = subparsers.add_parser(
        "pretrain", help="train DeepMask (both heads) on ground-truth masks of the source domain",
        description="Train DeepMask from scratch on a labelled scenes folder (pushseg scenes --objects source). "
                    "Writes OUT/model.pt, OUT/train_log.json and OUT/last.pt (for --resume); with --val, also "
                    "OUT/val.json with AP on validation scenes.", formatter_class=fmt)
    p.add_argument("--scenes", required=True, help="scenes folder or COCO json with ground-truth masks")
    p.add_argument("--val", default=None, help="scenes folder to evaluate on after training")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--trunk", default="small", choices=["small", "resnet50"], help="model preset")
    p.add_argument("--work-width", type=int, default=None, help="resize images to this width (preset default)")
    p.add_argument("--patch-size", type=int, default=None, help="input patch side (preset default)")
    p.add_argument("--object-size", type=int, default=None, help="canonical object size (preset default)")
    p.add_argument("--mask-size", type=int, default=None, help="mask output side (preset default)")
    p.add_argument("--half", action="store_true", help="store the final weights as float16 (half the file size)")
    _common(p, epochs=30, batches=100, optimizer="adam", lr=1e-3, wd=0.0, decay="cosine")
    p.set_defaults(func=run_pretrain)

    f = subparsers.add_parser(
        "finetune", help="fine-tune a model on self-made (or any COCO) masks; score head only by default",
        description="Fine-tune DeepMask on a COCO json of masks (pushseg label). The paper's recipe is the "
                    "default: only the score head, SGD lr 0.001 momentum 0.9 weight decay 0.0005, 10 epochs, "
                    "and bootstrapping (no gradient on background patches the start model calls object).",
        formatter_class=fmt)
    f.add_argument("--labels", required=True, help="COCO json of masks (e.g. from pushseg label)")
    f.add_argument("--model", default=str(PRETRAINED_PATH), help="start model")
    f.add_argument("--out", required=True, help="output folder")
    f.add_argument("--val", default=None, help="scenes folder to evaluate on after training")
    f.add_argument("--train-mask", action="store_true", help="also train the mask head")
    f.add_argument("--train-trunk", action="store_true", help="also train the trunk and shared layer")
    f.add_argument("--no-bootstrap", action="store_true", help="turn the bootstrapping heuristic off")
    f.add_argument("--noise", default="none", choices=sorted(NOISE_METHODS),
                   help="noisy-label method for the score loss (pushseg/training/README.md, 'Noisy labels'); "
                        "coteaching trains two networks")
    _common(f, epochs=10, batches=100, optimizer="sgd", lr=0.001, wd=0.0005, decay="none")
    f.set_defaults(func=run_finetune)


def _train_cfg(args: argparse.Namespace, **kw) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batches_per_epoch=args.batches, batch_size=args.batch_size,
                       optimizer=args.optimizer, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                       lr_decay=args.lr_decay, seed=args.seed, device=args.device, threads=args.threads, **kw)


def _validate(model_path: Path, val: str, out: Path, device: str) -> None:
    import json

    from pushseg.evaluation.coco_eval import evaluate_model
    from pushseg.evaluation.report import ap_table
    from pushseg.training.checkpoint import load_model
    from pushseg.training.config import InferenceConfig
    from pushseg.training.engine import pick_device
    from pushseg.training.inference import Segmenter

    dev = pick_device(device)
    model = load_model(model_path, device=dev)
    rows = {}
    for name, nms in (("without NMS", None), ("with NMS 0.5", 0.5)):
        cfg = InferenceConfig(scales=tuple(model.meta.get("scales", (1.0,))), nms_threshold=nms)
        rows[name] = evaluate_model(Segmenter(model, cfg, dev), scenes_json(val), desc=f"val {name}")["metrics"]
    (out / "val.json").write_text(json.dumps({"scenes": val, "metrics": rows}, indent=1))
    print(ap_table(rows))


def run_pretrain(args: argparse.Namespace) -> int:
    from pushseg.training.checkpoint import save_model
    from pushseg.training.recipes import pretrain

    over = {k: v for k, v in dict(work_width=args.work_width, patch_size=args.patch_size,
                                  object_size=args.object_size, mask_size=args.mask_size).items() if v is not None}
    model_cfg = ModelConfig.preset(args.trunk, **over)
    train_cfg = _train_cfg(args, train_trunk=True, train_mask=True, train_score=True, bootstrap=False)
    out = Path(args.out)
    command = "pushseg " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    model = pretrain(scenes_json(args.scenes), out, model_cfg, train_cfg, SamplerConfig(), args.images,
                     resume=args.resume, progress=not args.no_progress, meta={"command": command})
    if not is_main_process():  # DDP: rank 0 writes and reports
        return 0
    if args.half:
        save_model(model, out / "model.pt", meta=_meta(out), half=True)
    print(f"wrote {out / 'model.pt'}")
    if args.val:
        _validate(out / "model.pt", args.val, out, args.device)
    return 0


def _meta(out: Path) -> dict:
    from pushseg.training.checkpoint import read_checkpoint

    return read_checkpoint(out / "model.pt")["meta"]


def run_finetune(args: argparse.Namespace) -> int:
    from pushseg.training.recipes import finetune

    if not Path(args.labels).is_file():
        raise InputError(f"{args.labels}: no such labels json; make one with `pushseg label RUN --out labels.json`")
    train_cfg = _train_cfg(args, train_trunk=args.train_trunk, train_mask=args.train_mask, train_score=True,
                           bootstrap=not args.no_bootstrap, noise=args.noise)
    out = Path(args.out)
    command = "pushseg " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    finetune(args.model, args.labels, out, train_cfg, SamplerConfig(), args.images, resume=args.resume,
             progress=not args.no_progress, meta={"command": command})
    if not is_main_process():  # DDP: rank 0 writes and reports
        return 0
    print(f"wrote {out / 'model.pt'}")
    if args.val:
        _validate(out / "model.pt", args.val, out, args.device)
    return 0
