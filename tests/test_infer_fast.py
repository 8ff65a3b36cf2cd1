"""The fast inference path against the reference path, table regions, scale choice and input checks."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from pushseg.errors import InputError
from pushseg.training.config import InferenceConfig, ModelConfig, parse_scales
from pushseg.training.inference import Segmenter, table_region, window_box
from pushseg.training.model import DeepMask
from pushseg.types import CameraInfo


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # no OpenMP spin-waiting when the cores are shared
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = DeepMask(ModelConfig(work_width=160, small_widths=(8, 16, 32, 64))).eval()
    with torch.no_grad():  # batch-norm statistics far from identity, so that folding them is really tested
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
        m.mask_head.bias.fill_(1.0)
    return m


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (90, 160, 3), dtype=np.uint8) for _ in range(2)]


def same(a, b):
    assert len(a) == len(b) and sum(len(x) for x in a) > 0, "expected the same, non-empty detections"
    for x, y in zip(a, b):
        assert len(x) == len(y)
        for p, q in zip(x, y):
            assert abs(p.score - q.score) < 1e-5
            assert (p.mask != q.mask).sum() <= 2  # a pixel may flip where a probability sits on the threshold


def test_fast_path_matches_the_reference_path(model, images):
    kw = dict(scales=(1.0, 1.5), top_k=10, max_area_fraction=0.5, batch_size=2)
    ref = Segmenter(model, InferenceConfig(fast=False, **kw), "cpu")
    fast = Segmenter(model, InferenceConfig(**kw), "cpu")
    same(ref(images), fast(images))
    # the caller's model is left as it was: batch norm still there, weights untouched
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in ref.model.modules())
    # a region on less than half of the image (scored window by window) and on most of it (dense, then masked)
    for frac in (0.3, 0.9):
        region = np.zeros((90, 160), bool)
        region[:, : int(160 * frac)] = True
        regions = [region] * len(images)
        same(ref(images, regions), fast(images, regions))


@pytest.mark.slow
def test_fast_path_matches_the_reference_path_with_the_resnet50_trunk(images):
    torch.manual_seed(0)
    net = DeepMask(ModelConfig.preset("resnet50", work_width=160)).eval()
    kw = dict(scales=(1.0,), top_k=5, max_area_fraction=1.0, mask_threshold=0.5)
    same(Segmenter(net, InferenceConfig(fast=False, **kw), "cpu")(images[:1]),
         Segmenter(net, InferenceConfig(**kw), "cpu")(images[:1]))


def test_region_keeps_only_windows_centred_inside(model, images):
    region = np.zeros((90, 160), bool)
    region[20:70, 10:60] = True
    seg = Segmenter(model, InferenceConfig(scales=(1.0, 1.5), top_k=20, max_area_fraction=0.9), "cpu")
    n = 0
    for _, (levels, factor) in seg._pyramid(images, [region] * 2):
        for scale, cands in levels.items():
            for c in cands:
                x0, y0, side = window_box(c.row, c.col, scale, 96, factor)
                assert region[int(round(y0 + side / 2)), int(round(x0 + side / 2))]
                n += 1
    assert n > 0
    assert Segmenter(model, InferenceConfig(scales=(1.0,)), "cpu")(images[:1], [np.zeros((90, 160), bool)]) == [[]]
    with pytest.raises(InputError, match="no region"):
        Segmenter(model, InferenceConfig(table_region=True), "cpu")(images[:1])
    with pytest.raises(InputError, match="region 0"):
        Segmenter(model, InferenceConfig(), "cpu")(images[:1], [np.ones((10, 10), bool)])


def test_table_region_is_the_table_top():
    # a camera 1 m above a table, looking straight down: the table is a 120 x 80 px rectangle, a box stands on it
    K = np.array([[200.0, 0, 80], [0, 200.0, 60], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = [[1, 0, 0], [0, -1, 0], [0, 0, -1]]  # optical axes in base_link: x forward, y right, z down
    T[2, 3] = 1.8
    cam = CameraInfo(width=160, height=120, K=K, T_base_camera=T)
    depth = np.full((120, 160), np.nan, np.float32)
    depth[20:100, 20:140] = 1.0
    depth[50:70, 60:80] = 0.9  # an object 10 cm tall
    region = table_region(cam, depth, margin_px=0)
    assert region[50:70, 60:80].all() and region[20:100, 20:140].mean() > 0.97
    assert not region[:15].any() and not region[:, :15].any()
    with pytest.raises(InputError, match="shape"):
        table_region(cam, depth[:10])


def test_choose_scales_picks_the_cheapest_subset_near_the_best(tmp_path, model):
    from pushseg.evaluation.coco_eval import choose_scales
    from pushseg.training.synthetic import write_synthetic_set

    write_synthetic_set(tmp_path / "s", 2, seed=0, height=90, width=160, objects=(2, 3))
    seg = Segmenter(model, InferenceConfig(scales=(1.0, 1.5, 2.0), top_k=20), "cpu")
    pick = choose_scales(seg, tmp_path / "s" / "annotations.json", tolerance=0.5)
    table = pick["table"]
    assert len(table) == 7 and pick["images"] == 2
    best = max(r["AP50"] for r in table)
    chosen = next(r for r in table if r["scales"] == pick["scales"])
    assert chosen["AP50"] >= best - 0.5
    assert all(r["cost"] >= chosen["cost"] for r in table if r["AP50"] >= best - 0.5)
    # a subset's AP is what a Segmenter with just those scales scores
    from pushseg.evaluation.coco_eval import evaluate_model

    for row in table[:3]:
        cfg = InferenceConfig(scales=tuple(row["scales"]), top_k=20)
        m = evaluate_model(Segmenter(model, cfg, "cpu"), tmp_path / "s" / "annotations.json", progress=False)
        assert [m["metrics"][k] for k in ("AP50", "AP75", "AP")] == [row["AP50"], row["AP75"], row["AP"]]


@pytest.mark.parametrize("kw, text", [
    (dict(scales=(0.0, -1.0)), "scale"), (dict(scales="abc"), "not a number"), (dict(scales=()), "empty"),
    (dict(scales=(float("nan"),)), "finite"), (dict(scales=(100.0,)), r"\(0, 8\]"), (dict(top_k=0), "top_k"),
    (dict(top_k=2.5), "top_k"), (dict(mask_threshold=1.0), "mask_threshold"), (dict(nms_threshold=1.5), "nms"),
    (dict(max_area_fraction=0.0), "max_area"), (dict(min_area_px=-1), "min_area"), (dict(batch_size=0), "batch"),
])
def test_inference_config_refuses_bad_values_in_one_line(kw, text):
    with pytest.raises(InputError, match=text) as e:
        InferenceConfig(**kw)
    assert "\n" not in str(e.value)


def test_scales_parse_from_text():
    assert parse_scales("1.41, 2,2.83") == (1.41, 2.0, 2.83)
    assert InferenceConfig(scales="1,2").scales == (1.0, 2.0)
    assert InferenceConfig(scales=[1, 2]).scales == (1.0, 2.0)


def test_segmenter_refuses_bad_images_and_models_quickly(model, images):
    seg = Segmenter(model, InferenceConfig(scales=(1.0,)), "cpu")
    bad = [
        ([np.zeros((1, 1, 3), np.uint8)], "1x1"),
        ([np.zeros((90, 160), np.uint8)], "RGB"),
        ([np.zeros((90, 160, 4), np.uint8)], "RGB"),
        ([np.zeros((90, 160, 3), np.float32)], "uint8"),
        ([np.zeros((32, 1000, 3), np.uint8)], "aspect"),
        (["x.png"], "numpy"),
        (images[0], "list"),
    ]
    for arg, text in bad:
        t = time.perf_counter()
        with pytest.raises(InputError, match=text) as e:
            seg(arg)
        assert time.perf_counter() - t < 0.5 and "\n" not in str(e.value)
    broken = DeepMask(model.config)
    broken.load_state_dict(model.state_dict())
    with torch.no_grad():
        broken.score_head[1].weight[0, 0] = float("nan")
    with pytest.raises(InputError, match="non-finite weights.*score_head"):
        Segmenter(broken, InferenceConfig(), "cpu")
    with pytest.raises(InputError, match="device 'tpu'"):
        Segmenter(model, InferenceConfig(), "tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="cuda"):
            Segmenter(model, InferenceConfig(), "cuda")


def test_evaluate_model_with_table_regions_from_scene_depth(tmp_path, model):
    from pushseg.data.scenes import ScenesConfig, write_scenes
    from pushseg.evaluation.coco_eval import CocoEvaluator, evaluate_model
    from pushseg.training.synthetic import write_synthetic_set

    write_scenes(ScenesConfig(objects="target-test", count=1, seed=1, width=160, height=90), tmp_path / "t",
                 progress=False)
    cfg = InferenceConfig(scales=(1.0,), top_k=10, table_region=True, max_area_fraction=0.5)
    ev = CocoEvaluator()
    r = evaluate_model(Segmenter(model, cfg, "cpu"), tmp_path / "t" / "annotations.json", progress=False, evaluator=ev)
    assert r["metrics"]["images"] == 1 and len(r["per_image"]) == 1 and ev.image_ids == [1]
    # a COCO set without depth cannot give a table region, and says so
    write_synthetic_set(tmp_path / "s", 1, seed=0, height=90, width=160)
    with pytest.raises(InputError, match="depth_file"):
        evaluate_model(Segmenter(model, cfg, "cpu"), tmp_path / "s" / "annotations.json", progress=False)
