"""A catalogue of bad inputs to the ``pushseg`` commands, each with the words its error must contain.

:func:`make_fixtures` writes the good and damaged files the cases point at;
``CASES`` lists (id, argv template, expected text). An argv template's
``{name}`` fields are the fixture paths. A case passes when the command exits
with 2, prints no traceback and says the expected text on its last stderr line.

``LIGHT`` cases need no model or simulation: tests/test_fault_inputs.py runs
them in CI; benchmarks/reliability.py runs all of them as separate processes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import fault_tools as ft
import numpy as np

from pushseg.data.coco import CocoBuilder
from pushseg.data.collection import CollectConfig, collect
from pushseg.data.images import write_image_file


def _edit_line(run: Path, index: int, edit) -> None:
    path = run / "transitions.jsonl"
    lines = path.read_text().splitlines()
    d = json.loads(lines[index])
    edit(d)
    lines[index] = json.dumps(d)
    path.write_text("\n".join(lines) + "\n")


def _copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def make_fixtures(root: Path) -> dict[str, str]:
    """Write every file the cases use under ``root``; returns the name -> path map for the templates."""
    root.mkdir(parents=True, exist_ok=True)
    f: dict[str, Path] = {}
    run = root / "run"
    collect(CollectConfig(episodes=2, pushes_per_episode=2, seed=3, backend_config={"width": ft.W, "height": ft.H}), run,
            runner_factory=ft.FakeRunner, progress=False)
    f["run"] = run
    f["file"] = root / "a_file.txt"
    f["file"].write_text("not a folder\n")
    f["photos"] = root / "photos"
    f["photos"].mkdir()
    (f["photos"] / "cat.jpg").write_bytes(b"meow")
    f["dir"] = root / "a_dir"
    f["dir"].mkdir()
    f["missing"] = root / "does_not_exist"

    def variant(name: str, change) -> None:
        f[name] = _copy_run(run, root / name)
        change(f[name])

    first = "images/e00000/s0000_before_rgb.png"
    other = "images/e00001/s0000_before_rgb.png"
    variant("run_swapped", lambda r: shutil.copy(r / other, r / first))  # a valid image of the same run
    variant("run_truncated_png", lambda r: (r / first).write_bytes((r / first).read_bytes()[:60]))
    variant("run_gray", lambda r: cv2.imwrite(str(r / first), np.full((ft.H, ft.W), 128, np.uint8)))
    variant("run_missing_image", lambda r: (r / first).unlink())
    variant("run_nan_angle", lambda r: _edit_line(r, 0, lambda d: d["push"].update(angle=float("nan"))))
    variant("run_inf_length", lambda r: _edit_line(r, 1, lambda d: d["push"].update(length=float("inf"))))
    variant("run_neg_episode", lambda r: _edit_line(r, 0, lambda d: d.update(episode=-1)))
    variant("run_escape", lambda r: _edit_line(r, 0, lambda d: d["before"]["rgb"].update(path="../../etc/passwd")))
    variant("run_bad_meta", lambda r: (r / "meta.json").write_text("{not json"))
    variant("run_other_schema", lambda r: (r / "meta.json").write_text(json.dumps({"schema": "x"})))
    variant("run_no_meta", lambda r: (r / "meta.json").unlink())
    variant("run_no_lines", lambda r: (r / "transitions.jsonl").unlink())

    def middle_garbage(r: Path) -> None:
        lines = (r / "transitions.jsonl").read_text().splitlines()
        lines[1] = "{garbage"
        (r / "transitions.jsonl").write_text("\n".join(lines) + "\n")

    def repeat(r: Path) -> None:
        lines = (r / "transitions.jsonl").read_text().splitlines()
        (r / "transitions.jsonl").write_text("\n".join(lines[:2] + [lines[1]] + lines[2:]) + "\n")

    def reorder(r: Path) -> None:
        lines = (r / "transitions.jsonl").read_text().splitlines()
        (r / "transitions.jsonl").write_text("\n".join([lines[1], lines[0]] + lines[2:]) + "\n")

    variant("run_middle_garbage", middle_garbage)
    variant("run_repeat", repeat)
    variant("run_reorder", reorder)
    variant("run_empty", lambda r: (r / "transitions.jsonl").write_text(""))
    f["run_torn"] = _copy_run(run, root / "run_torn")
    jl = f["run_torn"] / "transitions.jsonl"
    jl.write_bytes(jl.read_bytes()[:-30])

    # Images a user hands to `segment`.
    rng = np.random.default_rng(0)
    f["image"] = write_image_file(root / "image.png", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    f["image_gray"] = root / "gray.png"
    cv2.imwrite(str(f["image_gray"]), np.full((48, 64), 90, np.uint8))
    f["image_1px"] = root / "one.png"
    cv2.imwrite(str(f["image_1px"]), np.zeros((1, 1, 3), np.uint8))
    f["image_16bit"] = root / "deep.png"
    cv2.imwrite(str(f["image_16bit"]), np.zeros((48, 64, 3), np.uint16))
    f["image_truncated"] = root / "truncated.png"
    f["image_truncated"].write_bytes(f["image"].read_bytes()[:100])
    f["image_text"] = root / "text.png"
    f["image_text"].write_text("hello\n")

    # Checkpoints.
    f["ckpt_random"] = root / "random.pt"
    f["ckpt_random"].write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    f["ckpt_empty"] = root / "empty.pt"
    f["ckpt_empty"].write_bytes(b"")

    # COCO files: a good one (an image of the run and one mask), then damaged copies.
    coco = CocoBuilder()
    image_path = (run / "images/e00000/s0000_before_rgb.png").resolve()
    iid = coco.add_image(str(image_path), ft.W, ft.H, sha256=_digest(image_path))
    mask = np.zeros((ft.H, ft.W), bool)
    mask[5:15, 10:30] = True
    coco.add_mask(iid, mask, score=0.9)
    good = coco.to_dict()
    f["coco"] = root / "labels.json"
    f["coco"].write_text(json.dumps(good))

    def coco_variant(name: str, change) -> None:
        d = json.loads(json.dumps(good))
        change(d)
        f[name] = root / f"{name}.json"
        f[name].write_text(json.dumps(d))

    coco_variant("coco_empty_rle", lambda d: d["annotations"][0]["segmentation"].update(counts=""))
    coco_variant("coco_garbage_rle", lambda d: d["annotations"][0]["segmentation"].update(counts="abc!!"))
    coco_variant("coco_short_rle", lambda d: d["annotations"][0]["segmentation"].update(counts="0T3"))
    coco_variant("coco_list_rle", lambda d: d["annotations"][0]["segmentation"].update(counts=[5, -3]))
    coco_variant("coco_rle_size", lambda d: d["annotations"][0]["segmentation"].update(size=[10, 10]))
    coco_variant("coco_polygon", lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4]]))  # 2 points
    coco_variant("coco_dangling", lambda d: d["annotations"][0].update(image_id=77))
    coco_variant("coco_no_file", lambda d: d["images"][0].pop("file_name"))
    coco_variant("coco_bad_size", lambda d: d["images"][0].update(width=-3))
    coco_variant("coco_dup_image", lambda d: d["images"].append(dict(d["images"][0])))
    coco_variant("coco_no_images", lambda d: d.pop("images"))
    coco_variant("coco_list", lambda d: d.clear())
    coco_variant("coco_missing_file", lambda d: d["images"][0].update(file_name=str(root / "gone.png"), sha256=None))
    coco_variant("coco_nan_score", lambda d: d["annotations"][0].update(score=float("nan")))
    f["coco_not_json"] = root / "not_json.json"
    f["coco_not_json"].write_text("{oops")
    f["coco_array"] = root / "array.json"
    f["coco_array"].write_text("[1, 2]")
    # A label whose image was replaced after labelling by another valid image.
    swapped_img = root / "swapped_image.png"
    shutil.copy(run / "images/e00001/s0000_before_rgb.png", swapped_img)
    coco_variant("coco_swapped", lambda d: d["images"][0].update(file_name=str(swapped_img)))

    # An interrupted `pushseg scenes` with other settings than asked on --resume.
    f["scenes_partial"] = root / "scenes_partial"
    (f["scenes_partial"] / "staging").mkdir(parents=True)
    (f["scenes_partial"] / "staging" / "000000.json").write_text(json.dumps({"index": 0, "config": {"count": 99}}))
    return {k: str(v) for k, v in f.items()}


def _digest(path: Path) -> str:
    from pushseg.data.images import digest

    return digest(path.read_bytes())


C = "--episodes 1 --pushes-per-episode 1 --width 48 --height 27 --no-progress"
S = "--count 1 --width 64 --height 48 --no-progress"

# (id, argv template, expected text). Templates are split on spaces after formatting.
LIGHT: list[tuple[str, str, str]] = [
    # collect: settings
    ("collect-episodes-0", "collect --out {dir}/c1 --episodes 0", "--episodes must be at least 1"),
    ("collect-pushes-neg", "collect --out {dir}/c2 --pushes-per-episode -1", "--pushes-per-episode"),
    ("collect-seed-neg", "collect --out {dir}/c3 --seed -5", "--seed"),
    ("collect-width-8", "collect --out {dir}/c4 --width 8", "at least 16 pixels"),
    ("collect-objects-range", "collect --out {dir}/c5 --min-objects 5 --max-objects 2", "min <= max"),
    ("collect-workers-0", "collect --out {dir}/c6 --workers 0 " + C, "--workers must be"),
    ("collect-real-config-sim", "collect --out {dir}/c7 --real-config x.yaml", "--backend real only"),
    ("collect-agent", "collect --out {dir}/c8 --agent clever", "--agent must be one of"),
    ("collect-width-text", "collect --out {dir}/c9 --width abc", "must be an integer"),
    # collect: the output folder and resuming
    ("collect-out-file", "collect --out {file} " + C, "is a file"),
    ("collect-out-not-empty", "collect --out {photos} " + C, "already exists and is not empty"),
    ("collect-resume-not-a-run", "collect --resume --out {photos} " + C, "not a run folder"),
    ("collect-resume-other-settings", "collect --resume --out {run} --episodes 2 --pushes-per-episode 2 "
     "--width 48 --height 27 --seed 4", "--resume needs the settings"),
    ("collect-resume-bad-meta", "collect --resume --out {run_bad_meta} " + C, "not valid json"),
    ("collect-resume-other-schema", "collect --resume --out {run_other_schema} " + C, "not a pushseg run"),
    ("collect-resume-swapped", "collect --resume --out {run_swapped} --episodes 2 --pushes-per-episode 2 "
     "--width 48 --height 27 --seed 3 --no-progress", "does not match the hash"),
    ("collect-resume-missing-image", "collect --resume --out {run_missing_image} --episodes 2 "
     "--pushes-per-episode 2 --width 48 --height 27 --seed 3 --no-progress", "missing image file"),
    ("collect-resume-middle-garbage", "collect --resume --out {run_middle_garbage} --episodes 2 "
     "--pushes-per-episode 2 --width 48 --height 27 --seed 3 --no-progress", "line 2 is not valid json"),
    ("collect-resume-nan-push", "collect --resume --out {run_nan_angle} --episodes 2 --pushes-per-episode 2 "
     "--width 48 --height 27 --seed 3 --no-progress", "non-finite angle"),
    # label: the run
    ("label-missing-run", "label {missing} --out {dir}/l.json", "does not exist"),
    ("label-run-is-file", "label {file} --out {dir}/l.json", "does not exist"),
    ("label-no-meta", "label {run_no_meta} --out {dir}/l.json", "missing meta.json"),
    ("label-bad-meta", "label {run_bad_meta} --out {dir}/l.json", "not valid json"),
    ("label-other-schema", "label {run_other_schema} --out {dir}/l.json", "not a pushseg run"),
    ("label-no-transitions-file", "label {run_no_lines} --out {dir}/l.json", "missing transitions.jsonl"),
    ("label-empty-run", "label {run_empty} --out {dir}/l.json", "no transitions to label"),
    ("label-torn-line", "label {run_torn} --out {dir}/l.json", "truncated"),
    ("label-middle-garbage", "label {run_middle_garbage} --out {dir}/l.json", "line 2 is not valid json"),
    ("label-repeated-line", "label {run_repeat} --out {dir}/l.json", "repeats episode"),
    ("label-lines-out-of-order", "label {run_reorder} --out {dir}/l.json", "lines must be in order"),
    ("label-negative-episode", "label {run_neg_episode} --out {dir}/l.json", "'episode' must be a non-negative"),
    ("label-path-escapes", "label {run_escape} --out {dir}/l.json", "must stay inside the run folder"),
    ("label-missing-image", "label {run_missing_image} --out {dir}/l.json", "missing image file"),
    ("label-swapped-image", "label {run_swapped} --out {dir}/l.json --no-progress", "does not match the hash"),
    ("label-truncated-png", "label {run_truncated_png} --out {dir}/l.json --no-progress --no-verify",
     "not a readable PNG"),
    ("label-grayscale", "label {run_gray} --out {dir}/l.json --no-progress --no-verify", "grayscale"),
    ("label-nan-angle", "label {run_nan_angle} --out {dir}/l.json", "non-finite angle"),
    ("label-inf-length", "label {run_inf_length} --out {dir}/l.json", "non-finite length"),
    ("label-out-txt", "label {run} --out {dir}/labels.txt", "extension must be one of .json"),
    ("label-out-dir", "label {run} --out {dir}", "extension must be one of .json"),
    ("label-workers-0", "label {run} --out {dir}/l.json --workers 0", "--workers must be"),
    ("label-gallery-file", "label {run} --out {dir}/l.json --gallery {file}", "is a file"),
    ("label-method", "label {run} --out {dir}/l.json --method magic", "method must be one of"),
    # scenes
    ("scenes-count-0", "scenes --out {dir}/s1 --count 0", "--count must be at least 1"),
    ("scenes-min-objects-0", "scenes --out {dir}/s2 --min-objects 0", "min <= max"),
    ("scenes-objects-range", "scenes --out {dir}/s3 --min-objects 9 --max-objects 2", "min <= max"),
    ("scenes-width-5", "scenes --out {dir}/s4 --width 5", "at least 16 pixels"),
    ("scenes-min-pixels-0", "scenes --out {dir}/s5 --min-pixels 0", "--min-pixels"),
    ("scenes-out-file", "scenes --out {file} " + S, "is a file"),
    ("scenes-out-not-empty", "scenes --out {photos} " + S, "already exists and is not empty"),
    ("scenes-resume-other-settings", "scenes --resume --out {scenes_partial} " + S, "--resume needs the settings"),
    ("scenes-objects-unknown", "scenes --out {dir}/s6 --objects nosuchset " + S, "nosuchset"),
    ("scenes-workers-0", "scenes --out {dir}/s7 --workers 0 " + S, "--workers must be"),
    # segment: images and outputs
    ("segment-image-missing", "segment {missing} --out {dir}/o.png", "no such file"),
    ("segment-image-text", "segment {image_text} --out {dir}/o.png", "not an image"),
    ("segment-image-truncated", "segment {image_truncated} --out {dir}/o.png", "not an image"),
    ("segment-image-grayscale", "segment {image_gray} --out {dir}/o.png", "grayscale"),
    ("segment-image-1px", "segment {image_1px} --out {dir}/o.png", "too small"),
    ("segment-image-16bit", "segment {image_16bit} --out {dir}/o.png", "uint16"),
    ("segment-out-xyz", "segment {image} --out {dir}/o.xyz", "extension must be one of"),
    ("segment-out-no-ext", "segment {image} --out {dir}/overlay", "extension must be one of"),
    ("segment-out-dir", "segment {image} --out {dir}", "extension must be one of"),
    ("segment-json-txt", "segment {image} --out {dir}/o.png --json {dir}/o.txt", "extension must be one of .json"),
    ("segment-nms-text", "segment {image} --out {dir}/o.png --nms abc", "must be a number"),
    # evaluate / pretrain / finetune: COCO files (checked before any model work)
    ("evaluate-scenes-missing", "evaluate --scenes {missing}", "no annotations.json"),
    ("evaluate-out-file", "evaluate --scenes {coco} --out {file}", "is a file"),
    ("finetune-labels-missing", "finetune --labels {missing}.json --out {dir}/ft", "no such labels json"),
    ("finetune-out-file", "finetune --labels {coco} --out {file}", "is a file"),
    ("pretrain-out-file", "pretrain --scenes {coco} --out {file}", "is a file"),
]

# Cases that load a model, decode masks for training or reach other owners' checks.
HEAVY: list[tuple[str, str, str]] = [
    ("segment-model-random", "segment {image} --out {dir}/o.png --model {ckpt_random}", "random.pt"),
    ("segment-model-empty", "segment {image} --out {dir}/o.png --model {ckpt_empty}", "empty.pt"),
    ("segment-model-missing", "segment {image} --out {dir}/o.png --model {missing}.pt", "does_not_exist"),
    ("segment-scales-negative", "segment {image} --out {dir}/o.png --scales 0,-1", "scales"),
    ("segment-scales-text", "segment {image} --out {dir}/o.png --scales abc", "scales"),
    ("segment-top-k-0", "segment {image} --out {dir}/o.png --top-k 0", "top"),
    ("evaluate-model-random", "evaluate --scenes {coco} --model {ckpt_random}", "random.pt"),
    ("evaluate-not-json", "evaluate --scenes {coco_not_json}", "not valid json"),
    ("evaluate-array-json", "evaluate --scenes {coco_array}", "must be an object"),
    ("evaluate-no-images", "evaluate --scenes {coco_no_images}", "missing the COCO list 'images'"),
    ("evaluate-empty-rle", "evaluate --scenes {coco_empty_rle}", "malformed mask"),
    ("evaluate-garbage-rle", "evaluate --scenes {coco_garbage_rle}", "malformed mask"),
    ("evaluate-short-rle", "evaluate --scenes {coco_short_rle}", "malformed mask"),
    ("evaluate-negative-rle", "evaluate --scenes {coco_list_rle}", "malformed mask"),
    ("evaluate-rle-size", "evaluate --scenes {coco_rle_size}", "malformed mask"),
    ("evaluate-polygon", "evaluate --scenes {coco_polygon}", "malformed polygon"),
    ("evaluate-dangling-annotation", "evaluate --scenes {coco_dangling}", "not in 'images'"),
    ("evaluate-no-file-name", "evaluate --scenes {coco_no_file}", "no 'file_name'"),
    ("evaluate-bad-image-size", "evaluate --scenes {coco_bad_size}", "positive integer 'width'"),
    ("evaluate-duplicate-image", "evaluate --scenes {coco_dup_image}", "appears twice"),
    ("evaluate-nan-score", "evaluate --scenes {coco_nan_score}", "finite number"),
    ("finetune-not-json", "finetune --labels {coco_not_json} --out {dir}/f1", "not valid json"),
    ("finetune-bad-rle", "finetune --labels {coco_garbage_rle} --out {dir}/f2", "malformed mask"),
    ("finetune-empty-rle", "finetune --labels {coco_empty_rle} --out {dir}/f3", "malformed mask"),
    ("finetune-dangling", "finetune --labels {coco_dangling} --out {dir}/f4", "not in 'images'"),
    ("finetune-swapped-image", "finetune --labels {coco_swapped} --out {dir}/f5 --epochs 1 --batches 1",
     "does not match the hash"),
    ("finetune-missing-image", "finetune --labels {coco_missing_file} --out {dir}/f6", "not found"),
    ("finetune-lr-negative", "finetune --labels {coco} --out {dir}/f7 --lr -1", "lr"),
    ("finetune-lr-nan", "finetune --labels {coco} --out {dir}/f8 --lr nan", "lr"),
    ("finetune-epochs-0", "finetune --labels {coco} --out {dir}/f9 --epochs 0", "epochs"),
    ("finetune-batch-size-0", "finetune --labels {coco} --out {dir}/f10 --batch-size 0", "batch"),
    ("finetune-model-random", "finetune --labels {coco} --out {dir}/f11 --model {ckpt_random}", "random.pt"),
    ("pretrain-scenes-missing", "pretrain --scenes {missing} --out {dir}/p1", "no annotations.json"),
    ("pretrain-bad-rle", "pretrain --scenes {coco_short_rle} --out {dir}/p2", "malformed mask"),
    ("pretrain-bad-polygon", "pretrain --scenes {coco_polygon} --out {dir}/p4", "malformed polygon"),
    ("pretrain-photos-bad-polygon", "pretrain --scenes {coco} --photos {coco_polygon} --out {dir}/p5",
     "malformed polygon"),
    ("pretrain-photos-missing", "pretrain --scenes {coco} --photos {missing}.json --out {dir}/p6", "no such COCO json"),
    ("pretrain-photo-share-2", "pretrain --scenes {coco} --photos {coco} --photo-share 2 --out {dir}/p7",
     "photo_share"),
    ("pretrain-lr-inf", "pretrain --scenes {coco} --out {dir}/p3 --lr inf", "lr"),
]

CASES = LIGHT + HEAVY


def argv_of(template: str, fixtures: dict[str, str]) -> list[str]:
    return template.format(**fixtures).split()


def verdict(rc: int, stderr: str, expected: str) -> str:
    """"ok", or what went wrong: "traceback", "silent success", "exit N", "message"."""
    if "Traceback" in stderr:
        return "traceback"
    if rc == 0:
        return "silent success"
    if rc != 2:
        return f"exit {rc}"
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if "error" not in last or expected.lower() not in last.lower():
        return "message"
    return "ok"
