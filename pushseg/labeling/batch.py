"""Label every push of a run folder: COCO json, per-push report, summary, pictures.

Outputs (``out`` is the COCO json path):
``out``
    COCO instance segmentation, one category "object", one image per accepted
    push (the *before* image) with one RLE annotation (its mask), ``score``
    on the annotation. ``file_name`` is the absolute path of the run's before
    RGB PNG, so ``pushseg.training`` finds it wherever the json lies; each
    image also keeps ``run`` (the run folder), ``run_path`` (the PNG relative
    to it), ``episode`` and ``step``, to relocate a moved run.
``label_report.jsonl`` (next to ``out``)
    One line per transition, in run order: accepted or the reason, score,
    milliseconds, the labeler's numbers and, when the run has simulation
    ground truth, the IoU with the object the push moved most (``pushed_id``),
    the object the mask overlaps best (``gt_id``), and whether the label is on
    the wrong object or merges two.
``<stem>_summary.json`` (next to ``out``)
    Yield, reasons, time and, in simulation, mean IoU with the pushed object,
    the shares of labels with IoU >= 0.5 and >= 0.75, on the wrong object and
    merging two objects, and the quality score's rank correlation with IoU.

The result does not depend on the number of workers: transitions are labelled
independently and written in run order.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from pushseg.data.coco import CocoBuilder
from pushseg.data.lock import FolderLock
from pushseg.data.manifest import OutputCommit, OutputPlace
from pushseg.data.run import RunReader, read_meta
from pushseg.errors import InputError
from pushseg.executors import ExecutorConfig, ordered_map
from pushseg.labeling.config import LabelConfig, scaled
from pushseg.labeling.episodes import assess_episode, label_episode, summarize_episodes
from pushseg.labeling.gallery import render_episode, render_sheet, write_sheet
from pushseg.labeling.labeler import Labeler
from pushseg.labeling.report import assess, pushed_object, summarize

REPORT_SUFFIX = "_report.jsonl"
# How the report of labels.json is named in help texts: each labels json has its own.
REPORT_FILE = "<out stem>" + REPORT_SUFFIX


def report_path(labels: str | os.PathLike) -> Path:
    """The per-push report of a labels json: ``labels.json`` -> ``labels_report.jsonl``."""
    labels = Path(labels)
    return labels.with_name(labels.stem + REPORT_SUFFIX)


def summary_path(labels: str | os.PathLike) -> Path:
    labels = Path(labels)
    return labels.with_name(labels.stem + "_summary.json")


def label_place(labels: str | os.PathLike) -> OutputPlace:
    """Where a labels json's manifest and lock live (beside it: ``<stem>_manifest.json``)."""
    return OutputPlace.beside(labels, "label")


@dataclass
class _Item:
    index: int
    row: dict[str, Any]
    mask_bits: bytes | None  # np.packbits of the mask, None when rejected
    shape: tuple[int, int]
    file_name: str
    run_path: str


# -- worker side ---------------------------------------------------------------------------


@dataclass
class _Worker:
    """What a worker labels with: made once per worker by :func:`_setup`, handed to each job by ``ordered_map``.

    In this process, in each local worker process and in each Ray actor alike, the
    executor calls ``_setup`` there and passes its result as the jobs' ``state``.
    """

    reader: RunReader
    labeler: Labeler
    gallery: str | None  # folder for the per-push pictures; None: no pictures


def _setup(run_dir: str, cfg: LabelConfig, gallery: str | None, threads: int, verify: bool = True) -> _Worker:
    cv2.setNumThreads(threads)
    return _Worker(reader=RunReader(run_dir, verify_digests=verify), labeler=Labeler(cfg), gallery=gallery)


