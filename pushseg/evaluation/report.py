"""Pictures and tables a person reads: mask overlays, side-by-side grids, markdown AP tables."""

from __future__ import annotations

import colorsys
from typing import Any

import cv2
import numpy as np


def palette(n: int) -> list[tuple[int, int, int]]:
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.61803) % 1.0, 0.85, 1.0)) for i in range(n)]


def overlay(rgb: np.ndarray, detections: list, alpha: float = 0.5, title: str | None = None,
            show_scores: bool = True) -> np.ndarray:
    """RGB image with each detection's mask tinted, outlined and labelled with its score."""
    out = rgb.astype(np.float32).copy()
    colors = palette(len(detections))
    for d, col in zip(detections, colors):
        m = d.mask
        out[m] = (1 - alpha) * out[m] + alpha * np.array(col, np.float32)
    out = out.astype(np.uint8)
    for d, col in zip(detections, colors):
        cnts, _ = cv2.findContours(d.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, cnts, -1, col, 1)
        if show_scores and cnts:
            x, y, _, _ = cv2.boundingRect(max(cnts, key=cv2.contourArea))
            cv2.putText(out, f"{d.score:.2f}", (x, max(8, y - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, col, 1, cv2.LINE_AA)
    if title:
        cv2.rectangle(out, (0, 0), (out.shape[1], 14), (0, 0, 0), -1)
        cv2.putText(out, title, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = np.zeros((rows * h, columns * w, 3), np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, columns)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = cv2.resize(t, (w, h)) if t.shape[:2] != (h, w) else t
    return canvas


def ap_table(rows: dict[str, dict[str, Any]]) -> str:
    """{model name: metrics} -> a markdown table of AP@0.5, AP@0.75, AP@0.5:0.95."""
    lines = ["| model | AP@0.5 | AP@0.75 | AP@0.5:0.95 | detections |", "|---|---:|---:|---:|---:|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['AP50']:.1f} | {m['AP75']:.1f} | {m['AP']:.1f} | {m.get('detections', '')} |")
    return "\n".join(lines)
