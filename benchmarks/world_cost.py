"""What the world profiles cost per env transition: ideal vs robot vs harsh, interleaved.

Each round runs, for every profile in turn, one seeded episode (reset + N
pushes on object pixels chosen from ground truth, so every profile does the
same kind of work) and records CPU seconds and wall seconds per transition.
Prints one json object with the medians over rounds and the ratios to
``ideal``; CPU time is what load from other processes disturbs least.

Usage: ``python benchmarks/world_cost.py [--width 960 --height 540 --rounds 3 --pushes 4]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pushseg.envs.push_env import PushSegEnv


def episode(env: PushSegEnv, seed: int, pushes: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    cpu = wall = 0.0
    for _ in range(pushes):
        vs, us = np.nonzero(env.frame.instance_ids > 0)
        k = int(rng.integers(len(us))) if len(us) else 0
        action = np.array([us[k] if len(us) else env.width / 2, vs[k] if len(vs) else env.height - 5,
                           rng.uniform(-np.pi, np.pi), 0.08], np.float32)  # fmt: skip
        t0, c0 = time.perf_counter(), time.process_time()
        env.step(action)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    return cpu / pushes, wall / pushes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pushes", type=int, default=4)
    ap.add_argument("--worlds", default="ideal,robot,harsh")
    args = ap.parse_args()
    worlds = args.worlds.split(",")
    envs = {w: PushSegEnv(width=args.width, height=args.height, num_objects=(4, 6), world=w) for w in worlds}
    per: dict[str, list[tuple[float, float]]] = {w: [] for w in worlds}
    try:
        for r in range(args.rounds):
            for w in worlds:
                per[w].append(episode(envs[w], 100 + r, args.pushes))
    finally:
        for env in envs.values():
            env.close()
    out = {"width": args.width, "height": args.height, "rounds": args.rounds, "pushes": args.pushes}
    for w in worlds:
        cpu = float(np.median([c for c, _ in per[w]]))
        wall = float(np.median([t for _, t in per[w]]))
        out[w] = {"cpu_s_per_transition": round(cpu, 3), "transitions_per_s": round(1.0 / wall, 3)}
    for w in worlds[1:]:
        out[f"{w}_over_ideal_cpu"] = round(out[w]["cpu_s_per_transition"] / out["ideal"]["cpu_s_per_transition"], 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
