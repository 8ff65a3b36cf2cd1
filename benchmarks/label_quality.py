"""Label quality and speed of the self-supervised labeler, in simulation.

    .venv/bin/python benchmarks/label_quality.py [--run DIR] [--out DIR] [--episodes 40] [--pushes 5]

1. Collects 200 pushes (40 scenes x 5) of the separation agent on
   ``target-train`` scenes, seed 0, driving SimBackend + SeparationPushAgent
   in-process, into a run folder (reused when it is already complete).
2. Labels every push with the flow labeler and with frame differencing, and
   measures each label against simulation ground truth (best-matching object
   in the before image): yield, mean IoU, share with IoU >= 0.5 and >= 0.75.
3. Times one push on one CPU core (OpenCV and torch threads set to 1): the
   labeler as configured, and the reference implementation's settings (SLIC
   with 400 segments, compactness 30, on the full-resolution flow-colour image
   normalised by its maximum, ``rag_mean_color`` similarity, ``cut_normalized``
   thresh 0.001, num_cuts 10) on the same flow, as the baseline.

Prints one json object and writes it to OUT/label_quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def one_core() -> None:
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def collect_run(root: Path, episodes: int, pushes: int, seed: int) -> Path:
    """The separation agent on target-train scenes, written as a run folder."""
    from pushseg.agents import SeparationPushAgent
    from pushseg.data.collection import episode_specs
    from pushseg.data.run import RunMeta, RunReader, RunWriter
    from pushseg.envs.sim_backend import SimBackend

    if (root / "meta.json").is_file():
        reader = RunReader(root, allow_torn_tail=True)
        if len(reader) >= episodes * pushes:
            return root
        raise SystemExit(f"{root} holds an incomplete run ({len(reader)} transitions); delete it or pass another --run")
    specs = episode_specs(seed, episodes)
    backend = SimBackend(objects="target-train")
    try:
        backend.reset(seed=specs[0].env_seed)
        meta = RunMeta(
            backend="sim",
            camera=backend.camera,
            config={"episodes": episodes, "pushes_per_episode": pushes, "objects": "target-train", "seed": seed},
            seeds={"seed": seed, "episodes": [{"episode": s.episode, "env": s.env_seed, "agent": s.agent_seed} for s in specs]},
            objects={"set": "target-train"},
            agent={"name": "separation", "class": "SeparationPushAgent"},
        )
        from pushseg.types import Transition

        with RunWriter.create(root, meta) as writer:
            for spec in specs:
                frame = backend.reset(seed=spec.env_seed)
                agent = SeparationPushAgent(backend.camera, seed=spec.agent_seed)
                for step in range(pushes):
                    push = agent.act(frame)
                    result = backend.push(push)
                    after = backend.observe()
                    writer.write(
                        Transition(frame, after, push, result, "sim", seed=spec.env_seed, episode=spec.episode, step=step)
                    )
                    frame = after
                print(f"collected episode {spec.episode + 1}/{episodes}", file=sys.stderr)
    finally:
        backend.close()
    return root


def reference_segments(flow: np.ndarray, support: np.ndarray | None, seed: int) -> np.ndarray:
    """The reference implementation's clustering: SLIC on the max-normalised flow colours, then ncut."""
    from skimage import graph, segmentation

    from pushseg.labeling.flow import flow_to_color

    f = flow if support is None else np.where(support[..., None], flow, 0.0)
    img = flow_to_color(f)  # normalised by its own maximum, as the reference did
    sp = segmentation.slic(img, n_segments=400, compactness=30, start_label=1)
    rag = graph.rag_mean_color(img, sp, mode="similarity")
    return graph.cut_normalized(sp, rag, thresh=0.001, num_cuts=10, rng=seed)


