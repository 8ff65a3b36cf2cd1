"""Run folders: what a collection leaves on disk, written crash-safely and read back with checks.

Layout (a person can open every file)::
    RUN/
      meta.json              schema version, backend, camera, config, seeds, objects, agent
      transitions.jsonl      one json object per line, one line per transition, append-only
      images/e00000/         one folder per episode
        s0000_before_rgb.png     RGB 8-bit
        s0000_before_depth.png   depth 16-bit millimetres, 0 = no reading
        s0000_before_ids.png     simulation ground truth, 16-bit instance ids
        s0000_after_rgb.png ...

A line names its images by paths relative to RUN plus a short content hash. When
a step's "before" image is byte-identical to the previous step's "after" image
the line points at the existing file instead of writing a copy.

Crash safety: a transition's images are written (temp file, fsync, rename) before
its line; the line is fsynced before :meth:`RunWriter.write` returns. So a killed
collection leaves at most one torn last line and some images no line names;
:meth:`RunWriter.resume` drops both and reports what it dropped.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pushseg import files
from pushseg.data import images as img
from pushseg.errors import RunFolderError
from pushseg.types import CameraInfo, Frame, Push, PushResult, Transition

SCHEMA = "pushseg-run"
SCHEMA_VERSION = 1
META_FILE = "meta.json"
TRANSITIONS_FILE = "transitions.jsonl"
IMAGES_DIR = "images"
STAGING_DIR = "staging"  # finished transitions waiting for their turn (parallel collection)
LOCK_FILE = ".lock"  # see pushseg.data.lock
# What RunWriter.create makes before meta.json, and the temp file of meta.json itself.
_CREATE_LEFTOVERS = {IMAGES_DIR, TRANSITIONS_FILE, META_FILE + ".tmp", LOCK_FILE, STAGING_DIR}

ROLES = ("before", "after")
KINDS = ("rgb", "depth", "ids")  # "ids" is simulation ground truth and may be absent


# --- meta.json ------------------------------------------------------------------------


@dataclass
class RunMeta:
    """The contents of meta.json: everything needed to understand and reproduce a run."""

    backend: str
    camera: CameraInfo
    config: dict[str, Any] = field(default_factory=dict)  # the command's settings
    seeds: dict[str, Any] = field(default_factory=dict)  # master seed, per-episode seeds
    objects: dict[str, Any] = field(default_factory=dict)  # object set name and its objects
    agent: dict[str, Any] = field(default_factory=dict)  # push policy name and settings
    world: dict[str, Any] = field(default_factory=dict)  # simulation: the world profile (envs.world); {} on a robot

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "backend": self.backend,
            "camera": self.camera.to_dict(),
            "config": self.config,
            "seeds": self.seeds,
            "objects": self.objects,
            "agent": self.agent,
            "world": self.world,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = META_FILE) -> "RunMeta":
        if not isinstance(d, dict):
            raise RunFolderError(f"{where}: expected a json object, got {type(d).__name__}")
        if d.get("schema") != SCHEMA:
            raise RunFolderError(f"{where}: not a pushseg run (schema is {d.get('schema')!r}, expected {SCHEMA!r})")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RunFolderError(
                f"{where}: schema version {version!r} is not supported (this pushseg reads version "
                f"{SCHEMA_VERSION}); collect the run again with this version of pushseg"
            )
        for key, typ in (("backend", str), ("camera", dict)):
            if not isinstance(d.get(key), typ):
                raise RunFolderError(f"{where}: missing or invalid '{key}'")
        try:
            camera = check_camera_dict(d["camera"])
        except (KeyError, TypeError, ValueError) as e:
            raise RunFolderError(f"{where}: invalid 'camera' ({e}); the run folder is corrupt, collect it "
                                 f"again") from None
        return cls(
            backend=d["backend"],
            camera=camera,
            config=dict(d.get("config") or {}),
            seeds=dict(d.get("seeds") or {}),
            objects=dict(d.get("objects") or {}),
            agent=dict(d.get("agent") or {}),
            world=dict(d.get("world") or {}),
        )


def _dump_json(obj: Any) -> str:
    return json.dumps(obj, allow_nan=False)


def read_meta(root: str | os.PathLike) -> RunMeta:
    root = Path(root)
    if not root.is_dir():
        raise RunFolderError(f"run folder {root} does not exist")
    path = root / META_FILE
    if not path.is_file():
        raise RunFolderError(f"{path}: missing meta.json; {root} is not a run folder (or its collection never started)")
    check_inside(root, path)
    return RunMeta.from_dict(files.read_json(path, RunFolderError), where=str(path))


# --- one transition, encoded ------------------------------------------------------------


@dataclass
class EncodedFrame:
    """A Frame as PNG bytes: what a worker process sends to the writer."""

    png: dict[str, bytes]  # kind -> PNG bytes; "ids" only in simulation
    timestamp: float
    camera: CameraInfo


@dataclass
class EncodedTransition:
    episode: int
    step: int
    seed: int | None
    backend: str
    push: dict[str, Any]
    result: dict[str, Any]
    before: EncodedFrame
    after: EncodedFrame

    def header(self) -> dict[str, Any]:
        """The fields of a transitions.jsonl line other than its two frames."""
        return {"episode": self.episode, "step": self.step, "seed": self.seed, "backend": self.backend,
                "push": self.push, "result": self.result}


def encode_frame(frame: Frame) -> EncodedFrame:
    png = {"rgb": img.encode_rgb(frame.rgb), "depth": img.encode_depth(frame.depth)}
    if frame.instance_ids is not None:
        png["ids"] = img.encode_instance_ids(frame.instance_ids)
    return EncodedFrame(png=png, timestamp=float(frame.timestamp), camera=frame.camera)


def encode_transition(t: Transition) -> EncodedTransition:
    return EncodedTransition(
        episode=int(t.episode),
        step=int(t.step),
        seed=None if t.seed is None else int(t.seed),
        backend=str(t.backend),
        push=t.push.to_dict(),
        result=t.result.to_dict(),
        before=encode_frame(t.before),
        after=encode_frame(t.after),
    )


def image_path(episode: int, step: int, role: str, kind: str) -> str:
    return f"{IMAGES_DIR}/e{episode:05d}/s{step:04d}_{role}_{kind}.png"


# --- lines of transitions.jsonl ---------------------------------------------------------


@dataclass(frozen=True)
class FrameRecord:
    """Where a frame's images are; loading them is up to :meth:`RunReader.load_frame`."""

    paths: dict[str, str]  # kind -> path relative to the run folder
    digests: dict[str, str]  # kind -> short sha256 of the PNG bytes
    timestamp: float
    camera: CameraInfo