def _label_job(state: _Worker, index: int) -> _Item:
    """One transition labelled: its report row, and its mask when accepted (and its picture, with a gallery)."""
    reader, labeler, gallery = state.reader, state.labeler, state.gallery
    rec = reader.records[index]
    t = reader.transition(index)
    row: dict[str, Any] = {"index": index, "episode": rec.episode, "step": rec.step}
    h, w = t.before.rgb.shape[:2]
    run_path = rec.before.paths["rgb"]
    file_name = str((reader.root / run_path).resolve())
    if not t.result.executed:
        row.update(accepted=False, reason="push_not_executed", score=0.0, ms=0.0)
        return _Item(index, row, None, (h, w), file_name, run_path)
    t0 = time.perf_counter()
    res = labeler.label_transition(t, keep=gallery is not None)
    ms = (time.perf_counter() - t0) * 1000.0
    lab = res.label
    row.update(accepted=lab.accepted, reason=lab.reason, score=round(lab.score, 4), ms=round(ms, 2))
    row.update({k: v for k, v in res.stats.items()})
    gt = t.before.instance_ids
    judged = None
    if gt is not None:
        shown = lab.mask if lab.mask is not None else res.candidate
        pushed = pushed_object(t)
        if shown is not None and shown.any():
            judged = assess(shown, gt, pushed)
            if lab.accepted:
                row.update(judged.to_row())
            else:
                row.update(pushed_id=pushed, iou=None, candidate_iou=round(judged.iou, 4), gt_id=judged.best_id)
        else:
            row.update(pushed_id=pushed, iou=None, gt_id=None)
    if gallery is not None:
        gt_mask = (gt == judged.pushed_id) if judged is not None and judged.pushed_id else None
        name = f"e{rec.episode:05d}_s{rec.step:04d}_{'ok' if lab.accepted else lab.reason}.png"
        write_sheet(Path(gallery) / name, render_sheet(t, res, judged.iou if judged else None, gt_mask))
    bits = np.packbits(lab.mask.ravel()).tobytes() if lab.accepted else None
    return _Item(index, row, bits, (h, w), file_name, run_path)


# -- parent side -----------------------------------------------------------------------------


def _open_for_labeling(run_dir, out, gallery, workers: int, verify_digests: bool):
    """The run's reader, the json path and the gallery folder, after checking all three."""
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    reader = RunReader(run_dir, verify_digests=verify_digests)
    if len(reader) == 0:
        raise InputError(f"{run_dir}: the run has no transitions to label; collect some pushes first")
    out = Path(out)
    if out.suffix != ".json":
        raise InputError(f"--out {out}: give the path of a .json file")
    if gallery is not None:
        Path(gallery).mkdir(parents=True, exist_ok=True)
    return reader, out, (str(gallery) if gallery is not None else None)


def label_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    cfg: LabelConfig | None = None,
    *,
    workers: int = 1,
    gallery: str | os.PathLike | None = None,
    progress: bool | None = None,
    verify_digests: bool = True,
    executor: str | ExecutorConfig = "local",
    commit: OutputCommit | None = None,
) -> dict[str, Any]:
    """Label all transitions of ``run_dir``; write the COCO json, report and summary. Returns the summary.

    The run is locked while it is read (a collection still writing it is an error naming
    it), and each image is checked against its stored hash unless ``verify_digests`` is off.
    The three files are one output (:mod:`pushseg.data.manifest`): locked while they are
    made and renamed into place together. ``commit``: the caller's commit of that output
    (it then adds its own files and commits); None: this call commits it.
    """

    if not Path(run_dir).is_dir():
        read_meta(run_dir)  # the reader's own message: no such run folder
    with FolderLock(run_dir, "pushseg label", reader=True):
        if commit is not None:
            return _label_run(run_dir, out, cfg, workers, gallery, progress, verify_digests, executor, commit)
        with OutputCommit(label_place(out), {"run": run_dir}) as own:
            summary = _label_run(run_dir, out, cfg, workers, gallery, progress, verify_digests, executor, own)
            own.commit()
        return summary


def _label_run(run_dir, out, cfg, workers, gallery, progress, verify_digests, executor,
               commit: OutputCommit) -> dict[str, Any]:
    cfg = cfg or LabelConfig()
    if cfg.episode_labels:
        return label_run_episodes(run_dir, out, cfg, workers=workers, gallery=gallery, progress=progress,
                                  executor=executor, verify_digests=verify_digests, commit=commit)
    reader, out, gallery_s = _open_for_labeling(run_dir, out, gallery, workers, verify_digests)

    coco = CocoBuilder(info={"description": "pushseg self-supervised labels", "run": str(reader.root.resolve()),
                             "labeler": cfg.to_dict()})
    rows: list[dict[str, Any]] = []
    n = len(reader)
    disable = None if progress is None else not progress
    t_start = time.perf_counter()
    with tqdm(total=n, unit="push", desc=f"label ({cfg.method})", disable=disable) as bar:
        if isinstance(executor, str):
            executor = ExecutorConfig(executor=executor, workers=workers)
        setup_args = (str(reader.root.resolve()), cfg, gallery_s, 1, verify_digests)
        _consume(ordered_map(_setup, setup_args, _label_job, range(n), executor), coco, rows, reader, bar)
    wall = time.perf_counter() - t_start

    commit.put(out, json.dumps(coco.to_dict()))
    report = commit.put(report_path(out), "".join(json.dumps(r) + "\n" for r in rows))
    summary = summarize(rows)
    summary.update(
        run=str(reader.root),
        coco=str(out),
        report=str(report),
        method=cfg.method,
        action_prior=cfg.use_action_prior,
        table_filter=cfg.use_table_filter,
        workers=workers,
        wall_s=round(wall, 2),
    )
    summary["summary"] = str(commit.put_json(summary_path(out), summary, indent=2))
    return summary


