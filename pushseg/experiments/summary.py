"""``OUT/summary.md``: the headline numbers of every table run so far, against the paper and the goals.

Reads the specs' ``report.json`` files; a figure whose rows have not run says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# (table, A, B, metric, the paper's difference, goal) -- the paper's values from paper.yaml
GAPS = [
    ("table1", "selfdeepmask-large", "pretrained-nms", "AP50", 80.0 - 71.4, 5.0,
     "SelfDeepMask (large) − pretrained + NMS"),
    ("table1", "coteaching-large", "pretrained-nms", "AP50", 80.9 - 71.4, None,
     "SelfDeepMask (large) + co-teaching − pretrained + NMS"),
    ("table1", "selfdeepmask-small", "framediff-small", "AP50", 76.8 - 71.2, None,
     "flow labels − frame differencing (small)"),
    ("table1", "selfdeepmask-large", "selfdeepmask-small", "AP50", 80.0 - 76.8, None, "large − small data"),
    ("table2", "selfdeepmask-small", "no-prior-small", "AP50", 76.8 - 73.7, None, "cost of dropping the action prior"),
    ("table2", "selfdeepmask-small", "no-bootstrap-small", "AP50", 76.8 - 74.6, None,
     "cost of dropping bootstrapping"),
    ("table2", "no-bootstrap-small", "no-bootstrap-mask-head-small", "AP50", 74.6 - 71.9, None,
     "cost of also fine-tuning the mask head"),
    ("table2", "selfdeepmask-small", "no-table-filter-small", "AP50", 76.8 - 66.5, None,
     "cost of dropping the table filter"),
]
SHARES = [("table1", "selfdeepmask-large", "oracle-push-large", 47.5 / 53.1, 0.95),
          ("table1", "coteaching-large", "oracle-push-large", 51.9 / 53.1, 0.95)]


def _fmt(x: float | None, sign: bool = True) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.1f}" if sign else f"{x:.1f}"


def write_summary(out: Path) -> Path | None:
    reports = {}
    for p in sorted(out.glob("*/report.json")):
        reports[p.parent.name] = json.loads(p.read_text())
    if not reports:
        return None
    lines = ["# Experiment summary", "",
             "Differences in AP points; intervals: 95 % bootstrap over test scenes (paired), mean over seeds.", "",
             "| comparison | metric | ours | 95 % interval | seeds | verdict | paper | goal |",
             "|---|---|---:|---:|---:|---|---:|---|"]
    data: dict[str, Any] = {"gaps": [], "shares": []}
    for table, a, b, metric, paper, goal, name in GAPS:
        rep = reports.get(table)
        comp = next((c for c in (rep or {}).get("comparisons", []) if c["a"] == a and c["b"] == b), None)
        x = (comp or {}).get(metric) or {}
        if "bootstrap" not in x:
            lines.append(f"| {name} | {metric} | not run | | | | {_fmt(paper)} | {'≥ +%g' % goal if goal else ''} |")
            continue
        ci = x["bootstrap"]
        met = ""
        if goal is not None:
            met = f"≥ +{goal:g}: " + ("met" if ci["estimate"] >= goal and ci["low"] > 0 else "missed")
        lines.append(f"| {name} | {metric} | {_fmt(ci['estimate'])} | [{_fmt(ci['low'])}, {_fmt(ci['high'])}] | "
                     f"{len(x['seeds']['seeds'])} | {x['verdict']} | {_fmt(paper)} | {met} |")
        data["gaps"].append({"name": name, "a": a, "b": b, "metric": metric, "ours": ci, "paper": paper,
                             "goal": goal, "verdict": x["verdict"]})
    lines += ["", "| share of oracle per push (AP@0.5:0.95) | ours | paper (of human-labelled) | goal |", "|---|---:|---:|---|"]
    for table, a, b, paper, goal in SHARES:
        s = next((x for x in (reports.get(table) or {}).get("shares", []) if x["a"] == a and x["b"] == b), None)
        share = s["share"] if s and s["share"] is not None and not math.isnan(s["share"]) else None
        met = "" if goal is None or share is None else (
            f"≥ {100 * goal:.0f} %: " + ("met" if share >= goal else "missed"))
        lines.append(f"| {a} | {_fmt(100 * share, False) if share is not None else 'not run'} % | "
                     f"{100 * paper:.1f} % | {met} |")
        data["shares"].append({"a": a, "b": b, "ours": share, "paper": paper, "goal": goal})
    if "table3" in reports and "ranking" in reports["table3"]:
        rk = reports["table3"]["ranking"]
        lines += ["", f"Table III ranking by {rk['metric']}: ours {' > '.join(rk['order'])}; "
                      f"paper {' > '.join(rk['paper_order'])}."]
        data["table3_ranking"] = rk
    if "fig4" in reports:
        for key, g in reports["fig4"].get("interactive", {}).items():
            if key == "comparisons":
                continue
            ci = g["AP50_gain"]
            lines.append(f"\nFig. 4, {key}: AP@0.5 after {g['pushes']} pushes − before: {_fmt(ci['estimate'])} "
                         f"[{_fmt(ci['low'])}, {_fmt(ci['high'])}], {g['verdict']} (paper: +23.7 for SelfDeepMask).")
        data["fig4"] = reports["fig4"].get("interactive", {})
    lines += ["", "Per table: " + ", ".join(f"[{k}]({k}/report.md)" for k in reports), ""]
    (out / "summary.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "summary.md").write_text("\n".join(lines))
    return out / "summary.md"
