"""Full and read-only disks: a one-line error naming the path and exit 2, found before any work where
possible, never a traceback or a reported success; and a run cut short by a full disk resumes.

A real tmpfs is mounted where the test may (as root, as in CI); elsewhere the same tests run against
:class:`fault_tools.SimulatedDisk`, which makes writes under the folder fail with the same errno.
"""

from __future__ import annotations

import numpy as np
import pytest

import fault_tools as ft
from conftest import run_pushseg
from pushseg.data import collection
from pushseg.data.images import write_image_file

EPISODES, PUSHES = 3, 3


@pytest.fixture
def disk(tmp_path, monkeypatch):
    with ft.small_disk(tmp_path / "disk", 1024) as mounted:
        yield ft.Disk(tmp_path / "disk", 1024, monkeypatch, mounted)


@pytest.fixture
def fake_collect(monkeypatch):
    monkeypatch.setitem(collection.collect.__kwdefaults__, "runner_factory", ft.FakeRunner)


def _one_line_error(err: str, *needles: str) -> None:
    assert "Traceback" not in err, err
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], err


def test_collect_on_a_full_disk_stops_at_start_then_runs_when_there_is_room(disk, fake_collect, capsys, tmp_path):
    reference = ft.reference_run(tmp_path / "ref", EPISODES, PUSHES)
    run = disk.path / "run"
    disk.fill(leave_kb=8)
    assert run_pushseg(*ft.collect_args(run, EPISODES, PUSHES, 1)) == 2
    _one_line_error(capsys.readouterr().err, "--out cannot be written", "ENOSPC", "the disk is full")
    assert not run.exists()
    disk.free()
    assert run_pushseg(*ft.collect_args(run, EPISODES, PUSHES, 1)) == 0
    assert ft.files(run) == reference


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_disk_full_during_a_collection_then_resume_completes_it(disk, fake_collect, capsys, tmp_path, workers):
    reference = ft.reference_run(tmp_path / "ref", EPISODES, PUSHES)
    run = disk.path / "run"
    disk.fill(leave_kb=100)  # room for the start and a few pushes, not for all nine (~180 kB)
    if workers == 2 and not disk.mounted:
        workers = 1  # the simulated disk lives in this process only
    assert run_pushseg(*ft.collect_args(run, EPISODES, PUSHES, workers)) == 2
    out = capsys.readouterr()
    _one_line_error(out.err, "ENOSPC", "the disk is full")
    assert "wrote" not in out.out  # no success reported
    disk.free()
    assert run_pushseg(*ft.collect_args(run, EPISODES, PUSHES, workers, resume=True)) == 0
    assert ft.files(run) == reference


def test_every_command_refuses_a_read_only_output_before_working(disk, capsys, tmp_path):
    image = tmp_path / "img.png"
    write_image_file(image, np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    ro = disk.path
    disk.readonly()
    try:
        cases = [
            ("collect", "--out", ro / "run", "--episodes", "1"),
            ("scenes", "--out", ro / "scenes", "--count", "1"),
            ("label", tmp_path / "no-run", "--out", ro / "labels.json"),
            ("segment", image, "--out", ro / "o.png"),
            ("segment", image, "--out", tmp_path / "o.png", "--json", ro / "o.json"),
            ("evaluate", "--scenes", tmp_path, "--out", ro / "eval"),
            ("finetune", "--labels", tmp_path / "labels.json", "--out", ro / "ft"),
            ("pretrain", "--scenes", tmp_path, "--out", ro / "pt"),
        ]
        for argv in cases:
            assert run_pushseg(*argv) == 2, argv
            _one_line_error(capsys.readouterr().err, "EROFS", "read-only")
        assert not (tmp_path / "o.png").exists()  # the check came before the work
    finally:
        disk.readonly(False)


def test_segment_never_reports_objects_it_could_not_write(disk, capsys, tmp_path):
    image = tmp_path / "img.png"
    write_image_file(image, np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    disk.fill(leave_kb=4)
    assert run_pushseg("segment", image, "--out", disk.path / "o.png") == 2
    out = capsys.readouterr()
    _one_line_error(out.err, "ENOSPC")
    assert "objects" not in out.out


def test_an_os_error_after_the_checks_is_one_line_and_exit_2(fake_collect, monkeypatch, capsys, tmp_path):
    import errno

    from pushseg.data import run as run_mod

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "images" / "x.png"))

    monkeypatch.setattr(run_mod.files, "write_atomic", full)
    assert run_pushseg(*ft.collect_args(tmp_path / "run", 1, 1, 1)) == 2
    _one_line_error(capsys.readouterr().err, "x.png", "ENOSPC", "free some space")
