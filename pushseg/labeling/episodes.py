"""Episode labels: every accepted mask carried through the images of its push episode.

The paper keeps one mask per push, on that push's before image. An episode
knows more: an object stays where it is until a push moves it, so the mask a
push made is also valid on the episode's other images, as long as nothing
disturbed the object in between.

Images of an episode: the before image of each push, then the last push's
after image (collection observes once between pushes, so push j's after image
is push j+1's before image). Push j leads from image j to image j+1.

For every push j the motion between its two images is measured once: optical
flow both ways on the colour-matched pair (photometric.py), the head shift
(phase correlation), and the *disturbed region*: pixels above the table that
moved away (forward flow), that something moved onto (backward flow, on the
after image) or whose colour changed, all relative to the head shift.

A mask on image j is then carried across push j:
- **undisturbed** (under ``episode_disturbed_frac`` of it in the disturbed
  region): it stays, moved only by the head shift;
- **pushed by j** (push j's own accepted label overlaps it with IoU >= 0.5):
  it is the same object, and push j's label takes over from here;
- **moved as a whole** (nearly all of it moves, rigidly, by the flow): it is
  warped into image j+1 along the backward flow, and refined as the labeler
  refines a mask (pixels on the table of the after depth removed, holes
  filled, the largest part kept);
- otherwise it is **dropped** from image j+1 on, with the reason:
  ``occluded`` (something moved onto it), ``moved_not_rigidly`` (it moved
  partly or turned), ``left_view`` (the warp takes a share of it outside the
  image), ``deformed`` (the warped mask's area changed too much for a rigid
  object seen from the same head), ``too_small``.

A label is also carried backwards, to the images before its push, while
nothing disturbed it there; a disturbance stops it (``moved_earlier``).

On each image the masks are then made consistent: masks with IoU >= 0.5 are
one object seen by two pushes (the one carried fewer steps is kept,
``duplicate``); a mask overlapping a kept one by more than
``episode_overlap_frac`` of the smaller is dropped (``overlap``); a smaller
overlap is trimmed from the mask carried further. Output masks never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
from scipy import ndimage as ndi

from pushseg.labeling import baselines, metric, photometric, table
from pushseg.labeling.config import LabelConfig, scaled
from pushseg.labeling.flow import flow_magnitude
from pushseg.labeling.labeler import Labeler, LabelResult
from pushseg.labeling.report import best_match
from pushseg.types import Push, Transition

SAME_OBJECT_IOU = 0.5
DROP_REASONS = ("occluded", "moved_not_rigidly", "left_view", "deformed", "too_small", "moved_earlier", "overlap")


@dataclass
class EpisodeMask:
    """One object's mask on one image of the episode."""

    mask: np.ndarray  # (H, W) bool
    push: int  # step of the push whose label it comes from
    steps: int  # images from that push's before image: 0 = its own label, >0 carried forward, <0 backward
    score: float  # the source label's quality score
    track: int  # one id per source label

    @property
    def carried(self) -> bool:
        return self.steps != 0


@dataclass(frozen=True)
class Drop:
    push: int  # the source label's push
    image: int  # the first image the mask did not reach
    reason: str


@dataclass
class EpisodeLabels:
    images: list[list[EpisodeMask]]  # per image 0..K, masks that never overlap
    drops: list[Drop]
    results: list[LabelResult | None]  # each push's own labeller result (None: push not executed)
    duplicates: int = 0


@dataclass
class Motion:
    """What push j did between image j and image j+1."""

    backward: np.ndarray  # (H, W, 2) flow from image j+1 to image j, head shift included
    forward: np.ndarray  # (H, W, 2) flow from image j to image j+1, head shift included
    shift: tuple[float, float]  # head shift (dx, dy) from image j to image j+1
    disturbed: np.ndarray  # (H, W) bool, pixels disturbed by the push
    arrived: np.ndarray  # (H, W) bool, pixels something moved onto (after image)
    left: np.ndarray  # (H, W) bool, pixels that moved away (before image)
    after_table: np.ndarray | None  # (H, W) bool, table in the after depth
    transition: Transition | None = None
    after_rgb: np.ndarray | None = None  # the after image with the before image's colours


