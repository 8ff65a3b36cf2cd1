"""One cell of an experiment: one variant at one seed, in its own folder.

``OUT/cells/<variant>/seed-<s>/``::

    config.json        the resolved recipe: variant, profile sizes, seeds, model, data
    log.txt            what happened, with times
    model/             fine-tuning output (model.pt, train_log.json, last.pt to resume)
    val.json           the operating point (pyramid and NMS threshold) chosen on target-val, with
                       the AP of every point of the grid and the grid edges the choice sits on
    test.json          target-test AP (+ per-scene records for the bootstrap); written once
    test_results.json  the target-test detections (COCO results, RLE)
    interactive.json   Fig. 4: AP after each push (when the experiment asks for it)
    real.json          AP on real RGB-D frames at the same operating point (with --real-frames; measuring only)
    done.json          the cell finished every evaluation it was asked for

The order is the protocol: train, choose the operating point on target-val, then
read target-test once at that point. A finished evaluation is never redone; a cell whose ``config.json`` differs
from the recipe asked for is refused (another ``--out`` is needed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pushseg import files
from pushseg.data.lock import FolderLock
from pushseg.data.manifest import FOLDER_MANIFEST
from pushseg.errors import InputError
from pushseg.experiments.interactive import score_interactive
from pushseg.experiments.scene_ap import ap_of, records_to_json, scene_records
from pushseg.experiments.operating_point import OperatingPoint, choose, load_scene_set, nms_candidates, pyramid_name, score
from pushseg.experiments.scoring import segmenter_for, to_results
from pushseg.experiments.specs import Profile, Variant
from pushseg.experiments.splits import split_seed
from pushseg.pipeline import experiment_data as D
from pushseg.pipeline.record import check_record, finished_marker
from pushseg.pipeline.stages import finetune
from pushseg.training.checkpoint import PAPER_RGB_PATH, load_model
from pushseg.training.config import TrainConfig
from pushseg.training.inference import Segmenter

CONFIG_FILE, DONE_FILE = "config.json", "done.json"
EVALUATIONS = ("test", "interactive", "real")  # in the order they run


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
        "inference": {"top_k": profile.top_k, "scales": list(profile.scales) if profile.scales else "model",
                      "pyramid_grid": list(profile.pyramid_grid) if profile.pyramid_grid else None,
                      "nms_grid": list(profile.nms_grid), "select_metric": profile.select_metric},
        "world": profile.world,
    }
    if v.trains:
        cfg["collection"] = {"episodes": profile.episodes[v.data], "pushes_per_episode": profile.pushes_per_episode,
                             "seed": split_seed("target-train", cell.seed)}
        if v.agent != "separation":
            cfg["collection"]["agent"] = v.agent
        cfg["finetune"] = finetune_config(cell, profile).to_dict()
    return cfg


def finetune_config(cell: Cell, profile: Profile) -> TrainConfig:
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
    files.write_json_atomic(path, obj, indent=1, sync_dir=False, default=str)


# -- the cell ---------------------------------------------------------------------------------


def _done_evaluations(d: Path) -> list[str]:
    path = d / DONE_FILE
    return json.loads(path.read_text())["evaluations"] if path.is_file() else []


def _recipe(cell: Cell, profile: Profile, data_seed: int) -> dict[str, Any]:
    return json.loads(json.dumps(resolved_config(cell, profile, data_seed), default=str))  # as config.json holds it


def cell_finished(out: Path, cell: Cell, profile: Profile, data_seed: int = 0) -> bool:
    """Every evaluation the cell is asked for is done, with this recipe (another recipe raises)."""
    d = cell_dir(out, cell)
    return (finished_marker(d / DONE_FILE, d / CONFIG_FILE, _recipe(cell, profile, data_seed))
            and set(cell.evaluations) <= set(_done_evaluations(d)))


def _cell_model(out: Path, d: Path, cell: Cell, profile: Profile, log: _Log) -> tuple[Segmenter, dict[str, Any]]:
    """The cell's model: fine-tuned on the variant's training set (once), or the pretrained one."""
    v = cell.variant
    if not v.trains:
        return segmenter_for(load_model(pretrained_path(profile)), profile), {}
    train_json, stats = D.training_set(out, v, cell.seed, profile)
    if not (d / "model" / FOLDER_MANIFEST).is_file():
        log(f"fine-tuning on {stats['train_images']} images ({stats['annotations']} masks) of {train_json.name}")
    # The stage reuses the model only where its manifest proves it made from these labels and settings.
    model_path = finetune(pretrained_path(profile), train_json, d / "model", finetune_config(cell, profile),
                          resume=True, progress=False, meta={"experiment_cell": cell.name})
    return segmenter_for(load_model(model_path), profile), stats


def pyramid_grid(profile: Profile, seg: Segmenter) -> list[str]:
    """The pyramids tried on target-val: the profile's grid, else the segmenter's fixed pyramid alone."""
    return list(profile.pyramid_grid) if profile.pyramid_grid else [pyramid_name(seg.cfg.scales)]


def _choose_on_val(out: Path, d: Path, cell: Cell, profile: Profile, seg: Segmenter, log: _Log) -> OperatingPoint:
    """The operating point (pyramid and NMS threshold), chosen once on target-val and kept in ``val.json``."""
    val_path = d / "val.json"
    if not val_path.is_file():
        scenes = load_scene_set(out / "data" / "target-val" / "annotations.json", seg.model)
        t = time.perf_counter()
        op, val = choose(seg, scenes, pyramid_grid(profile, seg), nms_candidates(cell.variant.nms, profile.nms_grid),
                         profile.select_metric)
        val["seconds"] = round(time.perf_counter() - t, 1)
        _write_json(val_path, val)
        edge = f"; on the edge of the {' and '.join(val['on_edge'])} grid" if val["on_edge"] else ""
        log(f"target-val: pyramid {op.pyramid}, NMS {op.nms} chosen by {val['metric']} ({val['val']}){edge}")
    return OperatingPoint.from_record(json.loads(val_path.read_text()), str(val_path))


def _clutter_levels(gt: dict[str, Any]) -> list[str | None]:
    """Each scene's clutter level (scenes made with one), in the order of the records."""
    by_id = {int(im["id"]): (im.get("clutter") or {}).get("level") for im in gt["images"]}
    return [by_id[i] for i in sorted(by_id)]


