"""The camera pose from tf2 at the image's stamp (a tf2 buffer filled by hand: no master needed)."""

from __future__ import annotations

import numpy as np
import pytest
from ros_fixtures import require_ros

from pushseg.errors import BackendError
from pushseg.geometry import matrix_quaternion, rpy_matrix


@pytest.fixture
def buffer():
    require_ros()
    import rospy
    import tf2_ros
    from geometry_msgs.msg import TransformStamped

    buf = tf2_ros.Buffer(cache_time=rospy.Duration(30.0), debug=False)  # debug would ask a master
    # The head tilts down while the camera rises 10 cm between t = 100 s and t = 101 s.
    for stamp, z, tilt in ((100.0, 1.5, 0.8), (101.0, 1.6, 1.0)):
        t = TransformStamped()
        t.header.stamp = rospy.Time.from_sec(stamp)
        t.header.frame_id = "base_link"
        t.child_frame_id = "cam"
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = 0.1, 0.0, z
        q = matrix_quaternion(rpy_matrix(0.0, tilt, 0.0))
        t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w = q
        buf.set_transform(t, "test")
    return buf


def test_the_pose_is_read_at_the_image_stamp_not_the_latest(buffer):
    from pushseg.real.camera_pose import camera_pose

    T = camera_pose(buffer, "base_link", "cam", 100.5, timeout=0.0)
    assert T[2, 3] == pytest.approx(1.55)  # interpolated at the stamp
    np.testing.assert_allclose(T[:3, :3], rpy_matrix(0.0, 0.9, 0.0), atol=1e-9)
    assert camera_pose(buffer, "base_link", "cam", 100.0, timeout=0.0)[2, 3] == pytest.approx(1.5)
    # The explicit fallback: the latest transform, whatever the stamp.
    assert camera_pose(buffer, "base_link", "cam", 100.0, timeout=0.0, at_stamp=False)[2, 3] == pytest.approx(1.6)


def test_a_stamp_the_buffer_does_not_hold_is_a_clear_error(buffer):
    from pushseg.real.camera_pose import camera_pose

    for stamp in (50.0, 200.0):  # before the first and after the last transform
        with pytest.raises(BackendError, match=rf"tf has no transform base_link <- cam at the image's stamp "
                                               rf"{stamp:.3f} s .*camera.tf_at_image_stamp: false"):
            camera_pose(buffer, "base_link", "cam", stamp, timeout=0.0)
    with pytest.raises(BackendError, match=r"no transform base_link <- nowhere .*publish the camera-to-robot"):
        camera_pose(buffer, "base_link", "nowhere", 100.5, timeout=0.0)
