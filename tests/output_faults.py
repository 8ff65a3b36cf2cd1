"""Fault scenarios for the outputs of every writing command: races, kills and full disks.

Used by tests/test_fault_outputs.py (a few cases, in CI) and benchmarks/reliability.py
(``outputs``: many, each command in its own processes). An output's *state* after a
fault is the version its manifest proves ("v1", "v2"), "none" (no manifest: nothing
is trusted) or "mixed" (a manifest that does not verify, or files of both versions
under one manifest): "mixed" must never happen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fault_tools as ft

from pushseg.data.collection import CollectConfig, collect
from pushseg.data.manifest import OutputPlace, verify
from pushseg.labeling.batch import label_place
from pushseg.training.synthetic import write_synthetic_set

TINY = ["--work-width", "160", "--patch-size", "64", "--object-size", "40", "--mask-size", "16",
        "--batches", "2", "--batch-size", "4", "--device", "cpu", "--no-progress", "--lr-decay", "none"]
FINETUNE = ["--epochs", "1", "--batches", "2", "--batch-size", "4", "--device", "cpu", "--no-progress"]
COMMANDS = ("label", "finetune", "pretrain", "evaluate", "scenes")


def make_world(root: Path) -> dict[str, Path]:
    """Inputs for every writing command: a shapes set, two small runs, a tiny model."""
    from conftest import run_pushseg

    root.mkdir(parents=True, exist_ok=True)
    shapes = root / "shapes"
    write_synthetic_set(shapes, 4, seed=0, height=90, width=160, objects=(1, 3))
    world = {"root": root, "shapes": shapes, "model": root / "model" / "model.pt"}
    for name, seed in (("a", 3), ("b", 4)):
        world[name] = root / f"run_{name}"
        collect(CollectConfig(episodes=2, pushes_per_episode=2, seed=seed,
                              backend_config={"width": ft.W, "height": ft.H}),
                world[name], runner_factory=ft.FakeRunner, progress=False)
    assert run_pushseg("pretrain", "--scenes", shapes, "--out", root / "model", "--epochs", "1", *TINY) == 0
    return world


@dataclasses.dataclass
class Writer:
    """One command writing one output, in two versions (other inputs or settings)."""

    command: str
    v1: list
    v2: list
    place: OutputPlace
    inputs1: dict
    inputs2: dict
    record: str  # the settings record: its digest tells the versions apart

    def state(self, digests: dict[str, str]) -> str:
        doc = self.place.read()
        if doc is None:
            return "none"
        for version, inputs in (("v1", self.inputs1), ("v2", self.inputs2)):
            if doc["files"].get(self.record) == digests.get(version) and verify(self.place, inputs):
                return version
        return "mixed"


def writer(command: str, w: dict, out: Path) -> Writer:
    scenes_json = w["shapes"] / "annotations.json"
    if command == "label":
        out = out / "labels.json"
        base = ["label", "--out", out, "--no-progress", "--overwrite"]
        return Writer(command, [*base[:1], w["a"], *base[1:]], [*base[:1], w["b"], *base[1:]], label_place(out),
                      {"run": w["a"]}, {"run": w["b"]}, "labels_config.yaml")
    if command == "finetune":
        base = ["finetune", "--labels", scenes_json, "--model", w["model"], "--out", out, *FINETUNE, "--overwrite"]
        inputs = {"model": w["model"], "labels": scenes_json}
        return Writer(command, [*base, "--seed", "0"], [*base, "--seed", "1"], OutputPlace.folder(out, command),
                      inputs, inputs, "config.yaml")
    if command == "pretrain":
        base = ["pretrain", "--scenes", w["shapes"], "--out", out, "--epochs", "1", *TINY, "--overwrite"]
        inputs = {"scenes": scenes_json}
        return Writer(command, [*base, "--seed", "0"], [*base, "--seed", "1"], OutputPlace.folder(out, command),
                      inputs, inputs, "config.yaml")
    if command == "evaluate":
        base = ["evaluate", "--model", w["model"], "--scenes", w["shapes"], "--out", out, "--no-progress",
                "--overwrite", "--scales", "1"]
        inputs = {"model": w["model"], "scenes": scenes_json}
        return Writer(command, [*base, "--nms", "0.5"], [*base, "--nms", "0.3"], OutputPlace.folder(out, command),
                      inputs, inputs, "config.yaml")
    if command == "scenes":  # a scenes folder is never written over: the second writer is refused
        base = ["scenes", "--out", out, "--count", "2", "--width", "160", "--height", "90", "--no-progress"]
        return Writer(command, [*base, "--seed", "0"], [*base, "--seed", "1"], OutputPlace.folder(out, command),
                      {}, {}, "config.yaml")
    raise ValueError(command)


def start(argv: list) -> subprocess.Popen:
    return subprocess.Popen(ft.cli_command(*[str(a) for a in argv]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def record_digest(wr: Writer) -> str | None:
    doc = wr.place.read()
    return None if doc is None else doc["files"].get(wr.record)


def references(command: str, w: dict, tmp: Path) -> dict[str, str]:
    """The settings record's digest of each version, written undisturbed in folders of their own."""
    out = {}
    for version in ("v1", "v2"):
        wr = writer(command, w, tmp / f"ref_{command}_{version}")
        r = subprocess.run(ft.cli_command(*[str(a) for a in getattr(wr, version)]), capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        out[version] = record_digest(wr)
    return out


def temporaries(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*.tmp")] if root.exists() else []


def race(command: str, w: dict, out: Path, refs: dict[str, str], stagger_s: float) -> dict:
    """Two writers of the two versions into one output, the second ``stagger_s`` after the first."""
    wr = writer(command, w, out)
    first = start(wr.v1)
    time.sleep(stagger_s)
    second = start(wr.v2)
    results = [(p.wait(), p.communicate()[1]) for p in (first, second)]
    rcs = [rc for rc, _ in results]
    state = wr.state(refs)
    last_ok = "v2" if rcs[1] == 0 and command != "scenes" else "v1" if rcs[0] == 0 else None
    return {
        "command": command, "stagger_s": round(stagger_s, 2), "rc": rcs, "state": state,
        "refused_naming_holder": any("is being written by PID" in err for _, err in results),
        "tracebacks": sum("Traceback" in err for _, err in results),
        # data lost: a writer said it succeeded but the output is not what the last successful one wrote
        "lost": state != last_ok if last_ok else False,
        "corrupted": state == "mixed" or bool(temporaries(out) and state != "none"),
    }


def kill(command: str, w: dict, out: Path, refs: dict[str, str], delay_s: float) -> dict:
    """v1 written whole, then v2 started over it and SIGKILLed after ``delay_s``; then v1 again."""
    wr = writer(command, w, out)
    r = subprocess.run(ft.cli_command(*[str(a) for a in wr.v1]), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    p = start(wr.v2)
    time.sleep(delay_s)
    killed = p.poll() is None
    if killed:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    state = wr.state(refs)
    redo = [*wr.v1, "--resume"] if command == "scenes" else wr.v1  # a scenes folder is continued, never rewritten
    again = subprocess.run(ft.cli_command(*[str(a) for a in redo]), capture_output=True, text=True)
    return {"command": command, "delay_s": round(delay_s, 2), "killed": killed, "state": state,
            "allowed": ["v1", "v2", "none"] if command != "scenes" else ["v1"],
            "redo_rc": again.returncode, "after_redo": wr.state(refs), "temporaries_after_redo": temporaries(out)}


def disk_full(command: str, w: dict, out: Path, refs: dict[str, str], budget: int) -> dict:
    """v1 written whole, then v2 in this process on a disk that fills after ``budget`` bytes."""
    import pytest
    from conftest import run_pushseg

    wr = writer(command, w, out)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert run_pushseg(*wr.v1) == 0
    with pytest.MonkeyPatch.context() as mp:

        sim = ft.SimulatedDisk(out if out.is_dir() else out.parent, mp)
        sim.mode, sim.budget = "full", budget
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = run_pushseg(*wr.v2)
        sim.mode = None
    lines = [x for x in err.getvalue().strip().splitlines() if x.strip()]
    state = wr.state(refs)
    return {"command": command, "budget": budget, "rc": rc, "state": state,
            "one_line_naming_path": rc == 0 or (len(lines) == 1 and str(out) in lines[0]),
            "corrupted": state not in ("v1", "v2") if rc == 0 else state not in ("v1", "none"),
            "temporaries": temporaries(out), "message": lines[-1][:200] if lines else ""}


def summarize(rows: list[dict]) -> dict:
    return {"trials": len(rows), "by_command": {c: sum(r["command"] == c for r in rows) for c in COMMANDS},
            "mixed": sum(r["state"] == "mixed" for r in rows)}


def dumps(row: dict) -> str:
    return json.dumps(row, default=str)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use benchmarks/reliability.py outputs")
