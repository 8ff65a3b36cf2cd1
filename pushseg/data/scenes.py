"""Labelled scenes with ground truth, for pretraining (``source``), validation and test.

Layout of a scenes folder::

    DIR/
      meta.json          schema, settings, seeds, nominal camera, object set
      annotations.json   COCO instances: one annotation per visible object, RLE masks
      images/000000.png  RGB 8-bit           (COCO "file_name", relative to DIR)
      depth/000000.png   16-bit millimetres, 0 = no reading
      instances/000000.png  16-bit instance ids, 0 = table or background

Scene i is built from its own seed (``SeedSequence(seed).spawn(count)[i]``), so
the files depend on the settings only, not on ``workers``.

Named splits (``split=``) fix the object set and the seed stream:

* ``source``      -- the ``source`` objects (pretraining and source validation);
* ``target-test`` -- novel ``target-test`` objects, scene seeds below 2**32;
* ``target-val``  -- the same novel objects in other scenes: scene seeds are
  ``2**32 + x`` with ``x`` from ``SeedSequence(seed, spawn_key=(1,))``, so no
  target-val scene can be a target-test scene, whatever the master seeds. Both
  are disjoint from ``target-train`` by their objects.

Target splits default to the ``robot`` world, ``source`` to ``ideal`` (see
envs.world); meta.json records the world used. ``annotations.json``
and then ``meta.json`` are written last: a folder without meta.json is unfinished.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pushseg.data import images as img
from pushseg.data.coco import CocoBuilder, instance_masks
from pushseg.errors import InputError, RunFolderError
from pushseg.executors import ExecutorConfig, ordered_map
from pushseg.types import CameraInfo, Frame

SCHEMA = "pushseg-scenes"
SCHEMA_VERSION = 1


# split -> (object set, seed-stream tag); tag 0 is the plain SeedSequence(seed).spawn(count).
SPLITS: dict[str, tuple[str, int]] = {
    "source": ("source", 0),
    "target-test": ("target-test", 0),
    "target-val": ("target-test", 1),
}


@dataclass(frozen=True)
class ScenesConfig:
    objects: str | None = None  # object set: source, target-train or target-test (default: the split's, else target-test)
    count: int = 50  # number of scenes
    seed: int = 0  # master seed; scene seeds are derived from it
    width: int = 960  # image width in pixels
    height: int = 540  # image height in pixels
    min_objects: int = 6  # fewest objects per scene
    max_objects: int = 8  # most objects per scene
    min_pixels: int = 30  # instances with fewer visible pixels get no annotation
    split: str | None = None  # named split: source, target-val or target-test (fixes objects and the seed stream)
    world: str | None = None  # world profile: ideal, robot or harsh (default: robot for target sets, ideal for source)

    def __post_init__(self) -> None:
        if self.split is not None:
            if self.split not in SPLITS:
                raise InputError(f"unknown split {self.split!r}: choose one of {', '.join(SPLITS)}")
            objects = SPLITS[self.split][0]
            if self.objects not in (None, objects):
                raise InputError(
                    f"split {self.split!r} uses the {objects!r} objects, but objects={self.objects!r} was given; "
                    "give one or the other"
                )
            object.__setattr__(self, "objects", objects)
        elif self.objects is None:
            object.__setattr__(self, "objects", "target-test")
        if self.world is not None:
            from pushseg.envs.world import world_profile

            world_profile(self.world)  # a bad name is an InputError now, not in a worker
        if self.count < 1:
            raise InputError(f"--count must be at least 1, got {self.count}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"--seed must be a non-negative integer below 2**63, got {self.seed}")
        if self.width < 16 or self.height < 16:
            raise InputError(f"--width/--height must be at least 16 pixels, got {self.width}x{self.height}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise InputError(
                f"--min-objects/--max-objects must satisfy 1 <= min <= max, got {self.min_objects} and {self.max_objects}"
            )
        if self.min_pixels < 1:
            raise InputError(f"--min-pixels must be at least 1, got {self.min_pixels}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scene_seeds(seed: int, count: int, split: str | None = None) -> list[int]:
    """The scene seeds of a split: tag 0 gives values below 2**32, tag k values in [k 2**32, (k+1) 2**32)."""
    tag = SPLITS[split][1] if split is not None else 0
    if tag == 0:
        return [int(s.generate_state(1, np.uint32)[0]) for s in np.random.SeedSequence(seed).spawn(count)]
    children = np.random.SeedSequence(seed, spawn_key=(tag,)).spawn(count)
    return [tag * 2**32 + int(s.generate_state(1, np.uint32)[0]) for s in children]


def seed_derivation(split: str | None) -> str:
    tag = SPLITS[split][1] if split is not None else 0
    if tag == 0:
        return "numpy.random.SeedSequence(seed).spawn(count)"
    return f"{tag} * 2**32 + numpy.random.SeedSequence(seed, spawn_key=({tag},)).spawn(count)"


def world_of(config: ScenesConfig) -> dict[str, Any]:
    """The resolved world profile the scenes are rendered in, for meta.json."""
    from pushseg.envs.sim_backend import SimConfig

    return SimConfig(objects=config.objects, world=config.world, width=16, height=16).profile.to_dict()


@dataclass
class RenderedScene:
    """One scene as a worker sends it: PNG bytes plus the instance ids for the masks."""

    index: int
    seed: int
    png: dict[str, bytes]  # "rgb", "depth", "instances"
    instance_ids: np.ndarray  # (H, W) uint16
    names: dict[int, str]  # instance id -> object name
    camera: CameraInfo


@dataclass
class ScenesSummary:
    out: Path
    images: int
    annotations: int
    skipped_small: int  # instances below min_pixels
    per_image: list[int] = field(default_factory=list)


def _make_backend(config: ScenesConfig):
    from pushseg.envs.sim_backend import SimBackend

    return SimBackend(
        objects=config.objects,
        width=config.width,
        height=config.height,
        num_objects=(config.min_objects, config.max_objects),
        world=config.world,
    )


def render_scene(backend, index: int, seed: int) -> RenderedScene:
    frame: Frame = backend.reset(seed=seed)
    if frame.instance_ids is None:
        raise InputError("scenes need ground-truth instance ids: use the simulation backend")
    return RenderedScene(
        index=index,
        seed=seed,
        png={
            "rgb": img.encode_rgb(frame.rgb),
            "depth": img.encode_depth(frame.depth),
            "instances": img.encode_instance_ids(frame.instance_ids),
        },
        instance_ids=np.asarray(frame.instance_ids, dtype=np.uint16),
        names=dict(getattr(backend, "object_names", {}) or {}),
        camera=frame.camera,
    )


def _render_job(backend, job: tuple[int, int]) -> RenderedScene:
    return render_scene(backend, *job)


def _render_all(config: ScenesConfig, seeds: list[int], executor: ExecutorConfig) -> Iterator[RenderedScene]:
    # One backend per worker; results come back in scene order whatever runs them.
    return ordered_map(_make_backend, (config,), _render_job, list(enumerate(seeds)), executor)


def write_scenes(
    config: ScenesConfig,
    out: str | Path,
    *,
    workers: int = 1,
    progress: bool | None = None,
    executor: str | ExecutorConfig = "local",
) -> ScenesSummary:
    """Render ``config.count`` scenes into ``out`` with a COCO json of their ground-truth masks."""
    from pushseg.envs.objects import object_set  # validates the set name before any work

    objects = object_set(config.objects)
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunFolderError(f"{out} already exists and is not empty; choose another --out or delete it")
    for sub in ("images", "depth", "instances"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    seeds = scene_seeds(config.seed, config.count, config.split)
    world = world_of(config)
    coco = CocoBuilder(info={"description": f"pushseg scenes of '{config.objects}'", **config.to_dict()})
    summary = ScenesSummary(out=out, images=0, annotations=0, skipped_small=0)
    camera = None
    disable = None if progress is None else not progress
    if isinstance(executor, str):
        executor = ExecutorConfig(executor=executor, workers=workers)
    for scene in tqdm(_render_all(config, seeds, executor), total=config.count, unit="scene", desc="scenes",
                      disable=disable):
        name = f"{scene.index:06d}.png"
        files = {"rgb": f"images/{name}", "depth": f"depth/{name}", "instances": f"instances/{name}"}
        for kind, rel in files.items():
            img.write_atomic(out / rel, scene.png[kind], sync_dir=False)
        camera = camera or scene.camera
        image_id = coco.add_image(
            files["rgb"], config.width, config.height,
            depth_file=files["depth"], instances_file=files["instances"], seed=scene.seed,
            camera=scene.camera.to_dict(),
        )  # fmt: skip
        masks, small = instance_masks(scene.instance_ids, config.min_pixels)
        for iid, mask in masks:
            coco.add_mask(image_id, mask, instance_id=iid, object_name=scene.names.get(iid, ""))
        n = len(masks)
        summary.skipped_small += small
        summary.per_image.append(n)
        summary.images += 1
        summary.annotations += n
    for sub in ("images", "depth", "instances"):
        img.fsync_dir(out / sub)
    coco.write(out / "annotations.json")
    meta = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "backend": "sim",
        "config": config.to_dict(),
        "split": config.split,
        "world": world,
        "seeds": {"seed": config.seed, "derivation": seed_derivation(config.split), "scenes": seeds},
        "camera": camera.to_dict() if camera is not None else None,
        "objects": {"set": objects.name, "names": objects.names, "description": objects.description},
        "annotations": "annotations.json",
        "counts": {"images": summary.images, "annotations": summary.annotations, "skipped_small": summary.skipped_small},
    }
    img.write_atomic(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    return summary
