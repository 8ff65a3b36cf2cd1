"""Shared data of an experiment folder: scenes, the robot's pushes, labels, oracle labels.

Layout under ``OUT/data``::
    target-val/, target-test/          scene folders (pushseg scenes), one per experiment
    interactive/                       Fig. 4: every target-test scene after each push
    seed-<s>/run/                      the pushes of seed s (large size; small = its first episodes)
    seed-<s>/labels-<digest>/          labels.json (+ report, summary) of one labeler setting
    seed-<s>/labels-<digest>/<size>-<kind>.json
                                       the training set of a variant: self-made, oracle-push or
                                       oracle-all labels of the images of the first episodes

Scenes, pushes and labels come from the pipeline's stages (``pushseg.pipeline.stages``), which
skip finished work and refuse an output made with other settings, so a stopped
experiment continues.
These are made once, before the cells run (cells only read them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pushseg import files
from pushseg.data.coco import CocoBuilder
from pushseg.data.collection import CollectConfig
from pushseg.data.run import RunReader
from pushseg.data.scenes import ScenesConfig
from pushseg.envs.sim_backend import SimBackendConfig
from pushseg.errors import InputError
from pushseg.experiments.specs import Profile, Variant, digest
from pushseg.experiments.splits import OBJECTS, split_seed
from pushseg.labeling import LabelConfig
from pushseg.labeling.batch import report_path
from pushseg.pipeline.demo import oracle_labels
from pushseg.pipeline.stages import collect, label, make_scenes
from pushseg.types import MOVED_ROTATION_RAD, MOVED_TRANSLATION_M


def _run_on(executor) -> dict[str, Any]:
    """Keyword arguments that run a stage's units on ``executor`` (a pushseg.executors.ExecutorConfig)."""
    if executor is None:
        return {"workers": 1}
    return {"workers": executor.workers, "executor": executor}


def scenes_config(split: str, count: int, profile: Profile, data_seed: int):
    """The settings of a split's scenes; the interactive test builds its backend from the same ones."""

    return ScenesConfig(split=split, count=count, seed=split_seed(split, data_seed), width=profile.width,
                        height=profile.height, min_objects=profile.min_objects, max_objects=profile.max_objects,
                        world=profile.world, clutter=profile.clutter)


def scenes(out: Path, split: str, count: int, profile: Profile, data_seed: int, *, executor=None,
           progress: bool = False) -> Path:
    """target-val / target-test scenes -> path of their annotations.json."""

    cfg = scenes_config(split, count, profile, data_seed)
    return make_scenes(cfg, out / "data" / split, **_run_on(executor), progress=progress)


def real_frames(out: Path, source: Path) -> Path:
    """The real frames every row is measured on, as a scenes folder in ``OUT/data/real`` (imported once from a
    frames folder, or copied from a scenes folder that ``pushseg import-frames`` wrote)."""
    import shutil

    from pushseg.data.real_frames import import_frames

    dest = out / "data" / "real"
    if (dest / "meta.json").is_file():
        return dest / "annotations.json"
    if not source.is_dir():
        raise InputError(f"--real-frames {source}: no such folder; give a folder of real RGB-D frames "
                         "(NAME-color.png, NAME-depth.png, NAME-label.png, camera.json) or one import-frames wrote")
    shutil.rmtree(dest, ignore_errors=True)
    if (source / "annotations.json").is_file():
        shutil.copytree(source, dest)
    else:
        import_frames(source, dest)
    return dest / "annotations.json"


def run_dir(out: Path, seed: int, agent: str = "separation") -> Path:
    """The pushes of one seed; every agent pushes in the same scenes (same episode seeds)."""
    return out / "data" / f"seed-{seed}" / ("run" if agent == "separation" else f"run-{agent}")


def collection(out: Path, seed: int, profile: Profile, *, agent: str = "separation", executor=None,
               progress: bool = False) -> Path:
    """An agent's pushes on target-train objects for one seed (the large size)."""

    d = run_dir(out, seed, agent)
    cfg = CollectConfig(episodes=profile.episodes["large"], pushes_per_episode=profile.pushes_per_episode,
                        seed=split_seed("target-train", seed), agent=agent,
                        backend_config=SimBackendConfig(objects=OBJECTS["target-train"], width=profile.width,
                                                        height=profile.height, world=profile.world))
    return collect(cfg, d, **_run_on(executor), progress=progress)


def labeler_config(variant: Variant, seed: int):
    try:
        return LabelConfig(seed=seed, **variant.labeler)
    except TypeError as e:
        raise InputError(f"variant {variant.key}: labeler settings {variant.labeler}: {e}") from None


def labels_dir(out: Path, variant: Variant, seed: int) -> Path:
    agent = "" if variant.agent == "separation" else f"{variant.agent}-"
    return out / "data" / f"seed-{seed}" / f"labels-{agent}{digest(variant.labeler)}"


