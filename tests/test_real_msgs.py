"""pr2_controllers_msgs/JointTrajectoryAction generated with genpy: a PR2 checks these md5sums."""

from __future__ import annotations

import io

import pytest

from pushseg.real.msgs import EXPECTED_MD5, expand_action
from ros_fixtures import require_ros

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def types():
    require_ros()
    from pushseg.real.msgs import joint_trajectory_action

    return joint_trajectory_action()


def test_md5sums_equal_the_real_pr2_controllers_msgs(types):
    assert types.Action._md5sum == EXPECTED_MD5["JointTrajectoryAction"] == "a04ba3ee8f6a2d0985a6aeaf23d9d7ad"
    assert types.ActionGoal._md5sum == "a99e83ef6185f9fdd7693efe99623a86"
    assert types.Goal._md5sum == "2a0eff76c870e8595636c2a562ca298e"
    assert types.ActionGoal._type == "pr2_controllers_msgs/JointTrajectoryActionGoal"
    assert types.Goal._type == "pr2_controllers_msgs/JointTrajectoryGoal"


def test_goal_round_trips_through_serialization(types):
    import genpy
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    goal = types.Goal()
    goal.trajectory = JointTrajectory(
        joint_names=["r_shoulder_pan_joint", "r_elbow_flex_joint"],
        points=[
            JointTrajectoryPoint(positions=[0.1, -1.0], velocities=[0.0, 0.0], time_from_start=genpy.Duration(1.5))
        ],
    )
    buf = io.BytesIO()
    goal.serialize(buf)
    back = types.Goal()
    back.deserialize(buf.getvalue())
    assert back.trajectory.joint_names == goal.trajectory.joint_names
    assert list(back.trajectory.points[0].positions) == [0.1, -1.0]
    assert back.trajectory.points[0].time_from_start.to_sec() == 1.5


def test_action_expansion_follows_actionlib():
    msgs = expand_action("Foo", "int32 a\n---\nint32 b\n---\nint32 c\n")
    assert set(msgs) == {"FooAction", "FooActionGoal", "FooActionResult", "FooActionFeedback", "FooGoal", "FooResult",
                         "FooFeedback"}
    assert msgs["FooActionGoal"] == "Header header\nactionlib_msgs/GoalID goal_id\nFooGoal goal\n"
    assert msgs["FooResult"].strip() == "int32 b"
    with pytest.raises(ValueError, match="3 parts"):
        expand_action("Foo", "int32 a\n")
