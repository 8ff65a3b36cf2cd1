"""`pushseg scenes`: labelled simulated scenes with ground-truth COCO masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from conftest import folder_files, run_pushseg
from pushseg.data import images as img
from pushseg.data.coco import decode_mask
from pushseg.data.scenes import ScenesConfig, write_scenes
from pushseg.errors import InputError, RunFolderError

# pycocotools' decode trips numpy 2's __array__ copy warning; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SMALL = ("--width", "320", "--height", "180", "--no-progress")


@pytest.mark.slow
def test_scenes_write_coco_that_matches_the_ground_truth(tmp_path):
    out = tmp_path / "scenes"
    assert run_pushseg("scenes", "--objects", "target-test", "--count", "3", "--seed", "1", "--out", out, *SMALL) == 0
    coco = COCO(str(out / "annotations.json"))
    assert len(coco.getImgIds()) == 3
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["object"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["objects"] == "target-test" and len(meta["seeds"]["scenes"]) == 3
    for image in coco.loadImgs(coco.getImgIds()):
        rgb = img.read_rgb(out / image["file_name"])
        assert rgb.shape == (180, 320, 3)
        depth = img.read_depth(out / image["depth_file"])
        assert np.nanmin(depth) > 0.3 and np.nanmax(depth) < 10.0
        ids = img.read_instance_ids(out / image["instances_file"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        visible = [i for i in np.unique(ids) if i != 0 and (ids == i).sum() >= 30]
        assert 1 <= len(anns) <= 8 and sorted(a["instance_id"] for a in anns) == visible
        for ann in anns:
            mask = coco.annToMask(ann).astype(bool)
            assert np.array_equal(mask, ids == ann["instance_id"])
            assert np.array_equal(decode_mask(ann["segmentation"]), mask)
            assert ann["area"] == mask.sum() and ann["object_name"]


@pytest.mark.slow
def test_scenes_are_deterministic_whatever_the_workers(tmp_path):
    args = ("scenes", "--objects", "source", "--count", "3", "--seed", "5", "--min-objects", "2",
            "--max-objects", "4", *SMALL)  # fmt: skip
    assert run_pushseg(*args, "--out", tmp_path / "a") == 0
    assert run_pushseg(*args, "--out", tmp_path / "b", "--workers", "2") == 0
    assert folder_files(tmp_path / "a") == folder_files(tmp_path / "b")
    write_scenes(ScenesConfig(objects="source", count=1, seed=6, width=320, height=180), tmp_path / "c", progress=False)
    a0 = (tmp_path / "a/images/000000.png").read_bytes()
    assert (tmp_path / "c/images/000000.png").read_bytes() != a0


def test_scenes_bad_input_is_named(tmp_path, capsys):
    assert run_pushseg("scenes", "--objects", "kitchen", "--count", "1", "--out", tmp_path / "x", *SMALL) == 2
    assert "unknown object set 'kitchen'" in capsys.readouterr().err
    with pytest.raises(InputError, match="--count"):
        ScenesConfig(count=0)
    with pytest.raises(InputError, match="--min-objects"):
        ScenesConfig(min_objects=5, max_objects=3)
    (tmp_path / "full").mkdir()
    (tmp_path / "full/x.txt").write_text("keep me")
    with pytest.raises(RunFolderError, match="not empty"):
        write_scenes(ScenesConfig(count=1), tmp_path / "full", progress=False)


def test_target_val_split_has_its_own_seeds_and_records_its_world(tmp_path):
    from pushseg.data.scenes import scene_seeds

    val, test = scene_seeds(0, 50, "target-val"), scene_seeds(0, 50, "target-test")
    assert all(2**32 <= s < 2**33 for s in val) and all(s < 2**32 for s in test)
    assert scene_seeds(0, 5, "target-test") == scene_seeds(0, 5), "target-test keeps the plain derivation"
    write_scenes(ScenesConfig(split="target-val", count=1, seed=1, width=64, height=36), tmp_path / "v", progress=False)
    meta = json.loads((tmp_path / "v" / "meta.json").read_text())
    assert meta["split"] == "target-val" and meta["objects"]["set"] == "target-test"
    assert meta["world"]["name"] == "robot" and meta["world"]["nuisances"]["calibration"] == 1.0
    assert meta["seeds"]["scenes"] == scene_seeds(1, 1, "target-val")
    with pytest.raises(InputError, match="split 'target-val' uses the 'target-test' objects"):
        ScenesConfig(split="target-val", objects="source")
    with pytest.raises(InputError, match="unknown split"):
        ScenesConfig(split="val")
    with pytest.raises(InputError, match="unknown world"):
        ScenesConfig(world="kitchen")
