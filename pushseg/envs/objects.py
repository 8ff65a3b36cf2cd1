"""Named object sets: what the simulated robot finds on its table.

Three sets, disjoint by construction:

* ``source`` -- the "COCO" of this world: procedural boxes, cylinders and
  prisms with random sizes, colours and textures, drawn afresh for every
  scene. Used to pretrain the segmentation network.
* ``transfer`` -- a source built to transfer to real tables: household-like
  meshes made at run time (convex hulls, bottles, cans, bevelled boxes, mugs,
  bowls, flat items; :mod:`pushseg.envs.shapes`) and the ``source``
  primitives, drawn afresh for every scene; most carry a procedural texture
  made from the scene seed (see the ``transfer`` world).
* ``target-train`` -- the objects the robot pushes while it learns: meshes
  that ship with ``pybullet_data`` (random blobs, lego, jenga, teddy, cube)
  plus a few fixed procedural household-like shapes.
* ``target-test`` -- novel objects never pushed in training (other random
  blobs, the duck, the mug, other fixed shapes).

The random blobs were picked from ``pybullet_data/random_urdfs`` by dropping
each of the 1000 onto a plane and keeping those that come to rest upright
(tilt < 0.35 rad) with a footprint of 4-13.5 cm, an aspect ratio above 0.45,
a height of at least 4 cm (tall enough for a finger 2.5 cm above the table),
and a mesh volume of at least 60 % of its convex hull: PyBullet collides a
moving mesh by its convex hull, so spindly blobs would touch things with
geometry no camera sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pushseg.errors import InputError

ShapeKind = Literal["urdf", "box", "cylinder", "prism", "hull", "bottle", "can", "bevel_box", "mug", "bowl", "flat"]

# Blobs from pybullet_data/random_urdfs that stand stably (see module doc).
_STABLE_BLOBS = (
    1, 2, 5, 16, 24, 38, 69, 70, 74, 80, 81, 83, 116, 118, 131, 137, 145,
    147, 154, 161, 174, 183, 187, 199, 222, 231, 263, 270, 276, 282, 320, 325, 339, 344,
    349, 363, 386, 401, 405, 410, 411, 415, 431, 443, 448, 449, 472, 480, 485, 499, 521,
    548, 549, 555, 607, 612, 637, 651, 676, 687, 689, 697, 702, 705, 720, 729, 731, 734,
    743, 749, 757, 759, 785, 805, 808, 828, 862, 866, 874, 894, 903, 920, 938, 943, 955,
    956, 958, 962, 974, 994, 998,
)  # fmt: skip
_BLOB_SCALE = 1.0


@dataclass(frozen=True)
class ObjectSpec:
    """One object: either a URDF from pybullet_data or a procedural primitive.

    ``size`` means: box -> half extents (x, y, z); cylinder -> (radius, radius,
    half height); prism (an upright triangular prism) -> (circumradius,
    circumradius, half height); the meshes of :mod:`pushseg.envs.shapes` -> the
    half extents of their bounding box (mug: of its body, without the handle),
    built from ``shape_seed``. ``rgba`` None keeps the URDF's own colour.
    ``texture`` indexes the backend's procedural textures (None: plain colour).
    """

    name: str
    kind: ShapeKind
    urdf: str = ""  # path relative to pybullet_data
    scale: float = 1.0
    base_rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    size: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rgba: tuple[float, float, float, float] | None = None
    texture: int | None = None
    mass: float = 0.15
    friction: float = 0.5
    radius: float = 0.082  # URDFs: a circle holding the unscaled footprint (blobs are ~0.10 x 0.13 m)
    shape_seed: int = 0  # meshes: the seed of their random shape

    @property
    def footprint_radius(self) -> float:
        """Radius of a circle that holds the object's footprint (metres), for placement."""
        if self.kind == "urdf":
            return self.radius * self.scale
        if self.kind == "mug":
            return float(1.4 * self.size[0])  # the handle sticks out
        if self.kind in ("box", "hull", "bevel_box", "flat"):
            return float(np.hypot(self.size[0], self.size[1]))
        return float(self.size[0])


def _blob(index: int) -> ObjectSpec:
    path = f"random_urdfs/{index:03d}/{index:03d}.urdf"
    return ObjectSpec(name=f"blob{index:03d}", kind="urdf", urdf=path, scale=_BLOB_SCALE, mass=0.15)


