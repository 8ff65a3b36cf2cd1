"""Label quality and speed of the self-supervised labelers, in simulation.

    python benchmarks/label_quality.py --profile robot [--episodes 40] [--pushes 5] [--seed 0]
    python benchmarks/label_quality.py --profile robot --sweep     # one nuisance at a time
    python benchmarks/label_quality.py --profile robot --episodes 50 --compare-agents separation,labelling
        [--seeds 2026,2027,2028]   # episode labels of two push agents on the same scenes

1. Collects separation-agent pushes (default 40 scenes x 5) on ``target-train``
   scenes of the chosen world profile into a run folder (reused when complete).
2. Labels every push with each labeler (flow, frame differencing, the flow
   labeler without its photometric alignment, and the paper's ablations) and
   measures each accepted label against the object the push actually moved
   (the ground-truth object that moved most; ``pushseg.labeling.report``):
   mean IoU, shares with IoU >= 0.5 / 0.75, labels on the wrong object, labels
   merging two objects, yield, and the Spearman rank correlation of the
   quality score with IoU.
3. Times the labeler on one CPU core (OpenCV and torch threads set to 1) on
   960x540 pairs, against the reference implementation's clustering settings.
4. ``--sweep``: for each nuisance alone on the ideal world, at strengths 0,
   0.5, 1 and 2 (1 = as in the ``robot`` profile), a smaller run is collected and
   labelled with the flow labeler and frame differencing; label quality
   against nuisance strength is drawn as ``sweep.png`` (needs matplotlib,
   ``pip install -e .[bench]``).

``--agent NAME`` collects with another push agent (``pushseg.agents.AGENTS``;
its runs go to out/bench_label/<profile>_<agent>_s<seed>). ``--episode-labels``
also counts the distinct ground-truth objects labelled per episode (objects
moved by a push whose label was accepted). ``--compare-agents BASE,NEW`` runs
episode labels for both agents on each of ``--seeds`` (the same scenes per seed)
and writes out/bench_label/agents_<profile>/agents.{json,md}: mean ± std over
seeds, and the per-episode paired difference NEW - BASE with a 95 % t-interval.

Writes OUT/label_quality.json (every figure), OUT/label_quality.md (tables)
and, with --sweep, OUT/sweep.json and OUT/sweep.png; prints the json.
"""

from __future__ import annotations

import argparse
import dataclasses
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

PROFILES = ("ideal", "robot", "harsh")


def one_core() -> None:
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


# -- the world: a small adapter over the simulation's profile settings ----------------------------


def _sim_has_profiles() -> bool:
    from pushseg.envs.sim_backend import SimConfig

    return "world" in {f.name for f in dataclasses.fields(SimConfig)}


def world_config(profile: str, nuisance: str | None = None, strength: float = 1.0):
    """The SimConfig of a world profile, or of the ideal world with one nuisance at a strength (sweep)."""
    from pushseg.envs.sim_backend import SimConfig

    if profile not in PROFILES:
        raise SystemExit(f"--profile {profile!r}: choose one of {PROFILES}")
    if not _sim_has_profiles():
        if profile != "ideal" or nuisance is not None:
            raise SystemExit(f"--profile {profile}: this version of the simulation has no world profiles")
        return SimConfig(objects="target-train")
    if nuisance is None:
        return SimConfig(objects="target-train", world=profile)
    return SimConfig(objects="target-train", world="ideal", world_overrides={nuisance: strength})


def nuisance_names() -> list[str]:
    if not _sim_has_profiles():
        raise SystemExit("--sweep: this version of the simulation has no nuisances to sweep")
    from pushseg.envs.world import nuisance_names as names

    return names()


