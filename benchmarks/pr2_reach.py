"""How many pushes over the workspace the PR2 planner can plan safely (inside the soft joint limits).

    python benchmarks/pr2_reach.py

Plans a 10 cm push at every point of a grid over the default workspace, in four
directions, with the arm on the push's side first (as the real backend does),
and counts the plans that pass every safety check. No ROS, no robot:
deterministic, so one run is the figure.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pushseg.geometry import PushPath
from pushseg.real import kinematics as kin
from pushseg.real import planning, safety
from pushseg.real.config import load_config


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table-z", type=float, default=0.699, help="table top in base_link (m)")
    p.add_argument("--length", type=float, default=0.10, help="push length (m)")
    args = p.parse_args(argv)
    config = load_config()
    margin = float(config.get("safety.soft_limit_margin"))
    planned, refused, beyond = 0, {}, 0
    grid = [(x, y, a) for x in np.arange(0.45, 0.81, 0.07) for y in np.arange(-0.4, 0.41, 0.16)
            for a in (0.0, np.pi / 2, np.pi, -np.pi / 2)]
    t0 = time.process_time()
    for x, y, a in grid:
        d = np.array([np.cos(a), np.sin(a), 0.0])
        c = np.array([x, y, args.table_z + 0.025])
        path = PushPath(contact=c, start=c - 0.04 * d, end=c + args.length * d, direction=d)
        codes = []
        for side in planning.arm_order(path, config):
            try:
                plan = planning.plan_arm(side, path, args.table_z, 0.1, config.arm_pose("out_of_view", side), config)
                safety.check_plan(plan, args.table_z, config)
            except planning.PushRefused as r:
                codes.append(r.code)
                continue
            arm = kin.pr2_arm(side)
            beyond += any(arm.soft_limit_violations(q, margin) for q in plan.positions)
            planned += 1
            break
        else:
            for code in set(codes):
                refused[code] = refused.get(code, 0) + 1
    print(json.dumps({"pushes": len(grid), "planned": planned, "refused_by_code": refused,
                      "plans_with_a_point_beyond_soft_limit_minus_margin": beyond,
                      "cpu_seconds": round(time.process_time() - t0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
