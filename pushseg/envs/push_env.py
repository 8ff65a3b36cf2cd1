"""``PushSegEnv``: the Gymnasium face of a backend (the simulation or the real PR2).

There is no task reward: this is a data-collection environment. Every step
is one push; ``info["transition"]`` carries the whole interaction (before and
after frames, the push, what the backend did and, in simulation, the ground
truth) for the data, labeling and evaluation stages.

Action: ``Box([u, v, angle, length])``, float32.

* ``u`` in [0, W - 1], ``v`` in [0, H - 1]: the push start pixel (column, row).
* ``angle`` in [-pi, pi]: push direction in the table plane, radians in
  base_link, counter-clockwise from +x (away from the robot), see types.py.
* ``length`` in [0.02, 0.20] metres.

Observation: ``Dict(rgb=(H, W, 3) uint8, depth=(H, W) float32 metres)``.
A missing depth reading is **0.0** in the observation, as a Kinect2 driver
reports it (16UC1 millimetres, 0 = no reading): the depth Box is
``[0, MAX_DEPTH_M]`` and every observation lies in it, whichever world profile
or backend produced it (a Box cannot hold NaN). ``info["transition"]`` and
:attr:`PushSegEnv.frame` keep the :class:`~pushseg.types.Frame` contract
instead: NaN where there is no reading. Code that reads depth treats NaN and
values <= 0 alike as "no reading" (``geometry.depth_to_points``,
``geometry.robust_depth``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from pushseg.workspace import PUSH_LENGTH_MAX, PUSH_LENGTH_MIN
from pushseg.backends import make_backend
from pushseg.errors import InputError
from pushseg.types import Backend, Frame, Push, Transition

MAX_DEPTH_M = 10.0  # the simulated camera's far plane; a Kinect2 reads up to ~4.5 m
NO_DEPTH = 0.0  # how a missing depth reading appears in an observation


class PushSegEnv(gym.Env):
    """Push objects on a table and watch what moves. See the module doc for the spaces.

    ``backend``: a name from the registry (:mod:`pushseg.backends`) or a ready
    Backend. "sim" is a :class:`~pushseg.envs.sim_backend.SimBackend` made from
    ``objects``, ``width``, ``height``, ``num_objects`` and any further
    ``SimConfig`` keyword; any other name (e.g. "real", the PR2, imported only
    then) is made from ``backend_kwargs`` alone, and its camera sets the image size.
    ``reset(seed=s)`` draws the scene's seed from ``self.np_random``; the
    episode number restarts at 0 on a seeded reset, or is set by
    ``options={"episode": k}``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        backend: str | Backend = "sim",
        objects: str = "target-train",
        width: int = 960,
        height: int = 540,
        num_objects: tuple[int, int] = (1, 8),
        render_mode: str | None = None,
        **backend_kwargs: Any,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise InputError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        if isinstance(backend, str) and backend == "sim":
            sim_kwargs = dict(objects=objects, width=width, height=height, num_objects=tuple(num_objects))
            backend_kwargs = {**sim_kwargs, **backend_kwargs}
        self.backend: Backend = make_backend(backend, **backend_kwargs)
        cam = self.backend.camera
        self.width, self.height = cam.width, cam.height
        self.observation_space = spaces.Dict(
            {
                "rgb": spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8),
                "depth": spaces.Box(0.0, MAX_DEPTH_M, shape=(cam.height, cam.width), dtype=np.float32),
            }
        )
        self.action_space = spaces.Box(
            low=np.array([0.0, 0.0, -np.pi, PUSH_LENGTH_MIN], dtype=np.float32),
            high=np.array([cam.width - 1, cam.height - 1, np.pi, PUSH_LENGTH_MAX], dtype=np.float32),
            dtype=np.float32,
        )
        self._frame: Frame | None = None
        self._episode = -1
        self._step = 0
        self._scene_seed: int | None = None

    # --- Gymnasium API ---------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # One draw from the env's generator seeds the whole scene.
        self._scene_seed = int(self.np_random.integers(2**63 - 1))
        self._frame = self.backend.reset(self._scene_seed)
        # Episodes count from 0 again whenever the generator is re-seeded, so a
        # seed fixes the transitions completely; options={"episode": k} numbers them.
        self._episode = 0 if seed is not None else self._episode + 1
        if options and "episode" in options:
            self._episode = int(options["episode"])
        self._step = 0
        return self._obs(self._frame), {"camera": self._frame.camera, "seed": self._scene_seed}

    def step(self, action):
        if self._frame is None:
            raise InputError("call reset() before step()")
        push = self._check_action(action)
        before = self._frame
        result = self.backend.push(push)
        after = self.backend.observe()
        self._frame = after
        transition = Transition(
            before=before,
            after=after,
            push=push,
            result=result,
            backend=self.backend.name,
            seed=self._scene_seed,
            episode=self._episode,
            step=self._step,
        )
        self._step += 1
        info = {"transition": transition, "executed": result.executed, "reason": result.reason}
        # No task reward and no terminal state: collection decides how many pushes an episode has.
        return self._obs(after), 0.0, False, False, info

    def render(self):
        if self.render_mode == "rgb_array" and self._frame is not None:
            return self._frame.rgb.copy()
        return None

    def close(self) -> None:
        self.backend.close()

    # --- helpers -----------------------------------------------------------------------

    @property
    def frame(self) -> Frame | None:
        """The latest Frame (with camera and, in simulation, instance ids)."""
        return self._frame

    def _obs(self, frame: Frame) -> dict[str, np.ndarray]:
        # Copies: a caller may keep or modify what it gets (the frames stay intact in info).
        # No reading (NaN, or beyond the Box) becomes 0, the driver's convention (module doc).
        depth = frame.depth.astype(np.float32, copy=True)
        depth[~(np.isfinite(depth) & (depth > 0) & (depth <= MAX_DEPTH_M))] = NO_DEPTH
        return {"rgb": frame.rgb.copy(), "depth": depth}

    def _check_action(self, action) -> Push:
        if isinstance(action, Push):
            a = action.as_array().astype(np.float64)
        else:
            try:
                a = np.asarray(action, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InputError(f"action must be 4 numbers (u, v, angle, length), got {action!r}") from exc
        if a.shape != (4,):
            raise InputError(f"action must have shape (4,) = (u, v, angle, length), got shape {a.shape}")
        names = ("u", "v", "angle", "length")
        bad = [n for n, x in zip(names, a) if not np.isfinite(x)]
        if bad:
            raise InputError(f"action has non-finite {', '.join(bad)}: {a.tolist()}")
        lo, hi = self.action_space.low.astype(np.float64), self.action_space.high.astype(np.float64)
        for i, n in enumerate(names):
            if not (lo[i] - 1e-6 <= a[i] <= hi[i] + 1e-6):
                what = "outside the image" if i < 2 else "out of bounds"
                raise InputError(f"action {n} = {a[i]:.4g} is {what}: must be in [{lo[i]:.4g}, {hi[i]:.4g}]")
        return Push.from_array(a)