def collect_run(root: Path, episodes: int, pushes: int, seed: int, config, agent: str = "separation") -> Path:
    """``agent`` (a name of ``pushseg.agents.AGENTS``) on target-train scenes of ``config``'s world, as a run folder.

    An existing run of the same seed is reused, and extended when it holds
    fewer episodes (episode i's seeds do not depend on the count, and an
    episode cut short is replayed from its start, writing only its missing pushes).
    """
    from pushseg.agents import AGENTS
    from pushseg.data.collection import episode_specs
    from pushseg.data.run import META_FILE, RunMeta, RunReader, RunWriter, read_meta
    from pushseg.envs.sim_backend import SimBackend
    from pushseg.types import Transition

    specs = episode_specs(seed, episodes)
    written: set[tuple[int, int]] = set()
    if (root / "meta.json").is_file():
        old = read_meta(root)
        if (old.config.get("seed") != seed or old.config.get("pushes_per_episode") != pushes
                or old.agent.get("name") != agent):
            raise SystemExit(f"{root} holds a run of another seed, episode length or agent; delete it or pass another --out")
        reader = RunReader(root, allow_torn_tail=True)
        if len(reader) >= episodes * pushes:
            return root
        written = {r.key for r in reader.records}
    backend = SimBackend(config)
    try:
        backend.reset(seed=specs[0].env_seed)
        profile = getattr(config, "profile", None)
        world = profile.to_dict() if profile is not None else {"name": "ideal"}
        meta = RunMeta(
            backend="sim",
            camera=backend.camera,
            config={"episodes": episodes, "pushes_per_episode": pushes, "objects": "target-train", "seed": seed,
                    "world": world},
            seeds={"seed": seed, "episodes": [{"episode": s.episode, "env": s.env_seed, "agent": s.agent_seed} for s in specs]},
            objects={"set": "target-train"},
            agent={"name": agent, "class": AGENTS[agent].__name__},
        )
        if written:
            from pushseg.files import write_atomic

            write_atomic(root / META_FILE, (json.dumps(meta.to_dict(), indent=2) + "\n").encode())  # the longer run
            writer, _ = RunWriter.resume(root)
        else:
            writer = RunWriter.create(root, meta)
        with writer:
            for spec in specs:
                if all((spec.episode, step) in written for step in range(pushes)):
                    continue
                frame = backend.reset(seed=spec.env_seed)
                policy = _agent(AGENTS[agent], backend, spec.agent_seed)
                for step in range(pushes):
                    push = policy.act(frame)
                    result = backend.push(push)
                    after = backend.observe()
                    if (spec.episode, step) not in written:
                        writer.write(Transition(frame, after, push, result, "sim", seed=spec.env_seed,
                                                episode=spec.episode, step=step))
                    frame = after
                print(f"collected episode {spec.episode + 1}/{episodes} into {root}", file=sys.stderr)
    finally:
        backend.close()
    return root


def _agent(cls, backend, seed):
    try:
        return cls(backend.camera, seed=seed, workspace=backend.workspace)
    except TypeError:
        return cls(backend.camera, seed=seed)


# -- the labelers ---------------------------------------------------------------------------------

# Which gates each labeler can apply. Frame differencing has no flow, so the
# rotation and large-motion gates and the flow terms of the score cannot apply.
GATES = {
    "flow": ["large_motion", "no_motion", "no_segment_at_push", "rotation", "small_motion", "too_small", "too_large", "low_score"],
    "framediff": ["no_motion", "no_segment_at_push", "too_small", "too_large", "low_score"],
}


def labelers(seed: int, ablations: bool) -> dict:
    from pushseg.labeling import LabelConfig

    out = {
        "flow": LabelConfig(seed=seed),
        "framediff": LabelConfig(method="framediff", seed=seed),
        # The flow labeler as it was before photometric alignment and the score gate.
        "flow_no_alignment": LabelConfig(normalize_colours=False, align_head_shift=False, seed=seed),
    }
    if ablations:
        out["flow_no_action_prior"] = LabelConfig(use_action_prior=False, seed=seed)
        out["flow_no_table_filter"] = LabelConfig(use_table_filter=False, seed=seed)
    return out


KEYS = ("transitions", "accepted", "yield", "rejected", "mean_iou", "share_iou_50", "share_iou_75",
        "wrong_object", "merged", "nothing_moved", "labels_iou_50_per_push", "score_iou_spearman")


def label_all(run: Path, out: Path, cfgs: dict, workers: int) -> dict:
    from pushseg.labeling.batch import label_run

    res = {}
    for name, cfg in cfgs.items():
        summary = label_run(run, out / name / "labels.json", cfg, workers=workers, progress=False)
        res[name] = {k: summary.get(k) for k in KEYS}
        res[name]["gates"] = GATES[cfg.method]
        print(f"{name}: {json.dumps(res[name])}", file=sys.stderr)
    return res


def reference_segments(flow: np.ndarray, support: np.ndarray | None, seed: int) -> np.ndarray:
    """The reference implementation's clustering: SLIC on the max-normalised flow colours, then ncut."""
    from skimage import graph, segmentation

    from pushseg.labeling.flow import flow_to_color

    f = flow if support is None else np.where(support[..., None], flow, 0.0)
    img = flow_to_color(f)  # normalised by its own maximum, as the reference did
    sp = segmentation.slic(img, n_segments=400, compactness=30, start_label=1)
    rag = graph.rag_mean_color(img, sp, mode="similarity")
    return graph.cut_normalized(sp, rag, thresh=0.001, num_cuts=10, rng=seed)


def time_labelers(run: Path, n: int, seed: int, reference: bool = True) -> dict:
    """Median ms per push on one core: this labeler (and the reference settings), interleaved on the same pushes."""
    from pushseg.data.run import RunReader
    from pushseg.labeling import Labeler, LabelConfig
    from pushseg.labeling.table import fit_plane, table_mask

    reader = RunReader(run)
    idx = [i for i in np.linspace(0, len(reader) - 1, n).round().astype(int)]
    cfg = LabelConfig(seed=seed)
    labeler = Labeler(cfg)
    # The labeler as it was before photometric alignment, hole handling and the new table search.
    before = Labeler(LabelConfig(seed=seed, normalize_colours=False, align_head_shift=False, edge_hole_band_px=0.0,
                                 ransac_stride=10))
    ours, cpu, old_cpu, ref, ref_cluster = [], [], [], [], []
    labeler.label_transition(reader.transition(0))  # first call pays for imports and allocations
    before.label_transition(reader.transition(0))
    for i in idx:
        t = reader.transition(int(i))
        t0, c0 = time.perf_counter(), time.process_time()
        labeler.label_transition(t)
        ours.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        c0 = time.process_time()
        before.label_transition(t)
        old_cpu.append((time.process_time() - c0) * 1e3)
        if not reference:
            continue
        t0 = time.perf_counter()
        flow = labeler.flow(t.before.rgb, t.after.rgb)
        support = ~table_mask(t.before.camera, t.before.depth, cfg, fit_plane(t.before.camera, t.before.depth, cfg))
        t1 = time.perf_counter()
        seg = reference_segments(flow, support, seed)
        _ = seg == seg[int(round(t.push.v)), int(round(t.push.u))]
        t2 = time.perf_counter()
        ref.append((t2 - t0) * 1e3)
        ref_cluster.append((t2 - t1) * 1e3)
    out = {
        "pushes_timed": len(idx),
        "image_size": [reader.camera.width, reader.camera.height],
        "labeler_ms_median": round(float(np.median(ours)), 1),
        "labeler_ms_p90": round(float(np.percentile(ours, 90)), 1),
        "labeler_cpu_ms_median": round(float(np.median(cpu)), 1),
        "previous_labeler_cpu_ms_median": round(float(np.median(old_cpu)), 1),
        "cpu_ratio_to_previous": round(float(np.median(np.array(cpu) / np.array(old_cpu))), 2),
        "threads": 1,
        "note": "wall-clock on a shared machine; cpu_ms is process CPU time (one thread)",
    }
    if reference:
        out.update(
            reference_settings_ms_median=round(float(np.median(ref)), 1),
            reference_clustering_only_ms_median=round(float(np.median(ref_cluster)), 1),
            speedup=round(float(np.median(ref) / np.median(ours)), 1),
        )
    return out


# -- the report -----------------------------------------------------------------------------------


def _f(x, digits=3):
    return "–" if x is None else (f"{x:.{digits}f}" if isinstance(x, float) else str(x))


