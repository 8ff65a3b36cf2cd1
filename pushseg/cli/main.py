"""Entry point of the ``pushseg`` command.

Each sub-command lives in its own module under ``pushseg.cli`` and exposes
``add_parser(subparsers)`` (which sets ``func`` on its parser) so that this file
only lists them, in the order of the data flow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pushseg.data.outputs import check_command_outputs
from pushseg.errors import PushSegError, describe_os_error

# name -> module, in the order a user meets them.
COMMANDS = {
    "collect": "pushseg.cli.collect",
    "scenes": "pushseg.cli.scenes",
    "import-frames": "pushseg.cli.import_frames",
    "import-bag": "pushseg.cli.import_bag",
    "label": "pushseg.cli.label",
    "pretrain": "pushseg.cli.train",
    "finetune": "pushseg.cli.train",
    "segment": "pushseg.cli.segment",
    "evaluate": "pushseg.cli.evaluate",
    "demo": "pushseg.cli.demo",
    "experiment": "pushseg.cli.experiment",
    "records": "pushseg.cli.records",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pushseg",
        description="Learn to segment unknown objects by pushing them (SelfDeepMask).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    seen: set[str] = set()
    for module_name in COMMANDS.values():
        if module_name in seen:
            continue
        seen.add(module_name)
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_command_outputs(args.command, args)  # before any work: a full or read-only disk fails now
        return int(args.func(args) or 0)
    except PushSegError as e:
        print(f"pushseg {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, read-only, no rights: what to do, not a traceback
        print(f"pushseg {args.command}: error: {describe_os_error(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # a robot's MotionInterrupted says whether the arm was retracted
        print(f"pushseg {args.command}: interrupted" + (f": {e}" if str(e) else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
