"""One model on one scene set, as the experiments score it.

Detections are made once per image without NMS (:func:`segment_images`); each NMS
threshold is then applied afterwards (:func:`apply_nms`), so choosing the threshold on
target-val costs one pass. :func:`choose_nms` is that choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pushseg.data.coco import load_coco
from pushseg.experiments.scene_ap import ap_of, scene_records
from pushseg.experiments.specs import Profile, Variant
from pushseg.training.config import InferenceConfig
from pushseg.training.data import find_image, read_rgb
from pushseg.training.inference import Segmenter
from pushseg.training.nms import mask_nms


def segmenter_for(model, profile: Profile) -> Segmenter:
    """The profile's inference settings, NMS left to :func:`apply_nms` (it is chosen per threshold)."""
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


def scene_images(annotations: Path) -> tuple[dict[str, Any], list[int], list[np.ndarray]]:
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
