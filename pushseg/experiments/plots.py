"""PNG plots of an aggregated spec (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pushseg import optional

METRICS = (("AP50", "AP@0.5"), ("AP75", "AP@0.75"), ("AP", "AP@0.5:0.95"))


PURPOSE = "experiment reports (their plots)"


def require() -> None:
    """Fail at once, not after hours of cells, when matplotlib is missing."""
    _plt()


def _plt():
    return optional.require("matplotlib.pyplot", PURPOSE)


def bars(result: dict[str, Any], path: Path) -> Path | None:
    rows = [r for r in result["rows"] if r["mean_std"]["AP"]["n"] > 0]
    if not rows:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.45 * len(rows) + 1.8), sharey=True)
    y = np.arange(len(rows))
    for ax, (m, name) in zip(axes, METRICS):
        mean = [r["mean_std"][m]["mean"] for r in rows]
        std = [r["mean_std"][m]["std"] for r in rows]
        ax.barh(y, mean, xerr=std, color="#4c72b0", alpha=0.85, capsize=3, label="ours (mean ± std)")
        py = [(i, r["paper"][m]) for i, r in enumerate(rows) if r.get("paper") and r["paper"].get(m)]
        if py:
            ax.errorbar([p[1][0] for p in py], [p[0] for p in py],
                        xerr=[p[1][1] if len(p[1]) > 1 else 0 for p in py], fmt="D", color="#dd8452",
                        capsize=3, label="paper")
        ax.set_title(name)
        ax.set_xlim(0, 100)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [r["label"] for r in rows])
    axes[0].invert_yaxis()
    axes[-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(result["title"])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def label_quality(result: dict[str, Any], path: Path) -> Path | None:
    rows = [r for r in result["rows"] if (r.get("labels") or {}).get("mean_iou") is not None]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.5))
    y = np.arange(len(rows))
    iou = [r["labels"]["mean_iou"] for r in rows]
    ax.barh(y, iou, color="#55a868")
    for i, r in enumerate(rows):
        ax.text(min(iou[i], 0.98), i, f" {r['labels']['train_images']:.0f} images", va="center", ha="right",
                fontsize=8, color="white")
    ax.set_yticks(y, [r["label"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("mean IoU of the training labels with the ground truth")
    ax.set_title("Label quality per row")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def curve(result: dict[str, Any], path: Path) -> Path | None:
    rows = [r for r in result["rows"] if r.get("interactive")]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        pts = r["interactive"]["AP50"]
        k = np.arange(len(pts))
        ax.errorbar(k, [p["mean"] for p in pts], yerr=[p["std"] for p in pts], marker="o", capsize=3,
                    label=f"{r['label']} (n={len(r.get('interactive_seeds', []))})")
    ax.set_xlabel("number of pushes")
    ax.set_ylabel("AP@0.5 (%)")
    ax.set_title("Interactive segmentation (Fig. 4)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def draw(result: dict[str, Any], out_dir: Path) -> list[Path]:
    made = [bars(result, out_dir / "bars.png"), label_quality(result, out_dir / "labels.png"),
            curve(result, out_dir / "curve.png")]
    return [p for p in made if p is not None]
