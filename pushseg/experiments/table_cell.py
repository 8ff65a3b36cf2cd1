"""One cell of an experiment: one variant at one seed, in its own folder.

``OUT/cells/<variant>/seed-<s>/``::

    config.json        the resolved recipe: variant, profile sizes, seeds, model, data
    log.txt            what happened, with times
    model/             fine-tuning output (model.pt, train_log.json, last.pt to resume)
    val.json           target-val AP for every NMS threshold tried, and the choice
    test.json          target-test AP (+ per-scene records for the bootstrap); written once
    test_results.json  the target-test detections (COCO results, RLE)
    interactive.json   Fig. 4: AP after each push (when the experiment asks for it)
    done.json          the cell finished every evaluation it was asked for

The order is the protocol: train, choose on target-val, then read target-test
once. A finished evaluation is never redone; a cell whose ``config.json`` differs
from the recipe asked for is refused (another ``--out`` is needed).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pushseg.errors import InputError
from pushseg.experiments import data as D
from pushseg.experiments.scene_ap import ap_of, records_to_json, scene_records
from pushseg.experiments.specs import Profile, Variant, digest
from pushseg.experiments.splits import split_seed


@dataclass(frozen=True)
class Cell:
    variant: Variant
    seed: int
    evaluations: tuple[str, ...] = ("test",)

    @property
    def name(self) -> str:
        return f"{self.variant.key}/seed-{self.seed}"


def cell_dir(out: Path, cell: Cell) -> Path:
    return out / "cells" / cell.variant.key / f"seed-{cell.seed}"


def pretrained_path(profile: Profile) -> Path:
    from pushseg.training.checkpoint import PAPER_RGB_PATH

    return Path(profile.model) if profile.model else PAPER_RGB_PATH


def resolved_config(cell: Cell, profile: Profile, data_seed: int) -> dict[str, Any]:
    v = cell.variant
    model = pretrained_path(profile)
    cfg: dict[str, Any] = {
        "variant": v.key, "recipe": v.recipe(), "seed": cell.seed, "data_seed": data_seed,
        "pretrained": {"path": str(model), "bytes": model.stat().st_size if model.is_file() else None},
        "scenes": {"width": profile.width, "height": profile.height, "val": profile.val_scenes,
                   "test": profile.test_scenes, "objects": [profile.min_objects, profile.max_objects],
                   "val_seed": split_seed("target-val", data_seed), "test_seed": split_seed("target-test", data_seed)},
        "inference": {"top_k": profile.top_k, "scales": list(profile.scales) if profile.scales else "model", "nms_grid": list(profile.nms_grid),
                      "select_metric": profile.select_metric},
        "world": profile.world,
    }
    if v.trains:
        cfg["collection"] = {"episodes": profile.episodes[v.data], "pushes_per_episode": profile.pushes_per_episode,
                             "seed": split_seed("target-train", cell.seed)}
        if v.agent != "separation":
            cfg["collection"]["agent"] = v.agent
        cfg["finetune"] = finetune_config(cell, profile).to_dict()
    return cfg


def finetune_config(cell: Cell, profile: Profile):
    from pushseg.training.config import TrainConfig

    try:
        return TrainConfig(**{**profile.finetune, **cell.variant.train, "seed": cell.seed, "threads": profile.threads})
    except TypeError as e:
        raise InputError(f"variant {cell.variant.key}: training settings {cell.variant.train}: {e}") from None


class _Log:
    def __init__(self, path: Path) -> None:
        self.path, self.t0 = path, time.perf_counter()

    def __call__(self, msg: str) -> None:
        with open(self.path, "a") as f:
            f.write(f"[{time.perf_counter() - self.t0:7.1f} s] {msg}\n")


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n")
    os.replace(tmp, path)


# -- inference --------------------------------------------------------------------------------


def _segmenter(model, profile: Profile):
    from pushseg.training.config import InferenceConfig
    from pushseg.training.inference import Segmenter

    scales = profile.scales or tuple(model.meta.get("scales", (1.0,)))
    return Segmenter(model, InferenceConfig(scales=scales, top_k=profile.top_k, nms_threshold=None))


def segment_images(segmenter, rgbs: list[np.ndarray]) -> list[list]:
    """Every image's detections before NMS (NMS is applied per threshold afterwards)."""
    out: list[list] = []
    bs = max(1, segmenter.cfg.batch_size)
    for start in range(0, len(rgbs), bs):
        out.extend(segmenter(rgbs[start:start + bs]))
    return out


def apply_nms(dets: list, threshold: float | None) -> list:
    from pushseg.training.nms import mask_nms

    if threshold is None or not dets:
        return list(dets)
    keep = mask_nms([d.rle for d in dets], [d.score for d in dets], threshold)
    return [dets[i] for i in keep]


def to_results(image_ids: list[int], per_image: list[list]) -> list[dict[str, Any]]:
    res = []
    for image_id, dets in zip(image_ids, per_image):
        for d in dets:
            rle = dict(d.rle)
            if isinstance(rle.get("counts"), bytes):
                rle["counts"] = rle["counts"].decode("ascii")
            res.append({"image_id": int(image_id), "category_id": 1, "segmentation": rle, "score": float(d.score)})
    return res


def _scene_images(annotations: Path) -> tuple[dict[str, Any], list[int], list[np.ndarray]]:
    from pushseg.data.coco import load_coco
    from pushseg.training.data import find_image, read_rgb

    gt = load_coco(annotations)
    ids = [int(im["id"]) for im in gt["images"]]
    rgbs = [read_rgb(find_image(im["file_name"], [annotations.parent])) for im in gt["images"]]
    return gt, ids, rgbs


