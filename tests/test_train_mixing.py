"""Real photos in pretraining: polygon masks, photo sets, the mixing sampler and ``pretrain --photos``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pushseg.cli.main import main
from pushseg.data.coco import decode_mask, encode_mask, load_coco
from pushseg.errors import InputError, PushSegError
from pushseg.training.checkpoint import load_model
from pushseg.training.config import ModelConfig
from pushseg.training.data import load_scene_set
from pushseg.training.mixing import MixConfig, MixingSampler, apportion, load_photo_set, photo_mix
from pushseg.training.sampler import PatchSampler
from pushseg.training.synthetic import write_synthetic_set

TINY = ["--work-width", "160", "--patch-size", "64", "--object-size", "40", "--mask-size", "16",
        "--batches", "2", "--batch-size", "8", "--device", "cpu", "--no-progress", "--lr-decay", "none"]


def write_photo_set(root, seed: int = 0) -> str:
    """Three photos (colour JPEG, grayscale PNG, RGBA PNG) with cv2-drawn polygon objects, COCO polygons."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    kinds = [("a.jpg", "rgb"), ("b.png", "gray"), ("c.png", "rgba")]
    for k, (name, kind) in enumerate(kinds, start=1):
        h, w = 120, 200
        img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        for j in range(2):
            cx, cy, r = 50 + 100 * j, 60, 22 + 4 * j
            pts = np.array([[cx + r * np.cos(a), cy + r * np.sin(a)] for a in np.linspace(0, 2 * np.pi, 7)[:-1]])
            cv2.fillPoly(img, [pts.round().astype(np.int32)], tuple(int(v) for v in rng.integers(120, 255, 3)))
            anns.append({"id": len(anns) + 1, "image_id": k, "category_id": 7 + j * 5, "iscrowd": 0,
                         "segmentation": [pts.ravel().round(2).tolist()]})
        # a crowd region (RLE, as COCO stores them): skipped
        crowd = np.zeros((h, w), bool)
        crowd[100:115, 5:40] = True
        anns.append({"id": len(anns) + 1, "image_id": k, "category_id": 1, "iscrowd": 1,
                     "segmentation": encode_mask(crowd)})
        out = {"rgb": img[:, :, ::-1], "gray": cv2.cvtColor(img, cv2.COLOR_RGB2GRAY),
               "rgba": cv2.cvtColor(img, cv2.COLOR_RGB2BGRA)}[kind]
        cv2.imwrite(str(root / "images" / name), out)
        images.append({"id": k, "file_name": f"images/{name}", "width": w, "height": h})
    cats = [{"id": i, "name": f"c{i}"} for i in (1, 7, 12)]
    path = root / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return str(path)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photo_set(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    d = tmp_path_factory.mktemp("shapes")
    write_synthetic_set(d, 4, seed=0, height=90, width=160, objects=(1, 3))
    return d


# -- polygons -------------------------------------------------------------------------------------


def test_polygon_decodes_to_the_rle_of_the_same_shape():
    rect = np.zeros((40, 50), bool)
    rect[5:20, 10:30] = True  # pixels x 10..29, y 5..19: the polygon's corners are pixel corners
    poly = decode_mask([[10, 5, 30, 5, 30, 20, 10, 20]], 40, 50)
    assert np.array_equal(poly, decode_mask(encode_mask(rect)))
    # the rings of one object are merged: their union
    tri = decode_mask([[35, 25, 45, 25, 45, 35]], 40, 50)
    both = decode_mask([[10, 5, 30, 5, 30, 20, 10, 20], [35, 25, 45, 25, 45, 35]], 40, 50)
    assert np.array_equal(both, rect | tri)
    assert abs(int(tri.sum()) - 50) <= 6  # the triangle's area, 10 x 10 / 2
    # a ring reaching past the image is clipped to it
    assert decode_mask([[-10, -10, 60, -10, 60, 50, -10, 50]], 40, 50).all()


@pytest.mark.parametrize("seg, what", [
    ([[10, 5, 30, 5]], "at least 6"),
    ([[10, 5, 30, 5, 30]], "even number"),
    ([[10, 5, "x", 5, 30, 20]], "not a finite number"),
    ([10, 5, 30, 5, 30, 20], "not a list of coordinates"),
    ([], "non-empty"),
])
def test_a_malformed_polygon_is_a_one_line_error(tmp_path, seg, what):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}],
                                "annotations": [{"id": 3, "image_id": 1, "category_id": 1, "segmentation": seg}],
                                "categories": []}))
    with pytest.raises(InputError) as e:
        load_coco(path)
    msg = str(e.value)
    assert "\n" not in msg and "annotation 3" in msg and "polygon" in msg and what in msg and str(path) in msg
    with pytest.raises(InputError, match=what):
        decode_mask(seg, 40, 50)