# Fixed procedural objects: household-like shapes with a fixed look.
_TRAIN_PRIMITIVES = (
    ObjectSpec("red_box", "box", size=(0.04, 0.025, 0.03), rgba=(0.8, 0.1, 0.1, 1.0), mass=0.2),
    ObjectSpec("blue_can", "cylinder", size=(0.033, 0.033, 0.05), rgba=(0.1, 0.2, 0.8, 1.0), mass=0.3),
    ObjectSpec("yellow_block", "box", size=(0.03, 0.03, 0.03), rgba=(0.9, 0.8, 0.1, 1.0), mass=0.15),
    ObjectSpec("green_prism", "prism", size=(0.045, 0.045, 0.03), rgba=(0.1, 0.6, 0.2, 1.0), mass=0.15),
)
_TEST_PRIMITIVES = (
    ObjectSpec("orange_tin", "cylinder", size=(0.045, 0.045, 0.025), rgba=(0.95, 0.5, 0.1, 1.0), mass=0.25),
    ObjectSpec("purple_box", "box", size=(0.055, 0.03, 0.02), rgba=(0.5, 0.15, 0.6, 1.0), mass=0.2),
)


@dataclass(frozen=True)
class ObjectSet:
    """A named set of objects. ``procedural`` sets draw new primitives for every scene."""

    name: str
    objects: tuple[ObjectSpec, ...] = ()
    procedural: bool = False
    description: str = ""
    shapes: str = "primitives"  # procedural sets: "primitives" (random_primitive) or "household" (random_household)

    def __len__(self) -> int:
        return len(self.objects)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objects]

    def sample(self, rng: np.random.Generator, count: int) -> list[ObjectSpec]:
        """``count`` objects for one scene, without repeats while the set allows."""
        if self.procedural and self.shapes == "household":
            return [random_household(rng, f"obj{i}") for i in range(count)]
        if self.procedural:
            return [random_primitive(rng, f"prim{i}") for i in range(count)]
        idx = rng.choice(len(self.objects), size=count, replace=count > len(self.objects))
        return [self.objects[int(i)] for i in idx]


# Number of procedural textures a backend provides (see sim_backend.make_textures).
NUM_TEXTURES = 8


def random_primitive(rng: np.random.Generator, name: str) -> ObjectSpec:
    """A source-domain primitive with a random shape, size, colour and (maybe) texture.

    Sizes come in 5 mm steps.
    """
    kind = ("box", "cylinder", "prism")[int(rng.integers(3))]

    def q(lo: float, hi: float) -> float:
        return round(float(rng.uniform(lo, hi)) / 0.005) * 0.005

    half_h = q(0.02, 0.06)
    if kind == "box":
        size = (q(0.02, 0.06), q(0.02, 0.05), half_h)
    else:
        r = q(0.025, 0.05)
        size = (r, r, half_h)
    rgba = (*(float(c) for c in rng.uniform(0.05, 1.0, size=3)), 1.0)
    texture = int(rng.integers(NUM_TEXTURES)) if rng.random() < 0.5 else None
    return ObjectSpec(name=f"{name}_{kind}", kind=kind, size=size, rgba=rgba, texture=texture, mass=0.2)


# Half extents (x, y, z) in metres, low and high, per household kind: spans of YCB-like objects
# (a soup can is 0.033 x 0.033 x 0.05, a cracker box 0.08 x 0.03 x 0.105, a bowl 0.08 x 0.08 x 0.028).
_HOUSEHOLD_SIZES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "hull": ((0.025, 0.025, 0.02), (0.07, 0.07, 0.06)),
    "bottle": ((0.025, 0.025, 0.06), (0.045, 0.045, 0.12)),
    "can": ((0.025, 0.025, 0.025), (0.06, 0.06, 0.08)),
    "bevel_box": ((0.02, 0.02, 0.015), (0.10, 0.08, 0.11)),
    "mug": ((0.035, 0.035, 0.035), (0.05, 0.05, 0.055)),
    "bowl": ((0.05, 0.05, 0.02), (0.09, 0.09, 0.04)),
    "flat": ((0.04, 0.03, 0.005), (0.12, 0.08, 0.015)),
}
HOUSEHOLD_KINDS = (*_HOUSEHOLD_SIZES, "box", "cylinder", "prism")


