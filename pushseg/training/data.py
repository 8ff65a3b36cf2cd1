"""A COCO instance set loaded for training: images at the working width, object masks.

Images are resized so that their width is ``work_width`` (the model's working
resolution); masks are resized the same way and kept cropped to their box to
save memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pushseg.data.coco import check_image_digest, decode_mask, load_coco
from pushseg.data.images import (
    read_depth,
    read_image_rgb,
    read_rgb,  # one image reader for the package; also imported from here
)
from pushseg.errors import InputError
from pushseg.training.depth_input import encode_depth
from pushseg.types import CameraInfo


@dataclass
class Instance:
    mask: np.ndarray  # (h, w) bool, cropped to the box
    x0: int  # box origin in the working image
    y0: int
    cx: float  # box centre, working image px
    cy: float
    size: float  # largest side of the box, working image px


@dataclass
class SceneImage:
    image_id: int
    file_name: str
    rgb: np.ndarray  # (H, W, 3) uint8 at the working width
    factor: float  # working / original
    instances: list[Instance]
    depth: np.ndarray | None = None  # (H, W, 3) float16 encoded depth at the working width (depth_input.py), or None


def resize_to_width(rgb: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    f = width / rgb.shape[1]
    if abs(f - 1.0) < 1e-9:
        return rgb, 1.0
    h = max(1, int(round(rgb.shape[0] * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, h), interpolation=interp), f


def find_image(file_name: str, roots: list[Path]) -> Path:
    p = Path(file_name)
    if p.is_absolute() and p.is_file():
        return p
    for root in roots:
        for cand in (root / p, root / "images" / p, root / "images" / p.name):
            if cand.is_file():
                return cand
    raise InputError(f"image '{file_name}' not found under {', '.join(str(r) for r in roots)}; pass --images DIR")


def read_coco_image(image: dict, roots: list[Path], coco_json: str | os.PathLike, *, verify_digest: bool = True,
                    photos: bool = False) -> tuple[Path, np.ndarray]:
    """One COCO image entry's file and (H, W, 3) uint8 RGB pixels, with the checks every reader of a COCO
    json applies, here once: the file is found under ``roots``, has the ``sha256`` the entry stores (unless
    ``verify_digest`` is off), is a colour image (``photos``: any format, grayscale converted) and has the
    ``width`` and ``height`` the json says (masks and boxes are in those pixels)."""
    path = find_image(image["file_name"], roots)
    if verify_digest:
        check_image_digest(path, image, coco_json)
    rgb = read_image_rgb(path, grayscale="convert", flag=f"{coco_json}: image") if photos else read_rgb(path)
    if rgb.shape[:2] != (int(image["height"]), int(image["width"])):
        raise InputError(f"{coco_json}: image {image['id']} ({path}) is {rgb.shape[1]}x{rgb.shape[0]} pixels, "
                         f"the json says {image['width']}x{image['height']}; fix its width and height (and its "
                         f"masks) or use the image it was labelled on")
    return path, rgb


def image_depth(image: dict, roots: list[Path], what: str = "") -> tuple[CameraInfo, np.ndarray]:
    """An image entry's camera and depth (metres, NaN = no reading), from its ``camera`` and ``depth_file``."""
    if "depth_file" not in image or "camera" not in image:
        raise InputError(f"{what}image {image.get('id')} ({image.get('file_name')}) has no depth_file or camera: a "
                         "depth or rgbd model needs both (pushseg scenes, import-frames and label write them)")
    try:
        camera = CameraInfo.from_dict(image["camera"])
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{what}image {image.get('id')}: its camera is malformed ({e})") from None
    return camera, read_depth(find_image(image["depth_file"], roots))


def encoded_depth(image: dict, roots: list[Path], what: str = "") -> np.ndarray:
    """(H, W, 3) float32: the depth encoding the network takes, of one image entry at its own size."""
    camera, depth = image_depth(image, roots, what)
    try:
        return encode_depth(camera, depth, seed=int(image.get("id", 0)))
    except InputError as e:
        raise InputError(f"{what}image {image.get('id')} ({image.get('depth_file')}): {e}") from None


def instance_from_mask(mask: np.ndarray) -> Instance | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    return Instance(
        mask=mask[y0:y1, x0:x1].copy(), x0=int(x0), y0=int(y0),
        cx=(x0 + x1) / 2.0, cy=(y0 + y1) / 2.0, size=float(max(x1 - x0, y1 - y0)),
    )


def load_scene_set(
    coco_json: str | os.PathLike,
    work_width: int,
    image_root: str | os.PathLike | None = None,
    min_object_px: float = 0.0,
    keep_empty: bool = True,
    verify_digests: bool = True,
    depth: bool = False,
    photos: bool = False,
) -> list[SceneImage]:
    """Load every image of a COCO json with its masks at the working width.

    An image entry with a ``sha256`` (pushseg label and scenes write one) is checked
    against its file unless ``verify_digests`` is off. ``depth``: also the encoded
    depth of each image (for depth and rgbd models), from its ``depth_file`` and ``camera``.
    ``photos``: a photo collection (COCO's own files, say): any format OpenCV reads,
    grayscale and RGBA converted to RGB. Masks may be RLE or polygons; crowd
    annotations are skipped and every category counts as "object".
    """
    coco_json = Path(coco_json)
    data = load_coco(coco_json)
    roots = [Path(image_root)] if image_root else []
    roots.append(coco_json.parent)
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    out: list[SceneImage] = []
    for img in data["images"]:
        anns = by_image.get(int(img["id"]), [])
        if not anns and not keep_empty:
            continue
        _, full_rgb = read_coco_image(img, roots, coco_json, verify_digest=verify_digests, photos=photos)
        rgb, f = resize_to_width(full_rgb, work_width)
        instances = []
        for ann in anns:
            if ann.get("iscrowd", 0):
                continue
            full = decode_mask(ann["segmentation"], int(img["height"]), int(img["width"]))  # load_coco checked it
            if full.shape != (int(img["height"]), int(img["width"])):
                raise InputError(f"{coco_json}: annotation {ann.get('id')} has mask size {full.shape}, image is "
                                 f"{img['height']}x{img['width']}")
            m = full
            if f != 1.0:
                m = cv2.resize(full.astype(np.float32), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA) >= 0.5
            inst = instance_from_mask(m)
            if inst is not None and inst.size >= min_object_px:
                instances.append(inst)
        enc = None
        if depth:
            enc = resize_to_width(encoded_depth(img, roots, f"{coco_json}: "), work_width)[0].astype(np.float16)
        out.append(SceneImage(int(img["id"]), img["file_name"], rgb, f, instances, enc))
    if not out:
        raise InputError(f"{coco_json}: no images to train on")
    return out
