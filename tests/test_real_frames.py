"""Real RGB-D frames in, depth as a camera-independent input, and a pyramid that follows the camera."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import REAL_FRAMES as FRAMES, needs_real_frames as needs_frames, run_pushseg
from pushseg.data.real_frames import FramesCamera, import_frames, read_frames
from pushseg.errors import InputError
from pushseg.geometry import transform
from pushseg.training.config import ModelConfig
from pushseg.training.depth_input import encode_depth
from pushseg.training.pyramid import camera_scales, scales_for_pixel_size
from pushseg.types import CameraInfo



# --- a synthetic frames folder: a ball on a table, seen by a pinhole camera ----------------------


def look_at(eye, target) -> np.ndarray:
    """T_base_camera of an optical frame at ``eye`` looking at ``target`` (z forward, y down, world z up)."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return transform(np.stack([x, y, z], axis=1), eye)


def render_ball(camera: CameraInfo, centre=(0.0, 0.0, 0.04), radius=0.04) -> tuple[np.ndarray, np.ndarray]:
    """Depth (metres along the optical axis) and labels of a ball resting on the table plane z = 0."""
    h, w = camera.height, camera.width
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1)  # z = 1
    R, o = camera.T_base_camera[:3, :3], camera.T_base_camera[:3, 3]
    d = rays @ R.T  # world directions, scaled so that optical z = 1
    t_table = -o[2] / d[..., 2]
    oc = o - np.asarray(centre)
    a, b, c = (d * d).sum(-1), 2 * (d @ oc), oc @ oc - radius**2
    disc = b * b - 4 * a * c
    t_ball = np.where(disc > 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
    t = np.where(t_ball < t_table, t_ball, t_table)
    labels = (t_ball < t_table).astype(np.uint8) * 7
    return t.astype(np.float32), labels  # t is the optical-axis depth because rays have optical z = 1


def camera_at(eye, width=320, height=240, fx=300.0) -> CameraInfo:
    K = np.array([[fx, 0, width / 2 - 0.5], [0, fx, height / 2 - 0.5], [0, 0, 1]])
    return CameraInfo(width, height, K, look_at(eye, (0.0, 0.0, 0.0)))


def write_frames(folder: Path, camera: CameraInfo, units: int = 1000, names=("a", "b")) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    depth, labels = render_ball(camera)
    rgb = np.full((camera.height, camera.width, 3), 90, np.uint8)
    rgb[labels > 0] = (200, 40, 40)
    for name in names:
        cv2.imwrite(str(folder / f"{name}-color.png"), rgb[:, :, ::-1])
        cv2.imwrite(str(folder / f"{name}-depth.png"), np.round(depth * units).astype(np.uint16))
        cv2.imwrite(str(folder / f"{name}-label.png"), labels)
    (folder / "camera.json").write_text(json.dumps(
        {"width": camera.width, "height": camera.height, "fx": camera.fx, "fy": camera.fy, "cx": camera.cx,
         "cy": camera.cy, "depth_png_units_per_metre": units, "depth_missing": 0}))


def test_import_frames_writes_a_scenes_folder_with_metric_depth_and_one_instance_per_label(tmp_path):
    cam = camera_at((-0.5, 0.0, 0.5))
    write_frames(tmp_path / "frames", cam, units=10000)
    assert run_pushseg("import-frames", tmp_path / "frames", "--out", tmp_path / "scenes") == 0
    gt = json.loads((tmp_path / "scenes" / "annotations.json").read_text())
    assert len(gt["images"]) == 2 and len(gt["annotations"]) == 2  # one ball per frame
    im = gt["images"][0]
    assert np.allclose(np.array(im["camera"]["K"]), cam.K) and im["frame"] == "a"
    # depth stored in millimetres: equal to the 1e4-units PNG within the 1 mm step
    png = cv2.imread(str(tmp_path / "frames" / "a-depth.png"), cv2.IMREAD_UNCHANGED) / 10000.0
    mm = cv2.imread(str(tmp_path / "scenes" / im["depth_file"]), cv2.IMREAD_UNCHANGED) / 1000.0
    assert np.abs(mm - png).max() <= 0.0005 + 1e-9
    # the fitted table frame: the camera stands 0.5 m above the table, as it was placed
    assert abs(np.array(im["camera"]["T_base_camera"])[2, 3] - 0.5) < 0.005


@needs_frames
@pytest.mark.slow
def test_import_frames_on_the_development_frames(tmp_path):
    s = import_frames(FRAMES, tmp_path / "scenes")
    frames = read_frames(FRAMES)
    assert s.images == len(frames) == 6
    labels = sum(len(f.instance_ids) for f in frames)
    assert s.annotations == labels  # every label id is one instance (all are well above 30 px)
    cam = FramesCamera.read(FRAMES / "camera.json")
    raw = cv2.imread(str(FRAMES / f"{frames[0].name}-depth.png"), cv2.IMREAD_UNCHANGED)
    ok = raw > 0
    assert np.allclose(frames[0].depth[ok], raw[ok] / cam.units_per_metre) and np.isnan(frames[0].depth[~ok]).all()


@pytest.mark.parametrize("fault, message", [
    ("no_depth", "a-depth.png is missing"),
    ("small_label", "is 160x120 px but camera.json says 320x240"),
    ("no_units", "lacks depth_png_units_per_metre"),
    ("wrong_units", "not a tabletop camera's range"),
    ("no_camera", "camera.json is missing"),
])
def test_malformed_frames_give_one_line_errors(tmp_path, capsys, fault, message):
    folder = tmp_path / "frames"
    write_frames(folder, camera_at((-0.5, 0.0, 0.5)), names=("a",))
    if fault == "no_depth":
        (folder / "a-depth.png").unlink()
    elif fault == "small_label":
        cv2.imwrite(str(folder / "a-label.png"), np.zeros((120, 160), np.uint8))
    elif fault in ("no_units", "wrong_units"):
        cam = json.loads((folder / "camera.json").read_text())
        if fault == "no_units":
            del cam["depth_png_units_per_metre"]
        else:
            cam["depth_png_units_per_metre"] = 1.0  # millimetres read as metres: 500 m away
        (folder / "camera.json").write_text(json.dumps(cam))
    else:
        (folder / "camera.json").unlink()
    assert run_pushseg("import-frames", folder, "--out", tmp_path / "scenes") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "scenes").exists()  # nothing written before the input is known good


