"""The labeler on real cameras: gates in metres, semi-real pushes, pairs where nothing moved, score 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import REAL_FRAMES as FRAMES, needs_real_frames as needs_frames

from pushseg.geometry import transform
from pushseg.labeling import LabelConfig, Labeler
from pushseg.labeling import gates
from pushseg.types import CameraInfo, Outcome, Push, PushResult, Transition



# --- the same object seen by two cameras -------------------------------------------------------


def _view(fx: float, distance: float, width: int, height: int, size_m: float, motion: str):
    """A face-on square object of side ``size_m`` at ``distance``, and its flow for a translation or a turn."""
    cam = CameraInfo(width, height, np.array([[fx, 0, width / 2], [0, fx, height / 2], [0, 0, 1]]), transform())
    half = size_m / 2 * fx / distance  # half side in pixels
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    du, dv = u - width / 2, v - height / 2
    mask = (np.abs(du) <= half) & (np.abs(dv) <= half)
    depth = np.full((height, width), distance, np.float32)
    flow = np.zeros((height, width, 2), np.float32)
    if motion == "slide":  # 4 cm to the right
        flow[..., 0] = 0.04 * fx / distance
    else:  # a quarter turn about the object's centre
        a = np.pi / 2
        flow[..., 0] = du * (np.cos(a) - 1) - dv * np.sin(a)
        flow[..., 1] = du * np.sin(a) + dv * (np.cos(a) - 1)
    flow[~mask] = 0.0
    return cam, depth, mask, flow


# A wide Kinect2-like view at 1 m and a narrow Xtion-like view at 0.6 m: the same object
# spans about 3.3 times as many pixels on the second.
CAMERAS = [(540.7, 1.0, 960, 540), (1067.0, 0.6, 640, 480)]


@pytest.mark.parametrize("size_m, motion, expected", [
    (0.08, "slide", ""),  # an 8 cm object slid 4 cm: a label
    (0.2, "turn", "rotation"),  # a 20 cm object turning a quarter: its flow is unreliable
    (0.012, "slide", "too_small"),  # 1.4 cm^2
    (0.25, "slide", "too_large"),  # 625 cm^2: more than one object
])
def test_physical_gates_decide_the_same_on_two_cameras(size_m, motion, expected):
    cfg = LabelConfig()
    decisions, areas, motions = [], [], []
    for fx, dist, w, h in CAMERAS:
        cam, depth, mask, flow = _view(fx, dist, w, h, size_m, motion)
        st = gates.segment_stats(mask, flow, None, cam, depth)
        decisions.append(gates.segment_reason(st, cfg))
        areas.append(st.area_m2)
        motions.append(st.motion_mean_m)
    assert decisions == [expected, expected]
    # Within the one-pixel outline error of the smaller view.
    assert areas[0] == pytest.approx(size_m ** 2, rel=0.3) and areas[1] == pytest.approx(areas[0], rel=0.3)
    assert motions[1] == pytest.approx(motions[0], rel=0.05)


def test_moved_volume_is_the_same_on_two_cameras():
    vols = []
    for fx, dist, w, h in CAMERAS:
        cam, depth, mask, flow = _view(fx, dist, w, h, 0.08, "slide")
        mag = np.hypot(flow[..., 0], flow[..., 1])
        vols.append(gates.moved_volume_m3(cam, depth[::2, ::2], mag[::2, ::2], 2))
    assert vols[0] == pytest.approx(0.08 ** 2 * 0.04, rel=0.1)
    assert vols[1] == pytest.approx(vols[0], rel=0.1)


# --- real frames -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_frames():
    from pushseg.data.real_frames import CAMERA_FILE, FramesCamera, read_frame

    cam = FramesCamera.read(FRAMES / CAMERA_FILE)
    return {n: read_frame(FRAMES, n, cam) for n in ("data_0000_000001", "data_0000_000003")}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@needs_frames
@pytest.mark.slow
def test_semi_real_push_gives_a_label_of_the_moved_object(dev_frames):
    from pushseg.labeling.semireal import make_push

    frame = dev_frames["data_0000_000001"]
    sp = make_push(frame, object_id=8, angle=0.5, distance_m=0.045, seed=3)
    assert sp.image_motion_px > 40  # beyond what plain DIS follows on these images
    res = Labeler().label_transition(sp.transition)
    assert res.label.accepted, (res.label.reason, res.stats)
    assert _iou(res.label.mask, sp.before_mask) >= 0.5
    assert res.label.score > 0


@needs_frames
@pytest.mark.slow
def test_pairs_where_nothing_moved_get_no_label(dev_frames):
    from pushseg.labeling.semireal import push_pixel, renoised

    a, b = dev_frames["data_0000_000001"], dev_frames["data_0000_000003"]  # the camera shifted ~2 px
    labeler = Labeler()
    pairs = [(renoised(a, 1), renoised(a, 2)), (renoised(a, 3), renoised(b, 4))]
    for before, after in pairs:
        for oid in a.instance_ids:
            u, v = push_pixel(a.labels == oid)
            t = Transition(before, after, Push(u, v, 0.0, 0.05), PushResult(Outcome.EXECUTED), "semi-real")
            res = labeler.label_transition(t)
            assert not res.label.accepted, (oid, res.stats)


# --- score 0 -------------------------------------------------------------------------------------


def test_a_label_of_score_zero_is_never_kept(monkeypatch):
    from pushseg.labeling import labeler as labeler_module
    from pushseg.labeling.synthetic import Block, Scene, make_transition

    scene = Scene(480, 270, [Block(200, 120, 60, 50, shift=(10.0, 0.0), seed=5)])
    t = make_transition(scene, Push(u=201.0, v=145.0, angle=0.0, length=0.05))
    assert Labeler(LabelConfig(min_score=0.0)).label_transition(t).label.accepted
    monkeypatch.setattr(labeler_module.gates, "quality_score", lambda *a, **k: 0.0)
    res = Labeler(LabelConfig(min_score=0.0)).label_transition(t)
    assert res.label.reason == "low_score" and res.label.mask is None
