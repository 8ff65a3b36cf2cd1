"""One episode of pushes: the loop that collection, agent evaluation and benchmarks share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pushseg.types import CameraInfo, Transition


def run_episode(env, agent_for: Callable[[CameraInfo], Any], pushes: int, *, seed: int,
                episode: int = 0) -> Iterator[Transition]:
    """Reset ``env`` with ``seed``, then let the agent push ``pushes`` times; yields each Transition.

    ``agent_for(camera)`` makes the agent once the scene is there: the head
    camera may differ per scene. Each transition is numbered ``(episode, step)``
    and carries ``seed`` (the one its episode is replayed from). Stops early when
    the env ends the episode (e.g. ``gym.make``'s time limit).
    """
    obs, info = env.reset(seed=seed, options={"episode": episode})
    agent = agent_for(info.get("camera", env.unwrapped.backend.camera))
    for step in range(pushes):
        push = agent.act(obs)
        obs, _, terminated, truncated, info = env.step(push.as_array())
        t = info["transition"]
        t.episode, t.step, t.seed = episode, step, seed
        yield t
        if terminated or truncated:
            break