def _depth_entry(reader, index: int) -> dict:
    """The before frame's depth file (absolute) and camera, so that depth and rgbd models can train on the label."""
    before = reader.records[index].before
    if "depth" not in before.paths:
        return {}
    return {"depth_file": str(reader.root.resolve() / before.paths["depth"]), "camera": before.camera.to_dict()}


def _consume(items, coco: CocoBuilder, rows: list, reader, bar) -> None:
    for item in items:
        rows.append(item.row)
        if item.mask_bits is not None:
            h, w = item.shape
            mask = np.unpackbits(np.frombuffer(item.mask_bits, np.uint8), count=h * w).reshape(h, w).astype(bool)
            image_id = coco.add_image(
                item.file_name,
                w,
                h,
                run=str(reader.root.resolve()),
                run_path=item.run_path,
                episode=item.row["episode"],
                step=item.row["step"],
                sha256=reader.records[item.index].before.digests.get("rgb"),  # checked when training reads it
                **_depth_entry(reader, item.index),
            )
            coco.add_mask(image_id, mask, score=item.row["score"])
        bar.update(1)


# -- episode labels (episodes.py) ------------------------------------------------------------------


@dataclass
class _EpisodeItem:
    episode: int
    pushes: list[dict[str, Any]]  # per-push rows, as in the one-mask-per-push report
    images: list[dict[str, Any]]  # per-image rows
    masks: list[list[tuple[bytes, dict[str, Any]]]]  # per image: (packed mask bits, annotation extras)
    files: list[tuple[str, str]]  # per image: (absolute file name, path in the run)
    shape: tuple[int, int]
    drops: dict[str, int]


def _episode_indices(reader) -> list[list[int]]:
    by: dict[int, list[int]] = {}
    for i, rec in enumerate(reader.records):
        by.setdefault(rec.episode, []).append(i)
    return [sorted(v, key=lambda i: reader.records[i].step) for _, v in sorted(by.items())]


def _episode_job(state: _Worker, indices: list[int]) -> _EpisodeItem:
    """One episode's labels (episodes.py): per-push and per-image rows, masks, and its picture with a gallery."""
    reader, labeler, gallery = state.reader, state.labeler, state.gallery
    ts = [reader.transition(i) for i in indices]
    recs = [reader.records[i] for i in indices]
    t0 = time.perf_counter()
    ep = label_episode(ts, labeler)
    ms = (time.perf_counter() - t0) * 1000.0 / max(len(ts), 1)
    h, w = ts[0].before.rgb.shape[:2]
    gts = [t.before.instance_ids for t in ts] + [ts[-1].after.instance_ids]
    image_rows = assess_episode(ep, gts, scaled(labeler.cfg, w, h).min_area_px)
    files = [(str((reader.root / r.before.paths["rgb"]).resolve()), r.before.paths["rgb"]) for r in recs]
    files.append((str((reader.root / recs[-1].after.paths["rgb"]).resolve()), recs[-1].after.paths["rgb"]))
    push_rows = []
    for t, rec, res in zip(ts, recs, ep.results):
        row: dict[str, Any] = {"kind": "push", "index": reader.records.index(rec), "episode": rec.episode, "step": rec.step}
        if res is None:
            row.update(accepted=False, reason="push_not_executed", score=0.0, ms=0.0)
        else:
            lab = res.label
            row.update(accepted=lab.accepted, reason=lab.reason, score=round(lab.score, 4), ms=round(ms, 2))
            if t.before.instance_ids is not None and lab.accepted:
                row.update(assess(lab.mask, t.before.instance_ids, pushed_object(t)).to_row())
        row["images_labelled"] = sum(any(m.push == rec.step for m in img) for img in ep.images)
        push_rows.append(row)
    for r in image_rows:
        r.update(kind="image", episode=recs[0].episode, run_path=files[r["image"]][1])
    masks = [
        [(np.packbits(m.mask.ravel()).tobytes(), {"push_step": m.push, "steps_carried": m.steps, "score": round(m.score, 4)})
         for m in img]
        for img in ep.images
    ]
    drops: dict[str, int] = {}
    for d in ep.drops:
        drops[d.reason] = drops.get(d.reason, 0) + 1
    if ep.duplicates:
        drops["duplicate"] = ep.duplicates
    if gallery is not None:
        write_sheet(Path(gallery) / f"episode_e{recs[0].episode:05d}.png",
                    render_episode([t.before.rgb for t in ts] + [ts[-1].after.rgb], ep, recs[0].episode))
    return _EpisodeItem(recs[0].episode, push_rows, image_rows, masks, files, (h, w), drops)


