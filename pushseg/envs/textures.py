"""Procedural textures with photo-like statistics, drawn afresh from a scene's generator.

Real surfaces are not flat colours: their spectra fall off roughly as 1/f
(natural images and most materials), and man-made things add stripes,
checks, printed text and colour blocks. Each texture is one of

* ``noise``    -- 1/f^beta noise (beta 1-2) mapped onto a palette of 2-4 colours (stone, fabric, paint);
* ``stripes``  -- stripes of random period, angle and duty cycle in 2-3 colours (packaging, cloth);
* ``checker``  -- a checker or gingham of random period and angle (table cloths, boards);
* ``label``    -- a product label: a ground, colour blocks and lines of text-like strokes;
* ``wood``     -- wood grain: warped rings of two tones with fine 1/f noise;
* ``plain``    -- one colour with mild low-frequency shading and speckle (plastic, paint).

All of them carry a little fine 1/f noise on top, as no printed or moulded
surface is perfectly uniform to a camera.
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np
import pybullet as pb

TEXTURE_KINDS = ("noise", "stripes", "checker", "label", "wood", "plain")


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` colours in 0-255 drawn in HSV, so that saturations and brightnesses spread like household colours."""
    hsv = np.stack([rng.uniform(0, 180, n), rng.uniform(0, 255, n) * rng.uniform(0.2, 1.0), rng.uniform(25, 250, n)], 1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)


def pink_noise(rng: np.random.Generator, size: int, beta: float) -> np.ndarray:
    """A (size, size) field with power spectrum 1/f^beta, scaled to [0, 1]."""
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    spectrum = (rng.standard_normal((size, size)) + 1j * rng.standard_normal((size, size))) / radius ** (beta / 2)
    spectrum[0, 0] = 0.0
    x = np.real(np.fft.ifft2(spectrum)).astype(np.float32)
    x -= x.min()
    return x / max(float(x.max()), 1e-9)


def _coords(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    a = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return xx * np.cos(a) + yy * np.sin(a), -xx * np.sin(a) + yy * np.cos(a)


def texture(rng: np.random.Generator, size: int = 128, kind: str | None = None) -> np.ndarray:
    """One (size, size, 3) uint8 RGB texture of ``kind`` (random when None). Tileable only by chance."""
    kind = kind or TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))]
    if kind not in TEXTURE_KINDS:
        raise ValueError(f"unknown texture kind {kind!r}: one of {', '.join(TEXTURE_KINDS)}")
    colors = _palette(rng, 4)
    u, v = _coords(rng, size)
    if kind == "noise":
        field = pink_noise(rng, size, rng.uniform(1.0, 2.0))
        k = int(rng.integers(2, 5))
        pos = np.linspace(0, 1, k)
        img = np.stack([np.interp(field, pos, colors[:k, c]) for c in range(3)], -1)
    elif kind == "stripes":
        period = rng.uniform(4, size / 3)
        k = int(rng.integers(2, 4))
        band = (np.floor(u / period) % k).astype(int)
        img = colors[band]
    elif kind == "checker":
        period = rng.uniform(4, size / 4)
        m = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(int)
        img = colors[m]
        if rng.random() < 0.5:  # gingham: the overlap of two stripe sets is darker
            img = img * np.where((np.floor(u / period) % 2 == 0) & (np.floor(v / period) % 2 == 0), 0.7, 1.0)[..., None]
    elif kind == "label":
        img = np.empty((size, size, 3), np.float32)
        img[:] = colors[0]
        for _ in range(int(rng.integers(1, 5))):  # colour blocks
            x0, y0 = rng.integers(0, size, 2)
            w, h = rng.integers(size // 8, size // 2, 2)
            img[y0 : y0 + h, x0 : x0 + w] = colors[int(rng.integers(1, 4))]
        ink = tuple(float(c) for c in colors[int(rng.integers(1, 4))])
        line = int(rng.integers(4, 10))
        for row in range(int(rng.integers(0, size // 3)), size - line, int(line * rng.uniform(1.5, 2.5))):
            x = int(rng.integers(2, 12))
            while x < size - 8 and rng.random() < 0.97:
                wlen = int(rng.integers(3, 4 * line))
                cv2.rectangle(img, (x, row), (min(x + wlen, size - 2), row + line - 2), ink, -1)
                x += wlen + int(rng.integers(2, line + 2))
    elif kind == "wood":
        warp = pink_noise(rng, size, 2.0) * rng.uniform(10, 40)
        grain = 0.5 + 0.5 * np.sin((v + warp) * 2 * np.pi / rng.uniform(5, 20))
        tone = np.array([rng.uniform(90, 200), 0, 0], np.float32)
        tone[1], tone[2] = tone[0] * rng.uniform(0.65, 0.8), tone[0] * rng.uniform(0.4, 0.6)
        img = tone * (0.75 + 0.25 * grain[..., None])
    else:  # plain
        img = colors[0] * (0.85 + 0.15 * pink_noise(rng, size, 2.0))[..., None]
    fine = pink_noise(rng, size, 1.0) - 0.5
    img = img * (1.0 + rng.uniform(0.05, 0.2) * fine[..., None])
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def load_texture(client: int, image: np.ndarray) -> int:
    """Hand an RGB image to PyBullet (which loads textures from files only); the file is gone afterwards."""
    fd, path = tempfile.mkstemp(suffix=".png", prefix="pushseg-tex-")
    os.close(fd)
    try:
        cv2.imwrite(path, np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        return pb.loadTexture(path, physicsClientId=client)
    finally:
        os.unlink(path)
