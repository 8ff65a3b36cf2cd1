"""The committed pretrained checkpoints load and scores on source validation; the demo runs end to end."""

from __future__ import annotations

import json

import pytest

from pushseg.evaluation.coco_eval import evaluate_model
from pushseg.training.checkpoint import PAPER_RGB_PATH, PRETRAINED_PATH, load_model
from pushseg.training.config import InferenceConfig
from pushseg.training.inference import Segmenter

pytestmark = pytest.mark.slow  # scores two checkpoints and runs the demo end to end


@pytest.fixture(scope="module")
def source_val(tmp_path_factory):
    from pushseg.data.scenes import ScenesConfig, write_scenes

    d = tmp_path_factory.mktemp("source_val")
    # seed 200 = the validation seed in README (pretraining used seed 100)
    write_scenes(ScenesConfig(objects="source", count=4, seed=200, width=480, height=270), d, progress=False)
    return d


@pytest.mark.parametrize("path", [PRETRAINED_PATH, PAPER_RGB_PATH], ids=["default", "paper-rgb"])
def test_committed_checkpoint_loads_and_scores_on_source_validation(source_val, path):
    assert path.is_file(), "the pretrained checkpoint must be committed"
    assert path.stat().st_size <= 25 * 2**20
    model = load_model(path, trunk="small")
    assert "pushseg pretrain" in model.meta["command"]
    cfg = InferenceConfig(scales=tuple(model.meta["scales"]), nms_threshold=0.5)
    metrics = evaluate_model(Segmenter(model, cfg), source_val / "annotations.json", progress=False)["metrics"]
    assert metrics["AP50"] >= 40, metrics  # README: >= 50 on the 30 validation scenes; 4 scenes vary more


def test_demo_end_to_end_tiny(tmp_path):
    from pushseg.cli.main import main

    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--episodes", "2", "--pushes", "3", "--test-scenes", "1", "--val-scenes", "1", "--epochs", "1",
            "--batches", "2", "--overlays", "1", "--no-progress"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert len(report["metrics"]) == 4
    # One run is no evidence: the report says so instead of declaring a winner.
    assert "single run" in report["evidence"].lower() and "pushseg experiment" in report["evidence"]
    assert not any("beats" in key for key in report)
    for m in report["metrics"].values():
        assert {"AP50", "AP75", "AP"} <= set(m)
    # every model scored at the operating point it chose on target-val; the row without NMS keeps none
    points = report["operating_points"]
    assert list(points) == list(report["metrics"]) and points["DeepMask (pretrained)"]["nms"] is None
    assert all(p["nms"] is not None for name, p in points.items() if "NMS" in name)
    assert len(list((out / "eval" / "val").glob("*.json"))) == 4
    assert (out / "report.md").read_text().startswith("# pushseg demo")
    assert (out / "overlays" / report["overlays"][0]).is_file()
    # a second run finds every step's output and does no work
    assert main(args) == 0
    assert json.loads((out / "report.json").read_text())["metrics"] == report["metrics"]
    # the resolved config of that demo makes the same report again, from scratch elsewhere
    again = tmp_path / "again"
    assert main(["demo", "--config", str(out / "config.yaml"), "--out", str(again), "--no-progress"]) == 0
    report2 = json.loads((again / "report.json").read_text())
    assert report2["config"] == report["config"]
    timing = {"seconds_per_image"}
    assert ({k: {x: y for x, y in m.items() if x not in timing} for k, m in report2["metrics"].items()}
            == {k: {x: y for x, y in m.items() if x not in timing} for k, m in report["metrics"].items()})
    assert (again / "labels.json").read_text().replace(str(again), "") == (out / "labels.json").read_text().replace(str(out), "")
