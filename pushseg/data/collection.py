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

Nothing here knows a backend: :class:`CollectConfig` holds the backend's name
and its own settings (the class registered with it in :mod:`pushseg.backends`,
a :class:`pushseg.backends.BackendConfig`), which make the backend, describe its
world for meta.json and say whether its episodes replay.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from pushseg import backends
from pushseg.agents import make_agent
from pushseg.agents.episode import run_episode
from pushseg.backends import BackendConfig
from pushseg.config import from_dict, to_dict
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
from pushseg.envs.push_env import PushSegEnv
from pushseg.errors import BackendError, InputError, PushSegError, RunFolderError
from pushseg.executors import ExecutorConfig, ordered_map

AGENTS = ("separation", "random", "labelling")
NO_SETTINGS: dict[str, Any] = {"objects": {}, "world": {}}  # what a backend without settings records


@dataclass(frozen=True)
class CollectConfig:
    """What a collection does; stored in meta.json and checked again on --resume.

    ``backend_config`` is the backend's own part. In a settings file and on the
    command line it is the section named after the backend: ``sim`` (e.g.
    ``--width 320`` or ``--set sim.world=harsh``) or ``real`` (e.g. ``--real-config
    FILE``, ``--set real.safety.max_push_speed=0.05``).
    """

    episodes: int = 10  # number of scenes
    pushes_per_episode: int = 5  # pushes in each scene
    seed: int = 0  # master seed; episode seeds are derived from it
    backend: str = "sim"  # sim (PyBullet), real (the PR2) or a plug-in backend (pushseg.backends)
    agent: str = "separation"  # push policy: separation, random or labelling
    # The backend's own settings: the config class registered with it (SimBackendConfig for sim,
    # RealBackendConfig for real) or a mapping of its fields; None: its defaults.
    backend_config: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "backend_config", _backend_settings(self.backend, self.backend_config))
        if self.episodes < 1:
            raise InputError(f"--episodes must be at least 1, got {self.episodes}")
        if self.pushes_per_episode < 1:
            raise InputError(f"--pushes-per-episode must be at least 1, got {self.pushes_per_episode}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"--seed must be a non-negative integer below 2**63, got {self.seed}")
        if self.agent not in AGENTS:
            raise InputError(f"--agent must be one of {', '.join(AGENTS)}, got {self.agent!r}")

    @property
    def replayable(self) -> bool:
        """Whether an episode replays bit for bit from its seed (then any process may run it)."""
        return self.backend_config is not None and self.backend_config.replayable

    def describe(self) -> dict[str, Any]:
        """``objects`` and ``world`` of meta.json, from the backend's settings."""
        return self.backend_config.describe() if self.backend_config is not None else dict(NO_SETTINGS)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def _backend_settings(backend: str, given: Any) -> BackendConfig | None:
    """``given`` as the settings class registered with ``backend`` (None: its defaults)."""
    cls = backends.config_class(backend)
    if cls is None:
        if given is not None:
            raise InputError(f"backend {backend!r} takes no settings, got {given!r}")
        return None
    if given is None:
        return cls()
    if isinstance(given, Mapping):
        return from_dict(cls, given, backend)
    if not isinstance(given, cls):
        raise InputError(f"backend {backend!r} takes its settings as a {cls.__name__} (or a mapping of its "
                         f"fields), got a {type(given).__name__}")
    return given


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
    def env(self) -> PushSegEnv:
        if self._env is None:
            self._env = PushSegEnv(backend=backends.make_from_config(self.config.backend, self.config.backend_config))
        return self._env

    def _agent(self, camera, seed: int):
        # The backend's workspace keeps the agent to pushes the arm can reach.
        return make_agent(self.config.agent, camera, seed=seed, workspace=self.env.backend.workspace)

    def describe(self) -> dict[str, Any]:
        backend = self.env.backend
        world = self.config.describe()
        return {
            "backend": backend.name,
            "camera": backend.camera,
            "objects": world["objects"],
            "agent": {"name": self.config.agent, "class": type(self._agent(backend.camera, 0)).__name__},
            "world": world["world"],
        }

    def run(self, spec: EpisodeSpec) -> Iterator[EncodedTransition]:
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
    if (workers > 1 or executor.executor != "local") and not config.replayable:
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
        except BaseException:
            if not resume:  # failed before its first transition (a backend that cannot start): leave no run
                RunWriter.discard_unwritten(out)  # behind; the lock removes the folder if it made it
            raise
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
    stored = _current_layout(read_meta(out).config)  # checked before resume() repairs anything
    differ = _differences(stored, config.to_dict())
    if differ:
        what = ", ".join(f"{k}: {old!r} in the run, {new!r} now" for k, old, new in differ)
        raise RunFolderError(f"{out}: --resume needs the settings the run was started with ({what})")
    return RunWriter.resume(out, verify_digests=verify_digests)


def _current_layout(stored: dict[str, Any]) -> dict[str, Any]:
    """A run's config as written before ``backend_config`` (the backend's fields beside the others)
    in today's layout, so that such a run can be resumed; other configs as they are."""
    if "backend_config" in stored:
        return stored
    cls = backends.config_class(str(stored.get("backend", "sim")))
    own = {f.name for f in dataclasses.fields(CollectConfig)}
    theirs = {f.name for f in dataclasses.fields(cls)} if cls is not None else set()
    out = {k: v for k, v in stored.items() if k in own}
    if cls is not None:
        out["backend_config"] = to_dict(from_dict(cls, {k: v for k, v in stored.items() if k in theirs}, "run"))
    # Settings that are gone (real_config, dry_run) count only where they were set.
    out.update({k: v for k, v in stored.items() if k not in own | theirs and v not in (None, False)})
    return out


def _differences(old: Any, new: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, old, new)`` of every setting that differs, nested mappings key by key."""
    if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
        return [] if old == new else [(where, old, new)]
    found = []
    for key in sorted(set(old) | set(new)):
        found += _differences(old.get(key), new.get(key), f"{where}.{key}" if where else key)
    return found


def _episodes_to_run(writer: RunWriter, config: CollectConfig, specs: list[EpisodeSpec]) -> list[EpisodeSpec]:
    last = writer.last_key
    if last is None:
        return specs
    episode, step = last
    if step + 1 >= config.pushes_per_episode or not config.replayable:
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
    _ParallelRun(runner_factory, config, todo, workers, sink, staging).run()


class _ParallelRun:
    """The parent's side of :func:`_run_parallel`: hands episodes out, writes them in order."""

    def __init__(self, runner_factory: RunnerFactory, config: CollectConfig, todo: list[EpisodeSpec],
                 workers: int, sink: Callable[[EncodedTransition], None], staging: Staging) -> None:
        self.sink, self.staging = sink, staging
        self.order = [s.episode for s in todo]
        ready = {e for e in self.order if staging.complete(e) is not None}
        self.to_run = [s for s in todo if s.episode not in ready]
        self.position = {e: i for i, e in enumerate(self.order)}
        self.window = 2 * workers  # episodes handed out beyond the head
        self.failed: dict[int, PushSegError | str] = {}
        self.head = 0  # index in order of the episode being written
        self.sent = 0  # episodes of to_run handed out
        ctx = mp.get_context("spawn")  # each worker gets a fresh interpreter and its own PyBullet client
        self.tasks, self.results = ctx.Queue(), ctx.Queue()
        n_procs = min(workers, max(1, len(self.to_run)))
        # A worker starts its next push only once the parent has its last one on disk.
        self.acks = [ctx.Semaphore(1) for _ in range(n_procs)]
        self.procs = [ctx.Process(target=_worker, daemon=True,
                                  args=(runner_factory, config, self.tasks, self.results, self.acks[i], i))
                      for i in range(n_procs)]

    def run(self) -> None:
        for p in self.procs:
            p.start()
        try:
            self._dispatch()
            self._advance()
            while self.head < len(self.order):
                message = self._receive()
                if message is not None:
                    self._handle(*message)
                    self._advance()
            for _ in self.procs:
                self.tasks.put(None)
            for p in self.procs:
                p.join(timeout=10)
        finally:
            for p in self.procs:
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=5)

    def _dispatch(self) -> None:
        """Hand out episodes up to ``window`` beyond the head."""
        while self.sent < len(self.to_run) and self.position[self.to_run[self.sent].episode] < self.head + self.window:
            self.tasks.put(self.to_run[self.sent])
            self.sent += 1

    def _next_episode(self) -> None:
        self.head += 1
        self._dispatch()

    def _advance(self) -> None:
        """Write every episode that is next in order and finished; stop at the first unfinished one."""
        while self.head < len(self.order):
            current = self.order[self.head]
            if current in self.failed:
                for enc in self.staging.load(current):
                    self.sink(enc)
                error = self.failed[current]
                if isinstance(error, PushSegError):
                    raise error
                raise BackendError(f"episode {current} failed in a worker: {error}")
            staged = self.staging.complete(current)
            if staged is None:
                for enc in self.staging.load(current):  # arrived before the episode became the head
                    self.sink(enc)
                self.staging.drop(current)
                return
            for enc in staged:
                self.sink(enc)
            self.staging.drop(current)
            self._next_episode()

    def _receive(self) -> tuple[str, int, Any, int] | None:
        """The next message of a worker; None after a second without one (a dead worker is an error)."""
        try:
            return self.results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in self.procs if not p.is_alive() and p.exitcode not in (0, None)]
            if dead:
                raise BackendError(
                    f"a collection worker died (exit code {dead[0].exitcode}); nothing it had not "
                    f"sent was written; run again with --resume"
                ) from None
            return None

    def _handle(self, kind: str, episode: int, payload: Any, wid: int) -> None:
        is_head = episode == self.order[self.head]
        if kind == "transition":
            if is_head:
                self.sink(payload)
            else:
                self.staging.put(payload)  # on disk now: a kill cannot lose it
            self.acks[wid].release()  # that worker may start its next push
        elif kind == "error":
            self.failed[episode] = payload
        elif is_head:  # "done": every transition of it is written already
            self._next_episode()
        else:
            self.staging.done(episode, payload)
