"""DDP on CPU (gloo): N torchrun processes against one process with the same global batch (json on stdout).

Fine-tunes the committed pretrained model (the paper's recipe: score head, SGD,
bootstrapping) on synthetic shapes, once in one process and once under
``torchrun --nproc_per_node N -m pushseg finetune``, and reports the
largest weight difference between the two results, the largest difference of the
logged losses, the patches per second of the second (timed) epoch of each, and the
CPU seconds of each whole command (start-up included, all processes).
Usage::

    python benchmarks/train_ddp.py [--nproc 2] [--batches 20] [--batch-size 32] [--threads 1]

``--threads`` is the torch threads per process (one process with ``--threads 1``
against N ranks with one thread each measures how DDP scales; on a machine that
is busy with other work the wall-clock figures say more about the load than DDP).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from pushseg.training.checkpoint import PRETRAINED_PATH, load_model
from pushseg.training.synthetic import write_synthetic_set


def finetune_cmd(args: argparse.Namespace, labels: Path, out: Path) -> list[str]:
    return ["finetune", "--labels", str(labels), "--model", str(PRETRAINED_PATH), "--out", str(out), "--epochs", "2",
            "--batches", str(args.batches), "--batch-size", str(args.batch_size), "--device", "cpu", "--no-progress",
            "--threads", str(args.threads)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--batches", type=int, default=20, help="batches per epoch (2 epochs; the second is timed)")
    ap.add_argument("--batch-size", type=int, default=32, help="the global batch")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    args = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        labels = write_synthetic_set(tmp / "shapes", 20, seed=0, height=270, width=480, objects=(2, 5),
                                     size_range=(20, 45))
        runs = {
            "single": [sys.executable, "-m", "pushseg.training", *finetune_cmd(args, labels, tmp / "single")],
            "ddp": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(args.nproc),
                    "-m", "pushseg.training", *finetune_cmd(args, labels, tmp / "ddp")],
        }
        logs, cpu = {}, {}
        for name, cmd in runs.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)
            logs[name] = json.loads((tmp / name / "train_log.json").read_text())
        one, many = load_model(tmp / "single" / "model.pt").state_dict(), load_model(tmp / "ddp" / "model.pt").state_dict()
        start = load_model(PRETRAINED_PATH).state_dict()
        patches = args.batches * args.batch_size
        speed = {k: round(patches / v[-1]["time_s"], 1) for k, v in logs.items()}
        out = {
            "nproc": args.nproc, "threads_per_process": args.threads, "global_batch": args.batch_size,
            "batches": 2 * args.batches,
            "max_weight_diff": max((one[k] - many[k]).abs().max().item() for k in one),
            "max_weight_change_from_start": max((one[k] - start[k]).abs().max().item() for k in one),
            "max_loss_diff": max(abs(a["loss"] - b["loss"]) for a, b in zip(logs["single"], logs["ddp"])),
            "patches_per_s": speed, "ddp_over_single": round(speed["ddp"] / speed["single"], 2),
            "cpu_s_whole_command": cpu,  # start-up and both epochs, all processes
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
