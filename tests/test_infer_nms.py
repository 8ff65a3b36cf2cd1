"""NMS on hand-made masks, mask pasting geometry and the Segmenter's filters."""

from __future__ import annotations

import numpy as np
import torch

from pushseg.training.config import InferenceConfig, ModelConfig
from pushseg.training.inference import Segmenter, paste_mask, window_box
from pushseg.training.model import DeepMask
from pushseg.training.nms import mask_iou_matrix, mask_nms, rle_encode


def box(h, w, x0, y0, x1, y1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_nms_on_hand_made_masks():
    a = box(50, 50, 0, 0, 20, 20)  # 400 px
    b = box(50, 50, 0, 5, 20, 25)  # IoU with a: 300 / 500 = 0.6
    c = box(50, 50, 30, 30, 45, 45)  # disjoint
    d = box(50, 50, 0, 0, 10, 10)  # inside a: IoU 100 / 400 = 0.25
    rles = rle_encode([a, b, c, d])
    iou = mask_iou_matrix(rles)
    assert np.isclose(iou[0, 1], 0.6) and iou[0, 2] == 0 and np.isclose(iou[0, 3], 0.25)
    scores = [0.9, 0.8, 0.7, 0.6]
    assert mask_nms(rles, scores, 0.5) == [0, 2, 3]
    assert mask_nms(rles, scores, 0.2) == [0, 2]
    assert mask_nms(rles, scores, 0.7) == [0, 1, 2, 3]
    # the best-scoring mask survives whatever the order
    assert mask_nms(rles, [0.1, 0.95, 0.7, 0.6], 0.5) == [1, 2, 3]


def test_paste_mask_geometry():
    prob = np.ones((8, 8), np.float32)
    out = paste_mask(prob, 10, 20, 16, 60, 50)
    ys, xs = np.nonzero(out > 0.5)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (10, 25, 20, 35)
    # a box hanging over the border is clipped
    out = paste_mask(prob, -8, -8, 16, 60, 50)
    assert out.shape == (60, 50) and (out > 0.5).sum() == 64
    # window (row, col) at scale s and resize factor f is centred on image px (16 col / (s f), 16 row / (s f))
    x0, y0, side = window_box(3, 5, 2.0, 96, 0.5)
    assert (x0 + side / 2, y0 + side / 2, side) == (80.0, 48.0, 96.0)


def test_segmenter_outputs_and_filters():
    torch.manual_seed(0)
    model = DeepMask(ModelConfig(work_width=120, small_widths=(8, 16, 32, 64))).eval()
    with torch.no_grad():
        model.mask_head.bias.fill_(3.0)  # every mask is the full window: large masks
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (90, 160, 3), dtype=np.uint8) for _ in range(3)]
    cfg = InferenceConfig(scales=(1.0, 2.0), top_k=30, nms_threshold=0.5, max_area_fraction=0.5, batch_size=2)
    seg = Segmenter(model, cfg)
    results = seg(images)
    assert len(results) == 3
    for dets in results:
        assert dets, "expected detections"
        scores = [d.score for d in dets]
        assert scores == sorted(scores, reverse=True)
        for d in dets:
            assert d.mask.shape == (90, 160) and d.mask.dtype == bool
            assert d.mask.sum() <= 0.5 * 90 * 160
        iou = mask_iou_matrix([d.rle for d in dets])
        assert (iou[np.triu_indices(len(dets), 1)] <= 0.5).all()
    # batching does not change the answer
    one = Segmenter(model, InferenceConfig(**{**cfg.__dict__, "batch_size": 1}))([images[2]])[0]
    assert [d.score for d in one] == [d.score for d in results[2]]
    # a tight area filter drops everything; no NMS keeps overlapping proposals
    assert Segmenter(model, InferenceConfig(scales=(1.0,), max_area_fraction=0.001))(images[:1]) == [[]]
    raw = Segmenter(model, InferenceConfig(scales=(1.0, 2.0), top_k=30, nms_threshold=None, max_area_fraction=0.5))
    assert len(raw(images[:1])[0]) > len(results[0])
