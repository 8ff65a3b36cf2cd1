"""Class-agnostic COCO mask AP (AP@0.5, AP@0.75, AP@0.5:0.95, in %) with pycocotools."""

from __future__ import annotations

import contextlib
import copy
import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tqdm import tqdm

from pushseg.data.coco import load_coco
from pushseg.errors import InputError


def _coco_from_dict(data: dict[str, Any]) -> COCO:
    data = copy.deepcopy(data)
    for ann in data["annotations"]:
        seg = ann["segmentation"]
        if isinstance(seg, dict) and isinstance(seg.get("counts"), str):
            seg["counts"] = seg["counts"].encode("ascii")
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            from pycocotools import mask as mu
            ann["area"] = float(mu.area(seg))
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def detections_to_results(image_id: int, detections: list) -> list[dict[str, Any]]:
    """Detections (with ``rle`` and ``score``) -> COCO result entries for one image."""
    out = []
    for d in detections:
        rle = dict(d.rle)
        out.append({"image_id": int(image_id), "category_id": 1, "segmentation": rle, "score": float(d.score)})
    return out


def evaluate_results(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, float]:
    """GT COCO dict + result list -> {"AP50", "AP75", "AP"} in percent (class-agnostic)."""
    if not gt["annotations"]:
        raise InputError("the ground-truth set has no annotations: nothing to evaluate against")
    if not results:
        return {"AP50": 0.0, "AP75": 0.0, "AP": 0.0, "detections": 0}
    coco_gt = _coco_from_dict(gt)
    res = []
    for r in results:
        r = dict(r)
        seg = dict(r["segmentation"])
        if isinstance(seg.get("counts"), str):
            seg["counts"] = seg["counts"].encode("ascii")
        r["segmentation"] = seg
        r["category_id"] = 1
        res.append(r)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(res)
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.params.useCats = 0
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    return {"AP50": round(100 * max(0.0, float(s[1])), 2), "AP75": round(100 * max(0.0, float(s[2])), 2),
            "AP": round(100 * max(0.0, float(s[0])), 2), "detections": len(results)}


def evaluate_model(segmenter, scenes_json: str | os.PathLike, image_root: str | os.PathLike | None = None,
                   progress: bool = True, desc: str = "evaluate", keep_detections: bool = False) -> dict[str, Any]:
    """Run a :class:`~pushseg.training.inference.Segmenter` over a COCO scene set and score it."""
    from pushseg.training.data import find_image, read_rgb

    scenes_json = Path(scenes_json)
    gt = load_coco(scenes_json)
    roots = ([Path(image_root)] if image_root else []) + [scenes_json.parent]
    results: list[dict[str, Any]] = []
    per_image: dict[int, list] = {}
    t0 = time.perf_counter()
    bs = max(1, segmenter.cfg.batch_size)
    imgs = gt["images"]
    with tqdm(total=len(imgs), desc=desc, disable=not progress, leave=False, dynamic_ncols=True) as bar:
        for start in range(0, len(imgs), bs):
            chunk = imgs[start:start + bs]
            rgbs = [read_rgb(find_image(im["file_name"], roots)) for im in chunk]
            for im, dets in zip(chunk, segmenter(rgbs)):
                results.extend(detections_to_results(im["id"], dets))
                if keep_detections:
                    per_image[int(im["id"])] = dets
            bar.update(len(chunk))
    seconds = time.perf_counter() - t0
    metrics = evaluate_results(gt, results)
    metrics["images"] = len(imgs)
    metrics["seconds_per_image"] = round(seconds / max(1, len(imgs)), 4)
    out: dict[str, Any] = {"metrics": metrics, "results": results}
    if keep_detections:
        out["detections"] = per_image
    return out
