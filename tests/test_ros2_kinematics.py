"""UrdfArm on the Franka Panda URDF of pybullet_data: FK/IK round trips, refusals, limits, names."""
import numpy as np
import pytest

from pushseg.errors import InputError
from pushseg.ros2.kinematics import PushRefused, UrdfArm, panda_urdf

JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
REST = np.array([0.0, 0.2, 0.0, -2.2, 0.0, 2.4, 0.785])
DOWN = np.diag([1.0, -1.0, -1.0])  # tool z pointing down


@pytest.fixture(scope="module")
def arm():
    a = UrdfArm.from_file(panda_urdf(), JOINTS, "panda_link0", "panda_grasptarget")
    yield a
    a.close()


def test_limits_and_links(arm):
    assert arm.joint_names == JOINTS
    assert arm.lower[3] == pytest.approx(-3.1416) and arm.upper[3] == pytest.approx(0.0)
    assert arm.velocity[0] == pytest.approx(2.175)
    assert "panda_link0" in arm.links and "panda_grasptarget" in arm.links
    assert arm.limit_violations(REST, 0.05) == []
    bad = arm.limit_violations(np.array([0, 0, 0, 0.1, 0, 2.4, 0]), 0.05)
    assert len(bad) == 1 and "panda_joint4" in bad[0]


@pytest.mark.parametrize("p", [(0.4, 0.0, 0.05), (0.5, 0.2, 0.05), (0.6, -0.3, 0.03), (0.3, 0.3, 0.1)])
def test_ik_round_trip_tool_down(arm, p):
    q = arm.ik(p, DOWN, REST)
    T = arm.fk(q)
    assert np.linalg.norm(T[:3, 3] - p) <= 0.002
    assert T[2, 2] < -0.999  # pointing down
    assert arm.limit_violations(q) == []


def test_fk_other_base_frame(arm):
    T0 = arm.fk(REST)
    T1 = arm.fk(REST, link="panda_link1")
    with UrdfArm.from_file(panda_urdf(), JOINTS, "panda_link1", "panda_grasptarget") as other:
        assert np.allclose(other.fk(REST), np.linalg.inv(T1) @ T0, atol=1e-9)


def test_unreachable_refused(arm):
    with pytest.raises(PushRefused) as e:
        arm.ik((1.5, 0.0, 0.0), DOWN, REST)
    assert e.value.code == "unreachable" and "1.500" in e.value.message


def test_from_xml_with_missing_meshes():
    xml = panda_urdf().read_text().replace("meshes/", "no_such_folder/")
    with UrdfArm.from_xml(xml, JOINTS, "panda_link0", "panda_grasptarget") as a:
        assert a.fk(REST).shape == (4, 4)


def test_bad_names():
    with pytest.raises(InputError, match="no joint 'panda_joint9'.*panda_joint1"):
        UrdfArm.from_file(panda_urdf(), JOINTS[:6] + ("panda_joint9",), "panda_link0", "panda_grasptarget")
    with pytest.raises(InputError, match="no link 'tool0'.*panda_hand"):
        UrdfArm.from_file(panda_urdf(), JOINTS, "panda_link0", "tool0")
    with pytest.raises(InputError, match="no position limits"):
        xml = panda_urdf().read_text().replace('lower="-2.9671" upper="2.9671" velocity="2.1750"', 'velocity="2.1750"')
        UrdfArm.from_xml(xml, JOINTS, "panda_link0", "panda_grasptarget")
