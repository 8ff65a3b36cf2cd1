"""A recorded ros2 collection turned back into a run folder by `pushseg import-bag`; prints json.

    python benchmarks/ros2_bag_import.py --pushes 100

Collects ``--pushes`` pushes with ``--backend ros2 --record session.mcap`` against the
simulated Panda (as benchmarks/ros2_pushes.py does), imports the recording with
``pushseg import-bag``, labels both run folders and reports: the transitions of each,
the CPU seconds of the import (user + system of its process), and per image
labelled in both, the IoU of the imported run's label with the live run's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "panda_ros2.yaml"


def _pushseg(*args: str, env: dict | None = None) -> None:
    done = subprocess.run([sys.executable, "-m", "pushseg.cli.main", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        sys.exit(f"ros2_bag_import.py: pushseg {args[0]} failed:\n{done.stderr[-3000:]}")


def _labels_by_image(path: Path) -> list[list[dict]]:
    """Annotations per labelled image, images in (episode, step, file) order."""
    d = json.loads(path.read_text())
    images = sorted(d["images"], key=lambda im: (im["episode"], im["step"], Path(im["run_path"]).name))
    by_id: dict[int, list[dict]] = {}
    for a in d["annotations"]:
        by_id.setdefault(a["image_id"], []).append(a)
    return [by_id.get(im["id"], []) for im in images]


def _best_iou(a: list[dict], b: list[dict]) -> float:
    ious = mask_utils.iou([x["segmentation"] for x in a], [y["segmentation"] for y in b], [0] * len(b))
    return float(np.max(ious))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pushes", type=int, default=100)
    p.add_argument("--per-episode", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=0.02)
    args = p.parse_args()
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.Random().randint(1, 100)),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rec = tmp / "session.mcap"
        arm = subprocess.Popen([sys.executable, "-m", "pushseg.ros2.sim_arm", "--seed", str(args.seed),
                                "--time-scale", str(args.time_scale), "--rate", "30"],
                               env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while "ready" not in (arm.stdout.readline() or ""):
                if arm.poll() is not None or time.monotonic() > deadline:
                    sys.exit("ros2_bag_import.py: the simulated arm did not start")
            _pushseg("collect", "--backend", "ros2", "--config", str(EXAMPLE), "--set", "ros2.safety.dry_run=false",
                     "--out", str(tmp / "live"), "--episodes", str(max(1, args.pushes // args.per_episode)),
                     "--pushes-per-episode", str(args.per_episode), "--seed", str(args.seed), "--no-progress",
                     "--record", str(rec), env=env)
        finally:
            os.killpg(arm.pid, signal.SIGINT)
            try:
                arm.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(arm.pid, signal.SIGKILL)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        _pushseg("import-bag", str(rec), "--config", str(EXAMPLE), "--out", str(tmp / "imported"))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

        def rows(run: str) -> list[dict]:
            return [json.loads(x) for x in (tmp / run / "transitions.jsonl").read_text().splitlines() if x.strip()]

        live, imported = rows("live"), rows("imported")
        for run in ("live", "imported"):
            _pushseg("label", str(tmp / run), "--out", str(tmp / run / "labels.json"))
        a, b = _labels_by_image(tmp / "live" / "labels.json"), _labels_by_image(tmp / "imported" / "labels.json")
        ious = [_best_iou(x, y) for x, y in zip(a, b) if x and y]
        print(json.dumps({
            "benchmark": "ros2_bag_import", "pushes": args.pushes, "bag_mb": rec.stat().st_size / 1e6,
            "transitions": {"live": len(live), "live_executed": sum(r["result"]["outcome"] == "executed" for r in live),
                            "imported": len(imported)},
            "import_cpu_s": cpu,
            "labelled_images": {"live": sum(1 for x in a if x), "imported": sum(1 for y in b if y),
                                "both": len(ious)},
            "label_iou": {"mean": float(np.mean(ious)) if ious else None,
                          "min": float(np.min(ious)) if ious else None,
                          "at_least_0.9": float(np.mean(np.array(ious) >= 0.9)) if ious else None},
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
