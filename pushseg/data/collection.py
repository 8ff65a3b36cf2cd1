"""Collecting a run: episodes of pushes, possibly in parallel, written strictly in order.

Every episode is independent: its scene and its agent are seeded from seeds
derived from the master seed alone (``np.random.SeedSequence(seed).spawn``), so
any process can run any episode. Workers run episodes and send back encoded
transitions (PNG bytes); the parent writes them in (episode, step) order. The
files therefore depend on the seed and the settings only, never on the number of
workers or on timing, and no wall-clock time is written anywhere.

Resuming a killed run replays the last, partly written episode from its seed
(the simulation is deterministic), checks that each replayed step equals the
one on disk and appends what is missing. A backend that cannot replay (the real
robot) keeps the partial episode as it is and goes on with the next one.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from pushseg.data.run import EncodedTransition, ResumeReport, RunMeta, RunWriter, encode_transition, read_meta
from pushseg.errors import BackendError, InputError, PushSegError, RunFolderError
from pushseg.executors import ExecutorConfig, ordered_map

# Backends whose episodes replay bit for bit from their seed.
REPLAYABLE_BACKENDS = ("sim",)
AGENTS = ("separation", "random")
DEFAULT_NUM_OBJECTS = (1, 8)  # objects per scene when --min/--max-objects are not given


@dataclass(frozen=True)
class CollectConfig:
    """What a collection does; stored in meta.json and checked again on --resume."""

    episodes: int = 10  # number of scenes
    pushes_per_episode: int = 5  # pushes in each scene
    seed: int = 0  # master seed; episode seeds are derived from it
    backend: str = "sim"  # sim (PyBullet) or real (the PR2)
    objects: str = "target-train"  # object set: source, target-train or target-test
    agent: str = "separation"  # push policy: separation or random
    width: int = 960  # image width in pixels
    height: int = 540  # image height in pixels
    min_objects: int | None = None  # fewest objects per scene (None: 1)
    max_objects: int | None = None  # most objects per scene (None: 8, or min_objects if larger)
    real_config: str | None = None  # YAML overriding the PR2 defaults (backend "real" only)
    dry_run: bool = False  # real robot: plan and log every push, send nothing
    world: str | None = None  # simulation: world profile (ideal, robot, harsh); None: the object set's default

    def __post_init__(self) -> None:
        if self.backend != "real" and (self.real_config is not None or self.dry_run):
            raise InputError("--real-config and --dry-run are for --backend real only")
        if self.world is not None:
            if self.backend != "sim":
                raise InputError("--world is for --backend sim only: a robot's world is the one it is in")
            from pushseg.envs.world import world_profile

            world_profile(self.world)
        if self.episodes < 1:
            raise InputError(f"--episodes must be at least 1, got {self.episodes}")
        if self.pushes_per_episode < 1:
            raise InputError(f"--pushes-per-episode must be at least 1, got {self.pushes_per_episode}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"--seed must be a non-negative integer below 2**63, got {self.seed}")
        if self.agent not in AGENTS:
            raise InputError(f"--agent must be one of {', '.join(AGENTS)}, got {self.agent!r}")
        if self.width < 16 or self.height < 16:
            raise InputError(f"--width/--height must be at least 16 pixels, got {self.width}x{self.height}")
        lo, hi = self.min_objects, self.max_objects
        if (lo is not None and lo < 1) or (hi is not None and hi < 1) or (lo and hi and lo > hi):
            raise InputError(f"--min-objects/--max-objects must satisfy 1 <= min <= max, got {lo} and {hi}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EpisodeSpec:
    episode: int
    env_seed: int  # passed to env.reset(seed=...)
    agent_seed: int


def episode_specs(seed: int, episodes: int) -> list[EpisodeSpec]:
    """Per-episode seeds from the master seed; episode i's seeds do not depend on the count."""
    specs = []
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(episodes)):
        env_ss, agent_ss = child.spawn(2)
        specs.append(
            EpisodeSpec(
                episode=i,
                env_seed=int(env_ss.generate_state(1, np.uint32)[0]),
                agent_seed=int(agent_ss.generate_state(1, np.uint32)[0]),
            )
        )
    return specs


