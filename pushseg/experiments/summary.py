"""``OUT/summary.md``: the headline numbers of every table run so far, against the paper and the goals.

Reads the specs' ``report.json`` files; a figure whose rows have not run says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pushseg import files

# (table, A, B, metric, the paper's difference, goal) -- the paper's values from paper.yaml
GAPS = [
    ("table1", "selfdeepmask-large", "pretrained-nms", "AP50", 80.0 - 71.4, 5.0,
     "SelfDeepMask (large) − pretrained + NMS"),
    ("table1", "coteaching-large", "pretrained-nms", "AP50", 80.9 - 71.4, None,
     "SelfDeepMask (large) + co-teaching − pretrained + NMS"),
    ("table1", "selfdeepmask-small", "framediff-small", "AP50", 76.8 - 71.2, None,
     "flow labels − frame differencing (small)"),
    ("table1", "selfdeepmask-large", "selfdeepmask-small", "AP50", 80.0 - 76.8, None, "large − small data"),
    ("table1", "episode-large", "selfdeepmask-large", "AP50", None, None,
     "episode labels − one mask per push (large)"),
    ("table1", "oracle-all-large", "selfdeepmask-large", "AP50", 84.7 - 80.0, None,
     "oracle all objects − SelfDeepMask (large)"),
    ("table2", "selfdeepmask-small", "no-prior-small", "AP50", 76.8 - 73.7, None, "cost of dropping the action prior"),
    ("table2", "selfdeepmask-small", "no-bootstrap-small", "AP50", 76.8 - 74.6, None,
     "cost of dropping bootstrapping"),
    ("table2", "no-bootstrap-small", "no-bootstrap-mask-head-small", "AP50", 74.6 - 71.9, None,
     "cost of also fine-tuning the mask head"),
    ("table2", "selfdeepmask-small", "no-table-filter-small", "AP50", 76.8 - 66.5, None,
     "cost of dropping the table filter"),
]
SHARES = [("table1", "selfdeepmask-large", "oracle-push-large", 47.5 / 53.1, 0.95),
          ("table1", "noise-none-large", "oracle-push-nobootstrap-large", None, None),
          ("table1", "coteaching-large", "oracle-push-nobootstrap-large", 51.9 / 53.1, None)]


def _fmt(x: float | None, sign: bool = True) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.1f}" if sign else f"{x:.1f}"


def _gap_closed(table1: dict[str, Any]) -> list[dict[str, Any]]:
    """(episode row − SelfDeepMask) / (oracle all objects − SelfDeepMask), from the bootstrap estimates.

    Only where the oracle's gap is itself established (interval above zero);
    otherwise the ratio would divide by noise.
    """
    comps = {(c["a"], c["b"]): c for c in table1.get("comparisons", [])}
    gap = comps.get(("oracle-all-large", "selfdeepmask-large"))
    out = []
    for a in ("episode-large", "episode-bootstrap-large"):
        gain = comps.get((a, "selfdeepmask-large"))
        if not gap or not gain:
            continue
        for metric in ("AP50", "AP"):
            g, d = gap.get(metric, {}).get("two_level"), gain.get(metric, {}).get("two_level")
            if not g or not d:
                continue
            share = d["estimate"] / g["estimate"] if g["low"] > 0 else None
            out.append({"a": a, "metric": metric, "share": share, "gain": d, "gap": g})
    return out


def write_summary(out: Path) -> Path | None:
    reports = {}
    for p in sorted(out.glob("*/report.json")):
        reports[p.parent.name] = json.loads(p.read_text())
    if not reports:
        return None
    lines = ["# Experiment summary", "",
             "Differences in AP points, mean over seeds; intervals: 95 % two-level bootstrap (seeds, and with them the "
             "test scenes, paired), the verdicts' interval.", "",
             "| comparison | metric | ours | 95 % interval | seeds | verdict | paper | goal |",
             "|---|---|---:|---:|---:|---|---:|---|"]
    data: dict[str, Any] = {"gaps": [], "shares": []}
    for table, a, b, metric, paper, goal, name in GAPS:
        rep = reports.get(table)
        comp = next((c for c in (rep or {}).get("comparisons", []) if c["a"] == a and c["b"] == b), None)
        x = (comp or {}).get(metric) or {}
        if "two_level" not in x:
            lines.append(f"| {name} | {metric} | not run | | | | {_fmt(paper)} | {'≥ +%g' % goal if goal else ''} |")
            continue
        ci = x["two_level"]
        met = ""
        if goal is not None:
            met = f"≥ +{goal:g}: " + ("met" if ci["estimate"] >= goal and ci["low"] > 0 else "missed")
        lines.append(f"| {name} | {metric} | {_fmt(ci['estimate'])} | [{_fmt(ci['low'])}, {_fmt(ci['high'])}] | "
                     f"{len(x['seeds']['seeds'])} | {x['verdict']} | {_fmt(paper)} | {met} |")
        piled = ((comp or {}).get("clutter") or {}).get("piled", {}).get(metric, {})
        if "two_level" in piled:  # the paper's claim is about cluttered scenes: the piled ones decide the goal
            pc = piled["two_level"]
            pmet = "" if goal is None else f"≥ +{goal:g}: " + ("met" if pc["estimate"] >= goal and pc["low"] > 0
                                                              else "missed")
            lines.append(f"| {name}, piled scenes | {metric} | {_fmt(pc['estimate'])} | [{_fmt(pc['low'])}, "
                         f"{_fmt(pc['high'])}] | {len(x['seeds']['seeds'])} | {piled['verdict']} | {_fmt(paper)} | "
                         f"{pmet} |")
        data["gaps"].append({"name": name, "a": a, "b": b, "metric": metric, "ours": ci, "paper": paper,
                             "goal": goal, "verdict": x["verdict"], "piled": piled.get("two_level")})
    lines += ["", "| share of oracle per push (AP@0.5:0.95) | ours | paper (of human-labelled) | goal |", "|---|---:|---:|---|"]
    for table, a, b, paper, goal in SHARES:
        s = next((x for x in (reports.get(table) or {}).get("shares", []) if x["a"] == a and x["b"] == b), None)
        share = s["share"] if s and s["share"] is not None and not math.isnan(s["share"]) else None
        met = "" if goal is None or share is None else (
            f"≥ {100 * goal:.0f} %: " + ("met" if share >= goal else "missed"))
        lines.append(f"| {a} | {_fmt(100 * share, False) + ' %' if share is not None else 'not run'} | "
                     f"{_fmt(100 * paper, False) + ' %' if paper else '–'} | {met} |")
        data["shares"].append({"a": a, "b": b, "ours": share, "paper": paper, "goal": goal})
    closed = _gap_closed(reports.get("table1") or {})
    if closed:
        lines += ["", "| share of the gap from SelfDeepMask (large) to oracle all objects that episode labels close "
                      "| metric | ours | goal |", "|---|---|---:|---|"]
        for c in closed:
            met = "–" if c["share"] is None else ("≥ 50 %: " + ("met" if c["share"] >= 0.5 else "missed"))
            g = c["gap"]
            ours = (f"{100 * c['share']:.0f} %" if c["share"] is not None else
                    f"no gap to close: oracle − SelfDeepMask {_fmt(g['estimate'])} [{_fmt(g['low'])}, {_fmt(g['high'])}]")
            lines.append(f"| {c['a']} | {c['metric']} | {ours} | {met} |")
        data["gap_closed"] = closed
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
    files.write_json_atomic(out / "summary.json", data)
    files.write_text_atomic(out / "summary.md", "\n".join(lines))
    return out / "summary.md"
