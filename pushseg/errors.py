"""Errors that reach a user. Each names the input, what is wrong with it, and what to do."""
import errno


class PushSegError(Exception):
    """Base class for every error pushseg raises on purpose."""


class InputError(PushSegError, ValueError):
    """An argument, file or observation is not what pushseg can use."""


class RunFolderError(PushSegError):
    """A run folder is missing, truncated, or does not match the schema."""


class BackendError(PushSegError, RuntimeError):
    """The simulation or the robot could not do what was asked (timeouts, safety stops)."""


# errno -> what to do about it; the rest of the message names the path.
_OS_ADVICE = {
    "ENOSPC": "the disk is full: free some space or write to another disk, then run the command again",
    "EDQUOT": "the disk quota is used up: free some space or write elsewhere, then run the command again",
    "EROFS": "the file system is read-only: choose an output on a writable disk",
    "EACCES": "permission denied: choose an output you may write to, or fix the permissions",
    "EPERM": "operation not permitted: choose an output you may write to, or fix the permissions",
    "ENOENT": "no such file or folder: check the path",
    "ENOTDIR": "a part of the path is a file, not a folder: check the path",
    "EISDIR": "the path is a folder, not a file: give a file name",
    "EIO": "the disk reported an I/O error: check the disk and run the command again",
}


def describe_os_error(e: OSError) -> str:
    """One line for an ``OSError`` that reached the command line: which path, what happened, what to do."""

    name = errno.errorcode.get(e.errno or 0, "")
    path = e.filename if e.filename is not None else ""
    where = f"{path}: " if path else ""
    advice = _OS_ADVICE.get(name)
    if advice is None:
        advice = f"{e.strerror or e}" + (f" ({name})" if name else "")
        return f"{where}{advice}"
    return f"{where}{e.strerror or name} ({name}); {advice}"