@dataclass(frozen=True)
class TransitionRecord:
    """One parsed line of transitions.jsonl: everything but the pixels."""

    line_no: int
    episode: int
    step: int
    seed: int | None
    backend: str
    push: Push
    result: PushResult
    before: FrameRecord
    after: FrameRecord

    @property
    def key(self) -> tuple[int, int]:
        return (self.episode, self.step)

    @property
    def source(self) -> str:
        return f"episode {self.episode} step {self.step}"


def _frame_line(paths: dict[str, str], digests: dict[str, str], ef: EncodedFrame, meta_camera: dict) -> dict:
    d: dict[str, Any] = {"timestamp": ef.timestamp}
    for kind in KINDS:
        if kind in paths:
            d[kind] = {"path": paths[kind], "sha256": digests[kind]}
    cam = ef.camera.to_dict()
    if cam != meta_camera:  # cameras that move (jitter, a turning head) are kept per frame
        d["camera"] = cam
    return d


class _LineError(Exception):
    pass


def _is_number(v: Any) -> bool:
    """A json number; ``true``/``false`` are not (json booleans are ints in Python)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _shown(v: Any) -> str:
    try:
        return json.dumps(v)
    except (TypeError, ValueError):  # pragma: no cover - json values only
        return repr(v)


def check_camera_dict(d: Any) -> CameraInfo:
    """A camera record of meta.json or of a frame -> :class:`CameraInfo`; ``ValueError`` naming the bad field.

    Width and height are positive integers, K a 3x3 matrix of finite numbers with positive
    focal lengths fx = K[0][0] and fy = K[1][1], T_base_camera a 4x4 matrix of finite numbers.
    """
    if not isinstance(d, dict):
        raise ValueError(f"expected an object, got {_shown(d)}")
    for key in ("width", "height"):
        if not _is_int(d.get(key)) or d[key] <= 0:
            raise ValueError(f"'{key}' must be a positive integer, got {_shown(d.get(key))}")
    for key, n in (("K", 3), ("T_base_camera", 4)):
        m = d.get(key)
        if (not isinstance(m, list) or len(m) != n
                or not all(isinstance(row, list) and len(row) == n and all(map(_is_number, row)) for row in m)):
            raise ValueError(f"'{key}' must be a {n}x{n} list of numbers")
        if not all(math.isfinite(v) for row in m for v in row):
            raise ValueError(f"'{key}' holds a non-finite number")
    for name, v in (("fx", d["K"][0][0]), ("fy", d["K"][1][1])):
        if v <= 0:
            raise ValueError(f"the focal length {name} (K) must be positive, got {v}")
    if "frame_id" in d and not isinstance(d["frame_id"], str):
        raise ValueError("'frame_id' must be a string")
    return CameraInfo.from_dict(d)


def _check_push(d: Any) -> Push:
    if not isinstance(d, dict):
        raise _LineError("'push' must be an object with u, v, angle and length")
    for k in ("u", "v", "angle", "length"):
        if k not in d:
            raise _LineError(f"'push' is invalid (no '{k}')")
        if not _is_number(d[k]):
            raise _LineError(f"'push' {k} must be a number, got {_shown(d[k])}")
    push = Push.from_dict(d)
    bad = [k for k in ("u", "v", "angle", "length") if not math.isfinite(getattr(push, k))]
    if bad:
        raise _LineError(f"'push' has a non-finite {', '.join(bad)} ({push.to_dict()})")
    if push.length < 0:
        raise _LineError(f"'push' has a negative length ({push.length} m); a push length is a distance, >= 0")
    return push


def _check_point(v: Any, what: str) -> None:
    if v is not None and not (isinstance(v, list) and len(v) == 3 and all(map(_is_number, v))
                              and all(math.isfinite(x) for x in v)):
        raise _LineError(f"'result.{what}' must be null or 3 finite numbers (x, y, z), got {_shown(v)}")


def _check_result(d: Any, push: Push) -> PushResult:
    if not isinstance(d, dict):
        raise _LineError("'result' must be an object")
    if not isinstance(d.get("reason", ""), str):
        raise _LineError("'result.reason' must be a string")
    _check_point(d.get("start_base"), "start_base")
    _check_point(d.get("end_base"), "end_base")
    motions = d.get("motions", [])
    if not isinstance(motions, list):
        raise _LineError("'result.motions' must be a list")
    for i, m in enumerate(motions):
        if not isinstance(m, dict) or not _is_int(m.get("instance_id")) or m["instance_id"] < 0:
            raise _LineError(f"'result.motions[{i}]' needs a non-negative integer 'instance_id'")
        for k in ("translation", "rotation"):
            if not _is_number(m.get(k)) or not math.isfinite(m[k]):
                raise _LineError(f"'result.motions[{i}].{k}' must be a finite number, got {_shown(m.get(k))}")
    try:
        result = PushResult.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise _LineError(f"'result' is invalid ({e})") from None
    if result.executed and push.length == 0:
        raise _LineError("'push' has length 0 but 'result' says it was executed; an executed push moves a "
                         "positive distance")
    return result


def _parse_frame(d: Any, role: str, meta: RunMeta) -> FrameRecord:
    if not isinstance(d, dict):
        raise _LineError(f"'{role}' must be an object")
    paths, digests = {}, {}
    for kind in KINDS:
        entry = d.get(kind)
        if entry is None:
            if kind == "ids":
                continue
            raise _LineError(f"'{role}' has no '{kind}' image")
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise _LineError(f"'{role}.{kind}' must be an object with a 'path'")
        path = entry["path"]
        if os.path.isabs(path) or ".." in Path(path).parts:
            raise _LineError(f"'{role}.{kind}' path {path!r} must stay inside the run folder")
        paths[kind] = path
        digests[kind] = str(entry.get("sha256", ""))
    camera = meta.camera
    if "camera" in d:
        try:
            camera = check_camera_dict(d["camera"])
        except (KeyError, TypeError, ValueError) as e:
            raise _LineError(f"'{role}.camera' is invalid ({e})") from None
    ts = d.get("timestamp", 0.0)
    if not _is_number(ts):
        raise _LineError(f"'{role}.timestamp' must be a number, got {_shown(ts)}")
    if not math.isfinite(ts):
        raise _LineError(f"'{role}.timestamp' is not a finite number ({ts})")
    return FrameRecord(paths=paths, digests=digests, timestamp=float(ts), camera=camera)


def _parse_line(obj: Any, line_no: int, meta: RunMeta) -> TransitionRecord:
    if not isinstance(obj, dict):
        raise _LineError("expected a json object")
    for key in ("episode", "step"):
        if not _is_int(obj.get(key)) or obj[key] < 0:
            raise _LineError(f"'{key}' must be a non-negative integer, got {_shown(obj.get(key))}")
    for key in ("push", "result", "before", "after"):
        if key not in obj:
            raise _LineError(f"missing '{key}'")
    push = _check_push(obj["push"])
    result = _check_result(obj["result"], push)
    seed = obj.get("seed")
    if seed is not None and not _is_int(seed):
        raise _LineError(f"'seed' must be an integer or null, got {_shown(seed)}")
    if not isinstance(obj.get("backend", meta.backend), str):
        raise _LineError(f"'backend' must be a string, got {_shown(obj.get('backend'))}")
    return TransitionRecord(
        line_no=line_no,
        episode=obj["episode"],
        step=obj["step"],
        seed=seed,
        backend=str(obj.get("backend", meta.backend)),
        push=push,
        result=result,
        before=_parse_frame(obj["before"], "before", meta),
        after=_parse_frame(obj["after"], "after", meta),
    )


@dataclass
class _Scan:
    records: list[TransitionRecord]
    good_bytes: int  # length of the valid prefix of transitions.jsonl
    torn: str = ""  # why the last line was dropped, "" when it was whole


def _scan_transitions(root: Path, meta: RunMeta, allow_torn_tail: bool) -> _Scan:
    """Parse transitions.jsonl; only its last line may be torn (a write cut short by a crash)."""
    path = root / TRANSITIONS_FILE
    if not path.is_file():
        raise RunFolderError(f"{path}: missing transitions.jsonl")
    check_inside(root, path)
    data = path.read_bytes()
    chunks = data.split(b"\n")
    # A file that ends in "\n" splits into lines + one empty chunk; anything else there is torn.
    records: list[TransitionRecord] = []
    offset = 0
    torn = ""
    seen: dict[tuple[int, int], int] = {}
    n_lines = len(chunks) - 1 if chunks[-1] == b"" else len(chunks)
    for i in range(n_lines):
        raw = chunks[i]
        line_no = i + 1
        is_last = i == n_lines - 1
        whole = i < len(chunks) - 1  # followed by a newline
        problem = ""
        rec = None
        if not whole:
            problem = f"line {line_no} is truncated (no end of line)"
        else:
            try:
                rec = _parse_line(json.loads(raw.decode("utf-8")), line_no, meta)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                problem = f"line {line_no} is not valid json ({e})"
            except _LineError as e:
                problem = f"line {line_no}: {e}"
        if problem:
            if is_last and allow_torn_tail:
                torn = problem
                break
            hint = (
                "the collection was probably killed while writing it; `pushseg collect --resume` drops it"
                if is_last
                else "the run folder is corrupt; repair or delete that line by hand, or collect a new run"
            )
            raise RunFolderError(f"{path}: {problem}; {hint}")
        assert rec is not None
        if rec.key in seen:
            raise RunFolderError(
                f"{path}: line {line_no} repeats episode {rec.episode} step {rec.step} of line {seen[rec.key]}"
            )
        if records and rec.key < records[-1].key:
            raise RunFolderError(
                f"{path}: line {line_no} (episode {rec.episode} step {rec.step}) comes after "
                f"episode {records[-1].episode} step {records[-1].step}; lines must be in order"
            )
        seen[rec.key] = line_no
        records.append(rec)
        offset += len(raw) + 1
    return _Scan(records=records, good_bytes=offset, torn=torn)


def check_inside(root: Path, path: Path) -> None:
    """Raise unless ``path`` (a file of the run folder ``root``), symlinks resolved, lies inside ``root``.

    Lines name paths relative to the run and without ``..``; this also catches a file, or a
    folder above it, replaced by a symlink to somewhere else.
    """
    real_root, real = Path(os.path.realpath(root)), Path(os.path.realpath(path))
    if real_root not in real.parents:
        raise RunFolderError(
            f"{path} leads outside the run folder {root} (through a symlink, to {real}); a run folder holds "
            f"its own files: copy the file into it instead of linking it"
        )


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, without decoding it; None for what is not a PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _check_files(root: Path, records: list[TransitionRecord], verify_digests: bool = False) -> None:
    """Every image a line names exists inside the run, has the size of its camera info (from the PNG
    header) and, with ``verify_digests``, the bytes the line's hash says."""
    checked: set[str] = set()
    sizes: dict[str, tuple[int, int] | None] = {}
    for rec in records:
        for role in ROLES:
            fr: FrameRecord = getattr(rec, role)
            for kind, rel in fr.paths.items():
                if rel not in sizes:
                    if not (root / rel).is_file():
                        raise RunFolderError(
                            f"{root / TRANSITIONS_FILE}: line {rec.line_no} ({rec.source}) names the missing "
                            f"image file {root / rel}"
                        )
                    check_inside(root, root / rel)
                    sizes[rel] = _png_size(root / rel)
                size = sizes[rel]
                if size is not None and size != (fr.camera.width, fr.camera.height):
                    raise RunFolderError(
                        f"{root / TRANSITIONS_FILE}: line {rec.line_no} ({rec.source}): the {role} {kind} image "
                        f"{root / rel} is {size[0]}x{size[1]} pixels, its camera info says "
                        f"{fr.camera.width}x{fr.camera.height}; the run folder is corrupt, collect it again"
                    )
                if verify_digests and rel not in checked:
                    img.read_checked(root / rel, fr.digests.get(kind), f"on line {rec.line_no} of {TRANSITIONS_FILE}")
                    checked.add(rel)