def test_polygon_ground_truth_is_scored_like_its_rle():
    from pushseg.evaluation.coco_eval import evaluate_results

    rect = np.zeros((40, 50), bool)
    rect[5:20, 10:30] = True
    gt = {"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}], "categories": [],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[10, 5, 30, 5, 30, 20, 10, 20]]}]}
    shifted = np.roll(rect, 4, axis=1)  # IoU 16/24: a hit at 0.5, a miss at 0.75
    m = evaluate_results(gt, [{"image_id": 1, "segmentation": encode_mask(shifted), "score": 0.9}])
    assert m["AP50"] == pytest.approx(100.0) and m["AP75"] == pytest.approx(0.0)


def test_photo_set_loads_every_kind_of_photo_as_rgb_and_skips_crowds(photos):
    images = load_scene_set(photos, 160, photos=True)
    assert len(images) == 3 and all(im.rgb.shape == (96, 160, 3) and im.depth is None for im in images)
    assert [len(im.instances) for im in images] == [2, 2, 2]  # both categories are "object"; crowds skipped
    gray = images[1].rgb
    assert np.array_equal(gray[..., 0], gray[..., 2])
    with pytest.raises(PushSegError, match="grayscale"):  # a scenes folder stays strict about colour
        load_scene_set(photos, 160)


@pytest.mark.slow
def test_coco128_photos_load():
    """The 128 COCO photos (one of them grayscale): every photo, at least 900 of the 929 outlines."""
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "coco128" / "annotations.json"
    path = Path(os.environ.get("PUSHSEG_PHOTOS", default))
    if not path.is_file():
        pytest.skip(f"no photo set at {path} (set PUSHSEG_PHOTOS to a COCO json of photos)")
    images = load_photo_set(MixConfig(photos=str(path)), ModelConfig())
    assert len(images) == 128 and sum(len(im.instances) for im in images) >= 900


# -- the mix --------------------------------------------------------------------------------------


def test_apportion_adds_up_and_follows_the_shares():
    assert apportion(32, [0.75, 0.25]) == [24, 8]
    assert apportion(10, [0.5, 0.25, 0.25]) == [5, 3, 2]
    for n in range(0, 40):
        c = apportion(n, [0.7, 0.3])
        assert sum(c) == n and abs(c[1] - 0.3 * n) < 1


def mix_of(shapes, photos, share: float, model: ModelConfig) -> MixingSampler:
    sim = PatchSampler(load_scene_set(shapes / "annotations.json", model.work_width), model)
    return photo_mix(sim, MixConfig(photos=photos, photo_share=share))[0]


def test_the_mix_has_the_share_in_every_batch_and_is_seeded(shapes, photos):
    model = ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=16)
    mix = mix_of(shapes, photos, 0.25, model)
    rng = np.random.default_rng(3)
    for _ in range(5):
        b = mix.batch(rng, 32)
        assert int((b["sources"] == 1).sum()) == 8 and b["images"].shape == (32, 3, 64, 64)
        for src in (0, 1):  # each set gives its own half of positives
            assert int((b["labels"][b["sources"] == src] > 0).sum()) == {0: 12, 1: 4}[src]
    a, b = mix.batch(np.random.default_rng(7), 32), mix.batch(np.random.default_rng(7), 32)
    for key in ("images", "masks", "labels", "sources"):
        assert torch.equal(a[key], b[key])
    # collate is free of randomness: rendering any slice (a DDP rank's) gives those rows of the batch
    drawn = mix.draw(np.random.default_rng(7), 32)
    assert torch.equal(mix.collate(drawn)["images"], a["images"])
    rank1 = mix.collate(drawn[1::2])
    assert torch.equal(rank1["images"], a["images"][1::2]) and torch.equal(rank1["masks"], a["masks"][1::2])


