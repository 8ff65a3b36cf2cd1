"""PushSegEnv: the Gymnasium contract, determinism, and clear errors on bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pushseg
from pushseg.backends import Backend
from pushseg.envs.push_env import PushSegEnv
from pushseg.errors import BackendError, InputError
from pushseg.types import Push, Transition

W, H = 160, 90


@pytest.fixture(scope="module")
def env():
    e = PushSegEnv(width=W, height=H, num_objects=(2, 4))
    yield e
    e.close()


def _object_pixel(env: PushSegEnv) -> tuple[int, int]:
    vs, us = np.nonzero(env.frame.instance_ids > 0)
    return int(us[len(us) // 2]), int(vs[len(vs) // 2])


@pytest.mark.slow
def test_check_env_passes():
    env = PushSegEnv(width=W, height=H, num_objects=(1, 3))
    try:
        check_env(env, skip_render_check=False)
    finally:
        env.close()


def test_registered_with_gymnasium():
    assert pushseg.__version__
    env = gym.make("pushseg/TabletopPush-v0", width=W, height=H, render_mode="rgb_array")
    try:
        obs, info = env.reset(seed=0)
        assert obs["rgb"].shape == (H, W, 3) and obs["depth"].shape == (H, W)
        assert env.render().shape == (H, W, 3)
        assert isinstance(env.unwrapped, PushSegEnv)
    finally:
        env.close()


def test_spaces_are_documented_bounds(env):
    assert env.action_space.shape == (4,)
    assert np.allclose(env.action_space.low, [0, 0, -np.pi, 0.02])
    assert np.allclose(env.action_space.high, [W - 1, H - 1, np.pi, 0.20])
    assert env.observation_space["rgb"].dtype == np.uint8
    assert env.observation_space["depth"].dtype == np.float32


def test_step_carries_the_whole_transition(env):
    obs0, info0 = env.reset(seed=4)
    u, v = _object_pixel(env)
    obs, reward, terminated, truncated, info = env.step(np.array([u, v, 0.5, 0.1], np.float32))
    assert reward == 0.0 and not terminated and not truncated
    tr = info["transition"]
    assert isinstance(tr, Transition)
    assert tr.backend == "sim" and tr.seed == info0["seed"] and (tr.episode, tr.step) == (0, 0)
    assert np.array_equal(tr.before.rgb, obs0["rgb"]) and np.array_equal(tr.after.rgb, obs["rgb"])
    assert tr.before.instance_ids is not None and tr.after.instance_ids is not None
    assert tr.push == Push.from_array(np.array([u, v, 0.5, 0.1], np.float32))
    if tr.result.executed:
        assert {m.instance_id for m in tr.result.motions} == set(env.backend.object_names)
    env.step(np.array([u, v, 0.5, 0.1], np.float32))
    assert env.frame is not None and info["transition"].step == 0


@pytest.mark.slow
def test_same_seed_same_transitions_different_seed_different_scene():
    def rollout(env, seed):
        env.reset(seed=seed)
        out = []
        for angle in (0.0, 2.0):
            u, v = _object_pixel(env)
            out.append(env.step(np.array([u, v, angle, 0.08], np.float32))[4]["transition"])
        return out

    a = PushSegEnv(width=W, height=H, num_objects=(2, 4))
    b = PushSegEnv(width=W, height=H, num_objects=(2, 4))
    try:
        rollout(b, 123)  # b has history, a has none
        ta, tb = rollout(a, 7), rollout(b, 7)
        assert ta == tb
        assert all(np.array_equal(x.after.depth, y.after.depth, equal_nan=True) for x, y in zip(ta, tb))
        other = rollout(a, 8)
        assert not np.array_equal(other[0].before.rgb, ta[0].before.rgb)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(
    "action, message",
    [
        ([W + 10, 5, 0.0, 0.1], "u = .* outside the image"),
        ([5, -1, 0.0, 0.1], "v = .* outside the image"),
        ([5, 5, 0.0, 0.5], "length = .* out of bounds"),
        ([np.nan, 5, 0.0, 0.1], "non-finite u"),
        ([5, 5, 0.0], r"shape \(4,\).*got shape \(3,\)"),
        ([[5, 5, 0.0, 0.1]], r"got shape \(1, 4\)"),
        ("push", "4 numbers"),
    ],
)
def test_bad_actions_are_clear_errors(env, action, message):
    env.reset(seed=0)
    with pytest.raises(InputError, match=message):
        env.step(action)


def test_step_before_reset_is_an_error():
    env = PushSegEnv(width=W, height=H, num_objects=(1, 1))
    try:
        with pytest.raises(InputError, match="reset"):
            env.step(np.array([1, 1, 0, 0.1], np.float32))
    finally:
        env.close()


def test_bad_construction_is_a_clear_error():
    with pytest.raises(InputError, match="unknown object set 'kitchen'"):
        PushSegEnv(objects="kitchen", width=W, height=H)
    with pytest.raises(InputError, match="unknown backend 'mars'"):
        PushSegEnv(backend="mars")
    with pytest.raises(InputError, match="render_mode"):
        PushSegEnv(render_mode="human", width=W, height=H)


def test_real_backend_is_constructed_lazily(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pushseg.real", None)  # as if the module were missing
    with pytest.raises(BackendError, match="pushseg.real.RealBackend"):
        PushSegEnv(backend="real")


def test_accepts_a_ready_backend():
    from pushseg.envs import SimBackend

    backend = SimBackend(width=W, height=H, num_objects=(1, 1))
    env = PushSegEnv(backend=backend)
    try:
        assert env.backend is backend and isinstance(backend, Backend)
        obs, _ = env.reset(seed=1)
        assert obs["rgb"].shape == (H, W, 3)
    finally:
        env.close()


# --- behaviour users expect (closed env, bad settings, options, task signal, wrappers) -------------


def test_a_closed_env_says_so():
    env = PushSegEnv(width=W, height=H, num_objects=(1, 1))
    env.reset(seed=0)
    env.close()
    env.close()  # twice is fine
    for call in (lambda: env.reset(seed=0), lambda: env.step([1, 1, 0, 0.1]), env.render, env.sample_push):
        with pytest.raises(InputError, match="closed PushSegEnv.*make a new env"):
            call()


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"clutter": 5.0}, r"clutter must lie in \[0.0, 1.0\], got 5.0"),
        ({"push_speed": -1}, r"push_speed must lie in \(0.0, 1.0\]"),
        ({"push_speed": float("nan")}, "push_speed must be a finite number"),
        ({"height": 100000}, r"height must lie in \[32, 4096\]"),
        ({"width": 320.5}, "width must be an integer, got float"),
        ({"width": "320"}, "width must be an integer, got str"),
        ({"width": True}, "width must be an integer, got bool"),
        ({"num_objects": 5}, r"num_objects must be a \(fewest, most\) pair"),
        ({"num_objects": (4, 2)}, "num_objects .* is reversed"),
        ({"num_objects": (1, 50)}, r"num_objects must lie in \[1, 20\]"),
        ({"region_x": (0.9, 0.5)}, "region_x .* is reversed"),
        ({"region_y": (0.1,)}, "region_y must be a"),
        ({"depth_noise": "yes"}, "depth_noise must be a pushseg.envs.rendering.DepthNoise or None"),
        ({"shadows": "no"}, "shadows must be True or False"),
        ({"time_step": 0}, "time_step must lie in"),
        ({"workspace": (1, 2)}, "workspace must be a pushseg.workspace.Workspace"),
    ],
)
def test_sim_config_checks_every_field(kw, message):
    from pushseg.envs.sim_backend import SimConfig

    with pytest.raises(InputError, match=message):
        SimConfig(**kw)


def test_depth_noise_values_are_checked():
    from pushseg.envs.rendering import DepthNoise
    from pushseg.envs.sim_backend import SimConfig

    with pytest.raises(InputError, match=r"depth_noise.random_dropout must lie in \[0.0, 1.0\]"):
        SimConfig(depth_noise=DepthNoise(random_dropout=2.0))


def test_simulation_settings_are_refused_for_the_real_robot():
    with pytest.raises(InputError, match="objects, width: simulation settings, not used by the real robot"):
        PushSegEnv(backend="real", objects="target-test", width=320)
    with pytest.raises(InputError, match="clutter: simulation settings"):
        PushSegEnv(backend="real", clutter=0.2)
    with pytest.raises(InputError, match="observe_instance_ids need the simulation"):
        PushSegEnv(backend="real", observe_instance_ids=True)


def test_unknown_reset_options_and_bad_episode_numbers_are_refused(env):
    with pytest.raises(InputError, match=r"options \['epsiode'\] are unknown.*\['episode'\]"):
        env.reset(seed=0, options={"epsiode": 3})
    with pytest.raises(InputError, match="non-negative integer"):
        env.reset(seed=0, options={"episode": -1})
    _, info = env.reset(seed=0, options={"episode": 4})


def test_human_rendering_needs_a_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(InputError, match="needs a display.*DISPLAY is not set.*rgb_array"):
        PushSegEnv(render_mode="human", width=W, height=H)


def test_human_rendering_opens_the_pybullet_gui_where_there_is_a_display(monkeypatch):
    import pybullet as pb

    from pushseg.envs import sim_backend

    modes = []
    real_connect = pb.connect

    def connect(mode, *a, **k):  # record the request, then run headless: CI has no display
        modes.append(mode)
        return real_connect(pb.DIRECT)

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(sim_backend.pb, "connect", connect)
    env = PushSegEnv(render_mode="human", width=W, height=H, num_objects=(1, 1))
    try:
        assert modes == [pb.GUI] and env.backend.config.gui
    finally:
        env.close()


def test_task_signal_and_singulation_reward():
    env = PushSegEnv(width=W, height=H, num_objects=(2, 4), reward="singulation", observe_instance_ids=True)
    try:
        obs, _ = env.reset(seed=3)
        assert np.array_equal(obs["instance_ids"], env.frame.instance_ids)
        seen = set()
        for _ in range(6):
            obs, reward, _, _, info = env.step(env.sample_push())
            assert info["success"] == (len(info["moved"]) == 1)
            assert info["moved"] == sorted(info["transition"].moved_ids)
            expected = 1.0 if info["success"] else (0.0 if info["executed"] else -0.1)
            assert reward == expected
            seen.add(reward)
        _, reward, _, _, info = env.step([0, 0, 0.0, 0.1])  # the top-left corner: not on the table
        assert not info["executed"] and reward == -0.1 and info["moved"] == [] and not info["success"]
        assert 1.0 in seen  # pushes from sample_push do singulate objects
    finally:
        env.close()


@pytest.mark.slow
def test_check_env_passes_with_every_option():
    from pushseg.envs.push_env import NormalizedPushActions

    env = NormalizedPushActions(PushSegEnv(width=W, height=H, num_objects=(1, 3), reward="singulation",
                                           observe_instance_ids=True, info_transition=False))
    try:
        check_env(env.unwrapped, skip_render_check=True)
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_normalized_actions_do_not_depend_on_the_resolution():
    from pushseg.envs.push_env import NormalizedPushActions

    a = np.array([0.5, -0.5, 0.25, 0.0], np.float32)
    for w, h in ((W, H), (2 * W, 2 * H)):
        env = NormalizedPushActions(PushSegEnv(width=w, height=h, num_objects=(1, 1)))
        try:
            u, v, angle, length = env.action(a)
            assert np.isclose(u / (w - 1), 0.75) and np.isclose(v / (h - 1), 0.25)
            assert np.isclose(angle, np.pi / 4) and np.isclose(length, 0.11)
            assert np.allclose(env.to_normalized(env.action(a)), a, atol=1e-6)
            with pytest.raises(InputError, match=r"leaves \[-1, 1\]"):
                env.action([2, 0, 0, 0])
        finally:
            env.close()


def test_sampled_pushes_start_on_the_valid_mask_and_follow_the_seed(env):
    env.reset(seed=5)
    mask = env.valid_push_mask()
    assert mask.shape == (H, W) and mask.any()
    a = env.sample_push()
    assert mask[int(a[1]), int(a[0])] and env.action_space.contains(a)
    env.reset(seed=5)
    assert np.array_equal(env.sample_push(), a)


def test_async_vector_env_shares_observations_and_keeps_transitions_out_of_the_pipe():
    from pushseg.envs.vector import make_vector_env

    envs = make_vector_env(2, width=64, height=48, num_objects=(1, 2), task_signal=True)
    try:
        assert envs.unwrapped.shared_memory
        obs, _ = envs.reset(seed=0)
        assert obs["rgb"].shape == (2, 48, 64, 3)
        obs, reward, term, trunc, info = envs.step(envs.action_space.sample())
        assert "transition" not in info and "moved" in info and reward.shape == (2,)
    finally:
        envs.close()
