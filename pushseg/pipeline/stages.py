"""The stages of the loop as plain functions: configs and paths in, a path out.

=================  ==========================================  =====================================
stage              output (returned)                           complete when
=================  ==========================================  =====================================
``make_scenes``    ``OUT/annotations.json``                    ``OUT/manifest.json`` proves it
``collect``        the run folder ``OUT``                      every episode is on disk
``label``          the COCO json ``OUT``                       ``<stem>_manifest.json`` proves it
``pretrain``       ``OUT/model.pt``                            ``OUT/manifest.json`` proves it
``finetune``       ``OUT/model.pt``                            ``OUT/manifest.json`` proves it
``evaluate``       ``OUT/metrics.json`` (+ results.json)       ``OUT/manifest.json`` proves it
=================  ==========================================  =====================================

A manifest (:mod:`pushseg.data.manifest`) lists the sha256 of every file of the
output and of every input it was made from; it is written last, after the
output's files were renamed into place together, while the output is locked
against a second writer. "Proves it" means: every file and input still has the
digest it lists. A mixed, edited or stale output is made again.

Each stage writes the settings it ran with beside its output (``config.yaml``
in the folder, or ``<stem>_config.yaml`` beside a labels json: the config
sections plus an ``inputs`` record of the paths it read). Called again on a
complete output, a stage does no work and returns the path; if the stored
settings differ from the ones asked for, it stops with an error naming the
first key that differs instead of silently reusing the old output. Training
resumes from ``last.pt`` and collection from the last episode on disk, so an
interrupted stage continues where it stopped.

``workers`` and ``executor`` (local processes or Ray, see
:mod:`pushseg.executors`) say how the jobs of a stage run, never what it
writes, so they are not part of the record.

These are what ``pushseg demo`` and the experiments in
:mod:`pushseg.experiments` are built from.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pushseg.config import CONFIG_FILE
from pushseg.data.coco import decode_mask
from pushseg.data.collection import CollectConfig
from pushseg.data.collection import collect as collect_run
from pushseg.data.manifest import OutputCommit, OutputPlace
from pushseg.data.scenes import ScenesConfig, scenes_place, write_scenes
from pushseg.errors import InputError
from pushseg.evaluation.coco_eval import evaluate_model
from pushseg.evaluation.report import ap_table
from pushseg.executors import ExecutorConfig
from pushseg.labeling.batch import label_place, label_run
from pushseg.labeling.config import LabelConfig
from pushseg.pipeline.record import finished, record_text, write_record
from pushseg.training.checkpoint import load_model, read_checkpoint, save_model
from pushseg.training.config import InferenceConfig, ModelConfig, SamplerConfig, TrainConfig
from pushseg.training.distributed import is_main_process
from pushseg.training.engine import pick_device
from pushseg.training.inference import Detection, Segmenter
from pushseg.training.mixing import MixConfig
from pushseg.training.recipes import finetune as run_finetune
from pushseg.training.recipes import pretrain as run_pretrain

PathLike = str | os.PathLike

# Pretraining trains every layer from scratch: Adam with a cosine decay and no
# bootstrapping (there is no start model to ask). TrainConfig's own defaults are
# the paper's fine-tuning recipe. Used by ``pushseg pretrain`` and the demo.
PRETRAIN_SETTINGS: dict[str, Any] = dict(epochs=30, optimizer="adam", lr=1e-3, weight_decay=0.0, lr_decay="cosine",
                                         train_trunk=True, train_mask=True, train_score=True, bootstrap=False)


# --- stages ----------------------------------------------------------------------------------


def make_scenes(cfg: ScenesConfig, out: PathLike, *, workers: int = 1, progress: bool | None = None,
                skip_done: bool = True, executor: str | ExecutorConfig = "local") -> Path:
    """Rendered scenes with ground truth in ``out``; returns ``out/annotations.json``."""

    out = Path(out)
    if finished(scenes_place(out), out / CONFIG_FILE, {"scenes": cfg}, reuse=skip_done):
        return out / "annotations.json"
    # An interrupted run continues: the scenes it finished are kept (write_scenes checks the settings).
    resume = skip_done and out.is_dir()
    write_scenes(cfg, out, workers=workers, progress=progress, executor=executor, resume=resume,
                 record=record_text({"scenes": cfg}))
    return out / "annotations.json"


def collect(cfg: CollectConfig, out: PathLike, *, workers: int = 1, resume: bool | None = None,
            progress: bool | None = None, executor: str | ExecutorConfig = "local",
            verify_digests: bool = True) -> Path:
    """A run folder of ``cfg.episodes`` episodes in ``out``; returns ``out``.

    ``resume`` None continues a run that is already there (a complete one is
    left as it is); False refuses an existing folder; True requires one.
    """

    out = Path(out)
    if resume is None:
        resume = (out / "meta.json").is_file()
    collect_run(cfg, out, workers=workers, resume=resume, progress=progress, executor=executor,
                verify_digests=verify_digests)
    write_record(out / CONFIG_FILE, {"collect": cfg})
    return out


def label_record_path(labels: PathLike) -> Path:
    labels = Path(labels)
    return labels.with_name(labels.stem + "_config.yaml")


def label(run: PathLike, out: PathLike, cfg: LabelConfig | None = None, *, workers: int = 1,
          gallery: PathLike | None = None, progress: bool | None = None, force: bool = False,
          executor: str | ExecutorConfig = "local", verify_digests: bool = True, overwrite: bool = False) -> Path:
    """Self-supervised labels of every push of ``run`` as a COCO json at ``out``; returns ``out``.

    The json, its report, summary and settings record are one output, committed whole
    (:mod:`pushseg.data.manifest`); it is reused only when its manifest proves it was made
    from ``run`` as it is now, with ``cfg`` (``force``: label again anyway). Labels made from
    another run or with other settings are refused unless ``overwrite``.
    """

    cfg = cfg or LabelConfig()
    out = Path(out)
    record = label_record_path(out)
    inputs = {"run": run}
    place = label_place(out)
    with OutputCommit(place, inputs) as commit:
        if finished(place, record, {"label": cfg}, inputs, reuse=not force, overwrite=overwrite):
            return out
        label_run(run, out, cfg, workers=workers, gallery=gallery, progress=progress, executor=executor,
                  verify_digests=verify_digests, commit=commit)
        commit.put(record, record_text({"label": cfg}, inputs))
        commit.commit()
    return out


def pretrain(scenes: PathLike, out: PathLike, model: ModelConfig, train: TrainConfig,
             sampler: SamplerConfig | None = None, *, images: PathLike | None = None, resume: bool = True,
             progress: bool = True, meta: dict[str, Any] | None = None, skip_done: bool = True,
             mix: MixConfig | None = None, half: bool = False, overwrite: bool = False) -> Path:
    """DeepMask trained from scratch on the ground truth of ``scenes`` (and ``mix``'s photos); returns ``out/model.pt``.

    ``half``: store the final weights as float16 (half the file).
    """

    sampler = sampler or SamplerConfig()
    out = Path(out)
    configs = {"model": model, "train": train, "sampler": sampler}
    inputs = {"scenes": scenes, **({"images": images} if images else {})}
    if mix is not None and mix.enabled:  # recorded only when photos are mixed in: older records stay valid
        configs["mix"] = mix
        inputs["photos"] = mix.photos

    def train_fn() -> None:
        path = run_pretrain(scenes, out, model, train, sampler, None if images is None else str(images),
                            resume=resume, progress=progress, meta=meta, mix=mix)
        if half and is_main_process():
            save_model(load_model(path), path, meta=read_checkpoint(path)["meta"], half=True)

    return _trained("pretrain", out, configs, inputs, skip_done, overwrite, resume, train_fn)


def finetune(start_model: PathLike, labels: PathLike, out: PathLike, train: TrainConfig | None = None,
             sampler: SamplerConfig | None = None, *, images: PathLike | None = None, resume: bool = True,
             progress: bool = True, meta: dict[str, Any] | None = None, skip_done: bool = True,
             overwrite: bool = False) -> Path:
    """``start_model`` fine-tuned on the masks of ``labels``; returns ``out/model.pt``."""

    train, sampler = train or TrainConfig(), sampler or SamplerConfig()
    if not Path(labels).is_file():
        raise InputError(f"{labels}: no such labels json; make one with `pushseg label RUN --out labels.json`")
    out = Path(out)
    configs = {"train": train, "sampler": sampler}
    inputs = {"model": start_model, "labels": labels, **({"images": images} if images else {})}
    return _trained("finetune", out, configs, inputs, skip_done, overwrite, resume, lambda: run_finetune(
        start_model, labels, out, train, sampler, None if images is None else str(images), resume=resume,
        progress=progress, meta=meta))


# The files of a training output whose digests the manifest keeps (last.pt is resume state).
MODEL_FILES = ("model.pt", "model_peer.pt", "train_log.json")


def _trained(kind: str, out: Path, configs: dict[str, Any], inputs: dict[str, Any], skip_done: bool,
             overwrite: bool, resume: bool, train_fn: Callable[[], Any]) -> Path:
    """``out/model.pt``: reused when its manifest proves it made with these settings and inputs, else trained.

    A model of other settings or inputs is refused unless ``overwrite``; ``resume`` may
    continue a training with more epochs. Under DDP (torchrun) rank 0 alone locks, writes and
    commits; the other ranks train beside it.
    """

    place = OutputPlace.folder(out, kind)
    done = functools.partial(finished, place, out / CONFIG_FILE, configs, inputs, reuse=skip_done,
                             overwrite=overwrite, continues=("epochs",) if resume else ())
    if not is_main_process():
        if not done():
            train_fn()
        return out / "model.pt"
    with OutputCommit(place, inputs) as commit:
        if done():
            return out / "model.pt"
        commit.writing_in_place()
        train_fn()
        for name in MODEL_FILES:
            if (out / name).is_file():
                commit.adopt(out / name)
        commit.put(out / CONFIG_FILE, record_text(configs, inputs))
        commit.commit()
    return out / "model.pt"


def scenes_json(path: PathLike) -> Path:
    """A scenes folder's annotations.json (or the json itself)."""
    p = Path(path)
    if p.is_dir():
        p = p / "annotations.json"
    if not p.is_file():
        raise InputError(f"{path}: no annotations.json; make a scenes folder with `pushseg scenes --out DIR`")
    return p


def evaluate(model: PathLike, scenes: PathLike, out: PathLike, inference: InferenceConfig | None = None, *,
             device: str = "cpu", progress: bool = True, desc: str = "evaluate", skip_done: bool = True,
             overwrite: bool = False) -> Path:
    """COCO mask AP of ``model`` on ``scenes``: ``out/metrics.json`` (returned), metrics.md, results.json.

    ``inference`` None takes the defaults with the model's own pyramid scales.
    """

    gt = scenes_json(scenes)
    out = Path(out)
    metrics_path = out / "metrics.json"
    inputs = {"model": model, "scenes": gt}
    dev = pick_device(device)
    net = None
    if inference is None:
        net = load_model(model, device=dev)
        inference = InferenceConfig(scales=tuple(net.meta.get("scales", InferenceConfig().scales)))
    place = OutputPlace.folder(out, "evaluate")
    with OutputCommit(place, inputs) as commit:
        if finished(place, out / CONFIG_FILE, {"inference": inference}, inputs, reuse=skip_done, overwrite=overwrite):
            return metrics_path
        net = net or load_model(model, device=dev)
        r = evaluate_model(Segmenter(net, inference, dev), gt, progress=progress, desc=desc)
        table = ap_table({Path(model).name: r["metrics"]})
        res = [{**x, "segmentation": {"size": x["segmentation"]["size"],
                                      "counts": x["segmentation"]["counts"].decode("ascii")}} for x in r["results"]]
        commit.put(out / "results.json", json.dumps(res))
        commit.put(out / "metrics.md", f"# Evaluation\n\nmodel `{model}` on `{gt}`\n\n{table}\n")
        commit.put(out / CONFIG_FILE, record_text({"inference": inference}, inputs))
        doc = {"model": str(model), "scenes": str(gt), "inference": inference.to_dict(), "metrics": r["metrics"]}
        commit.put(metrics_path, json.dumps(doc, indent=1))
        commit.commit()
    return metrics_path


def read_detections(eval_dir: PathLike) -> dict[int, list]:
    """The detections an ``evaluate`` stage wrote (``results.json``), per image id, in the segmenter's order."""

    per_image: dict[int, list] = {}
    for r in json.loads((Path(eval_dir) / "results.json").read_text()):
        per_image.setdefault(int(r["image_id"]), []).append(Detection(decode_mask(r["segmentation"]), r["score"]))
    return per_image
