"""The operating point of a model -- its inference pyramid and its NMS threshold -- chosen on target-val.

A DeepMask model is scored at an operating point: which pyramid of scales its
windows are scored at, and which NMS threshold thins out its overlapping masks.
Both change AP a lot (four scales instead of the right one cost about 20 AP@0.5
on the simulated test scenes), so every row of every table is scored at the
point that is best for it on ``target-val`` and only then read once on
``target-test``. The choice is recorded with its whole table, and whether it lies
on an edge of a grid (then the grid was too narrow to know).

Pyramids are named:

* ``"2"``, ``"1.41+2+2.83"``: fixed scales of the working image;
* ``"camera"``: per image, the one scale that brings a 10 cm object at the
  table's distance to the model's canonical size (:mod:`pushseg.training.pyramid`);
  ``"camera-wide"``: that scale and a half octave either side. Images without
  depth or camera, or without a table in view, fall back to the model's scales.

The network runs once per image and scale (:meth:`Segmenter.windows`); each
pyramid is a choice of those levels, each NMS threshold a filter of its
detections, so the whole grid costs one pass plus masks and matching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pushseg.data.coco import load_coco
from pushseg.errors import InputError
from pushseg.experiments.scene_ap import ap_of, scene_records
from pushseg.experiments.scoring import apply_nms, to_results
from pushseg.training.data import find_image, image_depth, read_rgb
from pushseg.training.depth_input import encode_depth, table_plane
from pushseg.training.pyramid import camera_scales

CAMERA_PYRAMIDS = {"camera": 0, "camera-wide": 1}  # name -> half-octave levels either side


@dataclass(frozen=True)
class OperatingPoint:
    pyramid: str  # a pyramid name (module doc)
    nms: float | None  # mask-IoU threshold; None: no NMS

    def to_dict(self) -> dict[str, Any]:
        return {"pyramid": self.pyramid, "nms": self.nms}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None, where: str) -> "OperatingPoint":
        """The choice a cell recorded; a record without one is refused (it was scored at no known point)."""
        op = (record or {}).get("operating_point")
        if not isinstance(op, dict) or "pyramid" not in op or "nms" not in op:
            raise InputError(f"{where}: records no operating point chosen on target-val (pyramid and NMS); "
                             "it was made by an older pushseg: run the experiment again in a new --out")
        return cls(str(op["pyramid"]), None if op["nms"] is None else float(op["nms"]))


def pyramid_name(scales) -> str:
    return "+".join(f"{float(s):g}" for s in scales)


def check_pyramid(name: str, where: str) -> None:
    if name in CAMERA_PYRAMIDS:
        return
    try:
        scales = [float(x) for x in name.split("+")]
    except ValueError:
        scales = []
    if not scales or not all(0 < s <= 8 for s in scales):
        raise InputError(f"{where}: pyramid {name!r} is neither {' nor '.join(CAMERA_PYRAMIDS)} nor scales joined "
                         "by '+' (each in (0, 8]), e.g. 2 or 1.41+2+2.83")


def _fixed(name: str) -> tuple[float, ...]:
    return tuple(float(x) for x in name.split("+"))


@dataclass
class SceneSet:
    """The images of one scene set, read once: ground truth, colour, and what depth gives per image."""

    gt: dict[str, Any]
    ids: list[int]
    rgbs: list[np.ndarray]
    depths: list[np.ndarray] | None  # the encoded depth, for depth and rgbd models
    camera_scales: list[tuple[float, ...] | None]  # the camera-wide pyramid (3 levels) of each image, or None


def load_scene_set(annotations: Path, model) -> SceneSet:
    """A COCO scene set (``pushseg scenes`` folders, interactive steps) for ``model``."""
    gt = load_coco(annotations)
    roots = [annotations.parent]
    ids, rgbs, depths, pyramids = [], [], [], []
    for im in gt["images"]:
        ids.append(int(im["id"]))
        rgbs.append(read_rgb(find_image(im["file_name"], roots)))
        if "depth_file" not in im or "camera" not in im:
            if model.needs_depth:
                raise InputError(f"{annotations}: image {im['id']} has no depth_file or camera, which this "
                                 f"{model.config.input} model needs")
            pyramids.append(None)
            continue
        camera, depth = image_depth(im, roots, f"{annotations}: ")
        try:
            plane = table_plane(camera, depth, int(im["id"]))
        except InputError as e:
            if model.needs_depth:
                raise InputError(f"{annotations}: image {im['id']}: {e}") from None
            pyramids.append(None)
            continue
        if model.needs_depth:
            depths.append(encode_depth(camera, depth, plane))
        try:
            pyramids.append(camera_scales(model.config, camera, depth, plane, span=1))
        except InputError:
            pyramids.append(None)
    return SceneSet(gt, ids, rgbs, depths if model.needs_depth else None, pyramids)


def image_scales(scenes: SceneSet, i: int, pyramid: str, fallback: tuple[float, ...]) -> tuple[float, ...]:
    """The scales of ``pyramid`` for image ``i`` of ``scenes``."""
    if pyramid not in CAMERA_PYRAMIDS:
        return _fixed(pyramid)
    wide = scenes.camera_scales[i]
    if wide is None:
        return tuple(fallback)
    return wide if CAMERA_PYRAMIDS[pyramid] else (wide[1],)


def detect(segmenter, scenes: SceneSet, pyramids: list[str]) -> dict[str, list[list]]:
    """Per pyramid, every image's detections before NMS; each image's levels are scored once for all."""
    fallback = tuple(segmenter.cfg.scales)
    out: dict[str, list[list]] = {p: [] for p in pyramids}
    for i, rgb in enumerate(scenes.rgbs):
        wanted = {p: image_scales(scenes, i, p, fallback) for p in pyramids}
        union = tuple(sorted({s for sc in wanted.values() for s in sc}))
        depth = None if scenes.depths is None else [scenes.depths[i]]
        windows = segmenter.windows([rgb], depth, [union])[0]
        for p, sc in wanted.items():
            out[p].append(segmenter.detections_at(windows, sc, rgb.shape[:2]))
    return out


def nms_candidates(variant_nms, grid) -> list[float | None]:
    if variant_nms == "off":
        return [None]
    if isinstance(variant_nms, (int, float)) and not isinstance(variant_nms, bool):
        return [float(variant_nms)]
    return [float(x) for x in grid]


def _cost(pyramid: str, scenes: SceneSet, fallback) -> float:
    """Pixels the network runs on (sum of squared scales, mean over images): ties go to the cheaper point."""
    return float(np.mean([sum(s * s for s in image_scales(scenes, i, pyramid, fallback))
                          for i in range(len(scenes.rgbs))]))


def _edges(choice: OperatingPoint, pyramids: list[str], nms: list[float | None]) -> list[str]:
    """The grid axes on whose edge the choice sits (its best might lie beyond)."""
    edges = []
    singles = sorted(_fixed(p)[0] for p in pyramids if p not in CAMERA_PYRAMIDS and "+" not in p)
    if len(singles) > 2 and choice.pyramid not in CAMERA_PYRAMIDS and "+" not in choice.pyramid:
        if _fixed(choice.pyramid)[0] in (singles[0], singles[-1]):
            edges.append("pyramid")
    numbers = sorted(x for x in nms if x is not None)
    if len(numbers) > 2 and choice.nms in (numbers[0], numbers[-1]):
        edges.append("nms")
    return edges


def choose(segmenter, scenes: SceneSet, pyramids: list[str], nms: list[float | None],
           metric: str) -> tuple[OperatingPoint, dict[str, Any]]:
    """The best point of the grid on these (validation) scenes by ``metric``; ties: the cheaper pyramid,
    then the lower threshold. Returns it and its record (the whole table, the edges it sits on)."""
    if not pyramids or not nms:
        raise InputError("an operating point needs at least one pyramid and one NMS setting to choose from")
    raw = detect(segmenter, scenes, pyramids)
    fallback = tuple(segmenter.cfg.scales)
    table = []
    for p in pyramids:
        cost = _cost(p, scenes, fallback)
        for thr in nms:
            m = ap_of(scene_records(scenes.gt, to_results(scenes.ids, [apply_nms(d, thr) for d in raw[p]])))
            table.append({"pyramid": p, "nms": thr, "cost": round(cost, 3), **{k: round(v, 4) for k, v in m.items()}})
    best = max(table, key=lambda r: (r[metric] if not math.isnan(r[metric]) else -1.0, -r["cost"],
                                     -(r["nms"] if r["nms"] is not None else 2.0)))
    op = OperatingPoint(best["pyramid"], best["nms"])
    record = {"operating_point": op.to_dict(), "metric": metric, "val": {k: best[k] for k in ("AP50", "AP75", "AP")},
              "on_edge": _edges(op, pyramids, nms), "grid": {"pyramids": pyramids, "nms": nms}, "table": table,
              "images": len(scenes.ids)}
    return op, record


def score(segmenter, scenes: SceneSet, op: OperatingPoint) -> list[list]:
    """Every image's detections at the operating point (NMS applied)."""
    return [apply_nms(d, op.nms) for d in detect(segmenter, scenes, [op.pyramid])[op.pyramid]]
