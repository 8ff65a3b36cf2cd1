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
* ``transfer-source`` -- the ``transfer`` objects in the ``transfer`` world:
  household-like meshes, procedural textures, any common RGB-D camera at any
  table (pretraining meant to transfer to real cameras; each image records
  its own camera);
* ``target-test`` -- novel ``target-test`` objects, scene seeds below 2**32;
* ``target-val``  -- the same novel objects in other scenes: scene seeds are
  ``2**32 + x`` with ``x`` from ``SeedSequence(seed, spawn_key=(1,))``, so no
  target-val scene can be a target-test scene, whatever the master seeds. Both
  are disjoint from ``target-train`` by their objects.

Target splits default to the ``robot`` world, ``source`` to ``ideal``,
``transfer-source`` to ``transfer`` (see
envs.world); meta.json records the world used. ``annotations.json``
and then ``meta.json`` are written last: a folder without meta.json is unfinished.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pushseg import files
from pushseg.config import CONFIG_FILE
from pushseg.data import images as img
from pushseg.data.coco import CocoBuilder, instance_masks
from pushseg.data.lock import LOCK_FILE
from pushseg.data.manifest import FOLDER_MANIFEST, OutputCommit, OutputPlace
from pushseg.envs.clutter import LEVELS
from pushseg.envs.objects import object_set
from pushseg.envs.sim_backend import SimBackend, SimConfig
from pushseg.envs.world import world_profile
from pushseg.errors import InputError, RunFolderError
from pushseg.executors import ExecutorConfig, ordered_map
from pushseg.limits import MIN_IMAGE_SIDE, check_image_side
from pushseg.types import CameraInfo, Frame

SCHEMA = "pushseg-scenes"
SCHEMA_VERSION = 1


# split -> (object set, seed-stream tag); tag 0 is the plain SeedSequence(seed).spawn(count).
SPLITS: dict[str, tuple[str, int]] = {
    "source": ("source", 0),
    "transfer-source": ("transfer", 0),
    "target-test": ("target-test", 0),
    "target-val": ("target-test", 1),
}


