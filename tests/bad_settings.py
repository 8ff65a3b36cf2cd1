"""Bad values for every setting of every command, generated from the settings dataclasses.

For each field a command reads (through its flags), one case per kind of bad value its
type can take: NaN and infinity for numbers, a value below and one above the range of
pushseg.limits for numbers and integers, a fraction for an integer, an empty string for a
string that has a non-empty default. Each is a case of the bad-input catalogue
(tests/bad_inputs.py): exit 2 and one line naming the setting.
"""

from __future__ import annotations

import dataclasses
import typing

from pushseg.cli import collect, demo, label, scenes, segment, train
from pushseg.config import flag
from pushseg.limits import MAX_INT, MAX_NUMBER, limit_of

# command -> (a good command line but for the bad setting, its settings sections)
COMMANDS = {
    "collect": ("collect --out {dir}/bs_{n} --episodes 1 --pushes-per-episode 1 --no-progress",
                [collect.SECTIONS[0], collect.BACKEND_SECTIONS["sim"]]),
    "label": ("label {run} --out {dir}/bs_{n}.json --no-progress", label.SECTIONS),
    "scenes": ("scenes --out {dir}/bs_{n} --count 1 --no-progress", scenes.SECTIONS),
    "pretrain": ("pretrain --scenes {coco} --out {dir}/bs_{n} --no-progress", train.PRETRAIN_SECTIONS),
    "finetune": ("finetune --labels {coco} --out {dir}/bs_{n} --no-progress", train.FINETUNE_SECTIONS),
    "evaluate": ("evaluate --scenes {coco} --out {dir}/bs_{n} --no-progress", [segment.INFERENCE]),
    "segment": ("segment {image} --out {dir}/bs_{n}.png", [segment.INFERENCE]),
    "demo": ("demo --out {dir}/bs_{n}", demo.SECTIONS),
}


def _plain_type(tp: typing.Any) -> typing.Any:
    """int, float or str for a field of that type (or that type or None); None for the others."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, type(int | None)) and len(args) == 1:
        tp = args[0]
    return tp if tp in (int, float, str) else None


def _bad_values(cls: type, field: dataclasses.Field, tp: typing.Any) -> list[tuple[str, str, str]]:
    """(kind, value, expected text) for one field."""
    limit = limit_of(cls, field.name)
    if tp is str:
        return [("empty", "", "must not be empty")] if field.default not in ("", None) else []
    if tp is float:
        lo, hi = (limit.lo, limit.hi) if limit else (0.0, MAX_NUMBER)
        out = [("nan", "nan", "must be a finite number"), ("inf", "inf", "must be a finite number")]
        out.append(("below", f"{lo - 1:g}" if lo < 0 or lo > 0 else "-0.5", "must be in"))
        out.append(("above", f"{hi * 10 + 1:g}", "must be in"))
        return out
    lo, hi = (int(limit.lo), int(limit.hi)) if limit else (0, MAX_INT)
    return [("below", str(lo - 1), "must be in"), ("above", str(hi + 1), "must be in"),
            ("fraction", "1.5", "must be an integer")]


def cases() -> list[tuple]:
    """(id, argv tokens, expected text) for every field, every kind of bad value."""
    out = []
    for command, (template, sections) in COMMANDS.items():
        for section in sections:
            hints = typing.get_type_hints(section.cls)
            for field in dataclasses.fields(section.cls):
                tp = _plain_type(hints[field.name])
                if not field.init or tp is None or field.name in section.negations:
                    continue
                for kind, value, expected in _bad_values(section.cls, field, tp):
                    n = f"{command}-{section.name}-{field.name}-{kind}"
                    argv = [*template.format(dir="{dir}", run="{run}", coco="{coco}", image="{image}",
                                             n=n).split(), f"{flag(field.name)}={value}"]
                    opts = "/".join([flag(field.name), *section.aliases.get(field.name, [])])  # argparse's name
                    said = f"{opts}: " if kind == "fraction" else f"{flag(field.name)} "
                    out.append((f"setting-{n}", argv, said + expected))  # the line names the setting
    return out


CASES = cases()
