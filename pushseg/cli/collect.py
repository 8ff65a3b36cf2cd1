"""``pushseg collect``: push objects and record every interaction in a run folder.

Settings come in sections: ``collect`` (:class:`CollectConfig`) and the chosen
backend's own, named after it: ``sim`` (:class:`SimBackendConfig`, flags such as
``--width``) or ``real`` (:class:`RealBackendConfig`: ``--real-config FILE``,
``--dry-run``, ``--set real.safety.max_push_speed=0.05``) or ``ros2``
(:class:`Ros2BackendConfig`: the robot config in ``--config FILE`` as a ``ros2:``
section, docs/ros2.md). Settings of a backend that is not the chosen one are an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from pushseg.cli.common import add_executor_args, executor_config
from pushseg.config import (
    CONFIG_FILE,
    Section,
    add_config_args,
    field_type,
    flag,
    from_dict,
    read_yaml,
    resolve,
)
from pushseg.data.collection import CollectConfig, collect
from pushseg.envs.sim_backend import SimBackendConfig
from pushseg.errors import InputError
from pushseg.pipeline.record import write_record
from pushseg.real.config import (
    DEFAULTS_FILE,
    ENV_CONFIG,
    ENV_DRY_RUN,
    RealBackendConfig,
    env_dry_run,
    env_file,
    merge,
    read_file,
)
from pushseg.ros2.config import Ros2BackendConfig

# The backends' own sections. Their values are collected as given (build=dict) and only the
# chosen backend's become its config, so that the other's defaults and files are never read.
BACKEND_SECTIONS = {
    "sim": Section("sim", SimBackendConfig, build=dict, title="simulation, --backend sim (SimBackendConfig)"),
    "real": Section("real", RealBackendConfig, build=dict,
                    title=f"real robot, --backend real (RealBackendConfig: every value of {DEFAULTS_FILE.name}, "
                          "set with --real-config FILE or --set real.SECTION.KEY=VALUE)"),
    "ros2": Section("ros2", Ros2BackendConfig, build=dict,
                    title="any arm over ROS 2, --backend ros2 (Ros2BackendConfig: the robot config, "
                          "a ros2: section of --config FILE, or --set ros2.SECTION.KEY=VALUE; docs/ros2.md)"),
}
ROBOTS = ("real", "ros2")  # the backends that move a robot: --dry-run and --record apply to them
SECTIONS = [Section("collect", CollectConfig, title="collection (CollectConfig)"), *BACKEND_SECTIONS.values()]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "collect",
        help="push objects and record the interactions in a run folder",
        description=(
            "Run push episodes and write a run folder (meta.json, transitions.jsonl, PNG images, and "
            f"{CONFIG_FILE} with the settings). The same --seed gives byte-identical files whatever "
            "--workers is. A killed collection continues with --resume and loses at most the transition "
            "in flight."
        ),
    )
    p.add_argument("--out", required=True, help="run folder to create (or to continue with --resume)")
    add_executor_args(p, "episodes")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-verify", action="store_true", help="--resume: skip checking the images on disk against their sha256")
    add_config_args(p, SECTIONS)
    robot = p.add_argument_group("robot files and switches (--backend real or ros2)")
    robot.add_argument("--real-config", metavar="FILE", default=None,
                       help=f"--backend real: YAML that overrides the PR2 defaults, in the layout of "
                            f"{DEFAULTS_FILE.name} (default: ${ENV_CONFIG})")
    robot.add_argument("--dry-run", action="store_true",
                       help=f"plan and log every push, send nothing; the same as --set BACKEND.safety.dry_run=true "
                            f"(real: also ${ENV_DRY_RUN}=1; ros2 dry-runs unless its config says "
                            "safety.dry_run: false)")
    robot.add_argument("--record", metavar="FILE.mcap", default=None,
                       help="record every topic the backend reads and sends into this MCAP file "
                            "(a new file; `pushseg import-bag` turns it into a run folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = collect_config(args)
    summary = collect(
        config,
        args.out,
        workers=args.workers,
        resume=args.resume,
        progress=False if args.no_progress else None,
        executor=executor_config(args),
        verify_digests=not args.no_verify,
    )
    write_record(summary.out / CONFIG_FILE, {"collect": config})
    if summary.resume is not None:
        print(f"resumed {summary.out}: {summary.resume.describe()}", file=sys.stderr)
        if summary.replayed:
            print(f"replayed {summary.replayed} transitions to restore the scene; all matched", file=sys.stderr)
    print(f"{summary.out}: wrote {summary.written} transitions, {summary.total} in the run")
    return 0


def collect_config(args: argparse.Namespace) -> CollectConfig:
    """The resolved config: the ``collect`` section with the chosen backend's section as its ``backend_config``.

    The backend's values, later wins: its defaults, (real) ``--real-config`` or
    ``$PUSHSEG_REAL_CONFIG``, ``collect.backend_config`` of ``--config``, (real)
    ``--dry-run`` or ``$PUSHSEG_REAL_DRY_RUN``, then its own section from
    ``--config``, the flags and ``--set``.
    """
    given = resolve(args, SECTIONS)
    core: CollectConfig = given["collect"]
    _refuse_other_backends(args, core.backend, given)
    if core.backend not in BACKEND_SECTIONS:  # a plug-in: collect.backend_config as it is
        return core
    data: dict[str, Any] = {}
    if core.backend == "real" and (args.real_config or env_file()):
        data = read_file(args.real_config or env_file())
    data = merge(data, _file_backend_config(args))
    if core.backend in ROBOTS and (args.dry_run or (core.backend == "real" and env_dry_run())):
        data = merge(data, {"safety": {"dry_run": True}})
    data = merge(data, given[core.backend])
    if core.backend in ROBOTS and args.record:
        data = merge(data, {"recording": {"file": args.record}})
    settings = from_dict(BACKEND_SECTIONS[core.backend].cls, data, core.backend)
    return dataclasses.replace(core, backend_config=settings)


def _file_backend_config(args: argparse.Namespace) -> dict[str, Any]:
    """``collect.backend_config`` as a ``--config`` file gives it (e.g. the config.yaml of a run)."""
    if not getattr(args, "config", None):
        return {}
    value = (read_yaml(args.config).get("collect") or {}).get("backend_config")
    return dict(value) if isinstance(value, dict) else {}


def _refuse_other_backends(args: argparse.Namespace, backend: str, given: dict[str, Any]) -> None:
    for name, section in BACKEND_SECTIONS.items():
        if name == backend:
            continue
        named = [f"{name}.{k}" if "." in k or _nested(field_type(section.cls, k)) else flag(k)
                 for k in _dotted(given[name])]
        if name == "real":
            named += ["--real-config"] if args.real_config else []
        if backend not in ROBOTS and name == "real":
            named += [f for f, on in (("--dry-run", args.dry_run), ("--record", args.record)) if on]
        if named:
            raise InputError(f"{', '.join(named)} {'is' if len(named) == 1 else 'are'} for --backend {name} only, "
                             f"not --backend {backend}")


def _nested(tp: Any) -> bool:
    return tp is None or dataclasses.is_dataclass(tp)


def _dotted(values: dict[str, Any], where: str = "") -> list[str]:
    """The dotted keys of the leaves of a nested mapping."""
    keys = []
    for k, v in values.items():
        key = f"{where}.{k}" if where else k
        keys += _dotted(v, key) if isinstance(v, dict) else [key]
    return keys
