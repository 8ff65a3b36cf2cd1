"""The data splits of an experiment, each from its own seed stream.

=================== ==================== =============================================
split               objects              seed stream (``SeedSequence(ROOT, spawn_key)``)
=================== ==================== =============================================
source-train        source (procedural)  (0, data_seed)   -- pretraining, when asked for
source-val          source               (1, data_seed)
target-train        target-train         (2, cell seed)   -- the robot's pushes, per seed
target-val          target-test objects  (3, data_seed)   -- every choice (NMS) is made here
target-test         target-test objects  (4, data_seed)   -- read once per cell, at the end
=================== ==================== =============================================

Streams with different spawn keys are independent by construction, and the
scene writer puts target-val scene seeds in [2**32, 2**33), out of reach of every
other split's (below 2**32); the scene seeds drawn are also checked to be
disjoint (``check_disjoint``) before any scene is rendered. The robot pushes ``target-train`` objects only; validation and
test scenes hold the novel ``target-test`` objects, in different scenes. The
interactive test (Fig. 4) replays the ``target-test`` scenes themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pushseg.data.collection import episode_specs
from pushseg.data.scenes import SPLITS as SCENE_SPLITS
from pushseg.data.scenes import scene_seeds as derive
from pushseg.errors import InputError

ROOT = 0x5E1FDEE9  # fixed: the streams of every experiment derive from it
SPLITS = ("source-train", "source-val", "target-train", "target-val", "target-test")
OBJECTS = {"source-train": "source", "source-val": "source", "target-train": "target-train",
           "target-val": "target-test", "target-test": "target-test"}


def split_seed(split: str, seed: int = 0) -> int:
    """The master seed of ``split`` for a data seed (val/test/source) or a cell seed (target-train)."""
    if split not in SPLITS:
        raise InputError(f"split '{split}' is unknown; choose one of {', '.join(SPLITS)}")
    if seed < 0:
        raise InputError(f"seeds must be non-negative, got {seed}")
    ss = np.random.SeedSequence(ROOT, spawn_key=(SPLITS.index(split), int(seed)))
    return int(ss.generate_state(1, np.uint64)[0] % (2**63))


def scene_seeds(split: str, seed: int, count: int) -> list[int]:
    """The per-scene seeds the scene writer derives from the split's seed (target-val: in [2**32, 2**33))."""

    return derive(split_seed(split, seed), count, split if split in SCENE_SPLITS else None)


def episode_seeds(seed: int, episodes: int) -> list[int]:
    return [s.env_seed for s in episode_specs(split_seed("target-train", seed), episodes)]


def check_disjoint(sets: dict[str, Iterable[int]]) -> None:
    """Raise when two splits share a scene seed (they would show the same scene)."""
    seen: dict[int, str] = {}
    for name, seeds in sets.items():
        for s in seeds:
            if s in seen and seen[s] != name:
                raise InputError(f"splits {seen[s]} and {name} share scene seed {s}; choose another data seed")
            seen[s] = name
