"""Executors: local processes and Ray give the same results in the same order, and Ray loses nothing
when a worker process dies. Ray tests start their own local Ray (2 CPUs) once for the module."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from pushseg.cli.main import main as cli_main
from pushseg.data.collection import CollectConfig, collect
from pushseg.errors import InputError
from pushseg.executors import ExecutorConfig, ordered_map
from test_data_collection import FakeRunner, _files

TESTS = str(Path(__file__).parent)


def _square_setup(offset):
    return {"offset": offset}


def _square(state, job):
    return job * job + state["offset"]


def _fail_on_three(state, job):
    if job == 3:
        raise InputError("job 3 is bad input")
    return job


class DyingRunner(FakeRunner):
    """Kills its own process the first time it reaches episode 1, step 1 (a marker file remembers)."""

    def run(self, spec):
        for enc in super().run(spec):
            if spec.episode == 1 and enc.step == 1 and not os.path.exists(self.config_marker()):
                Path(self.config_marker()).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            yield enc

    def config_marker(self) -> str:
        return os.environ["PUSHSEG_TEST_DIE_MARKER"]


def _config(**kw) -> CollectConfig:
    return CollectConfig(**{"episodes": 4, "pushes_per_episode": 3, "seed": 11, **kw})


@pytest.mark.slow
def test_local_ordered_map_keeps_job_order_with_workers():
    jobs = list(range(7))
    one = list(ordered_map(_square_setup, (1,), _square, jobs))
    two = list(ordered_map(_square_setup, (1,), _square, jobs, ExecutorConfig(workers=2)))
    assert one == two == [j * j + 1 for j in jobs]


def test_executor_settings_are_checked():
    with pytest.raises(InputError, match="--executor"):
        ExecutorConfig(executor="spark")
    with pytest.raises(InputError, match="--workers"):
        ExecutorConfig(workers=0)
    with pytest.raises(InputError, match="--ray-address"):
        ExecutorConfig(ray_address="auto")


def test_ray_executor_without_ray_says_how_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(InputError, match=r"pip install 'pushseg\[cluster\]'"):
        list(ordered_map(_square_setup, (0,), _square, [1, 2], ExecutorConfig(executor="ray")))
    code = cli_main(["collect", "--episodes", "1", "--pushes-per-episode", "1", "--width", "64", "--height", "36",
                     "--out", str(tmp_path / "run"), "--executor", "ray", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "needs Ray" in err and "pushseg[cluster]" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    try:
        import ray
    except ImportError:
        if os.environ.get("PUSHSEG_REQUIRE_RAY"):
            pytest.fail("PUSHSEG_REQUIRE_RAY is set but ray is not installed")
        pytest.skip("ray is not installed (pip install 'pushseg[cluster]')")
    # Ray's worker processes inherit the environment as it is at ray.init: let them import this
    # test's fake runners, and tell the dying runner where its marker goes.
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "PUSHSEG_TEST_DIE_MARKER")}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS, saved["PYTHONPATH"]) if p)
    os.environ["PUSHSEG_TEST_DIE_MARKER"] = str(tmp_path_factory.mktemp("ray") / "died")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_ray_map_is_ordered_and_raises_the_jobs_own_error(local_ray):
    cfg = ExecutorConfig(executor="ray", workers=2)
    assert list(ordered_map(_square_setup, (0,), _square, range(6), cfg)) == [j * j for j in range(6)]
    with pytest.raises(InputError, match="job 3 is bad input"):
        list(ordered_map(_square_setup, (0,), _fail_on_three, range(6), cfg))


def test_ray_collection_is_byte_identical_to_local(local_ray, tmp_path):
    collect(_config(), tmp_path / "local", workers=1, runner_factory=FakeRunner, progress=False)
    collect(_config(), tmp_path / "ray", workers=2, executor="ray", runner_factory=FakeRunner, progress=False)
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")


def test_a_ray_worker_killed_mid_episode_is_retried_and_nothing_is_lost(local_ray, tmp_path):
    marker = Path(os.environ["PUSHSEG_TEST_DIE_MARKER"])
    collect(_config(), tmp_path / "local", runner_factory=FakeRunner, progress=False)
    summary = collect(_config(), tmp_path / "ray", workers=2, executor="ray", runner_factory=DyingRunner,
                      progress=False)
    assert marker.exists(), "the worker never died: the test did not test a retry"
    assert summary.written == summary.total == 12
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")


def test_ray_scenes_and_labels_equal_local(local_ray, tmp_path):
    from pushseg.data.scenes import ScenesConfig, write_scenes
    from pushseg.labeling.batch import label_run

    scenes = ScenesConfig(objects="target-test", count=2, seed=3, width=64, height=36)
    write_scenes(scenes, tmp_path / "s_local", progress=False)
    write_scenes(scenes, tmp_path / "s_ray", progress=False, executor=ExecutorConfig(executor="ray", workers=2))
    assert _files(tmp_path / "s_ray") == _files(tmp_path / "s_local")

    collect(_config(), tmp_path / "run", runner_factory=FakeRunner, progress=False)
    label_run(tmp_path / "run", tmp_path / "local.json", progress=False)
    label_run(tmp_path / "run", tmp_path / "ray.json", progress=False, executor=ExecutorConfig(executor="ray", workers=2))
    assert (tmp_path / "ray.json").read_bytes() == (tmp_path / "local.json").read_bytes()
