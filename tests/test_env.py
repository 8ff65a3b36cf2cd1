"""PushSegEnv: the Gymnasium contract, determinism, and clear errors on bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pushseg
from pushseg.envs.push_env import PushSegEnv
from pushseg.errors import BackendError, InputError
from pushseg.types import Backend, Push, Transition

W, H = 160, 90


@pytest.fixture(scope="module")
def env():
    e = PushSegEnv(width=W, height=H, num_objects=(2, 4))
    yield e
    e.close()


def _object_pixel(env: PushSegEnv) -> tuple[int, int]:
    vs, us = np.nonzero(env.frame.instance_ids > 0)
    return int(us[len(us) // 2]), int(vs[len(vs) // 2])


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