def random_household(rng: np.random.Generator, name: str) -> ObjectSpec:
    """A transfer-source object: one of HOUSEHOLD_KINDS (each as likely), random size, colour and shape.

    70 % carry a procedural texture (``texture`` then picks one of the scene's
    textures, made by the transfer world) under a light tint; the rest a plain
    colour.
    """
    kind = HOUSEHOLD_KINDS[int(rng.integers(len(HOUSEHOLD_KINDS)))]
    u = rng.random(3)
    shape_seed = int(rng.integers(2**31))
    color = rng.uniform(0.05, 1.0, size=3)
    tint = rng.uniform(0.75, 1.0, size=3)
    texture = int(rng.integers(2**16))
    if kind in _HOUSEHOLD_SIZES:
        lo, hi = (np.array(b) for b in _HOUSEHOLD_SIZES[kind])
        size = lo + u * (hi - lo)
        if kind in ("bottle", "can", "mug", "bowl"):
            size[1] = size[0]
        spec = ObjectSpec(name=f"{name}_{kind}", kind=kind, size=tuple(float(round(x, 4)) for x in size),
                          shape_seed=shape_seed, mass=0.2)  # fmt: skip
    else:
        spec = random_primitive(rng, name)
        spec = ObjectSpec(name=f"{name}_{spec.kind}", kind=spec.kind, size=spec.size, mass=0.2)
    textured = rng.random() < 0.7
    rgba = (*(float(c) for c in (tint if textured else color)), 1.0)
    return ObjectSpec(name=spec.name, kind=spec.kind, size=spec.size, rgba=rgba,
                      texture=texture if textured else None, mass=spec.mass, shape_seed=spec.shape_seed)  # fmt: skip


def _build_sets() -> dict[str, ObjectSet]:
    blobs = [_blob(i) for i in _STABLE_BLOBS]
    test_blobs = blobs[2::3]  # every third blob is novel at test time
    train_blobs = [b for k, b in enumerate(blobs) if k % 3 != 2]
    train = tuple(train_blobs) + (
        # Footprint radii measured once from PyBullet's AABBs.
        ObjectSpec("lego", "urdf", urdf="lego/lego.urdf", scale=2.0, mass=0.1, radius=0.024),
        ObjectSpec("jenga", "urdf", urdf="jenga/jenga.urdf", mass=0.1, radius=0.079),
        ObjectSpec("cube", "urdf", urdf="cube_small.urdf", mass=0.15, radius=0.036),
        ObjectSpec("teddy", "urdf", urdf="teddy_vhacd.urdf", mass=0.15, radius=0.073),
    ) + _TRAIN_PRIMITIVES
    test = tuple(test_blobs) + (
        ObjectSpec("duck", "urdf", urdf="duck_vhacd.urdf", base_rpy=(np.pi / 2, 0.0, 0.0), mass=0.15, radius=0.058),
        ObjectSpec("mug", "urdf", urdf="objects/mug.urdf", scale=0.8, mass=0.25, radius=0.078),
    ) + _TEST_PRIMITIVES
    return {
        "source": ObjectSet(
            "source", procedural=True,
            description="procedural boxes/cylinders/prisms, random colours and textures (pretraining)",
        ),
        "transfer": ObjectSet(
            "transfer", procedural=True, shapes="household",
            description="procedural household-like meshes and primitives with procedural textures (pretraining "
                        "to transfer to real cameras)",
        ),
        "target-train": ObjectSet("target-train", train, description=f"{len(train)} objects pushed in training"),
        "target-test": ObjectSet("target-test", test, description=f"{len(test)} novel objects for testing"),
    }  # fmt: skip


OBJECT_SETS: dict[str, ObjectSet] = _build_sets()


def object_set(name: str | ObjectSet) -> ObjectSet:
    """Look a set up by name; an unknown name raises InputError listing the valid ones."""
    if isinstance(name, ObjectSet):
        return name
    try:
        return OBJECT_SETS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(OBJECT_SETS))
        raise InputError(f"unknown object set {name!r}: choose one of {valid}") from None
