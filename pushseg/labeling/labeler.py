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

:meth:`Labeler.label` runs these as named steps (:data:`STEPS`), each a
``Labeler.step_<name>`` method on the :class:`LabelState` that carries what
one step hands the next: ``align``, ``flow`` (only with ``method="flow"``),
``table`` (table filter, large-motion check, box around the motion),
``segments``, ``prior``, ``mask``, ``gates`` and ``score``. Each step's time
is in ``LabelResult.timings_ms`` under its name; a step that rejects the push
returns the reason and the steps after it do not run.

Speed (one core, 960x540): DIS at half resolution; RANSAC on every 8th depth
pixel; the whole-image checks on every second pixel; superpixels and the
normalized cut only where something moved; no full-image Python-level reductions
or point clouds. See benchmarks/label_quality.py and README.md (about 87 ms median
CPU per push on the robot world).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from pushseg.errors import InputError
from pushseg.geometry import Plane, base_to_pixel, pixel_to_base
from pushseg.labeling import baselines, gates, metric, photometric, prior, segments, table
from pushseg.labeling.config import LabelConfig, Scaled, scaled
from pushseg.labeling.flow import FlowEstimator, check_pair, flow_magnitude, guided_flow, make_flow_estimator
from pushseg.types import CameraInfo, Label, Push, Transition


@dataclass
class LabelResult:
    """A label plus what led to it, for reports and pictures."""

    label: Label
    stats: dict[str, Any] = field(default_factory=dict)  # numbers for the labels report (<labels>_report.jsonl)
    timings_ms: dict[str, float] = field(default_factory=dict)
    flow: np.ndarray | None = None  # raw flow (H, W, 2), when kept
    table: np.ndarray | None = None  # (H, W) bool, when kept
    segments: np.ndarray | None = None  # (H, W) int32, when kept
    segment: int = 0  # the chosen segment's label id
    candidate: np.ndarray | None = None  # the chosen mask before the gates

    @property
    def total_ms(self) -> float:
        return float(sum(self.timings_ms.values()))


STEPS = ("align", "flow", "table", "segments", "prior", "mask", "gates", "score")
"""The labeler's steps in order, as named in ``LabelResult.timings_ms`` (see :meth:`Labeler.steps`)."""


@dataclass
class LabelState:
    """What the steps of one push hand on to each other; :meth:`Labeler.start` makes it.

    Full-resolution images are (H, W); ``*_lo`` arrays are subsampled by ``_SUBSAMPLE``
    for the whole-image checks; ``roi`` is the full-resolution box around what moved,
    and ``support``, ``moving`` and ``seg_roi`` are crops to it. Fields stay at their
    defaults until the step that makes them has run.
    """

    before_rgb: np.ndarray
    after_rgb: np.ndarray  # matched to the before image once the align step ran
    depth: np.ndarray | None  # the before depth
    camera: CameraInfo
    push: Push
    keep: bool  # keep the flow, table and segments on the result (pictures)
    res: LabelResult
    sc: Scaled  # the config's pixel sizes at this image size
    flow: np.ndarray | None = None  # (H, W, 2), flow step
    plane: Plane | None = None  # the table plane, table step
    table_lo: np.ndarray | None = None  # table pixels, subsampled (None without a plane)
    changed_lo: np.ndarray | None = None  # pixels whose colour changed, subsampled (frame differencing, change cue)
    candidates_lo: np.ndarray | None = None  # pixels that moved, off the table, subsampled
    roi: tuple[slice, slice] | None = None  # box around the candidates, grown by roi_margin_px; None: nothing moved
    support: np.ndarray | None = None  # in roi: not table (None without the table filter)
    moving: np.ndarray | None = None  # in roi: pixels that moved, segments step
    labels: np.ndarray | None = None  # (H, W) int32 segment ids, 0 outside every segment
    n_segments: int = 0
    pick: prior.PriorPick | None = None  # prior step
    prior_radius_px: float = 0.0
    seg_roi: np.ndarray | None = None  # in roi: the chosen segment, mask step
    mask: np.ndarray | None = None  # (H, W) bool: the chosen segment, holes filled, off the table
    st: gates.SegmentStats | None = None  # the mask's numbers, gates step
    border: float = 0.0  # share of the mask's outer ring that moved
    border_obj: float | None = None  # share of the outer ring that is not table
    score: float = 0.0  # score step

    @property
    def shape(self) -> tuple[int, int]:
        h, w = self.before_rgb.shape[:2]
        return h, w


