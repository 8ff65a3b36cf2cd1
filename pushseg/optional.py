"""The one way pushseg imports an optional dependency: late, with the install command in the error.

The core install is light (no ROS, Ray or matplotlib). A module that needs one of
these imports it through :func:`require` at the moment it is needed -- never at
the top of a file -- so that everything else works without it, and a user who
asks for the feature gets one line saying what to install instead of a
traceback::

    ray = require("ray", "--executor ray")
    plt = require("matplotlib.pyplot", "experiment reports")

ROS is the exception: rospy and its message packages come from the system (apt,
or a sourced ROS workspace), so ``pushseg.real.rosenv`` finds them first.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pushseg.errors import InputError

# top-level module -> (its name, how to install it)
INSTALL = {
    "ray": ("Ray", "pip install 'pushseg[cluster]' (or: pip install 'ray>=2.9')"),
    "matplotlib": ("matplotlib", "pip install 'pushseg[experiments]' (or: pip install matplotlib)"),
}


def require(module: str, purpose: str) -> ModuleType:
    """``module`` imported, or an :class:`InputError` naming ``purpose`` and the install command."""
    top = module.partition(".")[0]
    try:
        if top == "matplotlib":
            importlib.import_module("matplotlib").use("Agg")  # headless: plots are files
        return importlib.import_module(module)
    except ImportError:
        name, hint = INSTALL.get(top, (top, f"pip install {top}"))
        raise InputError(f"{purpose} needs {name}, which is not installed: {hint}") from None
