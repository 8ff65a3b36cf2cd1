"""PNG sheets a person can scan: one per push.

Tiles, left to right and top to bottom: before (push pixel and direction
drawn), after, flow in colour (hue = direction, brightness = speed, scaled to
the fastest pixel), the segments with the table greyed out, the chosen mask
over the before image, ground truth (when the run has it) and, in the title
bar, the verdict, score and IoU.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pushseg.data.images import write_image_file
from pushseg.labeling.flow import flow_to_color
from pushseg.labeling.labeler import LabelResult
from pushseg.types import Transition

TILE_W = 480
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _palette(n: int) -> np.ndarray:
    """Distinct colours for labels 1..n (0 = black), fixed for a given n."""
    rng = np.random.default_rng(12345)
    pal = rng.integers(60, 256, size=(n + 1, 3), dtype=np.uint8)
    pal[0] = 0
    return pal


def _tile(img: np.ndarray, title: str) -> np.ndarray:
    h, w = img.shape[:2]
    th = int(round(h * TILE_W / w))
    out = cv2.resize(img, (TILE_W, th), interpolation=cv2.INTER_AREA if w > TILE_W else cv2.INTER_NEAREST)
    out = np.ascontiguousarray(out)
    cv2.rectangle(out, (0, 0), (TILE_W, 22), (0, 0, 0), -1)
    cv2.putText(out, title, (6, 16), _FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _overlay(rgb: np.ndarray, mask: np.ndarray | None, color: tuple[int, int, int]) -> np.ndarray:
    out = rgb.copy()
    if mask is not None and mask.any():
        out[mask] = (0.5 * out[mask] + 0.5 * np.asarray(color)).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, color, 2)
    return out


def _draw_push(img: np.ndarray, t: Transition) -> np.ndarray:
    out = np.ascontiguousarray(img.copy())
    u, v = int(round(t.push.u)), int(round(t.push.v))
    s = max(1, img.shape[1] // 480)
    cv2.circle(out, (u, v), 6 * s, (255, 255, 0), 2 * s)
    return out


def render_sheet(t: Transition, res: LabelResult, iou: float | None = None, gt_mask: np.ndarray | None = None) -> np.ndarray:
    """One RGB sheet for one push (``res`` must come from ``label(..., keep=True)``)."""
    before, after = t.before.rgb, t.after.rgb
    h, w = before.shape[:2]
    blank = np.zeros_like(before)
    flow_img = flow_to_color(res.flow) if res.flow is not None else blank
    seg = res.segments if res.segments is not None else np.zeros((h, w), np.int32)
    seg_img = _palette(int(seg.max()))[seg]
    if res.table is not None:
        seg_img[res.table & (seg == 0)] = (60, 60, 60)
    if res.segment:
        seg_img[seg == res.segment] = (255, 255, 255)
    chosen = res.label.mask if res.label.mask is not None else res.candidate
    mask_img = _overlay(before, chosen, (0, 255, 0) if res.label.accepted else (255, 0, 0))
    gt_img = _overlay(before, gt_mask, (0, 160, 255)) if gt_mask is not None else blank
    verdict = "ACCEPTED" if res.label.accepted else f"REJECTED: {res.label.reason}"
    iou_txt = f"  IoU {iou:.2f}" if iou is not None else ""
    tiles = [
        _tile(_draw_push(before, t), f"before  {res.label.source}"),
        _tile(after, "after"),
        _tile(flow_img, f"flow (max {np.hypot(*res.flow.reshape(-1, 2).T).max():.0f} px)" if res.flow is not None else "no flow"),
        _tile(seg_img, f"segments: {int(seg.max())} (white: chosen)"),
        _tile(mask_img, f"{verdict}  score {res.label.score:.2f}{iou_txt}"),
        _tile(gt_img, "ground truth (pushed object)" if gt_mask is not None else "no ground truth"),
    ]
    rows = [np.hstack(tiles[i : i + 3]) for i in range(0, 6, 3)]
    return np.vstack(rows)


def write_sheet(path: str | Path, sheet: np.ndarray) -> Path:
    """Write a sheet (RGB) atomically; a full or read-only disk raises an error naming the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_image_file(path, sheet)


_TRACK_COLORS = [(255, 40, 40), (40, 255, 40), (255, 230, 0), (255, 0, 255), (0, 200, 255), (255, 140, 0),
                  (160, 80, 255), (255, 255, 255)]


def render_episode(images: list[np.ndarray], ep, episode: int) -> np.ndarray:
    """One sheet for one episode: each image (dimmed) with every mask it carries.

    One colour per source push; each mask is tagged p<push> on the push's own
    before image and p<push>+k / p<push>-k where it was carried k images.
    """
    tiles = []
    for i, rgb in enumerate(images):
        out = (rgb.astype(np.float32) * 0.55).astype(np.uint8)
        names = []
        for m in ep.images[i]:
            color = _TRACK_COLORS[m.push % len(_TRACK_COLORS)]
            out = _overlay(out, m.mask, color)
            tag = f"p{m.push}{m.steps:+d}" if m.steps else f"p{m.push}"
            names.append(tag)
            ys, xs = np.nonzero(m.mask)
            s = max(1, rgb.shape[1] // 480)
            cv2.putText(out, tag, (int(xs.mean()) - 10 * s, int(ys.min()) - 4 * s), _FONT, 0.5 * s, color, s, cv2.LINE_AA)
        tiles.append(_tile(out, f"e{episode} image {i}: {' '.join(names) or 'no masks'}"))
    while len(tiles) % 3:
        tiles.append(np.zeros_like(tiles[0]))
    return np.vstack([np.hstack(tiles[i : i + 3]) for i in range(0, len(tiles), 3)])
