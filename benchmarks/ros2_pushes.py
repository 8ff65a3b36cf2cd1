"""The ros2 backend against the simulated Panda over Fast DDS, beside --backend sim; prints json.

    python benchmarks/ros2_pushes.py --pushes 50

Starts ``python -m pushseg.ros2.sim_arm`` (its own DDS domain, localhost only),
collects ``--pushes`` pushes of the separation agent with ``pushseg collect
--backend ros2 --config examples/panda_ros2.yaml``, then the same agent, scene
seeds and image size with ``--backend sim``, labels both runs, and reports:

* ``executed``: the fraction of planned pushes the arm executed (the rest were
  refused by the planner or the safety checks, each with its reason, counted by reason);
* ``moved``: the fraction of executed pushes after which an object moved (ros2: the
  simulated arm's ground-truth motion log, one line per stretch the tool pushed;
  sim: the transitions' own ground truth);
* ``label_yield``: accepted labels / transitions, for both backends;
* ``s_per_push``: wall seconds per transition (the whole collection, start-up included),
  and the ROS 2 run's overhead over sim. The arm plays trajectories at ``--time-scale``
  times their planned duration (default 0.02: a push of ~10 s plays in 0.2 s); that
  playback is robot time, counted here, so the overhead is an upper bound on the transport's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "panda_ros2.yaml"


def _pushseg(*args: str, env: dict | None = None, timeout: float = 3600) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pushseg.cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        sys.exit(f"ros2_pushes.py: pushseg {' '.join(args[:1])} failed:\n{done.stderr[-3000:]}")
    return time.monotonic() - t0, done


def _transitions(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "transitions.jsonl").read_text().splitlines() if line.strip()]


def _label_yield(run: Path) -> float:
    _pushseg("label", str(run), "--out", str(run / "labels.json"))
    return float(json.loads((run / "labels_summary.json").read_text())["yield"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pushes", type=int, default=50)
    p.add_argument("--per-episode", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=0.02, help="the simulated arm plays trajectories this fast")
    p.add_argument("--rate", type=float, default=30.0, help="the simulated camera's frames per second")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    args = p.parse_args()
    episodes = max(1, args.pushes // args.per_episode)
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.Random().randint(1, 100)),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    common = ["--episodes", str(episodes), "--pushes-per-episode", str(args.per_episode), "--seed", str(args.seed),
              "--agent", "separation", "--no-progress"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log = tmp / "motions.jsonl"
        arm = subprocess.Popen(
            [sys.executable, "-m", "pushseg.ros2.sim_arm", "--seed", str(args.seed), "--width", str(args.width),
             "--height", str(args.height), "--time-scale", str(args.time_scale), "--rate", str(args.rate), "--motion-log", str(log)],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while "ready" not in (arm.stdout.readline() or ""):
                if arm.poll() is not None or time.monotonic() > deadline:
                    sys.exit("ros2_pushes.py: the simulated arm did not start")
            ros2_s, _ = _pushseg("collect", "--backend", "ros2", "--config", str(EXAMPLE),
                                 "--set", "ros2.safety.dry_run=false", "--out", str(tmp / "ros2"), *common, env=env)
        finally:
            os.killpg(arm.pid, signal.SIGINT)
            try:
                arm.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(arm.pid, signal.SIGKILL)
        sim_s, _ = _pushseg("collect", "--backend", "sim", "--width", str(args.width), "--height", str(args.height),
                            "--out", str(tmp / "sim"), *common)
        ros2_rows, sim_rows = _transitions(tmp / "ros2"), _transitions(tmp / "sim")
        stretches = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

        def executed(rows):
            return [r for r in rows if r["result"]["outcome"] == "executed"]

        def reasons(rows):
            out: dict[str, int] = {}
            for r in rows:
                if r["result"]["outcome"] != "executed":
                    code = r["result"].get("reason", "").split(":")[0] or "unknown"
                    out[code] = out.get(code, 0) + 1
            return out

        ros2_exec, sim_exec = executed(ros2_rows), executed(sim_rows)
        def moved_during(r) -> bool:  # the stretches the tool pushed between the push's before and after images
            t0, t1 = r["before"]["timestamp"], r["after"]["timestamp"]
            return any(t0 <= s["t"] <= t1 and any(m["translation"] > 0.005 for m in s["motions"]) for s in stretches)

        moved_ros2 = sum(1 for r in ros2_exec if moved_during(r))
        moved_sim = sum(1 for r in sim_exec if any(m["translation"] > 0.005 for m in r["result"].get("motions", [])))
        ros2_yield, sim_yield = _label_yield(tmp / "ros2"), _label_yield(tmp / "sim")
        n = len(ros2_rows)
        ros2_pp = ros2_s / max(n, 1)
        sim_pp = sim_s / max(len(sim_rows), 1)
        print(json.dumps({
            "benchmark": "ros2_pushes", "pushes": n, "image": f"{args.width}x{args.height}", "camera_hz": args.rate,
            "time_scale": args.time_scale,
            "executed": {"ros2": len(ros2_exec) / max(n, 1), "sim": len(sim_exec) / max(len(sim_rows), 1),
                         "ros2_refused_by_reason": reasons(ros2_rows)},
            "moved": {"ros2": moved_ros2 / max(len(ros2_exec), 1), "ros2_stretches": len(stretches),
                      "sim": moved_sim / max(len(sim_exec), 1)},
            "label_yield": {"ros2": ros2_yield, "sim": sim_yield, "difference_points": 100 * (ros2_yield - sim_yield)},
            "s_per_push": {"ros2": ros2_pp, "sim": sim_pp,
                           "overhead": ros2_pp / sim_pp - 1.0},
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
