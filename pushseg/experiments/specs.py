"""Experiments as data: a spec (rows of a table) and a profile (sizes), both YAML.

A **table spec** (``tables/<name>.yaml``) lists the variants -- the rows of one of the
paper's tables -- each a recipe: which labels (none, self-made, oracle per push,
oracle of all objects), which labeler settings, which data size (``small`` /
``large``, the paper's 1.3k / 2.3k interactions), which training settings and how
NMS is chosen; then the comparisons to make. A **profile**
(``profiles/<name>.yaml``) says how big everything is: scenes, pushes, epochs,
seeds. A **cell** is one variant at one seed: it knows everything it needs, and
its resolved form is stored in the cell's folder.
"""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pushseg.config import coerce, from_dict, split_set
from pushseg.data.collection import AGENTS
from pushseg.errors import InputError
from pushseg.limits import check_setting
from pushseg.training.config import TrainConfig

SPECS = ("table1", "table2", "table3", "fig4")
PROFILES = ("smoke", "quick", "paper")
LABELS = ("none", "self", "oracle-push", "oracle-all")
DATA_SIZES = ("small", "large")
EVALUATIONS = ("test", "interactive")


def _read_yaml(kind: str, name: str) -> dict[str, Any]:
    """A packaged spec/profile by name, or a YAML file by path."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise InputError(f"{kind} file {path} does not exist")
        text = path.read_text()
    else:
        folder = "tables" if kind == "table" else "profiles"
        res = resources.files("pushseg.experiments").joinpath(folder, f"{name}.yaml")
        if not res.is_file():
            known = SPECS if kind == "table" else PROFILES
            raise InputError(f"{kind} '{name}' is unknown; choose one of {', '.join(known)} or give a .yaml file")
        text = res.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"{kind} '{name}' is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(f"{kind} '{name}' must be a mapping at the top level")
    return data


def _check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InputError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    labels: str = "self"  # none | self | oracle-push | oracle-all
    labeler: dict[str, Any] = field(default_factory=dict)  # LabelConfig overrides
    data: str = "large"  # small | large
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides
    nms: str | float = "tuned"  # tuned (on target-val) | off | a fixed threshold
    paper_row: str | None = None
    agent: str = "separation"  # the push policy that collects the training pushes (pushseg.agents)

    @property
    def trains(self) -> bool:
        return self.labels != "none"

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> "Variant":
        if not isinstance(d, dict) or "key" not in d:
            raise InputError(f"{where}: each variant needs at least a 'key'")
        _check_keys(f"{where} variant {d['key']}", d, {f.name for f in fields(cls)})
        d = dict(d)
        d.setdefault("label", d["key"])
        if d.get("nms") is False:  # YAML reads a bare `off` as false
            d["nms"] = "off"
        v = cls(**d)
        if v.labels not in LABELS:
            raise InputError(f"{where} variant {v.key}: labels must be one of {LABELS}, got {v.labels!r}")
        if v.data not in DATA_SIZES:
            raise InputError(f"{where} variant {v.key}: data must be one of {DATA_SIZES}, got {v.data!r}")
        if not (v.nms in ("tuned", "off") or isinstance(v.nms, (int, float))):
            raise InputError(f"{where} variant {v.key}: nms must be tuned, off or a number, got {v.nms!r}")

        if v.agent not in AGENTS:
            raise InputError(f"{where} variant {v.key}: agent must be one of {AGENTS}, got {v.agent!r}")
        if v.labels == "none" and (v.train or v.labeler):
            raise InputError(f"{where} variant {v.key}: a variant without labels trains nothing; drop train/labeler")
        return v

    def recipe(self) -> dict[str, Any]:
        """What makes the model and its numbers (the label text and paper row do not)."""
        d = asdict(self)
        for k in ("key", "label", "paper_row"):
            d.pop(k)
        if self.agent == "separation":  # the default; recipes written before agents were a choice stay valid
            d.pop("agent")
        if not self.trains:
            d.pop("data")
        return d


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    variants: tuple[Variant, ...]
    comparisons: tuple[tuple[str, str], ...] = ()
    shares: tuple[tuple[str, str], ...] = ()
    evaluations: tuple[str, ...] = ("test",)
    paper: str | None = None
    rank_by: str | None = None

    def variant(self, key: str) -> Variant:
        for v in self.variants:
            if v.key == key:
                return v
        raise InputError(f"spec {self.name}: no variant '{key}'")


def load_spec(name: str) -> Spec:
    d = _read_yaml("table", name)
    _check_keys(f"spec {name}", d, {f.name for f in fields(Spec)})
    variants = tuple(Variant.from_dict(v, f"spec {name}") for v in d.get("variants") or [])
    if not variants:
        raise InputError(f"spec {name}: no variants")
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        raise InputError(f"spec {name}: variant keys repeat: {keys}")
    pairs = []
    for group in ("comparisons", "shares"):
        for pair in d.get(group) or []:
            if not (isinstance(pair, list) and len(pair) == 2 and all(p in keys for p in pair)):
                raise InputError(f"spec {name}: {group} entry {pair!r} must name two of its variants")
        pairs.append(tuple(tuple(p) for p in d.get(group) or []))
    evaluations = tuple(d.get("evaluations") or ("test",))
    bad = [e for e in evaluations if e not in EVALUATIONS]
    if bad:
        raise InputError(f"spec {name}: evaluations {bad} unknown; choose from {EVALUATIONS}")
    return Spec(name=d.get("name", name), title=d.get("title", name), variants=variants, comparisons=pairs[0],
                shares=pairs[1], evaluations=evaluations, paper=d.get("paper"), rank_by=d.get("rank_by"))


@dataclass(frozen=True)
class Profile:
    name: str
    seeds: int  # default number of seeds
    width: int
    height: int
    pushes_per_episode: int
    episodes: dict[str, int]  # data size -> collection episodes (small is a prefix of large)
    val_scenes: int
    test_scenes: int
    min_objects: int
    max_objects: int
    finetune: dict[str, Any]  # TrainConfig fields: epochs, batches_per_epoch, batch_size, ...
    nms_grid: tuple[float, ...]  # thresholds tried on target-val ("tuned")
    select_metric: str  # the target-val metric that picks the NMS threshold
    interactive_scenes: int
    interactive_pushes: int
    bootstrap_samples: int
    threads: int = 1  # torch threads per cell
    top_k: int = 50
    scales: tuple[float, ...] | None = None  # the model's fixed pyramid, where a camera one cannot be made; None: its own
    # pyramids tried on target-val ("2", "1.41+2", "camera", "camera-wide": pushseg.experiments.operating_point);
    # None: the fixed pyramid above alone
    pyramid_grid: tuple[str, ...] | None = None
    world: str | None = None  # simulated world profile, when the simulation offers them
    # target-val / target-test clutter (pushseg scenes --clutter): "levels" = separated, touching, piled in turn;
    # None: the mixed placement. Fig. 4 replays the piled test scenes when there are levels.
    clutter: str | None = None
    model: str | None = None  # pretrained model file; None = the committed rgb checkpoint (the paper's input)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["nms_grid"] = list(self.nms_grid)
        d["scales"] = list(self.scales) if self.scales else None
        d["pyramid_grid"] = list(self.pyramid_grid) if self.pyramid_grid else None
        return d


PROFILE_SECTION = "profile"  # the section name of a profile's settings in --set


def load_profile(name: str, overrides: dict[str, Any] | None = None) -> Profile:
    d = _read_yaml("profile", name)
    d = {**d, **(overrides or {})}
    _check_keys(f"profile {name}", d, {f.name for f in fields(Profile)})
    hints = typing.get_type_hints(Profile)
    for key, value in list(d.items()):  # each value of its field's type, then in its range (pushseg.limits)
        where = f"profile.{key}"
        if typing.get_origin(hints[key]) is dict:
            if not isinstance(value, dict):
                raise InputError(f"{where}: must be a mapping, got {value!r}")
            continue
        d[key] = coerce(value, hints[key], where)
        check_setting(Profile, key, d[key], where, default=Profile.__dataclass_fields__[key].default)
    try:
        p = Profile(**d)
    except TypeError as e:
        raise InputError(f"profile {name}: {e}") from None
    for size, episodes in p.episodes.items():
        check_setting(Profile, "episodes", episodes, f"profile.episodes.{size}")
    from_dict(TrainConfig, p.finetune, "profile.finetune")  # its names and ranges, before any cell starts
    if set(p.episodes) != set(DATA_SIZES) or not 1 <= p.episodes["small"] <= p.episodes["large"]:
        raise InputError(f"profile {name}: episodes needs small and large with 1 <= small <= large, got {p.episodes}")
    if p.select_metric not in ("AP50", "AP75", "AP"):
        raise InputError(f"profile {name}: select_metric must be AP50, AP75 or AP")
    if not p.nms_grid:
        raise InputError(f"profile {name}: nms_grid needs at least one threshold")
    from pushseg.experiments.operating_point import check_pyramid  # it scores models: heavier than a spec

    for pyramid in p.pyramid_grid or ():
        check_pyramid(pyramid, f"profile {name}: pyramid_grid")
    return p


def profile_overrides(name: str, items: list[str]) -> dict[str, Any]:
    """``["profile.test_scenes=50", "profile.finetune.epochs=5"]`` -> overrides for :func:`load_profile`.

    The same ``section.key=value`` form as every other command's ``--set``; the section is ``profile``
    and values are read as YAML.
    """
    base = _read_yaml("profile", name)
    out: dict[str, Any] = {}
    for item in items:
        key, text = split_set(item)
        section, dot, key = key.partition(".")
        if section != PROFILE_SECTION or not dot or not key:
            raise InputError(f"--set {item!r}: write {PROFILE_SECTION}.key=value, e.g. --set "
                             f"{PROFILE_SECTION}.test_scenes=50 or --set {PROFILE_SECTION}.finetune.epochs=5")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise InputError(f"--set {item!r}: the value is not valid YAML") from None
        top, dot, sub = key.partition(".")
        if dot:
            if not isinstance(base.get(top), dict):
                raise InputError(f"--set {item!r}: profile setting '{top}' has no sub-keys")
            out[top] = {**base[top], **out.get(top, {}), sub: value}
        else:
            out[top] = value
    return out


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]
