"""``pushseg import-bag``: a recorded bag of a robot pushing -> a run folder that ``pushseg label`` labels."""

from __future__ import annotations

import argparse
from pathlib import Path

from pushseg.data.lock import FolderLock
from pushseg.data.outputs import check_output
from pushseg.data.run import RunMeta, RunWriter
from pushseg.ros2.bag_import import BagImport, import_bag


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "import-bag",
        help="turn a recorded bag (ROS 1 .bag, ROS 2 sqlite3 or MCAP, a bare .mcap) into a run folder",
        description=(
            "Read the camera topics, the joint states and (when recorded) the trajectory commands that the robot "
            "config names, find the pushes from the arm's motion away from its ready pose and back, take the frame "
            "before and after each with the arm at rest, and the push line from the tool's path by forward "
            "kinematics of the URDF (robot.urdf, or the bag's robot_description). Writes a run folder "
            "(docs/ros2.md). Needs no ROS installation."
        ),
    )
    p.add_argument("bag", help="a ROS 1 .bag file, a ROS 2 bag folder (sqlite3 or MCAP) or an .mcap file")
    p.add_argument("--config", default=None, help="the robot config (YAML with a ros2: section); default: a Panda")
    p.add_argument("--out", required=True, help="run folder to create (must not exist or be empty)")
    p.set_defaults(func=run)


def write_run(imported: BagImport, out: Path, config_file: str | None) -> None:
    """The imported transitions into a new run folder, by the same writer as a collection; none left on failure."""
    meta = RunMeta(
        backend=imported.backend,
        camera=imported.camera,
        config={"import_bag": {"bag": str(imported.bag), "config": config_file, "topics": imported.topics,
                               "skipped": imported.skipped}},
        agent={"name": "recorded", "source": str(imported.bag)},
    )
    with FolderLock(out, "pushseg import-bag"):
        RunWriter.check_new(out)
        try:
            with RunWriter.create(out, meta) as writer:
                for t in imported.transitions:
                    writer.write(t)
        except BaseException:
            RunWriter.discard_unwritten(out)
            raise


def run(args: argparse.Namespace) -> int:
    out = check_output(args.out, "--out", kind="dir")
    RunWriter.check_new(out)  # before the bag is read: a refusal should be instant
    imported = import_bag(args.bag, args.config)
    write_run(imported, out, args.config)
    for why in imported.skipped:
        print(f"skipped {why}")
    print(f"{out}: {len(imported.transitions)} pushes from {imported.bag} ({imported.backend})")
    return 0
