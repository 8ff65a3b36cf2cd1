"""``pushseg experiment``: run the cells of one or more specs, then aggregate and report.

1. The cells: every variant of the specs at every seed (a variant that trains
   nothing, like the pretrained model, needs only seed 0). A variant key used by
   several specs is one cell; the same key must mean the same recipe.
2. The shared data, made once: target-val and target-test scenes and the
   interactive scenes (Fig. 4) first; the splits' scene seeds are checked to be
   disjoint before anything is rendered.
3. Seed by seed: that seed's pushes, labels and training sets, then its cells,
   ``workers`` at a time on the executor (local processes or Ray actors; each
   cell uses the profile's torch threads), with a
   progress bar of cells done and time left. Seed-major order means the first
   seeds give complete rows while later ones run. Finished cells are skipped, so
   an interrupted experiment continues; a cell that fails is recorded in its
   folder (``error.txt``) and the others go on.
4. ``OUT/<spec>/report.md`` + ``report.json`` + plots for each spec.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pushseg import files
from pushseg.data.lock import FolderLock
from pushseg.errors import InputError, PushSegError
from pushseg.data.scenes import CYCLE
from pushseg.executors import ExecutorConfig, ordered_map
from pushseg.experiments import plots
from pushseg.experiments.interactive import make_interactive
from pushseg.experiments.report import write_reports
from pushseg.experiments.specs import SPECS, Profile, Spec, Variant, digest, load_profile, load_spec
from pushseg.experiments.splits import check_disjoint, episode_seeds, scene_seeds
from pushseg.experiments.summary import write_summary
from pushseg.pipeline import experiment_data as D
from pushseg.pipeline.cell import EVALUATIONS, Cell, cell_dir, cell_finished, run_cell


@dataclass
class Plan:
    specs: list[Spec]
    profile: Profile
    seeds: list[int]
    data_seed: int = 0
    cells: list[Cell] = field(default_factory=list)
    real_frames: str | Path | None = None  # a folder of real RGB-D frames to measure every row on


def plan(names: list[str], profile: Profile, seeds: int, data_seed: int = 0,
         only: list[str] | None = None, real_frames: str | Path | None = None) -> Plan:
    if seeds < 1:
        raise InputError(f"--seeds must be at least 1, got {seeds}")
    names = list(SPECS) if names == ["all"] else names
    specs = [load_spec(n) for n in names]
    if only:
        known = {v.key for s in specs for v in s.variants}
        missing = sorted(set(only) - known)
        if missing:
            raise InputError(f"--variants {','.join(missing)}: not in {', '.join(names)}; known: {sorted(known)}")
    variants: dict[str, Variant] = {}
    evaluations: dict[str, set[str]] = {}
    for s in specs:
        for v in s.variants:
            if only and v.key not in only:
                continue
            if v.key in variants and variants[v.key].recipe() != v.recipe():
                raise InputError(f"variant '{v.key}' means different recipes in two specs; rename one")
            variants[v.key] = v
            evaluations.setdefault(v.key, set()).update(s.evaluations)
    p = Plan(specs, profile, list(range(seeds)), data_seed, real_frames=real_frames)
    for key, v in variants.items():
        if real_frames is not None and "test" in evaluations[key]:
            evaluations[key].add("real")  # every table row is also measured on the real frames
        for seed in (p.seeds if v.trains else [0]):
            p.cells.append(Cell(v, seed, tuple(sorted(evaluations[key], key=EVALUATIONS.index))))
    return p


def _check_experiment(out: Path, p: Plan) -> None:
    """An output folder belongs to one profile and data seed; refuse to mix."""
    path = out / "experiment.json"
    mine = {"profile": p.profile.to_dict(), "data_seed": p.data_seed}
    if path.is_file():
        old = json.loads(path.read_text())
        if digest({k: old.get(k) for k in mine}) != digest(json.loads(json.dumps(mine))):
            raise InputError(f"{out} holds an experiment with another profile or data seed; use another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        files.write_json_atomic(path, mine)


def _data_jobs(out: Path, p: Plan, seed: int | None, executor: ExecutorConfig) -> list[tuple[str, Any]]:
    """The data steps shared by all cells (``seed=None``) or by the cells of one seed."""
    prof = p.profile
    if seed is None:
        jobs: list[tuple[str, Any]] = [
            ("target-val scenes", lambda: D.scenes(out, "target-val", prof.val_scenes, prof, p.data_seed,
                                                   executor=executor)),
            ("target-test scenes", lambda: D.scenes(out, "target-test", prof.test_scenes, prof, p.data_seed,
                                                    executor=executor))]
        if any("interactive" in c.evaluations for c in p.cells):
            test_cfg = D.scenes_config("target-test", prof.test_scenes, prof, p.data_seed)
            seeds = scene_seeds("target-test", p.data_seed, prof.test_scenes)
            if prof.clutter == CYCLE:  # Fig. 4 pushes piles apart: the piled test scenes, replayed as piles
                seeds = [s for i, s in enumerate(seeds) if test_cfg.level_of(i) == "piled"]
                test_cfg = replace(test_cfg, clutter="piled")
            seeds = seeds[:prof.interactive_scenes]
            jobs.append(("interactive scenes", lambda: make_interactive(
                out / "data" / "interactive", seeds, prof.interactive_pushes, prof, test_cfg)))
        if p.real_frames is not None:
            jobs.append(("real frames", lambda: D.real_frames(out, Path(p.real_frames))))
        return jobs
    trained = [c for c in p.cells if c.variant.trains and c.seed == seed]
    if not trained:
        return []
    jobs = []
    for agent in dict.fromkeys(c.variant.agent for c in trained):
        what = "pushes" if agent == "separation" else f"pushes ({agent} agent)"
        jobs.append((f"seed {seed}: {what}",
                     lambda agent=agent: D.collection(out, seed, prof, agent=agent, executor=executor)))
    labelers: dict[str, Variant] = {}
    for c in trained:
        labelers.setdefault(str(D.labels_dir(out, c.variant, seed)), c.variant)
    for v in labelers.values():
        what = ", ".join([f"{k}={x}" for k, x in v.labeler.items()] +
                         ([f"agent={v.agent}"] if v.agent != "separation" else [])) or "default"
        jobs.append((f"seed {seed}: labels ({what})", lambda v=v: D.self_labels(out, v, seed, executor=executor)))
    for c in trained:
        jobs.append((f"seed {seed}: training set {c.variant.key}",
                     lambda c=c: D.training_set(out, c.variant, c.seed, prof)))
    return jobs


def check_splits(p: Plan) -> None:
    """No scene seed may appear in two splits (the streams are independent; this checks the draws)."""
    prof = p.profile
    sets = {"target-val": scene_seeds("target-val", p.data_seed, prof.val_scenes),
            "target-test": scene_seeds("target-test", p.data_seed, prof.test_scenes)}
    for s in sorted({c.seed for c in p.cells if c.variant.trains}):
        sets[f"target-train seed {s}"] = episode_seeds(s, prof.episodes["large"])
    check_disjoint(sets)


def _run_data(jobs: list[tuple[str, Any]], progress: bool) -> None:
    for name, job in jobs:
        if progress:
            tqdm.write(f"data: {name}")
        job()


def _no_state() -> None:
    return None


def _run_job(_state: None, args: tuple[str, Cell, Profile, int]) -> tuple[str, dict[str, Any] | None, str | None]:
    out, cell, profile, data_seed = args
    try:
        return cell.name, run_cell(Path(out), cell, profile, data_seed), None
    except PushSegError as e:
        msg = str(e)
    except Exception:  # noqa: BLE001 - recorded in the cell's folder, reported at the end
        msg = traceback.format_exc()
    files.write_text_atomic(cell_dir(Path(out), cell) / "error.txt", msg + "\n")
    return cell.name, None, msg.strip().splitlines()[-1]


def run_cells(out: Path, p: Plan, cells: list[Cell], bar, executor: ExecutorConfig, errors: dict[str, str]) -> None:
    """Run the unfinished ``cells`` on ``executor``, ticking ``bar``; failures go into ``errors``."""
    todo = [c for c in cells if not cell_finished(out, c, p.profile, p.data_seed)]
    for c in todo:
        (cell_dir(out, c) / "error.txt").unlink(missing_ok=True)
    jobs = [(str(out), c, p.profile, p.data_seed) for c in todo]
    for name, _, err in ordered_map(_no_state, (), _run_job, jobs, executor):
        if err:
            errors[name] = err
            tqdm.write(f"cell {name} failed: {err}")
        bar.set_postfix_str(name)
        bar.update(1)


def execute(out: Path, p: Plan, executor: ExecutorConfig, *, progress: bool = True) -> dict[str, str]:
    """Data, then the cells seed by seed (so that early seeds give complete rows while later ones run)."""
    check_splits(p)
    _run_data(_data_jobs(out, p, None, executor), progress)
    errors: dict[str, str] = {}
    done = sum(cell_finished(out, c, p.profile, p.data_seed) for c in p.cells)
    with tqdm(total=len(p.cells), initial=done, desc="cells", unit="cell", disable=not progress,
              dynamic_ncols=True) as bar:
        for seed in sorted({c.seed for c in p.cells}):
            cells = [c for c in p.cells if c.seed == seed]
            if all(cell_finished(out, c, p.profile, p.data_seed) for c in cells):
                continue
            _run_data(_data_jobs(out, p, seed, executor), progress)
            run_cells(out, p, cells, bar, executor, errors)
    return errors


def _cpu_seconds() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_experiment(names: list[str], out: str | Path, profile: str | Profile = "quick", seeds: int | None = None,
                   *, workers: int = 1, executor: str | ExecutorConfig = "local", data_seed: int = 0,
                   only: list[str] | None = None, real_frames: str | Path | None = None,
                   progress: bool = True, report_only: bool = False) -> dict[str, Any]:
    """Run (or with ``report_only`` just aggregate) the experiment in ``out``; see the module doc."""

    out = Path(out)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if not isinstance(executor, ExecutorConfig):
        executor = ExecutorConfig(executor=executor, workers=workers)
    p = plan(names, prof, seeds or prof.seeds, data_seed, only, real_frames)
    plots.require()
    _check_experiment(out, p)
    with FolderLock(out, "pushseg experiment"):  # one experiment at a time in a folder
        return _run_locked(out, p, prof, executor, progress, report_only)


def _run_locked(out: Path, p: Plan, prof: Profile, executor: ExecutorConfig, progress: bool,
                report_only: bool) -> dict[str, Any]:
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    errors = {} if report_only else execute(out, p, executor, progress=progress)
    reports = write_reports(out, p)

    write_summary(out)
    summary = {"out": str(out), "specs": [s.name for s in p.specs], "profile": prof.name, "seeds": p.seeds,
               "cells": len(p.cells), "failed": errors, "reports": reports,
               "seconds": round(time.perf_counter() - t0, 1),
               # this process and its finished children (cells, collection and labelling workers); on a busy
               # machine wall time says little, CPU time over the cores says what an idle machine would take
               "cpu_seconds": round(_cpu_seconds() - cpu0, 1)}
    runs = json.loads((out / "runs.json").read_text()) if (out / "runs.json").is_file() else []
    files.write_json_atomic(out / "runs.json", runs + [summary])
    return summary
