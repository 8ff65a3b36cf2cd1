"""World profiles: each nuisance changes what it should and nothing else; every profile is seeded
and fits the Gymnasium spaces."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from pushseg.envs import SimBackend
from pushseg.envs.push_env import PushSegEnv
from pushseg.envs.world import PROFILES, nuisance_names, world_profile
from pushseg.errors import InputError
from pushseg.types import Push

W, H = 160, 90
SEED = 4
PUSH = Push(80, 70, 0.4, 0.08)
ALL_OFF = {n: 0.0 for n in nuisance_names()}


def _object_push(frame) -> Push:
    vs, us = np.nonzero(frame.instance_ids > 0)
    k = len(us) // 2
    return Push(float(us[k]), float(vs[k]), 0.4, 0.08)


def episode(**world) -> tuple:
    """(before, after, facts) of one seeded scene and one push at a fixed pixel."""
    b = SimBackend(width=W, height=H, num_objects=(3, 4), **world)
    try:
        before = b.reset(SEED)
        facts = {"table_z": b.table_z, "true_table_z": b.true_table_z, "poses": b.object_poses(), "T_true": b._T_true}
        b.push(PUSH)
        return before, b.observe(), facts
    finally:
        b.close()


@pytest.fixture(scope="module")
def ideal():
    return episode(world="ideal")


def only(name: str, strength: float = 1.0) -> dict:
    return {"world": "ideal", "world_overrides": {name: strength}}


def test_profiles_and_overrides():
    assert PROFILES["ideal"].ideal and not PROFILES["robot"].ideal
    assert PROFILES["harsh"].nuisances.exposure == 2 * PROFILES["robot"].nuisances.exposure
    p = world_profile("robot", calibration=0)
    assert p.nuisances.calibration == 0 and p.nuisances.exposure == 1 and p.name == "robot[calibration=0]"
    assert world_profile(p.name) == p, "a recorded name reads back"
    with pytest.raises(InputError, match="unknown world 'lab'"):
        world_profile("lab")
    with pytest.raises(InputError, match="unknown nuisance"):
        world_profile("robot", fog=1)
    with pytest.raises(InputError, match="exposure"):
        world_profile("robot", exposure=-1)


def test_default_world_robot_for_targets_ideal_for_source():
    from pushseg.envs.sim_backend import SimConfig

    assert SimConfig(objects="target-train").profile.name == "robot"
    assert SimConfig(objects="target-test").profile.name == "robot"
    assert SimConfig(objects="source").profile.name == "ideal"


def test_all_strengths_zero_is_the_ideal_world(ideal):
    before, after, _ = episode(world="robot", world_overrides=ALL_OFF)
    assert before == ideal[0] and after == ideal[1]


def test_calibration_moves_the_believed_pose_only(ideal):
    before, after, facts = episode(**only("calibration"))
    # The image is the same (the camera did not move); the arm, going where the robot believes
    # the pixel to be, may push elsewhere, so the after images may differ.
    assert np.array_equal(before.rgb, ideal[0].rgb) and np.array_equal(before.depth, ideal[0].depth, equal_nan=True)
    assert np.array_equal(before.instance_ids, ideal[0].instance_ids)
    Tb, Ti = before.camera.T_base_camera, ideal[0].camera.T_base_camera
    shift = np.linalg.norm(Tb[:3, 3] - Ti[:3, 3])
    angle = np.degrees(np.arccos(np.clip((np.trace(Ti[:3, :3].T @ Tb[:3, :3]) - 1) / 2, -1, 1)))
    assert shift == pytest.approx(0.01, abs=1e-6) and angle == pytest.approx(0.5, abs=1e-4)
    # One robot, one calibration: the same error in every scene.
    b2 = SimBackend(width=W, height=H, num_objects=(1, 1), **only("calibration"))
    try:
        b2.reset(9)
        E = np.linalg.inv(b2._T_true) @ b2.camera.T_base_camera
        assert np.allclose(E, np.linalg.inv(facts["T_true"]) @ Tb)
    finally:
        b2.close()


def test_exposure_changes_the_brightness_only(ideal):
    before, after, _ = episode(**only("exposure"))
    for f, g in ((before, ideal[0]), (after, ideal[1])):
        assert f.camera == g.camera and np.array_equal(f.depth, g.depth, equal_nan=True)
        assert np.array_equal(f.instance_ids, g.instance_ids)
        # A gain per channel explains the change (up to rounding and clipping).
        x, y = g.rgb.reshape(-1, 3).astype(float), f.rgb.reshape(-1, 3).astype(float)
        ok = (x > 20) & (x < 200) & (y < 250)
        for ch in range(3):
            gain = np.median(y[ok[:, ch], ch] / x[ok[:, ch], ch])
            assert np.abs(y[ok[:, ch], ch] - gain * x[ok[:, ch], ch]).max() <= 1.5
    gains = [np.mean(f.rgb.astype(float)) / np.mean(g.rgb.astype(float)) for f, g in ((before, ideal[0]), (after, ideal[1]))]
    assert abs(gains[0] - gains[1]) > 1e-3, "the exposure differs between the before and the after image"


@pytest.mark.parametrize("name", ["rgb_noise", "shadows", "object_looks"])
def test_image_nuisances_leave_geometry_alone(ideal, name):
    before, after, _ = episode(**only(name))
    assert before.camera == ideal[0].camera
    assert np.array_equal(before.depth, ideal[0].depth, equal_nan=True)
    assert np.array_equal(before.instance_ids, ideal[0].instance_ids)
    assert not np.array_equal(before.rgb, ideal[0].rgb)


@pytest.mark.parametrize("name", ["depth_noise", "depth_edges", "depth_dropout"])
def test_depth_nuisances_leave_the_color_image_alone(ideal, name):
    before, _, _ = episode(**only(name))
    assert np.array_equal(before.rgb, ideal[0].rgb)
    assert np.array_equal(before.instance_ids, ideal[0].instance_ids)
    d, d0 = before.depth, ideal[0].depth
    assert not np.array_equal(d, d0, equal_nan=True)
    if name == "depth_noise":  # noise on every reading, 1 mm steps, nothing lost
        assert np.isfinite(d).all()
        assert np.allclose(d * 1000, np.round(d * 1000), atol=1e-3)
        assert 0.0005 < np.abs(d - d0).mean() < 0.005
    if name == "depth_dropout":  # readings lost, the rest untouched
        kept = np.isfinite(d)
        assert 0 < (~kept).sum() and np.array_equal(d[kept], d0[kept])


def test_depth_edges_only_touch_depth_discontinuities(ideal):
    before, _, _ = episode(**only("depth_edges"))
    changed = ~np.isclose(before.depth, ideal[0].depth, equal_nan=True)
    assert changed.any()
    inv = 1.0 / ideal[0].depth
    jump = np.zeros_like(changed)
    jump[:, 1:-1] |= np.abs(inv[:, 2:] - 2 * inv[:, 1:-1] + inv[:, :-2]) > 0.01 * inv[:, 1:-1]
    jump[1:-1, :] |= np.abs(inv[2:, :] - 2 * inv[1:-1, :] + inv[:-2, :]) > 0.01 * inv[1:-1, :]
    assert not (changed & ~jump).any()
    assert np.isnan(before.depth[changed]).any() and np.isfinite(before.depth[changed]).any()
    # Depth noise (even at twice the strength) makes no edges of its own.
    noisy, _, _ = episode(world="ideal", world_overrides={"depth_noise": 2.0, "depth_edges": 2.0})
    assert not (np.isnan(noisy.depth) & ~jump).any()


def test_head_shift_moves_the_after_image_not_the_believed_pose(ideal):
    before, after, _ = episode(**only("head_shift", 2.0))
    assert before == ideal[0], "the first image of a scene is taken where the head was pointed"
    assert after.camera == ideal[1].camera
    assert not np.array_equal(after.instance_ids, ideal[1].instance_ids)


def test_surroundings_change_the_room_and_table(ideal):
    before, _, b = episode(**only("surroundings"))
    assert before.camera == ideal[0].camera
    assert b["true_table_z"] != pytest.approx(ideal[2]["true_table_z"], abs=1e-4)
    assert abs(b["table_z"] - b["true_table_z"]) < 0.01, "the robot's fitted table is the real one"
    for pos, _ in b["poses"].values():
        assert pos[2] > b["true_table_z"]


@pytest.mark.slow
def test_switching_one_nuisance_off_leaves_the_others_draws_alone():
    robot, _, _ = episode(world="robot")
    no_exposure, _, _ = episode(world="robot", world_overrides={"exposure": 0})
    no_depth_noise, _, _ = episode(world="robot", world_overrides={"depth_noise": 0})
    assert np.array_equal(robot.depth, no_exposure.depth, equal_nan=True)
    assert not np.array_equal(robot.rgb, no_exposure.rgb)
    assert np.array_equal(robot.rgb, no_depth_noise.rgb)
    assert np.array_equal(robot.instance_ids, no_depth_noise.instance_ids)


@pytest.mark.parametrize("world", list(PROFILES))
@pytest.mark.slow
def test_same_seed_same_frames_in_every_world(world):
    a = SimBackend(width=W, height=H, num_objects=(2, 4), world=world)
    b = SimBackend(width=W, height=H, num_objects=(2, 4), world=world)
    try:
        b.reset(11)
        b.push(PUSH)  # history that must not leak
        fa, fb = a.reset(SEED), b.reset(SEED)
        assert fa == fb
        push = _object_push(fa)
        assert a.push(push) == b.push(push)
        assert a.observe() == b.observe()
        assert a.table_z == b.table_z
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("world", list(PROFILES))
@pytest.mark.slow
def test_check_env_passes_in_every_world(world):
    env = PushSegEnv(width=W, height=H, num_objects=(1, 3), world=world)
    try:
        check_env(env, skip_render_check=True)
        obs, _ = env.reset(seed=1)
        assert env.observation_space.contains(obs)
        if world != "ideal":
            frame = env.frame
            missing = ~np.isfinite(frame.depth)
            assert missing.any(), "a Kinect2 misses some readings"
            assert np.all(obs["depth"][missing] == 0.0), "a missing reading is 0 in the observation"
    finally:
        env.close()


def test_a_collection_records_its_world(tmp_path):
    import json

    from pushseg.data.collection import CollectConfig, collect

    config = CollectConfig(episodes=1, pushes_per_episode=1, agent="random",
                           backend_config={"width": 96, "height": 54, "world": "harsh"})
    collect(config, tmp_path / "run", progress=False)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["world"]["name"] == "harsh" and meta["world"]["nuisances"]["exposure"] == 2.0
    with pytest.raises(InputError, match="'real' takes its settings as a RealBackendConfig"):
        CollectConfig(episodes=1, pushes_per_episode=1, backend="real", backend_config=config.backend_config)
