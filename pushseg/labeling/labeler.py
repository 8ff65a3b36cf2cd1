"""One push in, one :class:`~pushseg.types.Label` out.

Only what a real robot has is used: the before and after RGB images, the
before depth, the camera and the push. Simulation ground truth never enters
here (reports compare against it afterwards).

Steps (paper Sec. III-B, with the choices documented in each module):
after image matched to the before image in colour and head shift
(photometric.py) -> flow (flow.py) -> table filter (table.py) -> large-motion check on the
filtered flow (gates.py) -> moving pixels and normalized-cut segments in the
box around the motion (segments.py) -> action prior (prior.py) -> holes
filled, rotation and size gates, quality score (gates.py).
``method="framediff"`` swaps flow and segments for frame differencing
(baselines.py) and keeps the rest.

Speed (one core, 960x540): DIS at half resolution; RANSAC on every 8th depth
pixel; the whole-image checks on every second pixel; superpixels and the
normalized cut only where something moved; no full-image Python-level reductions
or point clouds. See benchmarks/label_quality.py and README.md (about 87 ms median
CPU per push on the robot world).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from pushseg.errors import InputError
from pushseg.geometry import base_to_pixel, pixel_to_base
from pushseg.labeling import baselines, gates, metric, photometric, prior, segments, table
from pushseg.labeling.config import LabelConfig, scaled
from pushseg.labeling.flow import FlowEstimator, check_pair, flow_magnitude, guided_flow, make_flow_estimator
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
    candidate: np.ndarray | None = None  # the chosen mask before the gates

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

    def _guide_shifts(self, camera: CameraInfo, depth: np.ndarray | None, push: Push, s: float) -> list[tuple[float, float]]:
        """The image motions the push would give its object, when long enough to guide the flow (config.py)."""
        cfg = self.cfg
        if not cfg.flow_guided or depth is None or push.length <= 0:
            return []
        try:
            p = pixel_to_base(camera, depth, push.u, push.v, radius=4)
        except InputError:
            return []
        step = np.array([np.cos(push.angle), np.sin(push.angle), 0.0]) * push.length
        start = base_to_pixel(camera, p)
        full = base_to_pixel(camera, p + step) - start
        if not np.all(np.isfinite(full)) or float(np.hypot(*full)) < cfg.flow_guide_min_px * s:
            return []
        return [tuple(float(x) for x in base_to_pixel(camera, p + f * step) - start) for f in cfg.flow_guide_fractions]

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
        _check_types(before_rgb, after_rgb, before_depth, camera, push)
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

        # 0. The after image made comparable: colours matched, head shift undone.
        if cfg.normalize_colours or cfg.align_head_shift:
            after_rgb, align = photometric.align_after(
                before_rgb,
                after_rgb,
                colours=cfg.normalize_colours,
                shift=cfg.align_head_shift,
                min_shift_px=cfg.min_head_shift_px * metric.angle_scale(camera),
                max_shift_px=cfg.max_head_shift_px * metric.angle_scale(camera),
            )
            res.stats["colour_change"] = round(align.lut_shift, 2)
            res.stats["head_shift_px"] = [round(align.shift_px[0], 2), round(align.shift_px[1], 2)] if align.shifted else [0.0, 0.0]
            clock.lap("align")

        # 1. Motion over the whole image: flow, or frame differencing.
        flow = None
        if cfg.method == "flow":
            assert self.flow is not None
            shifts = self._guide_shifts(camera, before_depth, push, sc.s)
            if shifts:
                flow, _ = guided_flow(self.flow, before_rgb, after_rgb, shifts, window_px=int(round(15 * sc.s)))
                res.stats["flow_guide_px"] = [round(float(np.hypot(*d)), 1) for d in shifts]
            else:
                flow = self.flow(before_rgb, after_rgb)
            if keep:
                res.flow = flow
            clock.lap("flow")

        # 2. The table filter. The whole-image checks run on every second pixel
        # (same answer, a quarter of the work); the segments are then made at
        # full resolution in the box around what moved, grown by a margin so
        # whole objects fit.
        k = _SUBSAMPLE
        plane = None
        table_lo = None
        if cfg.use_table_filter:
            plane = table.fit_plane(camera, before_depth, cfg)
            table_lo = table.table_mask_subsampled(camera, before_depth, cfg, plane, k)
            if keep:
                res.table = table.table_mask(camera, before_depth, cfg, plane)
        sc_lo = scaled(cfg, (w + k - 1) // k, (h + k - 1) // k)
        changed_lo = None
        if flow is None or cfg.use_change_cue:
            changed_lo = baselines.changed_mask(before_rgb[::k, ::k], after_rgb[::k, ::k], cfg, sc_lo)
        if flow is not None:
            mag_lo = flow_magnitude(flow[::k, ::k])
            if table_lo is not None:
                mag_lo[table_lo] = 0.0
            # The large-motion gate (paper step 6) on the filtered flow; see gates.py.
            mean_motion = float(mag_lo.mean())
            res.stats["image_mean_flow_px"] = round(mean_motion, 3)
            volume = gates.moved_volume_m3(camera, None if before_depth is None else before_depth[::k, ::k], mag_lo, k)
            res.stats["moved_volume_m3"] = round(volume, 6)
            if volume > cfg.large_motion_m3:
                clock.lap("table")
                return _reject(res, "large_motion")
            candidates = mag_lo > sc.motion_threshold_px
            if changed_lo is not None:
                candidates |= changed_lo
        else:
            candidates = changed_lo
        if table_lo is not None:
            candidates &= ~table_lo
        roi = _roi_scaled(candidates, k, (h, w), pad=int(round(sc.roi_margin_px)))
        labels = np.zeros((h, w), np.int32)
        support = None
        moving = None
        if roi is not None:
            support = ~table.table_mask(camera, before_depth, cfg, plane, roi) if plane is not None else None
            if support is not None and cfg.edge_hole_band_px > 0:
                support &= ~_holes_next_to_table(support, before_depth[roi], cfg.edge_hole_band_px * sc.s)
            clock.lap("table")

            # 3. Segments of what moved, at full resolution.
            changed = None
            if changed_lo is not None:
                changed = baselines.changed_mask(before_rgb[roi], after_rgb[roi], cfg, sc)
                if support is not None:
                    changed &= support
            if flow is not None:
                f = flow[roi] if support is None else np.where(support[..., None], flow[roi], np.float32(0.0))
                moving = flow_magnitude(f) > sc.motion_threshold_px
                if changed is not None:
                    moving |= changed
                region = support if support is not None else np.ones(moving.shape, bool)
                sub = segments.segment_motion(f, moving, region, before_rgb[roi], sc, cfg) if moving.any() else None
            else:
                moving = changed
                sub = baselines.framediff_segments(moving, sc)
            res.stats["moving_px"] = int(moving.sum())
            if sub is not None:
                labels[roi] = sub
        else:
            res.stats["moving_px"] = 0
        clock.lap("segments")
        n_segments = int(labels[roi].max()) if roi is not None else 0
        res.stats["n_segments"] = n_segments
        if keep:
            res.segments = labels
        if n_segments == 0:
            return _reject(res, "no_motion")

        # 4. Action prior, its radius in pixels at the push pixel's depth.
        prior_radius_px = metric.m_to_px(cfg.prior_radius_m, camera, _push_depth(before_depth, push))
        pick = prior.pick_at_push(labels, push, prior_radius_px) if cfg.use_action_prior else prior.pick_largest(labels)
        res.segment = pick.segment
        res.stats["prior_distance_px"] = None if not np.isfinite(pick.distance_px) else round(pick.distance_px, 2)
        if pick.segment == 0:
            return _reject(res, "no_segment_at_push")

        # 5. The mask: the segment with its holes filled (textureless insides move
        # without flow), minus the table.
        assert roi is not None
        seg_roi = labels[roi] == pick.segment
        mask_roi = seg_roi.copy()
        box = _roi(mask_roi, pad=1)
        mask_roi[box] = ndi.binary_fill_holes(mask_roi[box])
        if support is not None:
            mask_roi &= support
        mask = np.zeros((h, w), bool)
        mask[roi] = mask_roi

        # 6. Gates and score.
        context = None
        if flow is not None and n_segments > 1:
            parts, _ = ndi.label(labels[roi] > 0, structure=np.ones((3, 3), bool))
            context = np.zeros((h, w), bool)
            context[roi] = parts == parts[seg_roi][0]
        st = gates.segment_stats(mask, flow, context, camera, before_depth)
        res.stats.update(
            area_px=st.area,
            area_cm2=_r(st.area_m2 * 1e4),
            flow_mean_px=_r(st.mag_mean),
            flow_std_px=_r(st.mag_std),
            motion_mean_cm=_r(st.motion_mean_m * 100),
            motion_std_cm=_r(st.motion_std_m * 100),
            solidity=round(st.solidity, 3),
        )
        reason = gates.segment_reason(st, cfg)
        photo = gates.photometric_consistency(mask, flow, before_rgb, after_rgb) if flow is not None and st.area else None
        if photo is not None:
            res.stats["photometric"] = round(photo, 3)
        moving_full = labels[roi] > 0
        if moving is not None:
            moving_full = moving_full | moving
        ring_px = int(round(3 * sc.s)) or 1
        border = gates.border_motion(mask[roi], moving_full, ring_px)
        res.stats["border_motion"] = round(border, 3)
        border_obj = None
        if support is not None:
            border_obj = gates.border_motion(mask[roi], support, ring_px)
            res.stats["border_object"] = round(border_obj, 3)
        direction = push_image_direction(camera, before_depth, push)
        agree = gates.push_direction_agreement(flow, mask, direction)
        if agree is not None:
            res.stats["push_agreement"] = round(agree, 3)
        clock.lap("gates")
        res.candidate = mask  # kept even when rejected: reports measure what a gate threw away
        if reason:
            return _reject(res, reason)
        dist = pick.distance_px if cfg.use_action_prior else float("nan")
        outline = gates.outline_length(mask[roi])
        res.stats["outline_px"] = int(outline)
        score = gates.quality_score(st, prior_radius_px, dist, border, border_obj, outline)
        res.stats["quality"] = round(score, 4)
        if score <= 0.0 or score < cfg.min_score:  # score 0: no evidence it is one whole object
            return _reject(res, "low_score")
        res.label = Label(mask=mask, score=score, reason="", source=source)
        return res


def push_image_direction(camera: CameraInfo, depth: np.ndarray | None, push: Push) -> np.ndarray | None:
    """Unit (du, dv) of the push direction in the image at the push pixel; None without depth there."""
    if depth is None:
        return None
    try:
        p = pixel_to_base(camera, depth, push.u, push.v, radius=4)
    except InputError:
        return None
    q = p + 0.02 * np.array([np.cos(push.angle), np.sin(push.angle), 0.0])
    d = base_to_pixel(camera, q) - base_to_pixel(camera, p)
    n = float(np.hypot(*d))
    return d / n if n > 1e-9 else None


def _push_depth(depth: np.ndarray | None, push: Push) -> float:
    """The depth around the push pixel (the median of a 9x9 window), else the image's median depth."""
    if depth is None:
        return metric.REFERENCE_DISTANCE_M
    r, c = int(round(push.v)), int(round(push.u))
    win = depth[max(0, r - 4) : r + 5, max(0, c - 4) : c + 5]
    with np.errstate(invalid="ignore"):
        v = win[np.isfinite(win) & (win > 0)]
    return float(np.median(v)) if v.size else metric.typical_depth(depth)


