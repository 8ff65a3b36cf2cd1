"""The collection engine (ordering, workers, resume) with a fast fake in place of the simulation.

The end-to-end checks with the PyBullet env are in test_collect_cli.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_frame

from pushseg.data.collection import CollectConfig, EpisodeSpec, collect, episode_specs
from pushseg.data.run import RunReader, encode_transition
from pushseg.errors import BackendError, InputError, RunFolderError
from pushseg.geometry import kinect2_camera
from pushseg.types import Outcome, Push, PushResult, Transition


class FakeRunner:
    """Deterministic episodes drawn from the episode seed, like a deterministic simulation."""

    delay_s = 0.0

    def __init__(self, config: CollectConfig) -> None:
        self.config = config

    def describe(self):
        return {"backend": "sim", "camera": kinect2_camera(32, 18), "objects": {"set": "fake"}, "agent": {"name": "fake"}}

    def run(self, spec: EpisodeSpec):
        rng = np.random.default_rng([spec.env_seed, spec.agent_seed])
        frame = synthetic_frame(rng, 32, 18)
        for step in range(self.config.pushes_per_episode):
            time.sleep(self.delay_s)
            after = synthetic_frame(rng, 32, 18)
            push = Push(float(rng.uniform(0, 32)), float(rng.uniform(0, 18)), float(rng.uniform(-3, 3)), 0.1)
            yield encode_transition(
                Transition(frame, after, push, PushResult(Outcome.EXECUTED), "sim", spec.env_seed, spec.episode, step)
            )
            frame = after

    def close(self):
        pass


class SlowFakeRunner(FakeRunner):
    delay_s = 0.15


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _config(**kw) -> CollectConfig:
    return CollectConfig(**{"episodes": 3, "pushes_per_episode": 3, "seed": 7, **kw})


def test_episode_seeds_depend_on_the_master_seed_only():
    a, b = episode_specs(7, 5), episode_specs(7, 3)
    assert a[:3] == b
    assert len({s.env_seed for s in a}) == 5
    assert episode_specs(8, 3) != b


@pytest.mark.slow
def test_same_seed_same_files_whatever_the_workers(tmp_path):
    one = collect(_config(), tmp_path / "a", runner_factory=FakeRunner, progress=False)
    assert one.written == 9 and one.total == 9
    collect(_config(), tmp_path / "b", runner_factory=FakeRunner, progress=False)
    collect(_config(), tmp_path / "c", workers=2, runner_factory=FakeRunner, progress=False)
    files = _files(tmp_path / "a")
    assert "meta.json" in files and len(files) > 10
    assert _files(tmp_path / "b") == files
    assert _files(tmp_path / "c") == files
    collect(_config(seed=8), tmp_path / "d", runner_factory=FakeRunner, progress=False)
    assert _files(tmp_path / "d") != files
    reader = RunReader(tmp_path / "a")
    assert [r.key for r in reader.records] == [(e, s) for e in range(3) for s in range(3)]
    assert reader.meta.seeds["episodes"][1]["env"] == reader.records[3].seed


def test_refuses_to_overwrite_without_resume(tmp_path):
    collect(_config(episodes=1), tmp_path / "a", runner_factory=FakeRunner, progress=False)
    with pytest.raises(RunFolderError, match="already exists.*--resume"):
        collect(_config(episodes=1), tmp_path / "a", runner_factory=FakeRunner, progress=False)


def test_resume_refuses_other_settings_and_starts_a_run_that_is_not_there(tmp_path):
    collect(_config(episodes=1), tmp_path / "a", runner_factory=FakeRunner, progress=False)
    with pytest.raises(RunFolderError, match="seed: 7 in the run, 9 now"):
        collect(_config(episodes=1, seed=9), tmp_path / "a", resume=True, runner_factory=FakeRunner, progress=False)
    # Killed before the folder existed: --resume starts the run.
    summary = collect(_config(), tmp_path / "none", resume=True, runner_factory=FakeRunner, progress=False)
    assert summary.total == 9 and summary.resume is None


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, workers):
    full = tmp_path / "full"
    collect(_config(), full, runner_factory=FakeRunner, progress=False)
    # What a kill leaves: the first 4 lines (episode 1 half done), a torn 5th, orphan images.
    cut = tmp_path / "cut"
    collect(_config(), cut, runner_factory=FakeRunner, progress=False)
    lines = (cut / "transitions.jsonl").read_bytes().splitlines(keepends=True)
    (cut / "transitions.jsonl").write_bytes(b"".join(lines[:4]) + lines[4][:25])
    for p in (cut / "images/e00002").iterdir():
        p.unlink()
    summary = collect(_config(), cut, resume=True, workers=workers, runner_factory=FakeRunner, progress=False)
    assert summary.resume.completed == 4 and "line 5" in summary.resume.torn_line
    assert summary.resume.orphans_removed  # episode 1 step 1's images whose line was torn
    assert summary.replayed == 1 and summary.written == 5
    assert _files(cut) == _files(full)
    # Resuming a finished run does nothing.
    again = collect(_config(), cut, resume=True, runner_factory=FakeRunner, progress=False)
    assert again.written == 0 and _files(cut) == _files(full)


class DriftingRunner(FakeRunner):
    """Replays differently: what a non-deterministic simulation or changed code would do."""

    def run(self, spec):
        for enc in super().run(spec):
            enc.push["u"] += 1.0
            yield enc


def test_resume_detects_a_replay_that_differs(tmp_path):
    run = tmp_path / "run"
    collect(_config(), run, runner_factory=FakeRunner, progress=False)
    lines = (run / "transitions.jsonl").read_bytes().splitlines(keepends=True)
    (run / "transitions.jsonl").write_bytes(b"".join(lines[:4]))
    with pytest.raises(RunFolderError, match="episode 1 step 0 replayed differently.*push"):
        collect(_config(), run, resume=True, runner_factory=DriftingRunner, progress=False)


def test_bad_settings_are_named():
    with pytest.raises(InputError, match="--episodes"):
        _config(episodes=0)
    with pytest.raises(InputError, match="--agent"):
        _config(agent="clever")
    with pytest.raises(InputError, match="min-objects"):
        _config(backend_config={"min_objects": 5, "max_objects": 2})
    with pytest.raises(InputError, match=r"sim\.width: must be an integer"):
        _config(backend_config={"width": "wide"})


_KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_data_collection import SlowFakeRunner, _config
from pushseg.data.collection import collect
collect(_config(episodes=4), sys.argv[1], resume=len(sys.argv) > 2, workers=int({workers}),
        runner_factory=SlowFakeRunner, progress=False)
"""


