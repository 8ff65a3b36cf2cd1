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
import os
import shutil
from pathlib import Path

import bad_settings
import cv2
import fault_tools as ft
import numpy as np

from pushseg.data.coco import CocoBuilder, encode_mask
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
    _ring_fixtures(root, f, variant, coco_variant, good)
    return {k: str(v) for k, v in f.items()}


def _edit_meta(run: Path, edit) -> None:
    d = json.loads((run / "meta.json").read_text())
    edit(d)
    (run / "meta.json").write_text(json.dumps(d))


def _link_outside(run: Path, rel: str, outside: Path) -> None:
    """Replace ``run/rel`` by a symlink to a copy of it outside the run folder (the same bytes, so the same hash)."""
    src = run / rel
    if src.is_dir():
        shutil.copytree(src, outside)
        shutil.rmtree(src)
    else:
        shutil.copy(src, outside)
        src.unlink()
    src.symlink_to(outside.resolve())


def _ring_fixtures(root: Path, f: dict[str, Path], variant, coco_variant, good: dict) -> None:
    """Fixtures of the second ring of bad inputs (values out of range, bools for numbers, symlinks, image
    sizes and channels, COCO categories and boxes, outputs that are not plain paths)."""
    run = f["run"]
    camera = json.loads((run / "meta.json").read_text())["camera"]
    first = "images/e00000/s0000_before_rgb.png"

    def push(**kw):
        return lambda r: _edit_line(r, 0, lambda d: d["push"].update(**kw))

    def frame_camera(change):
        def edit(d):
            cam = json.loads(json.dumps(camera))
            change(cam)
            d["before"]["camera"] = cam
        return lambda r: _edit_line(r, 0, edit)

    variant("run_neg_length", push(length=-0.05))
    variant("run_zero_length", push(length=0.0))
    variant("run_length_text", push(length="0.1"))
    variant("run_angle_bool", push(angle=True))
    variant("run_step_bool", lambda r: _edit_line(r, 0, lambda d: d.update(step=False)))
    variant("run_episode_bool", lambda r: _edit_line(r, 0, lambda d: d.update(episode=False)))
    variant("run_seed_bool", lambda r: _edit_line(r, 0, lambda d: d.update(seed=True)))
    variant("run_backend_number", lambda r: _edit_line(r, 0, lambda d: d.update(backend=5)))
    variant("run_ts_nan", lambda r: _edit_line(r, 0, lambda d: d["before"].update(timestamp=float("nan"))))
    variant("run_ts_bool", lambda r: _edit_line(r, 0, lambda d: d["after"].update(timestamp=True)))
    variant("run_motion_nan", lambda r: _edit_line(r, 0, lambda d: d["result"].update(
        motions=[{"instance_id": 1, "name": "mug", "translation": float("nan"), "rotation": 0.0}])))
    variant("run_start_text", lambda r: _edit_line(r, 0, lambda d: d["result"].update(start_base="abc")))
    variant("run_cam_fx_zero", frame_camera(lambda c: c["K"][0].__setitem__(0, 0.0)))
    variant("run_cam_nan", frame_camera(lambda c: c["K"][0].__setitem__(2, float("nan"))))
    variant("run_cam_width_bool", frame_camera(lambda c: c.update(width=True)))
    variant("run_cam_size", frame_camera(lambda c: c.update(width=ft.W + 8)))
    variant("run_meta_fy_neg", lambda r: _edit_meta(r, lambda d: d["camera"]["K"][1].__setitem__(1, -5.0)))
    variant("run_meta_T_inf", lambda r: _edit_meta(r, lambda d: d["camera"]["T_base_camera"][0].__setitem__(3, float("inf"))))
    variant("run_meta_height_bool", lambda r: _edit_meta(r, lambda d: d["camera"].update(height=True)))
    variant("run_meta_size", lambda r: _edit_meta(r, lambda d: d["camera"].update(height=ft.H + 5)))
    variant("run_link_image", lambda r: _link_outside(r, first, root / "outside_image.png"))
    variant("run_link_meta", lambda r: _link_outside(r, "meta.json", root / "outside_meta.json"))
    variant("run_link_lines", lambda r: _link_outside(r, "transitions.jsonl", root / "outside_lines.jsonl"))
    variant("run_link_episode", lambda r: _link_outside(r, "images/e00001", root / "outside_episode"))

    def transparent(r: Path) -> None:
        bgr = cv2.imread(str(r / first))
        bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
        bgra[:4, :4, 3] = 0
        cv2.imwrite(str(r / first), bgra)

    variant("run_rgba", transparent)

    # Images a user hands to `segment`: transparent pixels, and a side between the old 16 px and 32 px.
    rng = np.random.default_rng(1)
    f["image_rgba"] = root / "rgba.png"
    rgba = rng.integers(0, 256, (48, 64, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[:8, :8, 3] = 0
    cv2.imwrite(str(f["image_rgba"]), rgba)
    f["image_20px"] = root / "twenty.png"
    cv2.imwrite(str(f["image_20px"]), rng.integers(0, 256, (20, 64, 3), dtype=np.uint8))

    # COCO jsons: the image's size against the json's, categories, boxes, areas, bools for ints.
    def wrong_size(d: dict) -> None:
        h, w = ft.H + 5, ft.W + 16
        d["images"][0].update(width=w, height=h)
        mask = np.zeros((h, w), bool)
        mask[5:15, 10:30] = True
        d["annotations"][0]["segmentation"] = encode_mask(mask)

    coco_variant("coco_wrong_size", wrong_size)
    coco_variant("coco_bad_category", lambda d: d["annotations"][0].update(category_id=7))
    coco_variant("coco_category_bool", lambda d: d["annotations"][0].update(category_id=True))
    coco_variant("coco_no_category_id", lambda d: d["annotations"][0].pop("category_id"))
    coco_variant("coco_empty_categories", lambda d: d.update(categories=[]))
    coco_variant("coco_no_categories", lambda d: d.pop("categories"))
    coco_variant("coco_category_without_id", lambda d: d.update(categories=[{"name": "object"}]))
    coco_variant("coco_dup_category", lambda d: d.update(categories=d["categories"] * 2))
    coco_variant("coco_bbox_nan", lambda d: d["annotations"][0]["bbox"].__setitem__(0, float("nan")))
    coco_variant("coco_bbox_negative", lambda d: d["annotations"][0]["bbox"].__setitem__(2, -20.0))
    coco_variant("coco_bbox_short", lambda d: d["annotations"][0].update(bbox=[1.0, 2.0, 3.0]))
    coco_variant("coco_area_negative", lambda d: d["annotations"][0].update(area=-200.0))
    coco_variant("coco_area_inf", lambda d: d["annotations"][0].update(area=float("inf")))
    coco_variant("coco_image_id_bool", lambda d: d["annotations"][0].update(image_id=True))
    coco_variant("coco_score_bool", lambda d: d["annotations"][0].update(score=True))
    coco_variant("coco_iscrowd_2", lambda d: d["annotations"][0].update(iscrowd=2))
    rgba_image = root / "coco_rgba.png"
    shutil.copy(f["run_rgba"] / first, rgba_image)
    coco_variant("coco_rgba", lambda d: d["images"][0].update(file_name=str(rgba_image), sha256=None))

    # Outputs that are no plain path: a FIFO, links to a file, to /dev/null, to nowhere, to a file for a folder.
    f["fifo"] = root / "fifo"
    os.mkfifo(f["fifo"])
    f["fifo_json"] = root / "fifo.json"
    os.mkfifo(f["fifo_json"])
    f["link_json"] = root / "link.json"
    f["link_json"].symlink_to(f["coco"])
    f["link_png"] = root / "link.png"
    f["link_png"].symlink_to(f["image"])
    f["null_json"] = root / "null.json"
    f["null_json"].symlink_to("/dev/null")
    f["dangling_png"] = root / "dangling.png"
    f["dangling_png"].symlink_to(root / "nowhere" / "x.png")
    f["link_to_file"] = root / "link_to_file"
    f["link_to_file"].symlink_to(f["file"])


def _digest(path: Path) -> str:
    from pushseg.data.images import digest

    return digest(path.read_bytes())


C = "--episodes 1 --pushes-per-episode 1 --width 64 --height 36 --no-progress"
S = "--count 1 --width 64 --height 48 --no-progress"

# (id, argv template, expected text). Templates are split on spaces after formatting.
LIGHT: list[tuple[str, str, str]] = [
    # collect: settings
    ("collect-episodes-0", "collect --out {dir}/c1 --episodes 0", "--episodes must be in [1, 100000], got 0"),
    ("collect-pushes-neg", "collect --out {dir}/c2 --pushes-per-episode -1", "--pushes-per-episode"),
    ("collect-seed-neg", "collect --out {dir}/c3 --seed -5", "--seed"),
    ("collect-width-8", "collect --out {dir}/c4 --width 8", "--width must be in [32, 4096], got 8"),
    ("collect-objects-range", "collect --out {dir}/c5 --min-objects 5 --max-objects 2", "min <= max"),
    ("collect-workers-0", "collect --out {dir}/c6 --workers 0 " + C, "--workers: must be in [1, 256], got 0"),
    ("collect-real-config-sim", "collect --out {dir}/c7 --real-config x.yaml", "--backend real only"),
    ("collect-agent", "collect --out {dir}/c8 --agent clever", "--agent must be one of"),
    ("collect-width-text", "collect --out {dir}/c9 --width abc", "must be an integer"),
    # collect: the output folder and resuming
    ("collect-out-file", "collect --out {file} " + C, "is a file"),
    ("collect-out-not-empty", "collect --out {photos} " + C, "already exists and is not empty"),
    ("collect-resume-not-a-run", "collect --resume --out {photos} " + C, "not a run folder"),
    ("collect-resume-other-settings", "collect --resume --out {run} --episodes 2 --pushes-per-episode 2 "
     "--width 64 --height 36 --seed 4", "--resume needs the settings"),
    ("collect-resume-bad-meta", "collect --resume --out {run_bad_meta} " + C, "not valid json"),
    ("collect-resume-other-schema", "collect --resume --out {run_other_schema} " + C, "not a pushseg run"),
    ("collect-resume-swapped", "collect --resume --out {run_swapped} --episodes 2 --pushes-per-episode 2 "
     "--width 64 --height 36 --seed 3 --no-progress", "does not match the hash"),
    ("collect-resume-missing-image", "collect --resume --out {run_missing_image} --episodes 2 "
     "--pushes-per-episode 2 --width 64 --height 36 --seed 3 --no-progress", "missing image file"),
    ("collect-resume-middle-garbage", "collect --resume --out {run_middle_garbage} --episodes 2 "
     "--pushes-per-episode 2 --width 64 --height 36 --seed 3 --no-progress", "line 2 is not valid json"),
    ("collect-resume-nan-push", "collect --resume --out {run_nan_angle} --episodes 2 --pushes-per-episode 2 "
     "--width 64 --height 36 --seed 3 --no-progress", "non-finite angle"),
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
    ("label-workers-0", "label {run} --out {dir}/l.json --workers 0", "--workers: must be in [1, 256], got 0"),
    ("label-gallery-file", "label {run} --out {dir}/l.json --gallery {file}", "is a file"),
    ("label-method", "label {run} --out {dir}/l.json --method magic", "method must be one of"),
    # scenes
    ("scenes-count-0", "scenes --out {dir}/s1 --count 0", "--count must be in [1, 100000], got 0"),
    ("scenes-min-objects-0", "scenes --out {dir}/s2 --min-objects 0", "--min-objects must be in [1, 20], got 0"),
    ("scenes-objects-range", "scenes --out {dir}/s3 --min-objects 9 --max-objects 2", "min <= max"),
    ("scenes-width-5", "scenes --out {dir}/s4 --width 5", "--width must be in [32, 4096], got 5"),
    ("scenes-min-pixels-0", "scenes --out {dir}/s5 --min-pixels 0", "--min-pixels"),
    ("scenes-out-file", "scenes --out {file} " + S, "is a file"),
    ("scenes-out-not-empty", "scenes --out {photos} " + S, "already exists and is not empty"),
    ("scenes-resume-other-settings", "scenes --resume --out {scenes_partial} " + S, "--resume needs the settings"),
    ("scenes-objects-unknown", "scenes --out {dir}/s6 --objects nosuchset " + S, "nosuchset"),
    ("scenes-workers-0", "scenes --out {dir}/s7 --workers 0 " + S, "--workers: must be in [1, 256], got 0"),
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
    # --- ring 2 (run values, bools for numbers, symlinks, image size and channels, odd outputs) ---
    # run folders: values out of range, json booleans where numbers go
    ("label-negative-length", "label {run_neg_length} --out {dir}/l.json", "negative length"),
    ("label-zero-length-executed", "label {run_zero_length} --out {dir}/l.json", "length 0 but"),
    ("label-length-text", "label {run_length_text} --out {dir}/l.json", "length must be a number"),
    ("label-angle-bool", "label {run_angle_bool} --out {dir}/l.json", "angle must be a number, got true"),
    ("label-step-bool", "label {run_step_bool} --out {dir}/l.json", "'step' must be a non-negative integer, got false"),
    ("label-episode-bool", "label {run_episode_bool} --out {dir}/l.json", "'episode' must be a non-negative"),
    ("label-seed-bool", "label {run_seed_bool} --out {dir}/l.json", "'seed' must be an integer or null"),
    ("label-backend-number", "label {run_backend_number} --out {dir}/l.json", "'backend' must be a string"),
    ("label-timestamp-nan", "label {run_ts_nan} --out {dir}/l.json", "timestamp' is not a finite number"),
    ("label-timestamp-bool", "label {run_ts_bool} --out {dir}/l.json", "timestamp' must be a number"),
    ("label-motion-nan", "label {run_motion_nan} --out {dir}/l.json", "translation' must be a finite number"),
    ("label-start-text", "label {run_start_text} --out {dir}/l.json", "start_base' must be null or 3 finite"),
    ("label-camera-fx-0", "label {run_cam_fx_zero} --out {dir}/l.json", "focal length fx"),
    ("label-camera-nan", "label {run_cam_nan} --out {dir}/l.json", "'K' holds a non-finite number"),
    ("label-camera-width-bool", "label {run_cam_width_bool} --out {dir}/l.json", "'width' must be a positive integer"),
    ("label-camera-size", "label {run_cam_size} --out {dir}/l.json", "its camera info says 72x36"),
    ("label-meta-fy-negative", "label {run_meta_fy_neg} --out {dir}/l.json", "focal length fy"),
    ("label-meta-T-inf", "label {run_meta_T_inf} --out {dir}/l.json", "'T_base_camera' holds a non-finite"),
    ("label-meta-height-bool", "label {run_meta_height_bool} --out {dir}/l.json", "'height' must be a positive"),
    ("label-meta-size", "label {run_meta_size} --out {dir}/l.json", "its camera info says 64x41"),
    # run folders: symlinks out of the run, transparent pixels
    ("label-image-symlink-out", "label {run_link_image} --out {dir}/l.json", "leads outside the run folder"),
    ("label-meta-symlink-out", "label {run_link_meta} --out {dir}/l.json", "leads outside the run folder"),
    ("label-lines-symlink-out", "label {run_link_lines} --out {dir}/l.json", "leads outside the run folder"),
    ("label-episode-dir-symlink-out", "label {run_link_episode} --out {dir}/l.json", "leads outside the run folder"),
    ("label-rgba-transparent", "label {run_rgba} --out {dir}/l.json --no-progress --no-verify",
     "convert it to 3-channel RGB"),
    ("collect-resume-symlink-out", "collect --resume --out {run_link_image} --episodes 2 --pushes-per-episode 2 "
     "--width 64 --height 36 --seed 3 --no-progress", "leads outside the run folder"),
    ("collect-resume-negative-length", "collect --resume --out {run_neg_length} --episodes 2 --pushes-per-episode 2 "
     "--width 64 --height 36 --seed 3 --no-progress", "negative length"),
    ("collect-resume-camera-size", "collect --resume --out {run_cam_size} --episodes 2 --pushes-per-episode 2 "
     "--width 64 --height 36 --seed 3 --no-progress", "its camera info says"),
    # images handed to segment: one channel rule, one minimum side
    ("segment-image-rgba-transparent", "segment {image_rgba} --out {dir}/o.png", "convert it to 3-channel RGB"),
    ("segment-image-20px", "segment {image_20px} --out {dir}/o.png", "at least 32 pixels a side"),
    # outputs given empty
    ("collect-out-empty", "collect --out= " + C, "--out is empty: give a path"),
    ("scenes-out-empty", "scenes --out= " + S, "--out is empty: give a path"),
    ("label-out-empty", "label {run} --out=", "--out is empty: give a path"),
    ("label-gallery-empty", "label {run} --out {dir}/l.json --gallery=", "--gallery is empty: give a path"),
    ("segment-out-empty", "segment {image} --out=", "--out is empty: give a path"),
    ("segment-json-empty", "segment {image} --out {dir}/o.png --json=", "--json is empty: give a path"),
    ("finetune-out-empty", "finetune --labels {coco} --out=", "--out is empty: give a path"),
    ("pretrain-out-empty", "pretrain --scenes {coco} --out=", "--out is empty: give a path"),
    ("evaluate-out-empty", "evaluate --scenes {coco} --out=", "--out is empty: give a path"),
    ("demo-out-empty", "demo --out=", "--out is empty: give a path"),
    # outputs that are devices, FIFOs or symlinks
    ("collect-out-devnull", "collect --out /dev/null " + C, "is a character device"),
    ("scenes-out-fifo", "scenes --out {fifo} " + S, "is a FIFO"),
    ("label-out-fifo", "label {run} --out {fifo_json}", "is a FIFO"),
    ("label-out-symlink", "label {run} --out {link_json}", "is a symlink"),
    ("label-out-symlink-devnull", "label {run} --out {null_json}", "is a symlink"),
    ("label-gallery-devnull", "label {run} --out {dir}/l.json --gallery /dev/null", "is a character device"),
    ("segment-out-symlink", "segment {image} --out {link_png}", "is a symlink"),
    ("segment-out-dangling-symlink", "segment {image} --out {dangling_png}", "is a symlink"),
    ("segment-json-fifo", "segment {image} --out {dir}/o.png --json {fifo_json}", "is a FIFO"),
    ("collect-out-symlink-to-file", "collect --out {link_to_file} " + C, "not to a folder"),
    ("finetune-out-devnull", "finetune --labels {coco} --out /dev/null", "is a character device"),
    ("pretrain-out-symlink-to-file", "pretrain --scenes {coco} --out {link_to_file}", "not to a folder"),
    ("evaluate-out-fifo", "evaluate --scenes {coco} --out {fifo}", "is a FIFO"),
    ("demo-out-devnull", "demo --out /dev/null", "is a character device"),
    # folder outputs that are the current folder: the command's files would mix with the user's
    ("collect-out-cwd", "collect --out . " + C, "is the current folder"),
    ("scenes-out-cwd", "scenes --out ./ " + S, "is the current folder"),
    ("finetune-out-cwd", "finetune --labels {coco} --out .", "is the current folder"),
    ("pretrain-out-cwd", "pretrain --scenes {coco} --out .", "is the current folder"),
    ("evaluate-out-cwd", "evaluate --scenes {coco} --out .", "is the current folder"),
    ("demo-out-cwd", "demo --out .", "is the current folder"),
    ("label-gallery-cwd", "label {run} --out {dir}/l.json --gallery .", "is the current folder"),
    # COCO jsons pretrain reads before any model: the image's size against the json's, categories, boxes
    ("pretrain-image-size-vs-json", "pretrain --scenes {coco_wrong_size} --out {dir}/r2", "the json says 80x41"),
    ("pretrain-unknown-category", "pretrain --scenes {coco_bad_category} --out {dir}/r4", "not in 'categories'"),
    ("pretrain-category-bool", "pretrain --scenes {coco_category_bool} --out {dir}/r5", "not in 'categories'"),
    ("pretrain-empty-categories", "pretrain --scenes {coco_empty_categories} --out {dir}/r7", "'categories' is empty"),
    ("pretrain-category-without-id", "pretrain --scenes {coco_category_without_id} --out {dir}/r9",
     "categories[0] has no integer 'id'"),
    ("pretrain-bbox-nan", "pretrain --scenes {coco_bbox_nan} --out {dir}/r10", "'bbox' that is not 4 finite"),
    ("pretrain-area-negative", "pretrain --scenes {coco_area_negative} --out {dir}/r12", "negative 'area'"),
    ("pretrain-iscrowd-2", "pretrain --scenes {coco_iscrowd_2} --out {dir}/r15", "must be 0 or 1"),
    # --- end of ring 2 (LIGHT) ---
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
    # --- ring 2 (HEAVY): COCO jsons finetune and evaluate read after loading a model; a collection too small
    # to start (the simulation) ---
    ("finetune-image-size-vs-json", "finetune --labels {coco_wrong_size} --out {dir}/r1", "the json says 80x41"),
    ("evaluate-unknown-category", "evaluate --scenes {coco_bad_category}", "which is not in 'categories'"),
    ("finetune-unknown-category", "finetune --labels {coco_bad_category} --out {dir}/r3", "not in 'categories'"),
    ("finetune-no-category-id", "finetune --labels {coco_no_category_id} --out {dir}/r6", "category_id None"),
    ("evaluate-empty-categories", "evaluate --scenes {coco_empty_categories}", "'categories' is empty"),
    ("finetune-no-categories", "finetune --labels {coco_no_categories} --out {dir}/r8", "'categories'"),
    ("evaluate-duplicate-category", "evaluate --scenes {coco_dup_category}", "appears twice in 'categories'"),
    ("finetune-bbox-negative", "finetune --labels {coco_bbox_negative} --out {dir}/r11", "negative width or height"),
    ("evaluate-bbox-short", "evaluate --scenes {coco_bbox_short}", "'bbox' that is not 4 finite"),
    ("finetune-area-inf", "finetune --labels {coco_area_inf} --out {dir}/r13", "'area' that is not a finite"),
    ("evaluate-image-id-bool", "evaluate --scenes {coco_image_id_bool}", "not in 'images'"),
    ("finetune-score-bool", "finetune --labels {coco_score_bool} --out {dir}/r14", "finite number"),
    ("evaluate-rgba-transparent", "evaluate --scenes {coco_rgba}", "convert it to 3-channel RGB"),
    ("finetune-rgba-transparent", "finetune --labels {coco_rgba} --out {dir}/r16", "convert it to 3-channel RGB"),
    ("collect-too-small-to-start", "collect --out {dir}/r17 --episodes 1 --pushes-per-episode 1 --width 48 "
     "--height 36 --no-progress", "no horizontal surface"),
    # --- end of ring 2 (HEAVY) ---
]

LIGHT += bad_settings.CASES  # every setting of every command: NaN, infinite, empty, out of range
CASES = LIGHT + HEAVY


def argv_of(template: str | list[str], fixtures: dict[str, str]) -> list[str]:
    """A template string is split on spaces after formatting; a list of tokens keeps each (an empty value)."""
    if isinstance(template, list):
        return [t.format(**fixtures) for t in template]
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