class Runner(Protocol):
    """Runs episodes in one process (it may keep an env open between them)."""

    def describe(self) -> dict[str, Any]:
        """backend, camera (CameraInfo), objects and agent, for meta.json."""

    def run(self, spec: EpisodeSpec) -> Iterator[EncodedTransition]:
        """The episode's transitions in step order, already encoded."""

    def close(self) -> None: ...


RunnerFactory = Callable[[CollectConfig], Runner]


class EnvRunner:
    """The real thing: a ``PushSegEnv`` (kept open across episodes) and a push agent."""

    def __init__(self, config: CollectConfig) -> None:
        self.config = config
        self._env = None

    @property
    def env(self):
        if self._env is None:
            from pushseg.envs.push_env import PushSegEnv

            c = self.config
            lo = c.min_objects if c.min_objects is not None else DEFAULT_NUM_OBJECTS[0]
            hi = c.max_objects if c.max_objects is not None else max(lo, DEFAULT_NUM_OBJECTS[1])
            # None lets the real backend fall back to $PUSHSEG_REAL_CONFIG / $PUSHSEG_REAL_DRY_RUN.
            real_options = {"config": c.real_config, "dry_run": c.dry_run or None} if c.backend == "real" else {}
            if c.world is not None:  # simulation only (checked in CollectConfig)
                real_options = {"world": c.world}
            self._env = PushSegEnv(
                backend=c.backend,
                objects=c.objects,
                width=c.width,
                height=c.height,
                num_objects=(lo, hi),
                **real_options,
            )
        return self._env

    def _agent(self, camera, seed: int):
        from pushseg.agents import make_agent

        # The backend's workspace keeps the agent to pushes the arm can reach.
        return make_agent(self.config.agent, camera, seed=seed, workspace=self.env.backend.workspace)

    def describe(self) -> dict[str, Any]:
        from pushseg.envs.objects import object_set

        objects: dict[str, Any] = {"set": self.config.objects}
        if self.config.backend == "sim":
            s = object_set(self.config.objects)
            objects.update(names=s.names, procedural=s.procedural, description=s.description)
        backend = self.env.backend
        return {
            "backend": backend.name,
            "camera": backend.camera,
            "objects": objects,
            "agent": {"name": self.config.agent, "class": type(self._agent(backend.camera, 0)).__name__},
            "world": backend.profile.to_dict() if hasattr(backend, "profile") else {},
        }

    def run(self, spec: EpisodeSpec) -> Iterator[EncodedTransition]:
        from pushseg.agents.episode import run_episode

        # The agent sees this scene's camera (the head may be jittered per scene).
        for t in run_episode(self.env, lambda camera: self._agent(camera, spec.agent_seed),
                             self.config.pushes_per_episode, seed=spec.env_seed, episode=spec.episode):
            yield encode_transition(t)

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None


# --- the parent: order, resume, progress -----------------------------------------------


@dataclass
class CollectSummary:
    out: Path
    written: int  # transitions appended by this call
    replayed: int  # transitions replayed on resume and found equal to the disk
    total: int  # transitions in the run now
    resume: ResumeReport | None = None