def choose_nms(variant: Variant, profile: Profile, gt, ids, raw) -> tuple[float | None, dict[str, Any]]:
    """The NMS threshold of a variant: off, fixed, or the best on target-val by the profile's metric."""
    if variant.nms == "off":
        grid: list[float | None] = [None]
    elif isinstance(variant.nms, (int, float)) and not isinstance(variant.nms, bool):
        grid = [float(variant.nms)]
    else:
        grid = list(profile.nms_grid)
    table = {}
    for thr in grid:
        recs = scene_records(gt, to_results(ids, [apply_nms(d, thr) for d in raw]))
        table["off" if thr is None else f"{thr:g}"] = ap_of(recs)
    best_key = max(table, key=lambda k: (table[k][profile.select_metric], k))
    best = None if best_key == "off" else float(best_key)
    return best, {"grid": table, "chosen": best_key, "metric": profile.select_metric}


# -- the cell ---------------------------------------------------------------------------------


def run_cell(out: Path, cell: Cell, profile: Profile, data_seed: int = 0) -> dict[str, Any]:
    """Train (if the variant trains), choose NMS on target-val, score target-test once; skip what is done."""
    import torch

    from pushseg.stages import finetune
    from pushseg.training.checkpoint import load_model

    d = cell_dir(out, cell)
    d.mkdir(parents=True, exist_ok=True)
    config = resolved_config(cell, profile, data_seed)
    cfg_path = d / "config.json"
    if cfg_path.is_file():
        old = json.loads(cfg_path.read_text())
        if digest(old) != digest(json.loads(json.dumps(config, default=str))):
            raise InputError(f"{d}: this cell was made with other settings (profile or spec changed); "
                             f"use another --out or delete the folder")
    else:
        _write_json(cfg_path, config)
    done_path = d / "done.json"
    before = json.loads(done_path.read_text())["evaluations"] if done_path.is_file() else []
    if set(cell.evaluations) <= set(before):
        return json.loads(done_path.read_text())
    cell = Cell(cell.variant, cell.seed, tuple(e for e in ("test", "interactive") if e in {*before, *cell.evaluations}))
    log = _Log(d / "log.txt")
    cpu0 = time.process_time()
    torch.set_num_threads(max(1, profile.threads))
    v = cell.variant
    stats: dict[str, Any] = {}

    # 1. the model
    if v.trains:
        train_json, stats = D.training_set(out, v, cell.seed, profile)
        model_path = d / "model" / "model.pt"
        if not model_path.is_file():
            log(f"fine-tuning on {stats['train_images']} images ({stats['annotations']} masks) of {train_json.name}")
            finetune(pretrained_path(profile), train_json, d / "model", finetune_config(cell, profile),
                     resume=True, progress=False, meta={"experiment_cell": cell.name})
            log("fine-tuning done")
        model = load_model(model_path)
    else:
        model = load_model(pretrained_path(profile))
    seg = _segmenter(model, profile)

    # 2. every choice on target-val
    val_path = d / "val.json"
    if val_path.is_file():
        val = json.loads(val_path.read_text())
    else:
        gt, ids, rgbs = _scene_images(out / "data" / "target-val" / "annotations.json")
        t = time.perf_counter()
        raw = segment_images(seg, rgbs)
        nms, val = choose_nms(v, profile, gt, ids, raw)
        val["nms"] = nms
        val["seconds"] = round(time.perf_counter() - t, 1)
        _write_json(val_path, val)
        log(f"target-val: NMS {val['chosen']} chosen by {val['metric']} ({val['grid'][val['chosen']]})")
    nms = val["nms"]

    # 3. target-test, once
    result: dict[str, Any] = {"cell": cell.name, "variant": v.key, "seed": cell.seed, "nms": nms,
                              "labels": stats, "evaluations": []}
    if "test" in cell.evaluations:
        test_path = d / "test.json"
        if not test_path.is_file():
            gt, ids, rgbs = _scene_images(out / "data" / "target-test" / "annotations.json")
            t = time.perf_counter()
            dets = [apply_nms(x, nms) for x in segment_images(seg, rgbs)]
            res = to_results(ids, dets)
            recs = scene_records(gt, res)
            _write_json(d / "test_results.json", res)
            _write_json(test_path, {"metrics": ap_of(recs), "scenes": records_to_json(recs),
                                    "seconds": round(time.perf_counter() - t, 1)})
            log(f"target-test: {ap_of(recs)}")
        result["test"] = json.loads(test_path.read_text())["metrics"]
        result["evaluations"].append("test")
    if "interactive" in cell.evaluations:
        from pushseg.experiments.interactive import score_interactive

        path = d / "interactive.json"
        if not path.is_file():
            t = time.perf_counter()
            curve = score_interactive(out / "data" / "interactive", seg, nms)
            curve["seconds"] = round(time.perf_counter() - t, 1)
            _write_json(path, curve)
            log(f"interactive: AP@0.5 per push {[round(x, 1) for x in curve['AP50']]}")
        result["interactive"] = {k: v_ for k, v_ in json.loads(path.read_text()).items() if k != "scenes"}
        result["evaluations"].append("interactive")
    old_cpu = json.loads(done_path.read_text()).get("cpu_seconds", 0.0) if done_path.is_file() else 0.0
    result["cpu_seconds"] = round(old_cpu + time.process_time() - cpu0, 1)  # this process, all its threads
    log(f"done ({result['cpu_seconds']} CPU s in all)")
    _write_json(done_path, result)
    return result
