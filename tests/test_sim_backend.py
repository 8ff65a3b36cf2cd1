"""The PyBullet backend: scenes, images, ground truth, pushes and refusals (exact facts: the ideal world;
the world profiles have tests/test_world.py)."""

from __future__ import annotations

import numpy as np
import psutil
import pytest

from pushseg.backends import Backend
from pushseg.envs import SimBackend
from pushseg.envs.rendering import DepthNoise
from pushseg.errors import InputError
from pushseg.geometry import base_to_pixel, camera_to_base, deproject, kinect2_camera
from pushseg.types import Push

W, H = 320, 180


@pytest.fixture(scope="module")
def backend():
    b = SimBackend(width=W, height=H, num_objects=(3, 5), world="ideal")
    yield b
    b.close()


def test_is_a_backend(backend):
    assert isinstance(backend, Backend)
    assert backend.name == "sim"
    assert backend.table_z == pytest.approx(0.699)


def test_reset_gives_an_image_with_instance_ids(backend):
    frame = backend.reset(1)
    assert frame.rgb.shape == (H, W, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (H, W) and frame.depth.dtype == np.float32
    assert frame.instance_ids.dtype == np.uint16
    n = len(backend.scene_objects)
    assert 3 <= n <= 5
    assert sorted(backend.object_names) == list(range(1, n + 1))
    seen = set(np.unique(frame.instance_ids).tolist())
    assert seen == set(range(0, n + 1)), "every object is visible and nothing else has an id"
    assert np.all(np.isfinite(frame.depth)), "noise-free depth has a reading everywhere (table or floor)"
    # Objects stand on the table within the placement region.
    for pos, _ in backend.object_poses().values():
        assert 0.45 <= pos[0] <= 1.0 and -0.4 <= pos[1] <= 0.4 and pos[2] > backend.table_z


def test_instance_ids_sit_where_objects_are(backend):
    frame = backend.reset(2)
    for iid, (pos, _) in backend.object_poses().items():
        vs, us = np.nonzero(frame.instance_ids == iid)
        u, v = base_to_pixel(frame.camera, pos)
        assert np.hypot(us.mean() - u, vs.mean() - v) < 12, f"object {iid} is drawn far from its pose"


@pytest.mark.slow
def test_same_seed_same_scene_whatever_ran_before():
    a = SimBackend(width=160, height=90, num_objects=(2, 4))
    b = SimBackend(width=160, height=90, num_objects=(2, 4))
    try:
        b.reset(11)
        b.push(Push(80, 60, 0.3, 0.1))  # history that must not leak into the next scene
        fa, fb = a.reset(5), b.reset(5)
        assert fa == fb
        push = Push(80, 50, 1.0, 0.08)
        ra, rb = a.push(push), b.push(push)
        assert ra == rb
        assert a.observe() == b.observe()
        assert a.reset(6) != fa, "a different seed gives a different scene"
    finally:
        a.close()
        b.close()


def _isolated_object(backend: SimBackend) -> tuple[int, np.ndarray, float]:
    """The object farthest from the others, a direction away from them, and its gap to the nearest."""
    poses = {i: p[:2] for i, (p, _) in backend.object_poses().items()}
    best, gap = None, -1.0
    for i, p in poses.items():
        others = [q for j, q in poses.items() if j != i]
        d = min(np.linalg.norm(p - q) for q in others)
        if d > gap:
            best, gap = i, d
    others = np.array([q for j, q in poses.items() if j != best])
    away = poses[best] - others.mean(0)
    return best, away / np.linalg.norm(away), gap


def test_push_at_the_edge_of_an_isolated_object_moves_only_it():
    backend = SimBackend(width=W, height=H, num_objects=(3, 3), clutter=0.0, world="ideal")
    try:
        for seed in range(20):
            frame = backend.reset(seed)
            iid, away, gap = _isolated_object(backend)
            if gap > 0.2:
                break
        else:
            pytest.fail("no scene with an isolated object in 20 seeds")
        # The push line runs through the object's centre, away from the others;
        # the start pixel is the object's pixel farthest back along that line.
        pos, _ = backend.object_poses()[iid]
        vs, us = np.nonzero(frame.instance_ids == iid)
        pts = np.array([camera_to_base(frame.camera, deproject(frame.camera, u, v, frame.depth[v, u])) for u, v in zip(us, vs)])
        rel = pts[:, :2] - pos[:2]
        on_line = np.abs(rel[:, 0] * away[1] - rel[:, 1] * away[0]) < 0.01
        along = rel @ away
        inner = on_line & (along > along[on_line].min() + 0.008)  # a little inside the edge
        k = np.flatnonzero(inner)[np.argmin(along[inner])]
        angle = float(np.arctan2(away[1], away[0]))
        result = backend.push(Push(float(us[k]), float(vs[k]), angle, 0.05))
        assert result.executed, result.reason
        moved = {m.instance_id: m for m in result.motions if m.translation > 0.005 or abs(m.rotation) > 0.05}
        assert list(moved) == [iid], f"expected only object {iid} to move, got {result.motions}"
        assert 0.02 < moved[iid].translation < 0.08
    finally:
        backend.close()


def test_pushes_that_cannot_be_done_are_refused_with_a_reason(backend):
    frame = backend.reset(3)
    cam = frame.camera
    floor = backend.push(Push(W / 2, 1, 0.0, 0.1))  # top of the image: the floor beyond the table
    assert not floor.executed and floor.reason.startswith("not_on_table")
    too_long = backend.push(Push(W / 2, H - 5, 0.0, 0.5))
    assert not too_long.executed and too_long.reason.startswith("length_out_of_bounds")
    # A table point beyond the reachable workspace (x > 1.05 m).
    u, v = base_to_pixel(cam, np.array([1.2, 0.0, backend.table_z]))
    far = backend.push(Push(float(u), float(v), 0.0, 0.1))
    assert not far.executed and far.reason.startswith("outside_workspace")
    outside = backend.push(Push(-3, 10, 0.0, 0.1))
    assert not outside.executed and outside.reason.startswith("outside_image")
    assert backend.observe() == frame, "a refused push changes nothing"


def test_no_depth_is_refused():
    noisy = SimBackend(width=160, height=90, num_objects=(1, 1), depth_noise=DepthNoise(random_dropout=1.0), world="ideal")
    try:
        frame = noisy.reset(0)
        assert np.isnan(frame.depth).all()
        result = noisy.push(Push(80, 80, 0.0, 0.1))
        assert not result.executed and result.reason.startswith("no_depth")
    finally:
        noisy.close()


def test_depth_noise_is_kinect_like():
    clean = SimBackend(width=160, height=90, num_objects=(2, 2), world="ideal")
    noisy = SimBackend(width=160, height=90, num_objects=(2, 2), depth_noise=DepthNoise(), world="ideal")
    try:
        a, b = clean.reset(4).depth, noisy.reset(4).depth
        valid = np.isfinite(b)
        assert 0.0 < 1 - valid.mean() < 0.1, "some readings drop out"
        err = np.abs(a[valid] - b[valid])
        assert 0.0005 < np.median(err) < 0.005, "millimetre-scale noise"
    finally:
        clean.close()
        noisy.close()


def test_execute_path_moves_the_finger_along_base_link_points(backend):
    backend.reset(7)
    poses = backend.object_poses()
    iid = 1
    pos = poses[iid][0]
    z = backend.table_z + 0.025
    # Sweep straight through the object from 10 cm in front of it (towards the robot).
    motions = backend.execute_path(np.array([[pos[0] - 0.10, pos[1], z], [pos[0] + 0.02, pos[1], z]]))
    moved = {m.instance_id: m.translation for m in motions}
    assert moved[iid] > 0.01
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        backend.execute_path(np.zeros((4, 2)))


def test_source_scenes_vary_the_viewpoint():
    src = SimBackend(objects="source", width=160, height=90, num_objects=(3, 3))
    try:
        T = []
        for s in range(3):
            src.reset(s)
            T.append(src.camera.T_base_camera)
        spread = max(np.abs(T[0][:3, 3] - t[:3, 3]).max() for t in T[1:])
        assert spread > 0.01
        assert all(o.name.startswith("prim") for o in src.scene_objects)
    finally:
        src.close()
    tgt = SimBackend(width=160, height=90, num_objects=(1, 1), world="ideal")
    try:
        tgt.reset(0)
        nominal = kinect2_camera(160, 90).T_base_camera
        assert np.abs(tgt.camera.T_base_camera[:3, 3] - nominal[:3, 3]).max() < 0.01
    finally:
        tgt.close()


@pytest.mark.slow
def test_resets_do_not_leak():
    b = SimBackend(objects="source", width=64, height=36, num_objects=(4, 6))
    try:
        proc = psutil.Process()
        for s in range(10):
            b.reset(s)
        rss0 = proc.memory_info().rss
        for s in range(60):
            b.reset(s)
        assert proc.memory_info().rss - rss0 < 10e6
    finally:
        b.close()


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(InputError, match="unknown object set 'kitchen'.*source.*target-test.*target-train"):
        SimBackend(objects="kitchen")
    with pytest.raises(InputError, match="num_objects"):
        SimBackend(num_objects=(5, 2))
