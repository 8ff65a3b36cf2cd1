"""The lab around the table and the looks of the objects on it (world nuisances of the scene itself).

``surroundings``: tables of other sizes, heights and tops; a back wall, a side
wall, a low cabinet or shelf beside the table and a second table behind it,
so that the camera sees more than one horizontal surface and planes larger
than the table. ``object_looks``: printed labels and stripes on objects,
neighbours of similar colour, dark and shiny objects. Each draws from its own
generator only (see :mod:`pushseg.envs.world`); magnitudes and their sources
are in docs/world-profiles.md.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import cv2
import numpy as np
import pybullet as pb

from pushseg import files
from pushseg.envs.objects import ObjectSpec
from pushseg.envs.scene import FLOOR_Z, IDEAL_TABLE, Table
from pushseg.envs.shapes import MESH_KINDS

# The table must hold the default placement region (x 0.50-0.95, y -0.35-0.35) with a margin.
_MUST_COVER_X = (0.42, 1.03)
_MUST_COVER_Y = (-0.43, 0.43)


def sample_table(rng: np.random.Generator, strength: float) -> Table:
    """A lab table: top 0.75 +- 0.03 m above the floor, 0.8-1.2 m deep, 1.1-1.8 m wide (strength 1).

    The PR2 parks with its base 0.27-0.33 m from the table's front edge.
    """
    s = strength
    front = IDEAL_TABLE.x[0] + rng.uniform(-0.03, 0.03) * s
    depth = 1.0 + rng.uniform(-0.2, 0.2) * s
    width = 1.45 + rng.uniform(-0.35, 0.35) * s
    centre_y = rng.uniform(-0.1, 0.1) * s
    top = IDEAL_TABLE.top_z + rng.uniform(-0.03, 0.03) * s
    x = (min(front, _MUST_COVER_X[0]), max(front + depth, _MUST_COVER_X[1]))
    y = (min(centre_y - width / 2, _MUST_COVER_Y[0]), max(centre_y + width / 2, _MUST_COVER_Y[1]))
    return Table(x=(float(x[0]), float(x[1])), y=(float(y[0]), float(y[1])), top_z=float(top))


def lab_textures(folder: str | None = None, size: int = 256) -> list[str]:
    """Table tops seen in labs (wood grain, speckled laminate, a grey melamine with scratches) as PNGs.

    Procedural and seeded: the same files on every machine; written once.
    """
    folder = folder or os.path.join(tempfile.gettempdir(), f"pushseg-lab-textures-v1-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(4321)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = []
    for k in range(3):  # wood grain in three tones
        base = np.array([[150, 110, 70], [185, 150, 105], [120, 85, 55]][k], np.float32)
        warp = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 12) * 40
        grain = 0.5 + 0.5 * np.sin((yy + warp) * 2 * np.pi / rng.uniform(9, 16))
        images.append(base * (0.85 + 0.15 * grain[..., None]))
    for k in range(2):  # speckled laminate
        base = np.array([[200, 200, 195], [170, 175, 180]][k], np.float32)
        speck = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 0.8)
        images.append(base * (0.9 + 0.2 * speck[..., None]))
    scratched = np.full((size, size, 3), 140, np.float32)
    for _ in range(40):
        p = rng.integers(0, size, 2)
        q = p + rng.integers(-60, 60, 2)
        cv2.line(scratched, tuple(int(a) for a in p), tuple(int(a) for a in q), (165, 165, 165), 1)
    images.append(scratched)
    paths = []
    for k, img in enumerate(images):
        path = os.path.join(folder, f"lab{k}.png")
        paths.append(path)
        if not os.path.exists(path):
            png = cv2.imencode(".png", np.clip(img, 0, 255).astype(np.uint8)[..., ::-1])[1].tobytes()
            files.write_atomic(path, png, sync_dir=False, shared=True)
    return paths


def printed_textures(folder: str | None = None, size: int = 128) -> list[str]:
    """Product-like prints: a label band with text-like strokes, a logo on a plain ground, stripes."""
    folder = folder or os.path.join(tempfile.gettempdir(), f"pushseg-print-textures-v1-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(8765)
    paths = []
    for k in range(9):
        ground = rng.integers(30, 240, 3)
        ink = rng.integers(0, 256, 3)
        img = np.empty((size, size, 3), np.uint8)
        img[:] = ground
        kind = k % 3
        if kind == 0:  # a label band with lines of "text"
            top, bottom = int(size * 0.3), int(size * 0.7)
            img[top:bottom] = 255 - ground // 3
            for row in range(top + 6, bottom - 6, 9):
                x = 6
                while x < size - 10:
                    wlen = int(rng.integers(4, 14))
                    cv2.rectangle(img, (x, row), (min(x + wlen, size - 6), row + 4), tuple(int(c) for c in ink), -1)
                    x += wlen + 4
        elif kind == 1:  # a logo
            c = (int(rng.integers(30, size - 30)), int(rng.integers(30, size - 30)))
            cv2.circle(img, c, int(rng.integers(12, 28)), tuple(int(v) for v in ink), -1)
            cv2.rectangle(img, (c[0] - 8, c[1] - 30), (c[0] + 30, c[1] - 20), tuple(int(v) for v in 255 - ink), -1)
        else:  # stripes
            period = int(rng.integers(8, 24))
            m = (np.arange(size) // period) % 2 == 0
            img[m] = ink
        path = os.path.join(folder, f"print{k}.png")
        paths.append(path)
        if not os.path.exists(path):
            files.write_atomic(path, cv2.imencode(".png", img[..., ::-1])[1].tobytes(), sync_dir=False, shared=True)
    return paths


def _box(client: int, half, centre, rgba) -> int:
    col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=list(half), physicsClientId=client)
    vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=list(half), rgbaColor=list(rgba), physicsClientId=client)
    return pb.createMultiBody(0, col, vis, list(centre), physicsClientId=client)


def build_surroundings(
    client: int, rng: np.random.Generator, strength: float, table: Table, table_body: int, floor_body: int
) -> None:
    """Walls and furniture around ``table``, a lab floor colour and a lab table top (see module doc).

    Every draw is made whatever the outcome, so the sequence of draws is fixed.
    """
    u = rng.random(8)
    tints = rng.uniform(-0.06, 0.06, size=(6, 3))
    dims = rng.uniform(0.0, 1.0, size=(6, 4))
    side = 1.0 if u[0] < 0.5 else -1.0
    # A lab floor: grey or beige vinyl.
    floor_rgb = np.clip(np.array([0.55, 0.53, 0.50]) + tints[0], 0, 1)
    pb.changeVisualShape(floor_body, -1, rgbaColor=[*floor_rgb.tolist(), 1.0], physicsClientId=client)
    wall_rgb = np.clip(np.array([0.86, 0.85, 0.80]) + tints[1], 0, 1).tolist() + [1.0]
    # The back wall, 0.4-1.6 m behind the table, 2.5 m high.
    back = table.x[1] + 0.4 + 1.2 * dims[0, 0]
    _box(client, (0.05, 4.0, 1.25), (back + 0.05, 0.0, FLOOR_Z + 1.25), wall_rgb)
    # A side wall with a chance of 0.7, 1.0-2.2 m to one side.
    if u[1] < min(0.7 * strength, 1.0):
        y = side * (table.y[1] if side > 0 else -table.y[0]) + side * (0.3 + 1.2 * dims[1, 0])
        _box(client, (3.0, 0.05, 1.25), (back - 3.0, y + side * 0.05, FLOOR_Z + 1.25), wall_rgb)
    # A low cabinet or shelf beside the table (0.35-0.60 m high, larger top than some tables' visible part).
    if u[2] < min(0.6 * strength, 1.0):
        h = 0.35 + 0.25 * dims[2, 0]
        depth, width = 0.5 + 0.3 * dims[2, 1], 0.8 + 0.6 * dims[2, 2]
        y_edge = table.y[1] if -side > 0 else table.y[0]
        cy = y_edge - side * (0.1 + width / 2)
        rgb = np.clip(np.array([0.70, 0.70, 0.72]) + tints[2], 0, 1).tolist() + [1.0]
        _box(client, (depth / 2, width / 2, h / 2), (table.x[0] + 0.2 + depth / 2, cy, FLOOR_Z + h / 2), rgb)
    # A second table behind, at another height (0.70-0.90 m).
    if u[3] < min(0.4 * strength, 1.0):
        h = 0.70 + 0.20 * dims[3, 0]
        rgb = np.clip(np.array([0.60, 0.50, 0.40]) + tints[3], 0, 1).tolist() + [1.0]
        cx = min(table.x[1] + 0.25 + 0.4, back - 0.4)
        _box(client, (0.35, 0.7, 0.025), (cx, side * 0.4 * dims[3, 1], FLOOR_Z + h - 0.025), rgb)
        for dx in (-0.3, 0.3):  # legs, so that it stands
            for dy in (-0.65, 0.65):
                _box(client, (0.02, 0.02, (h - 0.05) / 2), (cx + dx, side * 0.4 * dims[3, 1] + dy, FLOOR_Z + (h - 0.05) / 2), rgb)
    # The table top: plain laminate in a lab colour, or a wood / laminate texture.
    top_rgb = np.clip(np.array([0.78, 0.74, 0.66]) + 2 * tints[4], 0, 1).tolist() + [1.0]
    pb.changeVisualShape(table_body, -1, rgbaColor=top_rgb, physicsClientId=client)
    if u[4] < min(0.5 * strength, 1.0):
        files = lab_textures()
        tex = pb.loadTexture(files[int(u[5] * len(files))], physicsClientId=client)
        pb.changeVisualShape(table_body, -1, textureUniqueId=tex, rgbaColor=[1, 1, 1, 1], physicsClientId=client)


@dataclass(frozen=True)
class Look:
    """How one object looks to the sensors, beyond its shape."""

    dark: bool = False
    shiny: bool = False
    printed: bool = False
    color_of: int | None = None  # instance id whose colour it copied (similar-coloured neighbours)


# Kinds whose visual shape has texture coordinates (the pybullet_data blobs have none; the run-time meshes do).
_TEXTURABLE = ("box", "cylinder", *MESH_KINDS)


def apply_looks(
    client: int,
    rng: np.random.Generator,
    strength: float,
    objects: list[tuple[int, ObjectSpec, int]],
) -> dict[int, Look]:
    """Restyle the objects (instance id, spec, body) of one scene; returns each one's Look.

    Strength 1: 35 % get a printed texture (where the shape has texture
    coordinates), 15 % are dark (black plastic, rubber), 15 % shiny (metal,
    glossy plastic), and 30 % take the colour of the object placed before
    them, within +-0.05 per channel. The draws per object are fixed.
    """
    s = strength
    prints = printed_textures()
    looks: dict[int, Look] = {}
    colors: dict[int, np.ndarray] = {}
    for iid, spec, body in objects:
        u = rng.random(5)
        jitter = rng.uniform(-0.05, 0.05, size=3)
        pick = int(rng.integers(len(prints)))
        dark_level = rng.uniform(0.03, 0.10)
        base = np.array(spec.rgba[:3] if spec.rgba is not None else pb.getVisualShapeData(body, physicsClientId=client)[0][7][:3])
        look = Look()
        rgb = base
        if u[0] < min(0.3 * s, 1.0) and colors:
            prev = max(colors)  # the object placed just before: often its neighbour
            rgb = np.clip(colors[prev] + jitter, 0, 1)
            look = Look(color_of=prev)
        if u[1] < min(0.15 * s, 1.0):
            rgb = np.full(3, dark_level)
            look = Look(dark=True)
        shiny = u[2] < min(0.15 * s, 1.0)
        printed = spec.kind in _TEXTURABLE and not look.dark and u[3] < min(0.35 * s, 1.0)
        if not np.allclose(rgb, base):
            pb.changeVisualShape(body, -1, rgbaColor=[*np.asarray(rgb, float).tolist(), 1.0], physicsClientId=client)
        if printed:  # the print shows its own colours
            tex = pb.loadTexture(prints[pick], physicsClientId=client)
            pb.changeVisualShape(body, -1, textureUniqueId=tex, rgbaColor=[1, 1, 1, 1], physicsClientId=client)
        if shiny:
            pb.changeVisualShape(body, -1, specularColor=[1.0, 1.0, 1.0], physicsClientId=client)
        looks[iid] = Look(dark=look.dark, shiny=shiny, printed=printed, color_of=look.color_of)
        colors[iid] = np.asarray(rgb, float)
    return looks
