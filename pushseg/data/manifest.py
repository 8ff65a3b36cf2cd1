"""Outputs committed as a whole, and "already done" proven by digests.

Run folders are safe by their lock, staging and per-image digests. Every other
output (a labels json with its report, summary and settings; a model folder; an
evaluation folder; a scenes folder) is made safe here, in three parts:

* **One writer.** :class:`OutputCommit` holds a lock on the output for as long as
  it is written (``OUT/.lock`` for a folder, ``.<name>.lock`` beside a file), so a
  second writer stops at once and is told the holder's PID, as for run folders.
* **Whole or not at all.** The files of the output are staged beside their places
  (``<name>.tmp``) and renamed into place together at the end; the manifest goes
  last. A kill or a full disk while staging leaves the old output complete; a kill
  during the renames (microseconds) leaves no manifest, i.e. no output that anyone
  trusts. Orphan temporaries of a killed writer are removed by the next writer.
  Files that a stage writes in place while it works (a training's ``model.pt``)
  are taken into the commit with :meth:`OutputCommit.adopt`; the manifest is
  removed when such work starts (:meth:`OutputCommit.writing_in_place`), so a
  half-trained folder is never "done".
* **Done only when provably so.** The manifest (``manifest.json`` in a folder,
  ``<stem>_manifest.json`` beside a file) records the sha256 of every file of the
  output and of every input it was made from. :func:`verify` reuses an output only
  when its files and inputs still have those digests; a mixed, partly overwritten
  or hand-edited output, or one made from an input that has since changed, is made
  again.

The manifest holds no times, hosts or PIDs: identical runs give identical
manifests, so a folder stays byte-identical for a seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from pushseg import files
from pushseg.data.lock import FolderLock
from pushseg.errors import RunFolderError

SCHEMA = "pushseg-output/1"
FOLDER_MANIFEST = "manifest.json"
CHUNK = 1 << 20
log = logging.getLogger("pushseg")

# A folder input is digested through the files that describe its content: a run's lines
# hold the sha256 of every image, a scenes json that of every image it names.
FOLDER_INDEX = ("meta.json", "transitions.jsonl", "annotations.json", FOLDER_MANIFEST)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def input_digest(path: str | os.PathLike) -> str:
    """sha256 of an input: a file's bytes; a folder's index files, or else all its files (names and bytes)."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    if not p.is_dir():
        raise RunFolderError(f"{p}: input does not exist (it was moved or deleted)")
    index = [p / name for name in FOLDER_INDEX if (p / name).is_file()]
    members = index or sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith("."))
    h = hashlib.sha256()
    for q in members:
        h.update(str(q.relative_to(p)).encode() + b"\0" + sha256_file(q).encode())
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class OutputPlace:
    """Where an output lives: its manifest, its lock, and the names its files may take."""

    manifest: Path
    lock_folder: Path
    lock_name: str
    kind: str  # the stage that makes it: "label", "finetune", "evaluate", ...

    @staticmethod
    def folder(out: str | os.PathLike, kind: str) -> "OutputPlace":
        out = Path(out)
        return OutputPlace(out / FOLDER_MANIFEST, out, ".lock", kind)

    @staticmethod
    def beside(out: str | os.PathLike, kind: str) -> "OutputPlace":
        """A file output (``labels.json``) whose siblings are ``<stem>_*``."""
        out = Path(out)
        return OutputPlace(out.with_name(out.stem + "_manifest.json"), out.parent, f".{out.name}.lock", kind)

    def read(self) -> dict[str, Any] | None:
        """The manifest, or None where there is none (or it is not one: then nothing is trusted)."""
        try:
            doc = json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) and doc.get("schema") == SCHEMA else None


