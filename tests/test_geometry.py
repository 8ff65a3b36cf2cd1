"""Pinhole maths against the PR2 numbers and against what PyBullet actually draws."""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pytest

from pushseg.envs import SimBackend
from pushseg.errors import InputError
from pushseg.geometry import (
    base_to_camera,
    base_to_pixel,
    camera_to_base,
    deproject,
    kinect2_camera,
    pixel_to_base,
    pr2_head_camera_pose,
    project,
    resolve_push,
)
from pushseg.types import Push


def test_head_camera_pose_matches_pr2_reference():
    T = pr2_head_camera_pose()
    assert np.allclose(T[:3, 3], (0.154, -0.099, 1.529), atol=2e-3)
    forward = T[:3, 2]  # optical z in base_link
    assert np.degrees(np.arcsin(-forward[2])) == pytest.approx(51.6, abs=1.0)
    assert np.allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-12)


def test_kinect2_intrinsics_scale_with_resolution():
    cam = kinect2_camera()
    assert (cam.width, cam.height) == (960, 540)
    assert cam.fx == pytest.approx(540.686) and cam.cx == pytest.approx(479.75)
    half = kinect2_camera(480, 270)
    assert half.fx == pytest.approx(cam.fx / 2) and half.cy == pytest.approx((cam.cy + 0.5) / 2 - 0.5)


def test_pixel_to_point_to_pixel_round_trip():
    cam = kinect2_camera()
    rng = np.random.default_rng(0)
    for _ in range(50):
        u, v, z = rng.uniform(0, 959), rng.uniform(0, 539), rng.uniform(0.5, 3.0)
        p_base = camera_to_base(cam, deproject(cam, u, v, z))
        assert np.allclose(base_to_pixel(cam, p_base), (u, v), atol=1e-6)
        assert np.allclose(base_to_camera(cam, p_base), deproject(cam, u, v, z), atol=1e-9)


@pytest.fixture(scope="module")
def bare_scene():
    """A one-object scene of the ideal world (the true camera pose), to which the tests add tiny markers."""
    backend = SimBackend(width=320, height=180, num_objects=(1, 1), world="ideal")
    backend.reset(3)
    yield backend
    backend.close()


def _render_marker(backend: SimBackend, p_base) -> tuple[np.ndarray, np.ndarray]:
    """Render a 5 mm sphere at ``p_base``; returns the pixels it covers and the depth image."""
    c = backend._client
    vis = pb.createVisualShape(pb.GEOM_SPHERE, radius=0.005, physicsClientId=c)
    body = pb.createMultiBody(0, -1, vis, list(p_base), physicsClientId=c)
    try:
        lut = np.zeros(body + 2, np.uint16)
        lut[body + 1] = 1
        backend._lut, backend._frame = lut, None
        frame = backend.observe()
    finally:
        pb.removeBody(body, physicsClientId=c)
        backend._frame = None
    vs, us = np.nonzero(frame.instance_ids == 1)
    return np.stack([us, vs], 1), frame.depth


@pytest.mark.parametrize("p_base", [(0.6, 0.0, 0.75), (0.9, 0.3, 0.72), (0.45, -0.4, 0.8), (0.8, 0.4, 1.0)])
def test_projection_lands_where_pybullet_draws(bare_scene, p_base):
    pixels, depth = _render_marker(bare_scene, p_base)
    assert len(pixels) > 0, "marker not drawn"
    uv = base_to_pixel(bare_scene.camera, np.array(p_base))
    assert np.abs(pixels.mean(0) - uv).max() <= 1.0
    # Depth is metres along the optical axis: the sphere's near side, 5 mm closer than its centre.
    z = base_to_camera(bare_scene.camera, np.array(p_base))[2]
    d = depth[pixels[:, 1], pixels[:, 0]]
    assert np.nanmin(d) == pytest.approx(z - 0.005, abs=0.003)


def test_table_depth_is_linear_metres(bare_scene):
    frame = bare_scene.observe()
    cam = frame.camera
    # A table pixel in front of the objects' region (bottom centre of the image).
    u, v = cam.width / 2, cam.height - 5
    p = pixel_to_base(cam, frame.depth, u, v)
    assert p[2] == pytest.approx(bare_scene.table_z, abs=0.002)
    assert project(cam, base_to_camera(cam, p)) == pytest.approx([u, v], abs=0.5)


def test_resolve_push_runs_flat_at_push_height(bare_scene):
    frame = bare_scene.observe()
    push = Push(u=160, v=150, angle=np.pi / 2, length=0.1)
    path = resolve_push(frame.camera, frame.depth, push, table_z=bare_scene.table_z)
    assert path.start[2] == path.end[2] == pytest.approx(bare_scene.table_z + 0.025)
    assert np.allclose(path.end - path.start, [0.0, 0.14, 0.0], atol=1e-9)
    contact_px = base_to_pixel(frame.camera, path.contact)
    assert np.allclose(contact_px, (160, 150), atol=1.0)


def test_pixel_without_depth_is_a_clear_error():
    cam = kinect2_camera(32, 18)
    depth = np.full((18, 32), np.nan, np.float32)
    with pytest.raises(InputError, match="no valid depth"):
        pixel_to_base(cam, depth, 5, 5)
