"""sensor_msgs/Image and CameraInfo conversions in numpy (no cv_bridge, no ROS needed)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from pushseg.errors import InputError
from pushseg.robot import images


def _img(arr: np.ndarray, encoding: str, pad: int = 0, big: bool = False) -> SimpleNamespace:
    h, w = arr.shape[:2]
    row = arr.reshape(h, -1).view(np.uint8) if arr.dtype != np.uint8 else arr.reshape(h, -1)
    if big:
        row = arr.astype(arr.dtype.newbyteorder(">")).reshape(h, -1).view(np.uint8)
    data = np.zeros((h, row.shape[1] + pad), np.uint8)
    data[:, : row.shape[1]] = row
    return SimpleNamespace(height=h, width=w, encoding=encoding, is_bigendian=int(big), step=data.shape[1],
                           data=data.tobytes())


def test_bgr8_with_row_padding_becomes_rgb():
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    msg = _img(np.ascontiguousarray(rgb[..., ::-1]), "bgr8", pad=3)
    np.testing.assert_array_equal(images.color_to_rgb(msg), rgb)
    assert images.rgb_to_bgr8_bytes(rgb) == np.ascontiguousarray(rgb[..., ::-1]).tobytes()


def test_16uc1_millimetres_with_zero_as_missing():
    mm = np.array([[0, 1000, 1234], [65535, 500, 0]], dtype="<u2")
    depth = images.depth_to_metres(_img(mm, "16UC1"))
    assert depth.dtype == np.float32
    assert np.isnan(depth[0, 0]) and np.isnan(depth[1, 2])
    assert depth[0, 2] == pytest.approx(1.234) and depth[1, 0] == pytest.approx(65.535)
    big = images.depth_to_metres(_img(mm, "16UC1", big=True))
    np.testing.assert_array_equal(np.isnan(big), np.isnan(depth))
    # Round trip through the fake node's encoder.
    m = depth.copy()
    enc = SimpleNamespace(height=2, width=3, encoding="16UC1", is_bigendian=0, step=6,
                          data=images.metres_to_16uc1_bytes(m))
    np.testing.assert_array_equal(images.depth_to_metres(enc), depth)


def test_32fc1_metres_and_bad_encodings():
    f = np.array([[0.5, np.nan], [0.0, 2.0]], dtype="<f4")
    d = images.depth_to_metres(_img(f, "32FC1"))
    assert d[0, 0] == pytest.approx(0.5) and np.isnan(d[0, 1]) and np.isnan(d[1, 0])
    with pytest.raises(InputError, match="depth encoding 'mono8'"):
        images.depth_to_metres(_img(np.zeros((2, 2), np.uint8), "mono8"))
    with pytest.raises(InputError, match="encoding 'yuv422'"):
        images.color_to_rgb(_img(np.zeros((2, 2, 2), np.uint8), "yuv422"))
    short = _img(np.zeros((4, 4, 3), np.uint8), "bgr8")
    short.data = short.data[:10]
    with pytest.raises(InputError, match="bytes"):
        images.color_to_rgb(short, "/kinect2/qhd/image_color_rect")


def test_intrinsics_prefer_p_then_k():
    K = [540.686, 0, 479.75, 0, 540.686, 269.75, 0, 0, 1]
    P = [530.0, 0, 470.0, 0, 0, 531.0, 260.0, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(images.intrinsics(SimpleNamespace(K=K, P=P))[0, 0], 530.0)
    np.testing.assert_allclose(images.intrinsics(SimpleNamespace(K=K, P=[0.0] * 12)), np.reshape(K, (3, 3)))
    with pytest.raises(InputError, match="calibrated"):
        images.intrinsics(SimpleNamespace(K=[0.0] * 9, P=[0.0] * 12))
