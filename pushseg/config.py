"""Settings: every stage config is a dataclass, read from YAML, changed by ``--set``, shown as CLI flags.

The dataclasses stay where their package owns them (``LabelConfig`` in
``pushseg.labeling.config``, ``TrainConfig`` in ``pushseg.training.config``,
...). This module only knows how to move them between Python, YAML and the
command line, so a default is written once: in the dataclass.

**Field docs** are the comments in the dataclass source: the comment at the
end of a field's line, after the comment lines directly above it (section
headers such as ``# --- flow ---`` are skipped). They become the ``--help``
text of the generated flags. Write a comment on every field.

**A config file** is YAML with one mapping per section, e.g. for ``pushseg
finetune``::
    train: {epochs: 10, lr: 0.001}
    sampler: {flip_p: 0.25}

**Resolution**, later wins: the dataclass default (or a stage preset, e.g.
pretraining's Adam), then ``--config FILE``, then the generated flags, then
each ``--set section.key=value`` in the order given. Unknown sections or keys
and values of the wrong type are errors that name the key.

**Nested settings**: a field whose type is a dataclass (e.g. the real robot's
``RealBackendConfig.safety``) is a mapping in a file and a dotted key in
``--set``, e.g. ``--set real.safety.max_push_speed=0.05``; it has no flag of
its own.

Every output folder gets ``config.yaml``, the fully resolved config it ran
with; ``--config`` that file on the same inputs reproduces the output.
"""

from __future__ import annotations

import argparse
import copy
import ast
import dataclasses
import functools
import inspect
import io
import re
import textwrap
import tokenize
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pushseg import files
from pushseg.errors import InputError
from pushseg.limits import check_setting

CONFIG_FILE = "config.yaml"
# Written beside the sections by the stages (the paths a stage read); a record, not a setting.
INPUTS_KEY = "inputs"

# --- field docs from source comments --------------------------------------------------------


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """``{field name: doc}`` from the comments next to and above each field of ``cls`` (and its bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass) and klass is not object:
            docs.update(_class_comments(klass))
    return docs


def _class_comments(klass: type) -> dict[str, str]:
    try:
        src = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):  # defined in an interactive session: no source to read
        return {}
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    own = {n for n in comments if n not in code_lines}  # comment-only lines
    node = ast.parse(src).body[0]
    out = {}
    for stmt in getattr(node, "body", []):
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        above = []
        line = stmt.lineno - 1
        while line in own:
            above.insert(0, comments[line])
            line -= 1
        trailing = [comments[n] for n in range(stmt.lineno, stmt.end_lineno + 1) if n in comments and n not in own]
        parts = [c for c in above + trailing if c and not c.startswith("---")]
        if parts:
            out[stmt.target.id] = " ".join(parts)
    return out


# --- values: checked against the field types --------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` (from YAML or the command line) as type ``tp``, or an InputError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise InputError(f"{key}: must be {_type_name(tp)}, got null")
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # X | None: X's own error is the clearest
            return coerce(value, options[0], key)
        for a in options:
            try:
                return coerce(value, a, key)
            except InputError:
                pass
        raise InputError(f"{key}: must be {_type_name(tp)}, got {value!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in re.sub(r"[][()]", "", value).split(",") if v.strip()]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]  # "--scales 1": a list of one
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{key}: must be a list ({_type_name(tp)}), got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise InputError(f"{key}: must have {len(args)} values ({_type_name(tp)}), got {list(value)!r}")
        return tuple(coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise InputError(f"{key}: must be a mapping of {tp.__name__} fields, got {value!r}")
        return from_dict(tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise InputError(f"{key}: must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, str):
            value = _parse_scalar(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InputError(f"{key}: must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, str):
            value = _parse_scalar(value)
        if isinstance(value, str):  # YAML reads 1e308, nan and inf as text; Python reads them as numbers
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise InputError(f"{key}: must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise InputError(f"{key}: must be a string, got {value!r}")
    if tp is Any:
        return value
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise InputError(f"{key}: cannot read a value of type {_type_name(tp)} from {value!r}")


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """``cls(**data)`` with every key checked (known field, right type); errors name ``where.key``."""
    where = where or cls.__name__
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: must be a mapping of {cls.__name__} fields, got {data!r}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise InputError(f"{where}.{unknown[0]}: unknown setting; {cls.__name__} has {', '.join(names)}")
    kwargs = {k: coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for k, v in kwargs.items():  # the one range check of every setting (pushseg.limits)
        check_setting(cls, k, v, f"{where}.{k}", flag=None if "." in where else flag(k), default=defaults[k])
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise InputError(f"{where}: {e}; give it in the config file or on the command line") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain YAML/JSON data of a config (tuples as lists, nested configs as mappings)."""
    hints = _hints(type(cfg))
    return {f.name: _plain(getattr(cfg, f.name), hints.get(f.name)) for f in dataclasses.fields(cfg) if f.init}


