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
from pushseg.experiments.scene_ap import METRICS, records_from_json
from pushseg.experiments.stats import bootstrap_ap_difference, mean_std, paired_over_seeds, verdict

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


def _fmt(x: float | None, digits: int = 1, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _paper_cell(entry: list[float] | None) -> str:
    if not entry:
        return "–"
    return f"{entry[0]:.1f}" + (f" ± {entry[1]:.1f}" if len(entry) > 1 else "")


def aggregate(out: Path, spec, profile, seeds: list[int]) -> dict[str, Any]:
    paper = paper_numbers().get(spec.paper or "", {}) or {}
    rows = []
    for v in spec.variants:
        cells = _cells(out, v.key, seeds if v.trains else [0])
        errors = {s: (out / "cells" / v.key / f"seed-{s}" / "error.txt").read_text().strip().splitlines()[-1]
                  for s in (seeds if v.trains else [0])
                  if (out / "cells" / v.key / f"seed-{s}" / "error.txt").is_file()}
        per_seed = {s: c["test"] for s, c in cells.items() if "test" in c}
        row = {"key": v.key, "label": v.label, "paper_row": v.paper_row, "trains": v.trains,
               "seeds": per_seed, "failed": errors,
               "mean_std": {m: mean_std([x[m] for x in per_seed.values()]).__dict__ for m in METRICS},
               "paper": paper.get(v.paper_row) if v.paper_row else None,
               "nms": {s: c["nms"] for s, c in cells.items()}}
        labs = [c["labels"] for c in cells.values() if c.get("labels")]
        if labs:
            ious = [x["label_mean_iou"] for x in labs if x.get("label_mean_iou") is not None]
            row["labels"] = {"mean_iou": float(np.mean(ious)) if ious else None,
                             "train_images": float(np.mean([x["train_images"] for x in labs])),
                             "annotations": float(np.mean([x["annotations"] for x in labs])),
                             "pushes": float(np.mean([x["pushes"] for x in labs]))}
        inter = {s: c["interactive"] for s, c in cells.items() if "interactive" in c}
        if inter:
            row["interactive"] = {m: [mean_std([inter[s][m][k] for s in inter]).__dict__
                                      for k in range(len(next(iter(inter.values()))[m]))] for m in METRICS}
            row["interactive_seeds"] = sorted(inter)
        rows.append(row)
    by_key = {r["key"]: r for r in rows}
    comparisons = []
    for a, b in spec.comparisons:
        comp: dict[str, Any] = {"a": a, "b": b}
        if "test" in spec.evaluations:
            ra, rb = _records(out, a, seeds), _records(out, b, seeds)
            for m in METRICS:
                va = {s: x[m] for s, x in by_key[a]["seeds"].items()}
                vb = {s: x[m] for s, x in by_key[b]["seeds"].items()}
                if not va or not vb:
                    comp[m] = {"verdict": "not measured"}
                    continue
                paired = paired_over_seeds(va, vb)
                ci, is_paired = bootstrap_ap_difference(ra, rb, m, n_boot=profile.bootstrap_samples, seed=0)
                comp[m] = {"seeds": paired.to_dict(), "bootstrap": ci.to_dict(), "bootstrap_paired": is_paired,
                           "verdict": verdict(ci)}
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
    """Per variant: AP@0.5 after the last push minus before any push, with a paired bootstrap over scenes."""
    gains = {}
    for v in spec.variants:
        path0 = [out / "cells" / v.key / f"seed-{s}" / "interactive.json" for s in (seeds if v.trains else [0])]
        if not any(p.is_file() for p in path0):
            continue
        last = json.loads(next(p for p in path0 if p.is_file()).read_text())["pushes"][-1]
        ss = seeds if v.trains else [0]
        end = _records(out, v.key, ss, "interactive", last)
        start = _records(out, v.key, ss, "interactive", 0)
        ci, paired = bootstrap_ap_difference(end, start, "AP50", n_boot=profile.bootstrap_samples, seed=0)
        gains[v.key] = {"pushes": last, "AP50_gain": ci.to_dict(), "paired": paired, "verdict": verdict(ci)}
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
            ci, paired = bootstrap_ap_difference(ra, rb, "AP50", n_boot=profile.bootstrap_samples, seed=0)
            gains.setdefault("comparisons", []).append(
                {"a": a, "b": b, "pushes": step, "AP50": ci.to_dict(), "paired": paired, "verdict": verdict(ci)})
    return gains


# -- markdown ---------------------------------------------------------------------------------


def _table(result: dict[str, Any]) -> list[str]:
    lines = ["| row | AP@0.5 | paper | AP@0.75 | paper | AP@0.5:0.95 | paper | seeds | label IoU | train images | NMS |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        ms = r["mean_std"]
        cells = []
        for m in METRICS:
            x = ms[m]
            ours = "–" if x["n"] == 0 else (f"{x['mean']:.1f}" + (f" ± {x['std']:.1f}" if x["n"] > 1 else ""))
            cells += [ours, _paper_cell((r["paper"] or {}).get(m))]
        lab = r.get("labels") or {}
        nms = sorted({("off" if x is None else f"{x:g}") for x in r["nms"].values()})
        note = f" (failed: {len(r['failed'])})" if r["failed"] else ""
        lines.append(f"| {r['label']}{note} | " + " | ".join(cells) + f" | {ms['AP']['n']} | "
                     f"{_fmt(lab.get('mean_iou'), 2)} | {_fmt(lab.get('train_images'), 0)} | {', '.join(nms) or '–'} |")
    return lines


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
    lines = ["| A − B | metric | per seed, mean ± std | t 95 % over seeds | bootstrap 95 % over scenes | verdict | "
             "paper | vs paper |", "|---|---|---:|---:|---:|---|---:|---|"]
    for c in result["comparisons"]:
        name = f"{rows[c['a']]['label']} − {rows[c['b']]['label']}"
        for m in ("AP50", "AP"):
            x = c.get(m) or {}
            paper = _paper_difference(rows, c["a"], c["b"], m)
            if "seeds" not in x:
                lines.append(f"| {name} | {NAMES[m]} | – | – | – | not measured | {_fmt(paper, 1, True)} | |")
                continue
            s, b = x["seeds"], x["bootstrap"]
            lines.append(
                f"| {name} | {NAMES[m]} | {_fmt(s['mean'], 1, True)} ± {_fmt(s['std'])} "
                f"(n={len(s['seeds'])}, {s['wins']} wins) | [{_fmt(s['interval']['low'], 1, True)}, "
                f"{_fmt(s['interval']['high'], 1, True)}] | [{_fmt(b['low'], 1, True)}, {_fmt(b['high'], 1, True)}]"
                f"{'' if x['bootstrap_paired'] else ' (unpaired)'} | **{x['verdict']}** | {_fmt(paper, 1, True)} | "
                f"{_agreement(paper, x['verdict'])} |")
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
             f"seeds {', '.join(map(str, seeds))}. NMS threshold per row chosen on target-val by "
             f"{NAMES[profile.select_metric]} from {', '.join(f'{x:g}' for x in profile.nms_grid)}.", ""]
    if "test" in spec.evaluations:
        lines += ["## Mask AP on target-test (%), ours (mean ± std over seeds) beside the paper's", "",
                  *_table(result), "",
                  "The paper's numbers are on its 190 real test images; ours on simulated scenes. Rows that train "
                  "nothing (pretrained) do not depend on the seed and were run once.", "",
                  "## Comparisons", "",
                  "A claim of \"better\" needs the bootstrap interval over test scenes (paired: the same resampled "
                  "scenes for both rows, averaged over seeds) to lie above zero.", "",
                  *_comparison_lines(result), ""]
        for s in result["shares"]:
            lines.append(f"- {s['a']} as a share of {s['b']} ({NAMES[s['metric']]}): "
                         f"{_fmt(100 * s['share'] if s['share'] is not None else None)} %")
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
