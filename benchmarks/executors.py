"""Collection throughput on the local executor and on Ray, and what a killed Ray worker costs.

Prints one json object:

* ``local`` / ``ray``: for each worker count (default 1 and 2), the wall time and
  transitions/s of ``pushseg collect`` (simulation, separation agent) with the same
  seed; ``ray_startup_s`` is the time ``ray.init`` took, kept out of the rates.
* ``speedup_2_over_1``: per executor (goal for Ray: >= 1.7 on 2 free cores).
* ``ray_overhead``: 1 - (Ray transitions/s) / (local transitions/s) at the same
  worker count (goal <= 0.10).
* ``identical``: every run folder byte-identical to the local one-worker run.
* ``kill``: a Ray collection during which one worker process is killed
  (SIGKILL) after ``--kill-after`` seconds: how many workers were killed, and
  the transitions lost, duplicated or different against the local run (goal 0).

Usage: ``python benchmarks/executors.py [--episodes 8 --pushes 3 --width 320 --height 180]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from pushseg.data.collection import CollectConfig, collect
from pushseg.data.run import RunReader
from pushseg.executors import ExecutorConfig, ensure_ray


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _timed(config: CollectConfig, out: Path, executor: ExecutorConfig) -> float:
    t0 = time.perf_counter()
    collect(config, out, workers=executor.workers, executor=executor, progress=False)
    return time.perf_counter() - t0


def _kill_one_ray_worker_after(seconds: float, killed: list[int]) -> threading.Thread:
    def kill() -> None:
        time.sleep(seconds)
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(proc.info.get("cmdline") or [])
            if "_RayWorker" in cmd:
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(proc.info["pid"])
                return

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def _compare(reference: Path, run: Path) -> dict[str, int]:
    """Transitions lost, duplicated and different in ``run`` against ``reference``."""
    ref = {(r.episode, r.step): r for r in RunReader(reference).records}
    keys = [(r.episode, r.step) for r in RunReader(run).records]
    got = {(r.episode, r.step): r for r in RunReader(run).records}
    ref_files, run_files = _files(reference), _files(run)
    different = sum(
        1 for k in ref.keys() & got.keys()
        if any(ref_files.get(p) != run_files.get(p) for f in (ref[k].before, ref[k].after) for p in f.paths.values())
    )
    return {
        "transitions": len(keys),
        "lost": len(ref.keys() - got.keys()),
        "duplicated": len(keys) - len(set(keys)),
        "different": different,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--pushes", type=int, default=3)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--kill-after", type=float, default=6.0, help="seconds into the killed run")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    config = CollectConfig(episodes=args.episodes, pushes_per_episode=args.pushes, seed=args.seed,
                           backend_config={"width": args.width, "height": args.height})
    n = args.episodes * args.pushes
    tmp = Path(tempfile.mkdtemp(prefix="pushseg-executors-"))
    # Ray reports a killed worker on the driver's stdout: keep stdout for the json alone.
    stdout, sys.stdout = sys.stdout, sys.stderr
    result: dict = {"episodes": args.episodes, "pushes_per_episode": args.pushes,
                    "image": f"{args.width}x{args.height}", "cpu_count": os.cpu_count(),
                    "load_average_at_start": os.getloadavg()[0]}
    try:
        t0 = time.perf_counter()
        ensure_ray(ExecutorConfig(executor="ray", workers=max(args.workers)))
        result["ray_startup_s"] = round(time.perf_counter() - t0, 2)
        reference = tmp / "local-1"
        identical = True
        for kind in ("local", "ray"):
            result[kind] = {}
            for workers in args.workers:
                out = tmp / f"{kind}-{workers}"
                wall = _timed(config, out, ExecutorConfig(executor=kind, workers=workers))
                result[kind][str(workers)] = {"wall_s": round(wall, 2), "transitions_per_s": round(n / wall, 3)}
                if out != reference:
                    identical &= _files(out) == _files(reference)
        result["identical"] = identical
        rate = {k: {w: v["transitions_per_s"] for w, v in result[k].items()} for k in ("local", "ray")}
        if "1" in rate["local"] and "2" in rate["local"]:
            result["speedup_2_over_1"] = {k: round(rate[k]["2"] / rate[k]["1"], 3) for k in rate}
        result["ray_overhead"] = {w: round(1 - rate["ray"][w] / rate["local"][w], 3) for w in rate["ray"]}

        killed: list[int] = []
        thread = _kill_one_ray_worker_after(args.kill_after, killed)
        out = tmp / "ray-killed"
        wall = _timed(config, out, ExecutorConfig(executor="ray", workers=max(args.workers)))
        thread.join(timeout=0)
        result["kill"] = {"workers_killed": len(killed), "wall_s": round(wall, 2), **_compare(reference, out)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        sys.stdout = stdout
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