def _plain(value: Any, tp: Any = None) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A field that takes a name or an object (e.g. SimConfig.objects) stores the name.
        if str in typing.get_args(tp) and isinstance(getattr(value, "name", None), str):
            return value.name
        return to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def replace(cfg: Any, **changes: Any) -> Any:
    """A copy of ``cfg`` with ``changes`` checked like a config file's values."""
    return from_dict(type(cfg), {**to_dict(cfg), **changes})


# --- files ------------------------------------------------------------------------------------


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / CONFIG_FILE
    if not p.is_file():
        raise InputError(f"{path}: no such config file; write YAML with one mapping per section")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise InputError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"{p}: must be a mapping of sections (e.g. 'train: {{epochs: 10}}'), got {type(data).__name__}"
        )
    return data


def dump_yaml(configs: Mapping[str, Any]) -> str:
    return yaml.safe_dump({k: to_dict(v) for k, v in configs.items()}, sort_keys=False, default_flow_style=False)


def write_config(path: str | Path, configs: Mapping[str, Any]) -> Path:
    """Write the resolved ``{section: config}`` as YAML; ``path`` may be a folder (then ``config.yaml``)."""
    p = Path(path)
    if p.is_dir():
        p = p / CONFIG_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    return files.write_text_atomic(p, dump_yaml(configs), sync_dir=False)