def label_transition(t: Transition, cfg: LabelConfig | None = None) -> Label:
    """Convenience: label one transition with a fresh :class:`Labeler`."""
    return Labeler(cfg).label_transition(t).label


# -- helpers -------------------------------------------------------------------------


def _check_types(before_rgb, after_rgb, before_depth, camera, push) -> None:
    """Arguments of the wrong kind get an error that says what to pass, not an AttributeError."""
    for name, a in (("before_rgb", before_rgb), ("after_rgb", after_rgb), ("before_depth", before_depth)):
        if a is None and name == "before_depth":
            continue
        if isinstance(a, dict):
            raise InputError(f"{name} is a dict (an env observation?); pass obs['rgb'] / obs['depth'], not obs")
        if not isinstance(a, np.ndarray):
            raise InputError(f"{name} must be a numpy array, got {type(a).__name__}")
    if not isinstance(camera, CameraInfo):
        raise InputError(f"camera must be a pushseg.types.CameraInfo, got {type(camera).__name__}")
    if not isinstance(push, Push):
        raise InputError(f"push must be a pushseg.types.Push, got {type(push).__name__}; "
                         f"for an env action use Push.from_array(action)")
    bad = [k for k in ("u", "v", "angle", "length") if not np.isfinite(getattr(push, k))]
    if bad:
        raise InputError(f"push has a non-finite {', '.join(bad)}: {push}")


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


