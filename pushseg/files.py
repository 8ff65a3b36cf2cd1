"""Files written whole or not at all, and json read with errors that name the file.

Every output of pushseg that a reader may open while it is being written, or
that a kill may interrupt, goes through :func:`write_atomic` (bytes) or
:func:`write_text_atomic` / :func:`write_json_atomic`: a temporary file beside
the target, flushed to disk, renamed over it. A reader sees the old file or the
new one, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pushseg.errors import InputError, PushSegError

TMP_SUFFIX = ".tmp"


def write_atomic(path: str | os.PathLike, data: bytes, sync_dir: bool = True, shared: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temp file, fsync and rename: the file is whole or absent.

    ``shared``: other processes may write the same file at the same time (a cache); each then
    writes its own temporary file and the last rename wins, with the same content.
    An ``OSError`` (a full or read-only disk) names ``path`` and leaves no temporary file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + (f".{os.getpid()}" if shared else "") + TMP_SUFFIX)
    write_staged(tmp, data)
    try:
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        raise _naming(e, path) from None
    if sync_dir:
        fsync_dir(path.parent)
    return path


def write_staged(tmp: str | os.PathLike, data: bytes) -> Path:
    """Write and fsync ``tmp`` (no rename); on an ``OSError`` it is removed and the error names it."""
    tmp = Path(tmp)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        _discard(tmp)
        raise _naming(e, tmp) from None
    return tmp


def _naming(e: OSError, path: Path) -> OSError:
    """``e`` with ``path`` as its file name when it has none (a write's ENOSPC names no file)."""
    if e.filename is None:
        e = type(e)(e.errno, e.strerror or str(e), str(path))
    return e


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def write_text_atomic(path: str | os.PathLike, text: str, sync_dir: bool = True) -> Path:
    return write_atomic(path, text.encode("utf-8"), sync_dir=sync_dir)


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 1, sync_dir: bool = True,
                      **dumps: Any) -> Path:
    """``obj`` as json (and a final newline) at ``path``, atomically; ``dumps`` go to :func:`json.dumps`."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, **dumps) + "\n", sync_dir=sync_dir)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make renames and new entries in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: str | os.PathLike, error: type[PushSegError] = InputError, what: str = "json file",
              advice: str = "") -> Any:
    """The json at ``path``; a missing, unreadable or malformed file raises ``error`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what}" + (f"; {advice}" if advice else ""))
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not valid json ({e})" + (f"; {advice}" if advice else "")) from None
