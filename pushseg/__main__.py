"""``python -m pushseg pretrain|finetune ...``: the training commands, ready for torchrun.

    torchrun --nproc_per_node 2 -m pushseg finetune --labels labels.json --out OUT --device cpu
    torchrun --nproc_per_node 4 -m pushseg pretrain --scenes SRC --out OUT --trunk resnet50 --device cuda

Every process runs the same command with the same flags; they join one process
group (gloo on CPU, NCCL on CUDA), split each global batch (``--batch-size``)
between them, average gradients, and rank 0 alone prints and writes files. Run
without torchrun it is exactly ``pushseg pretrain|finetune``. See
:mod:`pushseg.training.distributed` for what makes N processes match one.
"""

from __future__ import annotations

import sys

from pushseg.cli.main import main

COMMANDS = ("pretrain", "finetune")


def run(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m pushseg {{{','.join(COMMANDS)}}} [options]  (under torchrun for DDP)",
              file=sys.stderr)
        return 2
    finished = False
    try:
        code = main(argv)
        finished = True
        return code
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            # Leave together: a rank that tears its gloo group down while a peer still talks to it
            # can abort ("terminate called without an active exception"). After a failure a peer
            # may never arrive, so only a finished rank waits.
            if finished:
                dist.barrier()
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(run())
