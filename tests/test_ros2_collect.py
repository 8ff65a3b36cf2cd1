"""`pushseg collect --backend ros2` over Fast DDS against the simulated Panda, as a user runs it.

Every ROS 2 process here is a subprocess (tests/ros2_fixtures.py): the collection,
the simulated arm, and the importer of its recording. Each test has its own DDS domain.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ros2_fixtures import REPO, NodeProcess, kill_group, require_ros2, ros2_env

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "panda_ros2.yaml"
IMAGE = ["--width", "320", "--height", "240"]
ARM = "pushseg.ros2.sim_arm"


@pytest.fixture(autouse=True)
def _ros2():
    require_ros2()


def _collect(out: Path, env, *extra: str, timeout: float = 240.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pushseg.cli.main", "collect", "--backend", "ros2", "--config", str(EXAMPLE),
         "--out", str(out), "--episodes", "1", "--no-progress", *extra],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "transitions.jsonl").read_text().splitlines() if line.strip()]


def test_a_collection_over_dds_pushes_objects_records_and_imports_to_the_same_transitions(tmp_path):
    log, rec = tmp_path / "motions.jsonl", tmp_path / "session.mcap"
    with ros2_env() as env:
        with NodeProcess(ARM, *IMAGE, "--seed", "0", "--time-scale", "0.05", "--motion-log", str(log),
                         env=env, ready="sim_arm: ready", ready_timeout=60.0) as node:
            done = _collect(tmp_path / "run", env, "--pushes-per-episode", "3", "--set", "ros2.safety.dry_run=false",
                            "--record", str(rec))
            assert done.returncode == 0, done.stderr[-3000:] + node.output(40)
    rows = _rows(tmp_path / "run")
    assert len(rows) == 3 and all(r["backend"] == "ros2" for r in rows)
    executed = [r for r in rows if r["result"]["outcome"] == "executed"]
    assert len(executed) >= 2, [r["result"].get("reason") for r in rows]
    stretches = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(m["translation"] > 0.005 for s in stretches for m in s["motions"]), "the arm's pushes moved an object"
    # The recording becomes a run folder with the same pushes.
    imported = subprocess.run(
        [sys.executable, "-m", "pushseg.cli.main", "import-bag", str(rec), "--config", str(EXAMPLE),
         "--out", str(tmp_path / "imported")], cwd=REPO, capture_output=True, text=True, timeout=180)
    assert imported.returncode == 0, imported.stderr[-3000:]
    again = [r for r in _rows(tmp_path / "imported") if r["result"]["outcome"] == "executed"]
    assert len(again) == len(executed)
    for live, rebuilt in zip(executed, again):
        for key in ("start_base", "end_base"):
            gap = max(abs(a - b) for a, b in zip(live["result"][key], rebuilt["result"][key]))
            assert gap < 0.01, (key, live["result"][key], rebuilt["result"][key])
    labelled = subprocess.run([sys.executable, "-m", "pushseg.cli.main", "label", str(tmp_path / "run"),
                               "--out", str(tmp_path / "labels.json")],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
    assert labelled.returncode == 0, labelled.stderr[-2000:]
    assert json.loads((tmp_path / "labels.json").read_text())["images"]


def test_a_dry_run_plans_every_push_and_sends_nothing(tmp_path):
    log = tmp_path / "motions.jsonl"
    with ros2_env() as env:
        with NodeProcess(ARM, *IMAGE, "--seed", "1", "--time-scale", "0.05", "--motion-log", str(log),
                         env=env, ready="sim_arm: ready", ready_timeout=60.0) as node:
            done = _collect(tmp_path / "run", env, "--pushes-per-episode", "2", "--dry-run")
            assert done.returncode == 0, done.stderr[-3000:]
            output = node.output()
    rows = _rows(tmp_path / "run")
    assert rows and all(r["result"]["outcome"] == "rejected" for r in rows)
    assert any(r["result"]["reason"].startswith("dry_run: planned") for r in rows)
    assert "accepted" not in output, "no trajectory reached the arm"
    assert not log.exists() or not log.read_text().strip()


def test_ctrl_c_during_a_push_stops_the_arm_and_takes_it_back_to_ready(tmp_path):
    with ros2_env() as env:
        with NodeProcess(ARM, *IMAGE, "--seed", "0", "--time-scale", "1.0", env=env, ready="sim_arm: ready",
                         ready_timeout=60.0) as node:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pushseg.cli.main", "collect", "--backend", "ros2", "--config", str(EXAMPLE),
                 "--out", str(tmp_path / "run"), "--episodes", "1", "--pushes-per-episode", "3", "--no-progress",
                 "--set", "ros2.safety.dry_run=false"],
                env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            try:
                deadline = time.monotonic() + 120
                while "trajectory 1 accepted" not in node.output():
                    assert proc.poll() is None, proc.communicate()[1][-3000:]
                    assert time.monotonic() < deadline, node.output(30)
                    time.sleep(0.05)
                time.sleep(0.5)  # mid-motion: a push takes seconds at time scale 1
                proc.send_signal(signal.SIGINT)
                _, err = proc.communicate(timeout=60)
            finally:
                kill_group(proc)
            output = node.output()
    assert proc.returncode == 130, err[-3000:]
    assert "arm stopped, arm back at its ready pose" in err, err[-3000:]
    stop = output.find("empty trajectory: stopping the arm")
    assert stop > 0, output[-2000:]
    assert "trajectory 2 accepted" in output[stop:], "the retract was sent after the stop"


def test_a_camera_that_stops_publishing_gives_a_clear_timeout(tmp_path):
    with ros2_env() as env:
        with NodeProcess(ARM, *IMAGE, "--silent-camera", env=env, ready="sim_arm: ready", ready_timeout=60.0):
            done = _collect(tmp_path / "run", env, "--set", "ros2.timeouts.image=1.5")
    assert done.returncode == 2, done.stderr[-2000:]
    line = done.stderr.strip().splitlines()[-1]
    assert "no messages on /camera/color/image_raw" in line and "camera driver" in line
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("override,expected", [
    ({"camera": {"pose": "urdf", "frame": "no_such_camera"}}, "camera.frame: 'no_such_camera' is not a link"),
    ({"camera": {"color": "/camera/aligned_depth_to_color/image_raw"}}, "encoding '16UC1' is not supported"),
])
def test_config_errors_give_one_line_and_exit_2(tmp_path, override, expected):
    config = yaml.safe_load(EXAMPLE.read_text())
    for section, values in override.items():
        config["ros2"].setdefault(section, {}).update(values)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(config))
    with ros2_env() as env:
        with NodeProcess(ARM, *IMAGE, env=env, ready="sim_arm: ready", ready_timeout=60.0):
            done = subprocess.run(
                [sys.executable, "-m", "pushseg.cli.main", "collect", "--backend", "ros2", "--config", str(path),
                 "--out", str(tmp_path / "run"), "--episodes", "1", "--no-progress"],
                env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert expected in lines[-1] and "Traceback" not in done.stderr, done.stderr[-2000:]


def test_a_missing_topic_name_is_refused_before_anything_connects(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pushseg.cli.main", "collect", "--backend", "ros2", "--config", str(EXAMPLE),
         "--out", str(tmp_path / "run"), "--set", "ros2.camera.depth="],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "camera.depth" in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr
