"""Aggregation and reports: the paper's tables with our numbers beside its own.

For each spec, ``OUT/<spec>/``:

* ``report.json`` -- per row: metrics per seed, mean ± std, chosen NMS, label quality;
  per comparison: paired differences over seeds (t interval) and a bootstrap
  interval over test scenes, with the verdict ("better" only where the
  bootstrap interval lies above zero); the paper's numbers.
* ``report.md`` -- the same as tables laid out like the paper's, and the plots:
  ``bars.png`` (mean ± std per row and metric, the paper's values as markers),
  ``labels.png`` (label quality per row), ``curve.png`` (Fig. 4).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pushseg import files
from pushseg.experiments import plots
from pushseg.experiments.operating_point import OperatingPoint
from pushseg.experiments.scene_ap import METRICS, ap_of, records_from_json
from pushseg.experiments.stats import mean_std, paired_over_seeds, two_level_ap, two_level_ap_difference, verdict

NAMES = {"AP50": "AP@0.5", "AP75": "AP@0.75", "AP": "AP@0.5:0.95"}


def paper_numbers() -> dict[str, Any]:
    return yaml.safe_load(resources.files("pushseg.experiments").joinpath("paper.yaml").read_text())


def _cells(out: Path, key: str, seeds: list[int]) -> dict[int, dict[str, Any]]:
    found = {}
    for s in seeds:
        path = out / "cells" / key / f"seed-{s}" / "done.json"
        if path.is_file():
            found[s] = json.loads(path.read_text())
    return found


def _records(out: Path, key: str, seeds: list[int], what: str = "test", step: int | None = None):
    recs = {}
    for s in seeds:
        path = out / "cells" / key / f"seed-{s}" / f"{what}.json"
        if path.is_file():
            d = json.loads(path.read_text())
            recs[s] = records_from_json(d["scenes"] if step is None else d["scenes"][step])
    return recs


def _clutter(out: Path, key: str, seeds: list[int]) -> list[str | None] | None:
    """The clutter level of each target-test scene, in record order (None: scenes without levels)."""
    for s in seeds:
        path = out / "cells" / key / f"seed-{s}" / "test.json"
        if path.is_file():
            levels = json.loads(path.read_text()).get("clutter")
            return levels if levels and any(levels) else None
    return None


def _subset(recs: dict[int, list], levels: list[str | None] | None, level: str | None) -> dict[int, list]:
    if level is None:
        return recs
    keep = [i for i, x in enumerate(levels or []) if x == level]
    return {s: [r[i] for i in keep] for s, r in recs.items()}


def level_names(levels: list[str | None] | None) -> list[str]:
    """The clutter levels present, in the order the scenes cycle through them."""
    return list(dict.fromkeys(x for x in (levels or []) if x))


def _difference(ra: dict[int, list], rb: dict[int, list], va: dict[int, float] | None,
                vb: dict[int, float] | None, profile) -> dict[str, Any]:
    """Row A minus row B on the same scenes: per metric the two-level interval (the verdict), the
    scene-only bootstrap and, given per-seed values, the paired t interval over seeds."""
    if not ra or not rb:
        return {m: {"verdict": "not measured"} for m in METRICS}
    boot = two_level_ap_difference(ra, rb, METRICS, n_boot=profile.bootstrap_samples, seed=0)
    out = {}
    for m in METRICS:
        x: dict[str, Any] = {"two_level": boot[m].interval.to_dict(), "bootstrap": boot[m].scenes.to_dict(),
                             "bootstrap_paired": True, "verdict": verdict(boot[m].interval)}
        if va and vb:
            x["seeds"] = paired_over_seeds({s: v[m] for s, v in va.items()}, {s: v[m] for s, v in vb.items()}).to_dict()
        out[m] = x
    return out


def _fmt(x: float | None, digits: int = 1, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _paper_cell(entry: list[float] | None) -> str:
    if not entry:
        return "–"
    return f"{entry[0]:.1f}" + (f" ± {entry[1]:.1f}" if len(entry) > 1 else "")


def _operating_points(out: Path, key: str, cells: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each finished cell's recorded choice; a cell scored without one is refused, loudly."""
    ops = {}
    for s, c in cells.items():
        where = f"cell {key}/seed-{s} ({out / 'cells' / key / f'seed-{s}' / 'done.json'})"
        op = OperatingPoint.from_record(c, where).to_dict()
        val = out / "cells" / key / f"seed-{s}" / "val.json"
        op["on_edge"] = json.loads(val.read_text()).get("on_edge", []) if val.is_file() else []
        ops[s] = op
    return ops


def _row(out: Path, v, seeds: list[int], paper: dict[str, Any], profile) -> dict[str, Any]:
    ss = seeds if v.trains else [0]
    cells = _cells(out, v.key, ss)
    errors = {s: (out / "cells" / v.key / f"seed-{s}" / "error.txt").read_text().strip().splitlines()[-1]
              for s in ss if (out / "cells" / v.key / f"seed-{s}" / "error.txt").is_file()}
    per_seed = {s: c["test"] for s, c in cells.items() if "test" in c}
    row: dict[str, Any] = {
        "key": v.key, "label": v.label, "paper_row": v.paper_row, "trains": v.trains, "seeds": per_seed,
        "failed": errors, "mean_std": {m: mean_std([x[m] for x in per_seed.values()]).__dict__ for m in METRICS},
        "paper": paper.get(v.paper_row) if v.paper_row else None,
        "operating_points": _operating_points(out, v.key, cells), "nms": {s: c["nms"] for s, c in cells.items()}}
    levels = _clutter(out, v.key, ss)
    if levels:
        recs = _records(out, v.key, ss)
        row["clutter"] = {lv: {m: mean_std([ap_of(r)[m] for r in _subset(recs, levels, lv).values()]).__dict__
                               for m in METRICS} for lv in level_names(levels)}
        row["clutter_scenes"] = {lv: levels.count(lv) for lv in level_names(levels)}
    labs = [c["labels"] for c in cells.values() if c.get("labels")]
    if labs:
        ious = [x["label_mean_iou"] for x in labs if x.get("label_mean_iou") is not None]
        row["labels"] = {"mean_iou": float(np.mean(ious)) if ious else None,
                         "train_images": float(np.mean([x["train_images"] for x in labs])),
                         "annotations": float(np.mean([x["annotations"] for x in labs])),
                         "pushes": float(np.mean([x["pushes"] for x in labs]))}
    real = _records(out, v.key, sorted(s for s, c in cells.items() if "real" in c), "real")
    if real:  # the real frames: measured at the row's operating point, intervals over seeds and frames
        boot = two_level_ap(real, METRICS, n_boot=profile.bootstrap_samples, seed=0)
        row["real"] = {m: {**mean_std([ap_of(r)[m] for r in real.values()]).__dict__,
                           "interval": boot[m].interval.to_dict()} for m in METRICS}
        row["real_frames"] = len(next(iter(real.values())))
    inter = {s: c["interactive"] for s, c in cells.items() if "interactive" in c}
    if inter:
        row["interactive"] = {m: [mean_std([inter[s][m][k] for s in inter]).__dict__
                                  for k in range(len(next(iter(inter.values()))[m]))] for m in METRICS}
        row["interactive_seeds"] = sorted(inter)
    return row


def aggregate(out: Path, spec, profile, seeds: list[int]) -> dict[str, Any]:
    paper = paper_numbers().get(spec.paper or "", {}) or {}
    rows = [_row(out, v, seeds, paper, profile) for v in spec.variants]
    by_key = {r["key"]: r for r in rows}
    comparisons = []
    for a, b in spec.comparisons:
        comp: dict[str, Any] = {"a": a, "b": b}
        if "test" in spec.evaluations:
            va, vb = spec.variant(a), spec.variant(b)
            ra, rb = _records(out, a, seeds if va.trains else [0]), _records(out, b, seeds if vb.trains else [0])
            comp.update(_difference(ra, rb, by_key[a]["seeds"], by_key[b]["seeds"], profile))
            levels = _clutter(out, a, seeds if va.trains else [0])
            if levels and ra and rb:
                comp["clutter"] = {lv: _difference(_subset(ra, levels, lv), _subset(rb, levels, lv), None, None, profile)
                                   for lv in level_names(levels)}
        comparisons.append(comp)
    shares = []
    for a, b in spec.shares:
        ma, mb = by_key[a]["mean_std"]["AP"]["mean"], by_key[b]["mean_std"]["AP"]["mean"]
        shares.append({"a": a, "b": b, "metric": "AP", "share": ma / mb if mb else None})
    result: dict[str, Any] = {"spec": spec.name, "title": spec.title, "profile": profile.to_dict(), "seeds": seeds,
                              "rows": rows, "comparisons": comparisons, "shares": shares}
    if "interactive" in spec.evaluations:
        result["interactive"] = _interactive_gains(out, spec, profile, seeds)
        result["paper_fig4"] = paper
    if spec.rank_by:
        ranked = sorted((r for r in rows if r["seeds"]), key=lambda r: -r["mean_std"][spec.rank_by]["mean"])
        result["ranking"] = {"metric": spec.rank_by, "order": [r["key"] for r in ranked],
                             "paper_order": [r["key"] for r in sorted(
                                 (r for r in rows if r["paper"]), key=lambda r: -r["paper"][spec.rank_by][0])]}
    return result


def _interactive_gains(out: Path, spec, profile, seeds: list[int]) -> dict[str, Any]:
    """Per variant: AP@0.5 after the last push minus before any push, resampling seeds and scenes."""
    gains = {}
    for v in spec.variants:
        ss = seeds if v.trains else [0]
        paths = [out / "cells" / v.key / f"seed-{s}" / "interactive.json" for s in ss]
        if not any(p.is_file() for p in paths):
            continue
        last = json.loads(next(p for p in paths if p.is_file()).read_text())["pushes"][-1]
        end = _records(out, v.key, ss, "interactive", last)
        start = _records(out, v.key, ss, "interactive", 0)
        boot = two_level_ap_difference(end, start, ["AP50"], n_boot=profile.bootstrap_samples, seed=0)["AP50"]
        gains[v.key] = {"pushes": last, "AP50_gain": boot.interval.to_dict(), "scenes": boot.scenes.to_dict(),
                        "paired": True, "verdict": verdict(boot.interval)}
    if not gains:
        return gains
    last = next(iter(gains.values()))["pushes"]
    for a, b in spec.comparisons:  # row against row, before any push and after the last one
        va, vb = spec.variant(a), spec.variant(b)
        if a not in gains or b not in gains:
            continue
        for step in (0, last):
            ra = _records(out, a, seeds if va.trains else [0], "interactive", step)
            rb = _records(out, b, seeds if vb.trains else [0], "interactive", step)
            boot = two_level_ap_difference(ra, rb, ["AP50"], n_boot=profile.bootstrap_samples, seed=0)["AP50"]
            gains.setdefault("comparisons", []).append(
                {"a": a, "b": b, "pushes": step, "AP50": boot.interval.to_dict(), "scenes": boot.scenes.to_dict(),
                 "paired": True, "verdict": verdict(boot.interval)})
    return gains


# -- markdown ---------------------------------------------------------------------------------


def _op_text(op: dict[str, Any]) -> str:
    nms = "off" if op["nms"] is None else f"{op['nms']:g}"
    edge = " (edge: " + ", ".join(op["on_edge"]) + ")" if op.get("on_edge") else ""
    return f"{op['pyramid']} / {nms}{edge}"


