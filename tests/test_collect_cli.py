"""`pushseg collect` end to end with the PyBullet simulation: determinism, workers, SIGKILL + resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import folder_files, run_pushseg

from pushseg.data.run import RunReader

ARGS = ("collect", "--backend", "sim", "--objects", "target-train", "--agent", "separation", "--episodes", "2",
        "--pushes-per-episode", "3", "--seed", "3", "--width", "320", "--height", "180", "--no-progress")  # fmt: skip


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("collect") / "reference"
    assert run_pushseg(*ARGS, "--out", out) == 0
    return out


@pytest.mark.slow
def test_collect_writes_a_valid_run(reference_run):
    reader = RunReader(reference_run, verify_digests=True)
    assert [r.key for r in reader.records] == [(e, s) for e in range(2) for s in range(3)]
    assert reader.meta.config["seed"] == 3 and reader.meta.agent["name"] == "separation"
    assert len(reader.meta.objects["names"]) >= 40
    t = reader.transition(0)
    assert t.before.rgb.shape == (180, 320, 3) and t.before.instance_ids is not None
    assert any(reader.transition(i).result.executed for i in range(len(reader)))


@pytest.mark.slow
def test_same_seed_gives_identical_files_with_one_or_two_workers(reference_run, tmp_path):
    assert run_pushseg(*ARGS, "--out", tmp_path / "again", "--workers", "2") == 0
    assert folder_files(tmp_path / "again") == folder_files(reference_run)


@pytest.mark.slow
def test_refuses_to_overwrite_a_run(reference_run, capsys):
    before = folder_files(reference_run)
    assert run_pushseg(*ARGS, "--out", reference_run) == 2
    assert "already exists and is not empty; pass --resume" in capsys.readouterr().err
    assert folder_files(reference_run) == before


def test_bad_settings_give_clear_errors(tmp_path, capsys):
    assert run_pushseg(*ARGS, "--objects", "kitchen", "--out", tmp_path / "x") == 2
    assert "unknown object set 'kitchen'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert run_pushseg(*ARGS, "--episodes", "0", "--out", tmp_path / "y") == 2
    assert r"--episodes must be in [1, 100000], got 0" in capsys.readouterr().err
    assert run_pushseg(*ARGS, "--dry-run", "--out", tmp_path / "z") == 2
    assert "--dry-run is for --backend real only" in capsys.readouterr().err
    assert run_pushseg(*ARGS, "--set", "sim.width=wide", "--out", tmp_path / "w") == 2
    assert "sim.width: must be an integer, got 'wide'" in capsys.readouterr().err
    assert run_pushseg(*ARGS, "--set", "real.safety.max_push_speed=0.05", "--out", tmp_path / "v") == 2
    assert "real.safety.max_push_speed is for --backend real only" in capsys.readouterr().err


def _lines(run: Path) -> int:
    path = run / "transitions.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
def test_sigkill_mid_collection_then_resume(reference_run, tmp_path):
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "pushseg.cli.main", *ARGS, "--out", str(run), "--workers", "2"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _lines(run) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, f"collection ended before the kill: {proc.stderr.read().decode()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, mid-run
    finally:
        proc.wait()
        proc.stderr.close()
    on_disk = (run / "transitions.jsonl").read_bytes()
    kept = on_disk[: on_disk.rfind(b"\n") + 1]  # whole lines at the moment of the kill
    assert 2 <= kept.count(b"\n") < 6
    assert run_pushseg(*ARGS, "--out", run, "--resume") == 0
    assert (run / "transitions.jsonl").read_bytes().startswith(kept)  # nothing completed was lost
    assert folder_files(run) == folder_files(reference_run)  # nor duplicated: same as uninterrupted
