"""The table fit finds the table, not the largest plane in view: floor, wall and lower-shelf scenes.

Each scene is rendered with PyBullet from the PR2 head camera: a small table
with boxes on it, and one distractor that fills more of the image than the
table top does.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pytest

from pushseg.agents.separation import SeparationPushAgent
from pushseg.envs.rendering import linearize_depth, projection_matrix, view_matrix
from pushseg.workspace import Workspace, check_push
from pushseg.errors import InputError
from pushseg.geometry import fit_table_plane, kinect2_camera, plane_height_at
from pushseg.labeling.config import LabelConfig
from pushseg.labeling.table import fit_plane
from pushseg.types import Frame

W, H = 320, 180
FLOOR_Z = -0.051
TABLE_Z = 0.70
TABLE_X, TABLE_Y = (0.45, 1.00), (-0.30, 0.25)  # a small table: 0.55 x 0.55 m
WS = Workspace()


def _box(c, lo, hi, rgba=(0.7, 0.7, 0.7, 1)):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=((hi - lo) / 2).tolist(), rgbaColor=list(rgba), physicsClientId=c)
    return pb.createMultiBody(0, -1, vis, ((hi + lo) / 2).tolist(), physicsClientId=c)


def render_scene(distractor: str) -> tuple[Frame, dict]:
    """Render the table scene with ``distractor`` ("floor", "wall" or "shelf"); returns the frame and
    pixel counts of the table top and of the distractor."""
    c = pb.connect(pb.DIRECT)
    try:
        cam = kinect2_camera(W, H)
        floor = _box(c, (-5, -5, FLOOR_Z - 0.1), (5, 5, FLOOR_Z), (0.5, 0.5, 0.5, 1))
        table = _box(c, (TABLE_X[0], TABLE_Y[0], TABLE_Z - 0.03), (TABLE_X[1], TABLE_Y[1], TABLE_Z))
        objects = [
            _box(c, (0.62, -0.10, TABLE_Z), (0.70, -0.02, TABLE_Z + 0.06), (0.8, 0.1, 0.1, 1)),
            _box(c, (0.70, 0.04, TABLE_Z), (0.78, 0.10, TABLE_Z + 0.05), (0.1, 0.2, 0.8, 1)),
            _box(c, (0.80, -0.20, TABLE_Z), (0.86, -0.12, TABLE_Z + 0.08), (0.1, 0.7, 0.2, 1)),
        ]
        other = floor
        if distractor == "wall":  # right behind the table, filling the upper image
            other = _box(c, (1.05, -3, FLOOR_Z), (1.10, 3, 2.5), (0.9, 0.9, 0.85, 1))
        elif distractor == "shelf":  # a large lower surface beside and behind the table
            other = _box(c, (0.3, -2.5, 0.35), (2.5, -0.35, 0.40), (0.6, 0.5, 0.4, 1))
            _box(c, (1.05, -2.5, 0.35), (2.5, 2.5, 0.40), (0.6, 0.5, 0.4, 1))
        _, _, _, buf, seg = pb.getCameraImage(
            W, H, view_matrix(cam.T_base_camera), projection_matrix(cam, 0.1, 10.0),
            renderer=pb.ER_TINY_RENDERER, physicsClientId=c,
        )  # fmt: skip
        depth = linearize_depth(np.reshape(buf, (H, W)), 0.1, 10.0)
        seg = np.reshape(seg, (H, W))
        ids = np.zeros((H, W), np.uint16)
        for k, body in enumerate(objects, start=1):
            ids[seg == body] = k
        counts = {"table": int((seg == table).sum()), "distractor": int((seg == other).sum())}
        if distractor == "shelf":
            counts["distractor"] = int((seg > table + len(objects)).sum())
        rgb = np.full((H, W, 3), 128, np.uint8)
        return Frame(rgb=rgb, depth=depth, camera=cam, instance_ids=ids), counts
    finally:
        pb.disconnect(physicsClientId=c)


@pytest.fixture(scope="module", params=["floor", "wall", "shelf"])
def scene(request):
    return request.param, *render_scene(request.param)


def test_the_distractor_is_the_larger_plane(scene):
    name, _, counts = scene
    assert counts["distractor"] > counts["table"] > 500, f"{name}: {counts}"


@pytest.mark.parametrize("region", [None, (WS.x, WS.y)])
def test_fit_gives_the_table_height_within_1_cm(scene, region):
    name, frame, _ = scene
    plane = fit_table_plane(frame.camera, frame.depth, rng=0, region=region)
    z = plane_height_at(frame.camera, plane, 0.7, 0.0)
    assert z == pytest.approx(TABLE_Z, abs=0.01), f"{name}: fitted {z:.3f} m, the table is at {TABLE_Z} m"


def test_labeler_table_filter_uses_the_table(scene):
    name, frame, _ = scene
    plane = fit_plane(frame.camera, frame.depth, LabelConfig())
    assert plane_height_at(frame.camera, plane, 0.7, 0.0) == pytest.approx(TABLE_Z, abs=0.01), name


def test_separation_agent_pushes_objects_inside_the_workspace(scene):
    name, frame, _ = scene
    agent = SeparationPushAgent(frame.camera, seed=0, workspace=WS)
    obs = {"rgb": frame.rgb, "depth": np.nan_to_num(frame.depth, nan=0.0)}  # an env observation: 0 = no reading
    for _ in range(3):
        push = agent.act(obs)
        u, v = int(round(push.u)), int(round(push.v))
        window = frame.instance_ids[max(0, v - 2) : v + 3, max(0, u - 2) : u + 3]
        assert window.any(), f"{name}: push at ({u}, {v}) is not on an object"
        path, reason = check_push(frame.camera, frame.depth, push, table_z=TABLE_Z, workspace=WS)
        assert path is not None, f"{name}: {reason}"


def test_no_table_is_a_clear_error():
    cam = kinect2_camera(W, H)
    wall = np.full((H, W), 1.2, np.float32)  # a wall facing the camera: no horizontal surface
    with pytest.raises(InputError, match="no horizontal surface"):
        fit_table_plane(cam, wall, rng=0)
    frame, _ = render_scene("floor")
    with pytest.raises(InputError, match="no depth readings"):
        fit_table_plane(cam, frame.depth, rng=0, region=((3.0, 4.0), (3.0, 4.0)))
