"""Fingerprint of training results, to check that a change to the training code changed no number.

Runs a fixed set of short fits on synthetic shapes (pretraining; fine-tuning with and
without bootstrapping, with every single-network noise method, with the mask head, with
the trunk, and from the committed checkpoint) on one thread and saves their weights and
``train_log.json`` entries (times left out). Run it on the old and the new code, then
compare; ``--compare`` exits 1 when anything differs, bit for bit. Usage::

    python benchmarks/train_fingerprint.py --out before.pt      # on the old code
    python benchmarks/train_fingerprint.py --out after.pt       # on the new code
    python benchmarks/train_fingerprint.py --compare before.pt after.pt
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import torch

VARIANTS = {
    "none": {}, "nobs": dict(bootstrap=False), "reed": dict(noise="reed-hard"),
    "sp": dict(noise="self-paced", self_paced_lambda=0.5), "sl": dict(noise="small-loss"),
    "mask": dict(train_mask=True), "trunk": dict(train_trunk=True, train_mask=True, noise="small-loss"),
    "ckpt": dict(noise="small-loss"),
}


def fingerprint(path: str) -> None:
    from pushseg.training.checkpoint import PAPER_RGB_PATH  # an rgb model: the shapes are rgb images
    from pushseg.training.config import ModelConfig, SamplerConfig, TrainConfig
    from pushseg.training.recipes import finetune, pretrain
    from pushseg.training.synthetic import write_synthetic_set

    torch.set_num_threads(1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        j = write_synthetic_set(tmp / "s", 4, seed=0, height=90, width=160, objects=(1, 3))
        mc = ModelConfig(work_width=160, patch_size=64, object_size=40, mask_size=16, small_widths=(8, 16, 32, 64))
        tc = TrainConfig(epochs=2, batches_per_epoch=3, batch_size=8, optimizer="adam", lr=1e-3, weight_decay=0.0,
                         lr_decay="cosine", train_trunk=True, train_mask=True, bootstrap=False, device="cpu", seed=3)
        runs = {"pre": (pretrain(j, tmp / "pre", mc, tc, SamplerConfig(), progress=None), tmp / "pre")}
        for name, kw in VARIANTS.items():
            t = TrainConfig(epochs=2, batches_per_epoch=3, batch_size=20, device="cpu", seed=5, **kw)
            start = PAPER_RGB_PATH if name == "ckpt" else tmp / "pre" / "model.pt"
            runs[name] = (finetune(start, j, tmp / name, t, progress=None), tmp / name)
        for name, (model, folder) in runs.items():
            log = json.loads((folder / "train_log.json").read_text())
            out[name] = ({k: v.detach().clone() for k, v in model.state_dict().items()},
                         [{k: v for k, v in e.items() if k != "time_s"} for e in log])
    torch.save(out, path)
    print(f"wrote {path}: {', '.join(out)}")


def compare(a_path: str, b_path: str) -> int:
    a, b = torch.load(a_path, weights_only=False), torch.load(b_path, weights_only=False)
    nan = lambda log: [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in e.items()} for e in log]  # noqa: E731
    problems = [f"run {k} only in one file" for k in sorted(set(a) ^ set(b))]
    for k in sorted(set(a) & set(b)):
        (wa, la), (wb, lb) = a[k], b[k]
        for n in wa:
            if n not in wb or not torch.equal(wa[n], wb[n]):
                problems.append(f"{k}: weights {n} differ")
        if nan(la) != nan(lb):
            problems.append(f"{k}: train_log differs")
    print("\n".join(problems) if problems else f"IDENTICAL: {len(a)} runs, weights and logs bit for bit")
    return 1 if problems else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write the fingerprint of this code here")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two fingerprints")
    args = ap.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if not args.out:
        ap.error("give --out FILE or --compare A B")
    fingerprint(args.out)


if __name__ == "__main__":
    main()
