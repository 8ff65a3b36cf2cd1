"""Helpers for the tests that need ROS 2 (rclpy over Fast DDS), all of it in subprocesses.

The pytest process may already have made ROS 1 importable, whose message
packages share names with ROS 2's, so rclpy is never imported here: nodes and
clients run as their own processes.

* :func:`require_ros2` skips (with the reason) where rclpy is not usable, and
  fails instead when ``PUSHSEG_REQUIRE_ROS2=1`` (CI).
* :func:`ros2_env` isolates DDS per test: a random domain id (1-100) whose
  discovery port is free, discovery on this host only, a temporary ROS home.
* :class:`NodeProcess` runs ``python -m MODULE ...`` in its own process group
  and waits, with a timeout, for the line saying it is ready.
* :func:`run_client` runs a small Python script (a ROS 2 client) and returns its
  JSON result.

Everything started here is killed in teardown, by process group, with timeouts.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from pushseg.ros2.rclenv import ros2_required

REPO = Path(__file__).resolve().parents[1]
_available: tuple[bool, str] | None = None


def _check_in_subprocess() -> tuple[bool, str]:
    code = ("import json; from pushseg.ros2.rclenv import ros2_available; "
            "print(json.dumps(ros2_available()))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        return False, f"the check failed: {res.stderr.strip()[-500:]}"
    ok, why = json.loads(res.stdout.strip().splitlines()[-1])
    return bool(ok), str(why)


def require_ros2() -> None:
    """Skip where rclpy is not usable (checked once, in a subprocess); fail instead when CI requires ROS 2."""
    global _available
    if _available is None:
        _available = _check_in_subprocess()
    ok, why = _available
    if ok:
        return
    if ros2_required():
        pytest.fail(f"PUSHSEG_REQUIRE_ROS2 is set but ROS 2 is not usable: {why}")
    pytest.skip(f"ROS 2 is not usable: {why}")


def _domain_port_free(domain: int) -> bool:
    """Fast DDS's first participant of ``domain`` listens on 7400 + 250 d + 10 (metatraffic unicast)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", 7400 + 250 * domain + 10))
        except OSError:
            return False
    return True


def free_domain_id() -> int:
    rng = random.Random()
    ids = rng.sample(range(1, 101), 100)
    for d in ids:
        if _domain_port_free(d):
            return d
    return ids[0]


@contextlib.contextmanager
def ros2_env():
    """An environment of its own for the DDS processes of one test; yields it (a dict for Popen)."""
    require_ros2()
    home = tempfile.mkdtemp(prefix="pushseg_ros2_home_")
    env = os.environ.copy()
    env.update({
        "ROS_DOMAIN_ID": str(free_domain_id()),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_HOME": home,
        "ROS_LOG_DIR": os.path.join(home, "log"),
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("ROS_LOCALHOST_ONLY", None)  # the older switch; the discovery range replaces it
    yield env


def kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGINT to the process group, then SIGKILL after ``grace`` seconds."""
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


class NodeProcess:
    """``python -m module *args`` in its own process group; ready when a line starts with ``ready``."""

    def __init__(self, module: str, *args: str, env: dict[str, str], ready: str, ready_timeout: float = 30.0) -> None:
        self.cmd = [sys.executable, "-m", module, *args]
        self.env, self.ready, self.ready_timeout = env, ready, ready_timeout
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> NodeProcess:
        self.proc = subprocess.Popen(self.cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self.env, start_new_session=True)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                if line.startswith(self.ready):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(self.ready_timeout):
            self.__exit__(None, None, None)
            raise RuntimeError(f"{' '.join(self.cmd[1:])} not ready within {self.ready_timeout} s:\n"
                               + self.output(30))
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            kill_group(self.proc)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> int:
        """Send ``sig`` to the node alone and return its exit status (killed after ``timeout``)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc, grace=0.0)
            raise

    def output(self, last: int | None = None) -> str:
        lines = list(self.lines)
        return "\n".join(lines[-last:] if last else lines)


def run_client(script: str | Path, *args: str, env: dict[str, str], timeout: float = 30.0) -> dict:
    """Run a client script (a file, in its own process group) that prints one JSON object as its last line."""
    proc = subprocess.Popen([sys.executable, str(script), *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc, grace=1.0)
        out, err = proc.communicate()
        raise AssertionError(f"{script} did not finish within {timeout} s:\n{out[-2000:]}\n{err[-2000:]}") from None
    finally:
        kill_group(proc, grace=1.0)
    if proc.returncode != 0 or not out.strip():
        raise AssertionError(f"{script} failed ({proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])
