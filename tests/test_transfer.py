"""The transfer world and the transfer-source split: any tabletop camera, household-like meshes, own textures."""

from __future__ import annotations

import json

import numpy as np
import pybullet as pb
import pytest

from conftest import run_pushseg
from pushseg.data.scenes import ScenesConfig
from pushseg.envs.objects import HOUSEHOLD_KINDS, ObjectSet, ObjectSpec, random_household
from pushseg.envs.shapes import MESH_KINDS, make_mesh
from pushseg.envs.sim_backend import SimBackend
from pushseg.envs.textures import TEXTURE_KINDS, texture
from pushseg.envs.transfer import RANGES
from pushseg.envs.world import PROFILES, world_profile
from pushseg.errors import InputError

W, H = 160, 120


def _camera_numbers(camera, table_z: float) -> tuple[float, float, float]:
    """(horizontal field of view in degrees, metres to the table along the optical axis, degrees below horizontal)."""
    hfov = np.degrees(2 * np.arctan(camera.width / (2 * camera.K[0, 0])))
    T = camera.T_base_camera
    axis, origin = T[:3, 2], T[:3, 3]
    distance = (table_z - origin[2]) / axis[2]  # along the axis to the plane z = table_z
    down = np.degrees(np.arcsin(-axis[2]))
    return float(hfov), float(distance), float(down)


@pytest.fixture(scope="module")
def backend():
    b = SimBackend(objects="transfer", width=W, height=H, num_objects=(3, 5))
    yield b
    b.close()


def test_transfer_objects_default_to_the_transfer_world_and_record_it():
    b = SimBackend(objects="transfer", width=W, height=H)
    assert b.profile.name == "transfer" and b.profile.varied
    assert b.profile.to_dict()["varied"] is True
    b.close()
    # The other worlds' records are as they were (no new key).
    assert all("varied" not in PROFILES[w].to_dict() for w in ("ideal", "robot", "harsh"))
    with pytest.raises(InputError, match="leave surroundings at 0"):
        world_profile("transfer", surroundings=1)
    assert ScenesConfig(split="transfer-source").objects == "transfer"


@pytest.mark.slow
def test_same_seed_same_bytes(backend):
    a = backend.reset(seed=11)
    other = SimBackend(objects="transfer", width=W, height=H, num_objects=(3, 5))
    other.reset(seed=99)  # whatever ran before in that backend
    b = other.reset(seed=11)
    other.close()
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.instance_ids, b.instance_ids)
    assert np.array_equal(a.depth, b.depth, equal_nan=True) and a.camera == b.camera


@pytest.mark.slow
def test_the_camera_varies_within_the_stated_ranges(backend):
    numbers = []
    for seed in range(8):
        frame = backend.reset(seed=seed)
        hfov, distance, down = _camera_numbers(frame.camera, backend.true_table_z)
        assert RANGES.hfov_deg[0] - 1e-6 <= hfov <= RANGES.hfov_deg[1] + 1e-6
        assert RANGES.distance[0] - 1e-6 <= distance <= RANGES.distance[1] + 1e-6
        assert RANGES.look_down_deg[0] - 1e-6 <= down <= RANGES.look_down_deg[1] + 1e-6
        numbers.append((hfov, distance, down, backend.true_table_z))
    spread = np.ptp(np.array(numbers), axis=0)
    assert spread[0] > 10 and spread[1] > 0.3 and spread[2] > 10 and spread[3] > 0.05, spread


@pytest.mark.slow
def test_scenes_record_each_images_own_camera_and_annotate_visible_objects(tmp_path):
    out = tmp_path / "scenes"
    args = ("scenes", "--split", "transfer-source", "--count", "3", "--seed", "5", "--width", str(W), "--height",
            str(H), "--min-pixels", "10", "--out", out, "--no-progress")  # fmt: skip
    assert run_pushseg(*args) == 0
    coco = json.loads((out / "annotations.json").read_text())
    meta = json.loads((out / "meta.json").read_text())
    assert meta["world"]["name"] == "transfer" and meta["objects"]["set"] == "transfer"
    cameras = [im["camera"] for im in coco["images"]]
    assert len({json.dumps(c["K"]) for c in cameras}) == 3, "every scene has its own intrinsics"
    assert len({json.dumps(c["T_base_camera"]) for c in cameras}) == 3, "... and its own pose"
    per_image = [sum(a["image_id"] == im["id"] for a in coco["annotations"]) for im in coco["images"]]
    assert min(per_image) >= 2, per_image
    # The recorded camera is the one the scene was rendered with.
    b = SimBackend(objects="transfer", width=W, height=H, num_objects=(6, 8))
    frame = b.reset(seed=coco["images"][0]["seed"])
    b.close()
    assert np.allclose(frame.camera.K, cameras[0]["K"]) and np.allclose(frame.camera.T_base_camera, cameras[0]["T_base_camera"])


def test_every_household_kind_is_drawn():
    rng = np.random.default_rng(0)
    kinds = {random_household(rng, "o").kind for _ in range(200)}
    assert kinds == set(HOUSEHOLD_KINDS)
    assert set(MESH_KINDS) <= kinds


@pytest.mark.parametrize("kind", MESH_KINDS)
def test_every_mesh_kind_stands_on_the_table_at_its_size_and_is_seen(kind):
    size = (0.05, 0.04 if kind not in ("bottle", "can", "mug", "bowl") else 0.05, 0.03)
    mesh = make_mesh(kind, size, 3)
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    assert np.allclose(hi - lo, 2 * np.array(size), atol=1e-6) or kind == "mug"  # a mug's handle sticks out
    assert np.allclose(hi[2] - lo[2], 2 * size[2]) and len(mesh.indices) % 3 == 0
    spec = ObjectSpec(name=kind, kind=kind, size=size, shape_seed=3, rgba=(0.9, 0.2, 0.2, 1.0))
    # Seen: a scene of this one object in the transfer world shows it, resting on the table.
    b = SimBackend(objects=ObjectSet("one", (spec,)), world="transfer", width=W, height=H, num_objects=(1, 1))
    frame = b.reset(seed=2)
    pos, quat = b.object_poses()[1]
    table_z = b.true_table_z
    b.close()
    assert (frame.instance_ids == 1).sum() > 20, f"{kind} not in view"
    R = np.array(pb.getMatrixFromQuaternion(quat)).reshape(3, 3)
    lowest = (mesh.vertices @ R.T + pos)[:, 2].min()
    assert abs(lowest - table_z) < 0.006, f"{kind}: lowest point {lowest - table_z:+.3f} m from the table top"
    if kind != "hull":  # a random hull rolls onto a stable face; the others stay upright
        assert R[2, 2] > 0.99


def test_textures_are_seeded_and_photo_like():
    for kind in TEXTURE_KINDS:
        a = texture(np.random.default_rng(1), 64, kind)
        assert a.shape == (64, 64, 3) and a.dtype == np.uint8
        assert np.array_equal(a, texture(np.random.default_rng(1), 64, kind))
        assert a.std() > 1.0, f"{kind} is flat"  # never a perfectly uniform surface
    with pytest.raises(ValueError, match="unknown texture kind"):
        texture(np.random.default_rng(0), 64, "marble")

