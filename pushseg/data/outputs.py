"""Checks, before any work, that a command's outputs can be written.

A command that labels for minutes and then finds a read-only or full disk has
wasted the minutes; :func:`check_output` finds out at the start and names the
path. The probe writes (and removes) a small file in the nearest folder that
exists, so a full disk shows up as well as a read-only one or missing rights.
"""

from __future__ import annotations

import errno
import os
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


def check_output(path: str | os.PathLike, flag: str = "--out", *, kind: str = "file",
                 suffixes: tuple[str, ...] | None = None) -> Path:
    """Raise :class:`OutputError` unless ``path`` (a "file" or a "dir") can be created or overwritten.

    ``suffixes`` restricts a file's extension (case-insensitive). Nothing is created
    but a probe file, which is removed.
    """
    path = Path(path)
    if str(path) == "":
        raise OutputError(f"{flag} is empty: give a path")
    if kind == "file":
        if suffixes is not None and path.suffix.lower() not in suffixes:
            raise OutputError(f"{flag} {path}: the extension must be one of {', '.join(suffixes)}")
        if path.is_dir():
            raise OutputError(f"{flag} {path} is a folder; give a file name")
    elif kind == "dir":
        if path.exists() and not path.is_dir():
            raise OutputError(f"{flag} {path} is a file, not a folder; choose another path")
    else:  # pragma: no cover - programming error
        raise ValueError(kind)
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
    for attr, (flag, kind, suffixes) in COMMAND_OUTPUTS.get(command, {}).items():
        value = getattr(args, attr, None)
        if value:
            check_output(value, flag, kind=kind, suffixes=suffixes)