def transition_motion(labeler: Labeler, t: Transition) -> Motion:
    cfg = labeler.cfg
    before, after = t.before.rgb, t.after.rgb
    h, w = before.shape[:2]
    sc = scaled(cfg, w, h)
    if cfg.normalize_colours:
        after, _ = photometric.match_colors(before, after)
    dx = dy = 0.0
    if cfg.align_head_shift:
        ex, ey, gain = photometric.global_shift(before, after)
        turn = metric.angle_scale(t.before.camera)  # head shifts are turns of the camera (config.py)
        if cfg.min_head_shift_px * turn <= np.hypot(ex, ey) <= cfg.max_head_shift_px * turn and gain >= 0.2:
            dx, dy = ex, ey
    assert labeler.flow is not None, "episode labels need a flow labeler"
    fwd = labeler.flow(before, after)
    bwd = labeler.flow(after, before)
    thr = sc.motion_threshold_px
    left = flow_magnitude(fwd - np.float32([dx, dy])) > thr
    arrived = flow_magnitude(bwd + np.float32([dx, dy])) > thr
    before_table = after_table = None
    if cfg.use_table_filter and t.before.depth is not None:
        plane = table.fit_plane(t.before.camera, t.before.depth, cfg)
        before_table = table.table_mask(t.before.camera, t.before.depth, cfg, plane)
        if t.after.depth is not None and np.isfinite(t.after.depth).any():
            after_table = table.table_mask(t.after.camera, t.after.depth, cfg, plane)
    if before_table is not None:
        left &= ~before_table
    if after_table is not None:
        arrived &= ~after_table
    aligned = photometric.shift_image(after, dx, dy) if (dx or dy) else after
    changed = baselines.changed_mask(before, aligned, cfg, sc)
    if before_table is not None:
        changed &= ~before_table
    disturbed = left | arrived | changed
    return Motion(bwd, fwd, (dx, dy), disturbed, arrived, left, after_table, t, after)


# -- carrying one mask across one push --------------------------------------------------------------