def label_run_episodes(
    run_dir: str | os.PathLike,
    out: str | os.PathLike,
    cfg: LabelConfig,
    *,
    workers: int = 1,
    gallery: str | os.PathLike | None = None,
    progress: bool | None = None,
    executor: str | ExecutorConfig = "local",
    verify_digests: bool = True,
    commit: OutputCommit,
) -> dict[str, Any]:
    """Episode labels for every episode of ``run_dir``: COCO json with several masks per image, report, summary.

    Images are every image of every episode (each push's before image and the
    last after image); each annotation says which push made it
    (``push_step``) and how many images it was carried (``steps_carried``:
    0 on the push's own before image, > 0 forward, < 0 backward).
    ``label_report.jsonl`` holds one ``"kind": "push"`` line per push and one
    ``"kind": "image"`` line per image (masks, their IoU in simulation, and
    the objects left unlabelled).
    """
    reader, out, gallery_s = _open_for_labeling(run_dir, out, gallery, workers, verify_digests)
    episodes = _episode_indices(reader)
    coco = CocoBuilder(info={"description": "pushseg self-supervised episode labels",
                             "run": str(reader.root.resolve()), "labeler": cfg.to_dict()})
    push_rows: list[dict[str, Any]] = []
    image_rows: list[dict[str, Any]] = []
    drops: dict[str, int] = {}
    disable = None if progress is None else not progress
    t_start = time.perf_counter()
    with tqdm(total=len(episodes), unit="episode", desc="label episodes", disable=disable) as bar:
        if isinstance(executor, str):
            executor = ExecutorConfig(executor=executor, workers=workers)
        setup_args = (str(reader.root.resolve()), cfg, gallery_s, 1)
        items = ordered_map(_setup, setup_args, _episode_job, episodes, executor)
        _consume_episodes(items, coco, reader, push_rows, image_rows, drops, bar)
    wall = time.perf_counter() - t_start
    commit.put(out, json.dumps(coco.to_dict()))
    report = commit.put(report_path(out), "".join(json.dumps(r) + "\n" for r in push_rows + image_rows))
    summary = summarize(push_rows)
    summary["episodes"] = summarize_episodes(image_rows, len(push_rows), drops)
    summary.update(run=str(reader.root), coco=str(out), report=str(report), method=cfg.method, episode_labels=True,
                   workers=workers, wall_s=round(wall, 2))
    summary["summary"] = str(commit.put_json(summary_path(out), summary, indent=2))
    return summary


def _consume_episodes(items, coco: CocoBuilder, reader, push_rows, image_rows, drops, bar) -> None:
    for item in items:
        push_rows += item.pushes
        image_rows += item.images
        for k, v in item.drops.items():
            drops[k] = drops.get(k, 0) + v
        h, w = item.shape
        for i, ((file_name, run_path), anns) in enumerate(zip(item.files, item.masks)):
            if not anns:
                continue  # an image without masks would teach that its objects are background
            image_id = coco.add_image(file_name, w, h, run=str(reader.root.resolve()), run_path=run_path,
                                      episode=item.episode, image=i)
            for bits, extra in anns:
                mask = np.unpackbits(np.frombuffer(bits, np.uint8), count=h * w).reshape(h, w).astype(bool)
                coco.add_mask(image_id, mask, score=extra["score"], push_step=extra["push_step"],
                              steps_carried=extra["steps_carried"])
        bar.update(1)
