"""Household-like meshes made at run time: hulls, bottles, cans, bevelled boxes, mugs, bowls, flat items.

Each builder returns a :class:`Mesh` (vertices, triangle indices, texture
coordinates and normals) centred on its bounding box, with the bounding box's
half extents equal to the ``size`` it was asked for, so that placement code
can treat every shape alike. Surfaces of revolution (bottles, cans, mugs,
bowls) take their texture around the axis (u = angle, v = height), like a
wrapped label; faceted shapes (hulls, boxes) take it by projection onto the
face's dominant axis. PyBullet collides a moving mesh by its convex hull,
which for mugs and bowls fills the cavity: good enough for scenes at rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull

MESH_KINDS = ("hull", "bottle", "can", "bevel_box", "mug", "bowl", "flat")
ROUND_KINDS = ("bottle", "can", "mug", "bowl")  # size[0] == size[1] is their radius (mug: body radius)
_SEGMENTS = 28  # around the axis: smooth at 640x480 for objects up to ~0.2 m across


@dataclass(frozen=True)
class Mesh:
    vertices: np.ndarray  # (N, 3) metres, centred on the bounding box
    indices: np.ndarray  # (M,) triangle corner indices
    uvs: np.ndarray  # (N, 2)
    normals: np.ndarray  # (N, 3) unit

    def lists(self) -> dict:
        """Keyword arguments for ``pybullet.createVisualShape(GEOM_MESH, ...)``."""
        return {
            "vertices": self.vertices.tolist(),
            "indices": [int(i) for i in self.indices],
            "uvs": self.uvs.tolist(),
            "normals": self.normals.tolist(),
        }


def _revolve(profile: list[tuple[float, float]], segments: int = _SEGMENTS) -> tuple[list, list, list, list]:
    """Revolve a (radius, height) polyline about z; each profile segment gets its own ring of vertices
    so that the normal is sharp at the profile's corners and smooth around the axis."""
    prof = np.asarray(profile, dtype=np.float64)
    top = max(prof[:, 1].max(), 1e-9)
    V, UV, N, I = [], [], [], []
    angles = 2 * np.pi * np.arange(segments + 1) / segments
    for (r0, z0), (r1, z1) in zip(prof[:-1], prof[1:]):
        dr, dz = r1 - r0, z1 - z0
        length = np.hypot(dr, dz)
        if length < 1e-9:
            continue
        nr, nz = dz / length, -dr / length  # outward for a profile traced bottom-axis, out, up, back to the axis
        base = len(V)
        for j, a in enumerate(angles):
            ca, sa = np.cos(a), np.sin(a)
            for r, z in ((r0, z0), (r1, z1)):
                V.append((r * ca, r * sa, z))
                UV.append((j / segments, z / top))
                N.append((nr * ca, nr * sa, nz))
        for j in range(segments):
            a = base + 2 * j
            I += [a, a + 2, a + 1, a + 1, a + 2, a + 3]
    return V, UV, N, I


def _finish(V, UV, N, I, size: tuple[float, float, float], keep_aspect_xy: bool = False) -> Mesh:
    """Centre on the bounding box and scale it to the half extents ``size``."""
    v = np.asarray(V, dtype=np.float64)
    lo, hi = v.min(0), v.max(0)
    half = np.maximum((hi - lo) / 2, 1e-9)
    scale = np.asarray(size, dtype=np.float64) / half
    if keep_aspect_xy:  # round shapes: one scale across, so that circles stay circles
        scale[:2] = scale[:2].min()
    v = (v - (lo + hi) / 2) * scale
    n = np.asarray(N, dtype=np.float64) / scale  # normals transform with the inverse scale
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return Mesh(v, np.asarray(I, dtype=np.int64), np.asarray(UV, dtype=np.float64), n)


def _faceted(points: np.ndarray) -> tuple[list, list, list, list]:
    """Convex hull of ``points`` as flat-shaded triangles, texture by projection on each face's dominant axis."""
    hull = ConvexHull(points)
    span = float(np.ptp(points, axis=0).max())
    V, UV, N, I = [], [], [], []
    for tri, eq in zip(hull.simplices, hull.equations):
        n = eq[:3]
        p = points[tri]
        if np.dot(np.cross(p[1] - p[0], p[2] - p[0]), n) < 0:  # wind counter-clockwise seen from outside
            p = p[[0, 2, 1]]
        axis = int(np.argmax(np.abs(n)))
        uv_axes = [k for k in range(3) if k != axis]
        base = len(V)
        for q in p:
            V.append(tuple(q))
            UV.append((q[uv_axes[0]] / span + 0.5, q[uv_axes[1]] / span + 0.5))
            N.append(tuple(n))
        I += [base, base + 1, base + 2]
    return V, UV, N, I


