"""The ``pushseg`` command line: one sub-module per sub-command."""
