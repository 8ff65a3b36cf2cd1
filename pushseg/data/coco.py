"""COCO instance-segmentation json with exact RLE masks and one category, "object".

Any segmentation framework reads these files; pycocotools does the RLE. pushseg
writes RLE; it also reads polygon outlines (a list of ``[x0, y0, x1, y1, ...]``
rings in pixels, as COCO's own files and most labelling tools store them).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from pushseg import files
from pushseg.data.images import digest
from pushseg.errors import InputError

OBJECT_CATEGORY = {"id": 1, "name": "object", "supercategory": "object"}


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Binary (H, W) mask -> COCO compressed RLE with a json-ready ``counts`` string."""
    m = np.asfortranarray(np.asarray(mask, dtype=np.uint8))
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _rle_string_counts(s: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' rleFrString, with checks)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                raise ValueError("the counts string ends inside a number")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {s[p]!r} cannot appear in compressed counts")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def check_rle(rle: Any) -> tuple[int, int]:
    """Raise ``ValueError`` unless ``rle`` is a well-formed COCO RLE; return its (H, W).

    pycocotools decodes some malformed strings (an empty one, for instance) into
    masks of uninitialised memory instead of failing, so the run lengths are
    checked here: non-negative, adding up to H * W.
    """
    if not isinstance(rle, dict):
        raise ValueError(f"a segmentation must be an RLE object, got {type(rle).__name__}")
    size = rle.get("size")
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise ValueError(f"RLE 'size' must be [height, width] of positive integers, got {size!r}")
    h, w = size
    c = rle.get("counts")
    if isinstance(c, str):
        counts = _rle_string_counts(c)
    elif isinstance(c, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in c):
        counts = c
    else:
        raise ValueError("RLE 'counts' must be a compressed string or a list of integers")
    if any(v < 0 for v in counts):
        raise ValueError("RLE run lengths must not be negative")
    if sum(counts) != h * w:
        raise ValueError(f"RLE run lengths add up to {sum(counts)}, not {h}x{w} = {h * w} pixels")
    return h, w


def check_polygons(seg: Any) -> None:
    """Raise ``ValueError`` unless ``seg`` is a list of polygon rings, each ``[x0, y0, x1, y1, ...]`` of >= 3 points.

    pycocotools reads a 4-number ring as a box and fails obscurely on odd or
    non-numeric lists, so the shape is checked here.
    """
    if not isinstance(seg, list) or not seg:
        raise ValueError("a polygon segmentation must be a non-empty list of rings [x0, y0, x1, y1, ...]")
    for k, ring in enumerate(seg):
        if not isinstance(ring, list):
            raise ValueError(f"polygon ring {k} is a {type(ring).__name__}, not a list of coordinates "
                             "(write [[x0, y0, x1, y1, ...]], one list per ring)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in ring):
            raise ValueError(f"polygon ring {k} holds a value that is not a finite number")
        if len(ring) % 2 or len(ring) < 6:
            raise ValueError(f"polygon ring {k} has {len(ring)} coordinates; it needs an even number, "
                             "at least 6 (3 points)")


def is_polygon(seg: Any) -> bool:
    """A segmentation given as polygon rings (a list), not as RLE (a dict)."""
    return isinstance(seg, list)


def polygon_rle(seg: list, height: int, width: int) -> dict[str, Any]:
    """Polygon rings of one object on a ``height`` x ``width`` image -> one RLE (bytes counts), the rings merged."""
    try:
        check_polygons(seg)
    except ValueError as e:
        raise InputError(f"malformed polygon mask: {e}") from None
    rles = mask_utils.frPyObjects([[float(v) for v in ring] for ring in seg], int(height), int(width))
    return mask_utils.merge(rles)


def decode_mask(seg: dict[str, Any] | list, height: int | None = None, width: int | None = None) -> np.ndarray:
    """COCO RLE (compressed or not) or polygons -> (H, W) bool mask; malformed input is an :class:`InputError`.

    Polygons carry no size, so they need the image's ``height`` and ``width``;
    the rings of one object are merged (their union).
    """
    if is_polygon(seg):
        if height is None or width is None:
            raise InputError("a polygon mask needs the image's height and width to be decoded")
        return mask_utils.decode(polygon_rle(seg, height, width)).astype(bool)
    rle = seg
    try:
        check_rle(rle)
    except ValueError as e:
        raise InputError(f"malformed RLE mask: {e}") from None
    r = dict(rle)
    if isinstance(r.get("counts"), list):
        h, w = r["size"]
        r = mask_utils.frPyObjects(r, h, w)
    elif isinstance(r.get("counts"), str):
        r["counts"] = r["counts"].encode("ascii")
    return mask_utils.decode(r).astype(bool)


def instance_masks(ids: np.ndarray, min_pixels: int = 1) -> tuple[list[tuple[int, np.ndarray]], int]:
    """Ground truth as masks: ``([(instance id, (H, W) bool mask), ...], how many were too small)``.

    One mask per id of the instance-id image (0, the table or background, is
    none), in ascending id order, for ids with at least ``min_pixels`` visible
    pixels.
    """
    masks, small = [], 0
    values, counts = np.unique(ids, return_counts=True)
    for iid, pixels in zip(values.tolist(), counts.tolist()):
        if iid == 0:
            continue
        if pixels < min_pixels:
            small += 1
            continue
        masks.append((iid, ids == iid))
    return masks, small


@dataclass
class CocoBuilder:
    """Collects images and annotations, then writes one COCO json."""

    info: dict[str, Any] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def add_image(self, file_name: str, width: int, height: int, **extra: Any) -> int:
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": file_name, "width": width, "height": height, **extra})
        return image_id

    def add_mask(self, image_id: int, mask: np.ndarray, score: float | None = None, **extra: Any) -> int:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            raise InputError(f"refusing to add an empty mask to image {image_id}")
        rle = encode_mask(mask)
        ann = {
            "id": len(self.annotations) + 1,
            "image_id": image_id,
            "category_id": OBJECT_CATEGORY["id"],
            "segmentation": rle,
            "area": float(mask_utils.area(_bytes_rle(rle))),
            "bbox": [float(x) for x in mask_utils.toBbox(_bytes_rle(rle))],
            "iscrowd": 0,
            **extra,
        }
        if score is not None:
            ann["score"] = float(score)
        self.annotations.append(ann)
        return ann["id"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "info": self.info,
            "images": self.images,
            "annotations": self.annotations,
            "categories": [OBJECT_CATEGORY],
        }

    def write(self, path: str | os.PathLike) -> Path:
        """Write atomically (temp file + rename) so a crash never leaves half a json."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return files.write_text_atomic(path, json.dumps(self.to_dict()), sync_dir=False)


def _bytes_rle(rle: dict[str, Any]) -> dict[str, Any]:
    return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}


def load_coco(path: str | os.PathLike) -> dict[str, Any]:
    """Read a COCO json and check the fields pushseg relies on; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such COCO json file")
    data = files.read_json(path, InputError, "COCO json file", advice="re-create it with pushseg scenes/label")
    if not isinstance(data, dict):
        raise InputError(f"{path}: a COCO json must be an object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if key not in data or not isinstance(data[key], list):
            raise InputError(f"{path}: missing the COCO list '{key}'")
    check_coco(data, path)
    return data


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_categories(data: dict[str, Any], path: str | os.PathLike) -> set[int]:
    """The category ids (check_coco refuses none); each category an object with an integer id (once)."""
    cats = data["categories"]
    ids: set[int] = set()
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            raise InputError(f"{path}: categories[{i}] has no integer 'id'; give each category an id and a name")
        if cat["id"] in ids:
            raise InputError(f"{path}: category id {cat['id']} appears twice in 'categories'")
        if "name" in cat and not isinstance(cat["name"], str):
            raise InputError(f"{path}: category {cat['id']} has a 'name' that is not a string")
        ids.add(cat["id"])
    return ids


def _check_box_and_area(ann: dict[str, Any], aid: Any, path: str | os.PathLike) -> None:
    """Optional ``bbox`` ([x, y, w, h], finite, w and h >= 0) and ``area`` (finite, >= 0)."""
    if "bbox" in ann:
        box = ann["bbox"]
        if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))
                and all(np.isfinite(v) for v in box)):
            raise InputError(f"{path}: annotation {aid} has a 'bbox' that is not 4 finite numbers [x, y, width, "
                             f"height]; fix or drop it")
        if box[2] < 0 or box[3] < 0:
            raise InputError(f"{path}: annotation {aid} has a 'bbox' with a negative width or height ({box}); "
                             f"fix or drop it")
    if "area" in ann:
        area = ann["area"]
        if not (_is_number(area) and np.isfinite(area)):
            raise InputError(f"{path}: annotation {aid} has an 'area' that is not a finite number; fix or drop it")
        if area < 0:
            raise InputError(f"{path}: annotation {aid} has a negative 'area' ({area}); fix or drop it")


