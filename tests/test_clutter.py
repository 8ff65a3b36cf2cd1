"""Clutter levels: scenes of each level have the contacts and occlusion the level names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pushseg.data.scenes import ScenesConfig, write_scenes
from pushseg.errors import InputError


@pytest.fixture(scope="module")
def levels(tmp_path_factory):
    out = tmp_path_factory.mktemp("clutter") / "scenes"
    cfg = ScenesConfig(split="target-test", count=9, seed=1, width=240, height=135, clutter="levels")
    write_scenes(cfg, out, progress=False)
    return json.loads((out / "annotations.json").read_text())["images"]


def _of(images, level):
    return [im["clutter"] for im in images if im["clutter"]["level"] == level]


def test_levels_cycle_in_order_and_are_recorded_per_scene(levels):
    assert [im["clutter"]["level"] for im in levels] == ["separated", "touching", "piled"] * 3
    for im in levels:
        assert 6 <= im["clutter"]["objects"] <= 8


def test_separated_objects_neither_touch_nor_hide_each_other(levels):
    for c in _of(levels, "separated"):
        assert c["contacts"] == 0 and c["touching_share"] == 0 and c["leaning"] == 0
        assert c["max_occlusion"] < 0.05


def test_touching_objects_all_touch_and_stand_on_the_table(levels):
    for c in _of(levels, "touching"):
        assert c["touching_share"] == 1.0 and c["contacts"] >= c["objects"] - 1
        assert c["leaning"] == 0 and c["held_up"] == 0


def test_piles_hold_leaning_objects_and_hide_more(levels):
    piled, touching = _of(levels, "piled"), _of(levels, "touching")
    for c in piled:
        assert c["leaning"] >= 1 and c["touching_share"] >= 0.8
    assert np.mean([c["mean_occlusion"] for c in piled]) > 2 * np.mean([c["mean_occlusion"] for c in touching])
    assert max(c["max_occlusion"] for c in piled) > 0.2


def test_default_placement_records_no_level_and_unknown_levels_are_refused(tmp_path):
    cfg = ScenesConfig(split="target-test", count=1, seed=1, width=96, height=64)
    assert "clutter" not in cfg.to_dict()  # folders made before levels keep their settings record
    write_scenes(cfg, tmp_path / "plain", progress=False)
    images = json.loads((tmp_path / "plain" / "annotations.json").read_text())["images"]
    assert "clutter" not in images[0]
    with pytest.raises(InputError, match="--clutter must be one of separated, touching, piled"):
        ScenesConfig(clutter="heap")