def hull(rng: np.random.Generator, size) -> Mesh:
    """A stone, a fruit, a lump of packaging: the convex hull of 8-24 random points in an ellipsoid."""
    k = int(rng.integers(8, 25))
    d = rng.standard_normal((k, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = d * rng.uniform(0.6, 1.0, size=(k, 1))
    pts = np.vstack([pts, [[0, 0, -1.0], [0, 0, 1.0]]])  # a top and a bottom, so it has a height
    return _finish(*_faceted(pts), size)


def bevel_box(rng: np.random.Generator, size) -> Mesh:
    """A carton or a block with rounded edges: a box whose corners are cut by a 10-35 % bevel."""
    bevel = rng.uniform(0.10, 0.35) * min(size)
    inner = np.maximum(np.asarray(size, float) - bevel, 1e-4)
    dirs = np.array([(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1) if (x, y, z) != (0, 0, 0)], float)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    corners = np.array([(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    # Each corner of the inner box pushed out along the directions of its own octant: a chamfered box.
    pts = np.array([c * inner + bevel * d for c in corners for d in dirs if np.all(d * c >= 0)])
    return _finish(*_faceted(pts), size)


def flat(rng: np.random.Generator, size) -> Mesh:
    """A book, a wallet, a phone, a plate-like lid: a thin bevelled slab (the caller gives a low height)."""
    return bevel_box(rng, size)


def can(rng: np.random.Generator, size) -> Mesh:
    """A tin can: a cylinder with inset rims, sometimes tapered (a cup, a yoghurt pot)."""
    r, h = 1.0, 2.0 * size[2] / size[0]
    top = r * (rng.uniform(0.75, 1.0) if rng.random() < 0.35 else 1.0)
    rim = 0.04 * h
    prof = [(0, 0), (0.93 * r, 0), (r, rim), (top, h - rim), (0.93 * top, h), (0, h)]
    return _finish(*_revolve(prof), size, keep_aspect_xy=True)


def bottle(rng: np.random.Generator, size) -> Mesh:
    """A bottle: a body, a shoulder, a neck 30-50 % of the body's radius and a cap."""
    r, h = 1.0, 2.0 * size[2] / size[0]
    body = h * rng.uniform(0.50, 0.70)
    shoulder = h * rng.uniform(0.08, 0.18)
    neck = r * rng.uniform(0.30, 0.50)
    cap = neck * rng.uniform(1.0, 1.25)
    waist = r * rng.uniform(0.85, 1.0)  # some bottles are waisted
    z1 = body + shoulder
    prof = [(0, 0), (0.95 * r, 0), (r, 0.03 * h), (waist, body * 0.5), (r, body), (neck, z1),
            (neck, 0.5 * (z1 + h)), (cap, 0.5 * (z1 + h)), (cap, h), (0, h)]  # fmt: skip
    return _finish(*_revolve(prof), size, keep_aspect_xy=True)


def bowl(rng: np.random.Generator, size) -> Mesh:
    """A bowl: a foot, a curved wall out to the rim, and the inside back down (open at the top)."""
    r, h = 1.0, 2.0 * size[2] / size[0]
    foot = r * rng.uniform(0.35, 0.55)
    wall = 0.06 * r
    ts = np.linspace(0, 1, 6)
    outside = [(foot + (r - foot) * np.sin(t * np.pi / 2), h * (1 - np.cos(t * np.pi / 2))) for t in ts]
    inside = [(max(foot - wall, 0.0) + (r - wall - foot + wall) * np.sin(t * np.pi / 2),
               wall + (h - wall) * (1 - np.cos(t * np.pi / 2))) for t in ts[::-1]]  # fmt: skip
    prof = [(0, 0)] + outside + [(r - wall, h)] + inside + [(0, wall)]
    return _finish(*_revolve(prof), size, keep_aspect_xy=True)


def mug(rng: np.random.Generator, size) -> Mesh:
    """A mug: an open cup (outer wall, rim, inner wall, floor) and a handle swept on one side.

    ``size`` is the body's bounding box; the handle sticks out beyond it by about half a radius.
    """
    r, h = 1.0, 2.0 * size[2] / size[0]
    wall = 0.08
    prof = [(0, 0), (r, 0), (r, h), (r - wall, h), (r - wall, 0.08 * h), (0, 0.08 * h)]
    V, UV, N, I = _revolve(prof)
    # Handle: a tube of radius t swept along a half circle in the x-z plane outside the wall.
    t, R = 0.1, h * rng.uniform(0.25, 0.35)
    zc = h * 0.55
    n_path, n_ring = 10, 8
    base = len(V)
    for i in range(n_path + 1):
        a = -np.pi / 2 + np.pi * i / n_path
        c = np.array([r - 0.05 + R * 0.8 * np.cos(a), 0.0, zc + R * np.sin(a)])
        tangent = np.array([-np.sin(a), 0.0, np.cos(a)])
        e1 = np.array([np.cos(a), 0.0, np.sin(a)])  # outward in the sweep plane
        e2 = np.cross(tangent, e1)
        for j in range(n_ring + 1):
            b = 2 * np.pi * j / n_ring
            n = np.cos(b) * e1 + np.sin(b) * e2
            V.append(tuple(c + t * n))
            UV.append((i / n_path, j / n_ring))
            N.append(tuple(n))
    for i in range(n_path):
        for j in range(n_ring):
            a = base + i * (n_ring + 1) + j
            b = a + n_ring + 1
            I += [a, b, a + 1, a + 1, b, b + 1]
    # The profile has radius 1 and height 2 size[2] / size[0]: one scale makes it metres.
    v = np.asarray(V, dtype=np.float64) * size[0]
    lo, hi = v.min(0), v.max(0)
    v -= (lo + hi) / 2
    n = np.asarray(N, dtype=np.float64)
    return Mesh(v, np.asarray(I, dtype=np.int64), np.asarray(UV, dtype=np.float64), n)


_BUILDERS = {"hull": hull, "bottle": bottle, "can": can, "bevel_box": bevel_box, "mug": mug, "bowl": bowl, "flat": flat}


def make_mesh(kind: str, size: tuple[float, float, float], shape_seed: int) -> Mesh:
    """The mesh of ``kind`` with bounding half extents ``size`` (mugs: of the body), the same for the same seed."""
    try:
        build = _BUILDERS[kind]
    except KeyError:
        raise ValueError(f"not a mesh kind: {kind!r} (one of {', '.join(MESH_KINDS)})") from None
    return build(np.random.default_rng(shape_seed), tuple(float(x) for x in size))
