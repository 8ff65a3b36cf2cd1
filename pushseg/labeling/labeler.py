"""One push in, one :class:`~pushseg.types.Label` out.

Only what a real robot has is used: the before and after RGB images, the
before depth, the camera and the push. Simulation ground truth never enters
here (reports compare against it afterwards).

Steps (paper Sec. III-B, with the choices documented in each module):
flow (flow.py) -> large-motion check (gates.py) -> table filter (table.py)
-> moving pixels and normalized-cut segments (segments.py) -> action prior
(prior.py) -> rotation and size gates, quality score (gates.py).
``method="framediff"`` swaps flow and segments for frame differencing
(baselines.py) and keeps the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from pushseg.errors import InputError
from pushseg.labeling import baselines, gates, prior, segments, table
from pushseg.labeling.config import LabelConfig, scaled
from pushseg.labeling.flow import FlowEstimator, check_pair, flow_magnitude, make_flow_estimator
from pushseg.types import CameraInfo, Label, Push, Transition


@dataclass
class LabelResult:
    """A label plus what led to it, for reports and pictures."""

    label: Label
    stats: dict[str, Any] = field(default_factory=dict)  # numbers for label_report.jsonl
    timings_ms: dict[str, float] = field(default_factory=dict)
    flow: np.ndarray | None = None  # raw flow (H, W, 2), when kept
    table: np.ndarray | None = None  # (H, W) bool, when kept
    segments: np.ndarray | None = None  # (H, W) int32, when kept
    segment: int = 0  # the chosen segment's label id
    candidate: np.ndarray | None = None  # the chosen mask before the gates, when kept

    @property
    def total_ms(self) -> float:
        return float(sum(self.timings_ms.values()))


def transition_source(t: Transition) -> str:
    return f"episode {t.episode} step {t.step}"


class Labeler:
    """Turns pushes into labels; one instance per process (the flow object is reused)."""

    def __init__(self, cfg: LabelConfig | None = None, flow: FlowEstimator | None = None) -> None:
        self.cfg = cfg or LabelConfig()
        self.flow = flow if flow is not None else (make_flow_estimator(self.cfg) if self.cfg.method == "flow" else None)

    # -- public API --------------------------------------------------------------------

    def label_transition(self, t: Transition, keep: bool = False) -> LabelResult:
        return self.label(
            t.before.rgb, t.after.rgb, t.before.depth, t.before.camera, t.push, source=transition_source(t), keep=keep
        )

    def label(
        self,
        before_rgb: np.ndarray,
        after_rgb: np.ndarray,
        before_depth: np.ndarray | None,
        camera: CameraInfo,
        push: Push,
        *,
        source: str = "",
        keep: bool = False,
    ) -> LabelResult:
        """Label one push. ``keep=True`` also returns the flow, table and segments (for pictures)."""
        cfg = self.cfg
        check_pair(before_rgb, after_rgb)
        h, w = before_rgb.shape[:2]
        if (camera.height, camera.width) != (h, w):
            raise InputError(f"images are {w}x{h} but the camera says {camera.width}x{camera.height}")
        prior.check_push(push, (h, w))
        if cfg.use_table_filter and before_depth is None:
            raise InputError("the table filter needs the before depth; pass it or use use_table_filter=False")
        sc = scaled(cfg, w, h)
        res = LabelResult(label=Label(mask=None, score=0.0, reason="", source=source))
        clock = _Clock(res.timings_ms)

        # 1. What moved: flow (or frame differencing) over the whole image.
        flow = None
        changed = None
        if cfg.method == "flow":
            assert self.flow is not None
            flow = self.flow(before_rgb, after_rgb)
            if keep:
                res.flow = flow
            mag = flow_magnitude(flow)
            res.stats["image_mean_flow_px"] = round(float(mag.mean()), 3)
            clock.lap("flow")
            if mag.mean() > sc.large_motion_px:
                return _reject(res, "large_motion")
            candidates = mag > sc.motion_threshold_px
            if cfg.use_change_cue:
                changed = baselines.changed_mask(before_rgb, after_rgb, cfg, sc)
                candidates |= changed
        else:
            candidates = baselines.changed_mask(before_rgb, after_rgb, cfg, sc)
            clock.lap("framediff")

        # 2. The table filter. Everything after this works inside the box around
        # the candidate pixels (grown by a margin so whole objects fit): the rest
        # of the image is still, whatever the table.
        plane = None
        if cfg.use_table_filter:
            plane = table.fit_plane(camera, before_depth, cfg)
            if keep:
                res.table = table.table_mask(camera, before_depth, cfg, plane)
        roi = _roi(candidates, pad=int(round(sc.roi_margin_px)))
        labels = np.zeros((h, w), np.int32)
        if roi is not None:
            support = ~table.table_mask(camera, before_depth, cfg, plane, roi) if plane is not None else None
            clock.lap("table")

            # 3. Segments of what moved.
            if flow is not None:
                f = flow[roi] if support is None else np.where(support[..., None], flow[roi], np.float32(0.0))
                moving = flow_magnitude(f) > sc.motion_threshold_px
                if changed is not None:
                    moving |= changed[roi] if support is None else changed[roi] & support
                if support is None:
                    support = np.ones(moving.shape, bool)
                sub = segments.segment_motion(f, moving, support, before_rgb[roi], sc, cfg) if moving.any() else None
            else:
                moving = candidates[roi] if support is None else candidates[roi] & support
                sub = baselines.framediff_segments(moving, sc)
            res.stats["moving_px"] = int(moving.sum())
            if sub is not None:
                labels[roi] = sub
        else:
            res.stats["moving_px"] = 0
        clock.lap("segments")
        res.stats["n_segments"] = int(labels.max())
        if keep:
            res.segments = labels
        if labels.max() == 0:
            return _reject(res, "no_motion")

        # 4. Action prior.
        pick = prior.pick_at_push(labels, push, sc.prior_radius_px) if cfg.use_action_prior else prior.pick_largest(labels)
        res.segment = pick.segment
        res.stats["prior_distance_px"] = None if not np.isfinite(pick.distance_px) else round(pick.distance_px, 2)
        if pick.segment == 0:
            return _reject(res, "no_segment_at_push")

        # 5. The mask: the segment with its holes filled (textureless insides move
        # without flow), minus the table.
        mask = labels == pick.segment
        box = _roi(mask, pad=1)
        mask[box] = ndi.binary_fill_holes(mask[box])
        if plane is not None:
            mask[box] &= ~table.table_mask(camera, before_depth, cfg, plane, box)

        # 6. Gates and score.
        context = None
        if flow is not None and labels.max() > 1:
            parts, _ = ndi.label(labels > 0, structure=np.ones((3, 3), bool))
            context = parts == parts[mask & (labels == pick.segment)][0]
        st = gates.segment_stats(mask, flow, context)
        res.stats.update(
            area_px=st.area,
            flow_mean_px=_r(st.mag_mean),
            flow_std_px=_r(st.mag_std),
            solidity=round(st.solidity, 3),
        )
        reason = gates.segment_reason(st, sc)
        photo = gates.photometric_consistency(mask, flow, before_rgb, after_rgb) if flow is not None and st.area else None
        if photo is not None:
            res.stats["photometric"] = round(photo, 3)
        clock.lap("gates")
        if keep:
            res.candidate = mask
        if reason:
            return _reject(res, reason)
        dist = pick.distance_px if cfg.use_action_prior else float("nan")
        res.label = Label(mask=mask, score=gates.quality_score(st, sc, dist, photo), reason="", source=source)
        return res


def label_transition(t: Transition, cfg: LabelConfig | None = None) -> Label:
    """Convenience: label one transition with a fresh :class:`Labeler`."""
    return Labeler(cfg).label_transition(t).label


# -- helpers -------------------------------------------------------------------------


class _Clock:
    def __init__(self, out: dict[str, float]) -> None:
        self.out = out
        self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.out[name] = self.out.get(name, 0.0) + (now - self.t) * 1000.0
        self.t = now


def _reject(res: LabelResult, reason: str) -> LabelResult:
    res.label = Label(mask=None, score=0.0, reason=reason, source=res.label.source)
    return res


def _roi(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    """Row and column slices of the box around the True pixels, grown by ``pad``; None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - pad), min(h, rows[-1] + pad + 1)),
        slice(max(0, cols[0] - pad), min(w, cols[-1] + pad + 1)),
    )


def _r(x: float) -> float | None:
    return round(float(x), 3) if np.isfinite(x) else None
