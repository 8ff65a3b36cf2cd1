"""Inference speed: milliseconds per 960x540 image (json on stdout).

Small trunk on CPU always; ResNet-50 on CUDA when there is a GPU. Random weights
(speed does not depend on them), the default pyramid of the committed model (or
``--scales``), top-k 50, NMS 0.5. Usage::

    python benchmarks/inference_speed.py [--images 5] [--threads N] [--scales 1.41,2,2.83]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from pushseg.training.checkpoint import PRETRAINED_PATH, read_checkpoint
from pushseg.training.config import InferenceConfig, ModelConfig
from pushseg.training.inference import Segmenter
from pushseg.training.model import DeepMask


def bench(model: DeepMask, cfg: InferenceConfig, device: str, images: list[np.ndarray]) -> dict:
    seg = Segmenter(model, cfg, device)
    seg(images[:1])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for im in images:
        seg([im])
    if device == "cuda":
        torch.cuda.synchronize()
    ms = 1000 * (time.perf_counter() - t0) / len(images)
    return {"trunk": model.config.trunk, "device": device, "ms_per_image": round(ms, 1),
            "work_width": model.config.work_width, "scales": list(cfg.scales), "images": len(images)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--scales", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (540, 960, 3), dtype=np.uint8) for _ in range(args.images)]
    if args.scales:
        scales = tuple(float(s) for s in args.scales.split(","))
    elif PRETRAINED_PATH.is_file():
        scales = tuple(read_checkpoint(PRETRAINED_PATH)["meta"].get("scales", (1.0,)))
    else:
        scales = InferenceConfig().scales
    cfg = InferenceConfig(scales=scales, top_k=50, nms_threshold=0.5)
    out = {"host": platform.node(), "torch": torch.__version__, "threads": torch.get_num_threads(), "results": []}
    out["results"].append(bench(DeepMask(ModelConfig()).eval(), cfg, "cpu", images))
    if torch.cuda.is_available():
        # ResNet-50 at full resolution: the same pyramid relative to objects (work width 960, object size 92)
        r50 = DeepMask(ModelConfig.preset("resnet50")).eval()
        k = 92 / 56 * 480 / 960
        out["results"].append(bench(r50, InferenceConfig(scales=tuple(s * k for s in scales)), "cuda", images))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