def markdown(result: dict) -> str:
    lines = [
        f"# Label quality: profile `{result['profile']}`, {result['transitions']} pushes, seed {result['seed']}",
        "",
        "IoU is with the object the push moved most (simulation ground truth); shares are of accepted labels.",
        "",
        "| labeler | yield | mean IoU | IoU ≥ 0.5 | IoU ≥ 0.75 | wrong object | merged | score–IoU Spearman |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["labelers"].items():
        lines.append(
            f"| {name} | {_f(r['yield'])} | {_f(r['mean_iou'])} | {_f(r['share_iou_50'])} | {_f(r['share_iou_75'])} "
            f"| {_f(r['wrong_object'])} | {_f(r['merged'])} | {_f(r['score_iou_spearman'], 2)} |"
        )
    lines += ["", "Rejections:", ""]
    for name, r in result["labelers"].items():
        lines.append(f"- {name}: {r['rejected']}; gates: {', '.join(r['gates'])}")
    sp = result.get("speed")
    if sp:
        lines += ["", f"Speed, one core, {sp['image_size'][0]}x{sp['image_size'][1]}: median {sp['labeler_ms_median']} ms "
                  f"(CPU {sp['labeler_cpu_ms_median']} ms, p90 {sp['labeler_ms_p90']} ms) over {sp['pushes_timed']} pushes."]
    if "goals" in result:
        lines += ["", "Goals (flow labeler): " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in result["goals"].items())]
    return "\n".join(lines) + "\n"


def goals(flow: dict, speed: dict | None) -> dict:
    ok = lambda x, f: bool(x is not None and f(x))  # noqa: E731
    g = {
        "share_iou_50_ge_0.90": ok(flow["share_iou_50"], lambda x: x >= 0.90),
        "mean_iou_ge_0.80": ok(flow["mean_iou"], lambda x: x >= 0.80),
        "wrong_object_le_0.03": ok(flow["wrong_object"], lambda x: x <= 0.03),
        "yield_ge_0.50": ok(flow["yield"], lambda x: x >= 0.50),
        "spearman_ge_0.4": ok(flow["score_iou_spearman"], lambda x: x >= 0.4),
    }
    if speed:
        g["median_ms_le_100"] = speed["labeler_ms_median"] <= 100
    return g


def sweep(args, out: Path) -> dict:
    from pushseg.labeling import LabelConfig

    cfgs = {"flow": LabelConfig(seed=args.seed), "framediff": LabelConfig(method="framediff", seed=args.seed)}
    strengths = [float(x) for x in args.sweep_strengths.split(",")]
    res: dict = {"strengths": strengths, "episodes": args.sweep_episodes, "pushes": args.pushes, "nuisances": {}}
    base = None
    for name in nuisance_names():
        rows = []
        for s in strengths:
            cell = out / "sweep" / f"{name}_{s:g}"
            if s > 0.0:
                run = collect_run(cell / "run", args.sweep_episodes, args.pushes, args.seed, world_config("ideal", name, s))
            if s == 0.0:
                # Strength 0 of every nuisance is the ideal world: one run serves them all.
                if base is None:
                    run = collect_run(out / "sweep" / "ideal" / "run", args.sweep_episodes, args.pushes, args.seed,
                                      world_config("ideal"))
                    base = label_all(run, out / "sweep" / "ideal", cfgs, args.workers)
                rows.append({"strength": s, **base})
                continue
            rows.append({"strength": s, **label_all(run, cell, cfgs, args.workers)})
        res["nuisances"][name] = rows
    (out / "sweep.json").write_text(json.dumps(res, indent=2) + "\n")
    plot_sweep(res, out / "sweep.png")
    return res


