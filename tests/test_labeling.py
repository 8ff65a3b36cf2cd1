"""The labeler on constructed pushes with a known answer (pushseg.labeling.synthetic)."""

from __future__ import annotations

import numpy as np
import pytest

from pushseg.errors import InputError
from pushseg.labeling import Labeler, LabelConfig
from pushseg.labeling.config import scaled
from pushseg.labeling.flow import DISFlow, FarnebackFlow, flow_to_color
from pushseg.labeling.gates import photometric_consistency
from pushseg.labeling.prior import pick_at_push, pick_largest
from pushseg.labeling.segments import segment_motion
from pushseg.labeling.synthetic import Block, OracleFlow, Scene, block_mask, exact_flow, make_transition, render
from pushseg.labeling.table import filter_flow, table_mask
from pushseg.types import Push


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def moved_block_scene(width=480, height=270, shift=(5.0, 2.0), **kw) -> Scene:
    s = width / 480
    return Scene(
        width,
        height,
        [
            Block(int(200 * s), int(110 * s), int(60 * s), int(44 * s), shift=(shift[0] * s, shift[1] * s), seed=3),
            Block(int(90 * s), int(60 * s), int(50 * s), int(50 * s), seed=5, color=(50, 90, 200)),
        ],
        **kw,
    )


def push_at_left_edge(scene: Scene) -> Push:
    b = scene.blocks[0]
    return Push(u=b.x + 1.0, v=b.y + b.h / 2.0, angle=0.0, length=0.05)


# --- the answer -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(480, 270), (960, 540)])
def test_textured_block_moved_a_few_pixels_gives_its_mask(size):
    scene = moved_block_scene(*size)
    t = make_transition(scene, push_at_left_edge(scene))
    res = Labeler().label_transition(t)
    assert res.label.accepted, res.label.reason
    assert iou(res.label.mask, block_mask(scene, 1)) >= 0.9
    assert 0.0 < res.label.score <= 1.0
    assert res.label.mask.shape == size[::-1]


def test_push_pixel_just_off_the_block_falls_back_to_the_nearest_segment():
    scene = moved_block_scene()
    b = scene.blocks[0]
    t = make_transition(scene, Push(u=b.x - 6.0, v=b.y + b.h / 2.0, angle=0.0, length=0.05))
    res = Labeler().label_transition(t)
    assert res.label.accepted
    assert res.stats["prior_distance_px"] == pytest.approx(6.0, abs=1.5)
    assert iou(res.label.mask, block_mask(scene, 1)) >= 0.9


def test_farneback_also_finds_the_block():
    scene = moved_block_scene()
    res = Labeler(LabelConfig(flow="farneback")).label_transition(make_transition(scene, push_at_left_edge(scene)))
    assert res.label.accepted
    assert iou(res.label.mask, block_mask(scene, 1)) >= 0.9


# --- each rejection reason ------------------------------------------------------------------


def test_large_motion_when_much_of_the_table_moves_at_once():
    # Eight blocks covering half the image all slide 12 px: far more motion
    # than one push of one object makes (mean 3.5 px at 480x270 is the limit).
    blocks = [
        Block(15 + 115 * i, 25 + 115 * j, 100, 80, shift=(12.0, 0.0) if (i + j) % 2 else (0.0, 12.0), seed=20 + 4 * j + i)
        for i in range(4)
        for j in range(2)
    ]
    scene = Scene(480, 270, blocks)
    res = Labeler().label_transition(make_transition(scene, Push(u=16.0, v=60.0, angle=0.0, length=0.05)))
    assert res.label.reason == "large_motion", res.stats
    assert res.label.mask is None and res.label.score == 0.0
    assert res.stats["moved_volume_m3"] > LabelConfig().large_motion_m3