def _score_test(out: Path, d: Path, seg: Segmenter, op: OperatingPoint, log: _Log) -> dict[str, Any]:
    """target-test AP at the operating point, scored once (``test.json``, with per-scene records)."""
    test_path = d / "test.json"
    if not test_path.is_file():
        scenes = load_scene_set(out / "data" / "target-test" / "annotations.json", seg.model)
        t = time.perf_counter()
        res = to_results(scenes.ids, score(seg, scenes, op))
        recs = scene_records(scenes.gt, res)
        _write_json(d / "test_results.json", res)
        _write_json(test_path, {"metrics": ap_of(recs), "operating_point": op.to_dict(),
                                "scenes": records_to_json(recs), "clutter": _clutter_levels(scenes.gt),
                                "seconds": round(time.perf_counter() - t, 1)})
        log(f"target-test: {ap_of(recs)}")
    return json.loads(test_path.read_text())["metrics"]


def _score_interactive(out: Path, d: Path, seg: Segmenter, op: OperatingPoint, log: _Log) -> dict[str, Any]:
    """Fig. 4: AP after each push of the interactive scenes (``interactive.json``)."""
    path = d / "interactive.json"
    if not path.is_file():
        t = time.perf_counter()
        curve = score_interactive(out / "data" / "interactive", seg, op)
        curve["operating_point"] = op.to_dict()
        curve["seconds"] = round(time.perf_counter() - t, 1)
        _write_json(path, curve)
        log(f"interactive: AP@0.5 per push {[round(x, 1) for x in curve['AP50']]}")
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "scenes"}


def _score_real(out: Path, d: Path, seg: Segmenter, op: OperatingPoint, log: _Log) -> dict[str, Any]:
    """AP on the real frames (``real.json``) at the operating point chosen on simulated target-val.

    The frames only measure: no choice is made on them and no model learns from their labels."""
    path = d / "real.json"
    if not path.is_file():
        scenes = load_scene_set(out / "data" / "real" / "annotations.json", seg.model)
        t = time.perf_counter()
        recs = scene_records(scenes.gt, to_results(scenes.ids, score(seg, scenes, op)))
        _write_json(path, {"metrics": ap_of(recs), "operating_point": op.to_dict(), "scenes": records_to_json(recs),
                           "seconds": round(time.perf_counter() - t, 1)})
        log(f"real frames: {ap_of(recs)}")
    return json.loads(path.read_text())["metrics"]


def run_cell(out: Path, cell: Cell, profile: Profile, data_seed: int = 0) -> dict[str, Any]:
    """Train (if the variant trains), choose the operating point on target-val, score target-test once at it;
    skip what is done."""
    d = cell_dir(out, cell)
    d.mkdir(parents=True, exist_ok=True)
    with FolderLock(d, f"experiment cell {cell.name}"):
        return _run_cell_locked(out, d, cell, profile, data_seed)


def _run_cell_locked(out: Path, d: Path, cell: Cell, profile: Profile, data_seed: int) -> dict[str, Any]:
    if cell_finished(out, cell, profile, data_seed):
        return json.loads((d / DONE_FILE).read_text())
    check_record(d / CONFIG_FILE, _recipe(cell, profile, data_seed))  # a half-made cell of another recipe
    if not (d / CONFIG_FILE).is_file():
        _write_json(d / CONFIG_FILE, resolved_config(cell, profile, data_seed))
    before = _done_evaluations(d)
    cell = Cell(cell.variant, cell.seed, tuple(e for e in EVALUATIONS if e in {*before, *cell.evaluations}))
    log = _Log(d / "log.txt")
    cpu0 = time.process_time()
    torch.set_num_threads(max(1, profile.threads))
    seg, stats = _cell_model(out, d, cell, profile, log)
    op = _choose_on_val(out, d, cell, profile, seg, log)
    result: dict[str, Any] = {"cell": cell.name, "variant": cell.variant.key, "seed": cell.seed,
                              "operating_point": op.to_dict(), "nms": op.nms, "labels": stats, "evaluations": []}
    if "test" in cell.evaluations:
        result["test"] = _score_test(out, d, seg, op, log)
        result["evaluations"].append("test")
    if "interactive" in cell.evaluations:
        result["interactive"] = _score_interactive(out, d, seg, op, log)
        result["evaluations"].append("interactive")
    if "real" in cell.evaluations:
        result["real"] = _score_real(out, d, seg, op, log)
        result["evaluations"].append("real")
    old_cpu = json.loads((d / DONE_FILE).read_text()).get("cpu_seconds", 0.0) if (d / DONE_FILE).is_file() else 0.0
    result["cpu_seconds"] = round(old_cpu + time.process_time() - cpu0, 1)  # this process, all its threads
    log(f"done ({result['cpu_seconds']} CPU s in all)")
    _write_json(d / DONE_FILE, result)
    return result
