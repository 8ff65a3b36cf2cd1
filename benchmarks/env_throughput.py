"""Throughput of the push environment, against a bare PyBullet script doing the same work.

Prints one json object:

* ``env_transitions_per_s`` / ``bare_transitions_per_s`` / ``env_over_bare``:
  env steps at the chosen resolution (default 960x540), against a script that
  builds the same scene with plain PyBullet calls and, per transition, drives
  a constraint-held finger along the same path for the same number of physics
  steps and renders the same image (goal: ratio >= 0.9). The two alternate,
  several rounds; reported are the ratio of the best rounds, the median of the
  per-round ratios, and the median ratio of CPU time (which load from other
  processes on a shared machine disturbs least).
* ``speedup_2_workers``: transitions/s of two worker processes running
  independent episodes over one (goal >= 1.7 on 2 free cores), with the CPU
  seconds per transition in each case and, as a control, the speed-up that
  trivially parallel pure-Python work gets on the machine at the same time.
* ``rss_growth_mb``: resident memory growth over ``--resets`` scene resets
  (goal <= 50 MB). Resets render one image; they run at 160x90, since the
  memory at stake is the scene's, not the image's.

Usage: ``python benchmarks/env_throughput.py [--width 960 --height 540 --transitions 8 --resets 500]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time

import numpy as np
import psutil
import pybullet as pb
import pybullet_data

from pushseg.envs import SimBackend
from pushseg.envs.push_env import PushSegEnv
from pushseg.envs.rendering import projection_matrix, view_matrix
from pushseg.envs.scene import TABLE_TOP_Z, TABLE_X, TABLE_Y


def scripted_action(env: PushSegEnv, rng: np.random.Generator) -> np.ndarray:
    """A push on a random object pixel (ground truth: the benchmark measures the env, not a policy)."""
    vs, us = np.nonzero(env.frame.instance_ids > 0)
    if len(us) == 0:
        vs, us = np.array([env.height - 5]), np.array([env.width // 2])
    k = int(rng.integers(len(us)))
    return np.array([us[k], vs[k], rng.uniform(-np.pi, np.pi), 0.08], np.float32)


# --- the env ---------------------------------------------------------------------------


def run_env(width: int, height: int, transitions: int, seed: int) -> dict:
    """Time ``transitions`` env steps (after reset) and record what the backend did for each."""
    env = PushSegEnv(width=width, height=height, num_objects=(4, 6))
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    backend: SimBackend = env.backend
    c = backend._client
    scene = [  # spec, pose and dynamics (mass, friction, inertia, rolling, spinning) of each object
        (
            o.spec,
            *pb.getBasePositionAndOrientation(o.body, physicsClientId=c),
            pb.getDynamicsInfo(o.body, -1, physicsClientId=c),
        )
        for o in backend.scene_objects
    ]
    record, elapsed, cpu = [], 0.0, 0.0
    for _ in range(transitions):
        action = scripted_action(env, rng)
        steps0, renders0 = backend.stats.physics_steps, backend.stats.renders
        t0, c0 = time.perf_counter(), time.process_time()
        info = env.step(action)[4]
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        res = info["transition"].result
        record.append(
            {
                "steps": backend.stats.physics_steps - steps0,
                "renders": backend.stats.renders - renders0,
                "path": (res.start_base, res.end_base) if res.executed else None,
            }
        )
    setup = {"camera": backend.camera, "lighting": backend.lighting, "scene": scene}
    env.close()
    return {"rate": transitions / elapsed, "cpu_rate": transitions / cpu, "record": record, "setup": setup}


# --- the bare script -------------------------------------------------------------------


def run_bare(setup: dict, record: list[dict]) -> tuple[float, float]:
    """The same scene, physics steps and renders with plain PyBullet calls; transitions per
    second of wall-clock time and of CPU time."""
    c = pb.connect(pb.DIRECT)
    pb.setGravity(0, 0, -9.81, physicsClientId=c)
    pb.setTimeStep(1 / 240, physicsClientId=c)
    floor = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[5, 5, 0.05], physicsClientId=c)
    pb.createMultiBody(0, floor, pb.createVisualShape(pb.GEOM_BOX, halfExtents=[5, 5, 0.05], physicsClientId=c),
                       [0, 0, -0.101], physicsClientId=c)  # fmt: skip
    half = [(TABLE_X[1] - TABLE_X[0]) / 2, (TABLE_Y[1] - TABLE_Y[0]) / 2, 0.025]
    centre = [(TABLE_X[0] + TABLE_X[1]) / 2, 0.0, TABLE_TOP_Z - 0.025]
    pb.createMultiBody(0, pb.createCollisionShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=c),
                       pb.createVisualShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=c), centre,
                       physicsClientId=c)  # fmt: skip
    for spec, pos, quat, dyn in setup["scene"]:
        if spec.kind == "urdf":
            path = os.path.join(pybullet_data.getDataPath(), spec.urdf)
            body = pb.loadURDF(path, pos, quat, globalScaling=spec.scale, physicsClientId=c)
        else:  # every primitive as a box of its size: close enough for timing
            he = list(spec.size)
            body = pb.createMultiBody(spec.mass, pb.createCollisionShape(pb.GEOM_BOX, halfExtents=he, physicsClientId=c),
                                      pb.createVisualShape(pb.GEOM_BOX, halfExtents=he, physicsClientId=c), pos, quat,
                                      physicsClientId=c)  # fmt: skip
        # The same physical object: mass, inertia and frictions as in the env.
        pb.changeDynamics(body, -1, mass=dyn[0], lateralFriction=dyn[1], localInertiaDiagonal=list(dyn[2]),
                          rollingFriction=dyn[6], spinningFriction=dyn[7], physicsClientId=c)  # fmt: skip
    finger_col = pb.createCollisionShape(pb.GEOM_CYLINDER, radius=0.01, height=0.1, physicsClientId=c)
    cam = setup["camera"]
    view, proj = view_matrix(cam.T_base_camera), projection_matrix(cam, 0.1, 10.0)
    light = setup["lighting"].kwargs()
    t0, c0 = time.perf_counter(), time.process_time()
    for rec in record:
        steps = rec["steps"]
        if rec["path"] is not None:
            # The finger's motion: down from 15 cm at 0.3 m/s, along at 0.1 m/s, up again.
            a, b = (np.array(p) + [0, 0, 0.04] for p in rec["path"])  # tool point -> finger centre
            up = [0, 0, TABLE_TOP_Z + 0.15 + 0.04]
            a_up, b_up = np.array([a[0], a[1], up[2]]), np.array([b[0], b[1], up[2]])
            targets = np.concatenate([_line(a_up, a, 0.3), _line(a, b, 0.1), _line(b, b_up, 0.3)])
            finger = pb.createMultiBody(0.5, finger_col, -1, a_up.tolist(), physicsClientId=c)
            cid = pb.createConstraint(finger, -1, -1, -1, pb.JOINT_FIXED, [0, 0, 0], [0, 0, 0], a_up.tolist(),
                                      physicsClientId=c)  # fmt: skip
            for target in targets:
                pb.changeConstraint(cid, target.tolist(), maxForce=60, physicsClientId=c)
                pb.stepSimulation(physicsClientId=c)
            pb.removeConstraint(cid, physicsClientId=c)
            pb.removeBody(finger, physicsClientId=c)
            steps -= len(targets)
        for _ in range(max(0, steps)):  # the objects settle
            pb.stepSimulation(physicsClientId=c)
        for _ in range(rec["renders"]):
            _, _, rgba, depth, seg = pb.getCameraImage(cam.width, cam.height, view, proj,
                                                       renderer=pb.ER_TINY_RENDERER, physicsClientId=c, **light)  # fmt: skip
            np.reshape(rgba, (cam.height, cam.width, 4))
            np.reshape(depth, (cam.height, cam.width))
            np.reshape(seg, (cam.height, cam.width))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    pb.disconnect(physicsClientId=c)
    return len(record) / elapsed, len(record) / cpu


def _line(a: np.ndarray, b: np.ndarray, speed: float, dt: float = 1 / 240) -> np.ndarray:
    n = max(1, int(np.ceil(np.linalg.norm(b - a) / (speed * dt))))
    return a + (b - a) * (np.arange(1, n + 1) / n)[:, None]


# --- workers and memory ------------------------------------------------------------------


def _worker(args) -> tuple[int, float]:
    width, height, episodes, pushes, seed = args
    env = PushSegEnv(width=width, height=height, num_objects=(4, 6))
    rng = np.random.default_rng(seed)
    n, c0 = 0, time.process_time()
    for e in range(episodes):
        env.reset(seed=seed * 1000 + e)
        for _ in range(pushes):
            env.step(scripted_action(env, rng))
            n += 1
    env.close()
    return n, time.process_time() - c0


def _burn(n: int) -> float:
    """Pure-Python busy work (the control for the speed-up); returns its CPU seconds."""
    c0, x = time.process_time(), 0
    for i in range(n):
        x += i * i
    return time.process_time() - c0


def control_speedup(n: int = 10_000_000) -> float:
    """The speed-up two processes of trivially parallel work get on this machine right now."""
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    _burn(n)
    one = time.perf_counter() - t0
    with ctx.Pool(2) as pool:
        pool.map(_burn, [10, 10])
        t0 = time.perf_counter()
        pool.map(_burn, [n, n])
        two = time.perf_counter() - t0
    return 2 * one / two


def worker_speedup(width: int, height: int, episodes: int, pushes: int) -> dict:
    ctx = mp.get_context("spawn")  # fresh interpreters, as a collection's workers would be
    rates, cpu = {}, {}
    for workers in (1, 2):
        with ctx.Pool(workers) as pool:
            pool.map(_worker, [(32, 18, 1, 1, 99)] * workers)  # warm the processes up
            t0 = time.perf_counter()
            results = pool.map(_worker, [(width, height, episodes, pushes, w) for w in range(workers)])
            done = sum(n for n, _ in results)
            rates[workers] = done / (time.perf_counter() - t0)
            cpu[workers] = sum(c for _, c in results) / done
    # With other work on the machine the wall-clock speed-up says little; CPU seconds
    # per transition staying flat from 1 to 2 workers shows the work does not contend.
    return {"1_worker_transitions_per_s": rates[1], "2_workers_transitions_per_s": rates[2],
            "speedup_2_workers": rates[2] / rates[1],
            "cpu_s_per_transition_1_worker": cpu[1], "cpu_s_per_transition_2_workers": cpu[2],
            "control_speedup_pure_python": control_speedup()}  # fmt: skip


def reset_memory(resets: int, objects: str = "target-train") -> dict:
    backend = SimBackend(objects=objects, width=160, height=90)
    proc = psutil.Process()
    backend.reset(0)
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    for s in range(resets):
        backend.reset(s)
    elapsed = time.perf_counter() - t0
    growth = (proc.memory_info().rss - rss0) / 1e6
    backend.close()
    return {"resets": resets, "rss_growth_mb": growth, "resets_per_s": resets / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--transitions", type=int, default=8, help="env steps per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating env/bare rounds; the best of each counts")
    ap.add_argument("--episodes", type=int, default=2, help="episodes per worker in the speed-up test")
    ap.add_argument("--pushes", type=int, default=4, help="pushes per episode in the speed-up test")
    ap.add_argument("--resets", type=int, default=500)
    args = ap.parse_args()

    load = os.getloadavg()[0]  # other work on the machine makes every number here noisy
    env_rates, bare_rates, env_cpu, bare_cpu = [], [], [], []
    for r in range(args.rounds):
        run = run_env(args.width, args.height, args.transitions, seed=r)
        env_rates.append(run["rate"])
        env_cpu.append(run["cpu_rate"])
        wall, cpu = run_bare(run["setup"], run["record"])
        bare_rates.append(wall)
        bare_cpu.append(cpu)
    steps = sum(rec["steps"] for rec in run["record"]) / len(run["record"])
    out = {
        "resolution": f"{args.width}x{args.height}",
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load,
        "env_transitions_per_s": max(env_rates),
        "bare_transitions_per_s": max(bare_rates),
        "env_over_bare": max(env_rates) / max(bare_rates),
        "env_over_bare_median_of_rounds": float(np.median(np.array(env_rates) / np.array(bare_rates))),
        "env_over_bare_cpu_time": float(np.median(np.array(env_cpu) / np.array(bare_cpu))),
        "env_rounds": env_rates,
        "bare_rounds": bare_rates,
        "physics_steps_per_transition": steps,
        "renders_per_transition": sum(rec["renders"] for rec in run["record"]) / len(run["record"]),
    }
    out.update(worker_speedup(args.width, args.height, args.episodes, args.pushes))
    out.update(reset_memory(args.resets))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
