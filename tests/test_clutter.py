"""Clutter levels: scenes of each level have the contacts, support and occlusion the level names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pushseg.data import scenes as sc
from pushseg.data.scenes import ScenesConfig, write_scenes
from pushseg.envs.clutter import apart_groups
from pushseg.envs.sim_backend import SimConfig
from pushseg.errors import InputError

KEYS = {"level", "objects", "contacts", "touching_share", "supported", "lifted", "leaning", "mean_occlusion",
        "max_occlusion"}


@pytest.fixture(scope="module")
def levels(tmp_path_factory):
    out = tmp_path_factory.mktemp("clutter") / "scenes"
    cfg = ScenesConfig(split="target-test", count=12, seed=1, width=240, height=135, clutter="levels")
    write_scenes(cfg, out, progress=False)
    return json.loads((out / "annotations.json").read_text())["images"]


def _of(images, level):
    return [im["clutter"] for im in images if im["clutter"]["level"] == level]


def test_levels_cycle_in_order_and_are_recorded_per_scene(levels):
    assert [im["clutter"]["level"] for im in levels] == ["separated", "touching", "piled"] * 4
    for im in levels:
        assert set(im["clutter"]) == KEYS
        assert 6 <= im["clutter"]["objects"] <= 8


def test_separated_objects_neither_touch_nor_hide_each_other(levels):
    for c in _of(levels, "separated"):
        assert c["contacts"] == 0 and c["touching_share"] == 0 and c["supported"] == 0 and c["lifted"] == 0
        assert c["mean_occlusion"] < 0.02 and c["max_occlusion"] < 0.05


def test_touching_objects_all_touch_and_stand_on_the_table(levels):
    for c in _of(levels, "touching"):
        assert c["touching_share"] == 1.0 and c["contacts"] >= c["objects"] - 1
        assert c["supported"] == 0 and c["lifted"] == 0


def test_piles_hold_objects_on_or_against_others_and_hide_more(levels):
    piled, touching = _of(levels, "piled"), _of(levels, "touching")
    for c in piled:
        assert c["supported"] >= 1 and c["touching_share"] >= 0.6
    assert sum(c["lifted"] for c in piled) >= 1
    mean = {lvl: np.mean([c["mean_occlusion"] for c in _of(levels, lvl)]) for lvl in ("separated", "touching")}
    assert np.mean([c["mean_occlusion"] for c in piled]) > max(0.06, 2 * mean["touching"], 2 * mean["separated"])
    assert max(c["max_occlusion"] for c in piled) > 0.3
    assert touching  # the comparison above had scenes of both


def test_a_level_of_a_scene_depends_on_its_index_only():
    cfg = ScenesConfig(count=5, clutter="levels")
    assert [cfg.level_of(i) for i in range(5)] == ["separated", "touching", "piled", "separated", "touching"]
    assert [ScenesConfig(clutter="piled").level_of(i) for i in range(3)] == ["piled"] * 3
    assert ScenesConfig().level_of(4) is None


def test_objects_whose_boxes_do_not_overlap_share_a_render():
    boxes = {1: (0, 0, 9, 9), 2: (5, 5, 14, 14), 3: (20, 0, 29, 9), 4: (12, 12, 30, 30)}
    assert apart_groups(boxes) == [[1, 3, 4], [2]]


def test_resumed_clutter_scenes_equal_an_uninterrupted_run(tmp_path, monkeypatch):
    cfg = ScenesConfig(split="target-test", count=3, width=96, height=64, min_objects=3, max_objects=3,
                       clutter="levels")
    write_scenes(cfg, tmp_path / "full", progress=False)
    real = sc.render_scene

    def dies_at_the_third(backend, index, seed):
        if index == 2:
            raise KeyboardInterrupt
        return real(backend, index, seed)

    monkeypatch.setattr(sc, "render_scene", dies_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        write_scenes(cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(sc, "render_scene", real)
    write_scenes(cfg, tmp_path / "cut", progress=False, resume=True)
    for name in ("annotations.json", "meta.json"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
    meta = json.loads((tmp_path / "full" / "meta.json").read_text())
    assert meta["config"]["clutter"] == "levels"


def test_default_placement_records_no_level_and_unknown_levels_are_refused(tmp_path):
    cfg = ScenesConfig(split="target-test", count=1, seed=1, width=96, height=64)
    assert "clutter" not in cfg.to_dict()  # folders made before levels keep their settings record
    write_scenes(cfg, tmp_path / "plain", progress=False)
    images = json.loads((tmp_path / "plain" / "annotations.json").read_text())["images"]
    assert "clutter" not in images[0]
    meta = json.loads((tmp_path / "plain" / "meta.json").read_text())
    assert "clutter" not in meta["config"]
    with pytest.raises(InputError, match="--clutter must be one of separated, touching, piled"):
        ScenesConfig(clutter="heap")
    with pytest.raises(InputError, match="clutter_level must be one of separated, touching, piled"):
        SimConfig(clutter_level="heap", width=96, height=64)
