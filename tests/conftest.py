"""Shared test fixtures: small synthetic frames and transitions (no simulation needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pushseg.geometry import kinect2_camera
from pushseg.types import ObjectMotion, Outcome, Push, PushResult, Transition, Frame


def synthetic_frame(rng: np.random.Generator, width: int = 64, height: int = 36, with_ids: bool = True) -> Frame:
    """A random RGB-D frame with some invalid depth pixels and a few instance ids."""
    camera = kinect2_camera(width, height)
    depth = rng.uniform(0.5, 2.0, size=(height, width)).astype(np.float32)
    depth[rng.random((height, width)) < 0.05] = np.nan
    ids = rng.integers(0, 5, size=(height, width)).astype(np.uint16) if with_ids else None
    return Frame(
        rgb=rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8),
        depth=depth,
        camera=camera,
        timestamp=float(rng.integers(0, 1000)),
        instance_ids=ids,
    )


def synthetic_transition(rng: np.random.Generator, episode: int, step: int, **frame_kw) -> Transition:
    motion = ObjectMotion(instance_id=2, name="mug", translation=0.031, rotation=-0.2)
    return Transition(
        before=synthetic_frame(rng, **frame_kw),
        after=synthetic_frame(rng, **frame_kw),
        push=Push(u=10.5, v=20.25, angle=0.3, length=0.1),
        result=PushResult(Outcome.EXECUTED, start_base=(0.6, 0.1, 0.75), end_base=(0.7, 0.1, 0.75), motions=(motion,)),
        backend="sim",
        seed=1000 + episode,
        episode=episode,
        step=step,
    )


# The labelled real development frames live beside the repository, never in it (they are for measuring only).
REAL_FRAMES = Path(os.environ.get("PUSHSEG_REAL_FRAMES",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "ycbv-dev"))
needs_real_frames = pytest.mark.skipif(not (REAL_FRAMES / "camera.json").is_file(),
                                       reason=f"the development frames are not at {REAL_FRAMES} (set PUSHSEG_REAL_FRAMES)")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def run_pushseg(*argv: str) -> int:
    """Run the ``pushseg`` command in this process (as the console script does); returns the exit code."""
    from pushseg.cli.main import main

    return main([str(a) for a in argv])


def folder_files(root) -> dict[str, bytes]:
    """Every file under ``root`` (relative posix path -> bytes), to compare folders byte for byte."""
    from pathlib import Path

    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
