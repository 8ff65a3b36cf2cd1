"""PNG encoding of the three image kinds a run folder holds, and crash-safe file writes.

* RGB: 8-bit, 3 channels. OpenCV stores BGR, so channels are swapped on the way
  in and out; the files open with the right colours in any image viewer.
* Depth: 16-bit millimetres, as a Kinect2 gives it. 0 means "no reading": NaN,
  non-positive and out-of-range (> 65.535 m) depths all become 0, and 0 reads
  back as NaN. Rounding to the nearest millimetre keeps the error <= 0.5 mm.
* Instance ids (simulation ground truth): 16-bit, 0 = table or background.

Encoding goes through ``cv2.imencode`` to bytes so that the caller decides how
the bytes reach the disk (:func:`pushseg.files.write_atomic`) and so that workers can encode
in parallel while one process writes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from pushseg.errors import InputError, RunFolderError
from pushseg.files import write_atomic
from pushseg.limits import MIN_IMAGE_SIDE, check_image_side

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


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise RunFolderError(f"missing image file {path}")
    return path.read_bytes()


def _decode_png(data: bytes, path: Path, flags: int) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
    if img is None:
        raise RunFolderError(f"image file {path} is not a readable PNG or image (corrupt or truncated)")
    return img


def _read_png(path: Path, flags: int) -> np.ndarray:
    return _decode_png(_read_bytes(path), path, flags)


def read_checked(path: str | os.PathLike, expected_digest: str | None, where: str = "") -> bytes:
    """The file's bytes, after checking them against the digest stored for it (when there is one)."""
    path = Path(path)
    data = _read_bytes(path)
    if expected_digest and digest(data) != expected_digest:
        raise RunFolderError(
            f"image file {path} does not match the hash stored {where or 'for it'}; it was changed, swapped "
            f"or corrupted after it was written (collect it again, or pass --no-verify to read it anyway)"
        )
    return data


def decode_rgb(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """PNG bytes -> (H, W, 3) uint8 RGB; grayscale or 16-bit files are refused, not converted."""
    img = _decode_png(data, Path(path), cv2.IMREAD_UNCHANGED)
    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 4:
        img = drop_opaque_alpha(img, f"RGB image {path}", RunFolderError)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        what = "grayscale" if img.ndim == 2 else f"{img.shape[2]}-channel" if img.ndim == 3 else str(img.shape)
        raise RunFolderError(
            f"RGB image {path} must be 8-bit with 3 colour channels, got a {what} {img.dtype} image; "
            f"convert it to colour (RGB) first"
        )
    return np.ascontiguousarray(img[:, :, ::-1])


def decode_depth(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    mm = _decode_png(data, Path(path), cv2.IMREAD_UNCHANGED)
    if mm.dtype != np.uint16 or mm.ndim != 2:
        raise RunFolderError(f"depth image {path} must be a 16-bit single-channel PNG, got {mm.dtype} {mm.shape}")
    return mm_to_depth(mm)


def decode_instance_ids(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    ids = _decode_png(data, Path(path), cv2.IMREAD_UNCHANGED)
    if ids.dtype != np.uint16 or ids.ndim != 2:
        raise RunFolderError(
            f"instance-id image {path} must be a 16-bit single-channel PNG, got {ids.dtype} {ids.shape}"
        )
    return ids


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    return decode_rgb(_read_bytes(Path(path)), path)


def read_depth(path: str | os.PathLike) -> np.ndarray:
    return decode_depth(_read_bytes(Path(path)), path)


def read_instance_ids(path: str | os.PathLike) -> np.ndarray:
    return decode_instance_ids(_read_bytes(Path(path)), path)




def drop_opaque_alpha(img: np.ndarray, what: str, error: type[Exception] = InputError) -> np.ndarray:
    """The one rule for an alpha channel, everywhere an RGB image is read: an (H, W, 4) uint8 image whose
    alpha is fully opaque loses it (BGRA -> BGR); one with any transparent pixel is refused (``error``)."""
    if img.ndim == 3 and img.shape[2] == 4:
        if int(img[:, :, 3].min()) != np.iinfo(img.dtype).max:
            raise error(f"{what} has transparent pixels (an alpha channel); convert it to 3-channel RGB")
        img = np.ascontiguousarray(img[:, :, :3])
    return img


def read_image_rgb(path: str | os.PathLike, *, grayscale: str = "refuse", min_side: int = MIN_IMAGE_SIDE,
                   flag: str = "image") -> np.ndarray:
    """Read any image file a user hands in (PNG, JPEG, ...) as (H, W, 3) uint8 RGB, with checks.

    ``grayscale``: "refuse" (an :class:`InputError`) or "convert" (copy the channel
    three times; said explicitly by the caller). A fully opaque alpha channel is dropped, one with
    transparent pixels is refused (:func:`drop_opaque_alpha`, as for every RGB image pushseg reads);
    16-bit images are refused; images with a side below ``min_side`` are refused (:func:`check_image_side`).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{flag} {path}: no such file")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"{flag} {path}: not an image OpenCV can read (corrupt, truncated or another format)")
    if img.dtype != np.uint8:
        raise InputError(f"{flag} {path}: {img.dtype} pixels; give an 8-bit colour image")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        if grayscale != "convert":
            raise InputError(f"{flag} {path}: a grayscale image; give a colour (RGB) image")
        img = cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = drop_opaque_alpha(img, f"{flag} {path}")
    elif img.shape[2] != 3:
        raise InputError(f"{flag} {path}: {img.shape[2]} channels; convert it to 3-channel RGB")
    h, w = img.shape[:2]
    check_image_side(w, h, f"{flag} {path}", min_side)
    return np.ascontiguousarray(img[:, :, ::-1])


def write_image_file(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB image in the format its extension names, atomically; errors are raised, never ignored."""
    path = Path(path)
    try:
        ok, buf = cv2.imencode(path.suffix.lower() or ".png", np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1]))
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(f"{path}: OpenCV cannot write images with the extension {path.suffix!r}; use .png or .jpg")
    write_atomic(path, buf.tobytes())
    return path


def digest(data: bytes) -> str:
    """Short content hash stored beside each image path, to detect corrupt or swapped files."""
    return hashlib.sha256(data).hexdigest()[:16]