# --- reading ----------------------------------------------------------------------------


class RunReader:
    """Reads and validates a run folder; pixels are loaded only when asked for.

    ``records`` holds one :class:`TransitionRecord` per line (cheap); iterate the
    reader, or call :meth:`transition` / :meth:`load_frame`, to get the images.
    With ``allow_torn_tail`` a torn last line (a collection still running or
    killed) is skipped and described in ``warnings`` instead of raising.
    ``verify_digests`` (default on) checks each image's bytes against the hash on
    its line as it is loaded, so a swapped or corrupted file is an error naming
    it, not a silently wrong label; turning it off saves one sha256 per image.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        check_files: bool = True,
        verify_digests: bool = True,
        allow_torn_tail: bool = False,
    ) -> None:
        self.root = Path(root)
        self.meta = read_meta(self.root)
        scan = _scan_transitions(self.root, self.meta, allow_torn_tail)
        self.records: list[TransitionRecord] = scan.records
        self.warnings: list[str] = [f"{TRANSITIONS_FILE}: skipped {scan.torn}"] if scan.torn else []
        self.verify_digests = verify_digests
        if check_files:
            _check_files(self.root, self.records)

    @property
    def camera(self) -> CameraInfo:
        return self.meta.camera

    @property
    def backend(self) -> str:
        return self.meta.backend

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Transition]:
        for i in range(len(self.records)):
            yield self.transition(i)

    def transition(self, index: int) -> Transition:
        rec = self.records[index]
        return Transition(
            before=self.load_frame(rec, "before"),
            after=self.load_frame(rec, "after"),
            push=rec.push,
            result=rec.result,
            backend=rec.backend,
            seed=rec.seed,
            episode=rec.episode,
            step=rec.step,
        )

    def load_frame(self, rec: TransitionRecord, role: str = "before") -> Frame:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        fr: FrameRecord = getattr(rec, role)
        where = f"on line {rec.line_no} of {TRANSITIONS_FILE}"

        def load(kind: str) -> bytes:
            path = self.root / fr.paths[kind]
            check_inside(self.root, path)
            if self.verify_digests:
                return img.read_checked(path, fr.digests.get(kind), where)
            return img.read_checked(path, None)

        rgb = img.decode_rgb(load("rgb"), self.root / fr.paths["rgb"])
        depth = img.decode_depth(load("depth"), self.root / fr.paths["depth"])
        ids = img.decode_instance_ids(load("ids"), self.root / fr.paths["ids"]) if "ids" in fr.paths else None
        try:
            return Frame(rgb=rgb, depth=depth, camera=fr.camera, timestamp=fr.timestamp, instance_ids=ids)
        except ValueError as e:
            raise RunFolderError(f"{self.root}: {rec.source} {role} images do not fit the camera ({e})") from None


# --- writing ----------------------------------------------------------------------------


@dataclass
class ResumeReport:
    """What :meth:`RunWriter.resume` found and repaired."""

    completed: int  # transitions kept
    torn_line: str = ""  # the dropped last line's problem, "" if none
    orphans_removed: list[str] = field(default_factory=list)  # relative paths

    def describe(self) -> str:
        parts = [f"{self.completed} transitions on disk"]
        if self.torn_line:
            parts.append(f"dropped a torn last line ({self.torn_line})")
        if self.orphans_removed:
            parts.append(f"removed {len(self.orphans_removed)} image files no line names")
        return "; ".join(parts)


class RunWriter:
    """Appends transitions to a run folder, crash-safely and strictly in (episode, step) order."""

    def __init__(self, root: Path, meta: RunMeta, records: list[TransitionRecord]) -> None:
        self.root = root
        self.meta = meta
        self._meta_camera = meta.camera.to_dict()
        self.records = records  # every transition on disk, in order
        self._file = open(root / TRANSITIONS_FILE, "ab")
        self._made_dirs: set[Path] = set()

    # -- opening

    @classmethod
    def create(cls, root: str | os.PathLike, meta: RunMeta) -> "RunWriter":
        """Start a new run; refuses to touch a folder that already holds anything."""
        root = Path(root)
        cls.check_new(root)
        root.mkdir(parents=True, exist_ok=True)
        (root / IMAGES_DIR).mkdir(exist_ok=True)
        (root / TRANSITIONS_FILE).touch()
        # meta.json last: a folder with meta.json is a run a reader can open.
        files.write_atomic(root / META_FILE, (json.dumps(meta.to_dict(), indent=2, allow_nan=False) + "\n").encode())
        files.fsync_dir(root.resolve().parent)  # the run folder's own entry
        return cls(root, meta, [])

    @staticmethod
    def check_new(root: str | os.PathLike) -> None:
        """Raise unless ``root`` is absent or an empty folder."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise RunFolderError(f"{root} is a file, not a folder; choose another --out")
        if root.exists() and any(p.name != LOCK_FILE for p in root.iterdir()):
            raise RunFolderError(
                f"{root} already exists and is not empty; pass --resume to continue that run, "
                f"or choose another --out"
            )

    @staticmethod
    def unstarted(root: str | os.PathLike) -> bool:
        """True when ``root`` holds only what :meth:`create` makes before meta.json: a start cut short."""
        root = Path(root)
        if not root.is_dir() or (root / META_FILE).is_file():
            return False
        return all(p.name in _CREATE_LEFTOVERS for p in root.iterdir())

    @staticmethod
    def clear_unstarted(root: str | os.PathLike) -> None:
        """Delete what a start cut short left (after :meth:`unstarted` said so), so that it starts again."""

        root = Path(root)
        for p in root.iterdir():
            if p.name == LOCK_FILE:
                continue
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    @staticmethod
    def discard_unwritten(root: str | os.PathLike) -> bool:
        """Delete what :meth:`create` made when no transition was written since (the command failed while
        its backend started, say), so that the folder is as it was before; True when it did.

        Kept: a run with a line in transitions.jsonl or a staged episode (``--resume`` goes on from
        them), and a folder holding anything :meth:`create` does not make.
        """
        root = Path(root)
        made = _CREATE_LEFTOVERS | {META_FILE}
        if not root.is_dir() or not all(p.name in made for p in root.iterdir()):
            return False
        tpath, staging = root / TRANSITIONS_FILE, root / STAGING_DIR
        if (tpath.is_file() and tpath.stat().st_size > 0) or (staging.is_dir() and any(staging.iterdir())):
            return False
        RunWriter.clear_unstarted(root)
        return True

    @classmethod
    def resume(cls, root: str | os.PathLike, *, verify_digests: bool = True) -> tuple["RunWriter", ResumeReport]:
        """Reopen a run: drop a torn last line, remove orphan images, keep everything completed.

        ``verify_digests`` checks every kept image against its stored hash first.
        """
        root = Path(root)
        meta = read_meta(root)
        tpath = root / TRANSITIONS_FILE
        if not tpath.exists():
            tpath.touch()
        scan = _scan_transitions(root, meta, allow_torn_tail=True)
        if scan.torn:
            with open(tpath, "r+b") as f:
                f.truncate(scan.good_bytes)
                f.flush()
                os.fsync(f.fileno())
        _check_files(root, scan.records, verify_digests)
        orphans = _remove_orphans(root, scan.records)
        report = ResumeReport(completed=len(scan.records), torn_line=scan.torn, orphans_removed=orphans)
        return cls(root, meta, scan.records), report

    # -- writing

    @property
    def last_key(self) -> tuple[int, int] | None:
        return self.records[-1].key if self.records else None

    def write(self, t: Transition | EncodedTransition) -> TransitionRecord:
        """Write one transition: its images first, then its line; both durable on return."""
        enc = t if isinstance(t, EncodedTransition) else encode_transition(t)
        key = (enc.episode, enc.step)
        if self.last_key is not None and key <= self.last_key:
            raise RunFolderError(
                f"{self.root}: episode {enc.episode} step {enc.step} is not after the last transition "
                f"on disk (episode {self.last_key[0]} step {self.last_key[1]}); transitions are append-only"
            )
        prev = self.records[-1] if self.records else None
        line = self._build_line(enc, prev, write_files=True)
        data = (_dump_json(line) + "\n").encode()
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        rec = _parse_line(line, len(self.records) + 1, self.meta)
        self.records.append(rec)
        return rec

    def _build_line(
        self, enc: EncodedTransition, prev: TransitionRecord | None, write_files: bool
    ) -> dict[str, Any]:
        """The json line for ``enc`` and, with ``write_files``, its image files written and synced.

        The "before" images reuse ``prev``'s "after" files (the previous step of the
        same episode) when the bytes are the same.
        """
        if prev is not None and prev.episode != enc.episode:
            prev = None
        written: list[Path] = []
        frames = {}
        for role in ROLES:
            ef: EncodedFrame = getattr(enc, role)
            paths, digests = {}, {}
            for kind, data in ef.png.items():
                dig = img.digest(data)
                if role == "before" and prev is not None and prev.after.digests.get(kind) == dig:
                    paths[kind] = prev.after.paths[kind]
                else:
                    paths[kind] = image_path(enc.episode, enc.step, role, kind)
                    if write_files:
                        written.append(self._write_image(paths[kind], data))
                digests[kind] = dig
            frames[role] = _frame_line(paths, digests, ef, self._meta_camera)
        if written:
            files.fsync_dir(written[0].parent)
        return {**enc.header(), "before": frames["before"], "after": frames["after"]}

    def _write_image(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        if path.parent not in self._made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            files.fsync_dir(path.parent.parent)
            self._made_dirs.add(path.parent)
        files.write_atomic(path, data, sync_dir=False)
        return path

    def mismatch(self, enc: EncodedTransition) -> str:
        """How ``enc`` differs from the same (episode, step) on disk; "" when it is the same.

        Used on resume, where episodes are replayed to restore the scene: the
        replayed steps must be what was written before. Timestamps are not compared.
        """
        index = next((i for i, r in enumerate(self.records) if r.key == (enc.episode, enc.step)), None)
        if index is None:
            return f"episode {enc.episode} step {enc.step} is not on disk"
        on_disk = self.records[index]
        prev = self.records[index - 1] if index > 0 else None
        again = _parse_line(self._build_line(enc, prev, write_files=False), on_disk.line_no, self.meta)
        return _describe_difference(on_disk, again)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove_orphans(root: Path, records: list[TransitionRecord]) -> list[str]:
    """Delete image files (and temp files) under images/ that no line names: leftovers of a crash."""
    named = {p for rec in records for role in ROLES for p in getattr(rec, role).paths.values()}
    removed = []
    images_dir = root / IMAGES_DIR
    if not images_dir.is_dir():
        return removed
    for path in sorted(images_dir.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            if rel not in named:
                path.unlink()
                removed.append(rel)
    return removed


def _describe_difference(a: TransitionRecord, b: TransitionRecord) -> str:
    if (a.seed, a.backend) != (b.seed, b.backend):
        return f"seed/backend {a.seed}/{a.backend} on disk, {b.seed}/{b.backend} now"
    if a.push != b.push:
        return f"push {a.push} on disk, {b.push} now"
    if a.result != b.result:
        return f"result {a.result.to_dict()} on disk, {b.result.to_dict()} now"
    for role in ROLES:
        fa, fb = getattr(a, role), getattr(b, role)
        if fa.digests != fb.digests or fa.paths != fb.paths:
            differ = sorted(k for k in set(fa.digests) | set(fb.digests) if fa.digests.get(k) != fb.digests.get(k))
            return f"{role} images differ ({', '.join(differ) or 'paths'})"
        if fa.camera.to_dict() != fb.camera.to_dict():
            return f"{role} camera differs"
    return ""