def test_a_moving_camera_alone_is_not_object_motion():
    # The whole view shifts but nothing above the table moves relative to it:
    # the table filter removes the table's flow; the two blocks shift as well,
    # so they are the only candidates (documented: camera motion is not a gate).
    scene = moved_block_scene(shift=(0.0, 0.0), camera_shift=(6, 0))
    res = Labeler().label_transition(make_transition(scene, push_at_left_edge(scene)))
    assert res.stats["image_mean_flow_px"] < 1.0


def test_no_motion_when_nothing_moved():
    scene = moved_block_scene(shift=(0.0, 0.0))
    res = Labeler().label_transition(make_transition(scene, push_at_left_edge(scene)))
    assert res.label.reason == "no_motion"


def test_no_segment_at_push_when_the_push_was_elsewhere():
    scene = moved_block_scene()
    res = Labeler().label_transition(make_transition(scene, Push(u=420.0, v=230.0, angle=0.0, length=0.05)))
    assert res.label.reason == "no_segment_at_push"


@pytest.mark.slow
def test_rotation_when_the_object_turns():
    # A long bar turning 15 degrees about its far end: the flow magnitude runs
    # from 0 to ~78 px along it, a std of ~22 px, beyond the paper's 15 px.
    # DIS cannot follow 78 px on a 30 px bar, so the true flow is given (the
    # gate is what is tested here, not the flow).
    bar = Block(300, 250, 300, 30, rotate_deg=15.0, pivot=(600.0, 265.0), seed=7)
    scene = Scene(960, 540, [bar])
    t = make_transition(scene, Push(u=301.0, v=265.0, angle=0.0, length=0.05))
    res = Labeler(flow=OracleFlow(scene)).label_transition(t)
    assert res.label.reason == "rotation", res.stats
    assert res.stats["flow_std_px"] > 15.0
    # The same bar sliding without turning passes.
    bar.rotate_deg, bar.shift = 0.0, (12.0, 0.0)
    res = Labeler(flow=OracleFlow(scene)).label_transition(make_transition(scene, t.push))
    assert res.label.accepted, res.label.reason


def test_too_small_for_a_tiny_object():
    scene = Scene(960, 540, [Block(400, 300, 9, 9, shift=(4.0, 0.0), seed=9)])
    res = Labeler().label_transition(make_transition(scene, Push(u=401.0, v=304.0, angle=0.0, length=0.05)))
    # a 9 px block moved 4 px: refused, as too small or (the 3 mm motion gate comes first) as too little motion
    assert res.label.reason in ("too_small", "small_motion"), (res.label.reason, res.stats)


@pytest.mark.slow
def test_too_large_for_a_huge_object():
    scene = Scene(480, 270, [Block(150, 60, 150, 120, shift=(5.0, 0.0), seed=11)])
    res = Labeler().label_transition(make_transition(scene, Push(u=151.0, v=120.0, angle=0.0, length=0.05)))
    assert res.label.reason == "too_large", (res.label.reason, res.stats)


# --- determinism ----------------------------------------------------------------------------


def test_same_input_gives_the_same_mask_bit_for_bit():
    scene = Scene(
        480,
        270,
        [
            Block(150, 100, 50, 40, shift=(-2.0, 7.0), seed=3),
            Block(200, 100, 40, 40, seed=4, color=(40, 160, 60)),  # touching it, left alone
        ],
    )
    t = make_transition(scene, Push(u=151.0, v=120.0, angle=0.0, length=0.05))
    a = Labeler().label_transition(t, keep=True)
    b = Labeler().label_transition(t, keep=True)
    assert a.label.accepted and b.label.accepted
    assert np.array_equal(a.label.mask, b.label.mask)
    assert np.array_equal(a.segments, b.segments)
    assert np.array_equal(a.flow, b.flow)
    assert a.label.score == b.label.score
    # The still neighbour it touched stays out of the mask.
    assert iou(a.label.mask, block_mask(scene, 1)) >= 0.85


