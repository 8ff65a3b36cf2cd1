"""Dataclass configs of the DeepMask model, the patch sampler and the training loop.

Two model presets:

* ``resnet50`` -- the paper's reference network: ResNet-50 cut after the stride-16,
  1024-channel stage, 160 px input patches, canonical object size 92 px, 56x56 mask.
* ``small``   -- a CPU-friendly trunk (four stride-2 stages, 128 channels at stride 16)
  with everything scaled by 0.6: 96 px patches, canonical object size 56 px,
  32x32 masks, jitter +-10 px and negative distance 19 px (the paper's 16 px and
  32 px at 160 px input, times 96/160). It trains on 2 CPU cores in minutes.

``work_width`` is the width every image is resized to before sampling or
inference (the demo works at 480x270, half of the Kinect2 qhd image); the
inference pyramid scales are relative to that working image.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pushseg.errors import InputError
from pushseg.training.noise import get_noise_method

TRUNKS = ("small", "resnet50")
STRIDE = 16


@dataclass
class ModelConfig:
    trunk: str = "small"  # "small" (CPU-friendly) or "resnet50" (the paper's)
    patch_size: int = 96  # input patch side, px; a multiple of 16
    object_size: int = 56  # canonical largest side of a positive object in the patch, px
    mask_size: int = 32  # mask output side; the mask covers the whole patch
    reduce_channels: int = 128  # the 1x1 conv after the trunk
    hidden: int = 512  # shared feature
    score_hidden: int = 1024  # hidden units of the score head
    dropout: float = 0.5  # dropout in the score head
    small_widths: tuple[int, ...] = (16, 32, 64, 128)  # channels of the small trunk's four stages
    work_width: int = 480  # images are resized to this width before everything
    input: str = "rgb"  # "rgb" (the paper's), "depth" or "rgbd": depth encoded relative to the table (training/depth_input.py)

    def __post_init__(self) -> None:
        for name in ("patch_size", "object_size", "mask_size", "reduce_channels", "hidden", "score_hidden"):
            check_int(f"model {name}", getattr(self, name), 1)
        check_int("model work_width", self.work_width, STRIDE)
        check_number("model dropout", self.dropout, lo=0.0, hi=1.0, hi_open=True)
        if self.input not in ("rgb", "depth", "rgbd"):
            raise InputError(f"model input '{self.input}' is unknown; choose one of rgb, depth, rgbd")
        if self.trunk not in TRUNKS:
            raise InputError(f"model trunk '{self.trunk}' is unknown; choose one of {', '.join(TRUNKS)}")
        if self.patch_size % STRIDE or self.patch_size < 2 * STRIDE:
            raise InputError(f"patch_size {self.patch_size} must be a multiple of {STRIDE} and >= {2 * STRIDE}")
        if not 0 < self.object_size < self.patch_size:
            raise InputError(f"object_size {self.object_size} must lie between 0 and patch_size {self.patch_size}")
        if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in tuple(self.small_widths)):
            raise InputError(f"model small_widths={self.small_widths!r} must be 4 positive whole numbers")
        self.small_widths = tuple(int(w) for w in self.small_widths)
        if len(self.small_widths) != 4:
            raise InputError(f"small_widths needs 4 channel counts (one per stride-2 stage), got {self.small_widths}")

    @property
    def window(self) -> int:
        """Side of the patch on the stride-16 feature map."""
        return self.patch_size // STRIDE

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "ModelConfig":
        if name == "small":
            base: dict[str, Any] = {}
        elif name == "resnet50":
            base = dict(trunk="resnet50", patch_size=160, object_size=92, mask_size=56, work_width=960)
        else:
            raise InputError(f"model preset '{name}' is unknown; choose one of {', '.join(TRUNKS)}")
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["small_widths"] = list(self.small_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"model config has unknown fields {unknown}; was it written by a newer pushseg?")
        return cls(**d)


@dataclass
class SamplerConfig:
    """Patch sampling (docs/method.md, section 3, "Patch sampling"). Pixel values are in patch pixels."""

    jitter: float | None = None  # +- px of the positive centre; None: 16 * patch/160
    scale_jitter: float = 0.25  # +- octaves around the canonical scale
    neg_distance: float | None = None  # px from every object centre; None: 32 * patch/160
    neg_scale_octaves: float = 1.0  # or this many octaves away in scale
    neg_scale_range: tuple[float, float] = (-2.0, 2.0)  # octaves around canonical scales of the image's objects
    flip_p: float = 0.25  # vertical flip
    rotate_p: float = 0.25  # rotation, uniform 0-360 deg
    positive_fraction: float = 0.5  # share of positive patches in a batch
    min_object_px: float = 8.0  # objects whose largest side is smaller (working image) are ignored

    def __post_init__(self) -> None:
        for name in ("jitter", "neg_distance"):
            if getattr(self, name) is not None:
                check_number(f"sampler {name}", getattr(self, name), lo=0.0)
        check_number("sampler scale_jitter", self.scale_jitter, lo=0.0)
        check_number("sampler neg_scale_octaves", self.neg_scale_octaves, lo=0.0)
        for name in ("flip_p", "rotate_p", "positive_fraction"):
            check_number(f"sampler {name}", getattr(self, name), lo=0.0, hi=1.0)
        check_number("sampler min_object_px", self.min_object_px, lo=0.0)
        lo, hi = (tuple(self.neg_scale_range) + (None, None))[:2]
        check_number("sampler neg_scale_range[0]", lo)
        check_number("sampler neg_scale_range[1]", hi)
        if len(tuple(self.neg_scale_range)) != 2 or lo >= hi:
            raise InputError(f"sampler neg_scale_range={self.neg_scale_range!r} must be two octaves (low, high), low < high")
        self.neg_scale_range = (float(lo), float(hi))

    def resolved(self, model: ModelConfig) -> "SamplerConfig":
        k = model.patch_size / 160.0
        out = SamplerConfig(**asdict(self))
        if out.jitter is None:
            out.jitter = round(16 * k, 2)
        if out.neg_distance is None:
            out.neg_distance = round(32 * k, 2)
        return out


@dataclass
class TrainConfig:
    epochs: int = 10  # passes of batches_per_epoch batches
    batches_per_epoch: int = 100  # batches per epoch (patches are sampled afresh)
    batch_size: int = 32  # patches per batch (the global batch: split across processes under DDP)
    optimizer: str = "sgd"  # "sgd" | "adam"
    lr: float = 0.001  # learning rate
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 0.0005  # L2 weight decay
    lr_decay: str = "none"  # "none" | "cosine" (per batch, to 0 at the end)
    score_weight: float = 1.0 / 32.0  # of the mask loss, when both heads train
    train_trunk: bool = False  # also train the trunk and the shared layer
    train_mask: bool = False  # train the mask head
    train_score: bool = True  # train the score head
    bootstrap: bool = True  # no gradient where the start model says object > 0.5 on a negative
    noise: str = "none"  # noisy-label method: none, reed-hard, bootstrapping, self-paced, small-loss, coteaching
    reed_beta: float = 0.7  # reed-hard: weight of the given label against the prediction
    self_paced_lambda: float = 0.002  # self-paced: initial loss threshold of the samples used
    self_paced_growth: float = 1.2  # self-paced: threshold factor per epoch
    small_loss_drop: float = 0.1  # small-loss: share of largest-loss samples dropped per batch (co-teaching: final forget rate)
    coteaching_ramp_epochs: int = 5  # co-teaching: the forget rate grows linearly from 0 over this many epochs
    coteaching_peer_noise: float = 0.1  # co-teaching: the peer's trainable weights move by this share of their spread
    seed: int = 0  # seed of the sampler, the initial weights and dropout
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" (under DDP plain "cuda" is each process's own GPU)
    amp: bool = True  # mixed precision on CUDA (bf16 where the GPU has it, else fp16); ignored on CPU
    channels_last: bool = True  # channels-last memory format on CUDA; ignored on CPU
    workers: int = 0  # DataLoader processes that render patches (0: in the training process)
    threads: int = 0  # torch CPU threads; 0 leaves torch's default

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise InputError(f"optimizer '{self.optimizer}' is unknown; use sgd or adam")
        if self.lr_decay not in ("none", "cosine"):
            raise InputError(f"lr_decay '{self.lr_decay}' is unknown; use none or cosine")
        get_noise_method(self.noise)
        for name in ("train_trunk", "train_mask", "train_score", "bootstrap", "amp", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"train option {name}={getattr(self, name)!r} must be true or false")
        if not (self.train_trunk or self.train_mask or self.train_score):
            raise InputError("nothing to train: enable at least one of trunk, mask head, score head")
        check_int("epochs", self.epochs, 1)
        check_int("batches_per_epoch", self.batches_per_epoch, 1)
        check_int("batch_size", self.batch_size, 2)
        check_int("seed", self.seed, 0)
        check_int("workers", self.workers, 0)
        check_int("threads", self.threads, 0)
        check_int("coteaching_ramp_epochs", self.coteaching_ramp_epochs, 0)
        check_number("lr", self.lr, lo=0.0, lo_open=True, hint="the paper's fine-tuning uses 0.001")
        check_number("momentum", self.momentum, lo=0.0, hi=1.0, hi_open=True)
        check_number("weight_decay", self.weight_decay, lo=0.0)
        check_number("score_weight", self.score_weight, lo=0.0, lo_open=True)
        check_number("reed_beta", self.reed_beta, lo=0.0, hi=1.0)
        check_number("self_paced_lambda", self.self_paced_lambda, lo=0.0, lo_open=True)
        check_number("self_paced_growth", self.self_paced_growth, lo=0.0, lo_open=True)
        check_number("small_loss_drop", self.small_loss_drop, lo=0.0, hi=1.0, hi_open=True)
        check_number("coteaching_peer_noise", self.coteaching_peer_noise, lo=0.0)
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise InputError(f"device {self.device!r} is unknown; use auto, cpu, cuda or cuda:N")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_number(name: str, value: Any, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
                 hi_open: bool = False, hint: str = "") -> None:
    """A finite real number within [lo, hi] (open ends where asked), or a one-line InputError naming it."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo:g}"
        hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi:g}"
        want = " and ".join(x for x in (lo_s, hi_s) if x)
        raise InputError(f"{name}={value!r} is not allowed: it must be a finite number{' ' + want if want else ''}"
                         + (f" ({hint})" if hint else ""))