Step = Callable[[LabelState], "str | None"]


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
        """Label one push. ``keep=True`` also returns the flow, table and segments (for pictures).

        Runs :meth:`steps` in order on the :class:`LabelState` that :meth:`start` makes. Each
        step's time goes into ``timings_ms`` under its name; the first step that names a reason
        rejects the push with it, and the steps after it do not run.
        """
        s = self.start(before_rgb, after_rgb, before_depth, camera, push, source=source, keep=keep)
        clock = _Clock(s.res.timings_ms)
        for name, step in self.steps():
            reason = step(s)
            clock.lap(name)
            if reason:
                return _reject(s.res, reason)
        s.res.label = Label(mask=s.mask, score=s.score, reason="", source=source)
        return s.res

    def steps(self) -> list[tuple[str, Step]]:
        """The steps this configuration runs, in the order and with the names of :data:`STEPS`.

        ``align`` runs only when colours are matched or the head shift undone; ``flow`` only
        with ``method="flow"`` (frame differencing happens in ``table`` and ``segments``).
        """
        cfg = self.cfg
        run = {
            "align": self.step_align if cfg.normalize_colours or cfg.align_head_shift else None,
            "flow": self.step_flow if cfg.method == "flow" else None,
            "table": self.step_table,
            "segments": self.step_segments,
            "prior": self.step_prior,
            "mask": self.step_mask,
            "gates": self.step_gates,
            "score": self.step_score,
        }
        return [(name, run[name]) for name in STEPS if run[name] is not None]

    def start(
        self,
        before_rgb: np.ndarray,
        after_rgb: np.ndarray,
        before_depth: np.ndarray | None,
        camera: CameraInfo,
        push: Push,
        *,
        source: str = "",
        keep: bool = False,
    ) -> LabelState:
        """The inputs checked (an error says what is wrong with an argument) and the state the steps share."""
        _check_types(before_rgb, after_rgb, before_depth, camera, push)
        cfg = self.cfg
        check_pair(before_rgb, after_rgb)
        h, w = before_rgb.shape[:2]
        if (camera.height, camera.width) != (h, w):
            raise InputError(f"images are {w}x{h} but the camera says {camera.width}x{camera.height}")
        prior.check_push(push, (h, w))
        if cfg.use_table_filter and before_depth is None:
            raise InputError("the table filter needs the before depth; pass it or use use_table_filter=False")
        res = LabelResult(label=Label(mask=None, score=0.0, reason="", source=source))
        return LabelState(before_rgb, after_rgb, before_depth, camera, push, keep, res, scaled(cfg, w, h))

    def step_align(self, s: LabelState) -> None:
        """Step 0: the after image made comparable to the before one: colours matched, head shift undone.

        A change of light or a small head motion between the two images would otherwise
        look like motion everywhere (photometric.py).
        """
        cfg = self.cfg
        s.after_rgb, align = photometric.align_after(
            s.before_rgb,
            s.after_rgb,
            colors=cfg.normalize_colours,
            shift=cfg.align_head_shift,
            min_shift_px=cfg.min_head_shift_px * metric.angle_scale(s.camera),
            max_shift_px=cfg.max_head_shift_px * metric.angle_scale(s.camera),
        )
        s.res.stats["colour_change"] = round(align.lut_shift, 2)
        s.res.stats["head_shift_px"] = [round(align.shift_px[0], 2), round(align.shift_px[1], 2)] if align.shifted else [0.0, 0.0]

    def step_flow(self, s: LabelState) -> None:
        """Step 1: the motion over the whole image as optical flow (flow.py).

        When the push is long enough, the flow is guided by the image motions it would give
        its object, so that a fast object is not lost by the flow's search.
        """
        assert self.flow is not None
        shifts = self._guide_shifts(s.camera, s.depth, s.push, s.sc.s)
        if shifts:
            s.flow, _ = guided_flow(self.flow, s.before_rgb, s.after_rgb, shifts, window_px=int(round(15 * s.sc.s)))
            s.res.stats["flow_guide_px"] = [round(float(np.hypot(*d)), 1) for d in shifts]
        else:
            s.flow = self.flow(s.before_rgb, s.after_rgb)
        if s.keep:
            s.res.flow = s.flow

    def step_table(self, s: LabelState) -> str | None:
        """Step 2: the table filter, the large-motion check and the box around what moved.

        The table (a plane fitted to the before depth, table.py) is taken out of the motion:
        flow smeared over it must not join the object. The whole-image checks run on every
        second pixel (same answer, a quarter of the work); the segments are then made at full
        resolution in the box around what moved, grown by a margin so whole objects fit.
        Rejects ``large_motion`` when the filtered flow moved more than one push can (gates.py).
        """
        cfg = self.cfg
        if cfg.use_table_filter:
            s.plane = table.fit_plane(s.camera, s.depth, cfg)
            s.table_lo = table.table_mask_subsampled(s.camera, s.depth, cfg, s.plane, _SUBSAMPLE)
            if s.keep:
                s.res.table = table.table_mask(s.camera, s.depth, cfg, s.plane)
        reason = self._moving_candidates(s)
        if reason:
            return reason
        s.roi = _roi_scaled(s.candidates_lo, _SUBSAMPLE, s.shape, pad=int(round(s.sc.roi_margin_px)))
        if s.roi is not None and s.plane is not None:
            s.support = ~table.table_mask(s.camera, s.depth, cfg, s.plane, s.roi)
            if cfg.edge_hole_band_px > 0:
                s.support &= ~_holes_next_to_table(s.support, s.depth[s.roi], cfg.edge_hole_band_px * s.sc.s)
        return None

    def _moving_candidates(self, s: LabelState) -> str | None:
        """Part of the table step: the subsampled pixels that moved, off the table; ``large_motion`` when too much did.

        Moved: flow over the motion threshold, or (frame differencing, change cue) a changed colour.
        """
        cfg, k = self.cfg, _SUBSAMPLE
        h, w = s.shape
        if s.flow is None or cfg.use_change_cue:
            sc_lo = scaled(cfg, (w + k - 1) // k, (h + k - 1) // k)
            s.changed_lo = baselines.changed_mask(s.before_rgb[::k, ::k], s.after_rgb[::k, ::k], cfg, sc_lo)
        if s.flow is None:
            candidates = s.changed_lo.copy()
        else:
            mag_lo = flow_magnitude(s.flow[::k, ::k])
            if s.table_lo is not None:
                mag_lo[s.table_lo] = 0.0
            # The large-motion gate (paper step 6) on the filtered flow; see gates.py.
            s.res.stats["image_mean_flow_px"] = round(float(mag_lo.mean()), 3)
            volume = gates.moved_volume_m3(s.camera, None if s.depth is None else s.depth[::k, ::k], mag_lo, k)
            s.res.stats["moved_volume_m3"] = round(volume, 6)
            if volume > cfg.large_motion_m3:
                return "large_motion"
            candidates = mag_lo > s.sc.motion_threshold_px
            if s.changed_lo is not None:
                candidates |= s.changed_lo
        if s.table_lo is not None:
            candidates &= ~s.table_lo
        s.candidates_lo = candidates
        return None

    def step_segments(self, s: LabelState) -> str | None:
        """Step 3: segments of what moved, at full resolution in the box around it.

        With flow: superpixels cut by normalized cuts on the flow (segments.py), on the pixels
        that are not table, the flow on the table set to zero. With frame differencing: the
        connected parts of the changed pixels (baselines.py). Rejects ``no_motion`` when
        nothing moved or no segment came out.
        """
        s.labels = np.zeros(s.shape, np.int32)
        if s.roi is not None:
            sub = self._segments_in_box(s)
            s.res.stats["moving_px"] = int(s.moving.sum())
            if sub is not None:
                s.labels[s.roi] = sub
        else:
            s.res.stats["moving_px"] = 0
        s.n_segments = int(s.labels[s.roi].max()) if s.roi is not None else 0
        s.res.stats["n_segments"] = s.n_segments
        if s.keep:
            s.res.segments = s.labels
        return "no_motion" if s.n_segments == 0 else None

    def _segments_in_box(self, s: LabelState) -> np.ndarray | None:
        """Part of the segments step: sets ``s.moving`` in the box and returns the box's segment ids (None: none)."""
        cfg, sc, roi, support = self.cfg, s.sc, s.roi, s.support
        changed = None
        if s.changed_lo is not None:
            changed = baselines.changed_mask(s.before_rgb[roi], s.after_rgb[roi], cfg, sc)
            if support is not None:
                changed &= support
        if s.flow is None:
            s.moving = changed
            return baselines.framediff_segments(s.moving, sc)
        f = s.flow[roi] if support is None else np.where(support[..., None], s.flow[roi], np.float32(0.0))
        s.moving = flow_magnitude(f) > sc.motion_threshold_px
        if changed is not None:
            s.moving |= changed
        region = support if support is not None else np.ones(s.moving.shape, bool)
        return segments.segment_motion(f, s.moving, region, s.before_rgb[roi], sc, cfg) if s.moving.any() else None

    def step_prior(self, s: LabelState) -> str | None:
        """Step 4: the action prior: the segment under the push, else none (prior.py).

        Its radius is ``prior_radius_m`` in pixels at the push pixel's depth. Without the
        prior (``use_action_prior=False``) the largest segment is taken. Rejects
        ``no_segment_at_push`` when no segment is near the push.
        """
        cfg = self.cfg
        s.prior_radius_px = metric.m_to_px(cfg.prior_radius_m, s.camera, _push_depth(s.depth, s.push))
        if cfg.use_action_prior:
            s.pick = prior.pick_at_push(s.labels, s.push, s.prior_radius_px)
        else:
            s.pick = prior.pick_largest(s.labels)
        s.res.segment = s.pick.segment
        s.res.stats["prior_distance_px"] = None if not np.isfinite(s.pick.distance_px) else round(s.pick.distance_px, 2)
        return "no_segment_at_push" if s.pick.segment == 0 else None

    def step_mask(self, s: LabelState) -> None:
        """Step 5: the mask: the chosen segment with its holes filled, minus the table.

        Holes are filled because textureless insides of an object move without flow.
        """
        assert s.roi is not None and s.pick is not None
        s.seg_roi = s.labels[s.roi] == s.pick.segment
        mask_roi = s.seg_roi.copy()
        box = _roi(mask_roi, pad=1)
        mask_roi[box] = ndi.binary_fill_holes(mask_roi[box])
        if s.support is not None:
            mask_roi &= s.support
        s.mask = np.zeros(s.shape, bool)
        s.mask[s.roi] = mask_roi

    def step_gates(self, s: LabelState) -> str | None:
        """Step 6: the mask's numbers and the gates on them (gates.py).

        Size, rotation and motion gates reject with their reason (``too_small``,
        ``too_large``, ``small_motion``, ...); the photometric, border and push-direction
        numbers go into the stats, the border ones also into the score. The mask is kept as
        ``res.candidate`` even when a gate rejects it: reports measure what a gate threw away.
        """
        cfg, roi, mask, flow = self.cfg, s.roi, s.mask, s.flow
        context = None
        if flow is not None and s.n_segments > 1:
            parts, _ = ndi.label(s.labels[roi] > 0, structure=np.ones((3, 3), bool))
            context = np.zeros(s.shape, bool)
            context[roi] = parts == parts[s.seg_roi][0]
        s.st = st = gates.segment_stats(mask, flow, context, s.camera, s.depth)
        stats = s.res.stats
        stats.update(
            area_px=st.area,
            area_cm2=_r(st.area_m2 * 1e4),
            flow_mean_px=_r(st.mag_mean),
            flow_std_px=_r(st.mag_std),
            motion_mean_cm=_r(st.motion_mean_m * 100),
            motion_std_cm=_r(st.motion_std_m * 100),
            solidity=round(st.solidity, 3),
        )
        reason = gates.segment_reason(st, cfg)
        photo = gates.photometric_consistency(mask, flow, s.before_rgb, s.after_rgb) if flow is not None and st.area else None
        if photo is not None:
            stats["photometric"] = round(photo, 3)
        moving_full = s.labels[roi] > 0
        if s.moving is not None:
            moving_full = moving_full | s.moving
        ring_px = int(round(3 * s.sc.s)) or 1
        s.border = gates.border_motion(mask[roi], moving_full, ring_px)
        stats["border_motion"] = round(s.border, 3)
        s.border_obj = None
        if s.support is not None:
            s.border_obj = gates.border_motion(mask[roi], s.support, ring_px)
            stats["border_object"] = round(s.border_obj, 3)
        agree = gates.push_direction_agreement(flow, mask, push_image_direction(s.camera, s.depth, s.push))
        if agree is not None:
            stats["push_agreement"] = round(agree, 3)
        s.res.candidate = mask
        return reason or None

    def step_score(self, s: LabelState) -> str | None:
        """Step 7: the quality score, how much the mask looks like the one whole object the push moved (gates.py).

        Rejects ``low_score`` below ``min_score``, and at 0 (no evidence it is one whole object).
        """
        cfg = self.cfg
        dist = s.pick.distance_px if cfg.use_action_prior else float("nan")
        outline = gates.outline_length(s.mask[s.roi])
        s.res.stats["outline_px"] = int(outline)
        s.score = gates.quality_score(s.st, s.prior_radius_px, dist, s.border, s.border_obj, outline)
        s.res.stats["quality"] = round(s.score, 4)
        return "low_score" if s.score <= 0.0 or s.score < cfg.min_score else None


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