def load_config(cls: type, path: str | Path | None = None, section: str | None = None,
                overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """One section of a config file (``section`` None: the file is the section), with ``key=value`` overrides."""
    data: dict[str, Any] = {}
    name = section or cls.__name__
    if path is not None:
        raw = read_yaml(path)
        data = dict(raw.get(section, {}) if section else raw)
    for item in overrides:
        key, value = split_set(item)
        key = key.removeprefix(f"{section}.") if section else key
        tp = field_type(cls, key)
        _put(data, key, value if tp is None else _set_value(value, tp))  # unknown: from_dict names it
    return from_dict(cls, data, name)


def split_set(item: str) -> tuple[str, str]:
    """``--set`` ``"section.key=value"`` -> ``("section.key", "value")``; anything else is an error naming it."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--set {item!r}: write section.key=value, e.g. --set train.lr=0.01")
    return key.strip(), value


# --- the command line ------------------------------------------------------------------------


@dataclasses.dataclass
class Section:
    """One dataclass config behind a command: ``name`` is its key in files and in ``--set``.

    ``preset``: defaults of this command that differ from the dataclass's (e.g.
    pretraining uses Adam). ``aliases``: older or shorter flag names of a field.
    ``negations``: flags that set a field to False, or to None if it is not a
    bool (``--no-table-filter``, ``--no-nms``).
    ``build``: how the resolved values become the config (default: ``from_dict``).
    """

    name: str
    cls: type
    preset: dict[str, Any] = dataclasses.field(default_factory=dict)
    aliases: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    negations: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    build: Callable[[dict[str, Any]], Any] | None = None
    title: str = ""

    def defaults(self) -> dict[str, Any]:
        d = {}
        for f in dataclasses.fields(self.cls):
            if f.default is not dataclasses.MISSING:
                d[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                d[f.name] = f.default_factory()
        return {**d, **self.preset}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_args(parser: argparse.ArgumentParser, sections: list[Section]) -> None:
    """``--config``, ``--set`` and one flag per field of every section (help from the field docs)."""
    g = parser.add_argument_group("settings (any of them can also come from --config FILE or --set)")
    names = ", ".join(s.name for s in sections)
    g.add_argument("--config", metavar="FILE", default=None,
                   help=f"YAML with the sections {names} (e.g. the {CONFIG_FILE} an earlier run wrote)")
    example = f"{sections[0].name}.{dataclasses.fields(sections[0].cls)[0].name}=..."
    g.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", default=[], dest="set_",
                   help=f"override one setting, e.g. --set {example}; repeatable; applied last")
    for s in sections:
        grp = parser.add_argument_group(s.title or f"{s.name} ({s.cls.__name__})")
        docs = field_docs(s.cls)
        hints = _hints(s.cls)
        defaults = s.defaults()
        for f in dataclasses.fields(s.cls):
            if not f.init:
                continue
            tp = hints[f.name]
            if _nested(tp):  # a mapping of its own: --config or --set section.field.key=value
                continue
            dest = f"{s.name}.{f.name}"
            doc = docs.get(f.name, "")
            default = defaults.get(f.name, dataclasses.MISSING)
            shown = "required" if default is dataclasses.MISSING else f"default: {_show(default)}"
            text = f"{doc} ({shown})" if doc else f"({shown})"
            text = text.replace("%", "%%")
            opts = [flag(f.name), *s.aliases.get(f.name, [])]
            if tp is bool:
                grp.add_argument(*opts, dest=dest, action=argparse.BooleanOptionalAction,
                                 default=argparse.SUPPRESS, help=text)
            else:
                grp.add_argument(*opts, dest=dest, default=argparse.SUPPRESS, metavar=_metavar(tp),
                                 type=functools.partial(_cli_value, tp=tp, key=opts[0]), help=text)
            for neg in s.negations.get(f.name, []):
                const = False if tp is bool else None
                grp.add_argument(neg, dest=dest, action="store_const", const=const, default=argparse.SUPPRESS,
                                 help=f"same as --no-{f.name.replace('_', '-')}" if tp is bool
                                 else f"same as {flag(f.name)} none")
    parser.set_defaults(_config_sections=sections)


def _show(v: Any) -> str:
    if v == "":
        return '""'
    if isinstance(v, tuple):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _metavar(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _metavar(args[0])
    if origin is tuple:
        return "A,B,..."
    if tp is int:
        return "N"
    if tp is float:
        return "X"
    return "VALUE"


def _cli_value(text: str, *, tp: Any, key: str) -> Any:
    value: Any = text
    if text.lower() in ("none", "null") and _allows_none(tp):
        value = None
    elif typing.get_origin(tp) is tuple or tp is not str and str not in typing.get_args(tp):
        parsed = _parse_scalar(text)
        value = parsed if not isinstance(parsed, str) else text
    try:
        return coerce(value, tp, key)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1]) from None


def resolve(args: argparse.Namespace, sections: list[Section] | None = None) -> dict[str, Any]:
    """``{section name: config}`` from the defaults, ``--config``, the flags and ``--set`` (in that order)."""
    sections = sections if sections is not None else args._config_sections
    by_name = {s.name: s for s in sections}
    given: dict[str, dict[str, Any]] = {s.name: {} for s in sections}
    if getattr(args, "config", None):
        data = read_yaml(args.config)
        for name, values in data.items():
            if name == INPUTS_KEY:
                continue
            if name not in by_name:
                raise InputError(f"{args.config}: unknown section '{name}'; this command reads {', '.join(by_name)}")
            if not isinstance(values, Mapping):
                raise InputError(f"{args.config}: section '{name}' must be a mapping of settings")
            given[name].update(values)
    for dest, value in vars(args).items():
        name, dot, key = dest.partition(".")
        if dot and name in by_name:
            given[name][key] = value
    for item in getattr(args, "set_", []) or []:
        key, value = split_set(item)
        name, dot, field_name = key.partition(".")
        if not dot or name not in by_name:
            raise InputError(f"--set {item!r}: '{name}' is not a section here; use one of {', '.join(by_name)}")
        tp = field_type(by_name[name].cls, field_name)
        _put(given[name], field_name, value if tp is None else _set_value(value, tp))
    out = {}
    for name, s in by_name.items():
        values = {**s.preset, **given[name]}
        out[name] = s.build(values) if s.build else from_dict(s.cls, values, name)
    return out


def _nested(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) or tp is Any


def field_type(cls: type, dotted: str) -> Any:
    """The type of the field ``a.b.c`` of ``cls`` (through nested dataclasses); None if there is none."""
    tp: Any = cls
    for part in dotted.split("."):
        if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
            return None
        tp = _hints(tp).get(part)
    return tp


def _put(values: dict[str, Any], dotted: str, value: Any) -> None:
    """``values[a][b] = value`` for ``"a.b"``; the mappings on the way are copied (or made), not changed."""
    *path, last = dotted.split(".")
    node = values
    for part in path:
        child = node.get(part)
        if dataclasses.is_dataclass(child) and not isinstance(child, type):
            child = to_dict(child)
        node[part] = dict(child) if isinstance(child, Mapping) else {}
        node = node[part]
    node[last] = value


def _allows_none(tp: Any) -> bool:
    return type(None) in typing.get_args(tp)


def _set_value(text: str, tp: Any) -> Any:
    if text.lower() in ("none", "null") and _allows_none(tp):
        return None
    if tp is str or str in typing.get_args(tp):
        return text
    parsed = _parse_scalar(text)
    return parsed if parsed is not None or text.strip() else text


def explicit(args: argparse.Namespace, section: str) -> set[str]:
    """Keys of ``section`` set by --config, a flag or --set (not by a default)."""
    keys = set()
    if getattr(args, "config", None):
        keys |= set(read_yaml(args.config).get(section, {}) or {})
    keys |= {d.partition(".")[2] for d in vars(args) if d.startswith(section + ".")}
    keys |= {split_set(i)[0].partition(".")[2] for i in getattr(args, "set_", []) or []
             if split_set(i)[0].startswith(section + ".")}
    return keys


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged key by key into ``base`` (nested mappings merged, anything else replaced)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(out.get(key), Mapping) and isinstance(value, Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