def _inputs_doc(inputs: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {k: {"path": str(Path(v).resolve()), "sha256": input_digest(v)}
            for k, v in inputs.items() if isinstance(v, (str, os.PathLike)) and str(v)}


def verify(place: OutputPlace, inputs: dict[str, Any]) -> bool:
    """True when ``place`` holds a complete output made from ``inputs`` as they are now.

    An output of another command raises; anything else that does not prove the output
    complete (other inputs, changed inputs, missing or changed files) returns False,
    with the reason logged, and the caller makes it again.
    """
    doc = place.read()
    if doc is None:
        return False
    if doc.get("kind") != place.kind:
        raise RunFolderError(f"{place.manifest.parent}: holds the output of `pushseg {doc.get('kind')}`, not of "
                             f"`pushseg {place.kind}`; choose another output path")
    for name, now in _inputs_doc(inputs).items():
        then = doc.get("inputs", {}).get(name)
        if then is None:
            continue  # an optional input the output was made without is compared by the settings record
        if then.get("path") != now["path"]:
            log.warning("%s: made from %s %s, not from %s; making it again", place.manifest, name, then.get("path"),
                        now["path"])
            return False
        if then.get("sha256") != now["sha256"]:
            log.warning("%s: its %s %s changed since it was made; making it again", place.manifest, name, now["path"])
            return False
    root = place.manifest.parent
    for rel, digest in doc.get("files", {}).items():
        f = root / rel
        if not f.is_file() or sha256_file(f) != digest:
            log.warning("%s: %s is missing or not the file it lists (a mixed or edited output); making it again",
                        place.manifest, f)
            return False
    return True


class OutputCommit:
    """Write one output as a whole: ``with OutputCommit(place, inputs) as c: c.put(...); c.commit()``.

    Entering takes the lock, removes orphan temporaries, and records the inputs'
    digests (what is read is what is recorded). :meth:`put` stages a file,
    :meth:`adopt` takes one written in place, :meth:`commit` renames the staged
    files into place and writes the manifest. Leaving without :meth:`commit`
    (an error, a full disk) removes the staged files and leaves the old output as
    it was.
    """

    def __init__(self, place: OutputPlace, inputs: dict[str, Any] | None = None, *, command: str = "") -> None:
        self.place = place
        self.root = place.manifest.parent
        self.inputs = inputs or {}
        self.lock = FolderLock(place.lock_folder, command, lock_name=place.lock_name)
        self._staged: dict[Path, Path] = {}
        self._adopted: list[Path] = []
        self._inputs_doc: dict[str, dict[str, str]] = {}

    def __enter__(self) -> "OutputCommit":
        self.lock.acquire()
        try:
            old = self.place.read()
            if old is not None and old.get("kind") != self.place.kind:
                raise RunFolderError(f"{self.root}: holds the output of `pushseg {old.get('kind')}`; writing the "
                                     f"output of `pushseg {self.place.kind}` there would mix them; choose another path")
            self._remove_orphans()
            self._inputs_doc = _inputs_doc(self.inputs)
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for tmp in self._staged.values():
                self._unlink(tmp)
        finally:
            self.lock.release()

    def _remove_orphans(self) -> None:
        """Temporaries left by a killed writer of this output (nobody else may write them: we hold the lock)."""
        if not self.root.is_dir():
            return
        prefix = "" if self.place.lock_name == ".lock" else self.place.manifest.name.removesuffix("_manifest.json")
        for p in self.root.glob(f"{prefix}*{files.TMP_SUFFIX}"):
            if p.is_file():
                log.info("%s: removing %s, left by an interrupted writer", self.root, p.name)
                self._unlink(p)

    @staticmethod
    def _unlink(p: Path) -> None:
        try:
            p.unlink()
        except FileNotFoundError:
            pass

    def writing_in_place(self) -> None:
        """Say that the work about to start writes files of the output in place (a training's
        ``model.pt``): the old manifest goes at once, so an interrupted output is "not done"."""
        self._unlink(self.place.manifest)

    def put(self, path: str | os.PathLike, data: bytes | str) -> Path:
        """Stage ``data`` for ``path`` (a file of the output); it appears there at :meth:`commit`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + files.TMP_SUFFIX)
        files.write_staged(tmp, data.encode("utf-8") if isinstance(data, str) else data)
        self._staged[path] = tmp
        return path

    def put_json(self, path: str | os.PathLike, obj: Any, indent: int | None = 1) -> Path:
        return self.put(path, json.dumps(obj, indent=indent) + "\n")

    def adopt(self, path: str | os.PathLike) -> Path:
        """Count ``path``, already written in place, as a file of the output."""
        self._adopted.append(Path(path))
        return Path(path)

    def commit(self, **about: Any) -> Path:
        """Rename the staged files into place, then write the manifest (last: it marks the output whole)."""
        self._unlink(self.place.manifest)  # from here until the new one exists, nothing is trusted
        staged, self._staged = self._staged, {}
        for path, tmp in staged.items():
            os.replace(tmp, path)
        listed = sorted({*self._adopted, *staged})
        for folder in {p.parent for p in listed} | {self.root}:
            files.fsync_dir(folder)
        doc = {
            "schema": SCHEMA,
            "kind": self.place.kind,
            "files": {str(p.relative_to(self.root)): sha256_file(p) for p in listed},
            "inputs": self._inputs_doc,
            **about,
        }
        files.write_json_atomic(self.place.manifest, doc)
        return self.place.manifest