@dataclass(frozen=True)
class ScenesConfig:
    objects: str | None = None  # object set: source, transfer, target-train or target-test (default: the split's, else target-test)
    count: int = 50  # number of scenes
    seed: int = 0  # master seed; scene seeds are derived from it
    width: int = 960  # image width in pixels
    height: int = 540  # image height in pixels
    min_objects: int = 6  # fewest objects per scene
    max_objects: int = 8  # most objects per scene
    min_pixels: int = 30  # instances with fewer visible pixels get no annotation
    split: str | None = None  # named split: source, transfer-source, target-val or target-test (fixes objects and the seed stream)
    world: str | None = None  # world profile: ideal, robot, harsh or transfer (default: robot for target sets, ideal for source, transfer for transfer)
    clutter: str | None = None  # separated, touching, piled, or levels (scene i: the three in turn); None: mixed placement

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
            world_profile(self.world)  # a bad name is an InputError now, not in a worker
        if self.count < 1:
            raise InputError(f"--count must be at least 1, got {self.count}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"--seed must be a non-negative integer below 2**63, got {self.seed}")
        check_image_side(self.width, self.height, "--width/--height")
        if not 1 <= self.min_objects <= self.max_objects:
            raise InputError(
                f"--min-objects/--max-objects must satisfy 1 <= min <= max, got {self.min_objects} and {self.max_objects}"
            )
        if self.clutter is not None and self.clutter not in (*LEVELS, CYCLE):
            raise InputError(f"--clutter must be one of {', '.join(LEVELS)} or {CYCLE} (the three in turn), or "
                             f"left out for mixed placement; got {self.clutter!r}")
        if self.min_pixels < 1:
            raise InputError(f"--min-pixels must be at least 1, got {self.min_pixels}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["clutter"] is None:
            d.pop("clutter")  # folders made before clutter levels keep their settings record
        return d

    def level_of(self, index: int) -> str | None:
        """The clutter level of scene ``index``."""
        return LEVELS[index % len(LEVELS)] if self.clutter == CYCLE else self.clutter


CYCLE = "levels"  # ScenesConfig.clutter: separated, touching, piled in turn, a third of the scenes each


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

    side = MIN_IMAGE_SIDE  # the profile does not depend on the image size
    return SimConfig(objects=config.objects, world=config.world, width=side, height=side).profile.to_dict()


@dataclass
class RenderedScene:
    """One scene as a worker sends it: PNG bytes plus the instance ids for the masks."""

    index: int
    seed: int
    png: dict[str, bytes]  # "rgb", "depth", "instances"
    instance_ids: np.ndarray  # (H, W) uint16
    names: dict[int, str]  # instance id -> object name
    camera: CameraInfo
    clutter: dict[str, Any] | None = None  # the level and its statistics (envs.clutter), where one was asked for


@dataclass
class ScenesSummary:
    out: Path
    images: int
    annotations: int
    skipped_small: int  # instances below min_pixels
    per_image: list[int] = field(default_factory=list)


def make_backend(config: ScenesConfig):
    return _Scenes(config)


def _sim_backend(config: ScenesConfig):
    return SimBackend(
        objects=config.objects,
        width=config.width,
        height=config.height,
        num_objects=(config.min_objects, config.max_objects),
        world=config.world,
    )


class _Scenes:
    """A simulation that puts each scene's objects down at that scene's clutter level."""

    def __init__(self, config: ScenesConfig) -> None:
        self.scenes, self.sim = config, _sim_backend(config)

    def __getattr__(self, name: str):
        return getattr(self.sim, name)

    def reset(self, seed: int, index: int = 0) -> Frame:
        self.sim.config.clutter_level = self.scenes.level_of(index)
        return self.sim.reset(seed=seed)


def render_scene(backend, index: int, seed: int) -> RenderedScene:
    frame: Frame = backend.reset(seed=seed, index=index)
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
        clutter=backend.clutter_stats(frame.instance_ids) if backend.scenes.clutter else None,
    )


def _render_job(backend, job: tuple[int, int]) -> RenderedScene:
    return render_scene(backend, *job)


def _render_all(config: ScenesConfig, seeds: list[int], executor: ExecutorConfig,
                skip: set[int] = frozenset()) -> Iterator[RenderedScene]:
    # One backend per worker; results come back in scene order whatever runs them.
    jobs = [(i, s) for i, s in enumerate(seeds) if i not in skip]
    if not jobs:
        return iter(())
    return ordered_map(make_backend, (config,), _render_job, jobs, executor)


STAGING = "staging"  # per-scene notes while the folder is unfinished; what --resume picks up


def _scene_note(scene: RenderedScene, config: ScenesConfig) -> bytes:
    note = {"index": scene.index, "seed": scene.seed, "names": {str(k): v for k, v in scene.names.items()},
            "camera": scene.camera.to_dict(), "config": config.to_dict(), "clutter": scene.clutter}
    return (json.dumps(note) + "\n").encode()


def _done_scenes(out: Path, config: ScenesConfig) -> dict[int, dict]:
    """Scenes an interrupted run finished: all three images and the note written (the note last)."""
    done = {}
    staging = out / STAGING
    if not staging.is_dir():
        return done
    for note_path in sorted(staging.glob("*.json")):
        try:
            note = json.loads(note_path.read_text())
            index = int(note["index"])
        except (ValueError, KeyError, TypeError):
            continue  # cut short: that scene is rendered again
        if note.get("config") != config.to_dict():
            differ = sorted(k for k in config.to_dict() if note.get("config", {}).get(k) != config.to_dict()[k])
            raise RunFolderError(
                f"{out}: --resume needs the settings the scenes were started with (they differ in "
                f"{', '.join(differ) or 'the settings'}); use those, or choose another --out"
            )
        name = f"{index:06d}.png"
        if all((out / sub / name).is_file() for sub in ("images", "depth", "instances")):
            done[index] = note
    return done


def _load_done(out: Path, index: int, note: dict) -> RenderedScene:
    name = f"{index:06d}.png"
    png = {kind: (out / sub / name).read_bytes()
           for kind, sub in (("rgb", "images"), ("depth", "depth"), ("instances", "instances"))}
    return RenderedScene(
        index=index, seed=int(note["seed"]), png=png,
        instance_ids=img.decode_instance_ids(png["instances"], out / "instances" / name),
        names={int(k): v for k, v in note["names"].items()}, camera=CameraInfo.from_dict(note["camera"]),
        clutter=note.get("clutter"),
    )


def _in_order(out: Path, config: ScenesConfig, seeds: list[int], executor: ExecutorConfig,
              done: dict[int, dict]) -> Iterator[tuple[RenderedScene, bool]]:
    """Every scene in index order: (scene, fresh); finished ones are read back instead of rendered."""
    rendered = iter(_render_all(config, seeds, executor, skip=set(done)))
    for i in range(len(seeds)):
        if i in done:
            yield _load_done(out, i, done[i]), False
        else:
            scene = next(rendered)
            assert scene.index == i
            yield scene, True


def write_scenes(
    config: ScenesConfig,
    out: str | Path,
    *,
    workers: int = 1,
    progress: bool | None = None,
    executor: str | ExecutorConfig = "local",
    resume: bool = False,
    record: str | None = None,
) -> ScenesSummary:
    """Render ``config.count`` scenes into ``out`` with a COCO json of their ground-truth masks.

    The folder is locked while it is written. ``resume`` continues an interrupted
    call (scenes already on disk are read back, not rendered again); the files are
    the same as those of an uninterrupted call. ``record``: the settings record to
    write as ``config.yaml``. The manifest (:mod:`pushseg.data.manifest`) comes last.
    """

    objects = object_set(config.objects)
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out} is a file, not a folder; choose another --out")
    with OutputCommit(scenes_place(out)) as commit:
        summary = _write_scenes_locked(config, out, workers, progress, resume, objects, executor, commit)
        commit.adopt(out / "annotations.json")
        commit.adopt(out / "meta.json")
        if record is not None:
            commit.put(out / CONFIG_FILE, record)
        commit.commit()
        return summary


