"""The labeler on real RGB-D frames: semi-real pushes and pairs where nothing moved.

    python benchmarks/real_pushes.py [--frames DIR] [--seed 0] [--pushes-per-object 2] [--out OUT]

A semi-real push is an APPROXIMATION of a push (pushseg.labeling.semireal): in a
real frame one labelled object is slid rigidly 3-6 cm along the fitted table
plane (its pixels moved by the image motion of that 3D translation at their
depth, with their depth), the uncovered table filled from nearby pixels, a soft
shadow drawn, and independent sensor noise added to both images. No object
turns, tips, or shows a new side, and nothing behind the moved object is known.

Measured:

* semi-real pushes, ``--pushes-per-object`` per labelled object (>= 5000 px) of
  every frame, directions drawn so that the object stays in view: yield, IoU of
  each accepted label with the moved object (mean, share >= 0.5), rejections by
  reason, and the IoU of the candidate masks the gates refused;
* pairs where nothing moved: every ordered pair of the consecutive frames of
  one scene (the camera shifted slightly between them), and every frame
  against a re-noised copy of itself, each with a push at every labelled
  object: the share that gets a label (a false accept).

Frames come from ``--frames``, else ``$PUSHSEG_REAL_FRAMES``, else
the development frames set beside the repository. Real frames are for measuring only.
Prints the json and writes OUT/real_pushes.json (default out/bench_real_pushes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pushseg.data.real_frames import RealFrame, read_frames  # noqa: E402
from pushseg.labeling.config import LabelConfig  # noqa: E402
from pushseg.labeling.labeler import Labeler  # noqa: E402
from pushseg.labeling.semireal import in_view_share, make_push, push_pixel, renoised  # noqa: E402
from pushseg.types import Frame, Outcome, Push, PushResult, Transition  # noqa: E402

MIN_OBJECT_PX = 5000  # smaller labels are slivers of objects cut by the image border or occluded


def default_frames() -> Path:
    env = os.environ.get("PUSHSEG_REAL_FRAMES")
    if not env:
        sys.exit("real_pushes.py: pass --frames DIR (real RGB-D frames, docs/real-frames.md) or set PUSHSEG_REAL_FRAMES")
    return Path(env)


def iou(a: np.ndarray | None, b: np.ndarray) -> float:
    if a is None:
        return 0.0
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else 0.0


def semi_real_pushes(frames: list[RealFrame], per_object: int, seed: int, lo: float = 0.03, hi: float = 0.06):
    """Seeded semi-real pushes of every large labelled object, each keeping >= 95 % of the object in view."""
    rng = np.random.default_rng(seed)
    for f in frames:
        for oid in f.instance_ids:
            if int((f.labels == oid).sum()) < MIN_OBJECT_PX:
                continue
            for _ in range(per_object):
                for _try in range(30):
                    angle, dist = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(lo, hi))
                    if in_view_share(f, oid, angle, dist) >= 0.95:
                        break
                yield f, make_push(f, oid, angle, dist, seed=int(rng.integers(2**31)))


def scene_of(name: str) -> str:
    m = re.match(r"(.*)_\d+$", name)
    return m.group(1) if m else name


def still_pairs(frames: list[RealFrame], seed: int):
    """(name, before Frame, after Frame, object masks of the before frame) where nothing moved."""
    rng = np.random.default_rng(seed + 1)
    by_scene: dict[str, list[RealFrame]] = {}
    for f in frames:
        by_scene.setdefault(scene_of(f.name), []).append(f)
    for group in by_scene.values():
        for a in group:
            for b in group:
                if a is not b:
                    yield f"{a.name}->{b.name}", renoised(a, int(rng.integers(2**31))), renoised(b, int(rng.integers(2**31))), a
    for f in frames:
        yield f"{f.name}->renoised", renoised(f, int(rng.integers(2**31))), renoised(f, int(rng.integers(2**31))), f


def run(frames_dir: Path, seed: int, per_object: int, cfg: LabelConfig) -> dict:
    frames = read_frames(frames_dir, seed=seed)
    labeler = Labeler(cfg)
    rows = []
    t0 = time.process_time()
    for f, sp in semi_real_pushes(frames, per_object, seed):
        r = labeler.label_transition(sp.transition)
        accepted = r.label.accepted
        rows.append({
            "frame": f.name, "object": sp.object_id, "distance_m": round(sp.distance_m, 4),
            "image_motion_px": round(sp.image_motion_px, 1), "accepted": accepted, "reason": r.label.reason,
            "iou": round(iou(r.label.mask, sp.before_mask), 4) if accepted else None,
            "candidate_iou": round(iou(r.candidate, sp.before_mask), 4) if r.candidate is not None else None,
            "score": round(r.label.score, 4),
            "stats": {k: r.stats.get(k) for k in ("motion_mean_cm", "motion_std_cm", "area_cm2", "moved_volume_m3", "quality", "push_agreement")},
        })
    push_cpu = time.process_time() - t0
    still = []
    for name, before, after, f in still_pairs(frames, seed):
        for oid in f.instance_ids:
            mask = f.labels == oid
            if int(mask.sum()) < MIN_OBJECT_PX:
                continue
            u, v = push_pixel(mask)
            t = Transition(before, after, Push(u, v, 0.0, 0.05), PushResult(Outcome.EXECUTED), "semi-real", seed)
            r = labeler.label_transition(t)
            still.append({"pair": name, "object": oid, "accepted": r.label.accepted, "reason": r.label.reason,
                          "score": round(r.label.score, 4),
                          "stats": {k: r.stats.get(k) for k in ("motion_mean_cm", "motion_std_cm", "area_cm2", "quality")}})

    acc = [r for r in rows if r["accepted"]]
    ious = np.array([r["iou"] for r in acc]) if acc else np.zeros(0)
    cand = [r["candidate_iou"] for r in rows if not r["accepted"] and r["candidate_iou"] is not None]
    n_still_acc = sum(s["accepted"] for s in still)
    return {
        "approximation": "semi-real pushes: a labelled object of a real frame slid rigidly along the fitted table, "
                         "uncovered table inpainted, soft shadow and sensor noise added; not a real push",
        "frames": [f.name for f in frames],
        "camera": {"width": frames[0].camera.width, "height": frames[0].camera.height,
                   "fx": round(frames[0].camera.fx, 2)},
        "seed": seed,
        "semi_real": {
            "pushes": len(rows),
            "accepted": len(acc),
            "yield": round(len(acc) / max(1, len(rows)), 4),
            "mean_iou": round(float(ious.mean()), 4) if len(ious) else None,
            "share_iou_50": round(float((ious >= 0.5).mean()), 4) if len(ious) else None,
            "rejected": dict(Counter(r["reason"] for r in rows if not r["accepted"])),
            "rejected_candidate_mean_iou": round(float(np.mean(cand)), 4) if cand else None,
            "image_motion_px": [min(r["image_motion_px"] for r in rows), max(r["image_motion_px"] for r in rows)]
            if rows else None,
            "cpu_s_per_push": round(push_cpu / max(1, len(rows)), 3),
        },
        "no_motion": {
            "trials": len(still),
            "accepted": n_still_acc,
            "false_accept_rate": round(n_still_acc / max(1, len(still)), 4),
            "rejected": dict(Counter(s["reason"] for s in still if not s["accepted"])),
            "accepted_pairs": [s for s in still if s["accepted"]],
        },
        "goals": {
            "yield_ge_0.70": bool(rows) and len(acc) / len(rows) >= 0.70,
            "share_iou_50_ge_0.90": bool(len(ious)) and float((ious >= 0.5).mean()) >= 0.90,
            "false_accept_le_0.03": n_still_acc / max(1, len(still)) <= 0.03,
        },
        "pushes": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=Path, default=None, help="frames folder (default $PUSHSEG_REAL_FRAMES, else the "
                    "development frames beside the repository)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pushes-per-object", type=int, default=2)
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench_real_pushes")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a LabelConfig field for this run, e.g. --set flow_guided=false (repeatable)")
    args = ap.parse_args(argv)
    frames = args.frames or default_frames()
    if not frames.is_dir():
        raise SystemExit(f"{frames} is not a folder of real frames; pass --frames or set PUSHSEG_REAL_FRAMES")
    changes = {}
    fields = LabelConfig.__dataclass_fields__
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"--set {item}: LabelConfig has no field {key!r}")
        kind = type(getattr(LabelConfig(), key))
        changes[key] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
    result = run(frames, args.seed, args.pushes_per_object, LabelConfig().with_(**changes))
    result["config_changes"] = changes
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real_pushes.json").write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if k != "pushes"}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