@pytest.mark.slow
def test_normalized_cut_separates_touching_parts_that_move_differently():
    scene = Scene(
        960,
        540,
        [Block(300, 200, 100, 80, shift=(-10.0, 0.0), seed=3), Block(400, 200, 90, 80, shift=(10.0, 4.0), seed=4)],
    )
    f = render(scene, False)
    flow = exact_flow(scene)
    support = f.instance_ids > 0
    cfg = LabelConfig()
    labels = segment_motion(flow, support, support, f.rgb, scaled(cfg, 960, 540), cfg)
    assert labels.max() == 2
    for k in (1, 2):
        best = max(iou(labels == s, block_mask(scene, k)) for s in (1, 2))
        assert best >= 0.9


# --- ablations and the baseline -----------------------------------------------------------------


def test_frame_differencing_baseline_labels_the_block():
    scene = moved_block_scene(shift=(8.0, 0.0))
    res = Labeler(LabelConfig(method="framediff")).label_transition(make_transition(scene, push_at_left_edge(scene)))
    assert res.label.accepted, res.label.reason
    assert iou(res.label.mask, block_mask(scene, 1)) >= 0.7


def test_without_action_prior_the_largest_moving_segment_is_taken():
    scene = Scene(
        480,
        270,
        [Block(60, 60, 40, 30, shift=(5.0, 0.0), seed=3), Block(250, 120, 60, 45, shift=(0.0, 5.0), seed=4)],
    )
    t = make_transition(scene, Push(u=61.0, v=75.0, angle=0.0, length=0.05))
    with_prior = Labeler().label_transition(t).label
    without = Labeler(LabelConfig(use_action_prior=False)).label_transition(t).label
    assert iou(with_prior.mask, block_mask(scene, 1)) >= 0.85
    assert iou(without.mask, block_mask(scene, 2)) >= 0.85


def test_without_table_filter_depth_is_not_needed():
    scene = moved_block_scene()
    t = make_transition(scene, push_at_left_edge(scene))
    res = Labeler(LabelConfig(use_table_filter=False)).label(
        t.before.rgb, t.after.rgb, None, t.before.camera, t.push
    )
    assert res.label.accepted or res.label.reason  # runs without depth and decides


# --- the steps on their own -----------------------------------------------------------------------


def test_flow_estimators_recover_a_shift():
    f = render(moved_block_scene(), False)
    shifted = np.roll(f.rgb, (3, 4), axis=(0, 1))
    for est in (DISFlow("medium", 0.5), FarnebackFlow(0.5)):
        flow = est(f.rgb, shifted)
        assert flow.shape == (270, 480, 2) and flow.dtype == np.float32
        inner = flow[40:-40, 40:-40]
        assert np.median(inner[..., 0]) == pytest.approx(4.0, abs=0.5), est.name
        assert np.median(inner[..., 1]) == pytest.approx(3.0, abs=0.5), est.name
    img = flow_to_color(flow)
    assert img.shape == (270, 480, 3) and img.dtype == np.uint8


def test_table_filter_zeroes_flow_on_the_plane_only():
    scene = moved_block_scene()
    f = render(scene, False)
    on_table = table_mask(f.camera, f.depth, LabelConfig())
    blocks = f.instance_ids > 0
    assert on_table[~blocks].mean() > 0.99
    assert not on_table[blocks].any()
    flow = np.ones((270, 480, 2), np.float32)
    out = filter_flow(flow, on_table)
    assert (out[on_table] == 0).all() and (out[~on_table] == 1).all()


def test_photometric_consistency_handles_masks_of_any_size():
    f = render(moved_block_scene(), False)
    mask = np.ones((270, 480), bool)  # 129600 points: more than one remap row can hold
    zero = np.zeros((270, 480, 2), np.float32)
    assert photometric_consistency(mask, zero, f.rgb, f.rgb) == 1.0
    assert photometric_consistency(mask, zero + 40.0, f.rgb, f.rgb) < 0.5


