"""Checks, before any work, that a command's outputs can be written.

A command that labels for minutes and then finds a read-only or full disk has
wasted the minutes; :func:`check_output` finds out at the start and names the
path. The probe writes (and removes) a small file in the nearest folder that
exists, so a full disk shows up as well as a read-only one or missing rights.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pushseg.errors import InputError, describe_os_error

PROBE_BYTES = 64 * 1024  # enough to need fresh blocks on a full disk
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class OutputError(InputError):
    """An output path cannot be written (wrong kind, wrong extension, no space, no rights)."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def probe_folder(folder: Path, flag: str) -> None:
    """Write and delete a small file in ``folder``; raise :class:`OutputError` naming it if that fails."""
    probe = folder / f".pushseg-write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            data = memoryview(b"\0" * PROBE_BYTES)
            while data:  # a nearly full disk takes part of a write and refuses the rest
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        e.filename = e.filename or str(folder)
        raise OutputError(f"{flag} cannot be written: {describe_os_error(e)}") from None
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass


def _special_kind(mode: int) -> str:
    """What a file that is neither a regular file nor a folder is, in words ("" for those two)."""
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "" if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def _check_kind(path: Path, flag: str, kind: str) -> None:
    """Refuse, before any work, outputs that are links, devices, FIFOs or sockets: writing to a FIFO blocks,
    to a device writes nothing a user can read, through a link writes somewhere the command did not name."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError:
        return  # the probe of the folder below says what is wrong
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        if kind == "file":
            raise OutputError(f"{flag} {path} is a symlink (to {target}); give the path of a regular file, not a "
                              f"link, so that nothing is written where the link leads")
        if not path.is_dir():
            what = "a missing path" if not path.exists() else _special_kind(os.stat(path).st_mode) or "a file"
            raise OutputError(f"{flag} {path} is a symlink to {what} ({target}), not to a folder; give a folder")
        return
    special = _special_kind(st.st_mode)
    if special:
        want = "a regular file" if kind == "file" else "a folder"
        raise OutputError(f"{flag} {path} is {special}, not {want}; give the path of {want}")


def check_output(path: str | os.PathLike, flag: str = "--out", *, kind: str = "file",
                 suffixes: tuple[str, ...] | None = None, allow_cwd: bool = False) -> Path:
    """Raise :class:`OutputError` unless ``path`` (a "file" or a "dir") can be created or overwritten.

    ``suffixes`` restricts a file's extension (case-insensitive). Refused: an empty path, a symlinked file,
    a symlink to a non-folder for a folder, FIFOs, devices and sockets, and (unless ``allow_cwd``, as when
    resuming) a folder that is the current working folder: the command's files would mix with the user's.
    Nothing is created but a probe file, which is removed.
    """
    if str(path) == "":
        raise OutputError(f"{flag} is empty: give a path")
    path = Path(path)
    if kind not in ("file", "dir"):  # pragma: no cover - programming error
        raise ValueError(kind)
    _check_kind(path, flag, kind)
    if kind == "file":
        if suffixes is not None and path.suffix.lower() not in suffixes:
            raise OutputError(f"{flag} {path}: the extension must be one of {', '.join(suffixes)}")
        if path.is_dir():
            raise OutputError(f"{flag} {path} is a folder; give a file name")
    else:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{flag} {path} is a file, not a folder; choose another path")
        if not allow_cwd and os.path.realpath(path) == os.path.realpath(os.getcwd()):
            raise OutputError(f"{flag} {path} is the current folder; give a new folder (e.g. {flag} out) so that "
                              f"the command's files do not mix with yours")
    existing = _nearest_existing(path if kind == "dir" else path.parent)
    if not existing.is_dir():
        raise OutputError(f"{flag} {path}: {existing} is a file, so no folder can be made there")
    probe_folder(existing, flag)
    if kind == "file" and path.exists() and not os.access(path, os.W_OK):
        e = OSError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        raise OutputError(f"{flag} cannot be written: {describe_os_error(e)}")
    return path


# What each command writes: attribute of its parsed arguments -> (flag, kind, allowed suffixes).
COMMAND_OUTPUTS: dict[str, dict[str, tuple[str, str, tuple[str, ...] | None]]] = {
    "collect": {"out": ("--out", "dir", None)},
    "scenes": {"out": ("--out", "dir", None)},
    "label": {"out": ("--out", "file", (".json",)), "gallery": ("--gallery", "dir", None)},
    "pretrain": {"out": ("--out", "dir", None)},
    "finetune": {"out": ("--out", "dir", None)},
    "segment": {"out": ("--out", "file", IMAGE_SUFFIXES), "json": ("--json", "file", (".json",))},
    "evaluate": {"out": ("--out", "dir", None)},
    "demo": {"out": ("--out", "dir", None)},
}


def check_command_outputs(command: str, args: object) -> None:
    """Check every output a parsed command line names (see :data:`COMMAND_OUTPUTS`)."""
    resume = bool(getattr(args, "resume", False))  # continuing in a folder may be done from inside it
    for attr, (flag, kind, suffixes) in COMMAND_OUTPUTS.get(command, {}).items():
        value = getattr(args, attr, None)
        if value is not None:  # not given; an empty value given is refused
            check_output(value, flag, kind=kind, suffixes=suffixes, allow_cwd=resume)