def _lines_on_disk(run: Path) -> int:
    path = run / "transitions.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path, workers=1):
    # (--workers 2 under SIGKILL is covered end to end in test_collect_cli.py)
    full = tmp_path / "full"
    collect(_config(episodes=4), full, runner_factory=FakeRunner, progress=False)
    run = tmp_path / "run"
    script = _KILL_SCRIPT.format(tests=str(Path(__file__).parent), workers=workers)
    proc = subprocess.Popen([sys.executable, "-c", script, str(run)], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while _lines_on_disk(run) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the collection ended before it could be killed"
        os.killpg(proc.pid, 9)  # the whole group: workers die too, as with a power cut
    finally:
        proc.wait()
    killed_at = _lines_on_disk(run)
    assert 5 <= killed_at < 12
    subprocess.run([sys.executable, "-c", script, str(run), "--resume"], check=True, timeout=120)
    assert _files(run) == _files(full)


def test_resume_of_a_run_killed_before_meta_json_starts_it(tmp_path):
    full = tmp_path / "full"
    collect(_config(), full, runner_factory=FakeRunner, progress=False)
    run = tmp_path / "run"
    (run / "images").mkdir(parents=True)
    (run / "transitions.jsonl").touch()
    (run / "meta.json.tmp").write_bytes(b'{"sch')  # a meta.json cut short by a full disk
    with pytest.raises(RunFolderError, match="already exists and is not empty; pass --resume"):
        collect(_config(), run, runner_factory=FakeRunner, progress=False)
    collect(_config(), run, resume=True, runner_factory=FakeRunner, progress=False)
    assert _files(run) == _files(full)


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"x")
    with pytest.raises(RunFolderError, match="no meta.json and holds files pushseg did not make"):
        collect(_config(), other, resume=True, runner_factory=FakeRunner, progress=False)
    assert [p.name for p in other.iterdir()] == ["cat.jpg"]


def test_resume_with_other_settings_leaves_the_folder_alone(tmp_path):
    run = tmp_path / "run"
    collect(_config(), run, runner_factory=FakeRunner, progress=False)
    jsonl = run / "transitions.jsonl"
    jsonl.write_bytes(jsonl.read_bytes()[:-10])  # a torn last line that resume would drop
    before = _files(run)
    with pytest.raises(RunFolderError, match="pushes_per_episode: 3 in the run, 4 now"):
        collect(_config(pushes_per_episode=4), run, resume=True, runner_factory=FakeRunner, progress=False)
    assert _files(run) == before


class FailingRunner(FakeRunner):
    """Episode 1 hits a problem the backend reports clearly (e.g. the robot stopped)."""

    def run(self, spec):
        for enc in super().run(spec):
            if spec.episode == 1 and enc.step == 1:
                raise BackendError("the arm stopped: safety limit")
            yield enc


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_a_failing_episode_stops_the_run_and_keeps_what_was_done(tmp_path, workers):
    run = tmp_path / "run"
    with pytest.raises(BackendError, match="the arm stopped"):
        collect(_config(), run, workers=workers, runner_factory=FailingRunner, progress=False)
    keys = [r.key for r in RunReader(run).records]
    assert keys == [(0, 0), (0, 1), (0, 2), (1, 0)]
    summary = collect(_config(), run, resume=True, workers=workers, runner_factory=FakeRunner, progress=False)
    assert summary.total == 9
