"""The labeler's named steps (Labeler.steps, LabelState), each called on its own on a constructed push."""

from __future__ import annotations

import numpy as np
import pytest

from pushseg.labeling import Labeler, LabelConfig
from pushseg.labeling.labeler import STEPS, LabelState
from pushseg.labeling.synthetic import Block, OracleFlow, Scene, block_mask, make_transition
from pushseg.types import Push, Transition


def scene_and_push(shift=(5.0, 2.0)) -> tuple[Scene, Push]:
    """Two textured blocks on the table at 480x270; the first moved by ``shift`` and pushed at its left edge."""
    scene = Scene(480, 270, [Block(200, 110, 60, 44, shift=shift, seed=3),
                             Block(90, 60, 50, 50, seed=5, color=(50, 90, 200))])
    b = scene.blocks[0]
    return scene, Push(u=b.x + 1.0, v=b.y + b.h / 2.0, angle=0.0, length=0.05)


def start(lab: Labeler, t: Transition) -> LabelState:
    return lab.start(t.before.rgb, t.after.rgb, t.before.depth, t.before.camera, t.push)


def run_until(lab: Labeler, s: LabelState, last: str) -> str | None:
    """Run the steps up to and including ``last``; the earlier ones must not reject. Returns ``last``'s answer."""
    for name, step in lab.steps():
        reason = step(s)
        if name == last:
            return reason
        assert not reason, (name, reason)
    raise AssertionError(f"{last} is not a step of this labeler")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def moved():
    scene, push = scene_and_push()
    return scene, make_transition(scene, push)


def test_step_names_reported_in_timings_are_the_documented_ones(moved):
    scene, t = moved
    assert STEPS == ("align", "flow", "table", "segments", "prior", "mask", "gates", "score")
    res = Labeler(flow=OracleFlow(scene)).label_transition(t)
    assert res.label.accepted, res.label.reason
    assert list(res.timings_ms) == list(STEPS)
    assert all(ms >= 0.0 for ms in res.timings_ms.values())
    # steps that do not apply are not run, nor reported
    res = Labeler(LabelConfig(method="framediff", normalize_colours=False, align_head_shift=False)).label_transition(t)
    assert list(res.timings_ms) == [n for n in STEPS if n not in ("align", "flow")]
    assert [n for n, _ in Labeler(LabelConfig(method="framediff")).steps()] == [n for n in STEPS if n != "flow"]


def test_steps_run_one_by_one_give_what_label_gives(moved):
    scene, t = moved
    lab = Labeler(flow=OracleFlow(scene))
    s = start(lab, t)
    for _, step in lab.steps():
        assert not step(s)
    res = lab.label_transition(t)
    assert res.label.accepted
    assert np.array_equal(s.mask, res.label.mask)
    assert s.score == res.label.score
    assert s.res.stats == res.stats


def test_align_step_leaves_an_unchanged_light_alone(moved):
    scene, t = moved
    lab = Labeler(flow=OracleFlow(scene))
    s = start(lab, t)
    assert lab.step_align(s) is None
    assert s.after_rgb.shape == t.after.rgb.shape
    assert s.res.stats["head_shift_px"] == [0.0, 0.0]


def test_table_step_removes_the_table_and_boxes_what_moved(moved):
    scene, t = moved
    lab = Labeler(flow=OracleFlow(scene))
    s = start(lab, t)
    assert run_until(lab, s, "table") is None
    on_table = t.before.instance_ids == 0
    # the subsampled table mask is the table: every table pixel, no block pixel
    table_lo = s.table_lo
    assert table_lo is not None and table_lo.shape == on_table[::2, ::2].shape
    assert table_lo[on_table[::2, ::2]].mean() > 0.99
    assert not table_lo[~on_table[::2, ::2]].any()
    # no candidate on the table, and the box holds the moved block
    assert not (s.candidates_lo & table_lo).any()
    assert s.candidates_lo.any()
    rows, cols = s.roi
    b = scene.blocks[0]
    assert rows.start <= b.y and rows.stop >= b.y + b.h and cols.start <= b.x and cols.stop >= b.x + b.w
    # at full resolution in the box, support is the objects only
    assert s.support is not None and not (s.support & on_table[s.roi]).any()


