"""``PushSegEnv``: the Gymnasium face of a backend (the simulation or the real PR2).

By default there is no task reward: this is a data-collection environment. Every
step is one push; ``info["transition"]`` carries the whole interaction (before
and after frames, the push, what the backend did and, in simulation, the ground
truth) for the data, labeling and evaluation stages.

Opt-in, for training push policies (simulation only, since they need ground truth):
* ``task_signal=True``: ``info["moved"]`` (sorted instance ids that moved more
  than 5 mm or 0.05 rad) and ``info["success"]`` (exactly one object moved: the
  push singulated it).
* ``reward="singulation"`` (implies the task signal): +1 when exactly one object
  moved, -0.1 when the backend refused the push (outside the image, the table or
  the arm's reach), 0 otherwise. Episodes never terminate; the registered env
  truncates after 20 pushes.
* ``observe_instance_ids=True``: the observation gains ``instance_ids``, the
  (H, W) uint16 ground-truth ids (0 = table or background).
* ``info_transition=False``: no ``info["transition"]`` (it holds full frames;
  vector envs would ship them through their pipes), see :mod:`pushseg.envs.vector`.
* :class:`NormalizedPushActions`: actions in [-1, 1]^4, the same for any image
  size; :meth:`PushSegEnv.valid_push_mask` and :meth:`PushSegEnv.sample_push`
  give pushes that start on the outline of something standing on the table (far
  more of them move an object than ``action_space.sample()``).

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

from pushseg.agents.random_agent import RandomPushAgent
from pushseg.backends import Backend, make_backend
from pushseg.envs.sim_backend import SimConfig
from pushseg.errors import BackendError, InputError
from pushseg.types import Frame, Push, Transition
from pushseg.workspace import PUSH_LENGTH_MAX, PUSH_LENGTH_MIN

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

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 4}

    def __init__(
        self,
        backend: str | Backend = "sim",
        objects: str | None = None,
        width: int | None = None,
        height: int | None = None,
        num_objects: tuple[int, int] | None = None,
        render_mode: str | None = None,
        *,
        task_signal: bool = False,
        reward: str = "none",
        observe_instance_ids: bool = False,
        info_transition: bool = True,
        **backend_kwargs: Any,
    ) -> None:
        self._closed = True  # until the backend exists: close() and __del__ must work on a half-made env
        self._check_options(render_mode, task_signal, reward, observe_instance_ids, info_transition)
        self.render_mode = render_mode
        self.task_signal = bool(task_signal or reward != "none")
        self.reward_kind = reward
        self.observe_instance_ids = bool(observe_instance_ids)
        self.info_transition = bool(info_transition)
        sim_settings = dict(objects=objects, width=width, height=height, num_objects=num_objects)
        self._check_backend_settings(backend, sim_settings, backend_kwargs)
        if isinstance(backend, str) and backend == "sim":
            defaults = dict(objects="target-train", width=960, height=540, num_objects=(1, 8))
            sim_kwargs = {k: (defaults[k] if v is None else v) for k, v in sim_settings.items()}
            if isinstance(sim_kwargs["num_objects"], list):
                sim_kwargs["num_objects"] = tuple(sim_kwargs["num_objects"])
            if render_mode == "human":
                sim_kwargs["gui"] = True
            backend_kwargs = {**sim_kwargs, **backend_kwargs}
        self.backend: Backend = make_backend(backend, **backend_kwargs)
        self._closed = False
        cam = self.backend.camera
        self.width, self.height = cam.width, cam.height
        obs_spaces = {
            "rgb": spaces.Box(0, 255, shape=(cam.height, cam.width, 3), dtype=np.uint8),
            "depth": spaces.Box(0.0, MAX_DEPTH_M, shape=(cam.height, cam.width), dtype=np.float32),
        }
        if self.observe_instance_ids:
            obs_spaces["instance_ids"] = spaces.Box(0, np.iinfo(np.uint16).max, shape=(cam.height, cam.width),
                                                    dtype=np.uint16)
        self.observation_space = spaces.Dict(obs_spaces)
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
        self._check_open("reset")
        self._check_reset_options(options)
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
        self._check_open("step")
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
        info = {"executed": result.executed, "reason": result.reason}
        if self.info_transition:
            info["transition"] = transition
        reward = self._task(transition, info)
        # No terminal state: collection (or a TimeLimit) decides how many pushes an episode has.
        return self._obs(after), reward, False, False, info

    def render(self):
        self._check_open("render")
        if self.render_mode == "rgb_array" and self._frame is not None:
            return self._frame.rgb.copy()
        return None  # "human": the PyBullet window shows the scene itself

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self.backend.close()

    # --- behaviour: options, closed state, task signal -------------------------------

    REWARDS = ("none", "singulation")
    RESET_OPTIONS = ("episode",)
    REJECTED_PUSH_REWARD = -0.1

    def _check_options(self, render_mode, task_signal, reward, observe_instance_ids, info_transition) -> None:
        if render_mode not in (None, "rgb_array", "human"):
            raise InputError(f"render_mode must be None, 'rgb_array' or 'human', got {render_mode!r}")
        if reward not in self.REWARDS:
            raise InputError(f"reward must be one of {', '.join(map(repr, self.REWARDS))}, got {reward!r}")
        for name, v in (("task_signal", task_signal), ("observe_instance_ids", observe_instance_ids),
                        ("info_transition", info_transition)):
            if not isinstance(v, bool):
                raise InputError(f"{name} must be True or False, got {v!r}")

    def _check_backend_settings(self, backend, sim_settings: dict, backend_kwargs: dict) -> None:
        """Simulation settings, task signal and ids need the simulation: refuse them elsewhere."""
        if isinstance(backend, str) and backend == "sim":
            return
        which = ("the real robot" if backend == "real" else f"the {backend!r} backend" if isinstance(backend, str)
                 else "a ready Backend")
        given = [k for k, v in sim_settings.items() if v is not None]

        given += [k for k in backend_kwargs if k in SimConfig.__dataclass_fields__]
        if given:
            raise InputError(
                f"{', '.join(given)}: simulation settings, not used by {which} (its camera sets the image size); "
                f"drop them, or use backend='sim'"
            )
        if backend == "real":
            needs_gt = [n for n, on in (("task_signal/reward", self.task_signal or self.reward_kind != "none"),
                                        ("observe_instance_ids", self.observe_instance_ids),
                                        ("render_mode='human'", self.render_mode == "human")) if on]
            if needs_gt:
                raise InputError(f"{', '.join(needs_gt)} need the simulation (ground truth or its GUI); "
                                 f"the real robot has neither")

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise InputError(f"{what}() on a closed PushSegEnv: close() released its backend; make a new env")

    def _check_reset_options(self, options) -> None:
        if options is None:
            return
        if not isinstance(options, dict):
            raise InputError(f"reset(options=...) must be a dict, got {type(options).__name__}")
        unknown = sorted(set(options) - set(self.RESET_OPTIONS))
        if unknown:
            raise InputError(f"reset() options {unknown} are unknown; PushSegEnv takes {list(self.RESET_OPTIONS)}")
        if "episode" in options:
            e = options["episode"]
            if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < 0:
                raise InputError(f"reset(options={{'episode': ...}}) must be a non-negative integer, got {e!r}")

    def _task(self, transition: Transition, info: dict) -> float:
        """Fill the opt-in task signal into ``info``; the step's reward (0.0 unless a reward was asked for)."""
        if not self.task_signal:
            return 0.0
        moved = sorted(int(i) for i in transition.moved_ids)
        info["moved"] = moved
        info["success"] = len(moved) == 1
        if self.reward_kind == "singulation":
            if not transition.result.executed:
                return self.REJECTED_PUSH_REWARD
            return 1.0 if info["success"] else 0.0
        return 0.0

    # --- pushes worth trying ---------------------------------------------------------

    def valid_push_mask(self) -> np.ndarray:
        """(H, W) bool: pixels on the outline of what stands on the table, within the arm's reach.

        Found from the depth image alone (a table plane fit), so it works on the robot too.
        """
        self._check_open("valid_push_mask")
        if self._frame is None:
            raise InputError("call reset() before valid_push_mask()")
        return self._push_agent().start_mask(self._frame.depth)

    def sample_push(self) -> np.ndarray:
        """An action (u, v, angle, length) from :meth:`valid_push_mask`, drawn with ``self.np_random``."""
        self._check_open("sample_push")
        if self._frame is None:
            raise InputError("call reset() before sample_push()")
        agent = self._push_agent()
        agent.rng = self.np_random
        return agent.act({"rgb": self._frame.rgb, "depth": self._frame.depth}).as_array()

    def _push_agent(self):
        return RandomPushAgent(self._frame.camera, seed=0, workspace=getattr(self.backend, "workspace", None))

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
        obs = {"rgb": frame.rgb.copy(), "depth": depth}
        if self.observe_instance_ids:
            if frame.instance_ids is None:
                raise BackendError("observe_instance_ids=True, but the backend gives no instance ids")
            obs["instance_ids"] = frame.instance_ids.astype(np.uint16, copy=True)
        return obs

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