def test_prior_falls_back_to_the_nearest_segment_within_the_radius():
    seg = np.zeros((50, 50), np.int32)
    seg[10:20, 10:20] = 1
    seg[10:20, 30:40] = 2
    assert pick_at_push(seg, Push(15, 15, 0, 0.05), 5).segment == 1
    near = pick_at_push(seg, Push(27, 15, 0, 0.05), 5)  # 3 px from segment 2, 8 px from 1
    assert (near.segment, near.distance_px) == (2, 3.0)
    assert pick_at_push(seg, Push(25, 40, 0, 0.05), 5).segment == 0
    seg[10:20, 30:45] = 2
    assert pick_largest(seg).segment == 2


def test_pixel_thresholds_scale_with_resolution():
    cfg = LabelConfig()
    full, half = scaled(cfg, 960, 540), scaled(cfg, 480, 270)
    assert full.motion_threshold_px == 1.5 and full.min_area_px == 100.0
    assert half.motion_threshold_px == 0.75 and half.min_area_px == 25.0
    # The rotation limit in pixels (episode labels) is the metric one on the PR2's camera: ~15 px at qhd.
    assert full.rotation_std_px == pytest.approx(15.0, abs=0.3) and half.rotation_std_px == pytest.approx(7.5, abs=0.2)


# --- bad input ---------------------------------------------------------------------------------


def test_mismatched_image_shapes_are_refused():
    scene = moved_block_scene()
    t = make_transition(scene, push_at_left_edge(scene))
    with pytest.raises(InputError, match="differ in shape"):
        Labeler().label(t.before.rgb, t.after.rgb[:-2], t.before.depth, t.before.camera, t.push)


def test_depth_all_nan_is_refused_with_a_hint():
    scene = moved_block_scene()
    t = make_transition(scene, push_at_left_edge(scene))
    depth = np.full_like(t.before.depth, np.nan)
    with pytest.raises(InputError, match="no valid reading"):
        Labeler().label(t.before.rgb, t.after.rgb, depth, t.before.camera, t.push)


def test_push_outside_the_image_is_refused():
    scene = moved_block_scene()
    t = make_transition(scene, Push(u=480.0, v=10.0, angle=0.0, length=0.05))
    with pytest.raises(InputError, match="outside the 480x270 image"):
        Labeler().label_transition(t)


def test_bad_config_is_refused():
    with pytest.raises(InputError, match="method"):
        LabelConfig(method="magic")
    with pytest.raises(InputError, match="flow"):
        LabelConfig(flow="raft")


def test_depth_holes_take_the_side_of_their_nearest_reading_as_the_distance_transform_says():
    from scipy import ndimage as ndi

    from pushseg.labeling.labeler import _holes_next_to_table

    rng = np.random.default_rng(3)
    depth = np.full((60, 80), 1.0)
    support = np.zeros((60, 80), bool)
    support[20:40, 25:55] = True  # an object above the table
    depth[rng.random(depth.shape) < 0.15] = np.nan  # scattered dropouts
    depth[18:42, 22:28] = 0.0  # a band lost along the object's left outline
    depth[5:15, 60:75] = np.nan  # a large hole: its inside stays undecided
    got = _holes_next_to_table(support, depth, 3.0)
    missing = ~(np.isfinite(depth) & (depth > 0))
    dist, (ri, ci) = ndi.distance_transform_edt(missing, return_indices=True)
    want = missing & (dist <= 3.0) & (~support & ~missing)[ri, ci]
    assert np.array_equal(got, want)  # ties between equally near readings broken alike
    assert got[10, 67] == want[10, 67] == False  # noqa: E712  (deep inside the large hole)
    assert got[30, 22] and not got[30, 27]


def test_relabel_raster_numbers_labels_by_first_pixel():
    from pushseg.labeling.segments import relabel_raster

    labels = np.array([[0, 7, 7, 0], [3, 3, 0, 9], [0, 0, 9, 7]], np.int32)
    want = np.array([[0, 1, 1, 0], [2, 2, 0, 3], [0, 0, 3, 1]], np.int32)
    got = relabel_raster(labels)
    assert got.dtype == np.int32 and np.array_equal(got, want)
    assert not relabel_raster(np.zeros((2, 3), np.int32)).any()
