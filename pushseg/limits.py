"""The range of every setting, checked by one validator for every command.

Every field of every settings dataclass (``LabelConfig``, ``TrainConfig``, the
experiment profile, ...) passes :func:`check_setting` when it is read from a
config file, a flag or ``--set`` (:func:`pushseg.config.from_dict`). The rules
go by the field's type, then by its name, so ``seed`` or ``width`` mean the same
range in every command:

* an **integer** is a whole number (not ``true``) in ``[0, 2**31 - 1]`` unless
  :data:`LIMITS` says otherwise;
* a **number** is finite (no NaN, no infinity) and in ``[0, 1e9]`` unless
  :data:`LIMITS` says otherwise (a few settings are signed: an angle, a height);
* the elements of a **tuple** of numbers are finite, and within the field's
  limit when :data:`LIMITS` names one;
* a **string** is not empty, unless empty is the field's default (it means "none").

An upper bound stands for what is absurd on any machine (a billion episodes, an
image 10 000 px wide): refused at once, before any memory is taken.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from pushseg.errors import InputError

MIN_IMAGE_SIDE = 32  # px; a smaller image holds no object a 16-px-stride network, or a labeler, can find
MAX_IMAGE_SIDE = 4096  # the Kinect2 is 1920x1080; larger images only exhaust memory
MAX_INT = 2**31 - 1
MAX_NUMBER = 1e9


def check_image_side(width: int, height: int, what: str, min_side: int = MIN_IMAGE_SIDE) -> None:
    """The one minimum image side and its one wording: an :class:`InputError` naming ``what``."""
    if min(width, height) < min_side:
        raise InputError(f"{what}: {width}x{height} pixels is too small; give an image at least {min_side} "
                         f"pixels a side")


@dataclasses.dataclass(frozen=True)
class Limit:
    """``lo <= value <= hi`` (``lo < value`` when ``open_lo``)."""

    lo: float
    hi: float
    open_lo: bool = False

    def holds(self, v: float) -> bool:
        return (self.lo < v if self.open_lo else self.lo <= v) and v <= self.hi

    def words(self) -> str:
        return f"in {'(' if self.open_lo else '['}{_num(self.lo)}, {_num(self.hi)}]"


def _num(v: float) -> str:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        v = int(v)
    if isinstance(v, int) and v >= 2**20 and (v + 1) & v == 0:
        return f"2**{(v + 1).bit_length() - 1} - 1"
    return f"{v:g}" if isinstance(v, float) else str(v)


SEED = Limit(0, 2**63 - 1)
SIDE = Limit(MIN_IMAGE_SIDE, MAX_IMAGE_SIDE)
FRACTION = Limit(0.0, 1.0)
POSITIVE = Limit(0.0, MAX_NUMBER, open_lo=True)
SIGNED = Limit(-MAX_NUMBER, MAX_NUMBER)
SCENES = Limit(1, 100_000)  # at ~1 s a scene, 100 000 is a day of rendering

# By field name (any class), or "ClassName.field" where one class means something else by the name.
LIMITS: dict[str, Limit] = {
    # sizes of the data
    "seed": SEED, "seeds": Limit(1, 1000), "bootstrap_samples": Limit(1, 1_000_000),
    "width": SIDE, "height": SIDE, "work_width": SIDE,
    "episodes": Limit(1, 100_000),  # 100 000 episodes of 5 pushes is a week of simulation
    "pushes_per_episode": Limit(1, 1000), "count": SCENES, "source_scenes": SCENES, "test_scenes": SCENES,
    "val_scenes": SCENES, "interactive_scenes": Limit(0, 100_000), "interactive_pushes": Limit(0, 1000),
    "min_objects": Limit(1, 20), "max_objects": Limit(1, 20),
    # training
    "epochs": Limit(1, 10_000), "finetune_epochs": Limit(1, 10_000), "pretrain_epochs": Limit(1, 10_000),
    "coteaching_ramp_epochs": Limit(0, 10_000), "batch_size": Limit(1, 4096),
    "batches_per_epoch": Limit(1, 1_000_000), "finetune_batches": Limit(1, 1_000_000),
    "workers": Limit(0, 256), "DemoConfig.workers": Limit(1, 256), "threads": Limit(0, 1024),
    "lr": Limit(0.0, 10.0, open_lo=True), "self_paced_growth": POSITIVE,
    "hidden": Limit(1, 65_536), "reduce_channels": Limit(1, 65_536), "score_hidden": Limit(1, 65_536),
    "mask_size": Limit(1, MAX_IMAGE_SIDE), "object_size": Limit(1, MAX_IMAGE_SIDE),
    "patch_size": Limit(1, MAX_IMAGE_SIDE), "small_widths": Limit(1, 65_536),
    # inference
    "top_k": Limit(1, 10_000), "overlays": Limit(0, 1000), "object_size_m": POSITIVE,
    "scales": Limit(0.0, 64.0, open_lo=True), "nms_grid": FRACTION,
    # labelling
    "ransac_iterations": Limit(1, 1_000_000), "ransac_stride": Limit(1, 1024), "ncut_num_cuts": Limit(1, 1000),
    "max_superpixels": Limit(1, 1_000_000), "framediff_threshold": Limit(0, 255), "flow_scale": Limit(0, 1, True),
    "ransac_inlier_m": POSITIVE, "prior_radius_m": POSITIVE, "ncut_sigma_px2": POSITIVE,
    "slic_compactness": POSITIVE, "superpixel_area_px": POSITIVE, "max_area_m2": POSITIVE,
    "episode_max_area_change": POSITIVE, "motion_threshold_px": POSITIVE,
    # the robot
    "speed": POSITIVE, "max_push_speed": POSITIVE, "max_push_length": POSITIVE, "hover_height": POSITIVE,
    "waypoint_spacing": POSITIVE, "max_image_age": POSITIVE, "velocity_scale": Limit(0, 1, True),
    "transit_velocity_scale": Limit(0, 1, True), "gripper_pitch_deg": Limit(-90.0, 90.0), "table_z": SIGNED,
    "TimeoutsConfig.*": POSITIVE,
    # shares and probabilities
    **{name: FRACTION for name in (
        "flip_p", "rotate_p", "positive_fraction", "photo_share", "mask_threshold", "nms_threshold", "nms",
        "max_area_fraction", "dropout", "episode_disturbed_frac", "episode_left_view_frac", "episode_overlap_frac",
        "superpixel_moving_frac", "superpixel_color_weight", "coteaching_peer_noise", "small_loss_drop",
        "reed_beta", "momentum", "min_score", "scale_jitter", "flow_guide_fractions")},
}


def limit_of(cls: type, name: str) -> Limit | None:
    """The :data:`LIMITS` entry of ``cls.name`` (None: the type's default range)."""
    return LIMITS.get(f"{cls.__name__}.{name}") or LIMITS.get(f"{cls.__name__}.*") or LIMITS.get(name)


def check_setting(cls: type, name: str, value: Any, key: str, flag: str | None = None, default: Any = None) -> None:
    """Raise one :class:`InputError` line naming the setting (``flag``, then ``key``) unless ``value`` may
    be given to ``cls.name`` (see the module doc); ``value`` already has the field's type."""
    said = f"{flag} must" if flag else f"{key} must"
    where = f" (the setting {key})" if flag else ""
    limit = limit_of(cls, name)

    def number(v: Any, what: str, lim: Limit | None) -> None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return  # not a number: the type check said so already
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"{said} be a finite number{what}, got {v}{where}")
        if lim is not None and not lim.holds(v):
            raise InputError(f"{said} be {lim.words()}{what}, got {_shown(v)}{where}")

    if isinstance(value, str):
        if value == "" and default != "":
            raise InputError(f"{said} not be empty{where}; give a value or leave the setting out")
        return
    if isinstance(value, (tuple, list)):
        for i, v in enumerate(_flat(value)):
            number(v, f" (each value; value {i} is off)", limit)
        return
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        number(value, "", limit or Limit(0, MAX_INT))
    elif isinstance(value, float):
        number(value, "", limit or Limit(0.0, MAX_NUMBER))


def _flat(values: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        out.extend(_flat(v) if isinstance(v, (tuple, list)) else [v])
    return out


def _shown(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def int_arg(name: str, limit: Limit | None = None):
    """An argparse ``type=`` for a plain integer flag, checked like the setting ``name``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        lim = limit or LIMITS.get(name) or Limit(0, MAX_INT)
        if not lim.holds(value):
            raise argparse.ArgumentTypeError(f"must be {lim.words()}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse says "invalid integer value" on a ValueError
    return parse
