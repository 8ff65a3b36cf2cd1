"""The real backend's pure parts, without ROS: quaternions, the table height, retreat planning."""

from __future__ import annotations

import numpy as np
import pytest

from pushseg.errors import InputError
from pushseg.geometry import (
    PushPath,
    kinect2_camera,
    matrix_quaternion,
    quaternion_matrix,
    rpy_matrix,
)
from pushseg.real import kinematics as kin
from pushseg.real import planning, retreat, safety
from pushseg.real.config import load_config
from pushseg.types import CameraInfo
from pushseg.workspace import table_height

TABLE_Z = 0.699


@pytest.mark.parametrize(
    "rpy", [(0, 0, 0), (0.3, -0.2, 1.0), (np.pi, 0, 0), (0, np.pi, 0), (0, 0, np.pi), (-np.pi / 2, 0, -np.pi / 2)]
)
def test_quaternions_round_trip(rpy):
    R = rpy_matrix(*rpy)
    q = matrix_quaternion(R)
    assert np.linalg.norm(q) == pytest.approx(1.0)
    np.testing.assert_allclose(quaternion_matrix(*q), R, atol=1e-12)
    np.testing.assert_allclose(quaternion_matrix(*(2.0 * np.array(q))), R, atol=1e-12)  # scale does not matter
    # A known one: 90 deg about z.
    np.testing.assert_allclose(matrix_quaternion(rpy_matrix(0, 0, np.pi / 2)), [0, 0, np.sqrt(0.5), np.sqrt(0.5)])


def _table_depth(camera: CameraInfo, table_z: float, tilt: float = 0.0) -> np.ndarray:
    """Depth of a plane through (0.7, 0, table_z), tilted ``tilt`` radians about base_link x."""
    n = np.array([0.0, -np.sin(tilt), np.cos(tilt)])
    p0 = np.array([0.7, 0.0, table_z])
    vs, us = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    rays_cam = np.stack([(us - camera.cx) / camera.fx, (vs - camera.cy) / camera.fy, np.ones_like(us)], axis=-1)
    R, t = camera.T_base_camera[:3, :3], camera.T_base_camera[:3, 3]
    rays = rays_cam @ R.T
    z = ((p0 - t) @ n) / (rays @ n)  # along the optical axis, since rays_cam has z = 1
    return z.astype(np.float32)


def test_table_height_from_depth():
    cam = kinect2_camera(160, 90)
    region = ((0.4, 0.9), (-0.4, 0.4))
    depth = _table_depth(cam, 0.72)
    depth[40:50, 70:90] -= 0.05  # an object on the table does not move the fit
    assert table_height(cam, depth, region) == pytest.approx(0.72, abs=0.002)
    # A plane tilted 20 deg is no table (a wrong calibration looks like this).
    with pytest.raises(InputError, match=r"no horizontal surface .*extrinsics"):
        table_height(cam, _table_depth(cam, 0.72, tilt=np.radians(20)), region)
    with pytest.raises(InputError, match="fewer than 3 valid readings"):
        table_height(cam, np.full((90, 160), np.nan, np.float32), region)
    # The height is read at the point asked for: a slightly sloping table (5 deg) differs across it.
    sloped = _table_depth(cam, 0.72, tilt=np.radians(5))
    lo, hi = (table_height(cam, sloped, region, (0.62, y)) for y in (-0.2, 0.2))
    assert hi - lo == pytest.approx(0.4 * np.tan(np.radians(5)), abs=0.003)


def test_nearest_segment_in_joint_space():
    pts = [np.zeros(7), np.r_[1.0, np.zeros(6)], np.r_[1.0, 1.0, np.zeros(5)]]
    assert retreat.nearest_segment(pts, np.r_[0.5, 0.05, np.zeros(5)]) == 0
    assert retreat.nearest_segment(pts, np.r_[0.95, 0.6, np.zeros(5)]) == 1
    # Continuous joints (forearm and wrist roll) count the short way round.
    wrapped = [np.zeros(7), np.r_[np.zeros(4), 0.5, 0.0, 0.0], np.r_[np.zeros(4), 0.5, 0.0, 3.0]]
    assert retreat.nearest_segment(wrapped, np.r_[np.zeros(4), 0.5, 0.0, 2 * np.pi + 2.9]) == 1


def _push_plan(config, side="r"):
    d = np.array([1.0, 0.0, 0.0])
    p = np.array([0.6, -0.1 if side == "r" else 0.1, TABLE_Z + 0.025])
    path = PushPath(contact=p, start=p - 0.04 * d, end=p + 0.1 * d, direction=d)
    return planning.plan_arm(side, path, TABLE_Z, 0.1, config.arm_pose("out_of_view", side), config)


def test_retreat_after_an_interrupted_push_retraces_the_checked_path():
    config = load_config()
    plan = _push_plan(config)
    k = int(np.flatnonzero(np.array(plan.kinds) == "push")[3])  # stopped on the push line
    q = plan.positions[k]
    names = [name for name, _ in retreat.routes("r", q, 0.1, TABLE_Z, config, interrupted=plan)]
    assert names == ["lift", "retrace", "via", "direct"]  # low over the table: lifting comes first
    back = retreat.retreat_plan("r", q, 0.1, TABLE_Z, config, interrupted=plan)
    safety.check_plan(back, TABLE_Z, config)
    np.testing.assert_allclose(kin.joint_deltas(back.positions[-1], config.arm_pose("out_of_view", "r")), 0, atol=1e-9)
    first_tool = kin.fk(kin.pr2_arm("r"), back.positions[0], 0.1)[:3, 3]
    assert first_tool[2] == pytest.approx(TABLE_Z + config.get("push.hover_height"), abs=0.005)  # straight up
    # From the raised via pose (not over the table) there is no lift and no retrace without a plan.
    raised = config.via_poses("r")[-1]
    assert [n for n, _ in retreat.routes("r", raised, 0.1, TABLE_Z, config)] == ["via", "direct"]


def test_retreat_with_no_safe_route_is_refused():
    config = load_config()
    plan = _push_plan(config)
    q = plan.positions[int(np.flatnonzero(np.array(plan.kinds) == "push")[3])]
    # With the table 30 cm higher every route would pass through it.
    with pytest.raises(planning.PushRefused, match="no_safe_retreat: .*via: .*direct: ") as e:
        retreat.retreat_plan("r", q, 0.1, TABLE_Z + 0.3, config)
    assert e.value.code == "no_safe_retreat"
