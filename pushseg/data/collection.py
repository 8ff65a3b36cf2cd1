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

from pushseg.data.lock import FolderLock
from pushseg.data.run import (
    META_FILE,
    EncodedTransition,
    ResumeReport,
    RunMeta,
    RunWriter,
    encode_transition,
    read_meta,
)
from pushseg.data.staging import Staging
from pushseg.errors import BackendError, InputError, PushSegError, RunFolderError
from pushseg.executors import ExecutorConfig, ordered_map

# Backends whose episodes replay bit for bit from their seed.
REPLAYABLE_BACKENDS = ("sim",)
AGENTS = ("separation", "random", "labelling")
DEFAULT_NUM_OBJECTS = (1, 8)  # objects per scene when --min/--max-objects are not given


@dataclass(frozen=True)
class CollectConfig:
    """What a collection does; stored in meta.json and checked again on --resume."""

    episodes: int = 10  # number of scenes
    pushes_per_episode: int = 5  # pushes in each scene
    seed: int = 0  # master seed; episode seeds are derived from it
    backend: str = "sim"  # sim (PyBullet) or real (the PR2)
    objects: str = "target-train"  # object set: source, target-train or target-test
    agent: str = "separation"  # push policy: separation, random or labelling
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
            if c.backend == "real":  # the robot's camera sets the image size; it has no object sets
                options = {"config": c.real_config, "dry_run": c.dry_run or None}
            else:
                options = {"objects": c.objects, "width": c.width, "height": c.height, "num_objects": (lo, hi)}
                if c.world is not None:  # simulation only (checked in CollectConfig)
                    options["world"] = c.world
            self._env = PushSegEnv(backend=c.backend, **options)
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
    verify_digests: bool = True,
    executor: str | ExecutorConfig = "local",
) -> CollectSummary:
    """Collect ``config.episodes`` episodes into the run folder ``out``.

    ``executor`` runs the episodes in local processes ("local", ``workers`` of them)
    or on Ray ("ray", or an ``ExecutorConfig`` with the cluster address and task
    resources); the files are the same either way.

    The folder is locked for the whole call (:mod:`pushseg.data.lock`): a second
    collection into it fails at once, naming this one. ``resume`` continues a run;
    on a folder without a complete meta.json (a start cut short, or nothing yet)
    it starts the run. ``verify_digests`` checks the images already on disk
    before resuming.
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
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out} is a file, not a folder; choose another --out")
    specs = episode_specs(config.seed, config.episodes)
    with FolderLock(out, "pushseg collect"):
        if resume and not (out / META_FILE).is_file():
            if not RunWriter.unstarted(out):
                raise RunFolderError(
                    f"{out}: cannot resume, it has no meta.json and holds files pushseg did not make there; "
                    f"it is not a run folder: choose another --out"
                )
            RunWriter.clear_unstarted(out)  # a start cut short (killed, disk full): start again
            resume = False
        if not resume:
            RunWriter.check_new(out)  # before the env is built: a refusal should be instant
        local = runner_factory(config)  # also runs the episodes when workers == 1
        try:
            return _collect_locked(config, out, specs, local, executor, resume, runner_factory, progress,
                                   verify_digests)
        finally:
            local.close()


def _collect_locked(config, out, specs, local, executor, resume, runner_factory, progress, verify_digests):
    workers = executor.workers
    report = None
    if resume:
        writer, report = _reopen(out, config, verify_digests)
    else:
        writer = RunWriter.create(out, _make_meta(config, specs, local.describe()))
    try:
        todo = _episodes_to_run(writer, config, specs)
        staging = Staging(out)
        for e in staging.episodes():  # partial staged episodes run again; done ones are kept
            if e < (todo[0].episode if todo else config.episodes) or staging.complete(e) is None:
                staging.drop(e)
        sink = _Sink(writer)
        total = config.episodes * config.pushes_per_episode
        disable = None if progress is None else not progress  # None: only on a terminal
        with tqdm(total=total, initial=len(writer.records), unit="push", desc="collect", disable=disable) as bar:
            sink.bar = bar
            if executor.executor == "ray" and todo:
                local.close()
                for e in staging.episodes():  # Ray runs them again (the same transitions)
                    staging.drop(e)
                _run_on_executor(runner_factory, config, todo, executor, sink)
            elif workers == 1 or len(todo) <= 1:
                for spec in todo:
                    staged = staging.complete(spec.episode)
                    for enc in staged if staged is not None else local.run(spec):
                        sink(enc)
                    staging.drop(spec.episode)
            else:
                local.close()
                _run_parallel(runner_factory, config, todo, workers, sink, staging)
        staging.remove_if_empty()
        return CollectSummary(out, sink.written, sink.replayed, len(writer.records), report)
    finally:
        writer.close()


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


def _reopen(out: Path, config: CollectConfig, verify_digests: bool = True) -> tuple[RunWriter, ResumeReport]:
    stored = read_meta(out).config  # checked before resume() repairs anything
    wanted = config.to_dict()
    differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if differ:
        what = ", ".join(f"{k}: {stored.get(k)!r} in the run, {wanted.get(k)!r} now" for k in differ)
        raise RunFolderError(f"{out}: --resume needs the settings the run was started with ({what})")
    return RunWriter.resume(out, verify_digests=verify_digests)


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


def _wait_for_ack(ack) -> bool:
    """Block until the parent has put this worker's last transition on disk; False if the parent is gone."""
    while not ack.acquire(timeout=1.0):
        if _parent_gone():
            return False
    return True


