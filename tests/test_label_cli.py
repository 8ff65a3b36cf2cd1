"""`pushseg label` on a small run folder of constructed pushes: COCO json, report, summary, pictures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pushseg.cli import label as label_cli
from pushseg.data.run import RunMeta, RunReader, RunWriter
from pushseg.errors import InputError
from pushseg.labeling import Labeler, LabelConfig
from pushseg.labeling.batch import label_run, report_path
from pushseg.labeling.synthetic import Block, Scene, make_transition
from pushseg.types import Outcome, Push, PushResult


def _scenes() -> list[tuple[Scene, Push]]:
    moved = Scene(480, 270, [Block(200, 110, 60, 44, shift=(6.0, 2.0), seed=3), Block(90, 60, 50, 50, seed=5)], seed=1)
    still = Scene(480, 270, [Block(200, 110, 60, 44, seed=3)], seed=2)
    other = Scene(480, 270, [Block(120, 150, 70, 40, shift=(0.0, -7.0), seed=8, color=(60, 160, 90))], seed=3)
    return [
        (moved, Push(201.0, 132.0, 0.0, 0.05)),
        (still, Push(201.0, 132.0, 0.0, 0.05)),  # nothing moved: rejected
        (other, Push(150.0, 189.0, 1.57, 0.05)),
    ]


def make_run(root: Path) -> Path:
    scenes = _scenes()
    first = make_transition(*scenes[0])
    meta = RunMeta(backend="synthetic", camera=first.before.camera)
    with RunWriter.create(root, meta) as w:
        for i, (scene, push) in enumerate(scenes):
            t = make_transition(scene, push)
            t.episode, t.step = i, 0
            w.write(t)
        # A push the robot refused: labelled as such, never looked at.
        t = make_transition(scenes[1][0], scenes[1][1])
        t.result = PushResult(Outcome.REJECTED, reason="outside_workspace: test")
        t.episode, t.step = len(scenes), 0
        w.write(t)
    return root


def run_cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    label_cli.add_parser(sub)
    args = p.parse_args(["label", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "run")


@pytest.mark.slow
def test_coco_json_loads_with_pycocotools_and_rle_decodes_to_the_masks_made(run_dir, tmp_path, capsys):
    out = tmp_path / "labels.json"
    assert run_cli([str(run_dir), "--out", str(out), "--no-progress"]) == 0
    printed = json.loads(capsys.readouterr().out)
    coco = COCO(str(out))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["object"]
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 2 == len(coco.getImgIds())  # one mask per accepted push
    labeler = Labeler(LabelConfig())
    reader = RunReader(run_dir)
    for ann in anns:
        img = coco.loadImgs(ann["image_id"])[0]
        assert Path(img["file_name"]).is_absolute() and Path(img["file_name"]).is_file()
        assert img["run_path"].endswith("before_rgb.png")
        made = labeler.label_transition(reader.transition(img["episode"])).label
        assert np.array_equal(coco.annToMask(ann).astype(bool), made.mask)
        assert isinstance(ann["segmentation"]["counts"], str)  # compressed RLE
        assert ann["area"] == pytest.approx(float(mask_utils.area(coco.annToRLE(ann))))
        assert 0.0 < ann["score"] <= 1.0

    rows = [json.loads(line) for line in report_path(out).read_text().splitlines()]
    assert [r["accepted"] for r in rows] == [True, False, True, False]
    assert [r["reason"] for r in rows] == ["", "no_motion", "", "push_not_executed"]
    for r in rows[:3]:
        assert r["ms"] > 0
    assert rows[0]["iou"] >= 0.9 and rows[0]["gt_id"] == 1  # ground truth is in the synthetic run
    summary = json.loads((tmp_path / "labels_summary.json").read_text())
    assert summary["yield"] == 0.5 and summary["accepted"] == 2
    assert summary["rejected"] == {"no_motion": 1, "push_not_executed": 1}
    assert summary["mean_iou"] >= 0.9 and summary["share_iou_50"] == 1.0
    assert printed["yield"] == summary["yield"]


@pytest.mark.slow
def test_workers_and_gallery_do_not_change_the_labels(run_dir, tmp_path):
    one = label_run(run_dir, tmp_path / "a" / "labels.json", progress=False)
    two = label_run(run_dir, tmp_path / "b" / "labels.json", workers=2, gallery=tmp_path / "gal", progress=False)
    a = json.loads((tmp_path / "a" / "labels.json").read_text())
    b = json.loads((tmp_path / "b" / "labels.json").read_text())
    assert a["annotations"] == b["annotations"] and a["images"] == b["images"]
    assert one["mean_iou"] == two["mean_iou"]
    sheets = sorted(p.name for p in (tmp_path / "gal").glob("*.png"))
    assert sheets == ["e00000_s0000_ok.png", "e00001_s0000_no_motion.png", "e00002_s0000_ok.png"]


@pytest.mark.slow
def test_frame_differencing_and_ablations_run_from_the_cli(run_dir, tmp_path):
    for extra in (["--method", "framediff"], ["--no-action-prior"], ["--no-table-filter"]):
        out = tmp_path / "_".join(e.strip("-") for e in extra) / "labels.json"
        assert run_cli([str(run_dir), "--out", str(out), "--no-progress", *extra]) == 0
        summary = json.loads(out.with_name("labels_summary.json").read_text())
        assert summary["transitions"] == 4


def test_an_empty_run_is_refused(tmp_path):
    root = tmp_path / "empty"
    t = make_transition(*_scenes()[0])
    RunWriter.create(root, RunMeta(backend="synthetic", camera=t.before.camera)).close()
    with pytest.raises(InputError, match="no transitions"):
        label_run(root, tmp_path / "labels.json", progress=False)


def test_out_must_be_a_json_file(run_dir, tmp_path):
    with pytest.raises(InputError, match=".json"):
        label_run(run_dir, tmp_path / "labels", progress=False)
