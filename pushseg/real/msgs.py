"""pr2_controllers_msgs/JointTrajectoryAction, generated with genpy at run time.

Debian has no ``pr2_controllers_msgs``, but a PR2 only accepts goals whose type
name and md5sum equal the real ones. We keep the action definition
(``msg/pr2_controllers_msgs/action/JointTrajectory.action``, as in
PR2/pr2_controllers), expand it into its seven messages the way actionlib's
``genaction`` does, append the definitions of the messages it uses (taken from
the installed std_msgs / actionlib_msgs / trajectory_msgs classes), and let
``genpy.dynamic`` build the Python classes. genpy computes each md5sum from the
definitions, so a wrong definition shows up as a wrong md5sum (tests check them
against the sums of the real package).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from pushseg.real.rosenv import ensure_ros_importable

PACKAGE = "pr2_controllers_msgs"
ACTION = "JointTrajectory"
ACTION_FILE = Path(__file__).parent / "msg" / PACKAGE / "action" / f"{ACTION}.action"

# The md5sums of the real pr2_controllers_msgs (docs/pr2.md); checked on load.
EXPECTED_MD5 = {
    "JointTrajectoryAction": "a04ba3ee8f6a2d0985a6aeaf23d9d7ad",
    "JointTrajectoryActionGoal": "a99e83ef6185f9fdd7693efe99623a86",
    "JointTrajectoryGoal": "2a0eff76c870e8595636c2a562ca298e",
}

_SEPARATOR = "=" * 80


def expand_action(name: str, text: str) -> dict[str, str]:
    """Split a .action text into goal/result/feedback and build the 7 message definitions."""
    parts = [[]]
    for line in text.splitlines():
        if line.startswith("---"):
            parts.append([])
        else:
            parts[-1].append(line)
    if len(parts) != 3:
        raise ValueError(f"{name}.action must have 3 parts separated by '---', found {len(parts)}")
    goal, result, feedback = ("\n".join(p) + "\n" for p in parts)
    return {
        f"{name}Action": (
            f"{name}ActionGoal action_goal\n{name}ActionResult action_result\n{name}ActionFeedback action_feedback\n"
        ),
        f"{name}ActionGoal": f"Header header\nactionlib_msgs/GoalID goal_id\n{name}Goal goal\n",
        f"{name}ActionResult": f"Header header\nactionlib_msgs/GoalStatus status\n{name}Result result\n",
        f"{name}ActionFeedback": f"Header header\nactionlib_msgs/GoalStatus status\n{name}Feedback feedback\n",
        f"{name}Goal": goal,
        f"{name}Result": result,
        f"{name}Feedback": feedback,
    }


def _split_full_text(full_text: str) -> dict[str, str]:
    """The dependency definitions ('MSG: pkg/Type' blocks) inside a genpy ``_full_text``."""
    out = {}
    for block in full_text.split(_SEPARATOR)[1:]:
        lines = block.strip("\n").splitlines()
        if lines and lines[0].startswith("MSG: "):
            out[lines[0][5:].strip()] = "\n".join(lines[1:]) + "\n"
    return out


def _dependency_definitions() -> dict[str, str]:
    ensure_ros_importable()
    from actionlib_msgs.msg import GoalID, GoalStatus
    from std_msgs.msg import Header
    from trajectory_msgs.msg import JointTrajectory

    defs: dict[str, str] = {}
    for cls in (Header, GoalID, GoalStatus, JointTrajectory):
        defs[cls._type] = cls._full_text.split(_SEPARATOR)[0]
        defs.update(_split_full_text(cls._full_text))
    return defs


@dataclass(frozen=True)
class JointTrajectoryTypes:
    """The generated classes; ``Action`` is the spec that actionlib clients and servers take."""

    Action: type
    ActionGoal: type
    ActionResult: type
    ActionFeedback: type
    Goal: type
    Result: type
    Feedback: type


@functools.lru_cache(maxsize=1)
def joint_trajectory_action() -> JointTrajectoryTypes:
    """Generate (once per process) and return the JointTrajectoryAction message classes."""
    ensure_ros_importable()
    import genpy.dynamic

    own = expand_action(ACTION, ACTION_FILE.read_text())
    main_type = f"{PACKAGE}/{ACTION}Action"
    blocks = [own[f"{ACTION}Action"]]
    for short, text in own.items():
        if short != f"{ACTION}Action":
            blocks.append(f"{_SEPARATOR}\nMSG: {PACKAGE}/{short}\n{text}")
    for full, text in _dependency_definitions().items():
        blocks.append(f"{_SEPARATOR}\nMSG: {full}\n{text}")
    classes = genpy.dynamic.generate_dynamic(main_type, "\n".join(blocks))
    types = JointTrajectoryTypes(
        **{field: classes[f"{PACKAGE}/{ACTION}{field}"] for field in JointTrajectoryTypes.__dataclass_fields__}
    )
    for short, md5 in EXPECTED_MD5.items():
        got = classes[f"{PACKAGE}/{short}"]._md5sum
        if got != md5:
            raise RuntimeError(
                f"generated {PACKAGE}/{short} has md5sum {got}, but a PR2 expects {md5}; "
                f"the definition in {ACTION_FILE} or the installed trajectory_msgs differs from PR2/pr2_controllers"
            )
    return types