class NormalizedPushActions(gym.ActionWrapper):
    """Actions in [-1, 1]^4, whatever the image size: a policy carries across resolutions.

    ``(a_u, a_v, a_angle, a_length)`` -> ``u = (a_u + 1) / 2 * (W - 1)``, ``v`` the same
    with H, ``angle = a_angle * pi``, ``length = lo + (a_length + 1) / 2 * (hi - lo)``
    with the push length bounds of the wrapped env. Values outside [-1, 1] are an error.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        inner = env.action_space
        if not (isinstance(inner, spaces.Box) and inner.shape == (4,)):
            raise InputError("NormalizedPushActions wraps a PushSegEnv (a Box action of 4 numbers)")
        self._lo = inner.low.astype(np.float64)
        self._hi = inner.high.astype(np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)

    def action(self, action) -> np.ndarray:
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"action must be 4 numbers in [-1, 1], got {action!r}") from exc
        if a.shape != (4,) or not np.all(np.isfinite(a)):
            raise InputError(f"action must be 4 finite numbers in [-1, 1], got {a.tolist()}")
        if np.any(np.abs(a) > 1.0 + 1e-6):
            raise InputError(f"normalized action {a.tolist()} leaves [-1, 1]")
        a = np.clip(a, -1.0, 1.0)
        return (self._lo + (a + 1.0) / 2.0 * (self._hi - self._lo)).astype(np.float32)

    def to_normalized(self, pixel_action) -> np.ndarray:
        """The inverse: a pixel action (u, v, angle, length) of the wrapped env -> [-1, 1]^4."""
        a = np.asarray(pixel_action, dtype=np.float64)
        return (2.0 * (a - self._lo) / (self._hi - self._lo) - 1.0).astype(np.float32)
