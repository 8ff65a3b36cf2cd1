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


def test_a_stamp_older_than_the_buffer_fails_at_once_and_a_newer_one_is_waited_for(buffer):
    import threading
    import time

    import rospy
    from geometry_msgs.msg import TransformStamped

    from pushseg.real.camera_pose import StampBeforeTf, camera_pose, oldest_transform

    assert oldest_transform(buffer, "base_link", "cam") == pytest.approx(100.0)
    assert oldest_transform(buffer, "cam", "base_link") == pytest.approx(100.0)
    assert oldest_transform(buffer, "base_link", "nowhere") is None
    t0 = time.monotonic()
    with pytest.raises(StampBeforeTf, match=r"stamp 99\.990 s \(older than the oldest transform tf holds "
                                            r"for that chain, 100\.000 s\)") as info:
        camera_pose(buffer, "base_link", "cam", 99.99, timeout=5.0)
    assert time.monotonic() - t0 < 1.0  # no wait can bring an older transform
    assert (info.value.stamp, info.value.oldest) == (99.99, pytest.approx(100.0))

    # A stamp after the latest transform: waited for until the next transform comes.
    def later() -> None:
        time.sleep(0.3)
        t = TransformStamped()
        t.header.stamp = rospy.Time.from_sec(102.0)
        t.header.frame_id, t.child_frame_id = "base_link", "cam"
        t.transform.translation.x, t.transform.translation.z, t.transform.rotation.w = 0.1, 1.8, 1.0
        buffer.set_transform(t, "test")

    thread = threading.Thread(target=later)
    thread.start()
    try:
        assert camera_pose(buffer, "base_link", "cam", 101.5, timeout=5.0)[2, 3] == pytest.approx(1.7)
    finally:
        thread.join()


def test_the_oldest_transform_of_a_chain_is_its_latest_starting_link():
    require_ros()
    import rospy
    import tf2_ros
    from geometry_msgs.msg import TransformStamped

    from pushseg.real.camera_pose import oldest_transform

    buf = tf2_ros.Buffer(cache_time=rospy.Duration(30.0), debug=False)
    for parent, child, stamps, static in (("base_link", "torso", (100.0, 101.0), False),
                                          ("torso", "head", (100.5, 102.0), False),
                                          ("head", "cam", (0.0,), True), ("base_link", "arm", (103.0,), False)):
        for stamp in stamps:
            t = TransformStamped()
            t.header.stamp = rospy.Time.from_sec(stamp)
            t.header.frame_id, t.child_frame_id, t.transform.rotation.w = parent, child, 1.0
            (buf.set_transform_static if static else buf.set_transform)(t, "test")
    assert oldest_transform(buf, "base_link", "cam") == pytest.approx(100.5)
    assert oldest_transform(buf, "torso", "cam") == pytest.approx(100.5)
    assert oldest_transform(buf, "head", "cam") == 0.0  # static all the way
    assert oldest_transform(buf, "arm", "cam") == pytest.approx(103.0)  # through base_link
    assert oldest_transform(buf, "cam", "cam") == 0.0
