"""Several PushSegEnvs at once, as a Gymnasium vector env.

::

    from pushseg.envs.vector import make_vector_env
    envs = make_vector_env(4, width=320, height=180, task_signal=True)
    obs, info = envs.reset(seed=0)               # obs["rgb"]: (4, 180, 320, 3)
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())

Each copy runs in its own process (``asynchronous=True``, Gymnasium's
AsyncVectorEnv) with its own PyBullet client; copies are seeded ``seed + i``.
What makes the processes worth it: observations come back through shared memory
(``shared_memory=True``), not pickled, and ``info["transition"]`` (two full
frames per step) is left out unless ``info_transition=True`` is asked for, so
the pipes carry a few numbers per step. Episodes are truncated after 20 pushes
(the registered env's limit) and reset on the next step (Gymnasium's default
autoreset). ``asynchronous=False`` gives a SyncVectorEnv (one process), which is
what to use for debugging.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

import pushseg  # noqa: F401  (registers pushseg/TabletopPush-v0)
from pushseg.errors import InputError

ENV_ID = "pushseg/TabletopPush-v0"


def make_vector_env(num_envs: int, *, asynchronous: bool = True, info_transition: bool = False,
                    context: str | None = None, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies of PushSegEnv(**env_kwargs) in a vector env (see the module doc)."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise InputError(f"num_envs must be a positive integer, got {num_envs!r}")
    if env_kwargs.get("render_mode") == "human":
        raise InputError("render_mode='human' opens one GUI window per copy; use it with a single env")
    kwargs = {**env_kwargs, "info_transition": info_transition}
    if asynchronous:
        vector_kwargs: dict[str, Any] = {"shared_memory": True}
        if context is not None:
            vector_kwargs["context"] = context
        return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="async", vector_kwargs=vector_kwargs,
                            **kwargs)
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="sync", **kwargs)