_SUBSAMPLE = 2  # whole-image checks look at every second pixel in each direction


def _roi_scaled(mask_lo: np.ndarray, k: int, shape: tuple[int, int], pad: int) -> tuple[slice, slice] | None:
    """The full-resolution box around the True pixels of a mask subsampled by ``k``."""
    box = _roi(mask_lo, 0)
    if box is None:
        return None
    h, w = shape
    rows, cols = box
    return (
        slice(max(0, rows.start * k - pad), min(h, rows.stop * k + pad)),
        slice(max(0, cols.start * k - pad), min(w, cols.stop * k + pad)),
    )


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


def _holes_next_to_table(support: np.ndarray, depth: np.ndarray, band_px: float) -> np.ndarray:
    """Pixels without a depth reading, close to a reading, whose nearest reading is table.

    A Kinect2 loses depth in a band along depth edges (the projector's shadow,
    mixed returns), on both sides of an object's outline. The table filter
    cannot call those pixels table, and the flow smeared over the table
    carries the outer ones into the mask as a halo. Each such pixel takes the
    side of its nearest reading. Only a band ``band_px`` wide is decided so:
    deeper inside a large hole (a dark or shiny object without any reading)
    the pixels stay undecided (kept).
    """
    with np.errstate(invalid="ignore"):
        missing = ~(np.isfinite(depth) & (depth > 0))
    if not missing.any() or missing.all():
        return np.zeros(missing.shape, bool)
    # The nearest reading of a pixel in the band lies within band_px of it: try the offsets
    # of that disc nearest first, only at the missing pixels. Same answer as
    # ndi.distance_transform_edt(missing, return_indices=True), which cost ~25 ms per push
    # on the crop; equally near readings are tried in the order that transform picks them.
    r = int(np.floor(band_px))
    h, w = missing.shape
    ys, xs = np.nonzero(missing)
    table_valid = ~support & ~missing
    out = np.zeros(missing.shape, bool)
    found = np.zeros(len(ys), bool)
    for dy, dx in _disc_offsets(r, band_px):
        todo = np.flatnonzero(~found)
        if len(todo) == 0:
            break
        y, x = ys[todo] + dy, xs[todo] + dx
        inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        todo, y, x = todo[inside], y[inside], x[inside]
        hit = ~missing[y, x]
        todo, y, x = todo[hit], y[hit], x[hit]
        found[todo] = True
        out[ys[todo], xs[todo]] = table_valid[y, x]
    return out


def _disc_offsets(r: int, radius: float) -> list[tuple[int, int]]:
    """(dy, dx) with 0 < |(dy, dx)| <= radius, nearest first; ties by dx, then dy (as scipy's EDT)."""
    offs = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if 0 < dy * dy + dx * dx <= radius * radius]
    return sorted(offs, key=lambda o: (o[0] * o[0] + o[1] * o[1], o[1], o[0]))


def _r(x: float) -> float | None:
    return round(float(x), 3) if np.isfinite(x) else None
