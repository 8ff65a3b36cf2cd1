"""Two writers on one run folder, and locks left by killed writers."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys

import fault_tools as ft
import pytest

from pushseg.data.collection import CollectConfig, collect
from pushseg.data.lock import FolderBusyError, FolderLock, lock_folder

EPISODES, PUSHES = 3, 3


def test_second_writer_is_refused_with_the_holders_pid_and_host(tmp_path):
    with lock_folder(tmp_path / "run", "pushseg collect"):
        with pytest.raises(FolderBusyError, match=rf"being written by PID {os.getpid()} on host "
                                                  rf"{socket.gethostname()} \(pushseg collect"):
            FolderLock(tmp_path / "run").acquire()
    # Released: the next writer gets it, and no lock file stays behind.
    with FolderLock(tmp_path / "run"):
        pass
    assert not (tmp_path / "run" / ".lock").exists()


def test_a_lock_is_released_when_its_holder_is_killed(tmp_path, caplog):
    run = tmp_path / "run"
    code = f"from pushseg.data.lock import lock_folder; held = lock_folder({str(run)!r}, 'x'); import os; os.kill(os.getpid(), 9)"
    subprocess.run([sys.executable, "-c", code])
    stale = json.loads((run / ".lock").read_text())
    with caplog.at_level(logging.WARNING, logger="pushseg"):
        lock = FolderLock(run).acquire()
    lock.release()
    assert lock.stale["pid"] == stale["pid"]
    assert f"stale lock left by PID {stale['pid']} on host {stale['host']}" in caplog.text


@pytest.mark.slow
def test_race_of_two_collections(tmp_path):
    reference = ft.reference_run(tmp_path / "ref", 2, 2)
    trial = tmp_path / "race"
    trial.mkdir()
    # B starts once A has written a push, and A waits for B to end: they overlap whatever the load.
    r = ft.race(trial, reference, episodes=2, pushes=2, stagger_s=None, delay_s=0.0)
    assert not r["corrupted"], r
    assert sorted(r["rc"]) == [0, 2], r  # one wrote, the other was told who was writing
    loser = r["stderr"][r["rc"].index(2)]
    assert "is being written by PID" in loser and "pushseg collect" in loser, r


def test_label_refuses_a_run_that_is_being_collected(tmp_path):
    from pushseg.labeling.batch import label_run

    run = tmp_path / "run"
    collect(CollectConfig(episodes=1, pushes_per_episode=1, backend_config={"width": ft.W, "height": ft.H}), run,
            runner_factory=ft.FakeRunner, progress=False)
    with lock_folder(run, "pushseg collect --resume"):
        with pytest.raises(FolderBusyError, match="pushseg collect --resume"):
            label_run(run, tmp_path / "labels.json", progress=False)