# --- depth encoding ---------------------------------------------------------------------------


def _encoded_at(camera: CameraInfo, point) -> np.ndarray:
    depth, _ = render_ball(camera)
    enc = encode_depth(CameraInfo(camera.width, camera.height, camera.K, np.eye(4)), depth)  # no pose: fitted
    p = np.linalg.inv(camera.T_base_camera) @ np.append(point, 1.0)
    u, v = camera.K[0, 0] * p[0] / p[2] + camera.cx, camera.K[1, 1] * p[1] / p[2] + camera.cy
    return enc[int(round(v)), int(round(u))]


def test_depth_encoding_is_the_same_for_two_cameras_at_different_heights():
    low, high = camera_at((-0.45, 0.0, 0.35)), camera_at((-0.6, 0.2, 1.1), fx=500.0)
    for point in [(0.0, 0.0, 0.08), (0.12, -0.05, 0.0), (-0.02, 0.0, 0.077)]:  # ball top, table, ball flank
        a, b = _encoded_at(low, point), _encoded_at(high, point)
        assert abs(a[0] - b[0]) < 0.05, (point, a, b)  # height within 5 mm
        assert a[2] == b[2] == 1.0
    top = _encoded_at(low, (0.0, 0.0, 0.08))
    assert abs(top[0] - 0.8) < 0.05 and top[1] > 0.9  # 8 cm up, a surface facing up


def test_missing_depth_is_no_reading_not_table():
    cam = camera_at((-0.5, 0.0, 0.5))
    depth, labels = render_ball(cam)
    depth[labels > 0] = np.nan  # a black ball the sensor does not see
    depth[:10] = 0.0  # and a band with zeros, as drivers write it
    enc = encode_depth(CameraInfo(cam.width, cam.height, cam.K, np.eye(4)), depth)
    assert (enc[labels > 0] == 0).all() and (enc[:10] == 0).all()
    assert (enc[20:, :, 2][labels[20:] == 0] == 1).all()
    with pytest.raises(InputError, match="fewer than 5%"):
        encode_depth(cam, np.full(depth.shape, np.nan, np.float32))


# --- the camera pyramid -----------------------------------------------------------------------


@pytest.mark.parametrize("size_px, width", [(112, 640), (28, 480), (300, 1280)])
def test_scales_bring_objects_of_a_known_pixel_size_to_the_canonical_size(size_px, width):
    model = ModelConfig()
    (scale,) = scales_for_pixel_size(model, size_px, width)
    assert abs(size_px * model.work_width / width * scale - model.object_size) < 0.01 * model.object_size
    wide = scales_for_pixel_size(model, size_px, width, span=1)
    assert len(wide) == 3 and np.allclose(wide[0] * 2, wide[2]) and wide[1] == scale


def test_camera_scales_follow_focal_length_and_table_distance():
    model = ModelConfig()
    near, far = camera_at((-0.35, 0.0, 0.35)), camera_at((-0.7, 0.0, 0.7))
    s_near = camera_scales(model, near, render_ball(near)[0])[0]
    s_far = camera_scales(model, far, render_ball(far)[0])[0]
    assert 1.7 < s_far / s_near < 2.3  # twice as far: objects half as big, twice the scale
    zoom = camera_at((-0.35, 0.0, 0.35), fx=600.0)
    assert abs(camera_scales(model, zoom, render_ball(zoom)[0])[0] * 2 - s_near) < 0.05 * s_near


# --- the shipped checkpoint on a real frame -------------------------------------------------------


@needs_frames
def test_segment_finds_a_labeled_object_on_a_development_frame(tmp_path):
    name = sorted(p.name[:-len("-color.png")] for p in FRAMES.glob("*-color.png"))[0]
    out, res = tmp_path / "overlay.png", tmp_path / "dets.json"
    assert run_pushseg("segment", FRAMES / f"{name}-color.png", "--depth", FRAMES / f"{name}-depth.png",
                       "--camera", FRAMES / "camera.json", "--out", out, "--json", res) == 0
    from pycocotools import mask as mask_utils

    labels = cv2.imread(str(FRAMES / f"{name}-label.png"), cv2.IMREAD_UNCHANGED)
    dets = json.loads(res.read_text())
    best = 0.0
    for d in dets[:10]:
        m = mask_utils.decode({**d["segmentation"], "counts": d["segmentation"]["counts"].encode()}).astype(bool)
        for iid in np.unique(labels[labels > 0]):
            gt = labels == iid
            best = max(best, (m & gt).sum() / (m | gt).sum())
    assert best >= 0.5


@pytest.mark.slow
def test_a_depth_model_refuses_images_without_depth():
    import torch

    from pushseg.training.inference import Segmenter
    from pushseg.training.model import DeepMask

    torch.manual_seed(0)
    seg = Segmenter(DeepMask(ModelConfig(input="rgbd")))
    with pytest.raises(InputError, match="takes rgbd input"):
        seg.segment(np.zeros((64, 96, 3), np.uint8))
    dets = seg.segment(np.zeros((64, 96, 3), np.uint8), depth=np.zeros((64, 96, 3), np.float32))
    assert isinstance(dets, list)
