"""PNG encoding of the three image kinds a run folder holds, and crash-safe file writes.

* RGB: 8-bit, 3 channels. OpenCV stores BGR, so channels are swapped on the way
  in and out; the files open with the right colours in any image viewer.
* Depth: 16-bit millimetres, as a Kinect2 gives it. 0 means "no reading": NaN,
  non-positive and out-of-range (> 65.535 m) depths all become 0, and 0 reads
  back as NaN. Rounding to the nearest millimetre keeps the error <= 0.5 mm.
* Instance ids (simulation ground truth): 16-bit, 0 = table or background.

Encoding goes through ``cv2.imencode`` to bytes so that the caller decides how
the bytes reach the disk (:func:`write_atomic`) and so that workers can encode
in parallel while one process writes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from pushseg.errors import InputError, RunFolderError

# Fixed so that the same image always gives the same bytes.
PNG_COMPRESSION = 3
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]

DEPTH_SCALE_MM = 1000.0
DEPTH_MAX_MM = np.iinfo(np.uint16).max


def _encode(img: np.ndarray, what: str) -> bytes:
    ok, buf = cv2.imencode(".png", img, _PNG_PARAMS)
    if not ok:  # pragma: no cover - OpenCV only fails on unsupported dtypes, checked above
        raise InputError(f"could not encode the {what} image as PNG")
    return buf.tobytes()


def encode_rgb(rgb: np.ndarray) -> bytes:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"RGB image must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return _encode(np.ascontiguousarray(rgb[:, :, ::-1]), "RGB")


def depth_to_mm(depth: np.ndarray) -> np.ndarray:
    """Metres (NaN = no reading) -> uint16 millimetres (0 = no reading)."""
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim != 2:
        raise InputError(f"depth image must be (H, W), got shape {d.shape}")
    with np.errstate(invalid="ignore"):
        mm = np.rint(d * DEPTH_SCALE_MM)
        valid = np.isfinite(mm) & (mm > 0) & (mm <= DEPTH_MAX_MM)
    out = np.zeros(d.shape, dtype=np.uint16)
    out[valid] = mm[valid].astype(np.uint16)
    return out


def mm_to_depth(mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres (0 = no reading) -> float32 metres (NaN = no reading)."""
    d = mm.astype(np.float32) / np.float32(DEPTH_SCALE_MM)
    d[mm == 0] = np.nan
    return d


def encode_depth(depth: np.ndarray) -> bytes:
    return _encode(depth_to_mm(depth), "depth")


def encode_instance_ids(ids: np.ndarray) -> bytes:
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise InputError(f"instance-id image must be (H, W), got shape {ids.shape}")
    if ids.dtype != np.uint16:
        if not np.issubdtype(ids.dtype, np.integer):
            raise InputError(f"instance ids must be integers, got {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() > np.iinfo(np.uint16).max):
            raise InputError(
                f"instance ids must lie in 0..65535 to fit a 16-bit PNG, got {ids.min()}..{ids.max()}"
            )
        ids = ids.astype(np.uint16)
    return _encode(ids, "instance-id")


def _read_png(path: Path, flags: int) -> np.ndarray:
    if not path.is_file():
        raise RunFolderError(f"missing image file {path}")
    img = cv2.imread(str(path), flags)
    if img is None:
        raise RunFolderError(f"image file {path} is not a readable PNG (corrupt or truncated)")
    return img


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    img = _read_png(Path(path), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[:, :, ::-1])


def read_depth(path: str | os.PathLike) -> np.ndarray:
    mm = _read_png(Path(path), cv2.IMREAD_UNCHANGED)
    if mm.dtype != np.uint16 or mm.ndim != 2:
        raise RunFolderError(f"depth image {path} must be a 16-bit single-channel PNG, got {mm.dtype} {mm.shape}")
    return mm_to_depth(mm)


def read_instance_ids(path: str | os.PathLike) -> np.ndarray:
    ids = _read_png(Path(path), cv2.IMREAD_UNCHANGED)
    if ids.dtype != np.uint16 or ids.ndim != 2:
        raise RunFolderError(
            f"instance-id image {path} must be a 16-bit single-channel PNG, got {ids.dtype} {ids.shape}"
        )
    return ids


def digest(data: bytes) -> str:
    """Short content hash stored beside each image path, to detect corrupt or swapped files."""
    return hashlib.sha256(data).hexdigest()[:16]


# --- crash-safe writes ----------------------------------------------------------------


def write_atomic(path: Path, data: bytes, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` via a temp file, fsync and rename: the file is whole or absent."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make renames and new entries in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