def self_labels(out: Path, variant: Variant, seed: int, *, executor=None, progress: bool = False) -> Path:
    """Label the whole run of ``seed`` with the variant's labeler settings."""

    labels = labels_dir(out, variant, seed) / "labels.json"
    return label(run_dir(out, seed, variant.agent), labels, labeler_config(variant, seed), **_run_on(executor), progress=progress)


def _first_episodes(coco: dict[str, Any], episodes: int) -> dict[str, Any]:
    images = [im for im in coco["images"] if int(im["episode"]) < episodes]
    keep = {im["id"] for im in images}
    return {**coco, "images": images, "annotations": [a for a in coco["annotations"] if a["image_id"] in keep]}


def oracle_push(coco: dict[str, Any], min_pixels: int = 30) -> dict[str, Any]:
    """The ground-truth mask of the object each push moved most, on the same images: the label-noise control."""

    readers: dict[str, RunReader] = {}
    b = CocoBuilder(info={"description": "ground truth of the pushed object on the self-labelled images"})
    skipped = 0
    for im in coco["images"]:
        reader = readers.setdefault(im["run"], RunReader(im["run"]))
        rec = next(r for r in reader.records if (r.episode, r.step) == (im["episode"], im["step"]))
        ids = reader.load_frame(rec, "before").instance_ids
        if ids is None:
            raise InputError(f"{im['run']}: no ground-truth instance ids (real robot?); no oracle possible")
        moved = sorted((m for m in rec.result.motions
                        if m.translation > MOVED_TRANSLATION_M or abs(m.rotation) > MOVED_ROTATION_RAD),
                       key=lambda m: -m.translation)
        mask = ids == moved[0].instance_id if moved else None
        if mask is None or mask.sum() < min_pixels:
            skipped += 1  # the push moved nothing visible: the oracle has no label for it
            continue
        image_id = b.add_image(im["file_name"], im["width"], im["height"], run=im["run"], episode=im["episode"],
                               step=im["step"])
        b.add_mask(image_id, mask)
    data = b.to_dict()
    data.setdefault("info", {})["skipped_no_motion"] = skipped
    return data


def training_set(out: Path, variant: Variant, seed: int, profile: Profile) -> tuple[Path, dict[str, Any]]:
    """The COCO json a trained variant fine-tunes on, and its label statistics."""

    d = labels_dir(out, variant, seed)
    path = d / f"{variant.data}-{variant.labels}.json"
    stats_path = path.with_suffix(".stats.json")
    if path.is_file() and stats_path.is_file():
        return path, json.loads(stats_path.read_text())
    coco = json.loads((d / "labels.json").read_text())
    episodes = profile.episodes[variant.data]
    own = _first_episodes(coco, episodes)
    rows = [json.loads(line) for line in report_path(d / "labels.json").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if int(r["episode"]) < episodes]
    # episode labels write "push" and "image" lines; one mask per push writes push lines only
    pushes = [r for r in rows if r.get("kind", "push") == "push"]
    ious = [r["iou"] for r in pushes if r.get("accepted") and r.get("iou") is not None]
    stats: dict[str, Any] = {"pushes": len(pushes), "images": len(own["images"]),
                             "self_label_mean_iou": float(np.mean(ious)) if ious else None}
    if variant.labels == "self":
        data = own
        stats["label_mean_iou"] = stats["self_label_mean_iou"]
        carried = [a["iou"] for r in rows if r.get("kind") == "image" for a in r["annotations"] if "iou" in a]
        if carried:  # episode labels: every mask on every image, carried ones included
            stats["label_mean_iou"] = float(np.mean(carried))
            stats["unlabelled_objects_per_image"] = float(np.mean(
                [r["unlabelled"] for r in rows if r.get("kind") == "image" and "unlabelled" in r]))
    elif variant.labels == "oracle-push":
        data = oracle_push(own)
        stats["label_mean_iou"] = 1.0
    elif variant.labels == "oracle-all":
        tmp = path.with_suffix(".self.json")
        files.write_text_atomic(tmp, json.dumps(own), sync_dir=False)
        oracle_labels(tmp, path.with_suffix(".tmp.json"))
        tmp.unlink()
        data = json.loads(path.with_suffix(".tmp.json").read_text())
        path.with_suffix(".tmp.json").unlink()
        stats["label_mean_iou"] = 1.0
    else:
        raise InputError(f"variant {variant.key}: labels '{variant.labels}' make no training set")
    stats["annotations"] = len(data["annotations"])
    stats["train_images"] = len(data["images"])
    if not data["images"]:
        raise InputError(f"variant {variant.key}, seed {seed}: no training image (the labeler accepted no push in "
                         f"the first {episodes} episodes); collect more episodes in the profile")
    files.write_text_atomic(path, json.dumps(data), sync_dir=False)
    files.write_json_atomic(stats_path, stats)  # last: with it, the training set is complete
    return path, stats