def collect(
    config: CollectConfig,
    out: str | Path,
    *,
    workers: int = 1,
    resume: bool = False,
    runner_factory: RunnerFactory = EnvRunner,
    progress: bool | None = None,
    executor: str | ExecutorConfig = "local",
) -> CollectSummary:
    """Collect ``config.episodes`` episodes into the run folder ``out``.

    ``executor`` runs the episodes in local processes ("local", ``workers`` of them)
    or on Ray ("ray", or an ``ExecutorConfig`` with the cluster address and task
    resources); the files are the same either way.
    """
    out = Path(out)
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if isinstance(executor, str):
        executor = ExecutorConfig(executor=executor, workers=workers)
    workers = executor.workers
    if (workers > 1 or executor.executor != "local") and config.backend not in REPLAYABLE_BACKENDS:
        raise InputError(
            f"--workers {workers} --executor {executor.executor}: the {config.backend!r} backend is one robot; "
            f"use --workers 1 --executor local"
        )
    specs = episode_specs(config.seed, config.episodes)
    local = runner_factory(config)  # also runs the episodes when workers == 1
    try:
        report = None
        if resume:
            writer, report = _reopen(out, config)
        else:
            RunWriter.check_new(out)  # before the env is built: a refusal should be instant
            writer = RunWriter.create(out, _make_meta(config, specs, local.describe()))
        try:
            todo = _episodes_to_run(writer, config, specs)
            sink = _Sink(writer)
            total = config.episodes * config.pushes_per_episode
            disable = None if progress is None else not progress  # None: only on a terminal
            with tqdm(total=total, initial=len(writer.records), unit="push", desc="collect", disable=disable) as bar:
                sink.bar = bar
                if executor.executor == "ray" and todo:
                    local.close()
                    _run_on_executor(runner_factory, config, todo, executor, sink)
                elif workers == 1 or len(todo) <= 1:
                    for spec in todo:
                        for enc in local.run(spec):
                            sink(enc)
                else:
                    local.close()
                    _run_parallel(runner_factory, config, todo, workers, sink)
            return CollectSummary(out, sink.written, sink.replayed, len(writer.records), report)
        finally:
            writer.close()
    finally:
        local.close()


def _make_meta(config: CollectConfig, specs: list[EpisodeSpec], described: dict[str, Any]) -> RunMeta:
    return RunMeta(
        backend=described["backend"],
        camera=described["camera"],
        config=config.to_dict(),
        seeds={
            "seed": config.seed,
            "derivation": "numpy.random.SeedSequence(seed).spawn(episodes)[i].spawn(2) -> env, agent",
            "episodes": [{"episode": s.episode, "env": s.env_seed, "agent": s.agent_seed} for s in specs],
        },
        objects=described["objects"],
        agent=described["agent"],
        world=described.get("world", {}),
    )


def _reopen(out: Path, config: CollectConfig) -> tuple[RunWriter, ResumeReport]:
    if not (out / "meta.json").is_file():
        if out.exists() and any(out.iterdir()):
            raise RunFolderError(
                f"{out}: cannot resume, it has no meta.json (the collection was killed before it began, "
                f"or this is not a run folder); delete it and collect again"
            )
        raise RunFolderError(f"{out}: cannot resume, there is no run there yet; drop --resume to start it")
    stored = read_meta(out).config  # checked before resume() repairs anything
    wanted = config.to_dict()
    differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if differ:
        what = ", ".join(f"{k}: {stored.get(k)!r} in the run, {wanted.get(k)!r} now" for k in differ)
        raise RunFolderError(f"{out}: --resume needs the settings the run was started with ({what})")
    return RunWriter.resume(out)


def _episodes_to_run(writer: RunWriter, config: CollectConfig, specs: list[EpisodeSpec]) -> list[EpisodeSpec]:
    last = writer.last_key
    if last is None:
        return specs
    episode, step = last
    if step + 1 >= config.pushes_per_episode or config.backend not in REPLAYABLE_BACKENDS:
        return specs[episode + 1 :]
    return specs[episode:]  # replay the partial episode to restore its scene


class _Sink:
    """Takes encoded transitions in order; writes new ones, checks replayed ones."""

    def __init__(self, writer: RunWriter) -> None:
        self.writer = writer
        self.written = 0
        self.replayed = 0
        self.bar = None

    def __call__(self, enc: EncodedTransition) -> None:
        last = self.writer.last_key
        if last is not None and (enc.episode, enc.step) <= last:
            problem = self.writer.mismatch(enc)
            if problem:
                raise RunFolderError(
                    f"{self.writer.root}: on resume, episode {enc.episode} step {enc.step} replayed "
                    f"differently from what is on disk ({problem}); the run was made with other code "
                    f"or settings, so collect into a new --out"
                )
            self.replayed += 1
            return
        self.writer.write(enc)
        self.written += 1
        if self.bar is not None:
            self.bar.update(1)


