"""Tools shared by the fault tests (tests/test_fault_*.py) and benchmarks/reliability.py.

* :class:`FakeRunner` / :class:`SlowRunner`: deterministic episodes without a
  simulation, so that kills and races take seconds. ``SlowRunner`` also appends
  each push it finishes to ``$PUSHSEG_FAULT_LOG`` (what a kill may lose).
* :func:`cli`: the real ``pushseg`` command in a child process, with collect's
  episodes run by ``SlowRunner`` (everything else, from argument parsing to
  error messages and exit codes, is the shipped code).
* :func:`kill_and_resume`, :func:`race`: one trial each, returning what happened.
* :func:`small_disk`: a tmpfs of a given size (we run as root in CI), or None
  where mounting is not allowed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from pushseg.data.collection import CollectConfig, EpisodeSpec, collect
from pushseg.data.run import TRANSITIONS_FILE, encode_transition
from pushseg.data.staging import Staging
from pushseg.geometry import kinect2_camera
from pushseg.types import Frame, Outcome, Push, PushResult, Transition

W, H = 64, 36  # the smallest image every command takes is 32 px a side


def _frame(rng: np.random.Generator) -> Frame:
    depth = rng.uniform(0.5, 2.0, size=(H, W)).astype(np.float32)
    return Frame(rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8), depth, kinect2_camera(W, H), 0.0,
                 rng.integers(0, 5, size=(H, W)).astype(np.uint16))


class FakeRunner:
    """Episodes drawn from the episode's seeds only, like the deterministic simulation."""

    delay_s = 0.0

    def __init__(self, config: CollectConfig) -> None:
        self.config = config
        self.log = os.environ.get("PUSHSEG_FAULT_LOG")

    def describe(self):
        return {"backend": "sim", "camera": kinect2_camera(W, H), "objects": {"set": "fake"},
                "agent": {"name": "fake"}}

    def run(self, spec: EpisodeSpec):
        rng = np.random.default_rng([spec.env_seed, spec.agent_seed])
        frame = _frame(rng)
        gate = os.environ.get("PUSHSEG_FAULT_GATE")
        for step in range(self.config.pushes_per_episode):
            time.sleep(self.delay_s)
            if gate and (spec.episode, step) != (0, 0):  # after the first push, wait to be let go
                deadline = time.monotonic() + 120
                while not os.path.exists(gate) and time.monotonic() < deadline:
                    time.sleep(0.02)
            after = _frame(rng)
            push = Push(float(rng.uniform(0, W)), float(rng.uniform(0, H)), float(rng.uniform(-3, 3)), 0.1)
            enc = encode_transition(
                Transition(frame, after, push, PushResult(Outcome.EXECUTED), "sim", spec.env_seed, spec.episode, step)
            )
            if self.log:  # finished: from here on, losing it is the collector's fault
                with open(self.log, "a") as f:
                    f.write(f"{spec.episode} {step}\n")
                    f.flush()
                    os.fsync(f.fileno())
            yield enc
            frame = after

    def close(self):
        pass


class SlowRunner(FakeRunner):
    delay_s = float(os.environ.get("PUSHSEG_FAULT_DELAY", "0.05"))


_CLI = """
import sys
sys.path.insert(0, {tests!r})
import fault_tools
from pushseg.data import collection
collection.collect.__kwdefaults__["runner_factory"] = fault_tools.SlowRunner
from pushseg.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def cli_command(*argv: str) -> list[str]:
    return [sys.executable, "-c", _CLI.format(tests=str(Path(__file__).parent)), *map(str, argv)]


def cli(*argv: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*argv), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def files(root: Path) -> dict[str, bytes]:
    """Every file of a run folder but the settings record the command line adds (config.yaml)."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).as_posix() != "config.yaml"}


def collect_args(out: Path, episodes: int, pushes: int, workers: int, resume: bool = False) -> list[str]:
    a = ["collect", "--out", str(out), "--episodes", str(episodes), "--pushes-per-episode", str(pushes),
         "--seed", "3", "--workers", str(workers), "--no-progress", "--width", str(W), "--height", str(H)]
    return a + (["--resume"] if resume else [])


def reference_run(out: Path, episodes: int, pushes: int) -> dict[str, bytes]:
    cfg = CollectConfig(episodes=episodes, pushes_per_episode=pushes, seed=3, backend_config={"width": W, "height": H})
    collect(cfg, out, runner_factory=FakeRunner, progress=False)
    return files(out)


