"""Reliability figures: kill-and-resume, writer races, bad inputs, digest cost, env memory.

    python benchmarks/reliability.py kills  --trials 32 [--seed 0]
    python benchmarks/reliability.py races  --trials 20
    python benchmarks/reliability.py inputs [--jobs 4] [--cases all|light|heavy]
    python benchmarks/reliability.py outputs --trials 4 [--seed 0]
    python benchmarks/reliability.py digests
    python benchmarks/reliability.py env-memory --resets 500
    python benchmarks/reliability.py env-pushes --trials 60
    python benchmarks/reliability.py vector --trials 20
    python benchmarks/reliability.py all --out reliability.json

kills: collections (the real ``pushseg collect`` code, with a fast deterministic
stand-in for the simulation so that many trials fit) are SIGKILLed with their
workers at seeded random moments (a random push k finishes, then a random delay
up to one push; k = 0: within the first 2 s), half with 1 worker and half with 2, then
resumed; each resumed run is compared byte for byte with an uninterrupted one.
"Lost at kill" counts pushes a worker had finished that were neither in
transitions.jsonl nor staged on disk when the kill came.

races: two collections into one folder (a fresh one, then a --resume after a
seeded random delay, some started while the first is writing); a race is
corrupted when the finished folder differs from an uninterrupted run.

inputs: every case of tests/bad_inputs.py as its own ``pushseg`` process; a
case fails on a traceback, exit 0 (a silent success), another exit code or a
message without the expected words.

outputs: for every writing command (label, finetune, pretrain, evaluate, scenes):
races of two writers of different inputs or settings into one output (seeded
random staggers, half of them overlapping), SIGKILLs of a writer replacing a
complete output (seeded random moments), and a disk that fills after a seeded
random number of bytes while an output is replaced. An output's state after the
fault must be a version its manifest proves, or none; "mixed" (a manifest over
files of two versions, or one that does not verify) and "lost" (a writer that
reported success whose output is gone) must be 0, as must tracebacks.

digests: CPU time of reading a run's frames with and without sha256 checks,
interleaved, and the same for ``RunWriter.resume``.

env-memory: resident memory of a PushSegEnv over N resets (with warm-up).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import bad_inputs as bi  # noqa: E402
import fault_tools as ft  # noqa: E402
import output_faults as of  # noqa: E402

from pushseg.data.outputs import PROBE_BYTES  # noqa: E402


def kills(trials: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    episodes, pushes = 6, 3
    out = {"trials": [], "episodes": episodes, "pushes_per_episode": pushes,
           "push_time_s": ft.SlowRunner.delay_s}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reference = ft.reference_run(tmp / "ref", episodes, pushes)
        total = episodes * pushes
        for i in range(trials):
            workers = 1 + i % 2
            d = tmp / f"t{i}"
            d.mkdir()
            # A random push to wait for (0: none, a kill in the first seconds), then a random delay
            # up to one push: timing alone misses the run on a machine whose load changes.
            k = int(rng.integers(0, total))
            delay = float(rng.uniform(0.0, 2.0)) if k == 0 else float(rng.uniform(0.0, ft.SlowRunner.delay_s))
            res = ft.kill_and_resume(d, reference, workers=workers, episodes=episodes, pushes=pushes,
                                     kill_after_s=delay, kill_at_push=k or None)
            out["trials"].append(res)
            print(json.dumps(res), flush=True)
    t = out["trials"]
    killed = [x for x in t if x["killed"]]
    out["summary"] = {
        "trials": len(t),
        "killed_mid_run": len(killed),
        "killed_with_data_on_disk": sum(1 for x in killed if x["on_disk_at_kill"] > 0),
        "resume_failed": sum(1 for x in t if x["resume_rc"] != 0),
        "lost": sum(x["missing"] for x in t),
        "duplicated": sum(x["duplicated"] for x in t),
        "different": sum(1 for x in t if x["different"]),
        "max_lost_at_kill_by_workers": {w: max([x["lost_at_kill"] for x in killed if x["workers"] == w] or [0])
                                        for w in (1, 2)},
        "kills_losing_more_than_workers": sum(1 for x in killed if x["lost_at_kill"] > x["workers"]),
    }
    return out


def races(trials: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out = {"trials": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reference = ft.reference_run(tmp / "ref", 3, 3)
        for i in range(trials):
            d = tmp / f"r{i}"
            d.mkdir()
            # Every other race is held to overlap; the rest start after a random delay.
            stagger = None if i % 2 == 0 else float(rng.uniform(0.0, 3.0))
            res = ft.race(d, reference, episodes=3, pushes=3, stagger_s=stagger)
            out["trials"].append(res)
            print(json.dumps(res), flush=True)
    t = out["trials"]
    out["summary"] = {
        "races": len(t),
        "corrupted": sum(1 for x in t if x["corrupted"]),
        "second_writer_refused": sum(1 for x in t if 2 in x["rc"]),
        "refusals_naming_the_holder": sum(1 for x in t for e in x["stderr"] if "is being written by PID" in e),
    }
    return out


def _run_case(case, fixtures: dict, cwd: str) -> dict:
    name, template, expected = case
    argv = bi.argv_of(template, fixtures)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pushseg.cli.main", *argv], capture_output=True, text=True,
                       timeout=900, cwd=cwd)
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    return {"case": name, "verdict": bi.verdict(r.returncode, r.stderr, expected), "rc": r.returncode,
            "s": round(time.perf_counter() - t0, 2), "message": last[:300]}


def inputs(jobs: int = 1, which: str = "all") -> dict:
    from concurrent.futures import ThreadPoolExecutor

    cases = {"all": bi.CASES, "light": bi.LIGHT, "heavy": bi.HEAVY}[which]
    out = {"cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        fixtures = bi.make_fixtures(Path(tmp) / "f")
        with ThreadPoolExecutor(jobs) as pool:  # each case is its own process
            for row in pool.map(lambda c: _run_case(c, fixtures, tmp), cases):
                out["cases"].append(row)
                print(json.dumps(row), flush=True)
    c = out["cases"]
    out["summary"] = {
        "cases": len(c),
        "ok": sum(1 for x in c if x["verdict"] == "ok"),
        "tracebacks": sum(1 for x in c if x["verdict"] == "traceback"),
        "silent_successes": sum(1 for x in c if x["verdict"] == "silent success"),
        "other_exit_codes": sum(1 for x in c if x["verdict"].startswith("exit")),
        "unclear_messages": [x["case"] for x in c if x["verdict"] == "message"],
    }
    return out


def outputs(trials: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    res: dict = {"races": [], "kills": [], "disk_full": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        world = of.make_world(tmp / "world")
        for command in of.COMMANDS:
            t0 = time.perf_counter()
            refs = of.references(command, world, tmp)
            # how long one undisturbed write takes: kills and staggers are drawn within it
            span = max(0.5, (time.perf_counter() - t0) / 2)
            for i in range(trials):
                stagger = float(rng.uniform(0.0, 0.5)) if i % 2 == 0 else float(rng.uniform(0.0, span))
                row = of.race(command, world, tmp / f"race_{command}_{i}", refs, stagger)
                res["races"].append(row)
                print(of.dumps(row), flush=True)
                row = of.kill(command, world, tmp / f"kill_{command}_{i}", refs, float(rng.uniform(0.3, span)))
                res["kills"].append(row)
                print(of.dumps(row), flush=True)
                # half fill during the start-up check (64 kB probe), half during the work itself
                budget = int(rng.integers(0, PROBE_BYTES)) if i % 2 else PROBE_BYTES + int(rng.integers(0, 300_000))
                row = of.disk_full(command, world, tmp / f"disk_{command}_{i}", refs, budget)
                res["disk_full"].append(row)
                print(of.dumps(row), flush=True)
    r, k, d = res["races"], res["kills"], res["disk_full"]
    res["summary"] = {
        "races": {**of.summarize(r), "lost": sum(x["lost"] for x in r), "corrupted": sum(x["corrupted"] for x in r),
                  "tracebacks": sum(x["tracebacks"] for x in r),
                  "second_writer_refused_naming_holder": sum(x["refused_naming_holder"] for x in r)},
        "kills": {**of.summarize(k), "killed_mid_write": sum(x["killed"] for x in k),
                  "state_not_allowed": sum(x["state"] not in x["allowed"] for x in k),
                  "redo_failed": sum(x["redo_rc"] != 0 or x["after_redo"] != "v1" for x in k),
                  "temporaries_left": sum(bool(x["temporaries_after_redo"]) for x in k)},
        "disk_full": {**of.summarize(d), "failed_writes": sum(x["rc"] != 0 for x in d),
                      "corrupted": sum(x["corrupted"] for x in d),
                      "errors_without_path": sum(not x["one_line_naming_path"] for x in d),
                      "temporaries_left": sum(bool(x["temporaries"]) for x in d)},
    }
    return res


def digests(repeats: int = 5) -> dict:
    from pushseg.data.collection import CollectConfig, collect
    from pushseg.data.run import RunReader, RunWriter

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        # qHD frames, as collected by default: the size that matters for the cost.
        ft.W, ft.H = 960, 540
        collect(CollectConfig(episodes=2, pushes_per_episode=5, seed=0, backend_config={"width": 960, "height": 540}), run,
                runner_factory=ft.FakeRunner, progress=False)
        times = {"read_verify": [], "read_no_verify": [], "resume_verify": [], "resume_no_verify": []}
        for _ in range(repeats):  # interleaved, CPU time: robust to other load on the machine
            for verify in (True, False):
                t0 = time.process_time()
                reader = RunReader(run, verify_digests=verify)
                for i in range(len(reader)):
                    reader.transition(i)
                times["read_verify" if verify else "read_no_verify"].append(time.process_time() - t0)
                t0 = time.process_time()
                w, _ = RunWriter.resume(run, verify_digests=verify)
                w.close()
                times["resume_verify" if verify else "resume_no_verify"].append(time.process_time() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {
        "frames": "10 transitions of 960x540 RGB-D + ids (random pixels: large PNGs, the worst case)",
        "cpu_s_median": {k: round(v, 4) for k, v in med.items()},
        "read_overhead": round(med["read_verify"] / med["read_no_verify"] - 1, 3),
        "resume_cost_ratio": round(med["resume_verify"] / max(med["resume_no_verify"], 1e-9), 1),
    }


def env_memory(resets: int, width: int = 320, height: int = 180) -> dict:
    import gc
    import resource

    from pushseg.envs.push_env import PushSegEnv

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    env = PushSegEnv(width=width, height=height)
    start = rss_mb()
    trace = []
    for i in range(resets):
        env.reset(seed=i)
        if i % 50 == 0 or i == resets - 1:
            gc.collect()
            trace.append((i, round(rss_mb() - start, 1)))
    env.close()
    return {"resets": resets, "image": f"{width}x{height}", "rss_at_first_reset_mb": round(start, 1),
            "growth_mb_by_reset": trace, "growth_mb": trace[-1][1]}


def env_pushes(pushes: int, seed: int, width: int = 320, height: int = 180) -> dict:
    """Share of pushes that move an object: action_space.sample() vs env.sample_push(), same scenes."""
    from pushseg.envs.push_env import PushSegEnv

    out = {}
    for how in ("action_space.sample", "sample_push"):
        env = PushSegEnv(width=width, height=height, num_objects=(4, 6), task_signal=True)
        env.action_space.seed(seed)
        moved = success = executed = 0
        for i in range(pushes):
            if i % 5 == 0:
                env.reset(seed=seed + i)
            a = env.action_space.sample() if how == "action_space.sample" else env.sample_push()
            _, _, _, _, info = env.step(a)
            executed += info["executed"]
            moved += bool(info["moved"])
            success += info["success"]
        env.close()
        out[how] = {"pushes": pushes, "executed": executed, "moved_something": moved, "singulated": success}
    return out


def vector_speed(steps: int, width: int = 320, height: int = 180) -> dict:
    """Steps per wall second and parent CPU seconds per step: one env, SyncVectorEnv(2), AsyncVectorEnv(2)."""
    from pushseg.envs.push_env import PushSegEnv
    from pushseg.envs.vector import make_vector_env

    res = {}
    for name in ("single", "sync2", "async2"):
        if name == "single":
            env = PushSegEnv(width=width, height=height, num_objects=(4, 6))
            env.reset(seed=0)
            step = lambda: env.step(env.action_space.sample())  # noqa: E731
            n_envs = 1
        else:
            env = make_vector_env(2, asynchronous=name == "async2", width=width, height=height, num_objects=(4, 6))
            env.reset(seed=0)
            step = lambda: env.step(env.action_space.sample())  # noqa: E731
            n_envs = 2
        step()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        env.close()
        res[name] = {"env_steps_per_s": round(steps * n_envs / wall, 2), "parent_cpu_s_per_env_step": round(cpu / (steps * n_envs), 4)}
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["kills", "races", "inputs", "outputs", "digests", "env-memory", "env-pushes", "vector",
                                    "all"])
    p.add_argument("--trials", type=int, default=None)
    p.add_argument("--resets", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="inputs: cases run at once")
    p.add_argument("--cases", default="all", choices=["all", "light", "heavy"], help="inputs: which cases")
    p.add_argument("--out", default=None, help="write the figures as json here")
    a = p.parse_args()
    res = {}
    if a.what in ("kills", "all"):
        res["kills"] = kills(a.trials or 32, a.seed)
    if a.what in ("races", "all"):
        res["races"] = races(a.trials or 20, a.seed)
    if a.what in ("inputs", "all"):
        res["inputs"] = inputs(a.jobs, a.cases)
    if a.what in ("outputs", "all"):
        res["outputs"] = outputs(a.trials or 4, a.seed)
    if a.what in ("digests", "all"):
        res["digests"] = digests()
    if a.what in ("env-memory", "all"):
        res["env_memory"] = env_memory(a.resets)
    if a.what in ("env-pushes", "all"):
        res["env_pushes"] = env_pushes(a.trials or 60, a.seed)
    if a.what in ("vector", "all"):
        res["vector"] = vector_speed(a.trials or 20)
    summary = {k: v.get("summary", v) for k, v in res.items()}
    print(json.dumps(summary, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
