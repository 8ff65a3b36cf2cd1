"""segment and evaluate commands end to end on synthetic shapes with a tiny model."""

from __future__ import annotations

import json

import cv2
import torch

from pushseg.cli.main import main
from pushseg.training.checkpoint import save_model
from pushseg.training.config import ModelConfig
from pushseg.training.model import DeepMask
from pushseg.training.synthetic import write_synthetic_set


def test_segment_and_evaluate(tmp_path):
    torch.manual_seed(0)
    write_synthetic_set(tmp_path / "s", 2, seed=0, height=90, width=160, objects=(1, 2))
    model = DeepMask(ModelConfig(work_width=160, small_widths=(8, 16, 32, 64)))
    m = save_model(model, tmp_path / "m.pt", meta={"scales": [1.0, 1.5]})
    overlay = tmp_path / "o.png"
    assert main(["segment", str(tmp_path / "s" / "images" / "00000.png"), "--model", str(m), "--out", str(overlay),
                 "--json", str(tmp_path / "d.json")]) == 0
    assert cv2.imread(str(overlay)).shape == (90, 160, 3)
    assert isinstance(json.loads((tmp_path / "d.json").read_text()), list)
    assert main(["evaluate", "--model", str(m), "--scenes", str(tmp_path / "s"), "--out", str(tmp_path / "e"),
                 "--no-progress", "--scales", "1"]) == 0
    doc = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert {"AP50", "AP75", "AP"} <= set(doc["metrics"]) and doc["inference"]["scales"] == [1.0]
    assert "AP@0.5" in (tmp_path / "e" / "metrics.md").read_text()
    assert main(["segment", str(tmp_path / "missing.png"), "--model", str(m), "--out", str(overlay)]) == 2
