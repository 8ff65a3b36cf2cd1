"""Synthetic scenes for tests and benchmarks: coloured shapes on textured backgrounds.

``write_synthetic_set(out, n_images, ...)`` writes ``out/images/*.png`` and
``out/annotations.json`` (COCO, RLE), the same layout as ``pushseg scenes``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from pushseg.data.coco import CocoBuilder
from pushseg.data.images import write_image_file


def textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    base = rng.integers(60, 200, size=3)
    noise = rng.normal(0, 12, size=(height // 8 + 1, width // 8 + 1, 3))
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
    fine = rng.normal(0, 6, size=(height, width, 3))
    return np.clip(base + noise + fine, 0, 255).astype(np.uint8)


def draw_shape(rng: np.random.Generator, height: int, width: int, cx: float, cy: float, size: float) -> np.ndarray:
    """A filled ellipse, rectangle or triangle of largest side about ``size``; returns the bool mask."""
    mask = np.zeros((height, width), np.uint8)
    kind = int(rng.integers(3))
    angle = float(rng.uniform(0, 180))
    a, b = size / 2, size / 2 * rng.uniform(0.55, 1.0)
    if kind == 0:
        cv2.ellipse(mask, (int(cx), int(cy)), (int(a), int(b)), angle, 0, 360, 1, -1)
    else:
        n = 4 if kind == 1 else 3
        t = np.radians(angle) + np.arange(n) * 2 * np.pi / n + (np.pi / 4 if n == 4 else 0)
        pts = np.stack([cx + a * np.cos(t), cy + b * np.sin(t)], 1).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def make_scene(rng: np.random.Generator, height: int, width: int, n_objects: int,
               size_range: tuple[float, float]) -> tuple[np.ndarray, list[np.ndarray]]:
    rgb = textured_background(rng, height, width)
    occupied = np.zeros((height, width), bool)
    masks = []
    for _ in range(n_objects * 20):
        if len(masks) == n_objects:
            break
        size = rng.uniform(*size_range)
        cx, cy = rng.uniform(size / 2 + 2, width - size / 2 - 2), rng.uniform(size / 2 + 2, height - size / 2 - 2)
        m = draw_shape(rng, height, width, cx, cy, size)
        if m.sum() < 20 or (m & cv2.dilate(occupied.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)).any():
            continue
        color = rng.integers(0, 256, size=3)
        shade = np.clip(color + rng.normal(0, 10, size=(height, width, 3)), 0, 255).astype(np.uint8)
        rgb[m] = shade[m]
        occupied |= m
        masks.append(m)
    return rgb, masks


def write_synthetic_set(out: str | os.PathLike, n_images: int, seed: int = 0, height: int = 135, width: int = 240,
                        objects: tuple[int, int] = (1, 3), size_range: tuple[float, float] = (24, 48)) -> Path:
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    coco = CocoBuilder(info={"description": "pushseg synthetic shapes", "seed": seed})
    for k in range(n_images):
        rgb, masks = make_scene(rng, height, width, int(rng.integers(objects[0], objects[1] + 1)), size_range)
        name = f"images/{k:05d}.png"
        write_image_file(out / name, rgb)
        image_id = coco.add_image(name, width, height)
        for m in masks:
            coco.add_mask(image_id, m)
    return coco.write(out / "annotations.json")
