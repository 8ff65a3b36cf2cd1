"""Named world profiles: how far the simulated target domain is from a perfect camera on a bare table.

A profile is a set of nuisance strengths (0 = off, 1 = what a PR2 with a
Kinect2 in a lab sees, 2 = twice that). Every nuisance stands for one physical
cause; docs/world-profiles.md gives the cause and the source of each magnitude.

* ``ideal``  -- every nuisance off: the world as it was before profiles existed
  (the same seed gives the same bytes). Kept for tests and as a control.
* ``robot``  -- every nuisance at strength 1: the default of the target sets.
* ``harsh``  -- every nuisance at strength 2.
* ``transfer`` -- not the PR2's lab but any tabletop seen by any common RGB-D
  camera: a varied scene (camera intrinsics and pose, table, room, textures,
  distractors, lights; :mod:`pushseg.envs.transfer`) with the sensor
  nuisances at strength 1. Made for pretraining that has to transfer to a
  real camera.

Any strength can be overridden one at a time, e.g.
``world_profile("robot", calibration=0)`` or ``SimConfig(world="robot",
world_overrides={"exposure": 0})``.

Each nuisance draws from its own generator (:class:`Streams`), keyed by the
scene seed and the nuisance's name, so switching one off or changing its
strength never changes what the others draw, nor the scene itself.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from pushseg.errors import InputError

WORLDS = ("ideal", "robot", "harsh", "transfer")


@dataclass(frozen=True)
class Nuisances:
    """Strength of each nuisance: 0 off, 1 the robot's lab, 2 harsh. See docs/world-profiles.md."""

    depth_noise: float = 0.0  # Kinect2 axial noise growing with distance and incidence, 1 mm steps
    depth_edges: float = 0.0  # flying (mixed) pixels and holes along depth discontinuities
    depth_dropout: float = 0.0  # no return: dark and shiny surfaces, grazing angles, out of range
    rgb_noise: float = 0.0  # colour sensor shot and read noise
    exposure: float = 0.0  # auto exposure and white balance settle differently for every image
    shadows: float = 0.0  # objects cast shadows on the table and each other (a key light from above)
    calibration: float = 0.0  # the believed camera pose is off by a hand-eye calibration's residual
    head_shift: float = 0.0  # the head comes to rest a pixel or two elsewhere after every push
    surroundings: float = 0.0  # walls and furniture in view; tables of other sizes, heights, tops
    object_looks: float = 0.0  # printed labels and stripes, similar-coloured neighbours, dark and shiny objects

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float, np.floating, np.integer)) and np.isfinite(v) and 0.0 <= v <= 4.0):
                raise InputError(f"nuisance strength {f.name} must be a number in [0, 4], got {v!r}")
            object.__setattr__(self, f.name, float(v))

    @classmethod
    def all(cls, strength: float) -> "Nuisances":
        return cls(**{f.name: strength for f in fields(cls)})

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) > 0 for f in fields(self))


@dataclass(frozen=True)
class WorldProfile:
    """A named world: nuisance strengths plus the seed of the robot's one hand-eye calibration."""

    name: str
    nuisances: Nuisances = Nuisances()
    # One robot, one calibration: the believed-pose error is the same for every
    # scene of a backend, drawn from this seed (and the calibration strength).
    calibration_seed: int = 0
    # A varied scene (envs.transfer) instead of the PR2's head camera at its table.
    varied: bool = False

    def __post_init__(self) -> None:
        if self.varied and self.nuisances.surroundings > 0:
            raise InputError(f"world {self.name}: a varied world builds its own room; leave surroundings at 0")

    @property
    def ideal(self) -> bool:
        return not self.nuisances.any and not self.varied

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "nuisances": asdict(self.nuisances), "calibration_seed": self.calibration_seed}
        if self.varied:  # only then, so that the records of the other worlds stay as they were
            out["varied"] = True
        return out


PROFILES: dict[str, WorldProfile] = {
    "ideal": WorldProfile("ideal", Nuisances.all(0.0)),
    "robot": WorldProfile("robot", Nuisances.all(1.0)),
    "harsh": WorldProfile("harsh", Nuisances.all(2.0)),
    # The camera's own nuisances at strength 1; no hand-eye calibration or head to shift (the
    # scenes are single labelled images) and no PR2 lab (the varied scene brings its own room).
    "transfer": WorldProfile(
        "transfer",
        replace(Nuisances.all(1.0), calibration=0.0, head_shift=0.0, surroundings=0.0),
        varied=True,
    ),
}


def nuisance_names() -> list[str]:
    return [f.name for f in fields(Nuisances)]


def world_profile(world: str | WorldProfile, overrides: dict[str, float] | None = None, **more: float) -> WorldProfile:
    """Look a profile up by name and apply per-nuisance overrides; a bad name or key is an InputError.

    The name of an overridden profile records the change, e.g. ``robot[calibration=0]``.
    """
    parsed: dict[str, float] = {}
    if isinstance(world, str) and world.endswith("]") and "[" in world:  # a recorded name, e.g. robot[exposure=0]
        world, tag = world[:-1].split("[", 1)
        try:
            parsed = {k: float(v) for k, v in (item.split("=") for item in tag.split(","))}
        except ValueError:
            raise InputError(f"cannot read the world {world}[{tag}]: expected name[nuisance=strength,...]") from None
    if isinstance(world, WorldProfile):
        profile = world
    else:
        try:
            profile = PROFILES[world]
        except (KeyError, TypeError):
            raise InputError(f"unknown world {world!r}: choose one of {', '.join(WORLDS)}") from None
    changes = {**parsed, **(overrides or {}), **more}
    if not changes:
        return profile
    valid = nuisance_names()
    bad = [k for k in changes if k not in valid]
    if bad:
        raise InputError(f"unknown nuisance(s) {', '.join(map(str, bad))}: choose from {', '.join(valid)}")
    nuisances = replace(profile.nuisances, **changes)
    tag = ",".join(f"{k}={float(v):g}" for k, v in sorted(changes.items()))
    return replace(profile, name=f"{profile.name}[{tag}]", nuisances=nuisances)


def _key(name: str) -> int:
    return zlib.crc32(name.encode())  # stable across runs and Python versions, unlike hash()


class Streams:
    """One generator per nuisance for one scene, independent of each other and of the scene's own draws.

    Derived from the scene seed with ``SeedSequence(seed, spawn_key=(crc32(name),))``:
    a nuisance's draws do not depend on which other nuisances are on.
    """

    def __init__(self, seed: int | None) -> None:
        self._entropy = np.random.SeedSequence(seed).entropy
        self._rngs: dict[str, np.random.Generator] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        if name not in self._rngs:
            ss = np.random.SeedSequence(self._entropy, spawn_key=(_key(name),))
            self._rngs[name] = np.random.default_rng(ss)
        return self._rngs[name]


def calibration_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_key("calibration"),)))