def _shifted(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    if not (dx or dy):
        return mask
    M = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    h, w = mask.shape
    return cv2.warpAffine(mask.astype(np.uint8), M, (w, h), flags=cv2.INTER_NEAREST) > 0


def _warp(mask: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """The mask in the next image: pixel q takes the mask value at q + backward(q)."""
    h, w = mask.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask.astype(np.uint8), gx + backward[..., 0], gy + backward[..., 1], cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0


def _refine(mask: np.ndarray, table_mask: np.ndarray | None) -> np.ndarray:
    """As the labeler refines a mask: off the table, holes filled, the largest connected part."""
    if table_mask is not None:
        mask = mask & ~table_mask
    if not mask.any():
        return mask
    parts, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    if n > 1:
        sizes = np.bincount(parts.ravel())
        sizes[0] = 0
        mask = parts == int(np.argmax(sizes))
    return ndi.binary_fill_holes(mask)


def carry_forward(
    mask: np.ndarray, motion: Motion, cfg: LabelConfig, min_area: float, labeler: Labeler | None = None
) -> tuple[np.ndarray | None, str]:
    """(the mask on the next image, "") or (None, reason) for a mask not moved by the push's own label."""
    area = int(mask.sum())
    disturbed = int((mask & motion.disturbed).sum())
    if disturbed <= cfg.episode_disturbed_frac * area:
        return _shifted(mask, *motion.shift), ""
    moved = motion.left[mask]
    if moved.mean() < 1.0 - cfg.episode_disturbed_frac:
        # Part of it stayed: when most of it stayed and something arrived over
        # it, it was covered; else it moved only in part (turned, toppled).
        covered = bool((mask & motion.arrived).any())
        return None, "occluded" if covered and moved.mean() < 0.5 else "moved_not_rigidly"
    f = motion.forward[mask] - np.float32(motion.shift)
    mag = flow_magnitude(f)
    sc = scaled(cfg, mask.shape[1], mask.shape[0])
    if float(mag.std()) > sc.rotation_std_px:
        return None, "moved_not_rigidly"
    return warp_moved(mask, motion, cfg, min_area, labeler)


def warp_moved(
    mask: np.ndarray, motion: Motion, cfg: LabelConfig, min_area: float, labeler: Labeler | None = None
) -> tuple[np.ndarray | None, str]:
    """A mask whose object the push moved, into the next image: flow warp refined by the labeler's segmentation.

    The warp along the backward flow finds where the object went (DIS
    underestimates long motions of weakly textured objects, so the warp alone
    can fall short); the labeler, run on the reversed pair (after image first,
    its depth for the table filter) with the warped mask's inner point as the
    push pixel, then cuts the object out of the after image. Its segment is
    taken when it overlaps the warp and keeps the object's area; else the warp.
    """
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    tx = xs + motion.forward[ys, xs, 0]
    ty = ys + motion.forward[ys, xs, 1]
    outside = float(((tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)).mean()) if len(xs) else 1.0
    if outside > cfg.episode_left_view_frac:
        return None, "left_view"
    warped = _refine(_warp(mask, motion.backward), motion.after_table)
    a0 = int(mask.sum())
    lo, hi = 1.0 / cfg.episode_max_area_change, cfg.episode_max_area_change
    if motion.transition is not None and not (lo <= warped.sum() / max(a0, 1) <= hi):
        # The flow lost the object (it moved further than DIS follows): find it by its looks.
        d = _locate(mask, motion.transition.before.rgb, motion.after_rgb, int(round(cfg.episode_search_px * np.sqrt(h * w / (960 * 540)))))
        if d is not None:
            warped = _refine(_shifted(mask, *d), motion.after_table)
    if labeler is not None and warped.any() and motion.transition is not None:
        seg = _segment_in_after(warped, motion, labeler)
        if seg is not None and iou(seg, warped) >= 0.25 and lo <= seg.sum() / max(a0, 1) <= hi:
            warped = seg
    a1 = int(warped.sum())
    if a1 < min_area:
        return None, "too_small"
    if not (lo <= a1 / max(a0, 1) <= hi):
        return None, "deformed"
    return warped, ""


def _locate(mask: np.ndarray, before: np.ndarray, after: np.ndarray, radius: int) -> tuple[float, float] | None:
    """Where the masked object of the before image went in the after image: (dx, dy), by masked template matching."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    h, w = mask.shape
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sy0, sy1 = max(0, y0 - radius), min(h, y1 + radius)
    sx0, sx1 = max(0, x0 - radius), min(w, x1 + radius)
    templ = before[y0:y1, x0:x1]
    tmask = mask[y0:y1, x0:x1].astype(np.uint8)
    search = after[sy0:sy1, sx0:sx1]
    if search.shape[0] < templ.shape[0] or search.shape[1] < templ.shape[1]:
        return None
    res = cv2.matchTemplate(search, templ, cv2.TM_SQDIFF, mask=cv2.merge([tmask] * 3))
    _, _, (bx, by), _ = cv2.minMaxLoc(res)
    return float(sx0 + bx - x0), float(sy0 + by - y0)


def _segment_in_after(warped: np.ndarray, motion: Motion, labeler: Labeler) -> np.ndarray | None:
    t = motion.transition
    assert t is not None
    # The mask pixel deepest inside it: a push pixel that surely lies on the object.
    dist = cv2.distanceTransform(np.pad(warped, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    v, u = np.unravel_index(int(np.argmax(dist)), dist.shape)
    res = labeler.label(t.after.rgb, t.before.rgb, t.after.depth, t.after.camera, Push(float(u), float(v), 0.0, 0.0))
    return res.label.mask if res.label.accepted else None


# -- one episode --------------------------------------------------------------------------------------


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = int((a & b).sum())
    return inter / max(int((a | b).sum()), 1)


def label_episode(transitions: Sequence[Transition], labeler: Labeler) -> EpisodeLabels:
    """Episode labels for the pushes of one episode, in step order."""
    cfg = labeler.cfg
    k = len(transitions)
    if k == 0:
        return EpisodeLabels(images=[[]], drops=[], results=[])
    h, w = transitions[0].before.rgb.shape[:2]
    min_area = scaled(cfg, w, h).min_area_px
    results: list[LabelResult | None] = []
    motions: list[Motion] = []
    for t in transitions:
        results.append(labeler.label_transition(t) if t.result.executed else None)
        motions.append(transition_motion(labeler, t))
    own = [r.label.mask if r is not None and r.label.accepted else None for r in results]
    candidates: list[list[EpisodeMask]] = [[] for _ in range(k + 1)]
    drops: list[Drop] = []
    for j, mask in enumerate(own):
        if mask is None:
            continue
        score = results[j].label.score  # type: ignore[union-attr]
        candidates[j].append(EpisodeMask(mask, j, 0, score, j))
        # Forward: across push j (the object was pushed: warp), then while it lasts.
        cur, reason = warp_moved(mask, motions[j], cfg, min_area, labeler)
        i = j + 1
        while cur is not None:
            candidates[i].append(EpisodeMask(cur, j, i - j, score, j))
            if i == k:
                break
            nxt = own[i]
            if nxt is not None and iou(nxt, cur) >= SAME_OBJECT_IOU:
                reason = ""  # pushed again: push i's own label carries the object from here
                break
            cur, reason = carry_forward(cur, motions[i], cfg, min_area, labeler)
            i += 1
        if reason:
            drops.append(Drop(j, i, reason))
        # Backward: to earlier images while nothing disturbed it.
        cur = mask
        i = j
        while i > 0:
            m = motions[i - 1]
            if int((cur & m.disturbed).sum()) > cfg.episode_disturbed_frac * cur.sum():
                drops.append(Drop(j, i - 1, "moved_earlier"))
                break
            cur = _shifted(cur, -m.shift[0], -m.shift[1])
            i -= 1
            candidates[i].append(EpisodeMask(cur, j, i - j, score, j))
    images: list[list[EpisodeMask]] = []
    duplicates = 0
    for i, cands in enumerate(candidates):
        kept, dups, dropped = resolve(cands, cfg, min_area)
        duplicates += dups
        drops += [Drop(c.push, i, reason) for c, reason in dropped]
        images.append(kept)
    return EpisodeLabels(images=images, drops=drops, results=results, duplicates=duplicates)


def resolve(cands: list[EpisodeMask], cfg: LabelConfig, min_area: float) -> tuple[list[EpisodeMask], int, list]:
    """Masks of one image made consistent; returns (kept, duplicates, [(mask, reason) dropped])."""
    order = sorted(cands, key=lambda c: (abs(c.steps), c.push))
    kept: list[EpisodeMask] = []
    dropped: list[tuple[EpisodeMask, str]] = []
    dups = 0
    for c in order:
        mask = c.mask
        reason = ""
        for other in kept:
            inter = int((mask & other.mask).sum())
            if not inter:
                continue
            if iou(mask, other.mask) >= SAME_OBJECT_IOU:
                reason = "duplicate"
                break
            if inter > cfg.episode_overlap_frac * min(int(mask.sum()), int(other.mask.sum())):
                reason = "overlap"
                break
            mask = mask & ~other.mask
        if reason == "duplicate":
            dups += 1
            continue
        if not reason and mask.sum() < min_area:
            reason = "too_small"
        if reason:
            dropped.append((c, reason))
            continue
        kept.append(EpisodeMask(mask, c.push, c.steps, c.score, c.track))
    kept.sort(key=lambda c: (c.push, c.steps))
    return kept, dups, dropped


# -- measuring against simulation ground truth ----------------------------------------------------------


def assess_episode(
    labels: EpisodeLabels, gt_images: Sequence[np.ndarray | None], min_visible_px: float
) -> list[dict[str, Any]]:
    """Per image: each mask's IoU with the object its source label covers, and the objects left unlabelled.

    The object a mask stands for is the ground-truth object its source label
    overlaps best on the source push's before image.
    """

    source_obj: dict[int, int] = {}
    for img_masks, gt in zip(labels.images, gt_images):
        if gt is None:
            continue
        for m in img_masks:
            if m.steps == 0:
                source_obj[m.track] = best_match(m.mask, gt).instance_id
    rows = []
    for i, (img_masks, gt) in enumerate(zip(labels.images, gt_images)):
        row: dict[str, Any] = {"image": i, "masks": len(img_masks)}
        anns = []
        covered = set()
        for m in img_masks:
            a: dict[str, Any] = {"push": m.push, "steps": m.steps, "score": round(m.score, 4)}
            if gt is not None:
                obj = source_obj.get(m.track, 0)
                a["gt_id"] = obj
                a["iou"] = round(iou(m.mask, gt == obj), 4) if obj else 0.0
                best = best_match(m.mask, gt)
                if best.iou >= 0.5:
                    covered.add(best.instance_id)
            anns.append(a)
        row["annotations"] = anns
        if gt is not None:
            ids, counts = np.unique(gt[gt > 0], return_counts=True)
            visible = {int(o) for o, c in zip(ids, counts) if c >= min_visible_px}
            row["objects"] = len(visible)
            row["labelled_objects"] = len(covered & visible)
            row["unlabelled"] = len(visible - covered)
        rows.append(row)
    return rows


def summarize_episodes(image_rows: list[dict[str, Any]], pushes: int, drops: dict[str, int]) -> dict[str, Any]:
    n = len(image_rows)
    anns = [a for r in image_rows for a in r["annotations"]]
    out: dict[str, Any] = {
        "images": n,
        "pushes": pushes,
        "masks": len(anns),
        "masks_per_image": len(anns) / n if n else 0.0,
        "labels_per_push": len(anns) / pushes if pushes else 0.0,
        "dropped": dict(sorted(drops.items())),
    }
    judged = [a for a in anns if "iou" in a]
    if judged:
        carried = [a for a in judged if a["steps"] != 0]
        out["labelled_objects_per_image"] = float(np.mean([r["labelled_objects"] for r in image_rows]))
        out["unlabelled_objects_per_image"] = float(np.mean([r["unlabelled"] for r in image_rows]))
        out["objects_per_image"] = float(np.mean([r["objects"] for r in image_rows]))
        out["mean_iou"] = float(np.mean([a["iou"] for a in judged]))
        out["carried_masks"] = len(carried)
        out["carried_share_iou_50"] = float(np.mean([a["iou"] >= 0.5 for a in carried])) if carried else None
        by: dict[int, list[float]] = {}
        for a in judged:
            by.setdefault(a["steps"], []).append(a["iou"])
        out["iou_by_steps"] = {
            str(s): {"n": len(v), "mean_iou": round(float(np.mean(v)), 4), "share_iou_50": round(float(np.mean(np.array(v) >= 0.5)), 4)}
            for s, v in sorted(by.items())
        }
    return out
