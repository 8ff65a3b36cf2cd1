"""COCO instance-segmentation json with exact RLE masks and one category, "object".

Any segmentation framework reads these files; pycocotools does the RLE.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from pushseg.errors import InputError

OBJECT_CATEGORY = {"id": 1, "name": "object", "supercategory": "object"}


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Binary (H, W) mask -> COCO compressed RLE with a json-ready ``counts`` string."""
    m = np.asfortranarray(np.asarray(mask, dtype=np.uint8))
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def decode_mask(rle: dict[str, Any]) -> np.ndarray:
    """COCO RLE (compressed or not) -> (H, W) bool mask."""
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
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w") as f:
            json.dump(self.to_dict(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path


def _bytes_rle(rle: dict[str, Any]) -> dict[str, Any]:
    return {"size": rle["size"], "counts": rle["counts"].encode("ascii")}


def load_coco(path: str | os.PathLike) -> dict[str, Any]:
    """Read a COCO json and check the fields pushseg relies on; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such COCO json file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid json ({e}); re-create it with pushseg scenes/label") from None
    for key in ("images", "annotations", "categories"):
        if key not in data or not isinstance(data[key], list):
            raise InputError(f"{path}: missing the COCO list '{key}'")
    return data
