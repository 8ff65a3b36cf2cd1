"""Real RGB-D frames with instance labels: read a folder, check it, give Frames with a camera pose.

A frames folder holds, per frame ``NAME``:
* ``NAME-color.png``  8-bit RGB (or BGR as OpenCV writes it; read as RGB);
* ``NAME-depth.png``  16-bit depth, ``depth_png_units_per_metre`` units per metre, ``depth_missing`` = no reading;
* ``NAME-label.png``  8- or 16-bit instance labels: 0 background, every other value one object instance;

and one ``camera.json`` for all frames::
    {"width": 640, "height": 480, "fx": ..., "fy": ..., "cx": ..., "cy": ...,
     "depth_png_units_per_metre": 10000, "depth_missing": 0,
     "T_base_camera": [[...4x4...]]}          # optional

Real frames rarely come with the camera's pose on a robot. Where ``camera.json``
has no ``T_base_camera``, the pose is made from the table: the dominant plane of
the depth image (:func:`pushseg.geometry.fit_plane_without_pose`) becomes the
plane z = 0 of a *table frame* that stands in for ``base_link``: z up from the
table, x along the camera's view projected onto the table, the origin below the
camera. Everything that needs gravity (the table fit, height above the table,
the depth encoding of the network) then works on real frames as on simulated ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pushseg import files
from pushseg.data import images as img
from pushseg.data.coco import CocoBuilder, instance_masks
from pushseg.data.lock import FolderLock
from pushseg.errors import InputError
from pushseg.geometry import Plane, fit_plane_without_pose
from pushseg.types import CameraInfo

COLOR, DEPTH, LABEL = "-color.png", "-depth.png", "-label.png"
CAMERA_FILE = "camera.json"
REAL_FRAME_ID = "camera_optical_frame"


@dataclass(frozen=True)
class FramesCamera:
    """What ``camera.json`` says: intrinsics, depth units and, optionally, the camera's pose."""

    width: int
    height: int
    K: np.ndarray  # (3, 3)
    units_per_metre: float  # depth PNG value of one metre
    missing: int  # depth PNG value meaning "no reading"
    T_base_camera: np.ndarray | None  # (4, 4) or None: fitted from the table

    @classmethod
    def read(cls, path: Path) -> "FramesCamera":
        if not path.is_file():
            raise InputError(f"{path} is missing: a frames folder needs camera.json with width, height, fx, fy, cx, "
                             "cy and depth_png_units_per_metre")
        try:
            d = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"{path} is not readable json ({e}); fix or replace it") from None
        if not isinstance(d, dict):
            raise InputError(f"{path} must hold one json object, got {type(d).__name__}")
        missing = [k for k in ("width", "height", "fx", "fy", "cx", "cy") if k not in d]
        if missing:
            raise InputError(f"{path} lacks {', '.join(missing)}: give the pinhole intrinsics of the frames")
        if "depth_png_units_per_metre" not in d:
            raise InputError(f"{path} lacks depth_png_units_per_metre: say how many depth PNG units make one metre "
                             "(1000 for millimetres, as most RGB-D drivers write them)")
        values = {}
        for k in ("width", "height", "fx", "fy", "cx", "cy", "depth_png_units_per_metre"):
            v = d[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InputError(f"{path}: {k} must be a positive number, got {v!r}")
            values[k] = float(v)
        for k in ("width", "height"):
            if values[k] != int(values[k]):
                raise InputError(f"{path}: {k} must be a whole number of pixels, got {d[k]!r}")
        miss = d.get("depth_missing", 0)
        if isinstance(miss, bool) or not isinstance(miss, int) or not 0 <= miss <= 65535:
            raise InputError(f"{path}: depth_missing must be a 16-bit PNG value (usually 0), got {miss!r}")
        T = d.get("T_base_camera")
        if T is not None:
            T = np.asarray(T, dtype=np.float64) if isinstance(T, list) else None
            if T is None or T.shape != (4, 4) or not np.all(np.isfinite(T)):
                raise InputError(f"{path}: T_base_camera must be a 4x4 matrix (a list of 4 rows of 4 numbers)")
        K = np.array([[values["fx"], 0, values["cx"]], [0, values["fy"], values["cy"]], [0, 0, 1]], np.float64)
        return cls(int(values["width"]), int(values["height"]), K, values["depth_png_units_per_metre"], miss, T)


@dataclass
class RealFrame:
    name: str  # the frame's file stem, e.g. "data_0000_000001"
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres, NaN where there is no reading
    labels: np.ndarray  # (H, W) int32 instance labels, 0 = background
    camera: CameraInfo  # intrinsics; T_base_camera from camera.json or from the table
    table: Plane  # the table plane in the optical frame

    @property
    def instance_ids(self) -> list[int]:
        return [int(v) for v in np.unique(self.labels) if v != 0]


def frame_names(folder: Path) -> list[str]:
    """The stems of every ``*-color.png``, sorted; each must have its depth and label files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of frames; give a folder with NAME-color.png, NAME-depth.png, "
                         "NAME-label.png and camera.json")
    names = sorted(p.name[: -len(COLOR)] for p in folder.glob("*" + COLOR))
    if not names:
        raise InputError(f"{folder} holds no *{COLOR} file: not a frames folder")
    for name in names:
        for suffix, what in ((DEPTH, "depth"), (LABEL, "label")):
            if not (folder / (name + suffix)).is_file():
                raise InputError(f"{folder / (name + suffix)} is missing: every frame needs its {what} image "
                                 f"beside {name}{COLOR}")
    return names


def _read_png(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"{path} is not a readable PNG; replace it")
    return img


def read_frame(folder: Path, name: str, cam: FramesCamera, seed: int = 0) -> RealFrame:
    """One frame, checked: sizes agree with camera.json, depth is 16-bit, labels are one channel."""
    folder = Path(folder)
    color, depth_png, labels = (_read_png(folder / (name + s)) for s in (COLOR, DEPTH, LABEL))
    if color.ndim == 2:
        color = cv2.cvtColor(color, cv2.COLOR_GRAY2BGR)
    if color.ndim != 3 or color.shape[2] not in (3, 4) or color.dtype != np.uint8:
        raise InputError(f"{folder / (name + COLOR)} must be 8-bit RGB, got shape {color.shape} {color.dtype}")
    rgb = cv2.cvtColor(color, cv2.COLOR_BGRA2RGB if color.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    if labels.ndim != 2 or labels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{folder / (name + LABEL)} must be a one-channel 8- or 16-bit PNG of instance labels, "
                         f"got shape {labels.shape} {labels.dtype}")
    if labels.shape != (cam.height, cam.width):
        raise InputError(f"{folder / (name + LABEL)} is {labels.shape[1]}x{labels.shape[0]} px but camera.json says "
                         f"{cam.width}x{cam.height}: the frames and the intrinsics must agree")
    depth = depth_metres(depth_png, cam, folder / (name + DEPTH))
    camera, depth, plane = frame_from_arrays(cam, rgb, depth, folder / (name + COLOR), seed)
    return RealFrame(name, rgb, depth, labels.astype(np.int32), camera, plane)


def depth_metres(depth_png: np.ndarray, cam: FramesCamera, path) -> np.ndarray:
    """A 16-bit depth PNG's values -> metres (NaN = no reading), checked against the camera's units."""
    if depth_png.ndim != 2 or depth_png.dtype != np.uint16:
        raise InputError(f"{path} must be a one-channel 16-bit depth PNG, got shape {depth_png.shape} {depth_png.dtype}")
    depth = depth_png.astype(np.float32) / np.float32(cam.units_per_metre)
    depth[depth_png == cam.missing] = np.nan
    valid = np.isfinite(depth)
    if valid.any() and not 0.05 < float(np.median(depth[valid])) < 20.0:
        raise InputError(f"{path}: median depth {float(np.median(depth[valid])):.3g} m with "
                         f"{cam.units_per_metre:g} units per metre is not a tabletop camera's range; is "
                         "depth_png_units_per_metre right (1000 for millimetres)?")
    return depth


def read_depth_png(path: Path, cam: FramesCamera) -> np.ndarray:
    """A depth PNG file -> metres (NaN = no reading)."""
    return depth_metres(_read_png(Path(path)), cam, path)


def frame_from_arrays(cam: FramesCamera, rgb: np.ndarray, depth: np.ndarray, what, seed: int = 0):
    """Sizes checked against camera.json; -> (CameraInfo with its pose, depth, the table plane)."""
    size = (cam.height, cam.width)
    for kind, image in (("colour image", rgb), ("depth image", depth)):
        if image.shape[:2] != size:
            raise InputError(f"{what}: the {kind} is {image.shape[1]}x{image.shape[0]} px but camera.json says "
                             f"{cam.width}x{cam.height}: the frames and the intrinsics must agree")
    camera = CameraInfo(cam.width, cam.height, cam.K, np.eye(4), frame_id=REAL_FRAME_ID)
    try:
        plane = fit_plane_without_pose(camera, depth, rng=seed)
    except InputError as e:
        raise InputError(f"{what}: {e}") from None
    T = cam.T_base_camera if cam.T_base_camera is not None else table_frame_pose(plane)
    return CameraInfo(cam.width, cam.height, cam.K, T, frame_id=REAL_FRAME_ID), depth, plane


def table_frame_pose(plane: Plane) -> np.ndarray:
    """T_base_camera of a table frame: z = the plane's normal (up), origin on the table below the camera."""
    z = np.asarray(plane.normal, np.float64)
    z = z / np.linalg.norm(z)
    forward = np.array([0.0, 0.0, 1.0]) - z[2] * z  # the optical axis projected onto the table
    if np.linalg.norm(forward) < 1e-6:  # looking straight down: image "up" is away
        forward = np.array([0.0, -1.0, 0.0]) - z[1] * z
    x = forward / np.linalg.norm(forward)
    y = np.cross(z, x)
    R_cam_base = np.stack([x, y, z], axis=1)  # base axes in the optical frame
    origin_cam = -plane.offset * z  # the camera's foot on the plane (normal . p + offset = 0)
    T = np.eye(4)
    T[:3, :3] = R_cam_base.T
    T[:3, 3] = -R_cam_base.T @ origin_cam
    return T


def read_frames(folder: str | Path, seed: int = 0) -> list[RealFrame]:
    """Every frame of a folder, in name order."""
    folder = Path(folder)
    names = frame_names(folder)
    cam = FramesCamera.read(folder / CAMERA_FILE)
    return [read_frame(folder, n, cam, seed) for n in names]


# --- into the scenes layout -------------------------------------------------------------

SCHEMA = "pushseg-scenes"  # the same layout as pushseg.data.scenes: evaluate and pretrain read it alike
SCHEMA_VERSION = 1


@dataclass
class ImportSummary:
    out: Path
    images: int
    annotations: int


def import_frames(source: str | Path, out: str | Path, *, min_pixels: int = 30, seed: int = 0) -> ImportSummary:
    """Write a frames folder as a scenes folder (images/, depth/ in mm, instances/, annotations.json, meta.json).

    Each label value other than 0 becomes one instance with at least ``min_pixels``
    pixels; each image entry keeps its camera (K and the table-frame pose) and the
    name of the frame it came from. ``meta.json`` is written last, as by
    ``pushseg scenes``: a folder without it is unfinished.
    """

    source, out = Path(source), Path(out)
    if min_pixels < 1:
        raise InputError(f"--min-pixels must be at least 1, got {min_pixels}")
    frames = read_frames(source, seed=seed)  # every check before anything is written
    if out.exists() and (not out.is_dir() or any(p.name != ".lock" for p in out.iterdir())):
        raise InputError(f"{out} exists and is not an empty folder; choose another --out")
    with FolderLock(out, "pushseg import-frames"):
        coco = CocoBuilder(info={"description": f"real frames imported from {source.name}"})
        for sub in ("images", "depth", "instances"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        n_ann = 0
        for index, frame in enumerate(frames):
            name = f"{index:06d}.png"
            png = {"images": img.encode_rgb(frame.rgb), "depth": img.encode_depth(frame.depth),
                   "instances": img.encode_instance_ids(frame.labels.astype(np.uint16))}
            for sub, data in png.items():
                files.write_atomic(out / sub / name, data, sync_dir=False)
            image_id = coco.add_image(f"images/{name}", frame.camera.width, frame.camera.height,
                                      depth_file=f"depth/{name}", instances_file=f"instances/{name}",
                                      camera=frame.camera.to_dict(), sha256=img.digest(png["images"]),
                                      frame=frame.name)
            masks, _ = instance_masks(frame.labels, min_pixels)
            for iid, mask in masks:
                coco.add_mask(image_id, mask, instance_id=iid, object_name=f"label {iid}")
            n_ann += len(masks)
        for sub in ("images", "depth", "instances"):
            files.fsync_dir(out / sub)
        coco.write(out / "annotations.json")
        meta = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "backend": "real-frames",
                "source": {"folder": source.name, "frames": [f.name for f in frames]},
                "camera": frames[0].camera.to_dict(), "annotations": "annotations.json",
                "counts": {"images": len(frames), "annotations": n_ann}}
        files.write_atomic(out / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    return ImportSummary(out, len(frames), n_ann)
