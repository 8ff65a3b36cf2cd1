"""The package's top-level names: imported on first use, and each one resolves."""

from __future__ import annotations

import subprocess
import sys

import pushseg


def test_import_pushseg_stays_cheap():
    code = "import sys, pushseg; print(sorted(m for m in ('torch', 'pybullet', 'cv2', 'pycocotools') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_export_resolves():
    for name in pushseg.__all__:
        assert getattr(pushseg, name) is not None, name
    assert pushseg.finetune.__module__ == "pushseg.pipeline.stages"
    assert "Segmenter" in dir(pushseg)
