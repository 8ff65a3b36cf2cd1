"""The record of settings beside each output, and the one rule for "already done".

A stage (and an experiment cell) writes the settings it ran with beside its
output: the config sections plus an ``inputs`` record of the paths it read.
:func:`finished` is how every stage decides to skip work: the output's manifest
proves it whole and made from these inputs as they are now (digests, see
:mod:`pushseg.data.manifest`) *and* the record says the same settings; a record
with other settings stops with an error naming the first key that differs,
instead of silently reusing the old output. Experiment cells, which have no
manifest yet, use :func:`finished_marker`: a completion file and the record.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from pushseg import files
from pushseg.config import INPUTS_KEY, read_yaml, to_dict
from pushseg.data.manifest import OutputPlace, verify
from pushseg.errors import RunFolderError


def _plain(value: Any) -> Any:
    return to_dict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


def record_of(configs: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a record holds: each section as plain data, and the inputs as absolute paths."""
    doc = {k: _plain(v) for k, v in configs.items()}
    if inputs:
        doc[INPUTS_KEY] = {k: (str(Path(v).resolve()) if isinstance(v, (str, os.PathLike)) else v)
                           for k, v in inputs.items()}
    return doc


def record_text(configs: dict[str, Any], inputs: dict[str, Any] | None = None) -> str:
    """The settings record as YAML (what ``config.yaml`` holds)."""
    return yaml.safe_dump(record_of(configs, inputs), sort_keys=False, default_flow_style=False)


def write_record(path: Path, configs: dict[str, Any], inputs: dict[str, Any] | None = None) -> Path:
    """Write the settings record (YAML) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return files.write_text_atomic(path, record_text(configs, inputs), sync_dir=False)


def first_difference(old: Any, new: Any, where: str, ignore: tuple[str, ...] = ()) -> tuple[str, Any, Any] | None:
    """The first dotted key (in sorted order) where ``old`` and ``new`` differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if key in ignore:
                continue
            found = first_difference(old.get(key), new.get(key), f"{where}.{key}", ignore)
            if found:
                return found
        return None
    return None if old == new else (where, old, new)


def check_record(path: Path, configs: dict[str, Any], inputs: dict[str, Any] | None = None,
                 ignore: tuple[str, ...] = ()) -> None:
    """Raise if the record at ``path`` was made with other settings or inputs (no record: nothing to check).

    A section the record lacks is not compared (it was added after the output was made).
    ``ignore``: keys that do not change the output (e.g. the number of workers).
    """
    if not path.is_file():
        return
    stored = read_yaml(path)
    for section, values in record_of(configs, inputs).items():
        if section not in stored:
            continue
        found = first_difference(stored[section], values, section, ignore)
        if found:
            key, old, new = found
            raise RunFolderError(f"{path.parent}: made with {key} = {old!r}, asked for {new!r}; choose another "
                                 f"output, delete it, or give the command --overwrite to replace it")


def finished(place: OutputPlace, record: Path, configs: dict[str, Any], inputs: dict[str, Any] | None = None,
             ignore: tuple[str, ...] = (), *, reuse: bool = True, overwrite: bool = False,
             continues: tuple[str, ...] = ()) -> bool:
    """True when ``place`` holds a whole output made from ``inputs`` (as they are now) with these settings.

    An output made with other settings or from other input paths raises, naming what
    differs, unless ``overwrite``; a mixed, edited, stale or unfinished output returns
    False (the caller makes it again); ``reuse`` False: never True (the caller makes it
    again anyway, after the same checks). ``continues``: settings that may differ because the
    work continues the output (a resumed training given more ``epochs``): not refused, not reused.
    """
    if place.read() is None:
        return False  # nothing whole is there (unfinished, or a kill while committing): it is made anew
    if not overwrite:
        check_record(record, configs, inputs, ignore + continues)
    if not reuse:
        return False
    if continues:
        try:
            check_record(record, configs, inputs, ignore)
        except RunFolderError:
            return False
    return verify(place, inputs or {})


def finished_marker(marker: Path, record: Path, configs: dict[str, Any], ignore: tuple[str, ...] = ()) -> bool:
    """True when ``marker`` exists and the record beside it holds these settings."""
    if not marker.is_file():
        return False
    check_record(record, configs, None, ignore)
    return True