def test_without_the_table_filter_the_table_stays_in(moved):
    scene, t = moved
    lab = Labeler(LabelConfig(use_table_filter=False), flow=OracleFlow(scene))
    s = start(lab, t)
    assert run_until(lab, s, "table") is None
    assert s.plane is None and s.table_lo is None and s.support is None


def test_segments_step_cuts_what_moved(moved):
    scene, t = moved
    lab = Labeler(flow=OracleFlow(scene))
    s = start(lab, t)
    assert run_until(lab, s, "segments") is None
    assert s.n_segments >= 1 and s.res.stats["n_segments"] == s.n_segments
    assert s.labels.shape == t.before.rgb.shape[:2]
    block = block_mask(scene, 1)
    assert (s.labels[block] > 0).mean() > 0.5  # most of the moved block is in some segment
    assert not (s.labels[block_mask(scene, 2)] > 0).any()  # the block that stayed is in none


def test_prior_picks_the_segment_under_the_push(moved):
    scene, t = moved
    lab = Labeler(flow=OracleFlow(scene))
    s = start(lab, t)
    assert run_until(lab, s, "prior") is None
    row, col = int(round(t.push.v)), int(round(t.push.u))
    assert s.pick.segment == s.labels[row, col] != 0
    assert s.pick.distance_px == 0.0 and s.res.segment == s.pick.segment
    assert lab.step_mask(s) is None
    assert iou(s.mask, block_mask(scene, 1)) >= 0.9


def test_a_rejecting_step_names_its_reason_and_ends_the_push():
    scene, _ = scene_and_push()
    elsewhere = make_transition(scene, Push(u=420.0, v=230.0, angle=0.0, length=0.05))
    lab = Labeler(flow=OracleFlow(scene))
    assert run_until(lab, start(lab, elsewhere), "prior") == "no_segment_at_push"
    res = lab.label_transition(elsewhere)
    assert res.label.reason == "no_segment_at_push" and res.label.mask is None and res.label.score == 0.0
    assert list(res.timings_ms) == list(STEPS[: STEPS.index("prior") + 1])  # the steps after it did not run

    still, push = scene_and_push(shift=(0.0, 0.0))
    t = make_transition(still, push)
    lab = Labeler(flow=OracleFlow(still))
    assert run_until(lab, start(lab, t), "segments") == "no_motion"


def test_table_step_rejects_large_motion():
    blocks = [
        Block(15 + 115 * i, 25 + 115 * j, 100, 80, shift=(12.0, 0.0) if (i + j) % 2 else (0.0, 12.0), seed=20 + 4 * j + i)
        for i in range(4)
        for j in range(2)
    ]
    scene = Scene(480, 270, blocks)
    t = make_transition(scene, Push(u=16.0, v=60.0, angle=0.0, length=0.05))
    lab = Labeler(flow=OracleFlow(scene))
    s = start(lab, t)
    assert run_until(lab, s, "table") == "large_motion"
    assert s.res.stats["moved_volume_m3"] > lab.cfg.large_motion_m3
    assert s.roi is None  # the box is not made after the rejection


def test_gates_keep_the_candidate_and_a_gate_names_its_reason(moved):
    scene, t = moved
    lab = Labeler(LabelConfig(max_area_m2=0.02), flow=OracleFlow(scene))  # the block covers about 0.035 m^2
    s = start(lab, t)
    assert run_until(lab, s, "gates") == "too_large"
    assert s.res.candidate is s.mask and s.mask.any()
    res = lab.label_transition(t)
    assert res.label.reason == "too_large" and res.candidate is not None


def test_score_step_rejects_below_min_score(moved):
    scene, t = moved
    lab = Labeler(LabelConfig(min_score=1.0), flow=OracleFlow(scene))
    s = start(lab, t)
    assert run_until(lab, s, "score") == "low_score"
    assert 0.0 < s.score < 1.0 and s.res.stats["quality"] == round(s.score, 4)