def time_labelers(run: Path, n: int, seed: int) -> dict:
    """Median ms per push on one core: this labeler vs the reference settings, on the same pushes."""
    from pushseg.data.run import RunReader
    from pushseg.labeling import Labeler, LabelConfig
    from pushseg.labeling.table import fit_plane, table_mask

    reader = RunReader(run)
    idx = [i for i in np.linspace(0, len(reader) - 1, n).round().astype(int)]
    cfg = LabelConfig(seed=seed)
    labeler = Labeler(cfg)
    ours, ref, ref_cluster = [], [], []
    labeler.label_transition(reader.transition(0))  # first call pays for imports and allocations
    for i in idx:
        t = reader.transition(int(i))
        t0 = time.perf_counter()
        labeler.label_transition(t)
        ours.append((time.perf_counter() - t0) * 1e3)
        # Reference: the same flow and table filter, then its clustering and its pick by colour.
        t0 = time.perf_counter()
        flow = labeler.flow(t.before.rgb, t.after.rgb)
        support = ~table_mask(t.before.camera, t.before.depth, cfg, fit_plane(t.before.camera, t.before.depth, cfg))
        t1 = time.perf_counter()
        seg = reference_segments(flow, support, seed)
        _ = seg == seg[int(round(t.push.v)), int(round(t.push.u))]
        t2 = time.perf_counter()
        ref.append((t2 - t0) * 1e3)
        ref_cluster.append((t2 - t1) * 1e3)
    return {
        "pushes_timed": len(idx),
        "image_size": [reader.camera.width, reader.camera.height],
        "labeler_ms_median": round(float(np.median(ours)), 1),
        "labeler_ms_p90": round(float(np.percentile(ours, 90)), 1),
        "reference_settings_ms_median": round(float(np.median(ref)), 1),
        "reference_clustering_only_ms_median": round(float(np.median(ref_cluster)), 1),
        "speedup": round(float(np.median(ref) / np.median(ours)), 1),
        "threads": 1,
        "note": "wall-clock on a shared machine; other jobs inflate both numbers alike (interleaved on the same pushes)",
    }


KEYS = ("transitions", "accepted", "yield", "rejected", "mean_iou", "share_iou_50", "share_iou_75",
        "labels_iou_50_per_push", "score_iou_spearman", "ms_median")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default=str(REPO / "out" / "bench_label_run"), help="run folder (collected if missing)")
    ap.add_argument("--out", default=str(REPO / "out" / "bench_label"), help="where results go")
    ap.add_argument("--episodes", type=int, default=40)
    ap.add_argument("--pushes", type=int, default=5, help="pushes per episode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="processes for the quality runs (results do not depend on it)")
    ap.add_argument("--timing-pushes", type=int, default=20, help="pushes timed on one core, ours vs reference")
    ap.add_argument("--no-ablations", action="store_true", help="skip the no-action-prior / no-table-filter runs")
    args = ap.parse_args(argv)
    one_core()
    from pushseg.labeling import LabelConfig
    from pushseg.labeling.batch import label_run

    run = collect_run(Path(args.run), args.episodes, args.pushes, args.seed)
    out = Path(args.out)
    variants = {
        "flow": LabelConfig(seed=args.seed),
        "framediff": LabelConfig(method="framediff", seed=args.seed),
    }
    if not args.no_ablations:
        variants["flow_no_action_prior"] = LabelConfig(use_action_prior=False, seed=args.seed)
        variants["flow_no_table_filter"] = LabelConfig(use_table_filter=False, seed=args.seed)
    result: dict = {
        "run": str(run),
        "agent": "separation",
        "objects": "target-train",
        "seed": args.seed,
        "note": "ms_median of the quality runs is per push inside parallel workers; see 'speed' for one core",
    }
    for name, cfg in variants.items():
        summary = label_run(run, out / name / "labels.json", cfg, workers=args.workers, progress=False)
        result[name] = {k: summary.get(k) for k in KEYS}
        print(f"{name}: {json.dumps(result[name])}", file=sys.stderr)
    result["speed"] = time_labelers(run, args.timing_pushes, args.seed)
    f = result["flow"]
    result["targets"] = {
        "share_iou_50_ge_0.95": bool(f["share_iou_50"] is not None and f["share_iou_50"] >= 0.95),
        "mean_iou_ge_0.85": bool(f["mean_iou"] is not None and f["mean_iou"] >= 0.85),
        "yield_ge_0.60": bool(f["yield"] >= 0.60),
        "median_ms_le_150": bool(result["speed"]["labeler_ms_median"] <= 150),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "label_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
