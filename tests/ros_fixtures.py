"""Helpers for the tests that need ROS1: a real rosmaster on 127.0.0.1 and the fake PR2 node.

* :func:`require_ros` skips (with the reason) where ROS is not installed, and
  fails instead when ``PUSHSEG_REQUIRE_ROS=1`` (CI).
* :func:`ros_master` starts ``rosmaster --core`` on a free port with a temporary
  ``ROS_HOME`` and points ``ROS_MASTER_URI`` (this process and its children) at it.
* :class:`FakePR2Process` runs ``python -m pushseg.real.fake_pr2`` in its own
  process and waits, with a timeout, for it to say it is ready.

Everything started here is killed in teardown, by process group, with timeouts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pushseg.real.rosenv import ros_available, ros_required

REPO = Path(__file__).resolve().parents[1]


def require_ros() -> None:
    ok, why = ros_available()
    if ok:
        return
    if ros_required():
        pytest.fail(f"PUSHSEG_REQUIRE_ROS is set but ROS1 is not usable: {why}")
    pytest.skip(f"ROS1 is not installed: {why}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def ros_master():
    """A rosmaster of our own; yields the environment its clients need."""
    require_ros()
    port = free_port()
    home = tempfile.mkdtemp(prefix="pushseg_ros_home_")
    env_update = {
        "ROS_MASTER_URI": f"http://127.0.0.1:{port}",
        "ROS_HOME": home,
        "ROS_IP": "127.0.0.1",
        "ROS_LOG_DIR": os.path.join(home, "log"),
    }
    saved = {k: os.environ.get(k) for k in env_update}
    os.environ.update(env_update)
    log = open(os.path.join(home, "rosmaster.log"), "w")
    proc = subprocess.Popen(
        ["rosmaster", "--core", "-p", str(port), "--timeout", "5"],
        stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True,
    )
    try:
        if not _wait_port(port, 20.0):
            raise RuntimeError(f"rosmaster did not open port {port} within 20 s; see {home}/rosmaster.log")
        yield dict(env_update)
    finally:
        _kill(proc)
        log.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class FakePR2Process:
    """The fake PR2 + Kinect2 node in its own process (its output is kept for failure messages)."""

    def __init__(self, *args: str, ready_timeout: float = 60.0) -> None:
        self.args = ["--width", "160", "--height", "90", "--time-scale", "0.1", *args]
        self.ready_timeout = ready_timeout
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "FakePR2Process":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pushseg.real.fake_pr2", *self.args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=os.environ.copy(), start_new_session=True,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                if line.startswith("fake_pr2: ready"):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(self.ready_timeout):
            self.__exit__(None, None, None)
            raise RuntimeError(f"fake_pr2 not ready within {self.ready_timeout} s:\n" + "\n".join(self.lines[-30:]))
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            _kill(self.proc)

    def output(self) -> str:
        return "\n".join(self.lines)


class TopicRecorder:
    """Counts messages on topics (e.g. action goal and cancel topics) from inside the test process."""

    def __init__(self, topics: dict[str, type]) -> None:
        import rospy

        self.counts = {t: 0 for t in topics}
        self.messages: dict[str, list] = {t: [] for t in topics}
        self._subs = [rospy.Subscriber(t, cls, self._on, t, queue_size=50) for t, cls in topics.items()]

    def _on(self, msg, topic: str) -> None:
        self.counts[topic] += 1
        self.messages[topic].append(msg)

    def close(self) -> None:
        for s in self._subs:
            s.unregister()


def init_test_node() -> None:
    """The test process's own ROS node (once per process; RealBackend then reuses it)."""
    import rospy

    if not rospy.core.is_initialized():
        rospy.init_node("pushseg_tests", anonymous=True, disable_signals=True)