def plot_sweep(res: dict, path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--sweep draws with matplotlib: pip install -e .[bench]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("mean_iou", "mean IoU (pushed object)"), ("share_iou_50", "share IoU ≥ 0.5"), ("yield", "yield"),
               ("wrong_object", "wrong-object share")]
    fig, axes = plt.subplots(2, len(metrics), figsize=(4 * len(metrics), 7), sharex=True)
    for row, labeler in enumerate(("flow", "framediff")):
        for col, (key, title) in enumerate(metrics):
            ax = axes[row, col]
            for name, cells in res["nuisances"].items():
                ys = [np.nan if c[labeler][key] is None else c[labeler][key] for c in cells]
                ax.plot([c["strength"] for c in cells], ys, marker="o", label=name)
            ax.set_title(f"{labeler}: {title}", fontsize=9)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel("nuisance strength (1 = robot profile)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Label quality against one nuisance at a time ({res['episodes']} x {res['pushes']} pushes per point)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def episode_benchmark(run: Path, out: Path, args) -> dict:
    """Episode labels on the run: masks per image, IoU by steps carried, unlabelled objects, labels per push."""
    from pushseg.labeling import LabelConfig
    from pushseg.labeling.batch import label_run

    t0 = time.perf_counter()
    summary = label_run(run, out / "episodes" / "labels.json", LabelConfig(seed=args.seed, episode_labels=True),
                        workers=args.workers, progress=False)
    ep = summary["episodes"]
    per_episode = distinct_objects(Path(summary["report"]))
    res = {"run": str(run), "profile": args.profile, "agent": args.agent, "seed": args.seed, "episodes": args.episodes,
           "pushes": args.pushes, "per_push": {k: summary.get(k) for k in KEYS}, "episode_labels": ep,
           "distinct_objects_per_episode": _mean([e["distinct"] for e in per_episode]),
           "distinct_objects_iou_50_per_episode": _mean([e["distinct_iou_50"] for e in per_episode]),
           "objects_per_episode": _mean([e["objects"] for e in per_episode]),
           "per_episode": per_episode, "wall_s": round(time.perf_counter() - t0, 1)}
    (out / "episode_labels.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = [f"# Episode labels: profile `{args.profile}`, agent `{args.agent}`, {args.episodes} episodes x {args.pushes} "
             f"pushes, seed {args.seed}",
             "", "| images | masks per image | labelled objects per image | unlabelled objects per image "
             "| carried masks with IoU ≥ 0.5 | labels per push |", "|---:|---:|---:|---:|---:|---:|",
             f"| {ep['images']} | {_f(ep['masks_per_image'], 2)} | {_f(ep.get('labelled_objects_per_image'), 2)} "
             f"| {_f(ep.get('unlabelled_objects_per_image'), 2)} | {_f(ep.get('carried_share_iou_50'))} "
             f"| {_f(ep['labels_per_push'], 2)} |", "", "IoU by steps carried (0 = the push's own label):", "",
             "| steps | masks | mean IoU | IoU ≥ 0.5 |", "|---:|---:|---:|---:|"]
    for k, v in ep.get("iou_by_steps", {}).items():
        lines.append(f"| {k} | {v['n']} | {v['mean_iou']:.3f} | {v['share_iou_50']:.3f} |")
    lines += ["", f"Distinct objects labelled per episode: {_f(res['distinct_objects_per_episode'], 2)} "
              f"({_f(res['distinct_objects_iou_50_per_episode'], 2)} with IoU ≥ 0.5) of "
              f"{_f(res['objects_per_episode'], 2)} objects in view", "", f"Dropped: {ep['dropped']}"]
    (out / "episode_labels.md").write_text("\n".join(lines) + "\n")
    return res


def _mean(xs) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def distinct_objects(report: Path) -> list[dict]:
    """Per episode of a ``<labels>_report.jsonl``: distinct ground-truth objects whose push was labelled.

    ``distinct``: objects moved by a push whose label was accepted;
    ``distinct_iou_50``: of those, the ones with a label of IoU >= 0.5 on them;
    ``objects``: the most objects seen in one image of the episode.
    """
    rows = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    eps: dict[int, dict] = {}
    for r in rows:
        e = eps.setdefault(r["episode"], {"episode": r["episode"], "pushes": 0, "accepted": 0, "ids": set(),
                                          "ids_50": set(), "objects": 0})
        if r["kind"] == "image":
            e["objects"] = max(e["objects"], r.get("objects", 0))
            continue
        e["pushes"] += 1
        if r["accepted"]:
            e["accepted"] += 1
            if r.get("pushed_id", 0) > 0:
                e["ids"].add(r["pushed_id"])
                if r.get("iou", 0.0) >= 0.5:
                    e["ids_50"].add(r["pushed_id"])
    out = []
    for k in sorted(eps):
        e = eps[k]
        ids, ids_50 = e.pop("ids"), e.pop("ids_50")
        out.append({**e, "distinct": len(ids), "distinct_iou_50": len(ids_50)})
    return out


def default_out(profile: str, agent: str, seed: int) -> Path:
    # The separation agent keeps the folder name it always had, so its runs are reused.
    tag = "" if agent == "separation" else f"_{agent}"
    return REPO / "out" / "bench_label" / f"{profile}{tag}_s{seed}"


def compare_agents(args) -> dict:
    """Episode labels of each agent on the same scenes, per seed; mean ± std over seeds, paired per episode."""
    agents = [a.strip() for a in args.compare_agents.split(",") if a.strip()]
    seeds = [int(x) for x in args.seeds.split(",")]
    if len(agents) != 2 or len(seeds) < 1:
        raise SystemExit("--compare-agents takes two agents (baseline,new) and --seeds one or more seeds")
    metrics = ("distinct_objects_per_episode", "distinct_objects_iou_50_per_episode", "objects_per_episode")
    cells: dict = {a: {} for a in agents}
    for seed in seeds:
        for agent in agents:
            out = default_out(args.profile, agent, seed)
            prev = out / "episode_labels.json"
            old = json.loads(prev.read_text()) if prev.is_file() else {}
            if (old.get("episodes"), old.get("pushes"), old.get("agent"), old.get("seed")) != (
                    args.episodes, args.pushes, agent, seed) or "per_episode" not in old:
                out.mkdir(parents=True, exist_ok=True)
                cell_args = argparse.Namespace(**{**vars(args), "agent": agent, "seed": seed})
                run = collect_run(out / "run", args.episodes, args.pushes, seed, world_config(args.profile), agent)
                old = episode_benchmark(run, out, cell_args)
            cells[agent][seed] = old
    res: dict = {"profile": args.profile, "episodes": args.episodes, "pushes": args.pushes, "seeds": seeds,
                 "agents": {}}
    for agent in agents:
        per_seed = {seed: {**{m: cells[agent][seed][m] for m in metrics},
                           "labels_per_push": cells[agent][seed]["episode_labels"]["labels_per_push"],
                           "carried_share_iou_50": cells[agent][seed]["episode_labels"].get("carried_share_iou_50"),
                           "labelled_objects_per_image": cells[agent][seed]["episode_labels"].get("labelled_objects_per_image"),
                           "yield": cells[agent][seed]["per_push"]["yield"],
                           # No agent can label more objects than it got labels, or than the scene holds.
                           "distinct_bound_per_episode": _mean([min(e["objects"], e["accepted"])
                                                                for e in cells[agent][seed]["per_episode"]])}
                    for seed in seeds}
        keys = list(next(iter(per_seed.values())))
        res["agents"][agent] = {"per_seed": per_seed, "mean": {k: _mean([per_seed[s][k] for s in seeds]) for k in keys},
                                "std": {k: float(np.std([per_seed[s][k] for s in seeds], ddof=1)) if len(seeds) > 1 else None
                                        for k in keys}}
    base, new = agents
    diffs = {"distinct": [], "distinct_iou_50": []}
    for seed in seeds:
        a = {e["episode"]: e for e in cells[base][seed]["per_episode"]}
        b = {e["episode"]: e for e in cells[new][seed]["per_episode"]}
        for k in sorted(set(a) & set(b)):  # the same scene: episode seeds depend only on the master seed
            for m in diffs:
                diffs[m].append(b[k][m] - a[k][m])
    from scipy import stats

    res["paired"] = {}
    for m, d in diffs.items():
        d = np.array(d, np.float64)
        half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else None
        res["paired"][m] = {"episodes": len(d), "mean_difference": float(d.mean()), "ci95_half_width": half,
                            "new_better": int((d > 0).sum()), "new_worse": int((d < 0).sum())}
    root = REPO / "out" / "bench_label" / f"agents_{args.profile}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "agents.json").write_text(json.dumps(res, indent=2) + "\n")
    (root / "agents.md").write_text(agents_markdown(res))
    return res


def agents_markdown(res: dict) -> str:
    def ms(agent, k, digits=2):
        m, s = res["agents"][agent]["mean"][k], res["agents"][agent]["std"][k]
        return f"{_f(m, digits)}" + ("" if s is None else f" ± {s:.{digits}f}")

    lines = [f"# Push agents for episode labels: profile `{res['profile']}`, {res['episodes']} episodes x "
             f"{res['pushes']} pushes, seeds {', '.join(map(str, res['seeds']))} (mean ± std over seeds)", "",
             "| agent | distinct objects labelled / episode | … with IoU ≥ 0.5 | bound: min(objects, accepted labels) "
             "| objects in view | labels per push | labelled objects per image | carried IoU ≥ 0.5 | yield |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for a in res["agents"]:
        lines.append(f"| {a} | {ms(a, 'distinct_objects_per_episode')} | {ms(a, 'distinct_objects_iou_50_per_episode')} "
                     f"| {ms(a, 'distinct_bound_per_episode')} | {ms(a, 'objects_per_episode')} | {ms(a, 'labels_per_push')} | {ms(a, 'labelled_objects_per_image')} "
                     f"| {ms(a, 'carried_share_iou_50', 3)} | {ms(a, 'yield', 3)} |")
    lines += ["", "Paired per episode (same scenes), second agent minus first, 95 % t-interval:", ""]
    for m, p in res["paired"].items():
        lines.append(f"- {m}: {p['mean_difference']:+.2f} ± {_f(p['ci95_half_width'], 2)} over {p['episodes']} episodes "
                     f"({p['new_better']} better, {p['new_worse']} worse)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="robot" if _sim_has_profiles() else "ideal", choices=PROFILES,
                    help="world profile of the simulation")
    ap.add_argument("--out", default=None, help="where results go (default out/bench_label/<profile>_s<seed>)")
    ap.add_argument("--episodes", type=int, default=40)
    ap.add_argument("--pushes", type=int, default=5, help="pushes per episode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="processes for the quality runs (results do not depend on it)")
    ap.add_argument("--timing-pushes", type=int, default=20, help="pushes timed on one core (0: no timing)")
    ap.add_argument("--no-reference-timing", action="store_true",
                    help="skip timing the reference implementation's clustering (seconds per push)")
    ap.add_argument("--no-ablations", action="store_true", help="skip the no-action-prior / no-table-filter runs")
    ap.add_argument("--sweep", action="store_true", help="one nuisance at a time at several strengths, plotted")
    ap.add_argument("--episode-labels", action="store_true",
                    help="measure episode labels (every mask carried through its episode) instead of the labelers")
    ap.add_argument("--agent", default="separation", help="push agent of the collected run (pushseg.agents.AGENTS)")
    ap.add_argument("--compare-agents", default=None, metavar="BASE,NEW",
                    help="episode labels of two agents on the same scenes for each of --seeds, paired per episode")
    ap.add_argument("--seeds", default="2026,2027", help="seeds of --compare-agents")
    ap.add_argument("--sweep-episodes", type=int, default=10, help="episodes per sweep point")
    ap.add_argument("--sweep-strengths", default="0,0.5,1,2", help="nuisance strengths of the sweep (1 = robot)")
    args = ap.parse_args(argv)
    from pushseg.agents import AGENTS

    for name in [args.agent] + (args.compare_agents or "").split(","):
        if name and name not in AGENTS:
            raise SystemExit(f"unknown agent {name!r}: choose one of {', '.join(sorted(AGENTS))}")
    one_core()
    if args.compare_agents:
        print(json.dumps(compare_agents(args), indent=2))
        return 0
    out = Path(args.out) if args.out else default_out(args.profile, args.agent, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    if args.sweep:
        res = sweep(args, out)
        print(json.dumps(res, indent=2))
        return 0
    run = collect_run(out / "run", args.episodes, args.pushes, args.seed, world_config(args.profile), args.agent)
    if args.episode_labels:
        res = episode_benchmark(run, out, args)
        print(json.dumps(res, indent=2))
        return 0
    result: dict = {"run": str(run), "profile": args.profile, "agent": args.agent, "objects": "target-train",
                    "seed": args.seed, "transitions": args.episodes * args.pushes}
    result["labelers"] = label_all(run, out, labelers(args.seed, not args.no_ablations), args.workers)
    result["speed"] = time_labelers(run, args.timing_pushes, args.seed, not args.no_reference_timing) if args.timing_pushes else None
    result["goals"] = goals(result["labelers"]["flow"], result["speed"])
    (out / "label_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "label_quality.md").write_text(markdown(result))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
