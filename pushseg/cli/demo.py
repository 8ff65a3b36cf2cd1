"""``pushseg demo``: the whole SelfDeepMask loop in simulation, with a report."""

from __future__ import annotations

import argparse

from pushseg.evaluation.demo import DemoConfig


def add_parser(subparsers) -> None:
    d = DemoConfig()
    p = subparsers.add_parser(
        "demo", help="pretrained model -> collect -> label -> fine-tune -> evaluate, in simulation",
        description="Run the SelfDeepMask experiment end to end in simulation and write a report folder "
                    "(report.md, report.json, overlays/*.png): four models on held-out target-test scenes -- "
                    "pretrained, pretrained with NMS, fine-tuned on self-made labels (SelfDeepMask) and on "
                    "ground-truth labels of the same images (oracle). Steps whose output exists are skipped, "
                    "so re-running continues an interrupted demo.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default="out/demo", help="report folder")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--episodes", type=int, default=d.episodes, help="collection episodes (scenes)")
    p.add_argument("--pushes", type=int, default=d.pushes_per_episode, help="pushes per episode")
    p.add_argument("--test-scenes", type=int, default=d.test_scenes)
    p.add_argument("--epochs", type=int, default=d.finetune_epochs, help="fine-tuning epochs")
    p.add_argument("--batches", type=int, default=d.finetune_batches, help="fine-tuning batches per epoch")
    p.add_argument("--nms", type=float, default=d.nms)
    p.add_argument("--overlays", type=int, default=d.overlays)
    p.add_argument("--workers", type=int, default=d.workers, help="processes for collection and labelling")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0: torch default; 1 avoids spin-waiting on a busy machine)")
    p.add_argument("--model", default="", help="pretrained model (default: the committed checkpoint)")
    p.add_argument("--pretrain", action="store_true", help="pretrain on fresh source scenes instead (slow)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pushseg.evaluation.demo import run_demo

    cfg = DemoConfig(seed=args.seed, episodes=args.episodes, pushes_per_episode=args.pushes,
                     test_scenes=args.test_scenes, finetune_epochs=args.epochs, finetune_batches=args.batches,
                     nms=args.nms, overlays=args.overlays, workers=args.workers, threads=args.threads,
                     model=args.model, pretrain=args.pretrain)
    run_demo(args.out, cfg, progress=not args.no_progress)
    return 0