def persisted_keys(run: Path) -> set[tuple[int, int]]:
    """(episode, step) of every transition on disk: whole lines of transitions.jsonl and staged files."""
    keys = set()
    path = run / TRANSITIONS_FILE
    if path.is_file():
        for line in path.read_bytes().split(b"\n"):
            try:
                d = json.loads(line)
                keys.add((d["episode"], d["step"]))
            except (ValueError, KeyError, TypeError):
                pass
    for e in Staging(run).episodes():
        for f in (run / "staging" / f"e{e:05d}").glob("s*.json"):
            keys.add((e, int(f.stem[1:])))
    return keys


def _computed(log: Path) -> int:
    try:
        return log.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_and_resume(tmp: Path, reference: dict[str, bytes], *, workers: int, episodes: int, pushes: int,
                    kill_after_s: float = 0.0, kill_at_push: int | None = None) -> dict:
    """Start a collection, SIGKILL it (workers too), resume, compare with ``reference``.

    The kill comes ``kill_after_s`` after the start or, with ``kill_at_push`` = k, that long
    after the k-th push has finished (k = 0: after the start); timing alone would often miss
    the run on a machine whose load changes.
    """
    run, log = tmp / "run", tmp / "computed.log"
    proc = subprocess.Popen(cli_command(*collect_args(run, episodes, pushes, workers)), start_new_session=True,
                            env={**os.environ, "PUSHSEG_FAULT_LOG": str(log)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if kill_at_push:
        deadline = time.monotonic() + 300
        while _computed(log) < kill_at_push and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    time.sleep(kill_after_s)
    finished_first = proc.poll() is not None
    if not finished_first:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    computed = set()
    if log.exists():
        computed = {tuple(map(int, line.split())) for line in log.read_text().splitlines() if line.strip()}
    on_disk = persisted_keys(run)
    lost = len(computed - on_disk)
    resumed = cli(*collect_args(run, episodes, pushes, workers, resume=True))
    got = files(run) if run.exists() else {}
    ref_lines = reference[TRANSITIONS_FILE].count(b"\n")
    lines = got.get(TRANSITIONS_FILE, b"").splitlines()
    keys = [(json.loads(x)["episode"], json.loads(x)["step"]) for x in lines]
    return {
        "workers": workers,
        "kill_at_push": kill_at_push,
        "kill_after_s": round(kill_after_s, 3),
        "killed": not finished_first,
        "on_disk_at_kill": len(on_disk),
        "lost_at_kill": lost,
        "resume_rc": resumed.returncode,
        "resume_stderr": resumed.stderr.strip().splitlines()[-1:] if resumed.returncode else [],
        "missing": max(0, ref_lines - len(set(keys))),
        "duplicated": len(keys) - len(set(keys)),
        "different": sorted(k for k in set(reference) | set(got) if reference.get(k) != got.get(k)),
    }


def race(tmp: Path, reference: dict[str, bytes], *, episodes: int, pushes: int, stagger_s: float | None,
         delay_s: float = 0.3) -> dict:
    """Two collections into one folder (a fresh one, then a --resume ``stagger_s`` later), as a user might.

    ``stagger_s=None`` starts the second one once the first has written a transition, and
    holds the first there until the second has ended: a race that overlaps whatever the load.
    """
    run, gate = tmp / "run", tmp / "gate"
    env = {**os.environ, "PUSHSEG_FAULT_DELAY": str(delay_s)}
    env_a = {**env, "PUSHSEG_FAULT_GATE": str(gate)} if stagger_s is None else env
    a = subprocess.Popen(cli_command(*collect_args(run, episodes, pushes, 1)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env_a)
    if stagger_s is None:
        deadline = time.monotonic() + 60
        while not persisted_keys(run) and a.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        time.sleep(stagger_s)
    b = subprocess.Popen(cli_command(*collect_args(run, episodes, pushes, 1, resume=True)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    _, eb = b.communicate(timeout=120)
    gate.touch()
    _, ea = a.communicate(timeout=120)
    if a.returncode or b.returncode:  # whoever lost the race is told so; finish the run as a user would
        cli(*collect_args(run, episodes, pushes, 1, resume=True))
    got = files(run)
    return {
        "stagger_s": None if stagger_s is None else round(stagger_s, 3),
        "rc": (a.returncode, b.returncode),
        "stderr": [e.strip().splitlines()[-1] if e.strip() else "" for e in (ea, eb)],
        "corrupted": got != reference,
    }


@contextmanager
def small_disk(path: Path, size_kb: int):
    """A tmpfs of ``size_kb`` at ``path`` (yields True), or yields False where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if os.environ.get("PUSHSEG_TEST_SIMULATED_DISK"):  # to exercise the fallback where mounting works
        yield False
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                       capture_output=True)
    if r.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def fill(path: Path, leave_kb: int) -> Path:
    """Fill the file system of ``path`` until about ``leave_kb`` are free; returns the filler file."""
    filler = path / "filler.bin"
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave_kb * 1024))
    return filler


class SimulatedDisk:
    """Where no tmpfs can be mounted: make writes under ``root`` fail as a full or read-only disk would.

    Patches ``open``, ``os.open``, ``os.write``, ``os.mkdir`` and ``os.replace`` in this
    process (so the command must run in-process). ``mode``: None (a normal disk),
    "ro" (EROFS on any write) or "full" (ENOSPC once ``budget`` bytes are written).
    """

    def __init__(self, root: Path, monkeypatch) -> None:
        import builtins
        import errno

        self.root, self.mode, self.budget = str(Path(root).resolve()), None, 0
        real_open, real_os_open, real_write = builtins.open, os.open, os.write
        real_mkdir, real_replace = os.mkdir, os.replace

        def under(path) -> bool:
            try:
                return os.path.abspath(os.fspath(path)).startswith(self.root)
            except TypeError:
                return False

        def fail(code: int, path) -> None:
            raise OSError(code, os.strerror(code), os.fspath(path))

        def spend(n: int, path) -> None:
            if self.mode == "full":
                self.budget -= n
                if self.budget < 0:
                    fail(errno.ENOSPC, path)

        def fd_path(fd: int) -> str:
            try:
                return os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                return ""

        def p_open(file, mode="r", *a, **k):
            f = real_open(file, mode, *a, **k) if not (under(file) and self.mode == "ro" and set(mode) & set("wax+")) \
                else fail(errno.EROFS, file)
            if under(file) and set(mode) & set("wax+"):
                write = f.write

                def counted(data, _w=write):
                    spend(len(data), file)
                    return _w(data)

                try:
                    f.write = counted
                except AttributeError:  # pragma: no cover
                    pass
            return f

        def p_os_open(path, flags, *a, **k):
            if under(path) and self.mode == "ro" and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                fail(errno.EROFS, path)
            return real_os_open(path, flags, *a, **k)

        def p_write(fd, data):
            path = fd_path(fd)
            if under(path):
                spend(len(data), path)
            return real_write(fd, data)

        def p_mkdir(path, *a, **k):
            if under(path) and self.mode == "ro":
                fail(errno.EROFS, path)
            return real_mkdir(path, *a, **k)

        def p_replace(src, dst, *a, **k):
            if under(dst) and self.mode == "ro":
                fail(errno.EROFS, dst)
            return real_replace(src, dst, *a, **k)

        monkeypatch.setattr(builtins, "open", p_open)
        monkeypatch.setattr(os, "open", p_os_open)
        monkeypatch.setattr(os, "write", p_write)
        monkeypatch.setattr(os, "mkdir", p_mkdir)
        monkeypatch.setattr(os, "replace", p_replace)


class Disk:
    """A small disk at ``path`` for a test: a real tmpfs where allowed, else :class:`SimulatedDisk`."""

    def __init__(self, path: Path, size_kb: int, monkeypatch, mounted: bool) -> None:
        self.path, self.size_kb, self.mounted = path, size_kb, mounted
        self.sim = None if mounted else SimulatedDisk(path, monkeypatch)
        self._filler: Path | None = None

    def fill(self, leave_kb: int) -> None:
        if self.mounted:
            self._filler = fill(self.path, leave_kb)
        else:
            self.sim.mode, self.sim.budget = "full", leave_kb * 1024

    def free(self) -> None:
        if self.mounted:
            if self._filler is not None:
                self._filler.unlink()
                self._filler = None
        else:
            self.sim.mode = None

    def readonly(self, on: bool = True) -> None:
        if self.mounted:
            remount(self.path, "ro" if on else "rw")
        else:
            self.sim.mode = "ro" if on else None
