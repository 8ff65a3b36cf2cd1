"""Experiment specs (variants x seeds) and their cells; see the package docstring for the format."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pushseg.config import CONFIG_FILE, from_dict, read_yaml, section_class
from pushseg.errors import InputError

SPECS_DIR = Path(__file__).parent / "specs"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")  # a variant name is a folder name


@dataclass(frozen=True)
class Variant:
    name: str  # a row of the table; also its folder name
    settings: dict[str, Any] = field(default_factory=dict)  # "section.key" -> value, over the spec's base


@dataclass(frozen=True)
class ExperimentSpec:
    name: str  # the experiment's name
    base: dict[str, dict[str, Any]]  # section -> key -> value, shared by every cell
    variants: tuple[Variant, ...]  # the rows
    seeds: tuple[int, ...]  # every variant runs at every seed
    seed_key: str = "demo.seed"  # the setting a cell's seed goes into
    description: str = ""  # what the table shows


@dataclass(frozen=True)
class Cell:
    variant: str  # the variant's name
    seed: int  # the cell's seed
    configs: dict[str, Any]  # section -> resolved config dataclass
    folder: Path  # ROOT/<variant>/seed-<seed>


def _split(key: str, where: str) -> tuple[str, str]:
    section, dot, name = key.partition(".")
    if not dot:
        raise InputError(f"{where}: '{key}' must be section.key, e.g. demo.episodes")
    return section, name


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read a spec file (or a name of a file in ``specs/``) and check every setting against its dataclass."""
    p = Path(path)
    if not p.is_file() and (SPECS_DIR / f"{path}.yaml").is_file():
        p = SPECS_DIR / f"{path}.yaml"
    raw = read_yaml(p)
    known = {"name", "description", "base", "variants", "seeds", "seed_key"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{p}: unknown key '{unknown[0]}'; a spec has {', '.join(sorted(known))}")
    seeds = raw.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise InputError(f"{p}: seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"{p}: seeds repeat: {seeds}")
    base = raw.get("base") or {}
    if not isinstance(base, dict) or not all(isinstance(v, dict) for v in base.values()):
        raise InputError(f"{p}: base must map sections to settings, e.g. 'base: {{demo: {{episodes: 30}}}}'")
    variants = []
    for i, v in enumerate(raw.get("variants") or [{"name": "default"}]):
        if not isinstance(v, dict) or not _NAME.match(str(v.get("name", ""))):
            raise InputError(f"{p}: variants[{i}] needs a name made of letters, digits and _.+-")
        extra = sorted(set(v) - {"name", "set"})
        if extra:
            raise InputError(f"{p}: variants[{i}] ({v['name']}): unknown key '{extra[0]}'; use name and set")
        variants.append(Variant(str(v["name"]), dict(v.get("set") or {})))
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise InputError(f"{p}: variant names repeat: {names}")
    spec = ExperimentSpec(name=str(raw.get("name") or p.stem), base=base, variants=tuple(variants),
                          seeds=tuple(seeds), seed_key=str(raw.get("seed_key", "demo.seed")),
                          description=str(raw.get("description", "")))
    for variant in spec.variants:  # every cell must resolve: errors now, not after hours of running
        resolve_cell(spec, variant, spec.seeds[0], where=f"{p}: variant {variant.name}")
    return spec


def resolve_cell(spec: ExperimentSpec, variant: Variant, seed: int, where: str = "") -> dict[str, Any]:
    """The configs of one cell: base, then the variant's settings, then the seed."""
    where = where or f"{spec.name}: variant {variant.name}"
    sections: dict[str, dict[str, Any]] = {k: dict(v) for k, v in spec.base.items()}
    for key, value in [*variant.settings.items(), (spec.seed_key, seed)]:
        section, name = _split(key, where)
        sections.setdefault(section, {})[name] = value
    out = {}
    for section, values in sections.items():
        try:
            cls = section_class(section)
        except InputError as e:
            raise InputError(f"{where}: {e}") from None
        try:
            out[section] = from_dict(cls, values, section)
        except InputError as e:
            raise InputError(f"{where}: {e}") from None
    return out


def cells(spec: ExperimentSpec, root: str | Path) -> list[Cell]:
    """Every (variant, seed) of the spec with its configs and folder, variant-major."""
    root = Path(root)
    return [Cell(v.name, s, resolve_cell(spec, v, s), root / v.name / f"seed-{s}")
            for v in spec.variants for s in spec.seeds]


def prepare(cell: Cell) -> Path:
    """Create the cell's folder with its ``config.yaml``; refuse one that holds other settings."""
    from pushseg.stages import check_record, write_record

    record = cell.folder / CONFIG_FILE
    check_record(record, cell.configs)
    write_record(record, cell.configs)
    return cell.folder


def spec_dict(spec: ExperimentSpec) -> dict[str, Any]:
    """The spec as plain data (for reports)."""
    return {"name": spec.name, "description": spec.description, "base": spec.base, "seeds": list(spec.seeds),
            "seed_key": spec.seed_key, "variants": [{"name": v.name, "set": v.settings} for v in spec.variants]}


__all__ = ["Cell", "ExperimentSpec", "Variant", "cells", "load_spec", "prepare", "resolve_cell", "spec_dict"]