def _table(result: dict[str, Any]) -> list[str]:
    lines = ["| row | AP@0.5 | paper | AP@0.75 | paper | AP@0.5:0.95 | paper | seeds | label IoU | train images | "
             "pyramid / NMS (target-val) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        ms = r["mean_std"]
        cells = []
        for m in METRICS:
            x = ms[m]
            ours = "–" if x["n"] == 0 else (f"{x['mean']:.1f}" + (f" ± {x['std']:.1f}" if x["n"] > 1 else ""))
            cells += [ours, _paper_cell((r["paper"] or {}).get(m))]
        lab = r.get("labels") or {}
        ops = sorted({_op_text(op) for op in r["operating_points"].values()})
        note = f" (failed: {len(r['failed'])})" if r["failed"] else ""
        lines.append(f"| {r['label']}{note} | " + " | ".join(cells) + f" | {ms['AP']['n']} | "
                     f"{_fmt(lab.get('mean_iou'), 2)} | {_fmt(lab.get('train_images'), 0)} | {'; '.join(ops) or '–'} |")
    return lines


def _ms(x: dict[str, Any]) -> str:
    if x["n"] == 0:
        return "–"
    return f"{x['mean']:.1f}" + (f" ± {x['std']:.1f}" if x["n"] > 1 else "")


def _real_lines(result: dict[str, Any]) -> list[str]:
    rows = [r for r in result["rows"] if r.get("real")]
    if not rows:
        return []
    lines = ["## Real RGB-D frames (measured only; no choice or training on them)", "",
             f"{rows[0]['real_frames']} real frames, each row at the operating point it chose on simulated "
             "target-val. Mean over seeds [two-level 95 % interval over seeds and frames].", "",
             "| row | AP@0.5 | AP@0.5:0.95 | seeds |", "|---|---:|---:|---:|"]
    for r in rows:
        cells = []
        for m in ("AP50", "AP"):
            x = r["real"][m]
            cells.append(f"{x['mean']:.1f} [{_fmt(x['interval']['low'])}, {_fmt(x['interval']['high'])}]")
        lines.append(f"| {r['label']} | " + " | ".join(cells) + f" | {r['real']['AP']['n']} |")
    return lines + [""]


def _clutter_lines(result: dict[str, Any]) -> list[str]:
    """AP per clutter level of the test scenes, and each comparison's verdict per level."""
    rows = [r for r in result["rows"] if r.get("clutter")]
    if not rows:
        return []
    levels = list(rows[0]["clutter"])
    counts = rows[0]["clutter_scenes"]
    lines = ["## By clutter level of the test scenes", "",
             "Scenes: " + ", ".join(f"{lv} {counts[lv]}" for lv in levels) + ". AP@0.5 (AP@0.5:0.95), mean ± std "
             "over seeds.", "",
             "| row | " + " | ".join(levels) + " |", "|---|" + "---:|" * len(levels)]
    for r in rows:
        lines.append(f"| {r['label']} | " + " | ".join(
            f"{_ms(r['clutter'][lv]['AP50'])} ({_ms(r['clutter'][lv]['AP'])})" for lv in levels) + " |")
    labels = {r["key"]: r["label"] for r in result["rows"]}
    comps = [c for c in result["comparisons"] if c.get("clutter")]
    if comps:
        lines += ["", "A − B per level, AP@0.5: estimate [two-level 95 %] verdict", "",
                  "| A − B | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
        for c in comps:
            cells = []
            for lv in levels:
                x = c["clutter"][lv]["AP50"]
                iv = x.get("two_level")
                cells.append("–" if not iv else f"{_fmt(iv['estimate'], 1, True)} [{_fmt(iv['low'], 1, True)}, "
                                                f"{_fmt(iv['high'], 1, True)}] {x['verdict']}")
            lines.append(f"| {labels[c['a']]} − {labels[c['b']]} | " + " | ".join(cells) + " |")
    return lines + [""]


def _paper_difference(rows: dict[str, Any], a: str, b: str, metric: str) -> float | None:
    pa, pb = (rows[a].get("paper") or {}).get(metric), (rows[b].get("paper") or {}).get(metric)
    return pa[0] - pb[0] if pa and pb else None


def _agreement(paper: float | None, verdict_: str) -> str:
    """Does our verdict have the paper's sign? (The paper's own differences carry no interval.)"""
    if paper is None or verdict_ in ("not measured",):
        return ""
    if verdict_ == "no clear difference":
        return "not confirmed here" if abs(paper) >= 1 else "agrees (paper: small)"
    ours = 1 if verdict_ == "better" else -1
    return "agrees" if ours * paper > 0 else "**disagrees**"


def _comparison_lines(result: dict[str, Any]) -> list[str]:
    rows = {r["key"]: r for r in result["rows"]}
    lines = ["| A − B | metric | per seed, mean ± std | t 95 % over seeds | bootstrap 95 % over scenes | "
             "two-level 95 % (seeds and scenes) | verdict | paper | vs paper |",
             "|---|---|---:|---:|---:|---:|---|---:|---|"]
    for c in result["comparisons"]:
        name = f"{rows[c['a']]['label']} − {rows[c['b']]['label']}"
        for m in ("AP50", "AP"):
            x = c.get(m) or {}
            paper = _paper_difference(rows, c["a"], c["b"], m)
            if "two_level" not in x:
                lines.append(f"| {name} | {NAMES[m]} | – | – | – | – | not measured | {_fmt(paper, 1, True)} | |")
                continue
            s, b, t = x["seeds"], x["bootstrap"], x["two_level"]
            lines.append(
                f"| {name} | {NAMES[m]} | {_fmt(s['mean'], 1, True)} ± {_fmt(s['std'])} "
                f"(n={len(s['seeds'])}, {s['wins']} wins) | [{_fmt(s['interval']['low'], 1, True)}, "
                f"{_fmt(s['interval']['high'], 1, True)}] | [{_fmt(b['low'], 1, True)}, {_fmt(b['high'], 1, True)}] | "
                f"[{_fmt(t['low'], 1, True)}, {_fmt(t['high'], 1, True)}] | **{x['verdict']}** | "
                f"{_fmt(paper, 1, True)} | {_agreement(paper, x['verdict'])} |")
    return lines


def write_report(out: Path, spec, profile, seeds: list[int]) -> Path:
    result = aggregate(out, spec, profile, seeds)
    d = out / spec.name
    d.mkdir(parents=True, exist_ok=True)
    files.write_json_atomic(d / "report.json", result, default=str)
    pictures = plots.draw(result, d)
    n_test = profile.test_scenes
    lines = [f"# {result['title']}", "",
             f"Profile `{profile.name}`: {n_test} target-test and {profile.val_scenes} target-val scenes of "
             f"{profile.min_objects}-{profile.max_objects} novel objects ({profile.width}x{profile.height}); "
             f"data sizes small / large = {profile.episodes['small']} / {profile.episodes['large']} episodes x "
             f"{profile.pushes_per_episode} pushes; fine-tuning {profile.finetune.get('epochs')} epochs x "
             f"{profile.finetune.get('batches_per_epoch')} batches x {profile.finetune.get('batch_size')}; "
             f"seeds {', '.join(map(str, seeds))}. Operating point per row and seed chosen on target-val by "
             f"{NAMES[profile.select_metric]}: pyramid from {', '.join(profile.pyramid_grid or ['the model scales'])}; "
             f"NMS from {', '.join(f'{x:g}' for x in profile.nms_grid)} (a choice on a grid's edge is marked).", ""]
    if "test" in spec.evaluations:
        lines += ["## Mask AP on target-test (%), ours (mean ± std over seeds) beside the paper's", "",
                  *_table(result), "",
                  "The paper's numbers are on its 190 real test images; ours on simulated scenes. Rows that train "
                  "nothing (pretrained) do not depend on the seed and were run once.", "",
                  "## Comparisons", "",
                  "A claim of \"better\" needs the two-level interval to lie above zero: seeds resampled, and "
                  "with them the test scenes (the same resampled scenes for both rows and every seed), widened for "
                  "few seeds (pushseg.evaluation.bootstrap.two_level_bootstrap). Beside it: the paired t interval "
                  "over seeds and the bootstrap over scenes alone, which takes each trained model as fixed.", "",
                  *_comparison_lines(result), "", *_clutter_lines(result), *_real_lines(result)]
        for s in result["shares"]:
            share = s["share"] if s["share"] is not None and not math.isnan(s["share"]) else None
            lines.append(f"- {s['a']} as a share of {s['b']} ({NAMES[s['metric']]}): "
                         + (f"{100 * share:.1f} %" if share is not None else "not measured"))
        if "ranking" in result:
            rk = result["ranking"]
            lines += [f"- ranking by {NAMES[rk['metric']]}: {' > '.join(rk['order'])}",
                      f"- the paper's ranking: {' > '.join(rk['paper_order'])}"]
        lines.append("")
    if "interactive" in result:
        lines += ["## Interactive segmentation (Fig. 4): AP@0.5 after each push, mean ± std over seeds", ""]
        inter_rows = [r for r in result["rows"] if r.get("interactive")]
        if inter_rows:
            k = len(inter_rows[0]["interactive"]["AP50"])
            lines.append("| row | " + " | ".join(str(i) for i in range(k)) + " |")
            lines.append("|---|" + "---:|" * k)
            for r in inter_rows:
                lines.append(f"| {r['label']} | " + " | ".join(
                    f"{x['mean']:.1f}" + (f" ± {x['std']:.1f}" if x["n"] > 1 else "")
                    for x in r["interactive"]["AP50"]) + " |")
            lines.append("")
            for c in result["interactive"].get("comparisons", []):
                ci = c["AP50"]
                lines.append(f"- {c['a']} − {c['b']} after {c['pushes']} pushes: AP@0.5 {_fmt(ci['estimate'], 1, True)}"
                             f" [{_fmt(ci['low'], 1, True)}, {_fmt(ci['high'], 1, True)}] -> **{c['verdict']}**")
            for key, g in result["interactive"].items():
                if key == "comparisons":
                    continue
                ci = g["AP50_gain"]
                lines.append(f"- {key}: AP@0.5 after {g['pushes']} pushes minus before: {_fmt(ci['estimate'], 1, True)}"
                             f" [{_fmt(ci['low'], 1, True)}, {_fmt(ci['high'], 1, True)}] (paper: "
                             f"+{result['paper_fig4'].get('gain_after_pushes')}) -> **{g['verdict']}**")
            lines.append("")
    failed = {r["key"]: r["failed"] for r in result["rows"] if r["failed"]}
    if failed:
        lines += ["## Cells that failed", ""] + [f"- {k} seed {s}: {e}" for k, x in failed.items() for s, e in x.items()]
        lines.append("")
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in pictures] + [""]
    files.write_text_atomic(d / "report.md", "\n".join(lines))
    return d / "report.md"


def write_reports(out: Path, plan) -> list[str]:
    return [str(write_report(out, s, plan.profile, plan.seeds)) for s in plan.specs]