def test_the_mix_travels_to_dataloader_workers(shapes, photos):
    """DataLoader workers get the sampler pickled: the copy renders the same batch."""
    import pickle

    model = ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=16)
    mix = mix_of(shapes, photos, 0.5, model)
    drawn = mix.draw(np.random.default_rng(1), 6)
    copy = pickle.loads(pickle.dumps(mix))
    assert torch.equal(copy.collate(drawn)["images"], mix.collate(drawn)["images"])
    assert mix.collate([])["images"].shape == (0, 3, 64, 64)  # a rank with no samples


def test_an_rgbd_mix_gives_photos_no_reading_depth(shapes, photos):
    from pushseg.training.depth_input import DEPTH_CHANNELS

    model = ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=16, input="rgbd")
    images = load_scene_set(shapes / "annotations.json", 160)
    for im in images:  # simulated scenes carry encoded depth; a constant stands in for it here
        im.depth = np.full((*im.rgb.shape[:2], DEPTH_CHANNELS), 0.5, np.float16)
    sim = PatchSampler(images, model)
    mix = photo_mix(sim, MixConfig(photos=photos, photo_share=0.5))[0]
    b = mix.batch(np.random.default_rng(0), 8)
    assert b["depth"].shape == (8, DEPTH_CHANNELS, 64, 64)
    assert torch.count_nonzero(b["depth"][b["sources"] == 1]) == 0
    with pytest.raises(InputError, match="depth-input model"):
        photo_mix(PatchSampler(sim.images, ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=16,
                                                       input="depth")), MixConfig(photos=photos))


def test_bad_mix_settings_are_refused():
    with pytest.raises(InputError, match="photo_share"):
        MixConfig(photos="x.json", photo_share=1.5)
    with pytest.raises(InputError, match="add up to"):
        MixingSampler([object(), object()], [0.5, 0.6])  # type: ignore[list-item]


# -- pretrain --photos ----------------------------------------------------------------------------


@pytest.mark.slow
def test_pretrain_with_photos_records_the_set_and_share(shapes, photos, tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["pretrain", "--scenes", str(shapes), "--out", str(out), "--epochs", "1", *TINY,
                 "--photos", photos, "--set", "mix.photo_share=0.25"]) == 0
    model = load_model(out / "model.pt")
    rec = model.meta["photos"]
    assert rec["share"] == 0.25 and rec["json"] == photos and rec["photos"] == 3 and rec["instances"] == 6
    assert len(model.meta["log"]) == 1
    assert "photo_share: 0.25" in (out / "config.yaml").read_text()
    # the same settings again: the recorded output is what --config reproduces
    assert main(["pretrain", "--scenes", str(shapes), "--out", str(tmp_path / "n"), "--epochs", "1", *TINY,
                 "--config", str(out / "config.yaml")]) == 0
    again = load_model(tmp_path / "n" / "model.pt")
    assert again.meta["photos"]["share"] == 0.25
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_pretrain_with_a_malformed_photo_json_exits_2(shapes, tmp_path, capsys):
    bad = tmp_path / "photos.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}],
                               "annotations": [{"id": 1, "image_id": 1, "segmentation": [[1, 2, 3, 4]]}],
                               "categories": []}))
    assert main(["pretrain", "--scenes", str(shapes), "--out", str(tmp_path / "x"), *TINY,
                 "--photos", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "malformed polygon" in err and str(bad) in err
