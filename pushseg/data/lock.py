"""One writer per folder: an exclusive lock held for the life of the process that writes.

``FolderLock(path)`` takes ``path/.lock`` with ``fcntl.flock``: the kernel drops
the lock when the process ends in any way (exit, exception, SIGKILL, power cut
of the process), so a lock can never outlive its holder. The file also records
who holds it (PID, host, command, start time) so that a second writer's error
names the holder. A lock file left behind by a killed writer is *stale*: its
flock is free, and the next writer takes it over and reports whose it was.

The lock file is deleted on release, so a finished folder holds nothing extra.
Deleting a flock file is racy unless every taker checks, after locking, that the
path still names the file it locked; :meth:`FolderLock.acquire` does.

Usage::

    with FolderLock(run_dir, "collect"):
        ...  # write into run_dir

Used by collect (fresh and --resume), label (on the run it reads), scenes and
the experiment runner. Locks are advisory: they stop pushseg processes, not an
``rm -rf``. Over NFS, flock depends on the server; use a local disk for runs.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from pushseg.errors import RunFolderError

LOCK_FILE = ".lock"
log = logging.getLogger("pushseg")


class FolderBusyError(RunFolderError):
    """Another live process holds the folder's lock."""


def _holder_text(info: dict) -> str:
    pid, host = info.get("pid", "?"), info.get("host", "?")
    what = info.get("command") or "a pushseg process"
    since = info.get("started")
    when = f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(since))} UTC" if isinstance(since, (int, float)) else ""
    return f"PID {pid} on host {host} ({what}{when})"


def _read_info(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        info = json.loads(data.decode("utf-8")) if data.strip() else {}
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """Exclusive lock on a folder (created if missing). Re-entrant within one object only."""

    def __init__(self, folder: str | os.PathLike, command: str = "", *, reader: bool = False,
                 lock_name: str = LOCK_FILE) -> None:
        """``reader``: the holder only reads the folder; where nobody may write it (a read-only
        disk, no rights) no writer can interfere, so the lock is skipped instead of failing.
        ``lock_name``: the lock file in ``folder``; one output file of a folder holding
        several (``labels.json``) is locked by its own ``.labels.json.lock``."""
        self.folder = Path(folder)
        self.reader = reader
        self.path = self.folder / lock_name
        self.command = command or " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:3]))
        self._fd: int | None = None
        self._created = False  # made by acquire(): removed again by release() if still empty
        self.stale: dict | None = None  # what a dead holder had recorded, when one was taken over

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "FolderLock":
        if self._fd is not None:
            return self
        if not self.reader:
            self._created = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                if self.reader and e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    return self  # nobody can write here: nothing to guard against
                raise
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = _read_info(fd)
                os.close(fd)
                what = self.folder if self.path.name == LOCK_FILE else self.path.with_name(self.path.name[1:-5])
                raise FolderBusyError(
                    f"{what} is being written by {_holder_text(info)}; wait for it to finish or stop "
                    f"that process (a second writer would corrupt it)"
                ) from None
            except OSError:
                os.close(fd)
                raise
            # The holder before us may have deleted the file between our open and our lock:
            # then we hold a lock on a name that no longer exists; start again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        old = _read_info(fd)
        if old:
            self.stale = old
            pid, host = old.get("pid"), old.get("host")
            if host == socket.gethostname() and isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid):
                why = "its process still runs but no longer holds the lock"
            else:
                why = "that process is gone"
            log.warning("%s: took over a stale lock left by %s; %s", self.folder, _holder_text(old), why)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command, "started": time.time()}
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(me) + "\n").encode())
        except OSError as e:  # a full disk: give the lock back, and say which file could not be written
            os.close(fd)
            raise OSError(e.errno, e.strerror, str(self.path)) from None
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.unlink(self.path)  # still locked: nobody can take it between unlink and close
        except OSError:
            pass
        os.close(fd)
        if self._created:
            try:
                self.folder.rmdir()  # a command that failed before writing leaves no empty folder
            except OSError:
                pass

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # pragma: no cover - the kernel releases the flock anyway
        try:
            self.release()
        except Exception:
            pass


def lock_folder(folder: str | os.PathLike, command: str = "") -> FolderLock:
    """Take ``folder``'s lock (creating the folder); raise :class:`FolderBusyError` naming the holder."""
    return FolderLock(folder, command).acquire()


def is_lock_file(path: Path) -> bool:
    return path.name == LOCK_FILE or (path.name.startswith(".") and path.name.endswith(LOCK_FILE))