def _worker(runner_factory: RunnerFactory, config: CollectConfig, tasks, results, ack=None, wid: int = 0) -> None:
    """Run the episodes the parent hands out; stop when told, on an error, or when the parent is gone.

    With ``ack`` (a semaphore the parent releases once it has written or staged a
    transition of this worker) a worker starts its next push only when its last one
    is on disk: a kill then loses at most one finished push per worker.
    """
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
                steps = iter(runner.run(spec))
                while True:
                    if ack is not None and not _wait_for_ack(ack):
                        return
                    try:
                        enc = next(steps)
                    except StopIteration:
                        if ack is not None:
                            ack.release()  # nothing sent: the next episode may start at once
                        break
                    if _parent_gone():
                        return
                    results.put(("transition", spec.episode, enc, wid))
                    n += 1
                results.put(("done", spec.episode, n, wid))
            except BaseException as e:  # report, then stop: the parent ends the collection
                # A PushSegError already says what is wrong; anything else is a bug: send its traceback.
                report = e if isinstance(e, PushSegError) else f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
                results.put(("error", spec.episode, report, wid))
                return
    finally:
        runner.close()


def _run_parallel(
    runner_factory: RunnerFactory,
    config: CollectConfig,
    todo: list[EpisodeSpec],
    workers: int,
    sink: Callable[[EncodedTransition], None],
    staging: Staging,
) -> None:
    """Run ``todo`` on ``workers`` processes; hand transitions to ``sink`` in episode/step order.

    Transitions of the episode being written go to ``sink`` at once; those of
    later episodes go to ``staging`` (on disk) until their turn, so a kill loses
    only the pushes in flight. At most ``2 * workers`` episodes are handed out
    beyond the oldest unfinished one. Episodes already complete in ``staging``
    (from a killed run) are not run again.
    """
    order = [s.episode for s in todo]
    ready = {e for e in order if staging.complete(e) is not None}
    to_run = [s for s in todo if s.episode not in ready]
    ctx = mp.get_context("spawn")  # each worker gets a fresh interpreter and its own PyBullet client
    tasks, results = ctx.Queue(), ctx.Queue()
    n_procs = min(workers, max(1, len(to_run)))
    acks = [ctx.Semaphore(1) for _ in range(n_procs)]
    procs = [ctx.Process(target=_worker, args=(runner_factory, config, tasks, results, acks[i], i), daemon=True)
             for i in range(n_procs)]
    for p in procs:
        p.start()
    failed: dict[int, PushSegError | str] = {}
    head = 0  # index in order of the episode being written
    sent = 0
    position = {e: i for i, e in enumerate(order)}

    def dispatch() -> None:
        nonlocal sent
        while sent < len(to_run) and position[to_run[sent].episode] < head + 2 * workers:
            tasks.put(to_run[sent])
            sent += 1

    def advance() -> None:
        """Write every episode that is next in order and finished; stop at the first unfinished one."""
        nonlocal head
        while head < len(order):
            current = order[head]
            if current in failed:
                for enc in staging.load(current):
                    sink(enc)
                error = failed[current]
                if isinstance(error, PushSegError):
                    raise error
                raise BackendError(f"episode {current} failed in a worker: {error}")
            staged = staging.complete(current)
            if staged is None:
                for enc in staging.load(current):  # arrived before the episode became the head
                    sink(enc)
                staging.drop(current)
                return
            for enc in staged:
                sink(enc)
            staging.drop(current)
            head += 1
            dispatch()

    try:
        dispatch()
        advance()
        while head < len(order):
            try:
                kind, episode, payload, wid = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise BackendError(
                        f"a collection worker died (exit code {dead[0].exitcode}); nothing it had not "
                        f"sent was written; run again with --resume"
                    ) from None
                continue
            is_head = episode == order[head]
            if kind == "transition":
                if is_head:
                    sink(payload)
                else:
                    staging.put(payload)  # on disk now: a kill cannot lose it
                acks[wid].release()  # that worker may start its next push
            elif kind == "error":
                failed[episode] = payload
            elif is_head:  # every transition of it is written already
                head += 1
                dispatch()
            else:
                staging.done(episode, payload)
            advance()
        for _ in procs:
            tasks.put(None)
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
