"""Outputs other than run folders: one writer, committed whole, reused only when provably done.

For every writing command: a second writer is refused naming the holder; a writer
interrupted at any point of its commit, or by a full disk, leaves the previous output
whole or no trusted output at all, never a mix, and names the path; an output that
holds someone else's files, or whose input changed, is made again or refused; two
identical trainings give identical model files.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import fault_tools as ft
import numpy as np
import output_faults as of
import pytest
from conftest import run_pushseg

from pushseg import files as pushseg_files
from pushseg.data.lock import FolderLock
from pushseg.data.manifest import OutputPlace, verify
from pushseg.data.outputs import PROBE_BYTES
from pushseg.errors import RunFolderError
from pushseg.labeling.batch import label_place
from pushseg.pipeline import stages
from pushseg.training.config import InferenceConfig

TINY, FINETUNE = of.TINY, of.FINETUNE


class Killed(BaseException):
    """Stands for SIGKILL at one point of a write: nothing after it runs, no handler sees it."""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return of.make_world(tmp_path_factory.mktemp("outputs"))


# -- a second writer ------------------------------------------------------------------------------

def _writers(w: dict, out: Path) -> dict[str, tuple[list, Path, str]]:
    """command -> (argv, folder of its lock, lock file name)."""
    return {
        "label": (["label", w["a"], "--out", out / "labels.json", "--no-progress"], out, ".labels.json.lock"),
        "finetune": (["finetune", "--labels", w["shapes"] / "annotations.json", "--model", w["model"], "--out", out,
                      *FINETUNE], out, ".lock"),
        "pretrain": (["pretrain", "--scenes", w["shapes"], "--out", out, "--epochs", "1", *TINY], out, ".lock"),
        "evaluate": (["evaluate", "--model", w["model"], "--scenes", w["shapes"], "--out", out, "--no-progress"],
                     out, ".lock"),
        "scenes": (["scenes", "--out", out, "--count", "1", "--no-progress"], out, ".lock"),
        "demo": (["demo", "--out", out, "--episodes", "1", "--pushes", "1", "--test-scenes", "1",
                  "--no-progress"], out, ".lock"),
        "experiment": (["experiment", "table1", "--profile", "smoke", "--seeds", "1", "--out", out,
                        "--no-progress"], out, ".lock"),
    }


@pytest.mark.parametrize("command", ["label", "finetune", "pretrain", "evaluate", "scenes", "demo", "experiment"])
def test_a_second_writer_of_any_output_is_refused_naming_the_holder(world, tmp_path, capsys, command):
    argv, folder, name = _writers(world, tmp_path / "out")[command]
    with FolderLock(folder, "the first writer", lock_name=name):
        assert run_pushseg(*argv) == 2
    err = capsys.readouterr().err
    assert f"is being written by PID {os.getpid()}" in err and "the first writer" in err, err
    assert "Traceback" not in err


def test_two_labels_in_one_folder_keep_their_own_files(world, tmp_path):
    one = stages.label(world["a"], tmp_path / "one.json", progress=False)
    two = stages.label(world["b"], tmp_path / "two.json", progress=False)
    assert (tmp_path / "one_report.jsonl").is_file() and (tmp_path / "two_report.jsonl").is_file()
    assert verify(label_place(one), {"run": world["a"]}) and verify(label_place(two), {"run": world["b"]})


# -- interrupted, or a full disk, at any point ----------------------------------------------------

def _label_state(out: Path, w: dict) -> str:
    place = label_place(out)
    if place.read() is None:
        return "none"
    runs = {json.loads(out.read_text())["info"]["run"]} if out.is_file() else set()
    for name in ("a", "b"):
        if runs == {str(w[name].resolve())} and verify(place, {"run": w[name]}):
            return name
    return "mixed"


def _count_calls(monkeypatch, module, name: str, fail_at: int | None, error: BaseException) -> list[int]:
    real = getattr(module, name)
    calls = [0]

    def wrapped(*a, **k):
        calls[0] += 1
        if fail_at is not None and calls[0] == fail_at:
            raise error
        return real(*a, **k)

    monkeypatch.setattr(module, name, wrapped)
    return calls


def _temporaries(root: Path) -> list[Path]:
    return list(root.rglob("*.tmp"))


@pytest.mark.parametrize("where", ["replace", "staged"])
def test_labels_killed_at_any_point_of_a_rewrite_are_the_old_ones_or_none(world, tmp_path, monkeypatch, where):
    out = tmp_path / "labels.json"
    stages.label(world["a"], out, progress=False)
    module, name = (os, "replace") if where == "replace" else (pushseg_files, "write_staged")
    with monkeypatch.context() as m:
        calls = _count_calls(m, module, name, None, Killed())
        stages.label(world["b"], tmp_path / "count.json", progress=False)
    assert calls[0] >= 4
    seen = set()
    for k in range(1, calls[0] + 1):
        with monkeypatch.context() as m:
            _count_calls(m, module, name, k, Killed())
            try:
                stages.label(world["b"], out, progress=False, overwrite=True)
            except Killed:
                pass
        state = _label_state(out, world)
        assert state in ("a", "b", "none"), (k, state)
        seen.add(state)
        # The stage, as the demo calls it, never takes what is there for labels of run a unless it is.
        if state == "b":
            stages.label(world["a"], out, progress=False, overwrite=True)
        assert json.loads(stages.label(world["a"], out, progress=False).read_text())["info"]["run"] == \
            str(world["a"].resolve())
        assert not _temporaries(tmp_path), k
    # Killed while staging, the old labels stand; killed while renaming (after the old manifest
    # went), nothing is trusted until labels are made again.
    assert "mixed" not in seen and ("a" in seen or where == "replace")


def test_a_full_disk_while_labels_are_rewritten_leaves_the_old_ones_and_names_the_path(world, tmp_path, monkeypatch,
                                                                                      capsys):
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "labels.json"
    stages.label(world["a"], out, progress=False)
    sim = ft.SimulatedDisk(disk, monkeypatch)
    for budget in (0, 100, 2_000, 20_000, 64 * 1024 + 300):
        sim.mode, sim.budget = "full", budget
        assert run_pushseg("label", world["b"], "--out", out, "--no-progress", "--overwrite") == 2
        err = capsys.readouterr().err
        lines = [x for x in err.strip().splitlines() if x.strip()]
        assert len(lines) == 1 and "ENOSPC" in lines[0] and str(disk) in lines[0], err
        sim.mode = None
        assert _label_state(out, world) == "a", budget
        assert not _temporaries(disk)


def test_a_full_disk_during_evaluate_or_finetune_names_the_path_and_trusts_nothing_half_made(world, tmp_path,
                                                                                            monkeypatch):
    disk = tmp_path / "disk"
    disk.mkdir()
    sim = ft.SimulatedDisk(disk, monkeypatch)
    # Budgets from "nothing" to "most of the output" (evaluate writes kilobytes, a model megabytes).
    for stage, out, budget in [("evaluate", "eval", 0), ("evaluate", "eval", 300),
                               ("finetune", "ft", 0), ("finetune", "ft", 20_000), ("finetune", "ft", 2_000_000)]:
        sim.mode, sim.budget = "full", budget
        with pytest.raises(OSError) as e:
            if stage == "evaluate":
                stages.evaluate(world["model"], world["shapes"], disk / out, progress=False)
            else:
                stages.finetune(world["model"], world["shapes"] / "annotations.json", disk / out, progress=False)
        assert e.value.errno == errno.ENOSPC and str(disk) in str(e.value.filename), (stage, budget)
        sim.mode = None
        assert OutputPlace.folder(disk / out, stage).read() is None, (stage, budget)
        assert not _temporaries(disk), (stage, budget)


# -- "already done" only when it provably is ------------------------------------------------------

def test_a_mixed_label_folder_is_labelled_again_not_trusted(world, tmp_path):
    out = tmp_path / "labels.json"
    stages.label(world["a"], out, progress=False)
    a_bytes = out.read_bytes()
    stages.label(world["b"], tmp_path / "b.json", progress=False)
    shutil.copy(tmp_path / "b.json", out)  # b's labels beside a's summary, report and manifest
    assert not verify(label_place(out), {"run": world["a"]})
    stages.label(world["a"], out, progress=False)
    assert out.read_bytes() == a_bytes


def test_labels_of_another_run_are_refused_not_reused(world, tmp_path):
    out = tmp_path / "labels.json"
    stages.label(world["b"], out, progress=False)
    with pytest.raises(RunFolderError, match="made with inputs.run = .*run_b.*, asked for .*run_a"):
        stages.label(world["a"], out, progress=False)


def test_the_label_command_replaces_labels_of_another_run_only_when_told(world, tmp_path, capsys):
    out = tmp_path / "labels.json"
    assert run_pushseg("label", world["a"], "--out", out, "--no-progress") == 0
    assert run_pushseg("label", world["b"], "--out", out, "--no-progress") == 2
    err = capsys.readouterr().err
    assert "made with inputs.run" in err and "--overwrite" in err, err
    assert _label_state(out, world) == "a"
    assert run_pushseg("label", world["b"], "--out", out, "--no-progress", "--overwrite") == 0
    assert _label_state(out, world) == "b"


def test_an_evaluation_whose_scenes_changed_is_made_again(world, tmp_path, caplog):
    scenes = tmp_path / "scenes"
    shutil.copytree(world["shapes"], scenes)
    icfg = InferenceConfig(scales=(1.0,))
    first = json.loads(stages.evaluate(world["model"], scenes, tmp_path / "eval", icfg, progress=False).read_text())
    mtime = (tmp_path / "eval" / "metrics.json").stat().st_mtime_ns
    stages.evaluate(world["model"], scenes, tmp_path / "eval", icfg, progress=False)
    assert (tmp_path / "eval" / "metrics.json").stat().st_mtime_ns == mtime  # proven done: reused
    coco = json.loads((scenes / "annotations.json").read_text())
    coco["annotations"] = coco["annotations"][:1]
    (scenes / "annotations.json").write_text(json.dumps(coco))
    with caplog.at_level("WARNING", logger="pushseg"):
        again = json.loads(stages.evaluate(world["model"], scenes, tmp_path / "eval", icfg, progress=False).read_text())
    # Made again from the changed scenes (the metrics of a weak model may come out the same).
    assert "changed since it was made; making it again" in caplog.text
    assert (tmp_path / "eval" / "metrics.json").stat().st_mtime_ns != mtime
    assert set(again) == set(first)
    place = OutputPlace.folder(tmp_path / "eval", "evaluate")
    assert verify(place, {})  # the new manifest holds the new scenes' digest


def test_a_refused_scenes_call_leaves_the_finished_folder_trusted(tmp_path, capsys):
    out = tmp_path / "scenes"
    argv = ["scenes", "--out", out, "--count", "1", "--width", "160", "--height", "90", "--no-progress"]
    assert run_pushseg(*argv) == 0
    place = OutputPlace.folder(out, "scenes")
    assert verify(place, {})
    assert run_pushseg(*argv, "--seed", "1") == 2  # not empty: refused before anything is touched
    assert "already exists and is not empty" in capsys.readouterr().err
    assert verify(place, {})
    assert run_pushseg(*argv, "--resume") == 0  # the finished folder is continued: nothing to do
    assert verify(place, {})


def test_an_output_of_another_command_is_not_written_over(world, tmp_path):
    stages.evaluate(world["model"], world["shapes"], tmp_path / "x", InferenceConfig(scales=(1.0,)), progress=False)
    with pytest.raises(RunFolderError, match="holds the output of `pushseg evaluate`"):
        stages.finetune(world["model"], world["shapes"] / "annotations.json", tmp_path / "x", progress=False)


def test_identical_trainings_give_identical_model_files(world, tmp_path):
    for name in ("one", "two"):
        assert run_pushseg("finetune", "--labels", world["shapes"] / "annotations.json", "--model", world["model"],
                           "--out", tmp_path / name, *FINETUNE) == 0
    assert (tmp_path / "one" / "model.pt").read_bytes() == (tmp_path / "two" / "model.pt").read_bytes()
    log = json.loads((tmp_path / "one" / "train_log.json").read_text())
    assert "time_s" in log[0]  # the times are kept, beside the weights


@pytest.mark.parametrize("command", ["label", "gallery", "scenes", "pretrain", "finetune", "evaluate", "segment"])
def test_a_disk_that_fills_during_any_command_gives_one_line_naming_the_path(world, tmp_path, monkeypatch, capsys,
                                                                             command):
    disk = tmp_path / "disk"
    disk.mkdir()
    argv = {
        "label": ["label", world["a"], "--out", disk / "labels.json", "--no-progress"],
        "gallery": ["label", world["a"], "--out", tmp_path / "labels.json", "--gallery", disk / "gal", "--no-progress"],
        "scenes": ["scenes", "--out", disk / "scenes", "--count", "1", "--no-progress"],
        "pretrain": ["pretrain", "--scenes", world["shapes"], "--out", disk / "p", "--epochs", "1", *TINY],
        "finetune": ["finetune", "--labels", world["shapes"] / "annotations.json", "--model", world["model"],
                     "--out", disk / "f", *FINETUNE],
        "evaluate": ["evaluate", "--model", world["model"], "--scenes", world["shapes"], "--out", disk / "e",
                     "--no-progress"],
        "segment": ["segment", world["shapes"] / "images" / "00000.png", "--model", world["model"],
                    "--out", disk / "o.png"],
    }[command]
    sim = ft.SimulatedDisk(disk, monkeypatch)
    sim.mode, sim.budget = "full", PROBE_BYTES + 200  # the start-up check passes; the work's writes do not
    assert run_pushseg(*argv) == 2
    out = capsys.readouterr()
    lines = [x for x in out.err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "ENOSPC" in lines[0] and "the disk is full" in lines[0], out.err
    assert str(disk) in lines[0], out.err
    assert not _temporaries(disk)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["label", "finetune"])
def test_a_writer_killed_at_a_random_moment_leaves_the_old_output_or_none(world, tmp_path, command):
    refs = of.references(command, world, tmp_path)
    rng = np.random.default_rng(7)
    for trial in range(2):
        row = of.kill(command, world, tmp_path / f"k{trial}", refs, float(rng.uniform(0.5, 4.0)))
        assert row["state"] in ("v1", "v2", "none"), row
        assert row["redo_rc"] == 0 and row["after_redo"] == "v1" and not row["temporaries_after_redo"], row