def scenes_place(out: str | Path) -> OutputPlace:
    """A scenes folder's manifest and lock (``OUT/manifest.json``, ``OUT/.lock``)."""
    return OutputPlace.folder(out, "scenes")


def _write_scenes_locked(config, out, workers, progress, resume, objects, executor, commit) -> ScenesSummary:
    # the old manifest goes only once this call is sure to write: a refused call leaves a finished folder trusted
    if resume and (out / "meta.json").is_file():
        meta = json.loads((out / "meta.json").read_text())
        if meta.get("config") != config.to_dict():
            raise RunFolderError(f"{out}: holds finished scenes made with other settings; choose another --out")
        counts = meta.get("counts", {})
        if (out / STAGING).is_dir():  # killed between meta.json and this clean-up

            shutil.rmtree(out / STAGING)
        return ScenesSummary(out=out, images=counts.get("images", 0), annotations=counts.get("annotations", 0),
                             skipped_small=counts.get("skipped_small", 0))
    leftovers = {LOCK_FILE, "images", "depth", "instances", STAGING, "annotations.json.tmp", "meta.json.tmp",
                 "annotations.json", "config.yaml", FOLDER_MANIFEST}
    if not resume and any(p.name != LOCK_FILE for p in out.iterdir()):
        raise RunFolderError(f"{out} already exists and is not empty; pass --resume to continue an interrupted "
                             f"`pushseg scenes`, or choose another --out")
    if resume and any(p.name not in leftovers for p in out.iterdir()):
        raise RunFolderError(f"{out}: holds files `pushseg scenes` did not make; it is not a scenes folder: "
                             f"choose another --out")
    commit.writing_in_place()
    for sub in ("images", "depth", "instances", STAGING):
        (out / sub).mkdir(parents=True, exist_ok=True)
    seeds = scene_seeds(config.seed, config.count, config.split)
    world = world_of(config)
    done = _done_scenes(out, config) if resume else {}
    coco = CocoBuilder(info={"description": f"pushseg scenes of '{config.objects}'", **config.to_dict()})
    summary = ScenesSummary(out=out, images=0, annotations=0, skipped_small=0)
    camera = None
    disable = None if progress is None else not progress
    if isinstance(executor, str):
        executor = ExecutorConfig(executor=executor, workers=workers)
    for scene, fresh in tqdm(_in_order(out, config, seeds, executor, done), total=config.count, unit="scene",
                             desc="scenes", disable=disable):
        name = f"{scene.index:06d}.png"
        paths = {"rgb": f"images/{name}", "depth": f"depth/{name}", "instances": f"instances/{name}"}
        if fresh:
            for kind, rel in paths.items():
                files.write_atomic(out / rel, scene.png[kind], sync_dir=False)
            for sub in ("images", "depth", "instances"):
                files.fsync_dir(out / sub)
            files.write_atomic(out / STAGING / f"{scene.index:06d}.json", _scene_note(scene, config))
        camera = camera or scene.camera
        image_id = coco.add_image(
            paths["rgb"], config.width, config.height,
            depth_file=paths["depth"], instances_file=paths["instances"], seed=scene.seed,
            camera=scene.camera.to_dict(), sha256=img.digest(scene.png["rgb"]),
            **({"clutter": scene.clutter} if scene.clutter else {}),
        )  # fmt: skip
        masks, small = instance_masks(scene.instance_ids, config.min_pixels)
        for iid, mask in masks:
            coco.add_mask(image_id, mask, instance_id=iid, object_name=scene.names.get(iid, ""))
        n = len(masks)
        summary.skipped_small += small
        summary.per_image.append(n)
        summary.images += 1
        summary.annotations += n
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
    files.write_atomic(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())

    shutil.rmtree(out / STAGING)  # finished: the notes are in annotations.json now
    return summary