def check_int(name: str, value: Any, lo: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise InputError(f"{name}={value!r} is not allowed: it must be a whole number >= {lo}")


MAX_SCALE = 8.0  # a 480-px working image at 8x is 3840 px wide: beyond that memory, not accuracy, is the limit


def parse_scales(text: str | float | tuple | list) -> tuple[float, ...]:
    """``"1.41,2,2.83"`` (or a number or a sequence) -> a tuple of pyramid scales, each in (0, 8]."""
    items = text.split(",") if isinstance(text, str) else (list(text) if isinstance(text, (tuple, list)) else [text])
    out = []
    for item in items:
        try:
            s = float(item.strip() if isinstance(item, str) else item)
        except (TypeError, ValueError):
            raise InputError(f"scales {text!r}: {item!r} is not a number; give comma-separated positive "
                             "numbers such as 1.41,2,2.83") from None
        if not (math.isfinite(s) and 0 < s <= MAX_SCALE):
            raise InputError(f"scales {text!r}: every scale must be a finite number in (0, {MAX_SCALE:g}], got {s}")
        out.append(s)
    if not out:
        raise InputError("scales is empty; give at least one pyramid scale, e.g. 1.41,2,2.83")
    return tuple(out)


@dataclass
class InferenceConfig:
    """Multi-scale sliding-window inference (see pushseg.training.inference)."""

    # pyramid scales relative to the working image
    scales: tuple[float, ...] = field(default_factory=lambda: tuple(2 ** (e / 2) for e in range(-2, 4)))
    top_k: int = 50  # proposals kept by score before filtering and NMS
    mask_threshold: float = 0.2  # mask probability
    nms_threshold: float | None = 0.5  # mask IoU; None disables NMS
    max_area_fraction: float = 0.10  # masks above this share of the image are dropped
    min_area_px: int = 16  # masks with fewer pixels are dropped
    batch_size: int = 4  # images per forward pass
    fast: bool = True  # batch norm folded into the convolutions, channels last memory, windows scored only where needed; False: the reference path
    table_region: bool = False  # score only windows centred on the table top, found in each image's depth (scenes folders have it)
    amp: bool = True  # bfloat16 autocast on CUDA devices that support it; ignored on CPU
    pyramid: str = "camera"  # "camera": scales from each image's intrinsics and depth where it has them (training/pyramid.py), else `scales`; "fixed": always `scales`
    object_size_m: float = 0.10  # camera pyramid: largest side of a typical tabletop object, metres
    pyramid_span: int = 0  # camera pyramid: extra half-octave levels on each side of the object's scale

    def __post_init__(self) -> None:
        self.scales = parse_scales(self.scales)
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise InputError(f"top_k must be an integer >= 1, got {self.top_k!r}")
        if not (isinstance(self.mask_threshold, (int, float)) and 0 < self.mask_threshold < 1):
            raise InputError(f"mask_threshold must lie in (0, 1), got {self.mask_threshold!r}")
        if self.nms_threshold is not None and not (isinstance(self.nms_threshold, (int, float))
                                                    and 0 <= self.nms_threshold <= 1):
            raise InputError(f"nms_threshold must lie in [0, 1] (or be None for no NMS), got {self.nms_threshold!r}")
        if not (isinstance(self.max_area_fraction, (int, float)) and 0 < self.max_area_fraction <= 1):
            raise InputError(f"max_area_fraction must lie in (0, 1], got {self.max_area_fraction!r}")
        if isinstance(self.min_area_px, bool) or not isinstance(self.min_area_px, int) or self.min_area_px < 0:
            raise InputError(f"min_area_px must be an integer >= 0, got {self.min_area_px!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InputError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.pyramid not in ("camera", "fixed"):
            raise InputError(f"pyramid must be camera or fixed, got {self.pyramid!r}")
        check_number("inference object_size_m", self.object_size_m, lo=0.005, hi=2.0)
        check_int("inference pyramid_span", self.pyramid_span, 0)
        if self.pyramid_span > 4:
            raise InputError(f"pyramid_span must be at most 4 (9 levels), got {self.pyramid_span}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scales"] = list(self.scales)
        return d
