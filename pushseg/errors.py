"""Errors that reach a user. Each names the input, what is wrong with it, and what to do."""


class PushSegError(Exception):
    """Base class for every error pushseg raises on purpose."""


class InputError(PushSegError, ValueError):
    """An argument, file or observation is not what pushseg can use."""


class RunFolderError(PushSegError):
    """A run folder is missing, truncated, or does not match the schema."""


class BackendError(PushSegError, RuntimeError):
    """The simulation or the robot could not do what was asked (timeouts, safety stops)."""
