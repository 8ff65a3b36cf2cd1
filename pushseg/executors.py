"""Where the units of a stage run: in this process, in local worker processes, or on Ray.

A stage (collection, labelling, scene rendering, an experiment grid) is a list
of independent jobs, each run against some per-worker state that is costly to
make (a PyBullet client, a labeler, a loaded model). ``ordered_map`` runs
``fn(state, job)`` for every job, with ``state = setup(*setup_args)`` made once
per worker, and yields the results **in job order**. Because the writer sees the
same results in the same order whatever ran them, a run folder written through
it is byte-identical for ``local`` with any worker count and for ``ray``.

On Ray each worker is an actor that keeps its state; an actor whose process dies
is restarted and its job run again (jobs are deterministic functions of their
input, so a retried job gives the same result and nothing is lost or written
twice). Results travel through Ray's object store, an episode or a batch at a
time, and at most ``window`` jobs are in flight, so memory stays bounded.

Ray is an optional extra (``pip install 'pushseg[cluster]'``); without it,
``executor="ray"`` fails at once with the install command.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pushseg import optional
from pushseg.errors import BackendError, InputError, PushSegError

J = TypeVar("J")
R = TypeVar("R")
S = TypeVar("S")

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ExecutorConfig:
    """How a stage's jobs are run. Never part of a run's identity: the output does not depend on it."""

    executor: str = "local"
    """local (this machine's processes) or ray (a Ray cluster, started on demand when no address is given)"""
    workers: int = 1
    """jobs run at once: local worker processes, or Ray actors"""
    ray_address: str | None = None
    """address of a running Ray cluster (e.g. ray://head:10001 or auto); unset starts a local Ray"""
    cpus_per_task: float = 1.0
    """Ray: CPUs each worker reserves"""
    gpus_per_task: float = 0.0
    """Ray: GPUs each worker reserves (fractions share a GPU)"""
    memory_per_task_mb: int = 0
    """Ray: memory each worker reserves, in MiB (0: no reservation)"""
    max_retries: int = 3
    """Ray: times a job is run again after its worker process died"""

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise InputError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise InputError(f"--workers must be an integer of at least 1, got {self.workers!r}")
        if self.cpus_per_task < 0 or self.gpus_per_task < 0 or self.memory_per_task_mb < 0:
            raise InputError("Ray task resources (CPUs, GPUs, memory) must not be negative")
        if self.max_retries < 0:
            raise InputError(f"max_retries must be at least 0, got {self.max_retries}")
        if self.ray_address is not None and self.executor != "ray":
            raise InputError("--ray-address is for --executor ray only")


def ordered_map(
    setup: Callable[..., S],
    setup_args: tuple,
    fn: Callable[[S, J], R],
    jobs: Sequence[J],
    config: ExecutorConfig = ExecutorConfig(),
    *,
    window: int | None = None,
) -> Iterator[R]:
    """``fn(state, job)`` for each job, results in job order; ``state = setup(*setup_args)`` per worker.

    ``setup`` and ``fn`` must be importable module-level callables (they are sent to
    other processes). A state with a ``close()`` method is closed when its worker ends.
    ``window`` bounds the jobs in flight (default ``2 * workers``).
    """
    jobs = list(jobs)
    if not jobs:
        return iter(())
    window = window or 2 * config.workers
    if config.executor == "ray":
        return _ray_map(setup, setup_args, fn, jobs, config, window)
    if config.workers == 1 or len(jobs) == 1:
        return _inline_map(setup, setup_args, fn, jobs)
    return _pool_map(setup, setup_args, fn, jobs, config.workers)


# -- local --------------------------------------------------------------------------------


def _close(state: Any) -> None:
    close = getattr(state, "close", None)
    if callable(close):
        close()


def _inline_map(setup, setup_args, fn, jobs) -> Iterator:
    state = setup(*setup_args)
    try:
        for job in jobs:
            yield fn(state, job)
    finally:
        _close(state)


_POOL_STATE: dict[str, Any] = {}


def _pool_init(setup, setup_args) -> None:
    _POOL_STATE["state"] = setup(*setup_args)


def _pool_call(task) -> Any:
    fn, job = task
    return fn(_POOL_STATE["state"], job)


def _pool_map(setup, setup_args, fn, jobs, workers) -> Iterator:
    # spawn: each worker is a fresh interpreter (PyBullet and torch do not survive fork well).
    ctx = mp.get_context("spawn")
    with ctx.Pool(min(workers, len(jobs)), initializer=_pool_init, initargs=(setup, setup_args)) as pool:
        yield from pool.imap(_pool_call, [(fn, job) for job in jobs])  # imap keeps the order


# -- Ray ----------------------------------------------------------------------------------


def import_ray():
    """The ray module, or a clear error saying how to install it."""
    return optional.require("ray", "--executor ray")


def ensure_ray(config: ExecutorConfig):
    """Connect to ``config.ray_address``, or start a local Ray on demand; returns the ray module."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if config.ray_address:
            ray.init(address=config.ray_address, **options)
        else:
            ray.init(num_cpus=max(config.workers * max(config.cpus_per_task, 1.0), os.cpu_count() or 1), **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = config.ray_address or "a local Ray"
        raise BackendError(f"--executor ray: could not start or reach {where}: {e}") from None
    return ray


class _RayWorker:
    """One actor: keeps the state ``setup`` made and runs jobs against it."""

    def __init__(self, setup, setup_args) -> None:
        self.state = setup(*setup_args)

    def pid(self) -> int:
        return os.getpid()

    def run(self, fn, job):
        return fn(self.state, job)


def start_ray_workers(setup, setup_args, config: ExecutorConfig, count: int) -> list:
    """``count`` actors holding ``setup(*setup_args)``, restarted and retried when their process dies."""
    ray = ensure_ray(config)
    actor_class = ray.remote(_RayWorker)
    options: dict[str, Any] = {
        "num_cpus": config.cpus_per_task,
        "num_gpus": config.gpus_per_task,
        "max_restarts": -1 if config.max_retries else 0,
        "max_task_retries": config.max_retries,
    }
    if config.memory_per_task_mb:
        options["memory"] = config.memory_per_task_mb * 1024 * 1024
    return [actor_class.options(**options).remote(setup, setup_args) for _ in range(count)]


def _ray_error(ray, error: Exception) -> PushSegError:
    """A job's own PushSegError as it was raised; anything else as one line."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, PushSegError):
        return cause
    if isinstance(error, ray.exceptions.RayActorError):
        return BackendError(f"a Ray worker died more often than max_retries allows; run again with --resume ({error})")
    first = str(cause or error).strip().splitlines()
    return BackendError(f"a job failed on Ray: {type(cause or error).__name__}: {first[-1] if first else ''}")


def _ray_map(setup, setup_args, fn, jobs, config: ExecutorConfig, window: int) -> Iterator:
    ray = ensure_ray(config)
    actors = start_ray_workers(setup, setup_args, config, min(config.workers, len(jobs)))
    idle = list(actors)
    in_flight: dict[Any, tuple[int, Any]] = {}  # ref -> (job index, actor)
    done: dict[int, Any] = {}  # job index -> ref of a finished job
    submitted = 0

    def fill(upto: int) -> None:
        nonlocal submitted
        while idle and submitted < len(jobs) and submitted < upto + window:
            actor = idle.pop()
            in_flight[actor.run.remote(fn, jobs[submitted])] = (submitted, actor)
            submitted += 1

    try:
        for index in range(len(jobs)):
            fill(index)
            while index not in done:
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    finished, actor = in_flight.pop(ref)
                    done[finished] = ref
                    idle.append(actor)
                fill(index)
            try:
                yield ray.get(done.pop(index))
            except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as e:
                raise _ray_error(ray, e) from None
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