def _make_runner(runner_factory: RunnerFactory, config: CollectConfig) -> Runner:
    return runner_factory(config)


def _run_episode(runner: Runner, spec: EpisodeSpec) -> list[EncodedTransition]:
    return list(runner.run(spec))


def _run_on_executor(
    runner_factory: RunnerFactory,
    config: CollectConfig,
    todo: list[EpisodeSpec],
    executor: ExecutorConfig,
    sink: Callable[[EncodedTransition], None],
) -> None:
    """Episodes as executor jobs (one runner per worker); each finished episode is written in order."""
    episodes = ordered_map(_make_runner, (runner_factory, config), _run_episode, todo, executor)
    for transitions in episodes:
        for enc in transitions:
            sink(enc)


def _parent_gone() -> bool:
    parent = mp.parent_process()
    return parent is not None and not parent.is_alive()


def _worker(runner_factory: RunnerFactory, config: CollectConfig, tasks, results) -> None:
    """Run the episodes the parent hands out; stop when told, on an error, or when the parent is gone."""
    runner = runner_factory(config)
    try:
        while True:
            try:
                spec = tasks.get(timeout=1.0)
            except queue.Empty:
                if _parent_gone():  # killed parent: do not run on as an orphan
                    return
                continue
            if spec is None:
                return
            try:
                n = 0
                for enc in runner.run(spec):
                    if _parent_gone():
                        return
                    results.put(("transition", spec.episode, enc))
                    n += 1
                results.put(("done", spec.episode, n))
            except BaseException as e:  # report, then stop: the parent ends the collection
                # A PushSegError already says what is wrong; anything else is a bug: send its traceback.
                report = e if isinstance(e, PushSegError) else f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
                results.put(("error", spec.episode, report))
                return
    finally:
        runner.close()


def _run_parallel(
    runner_factory: RunnerFactory,
    config: CollectConfig,
    todo: list[EpisodeSpec],
    workers: int,
    sink: Callable[[EncodedTransition], None],
) -> None:
    """Run ``todo`` on ``workers`` processes; hand transitions to ``sink`` in episode/step order.

    Episodes ahead of the oldest unfinished one are buffered in memory, so at most
    ``2 * workers`` episodes are handed out beyond it.
    """
    ctx = mp.get_context("spawn")  # each worker gets a fresh interpreter and its own PyBullet client
    tasks, results = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(runner_factory, config, tasks, results), daemon=True)
             for _ in range(min(workers, len(todo)))]
    for p in procs:
        p.start()
    order = [s.episode for s in todo]
    buffered: dict[int, list[EncodedTransition]] = {e: [] for e in order}
    finished: set[int] = set()
    failed: dict[int, PushSegError | str] = {}
    head = 0  # index in order of the episode being written
    sent = 0

    def dispatch() -> None:
        nonlocal sent
        while sent < len(todo) and sent < head + 2 * workers:
            tasks.put(todo[sent])
            sent += 1

    try:
        dispatch()
        while head < len(order):
            try:
                kind, episode, payload = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise BackendError(
                        f"a collection worker died (exit code {dead[0].exitcode}); nothing it had not "
                        f"sent was written; run again with --resume"
                    ) from None
                continue
            if kind == "transition":
                buffered[episode].append(payload)
            elif kind == "error":
                failed[episode] = payload
            else:
                finished.add(episode)
            # Write everything that is next in order; a failure stops the run once all before it is written.
            while head < len(order):
                current = order[head]
                for enc in buffered[current]:
                    sink(enc)
                buffered[current] = []
                if current in failed:
                    error = failed[current]
                    if isinstance(error, PushSegError):
                        raise error
                    raise BackendError(f"episode {current} failed in a worker: {error}")
                if current not in finished:
                    break
                head += 1
                dispatch()
        for _ in procs:
            tasks.put(None)
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