def check_coco(data: dict[str, Any], path: str | os.PathLike = "COCO json") -> None:
    """Schema of the fields pushseg reads, every RLE and polygon, every annotation's image and category
    reference, its box and area."""
    categories = _check_categories(data, path)
    sizes: dict[int, tuple[int, int]] = {}
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict):
            raise InputError(f"{path}: images[{i}] is not an object")
        if not _is_int(im.get("id")):
            raise InputError(f"{path}: images[{i}] has no integer 'id'")
        if im["id"] in sizes:
            raise InputError(f"{path}: image id {im['id']} appears twice")
        if not isinstance(im.get("file_name"), str) or not im["file_name"]:
            raise InputError(f"{path}: image {im['id']} has no 'file_name'")
        if not (_is_int(im.get("width")) and _is_int(im.get("height")) and im["width"] > 0 and im["height"] > 0):
            raise InputError(f"{path}: image {im['id']} needs positive integer 'width' and 'height'")
        sizes[im["id"]] = (im["height"], im["width"])
    seen: set[int] = set()
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise InputError(f"{path}: annotations[{i}] is not an object")
        aid = ann.get("id", f"#{i}")
        if _is_int(ann.get("id")):
            if ann["id"] in seen:
                raise InputError(f"{path}: annotation id {ann['id']} appears twice")
            seen.add(ann["id"])
        if not _is_int(ann.get("image_id")) or ann["image_id"] not in sizes:
            raise InputError(f"{path}: annotation {aid} refers to image {ann.get('image_id')!r}, which is not in 'images'")
        if "score" in ann and not (_is_number(ann["score"]) and np.isfinite(ann["score"])):
            raise InputError(f"{path}: annotation {aid} has a score that is not a finite number")
        _check_segmentation(ann, aid, sizes[ann["image_id"]], path)
        if not categories:
            break  # said below
        if not _is_int(ann.get("category_id")) or ann["category_id"] not in categories:
            raise InputError(f"{path}: annotation {aid} has category_id {ann.get('category_id')!r}, which is not in "
                             f"'categories' (ids {sorted(categories)}); add the category or fix the annotation")
        if "iscrowd" in ann and not (_is_int(ann["iscrowd"]) and ann["iscrowd"] in (0, 1)):
            raise InputError(f"{path}: annotation {aid} has 'iscrowd' {ann['iscrowd']!r}; it must be 0 or 1")
        _check_box_and_area(ann, aid, path)
    if not categories:
        raise InputError(f"{path}: 'categories' is empty; a COCO json needs at least one category, e.g. "
                         f"{json.dumps([OBJECT_CATEGORY])}")


def _check_segmentation(ann: dict[str, Any], aid: Any, image_size: tuple[int, int], path: str | os.PathLike) -> None:
    seg = ann.get("segmentation")
    if is_polygon(seg):
        try:
            check_polygons(seg)
        except ValueError as e:
            raise InputError(f"{path}: annotation {aid} has a malformed polygon ({e}); fix or drop it") from None
        return
    try:
        size = check_rle(seg)
    except ValueError as e:
        raise InputError(f"{path}: annotation {aid} has a malformed mask ({e}); re-create the file") from None
    if size != image_size:
        raise InputError(f"{path}: annotation {aid} has a {size[0]}x{size[1]} mask on a "
                         f"{image_size[0]}x{image_size[1]} image")


def check_image_digest(path: str | os.PathLike, image: dict[str, Any], where: str | os.PathLike) -> None:
    """Raise :class:`InputError` when ``image`` (a COCO image entry) stores a ``sha256`` the file does not have."""

    expected = image.get("sha256")
    if expected and digest(Path(path).read_bytes()) != expected:
        raise InputError(f"image file {path} does not match the hash stored for it in {where}; it was changed or "
                         f"swapped after labelling (label again, or turn digest checks off)")
