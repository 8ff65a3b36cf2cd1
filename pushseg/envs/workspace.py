"""Moved to :mod:`pushseg.workspace` (shared by every backend); this name stays for old imports."""

from pushseg.workspace import (  # noqa: F401
    LENGTH_OUT_OF_BOUNDS,
    NO_DEPTH,
    NOT_ON_TABLE,
    OUTSIDE_IMAGE,
    OUTSIDE_WORKSPACE,
    PUSH_LENGTH_MAX,
    PUSH_LENGTH_MIN,
    Workspace,
    check_push,
)
