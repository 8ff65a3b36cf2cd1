"""Run folders: PNG round trips, the writer/reader pair, crash leftovers and corrupt folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import synthetic_frame, synthetic_transition
from pushseg import files
from pushseg.data import images as img
from pushseg.data.run import RunMeta, RunReader, RunWriter, encode_transition, read_meta
from pushseg.errors import InputError, RunFolderError
from pushseg.geometry import kinect2_camera


def _decode(data: bytes):
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_depth_png_keeps_millimetres_and_marks_missing_readings(tmp_path):
    depth = np.array([[0.5004, 1.23456, np.nan], [0.0, -1.0, 70.0], [65.535, 2.0005, np.inf]], np.float32)
    path = tmp_path / "d.png"
    files.write_atomic(path, img.encode_depth(depth))
    back = img.read_depth(path)
    assert back.dtype == np.float32
    valid = np.isfinite(depth) & (depth > 0) & (depth <= 65.535)
    assert np.all(np.isnan(back[~valid]))
    assert np.max(np.abs(back[valid] - depth[valid])) <= 0.0005 + 1e-6
    assert _decode(path.read_bytes()).dtype == np.uint16


def test_rgb_png_is_stored_rgb_not_bgr(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    path = tmp_path / "c.png"
    files.write_atomic(path, img.encode_rgb(rgb))
    assert np.array_equal(img.read_rgb(path), rgb)
    # What a viewer (and cv2, which is BGR) sees: red in the last channel.
    assert _decode(path.read_bytes())[0, 0].tolist() == [0, 0, 255]


def test_instance_ids_round_trip_16_bit(tmp_path):
    ids = np.array([[0, 1, 300], [65535, 7, 0]], np.int64)
    path = tmp_path / "i.png"
    files.write_atomic(path, img.encode_instance_ids(ids))
    back = img.read_instance_ids(path)
    assert back.dtype == np.uint16 and np.array_equal(back, ids)
    with pytest.raises(InputError, match="0..65535"):
        img.encode_instance_ids(np.array([[70000]]))
    with pytest.raises(InputError, match="integers"):
        img.encode_instance_ids(np.array([[1.5]]))


def _meta() -> RunMeta:
    return RunMeta(backend="sim", camera=kinect2_camera(64, 36), config={"pushes_per_episode": 2}, seeds={"seed": 0})


def _write_run(root, rng, episodes=2, steps=2):
    """A small run where each step's before is the previous step's after, as in a real episode."""
    written = []
    with RunWriter.create(root, _meta()) as w:
        for e in range(episodes):
            prev_after = None
            for s in range(steps):
                t = synthetic_transition(rng, e, s)
                if prev_after is not None:
                    t.before = prev_after
                prev_after = t.after
                w.write(t)
                written.append(t)
    return written


def _same_frame(a, b):
    assert np.array_equal(a.rgb, b.rgb)
    assert np.allclose(a.depth, b.depth, atol=0.0005 + 1e-6, equal_nan=True)
    assert np.array_equal(a.instance_ids, b.instance_ids)
    assert a.timestamp == b.timestamp
    assert a.camera.to_dict() == b.camera.to_dict()


def test_write_read_round_trip(tmp_path, rng):
    root = tmp_path / "run"
    written = _write_run(root, rng)
    reader = RunReader(root, verify_digests=True)
    assert len(reader) == 4
    assert reader.meta.config == {"pushes_per_episode": 2}
    assert reader.camera.to_dict() == kinect2_camera(64, 36).to_dict()
    for t, r in zip(written, reader):
        assert (r.episode, r.step, r.seed, r.backend) == (t.episode, t.step, t.seed, t.backend)
        assert r.push == t.push and r.result == t.result and r.moved_ids == [2]
        _same_frame(r.before, t.before)
        _same_frame(r.after, t.after)
    # The "before" of step 1 is the file already written as the "after" of step 0.
    rec0, rec1 = reader.records[0], reader.records[1]
    assert rec1.before.paths == rec0.after.paths
    assert len(list((root / "images").rglob("*.png"))) == 2 * (3 + 3 + 3)
    line = json.loads((root / "transitions.jsonl").read_text().splitlines()[0])
    assert line["before"]["rgb"]["path"] == "images/e00000/s0000_before_rgb.png"
    assert line["result"]["motions"][0]["name"] == "mug"


def test_frames_without_ground_truth_and_moving_camera(tmp_path, rng):
    t = synthetic_transition(rng, 0, 0, with_ids=False)
    moved = kinect2_camera(64, 36, T_base_camera=np.eye(4))
    t.after = synthetic_frame(rng, with_ids=False)
    object.__setattr__(t.after, "camera", moved)
    root = tmp_path / "run"
    with RunWriter.create(root, _meta()) as w:
        w.write(t)
    r = next(iter(RunReader(root)))
    assert r.before.instance_ids is None
    assert r.before.camera.to_dict() == kinect2_camera(64, 36).to_dict()
    assert r.after.camera.to_dict() == moved.to_dict()


def test_create_refuses_an_existing_run(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng, episodes=1, steps=1)
    with pytest.raises(RunFolderError, match="--resume"):
        RunWriter.create(root, _meta())


def test_writer_refuses_duplicates_and_disorder(tmp_path, rng):
    with RunWriter.create(tmp_path / "run", _meta()) as w:
        w.write(synthetic_transition(rng, 1, 0))
        with pytest.raises(RunFolderError, match="append-only"):
            w.write(synthetic_transition(rng, 1, 0))
        with pytest.raises(RunFolderError, match="append-only"):
            w.write(synthetic_transition(rng, 0, 5))


def test_torn_last_line_is_named_then_dropped_on_resume(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng)
    jsonl = root / "transitions.jsonl"
    lines = jsonl.read_bytes().splitlines(keepends=True)
    jsonl.write_bytes(b"".join(lines[:3]) + lines[3][:40])  # killed while writing line 4
    (root / "images/e00001/s0009_after_rgb.png.tmp").write_bytes(b"half")  # an image in flight
    with pytest.raises(RunFolderError, match="line 4 is truncated.*--resume"):
        RunReader(root)
    tolerant = RunReader(root, allow_torn_tail=True)
    assert len(tolerant) == 3 and "line 4" in tolerant.warnings[0]

    w, report = RunWriter.resume(root)
    w.close()
    assert report.completed == 3 and "line 4" in report.torn_line
    # Line 4's own images (its after images) and the temp file are orphans now.
    assert "images/e00001/s0009_after_rgb.png.tmp" in report.orphans_removed
    assert "images/e00001/s0001_after_rgb.png" in report.orphans_removed
    assert jsonl.read_bytes() == b"".join(lines[:3])
    assert len(RunReader(root, verify_digests=True)) == 3


def test_resume_continues_without_loss_or_duplicates(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng, episodes=1, steps=2)
    w, report = RunWriter.resume(root)
    assert report.completed == 2 and not report.torn_line and not report.orphans_removed
    t = synthetic_transition(rng, 0, 2)
    w.write(t)
    w.close()
    assert [r.key for r in RunReader(root).records] == [(0, 0), (0, 1), (0, 2)]


def test_mismatch_spots_a_different_replay(tmp_path, rng):
    root = tmp_path / "run"
    written = _write_run(root, rng, episodes=1, steps=2)
    w, _ = RunWriter.resume(root)
    assert w.mismatch(encode_transition(written[1])) == ""
    other = encode_transition(written[1])
    other.push["angle"] += 0.1
    assert "push" in w.mismatch(other)
    other = encode_transition(written[1])
    other.after.png["rgb"] = img.encode_rgb(np.zeros((36, 64, 3), np.uint8))
    assert "after images differ (rgb)" in w.mismatch(other)
    w.close()


def test_bad_json_in_the_middle_names_the_line(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng)
    jsonl = root / "transitions.jsonl"
    lines = jsonl.read_text().splitlines(keepends=True)
    lines[1] = lines[1][:30] + "}\n"
    jsonl.write_text("".join(lines))
    for open_run in (RunReader, RunWriter.resume):
        with pytest.raises(RunFolderError, match="line 2 is not valid json.*corrupt"):
            open_run(root)


def test_line_missing_a_field_is_named(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng, episodes=1, steps=2)
    jsonl = root / "transitions.jsonl"
    lines = jsonl.read_text().splitlines()
    obj = json.loads(lines[0])
    del obj["push"]
    lines[0] = json.dumps(obj)
    jsonl.write_text("\n".join(lines) + "\n")
    with pytest.raises(RunFolderError, match="line 1: missing 'push'"):
        RunReader(root)


def test_missing_image_is_named(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng)
    victim = root / "images/e00001/s0001_after_depth.png"
    victim.unlink()
    with pytest.raises(RunFolderError, match=r"line 4 \(episode 1 step 1\).*s0001_after_depth.png"):
        RunReader(root)
    # Without the up-front check the error comes when the frame is loaded.
    reader = RunReader(root, check_files=False)
    with pytest.raises(RunFolderError, match="missing image file .*s0001_after_depth.png"):
        reader.transition(3)


def test_corrupt_image_is_named(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng, episodes=1, steps=1)
    victim = root / "images/e00000/s0000_before_rgb.png"
    victim.write_bytes(victim.read_bytes()[:50])
    with pytest.raises(RunFolderError, match="s0000_before_rgb.png does not match the hash"):
        RunReader(root, verify_digests=True).transition(0)
    with pytest.raises(RunFolderError, match="s0000_before_rgb.png does not match the hash"):
        RunReader(root).transition(0)  # checked by default
    with pytest.raises(RunFolderError, match="s0000_before_rgb.png is not a readable PNG"):
        RunReader(root, verify_digests=False).transition(0)


def test_missing_or_wrong_meta_is_named(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng, episodes=1, steps=1)
    meta_path = root / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "schema_version": 99}))
    with pytest.raises(RunFolderError, match="schema version 99 is not supported"):
        RunReader(root)
    meta_path.write_text("{not json")
    with pytest.raises(RunFolderError, match="meta.json: not valid json"):
        read_meta(root)
    meta_path.unlink()
    with pytest.raises(RunFolderError, match="missing meta.json"):
        RunReader(root)
    with pytest.raises(RunFolderError, match="does not exist"):
        RunReader(tmp_path / "nowhere")


def test_missing_transitions_file_is_named(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng, episodes=1, steps=1)
    (root / "transitions.jsonl").unlink()
    with pytest.raises(RunFolderError, match="missing transitions.jsonl"):
        RunReader(root)


def test_repeated_or_reordered_lines_are_named(tmp_path, rng):
    root = tmp_path / "run"
    _write_run(root, rng)
    jsonl = root / "transitions.jsonl"
    lines = jsonl.read_text().splitlines(keepends=True)
    jsonl.write_text("".join([lines[0], lines[1], lines[1], lines[2]]))
    with pytest.raises(RunFolderError, match="line 3 repeats episode 0 step 1 of line 2"):
        RunReader(root)
    jsonl.write_text("".join([lines[0], lines[2], lines[1], lines[3]]))
    with pytest.raises(RunFolderError, match="line 3 .*episode 0 step 1.* comes after episode 1 step 0"):
        RunReader(root)


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunFolderError, match="is a file"):
        RunWriter.create(tmp_path / "f", _meta())
