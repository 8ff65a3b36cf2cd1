"""Class-agnostic COCO mask AP (AP@0.5, AP@0.75, AP@0.5:0.95, in %) with pycocotools.

Reading images and scoring are separate. :class:`CocoEvaluator` is a streaming
evaluator that any loop can feed, one image at a time::
    ev = CocoEvaluator()
    for image_id, rgb, gt_masks in my_loop():        # e.g. a robot testing on its own table
        ev.process(image_id, gt_masks, segmenter.segment(rgb))
    ev.evaluate()                                      # {"AP50": .., "AP75": .., "AP": .., ...}
    ev.evaluate(image_ids=[3, 3, 7])                   # a subset or a bootstrap resample
    ev.bootstrap(1000, seed=0)                          # percentile intervals over images

:func:`evaluate_model` is the COCO-json reader on top of it (``pushseg evaluate``,
the demo). pycocotools matches each image once; subsets and resamples only
re-run its accumulation, so a thousand bootstrap resamples take seconds.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import time
from collections.abc import Iterable, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tqdm import tqdm

from pushseg.data.coco import is_polygon, load_coco, polygon_rle
from pushseg.data.images import read_depth
from pushseg.errors import InputError
from pushseg.evaluation.bootstrap import bootstrap_draws, check_level
from pushseg.training.data import find_image, image_depth, read_rgb
from pushseg.training.depth_input import encode_depth, table_plane
from pushseg.training.inference import table_region
from pushseg.training.pyramid import camera_scales
from pushseg.types import CameraInfo

METRICS = ("AP50", "AP75", "AP")


def _coco_from_dict(data: dict[str, Any]) -> COCO:
    data = copy.deepcopy(data)
    for ann in data["annotations"]:
        seg = ann["segmentation"]
        if isinstance(seg, dict) and isinstance(seg.get("counts"), str):
            seg["counts"] = seg["counts"].encode("ascii")
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            ann["area"] = float(mask_utils.area(seg))
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _rle(item: Any, what: str) -> dict[str, Any]:
    """A (H, W) mask or a compressed COCO RLE -> RLE with bytes counts."""
    if isinstance(item, dict):
        counts, size = item.get("counts"), item.get("size")
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise InputError(f"{what}: an RLE needs 'size' [height, width], got {size!r}")
        if isinstance(counts, str):
            return {"size": [int(size[0]), int(size[1])], "counts": counts.encode("ascii")}
        if isinstance(counts, bytes):
            return {"size": [int(size[0]), int(size[1])], "counts": counts}
        if isinstance(counts, list):
            return mask_utils.frPyObjects({"size": list(size), "counts": counts}, int(size[0]), int(size[1]))
        raise InputError(f"{what}: an RLE needs 'counts' (string, bytes or list), got {type(counts).__name__}")
    m = np.asarray(item)
    if m.ndim != 2:
        raise InputError(f"{what}: a mask must be 2-D (height, width), got shape {m.shape}")
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.isin(m, (0, 1)).all():
            raise InputError(f"{what}: a mask must be boolean or 0/1, got dtype {m.dtype} with other values")
    return mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))


def _detection(d: Any, what: str) -> tuple[dict[str, Any], float]:
    """A :class:`~pushseg.training.inference.Detection` or a COCO result dict -> (RLE, score)."""
    if isinstance(d, dict):
        if "segmentation" not in d or "score" not in d:
            raise InputError(f"{what}: a result dict needs 'segmentation' and 'score'")
        seg, score = d["segmentation"], d["score"]
    else:
        seg = getattr(d, "rle", None)
        if seg is None:
            seg = getattr(d, "mask", None)
        score = getattr(d, "score", None)
        if seg is None or score is None:
            raise InputError(f"{what}: a detection needs a mask (or rle) and a score, got {type(d).__name__}")
    try:
        score = float(score)
    except (TypeError, ValueError):
        raise InputError(f"{what}: score {score!r} is not a number") from None
    if not math.isfinite(score):
        raise InputError(f"{what}: score is {score}; scores must be finite (check the model for NaN weights)")
    return _rle(seg, what), score


class CocoEvaluator:
    """Streaming class-agnostic COCO mask evaluator: ``reset`` / ``process`` / ``evaluate``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._images: dict[int, tuple[int, int]] = {}  # image id -> (height, width), in processing order
        self._counts: dict[int, tuple[int, int]] = {}  # image id -> (ground-truth masks, detections)
        self._gt: list[dict[str, Any]] = []
        self._dt: list[dict[str, Any]] = []
        self._cache: tuple[COCOeval, dict[tuple[int, int], Any]] | None = None

    def __len__(self) -> int:
        return len(self._images)

    @property
    def image_ids(self) -> list[int]:
        return list(self._images)

    def process(self, image_id: int, gt_masks: Sequence[Any] | np.ndarray, detections: Iterable[Any],
                size: tuple[int, int] | None = None, gt_areas: Sequence[float] | None = None) -> None:
        """Add one image: its ground-truth masks ((H, W) bool arrays, an (N, H, W) array or COCO RLEs)
        and its detections (``Detection`` objects or COCO result dicts with ``segmentation`` and ``score``).

        ``size`` (height, width) is needed only when there are neither masks nor detections to read it
        from. ``gt_areas`` (optional) overrides the areas computed from the masks, as a COCO json may.
        """
        if isinstance(image_id, bool) or not isinstance(image_id, (int, np.integer)):
            raise InputError(f"image id {image_id!r} must be an integer")
        image_id = int(image_id)
        if image_id in self._images:
            raise InputError(f"image id {image_id} was processed already; ids must be unique (or call reset())")
        gts = [_rle(m, f"image {image_id}, ground-truth mask {k}") for k, m in enumerate(gt_masks)]
        dts = [_detection(d, f"image {image_id}, detection {k}") for k, d in enumerate(detections)]
        sizes = {tuple(r["size"]) for r in gts} | {tuple(r["size"]) for r, _ in dts}
        if isinstance(gt_masks, np.ndarray) and gt_masks.ndim == 3:
            sizes.add(tuple(gt_masks.shape[1:]))
        if size is not None:
            sizes.add((int(size[0]), int(size[1])))
        if len(sizes) > 1:
            raise InputError(f"image {image_id}: masks of different sizes {sorted(sizes)}; "
                             "ground truth and detections must be at the same image size")
        if not sizes:
            raise InputError(f"image {image_id}: no masks and no detections to read its size from; pass size=(h, w)")
        if gt_areas is not None and len(gt_areas) != len(gts):
            raise InputError(f"image {image_id}: {len(gt_areas)} gt_areas for {len(gts)} ground-truth masks")
        (h, w), = sizes
        self._images[image_id] = (h, w)
        self._counts[image_id] = (len(gts), len(dts))
        for k, r in enumerate(gts):
            area = float(gt_areas[k]) if gt_areas is not None else float(mask_utils.area(r))
            self._gt.append({"id": len(self._gt) + 1, "image_id": image_id, "category_id": 1, "segmentation": r,
                             "area": area, "iscrowd": 0})
        for r, s in dts:
            self._dt.append({"image_id": image_id, "category_id": 1, "segmentation": r, "score": s})
        self._cache = None

    def results(self) -> list[dict[str, Any]]:
        """Every detection as a COCO result entry (RLE ``counts`` as bytes), in processing order."""
        return [{**d, "segmentation": dict(d["segmentation"])} for d in self._dt]

    def _matched(self) -> tuple[COCOeval, dict[tuple[int, int], Any]]:
        """pycocotools' per-image matching of everything processed, computed once."""
        if self._cache is None:
            images = [{"id": i, "height": h, "width": w} for i, (h, w) in self._images.items()]
            cats = [{"id": 1, "name": "object"}]
            gt = _coco_from_dict({"images": images, "annotations": self._gt, "categories": cats})
            with contextlib.redirect_stdout(io.StringIO()):
                # loadRes cannot take an empty list: no detections at all is an empty result set
                dt = (gt.loadRes(copy.deepcopy(self._dt)) if self._dt
                      else _coco_from_dict({"images": images, "annotations": [], "categories": cats}))
                ev = COCOeval(gt, dt, iouType="segm")
                ev.params.useCats = 0
                ev.evaluate()
            ids = ev.params.imgIds
            per = {(a, i): ev.evalImgs[a * len(ids) + n] for a in range(len(ev.params.areaRng)) for n, i in enumerate(ids)}
            self._cache = (ev, per)
        return self._cache

    def evaluate(self, image_ids: Sequence[int] | None = None) -> dict[str, Any]:
        """AP@0.5, AP@0.75, AP@0.5:0.95 (%) over ``image_ids`` (default: all processed images).

        ``image_ids`` may repeat an id (a bootstrap resample): each occurrence counts as its own image.
        """
        ids = self.image_ids if image_ids is None else [int(i) for i in image_ids]
        unknown = sorted(set(ids) - set(self._images))
        if unknown:
            raise InputError(f"image ids {unknown[:5]} were never processed; evaluate only processed images")
        if not ids:
            raise InputError("no images to evaluate: process() some first")
        if sum(self._counts[i][0] for i in ids) == 0:
            raise InputError("the ground-truth set has no annotations: nothing to evaluate against")
        if sum(self._counts[i][1] for i in ids) == 0:  # so pycocotools, which cannot load an empty result list, is not asked to
            return {"AP50": 0.0, "AP75": 0.0, "AP": 0.0, "detections": 0}
        ev, per = self._matched()
        ev = copy.copy(ev)  # a shallow copy: the matching is shared, the accumulation is this subset's
        ev.params = copy.copy(ev.params)
        ev.params.imgIds = ids
        ev._paramsEval = copy.copy(ev.params)
        ev.evalImgs = [per[(a, i)] for a in range(len(ev.params.areaRng)) for i in ids]
        with contextlib.redirect_stdout(io.StringIO()):
            ev.accumulate()
            ev.summarize()
        s = ev.stats
        n = sum(self._counts[i][1] for i in ids)
        return {"AP50": round(100 * max(0.0, float(s[1])), 2), "AP75": round(100 * max(0.0, float(s[2])), 2),
                "AP": round(100 * max(0.0, float(s[0])), 2), "detections": n}

    def per_image(self, iou: float = 0.5) -> list[dict[str, Any]]:
        """Per image: ground-truth count, detections, and true positives at mask IoU ``iou``
        among the first 100 detections by score (pycocotools' matching)."""
        ev, per = self._matched()
        thrs = ev.params.iouThrs
        t = int(np.argmin(np.abs(thrs - iou)))
        if abs(thrs[t] - iou) > 1e-9:
            raise InputError(f"iou {iou} is not one of COCO's thresholds 0.5, 0.55, ..., 0.95")
        out = []
        for i in self.image_ids:
            e = per[(0, i)]  # area range "all"
            tp = 0 if e is None else int((e["dtMatches"][t] > 0).sum())
            n_gt, n_dt = self._counts[i]
            out.append({"image_id": i, "gt": n_gt, "detections": n_dt, "true_positives": tp})
        return out

    def bootstrap(self, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
        """Percentile bootstrap over images: each resample draws as many images as were processed,
        with replacement, and is scored as a whole. Returns, per metric, [low, high] and the point value."""
        check_level(level)
        ids = np.asarray(self.image_ids)
        if len(ids) == 0:
            raise InputError("no images to resample: process() some first")

        def metrics(index: np.ndarray) -> list[float]:
            try:
                m = self.evaluate(ids[index].tolist())
            except InputError:  # a resample without any ground truth: AP is undefined, count it as 0
                return [0.0] * len(METRICS)
            return [m[k] for k in METRICS]

        _, draws = bootstrap_draws(metrics, len(ids), n_boot=resamples, seed=seed)
        point = self.evaluate()
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return {k: {"value": point[k], "low": round(float(lo[j]), 2), "high": round(float(hi[j]), 2)}
                for j, k in enumerate(METRICS)} | {"resamples": resamples, "level": level, "seed": seed,
                                                   "images": len(ids)}


def detections_to_results(image_id: int, detections: list) -> list[dict[str, Any]]:
    """Detections (with ``rle`` and ``score``) -> COCO result entries for one image."""
    out = []
    for d in detections:
        rle = dict(d.rle)
        out.append({"image_id": int(image_id), "category_id": 1, "segmentation": rle, "score": float(d.score)})
    return out


def _annotations_by_image(gt: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for a in gt["annotations"]:
        out.setdefault(int(a["image_id"]), []).append(a)
    return out


def _feed_gt(ev: CocoEvaluator, anns: list[dict[str, Any]], image_id: int, image: dict[str, Any],
             results: list[Any]) -> None:
    """One image of a COCO json (its annotations as stored) and its detections into ``ev``."""
    size = (int(image["height"]), int(image["width"])) if "height" in image and "width" in image else None
    areas = [a["area"] for a in anns] if all("area" in a for a in anns) else None
    # polygon outlines (COCO's own files) carry no size: made RLE on the image's
    segs = [polygon_rle(a["segmentation"], *size) if size and is_polygon(a["segmentation"]) else a["segmentation"]
            for a in anns]
    ev.process(image_id, segs, results, size=size, gt_areas=areas)


def evaluate_results(gt: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, float]:
    """GT COCO dict + result list -> {"AP50", "AP75", "AP"} in percent (class-agnostic)."""
    if not gt["annotations"]:
        raise InputError("the ground-truth set has no annotations: nothing to evaluate against")
    by_image: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by_image.setdefault(int(r["image_id"]), []).append(r)
    images = {int(im["id"]): im for im in gt["images"]}
    unknown = sorted(set(by_image) - set(images))
    if unknown:
        raise InputError(f"results refer to image ids {unknown[:5]} that the ground truth does not have")
    anns = _annotations_by_image(gt)
    ev = CocoEvaluator()
    for image_id, im in images.items():
        _feed_gt(ev, anns.get(image_id, []), image_id, im, by_image.get(image_id, []))
    return ev.evaluate()


def scene_table_region(image: dict[str, Any], roots: list[Path]) -> np.ndarray:
    """The table region of one image of a scenes folder, from its depth file and camera."""

    if "depth_file" not in image or "camera" not in image:
        raise InputError(f"image {image.get('id')} ({image.get('file_name')}) has no depth_file or camera: "
                         "table_region needs both (scenes from `pushseg scenes` have them); set it off")
    depth = read_depth(find_image(image["depth_file"], roots))
    return table_region(CameraInfo.from_dict(image["camera"]), depth)


def scene_inputs(segmenter, images: list[dict[str, Any]], roots: list[Path], where: Path):
    """Per image entry, what its depth gives the segmenter, each frame's depth read and its table fitted once:
    the encoded depth (None for the whole list when the model takes rgb only) and the camera pyramid (None where
    the entry has no depth or camera, no table is found, or ``cfg.pyramid`` is fixed: then ``cfg.scales``)."""

    cfg, model = segmenter.cfg, segmenter.model
    wants_depth = bool(getattr(model, "needs_depth", False))
    wants_pyramid = getattr(cfg, "pyramid", "fixed") == "camera"
    depths, pyramids = [], []
    for im in images:
        has = "depth_file" in im and "camera" in im
        if not (wants_depth or (wants_pyramid and has)):
            pyramids.append(None)
            continue
        camera, depth = image_depth(im, roots, f"{where}: ")  # a depth model without depth: a clear error
        seed = int(im.get("id", 0))
        try:
            plane = table_plane(camera, depth, seed)
        except InputError as e:
            if wants_depth:
                raise InputError(f"{where}: image {im.get('id')} ({im.get('depth_file')}): {e}") from None
            pyramids.append(None)  # no table found in this frame: the fixed scales
            continue
        if wants_depth:
            try:
                depths.append(encode_depth(camera, depth, plane))
            except InputError as e:
                raise InputError(f"{where}: image {im.get('id')} ({im.get('depth_file')}): {e}") from None
        scales = None
        if wants_pyramid:
            try:
                scales = camera_scales(model.config, camera, depth, plane, object_size_m=cfg.object_size_m,
                                       span=cfg.pyramid_span)
            except InputError:
                pass
        pyramids.append(scales)
    return (depths if wants_depth else None), pyramids


def _scene_images(scenes_json: Path, image_root: str | os.PathLike | None):
    gt = load_coco(scenes_json)
    if not gt["annotations"]:
        raise InputError(f"{scenes_json}: the ground-truth set has no annotations: nothing to evaluate against")
    roots = ([Path(image_root)] if image_root else []) + [scenes_json.parent]
    return gt, roots


def choose_scales(segmenter, scenes_json: str | os.PathLike, image_root: str | os.PathLike | None = None,
                  metric: str = "AP50", tolerance: float = 0.5, progress: bool = False) -> dict[str, Any]:
    """The cheapest subset of ``segmenter.cfg.scales`` whose ``metric`` on these (validation) scenes is
    within ``tolerance`` points of the best subset's. Cost of a subset: the pixels it runs the network
    on (the sum of squared scales). Each pyramid level runs once per image; subsets only re-do masks
    and NMS. Returns ``scales`` and a ``table`` of every subset (scales, cost, AP50, AP75, AP).

    Choose on validation scenes and report on separate test scenes: the choice is fitted to the data.
    """


    if metric not in METRICS:
        raise InputError(f"metric '{metric}' is unknown; use one of {', '.join(METRICS)}")
    scenes_json = Path(scenes_json)
    gt, roots = _scene_images(scenes_json, image_root)
    anns = _annotations_by_image(gt)
    scales = list(segmenter.cfg.scales)
    if len(scales) > 8:
        raise InputError(f"{len(scales)} scales give {2 ** len(scales) - 1} subsets; choose among at most 8")
    levels = []  # per image: (image entry, {scale: candidates}, factor, (h, w))
    for im in tqdm(gt["images"], desc="levels", disable=not progress, leave=False):
        rgb = read_rgb(find_image(im["file_name"], roots))
        region = scene_table_region(im, roots) if segmenter.cfg.table_region else None
        depths, _ = scene_inputs(segmenter, [im], roots, Path(scenes_json))
        for _, (per_scale, factor) in segmenter._pyramid([rgb], [region], depths):
            levels.append((im, per_scale, factor, rgb.shape[:2]))
    table = []
    ev = CocoEvaluator()
    for n in range(1, len(scales) + 1):
        for subset in combinations(scales, n):
            ev.reset()
            for im, per_scale, factor, (h, w) in levels:
                dets = segmenter._detections([c for s in subset for c in per_scale[s]], h, w, factor)
                _feed_gt(ev, anns.get(int(im["id"]), []), int(im["id"]), im, dets)
            m = ev.evaluate()
            table.append({"scales": list(subset), "cost": round(sum(s * s for s in subset), 3),
                          **{k: m[k] for k in METRICS}})
    best = max(r[metric] for r in table)
    ok = [r for r in table if r[metric] >= best - tolerance]
    pick = min(ok, key=lambda r: (r["cost"], -r[metric]))
    return {"scales": pick["scales"], "metric": metric, "tolerance": tolerance, "images": len(levels),
            "table": sorted(table, key=lambda r: r["cost"])}


def evaluate_model(segmenter, scenes_json: str | os.PathLike, image_root: str | os.PathLike | None = None,
                   progress: bool = True, desc: str = "evaluate", keep_detections: bool = False,
                   evaluator: CocoEvaluator | None = None) -> dict[str, Any]:
    """Run a :class:`~pushseg.training.inference.Segmenter` over a COCO scene set and score it.

    Returns ``metrics``, ``results`` (COCO result entries), ``per_image`` (see
    :meth:`CocoEvaluator.per_image`) and with ``keep_detections`` the detections
    per image id. Pass ``evaluator`` to keep it (e.g. for :meth:`CocoEvaluator.bootstrap`); it is reset first.
    """

    scenes_json = Path(scenes_json)
    gt, roots = _scene_images(scenes_json, image_root)
    anns = _annotations_by_image(gt)
    ev = evaluator if evaluator is not None else CocoEvaluator()
    ev.reset()
    per_image: dict[int, list] = {}
    t0 = time.perf_counter()
    bs = max(1, segmenter.cfg.batch_size)
    imgs = gt["images"]
    with tqdm(total=len(imgs), desc=desc, disable=not progress, leave=False, dynamic_ncols=True) as bar:
        for start in range(0, len(imgs), bs):
            chunk = imgs[start:start + bs]
            rgbs = [read_rgb(find_image(im["file_name"], roots)) for im in chunk]
            regions = ([scene_table_region(im, roots) for im in chunk] if getattr(segmenter.cfg, "table_region", False)
                       else None)
            depths, pyramids = scene_inputs(segmenter, chunk, roots, scenes_json)
            for im, dets in zip(chunk, segmenter(rgbs, regions, depths, pyramids)):
                _feed_gt(ev, anns.get(int(im["id"]), []), int(im["id"]), im, dets)
                if keep_detections:
                    per_image[int(im["id"])] = dets
            bar.update(len(chunk))
    seconds = time.perf_counter() - t0
    metrics = ev.evaluate()
    metrics["images"] = len(imgs)
    metrics["seconds_per_image"] = round(seconds / max(1, len(imgs)), 4)
    out: dict[str, Any] = {"metrics": metrics, "results": ev.results(), "per_image": ev.per_image()}
    if keep_detections:
        out["detections"] = per_image
    return out
