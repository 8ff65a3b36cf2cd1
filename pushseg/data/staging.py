"""Finished transitions that wait for their turn, kept on disk instead of in memory.

With several workers, episode 5 may finish while episode 3 is still running;
transitions.jsonl must stay in (episode, step) order, so episode 5 waits. It
waits here, in ``RUN/staging/e00005/``: one file per transition (written
atomically, as soon as the worker hands it over) and a ``done`` file when the
episode is complete. A kill therefore loses only the pushes in flight. When the
episode's turn comes its files are moved into the run proper and the folder is
deleted; a finished run has no ``staging/``.

On resume, a complete staged episode is written as it is; a partial one is run
again from its seed (the simulation is deterministic), as the last episode on
disk is.

Files are json with the PNG bytes in base64: readable by any tool, and never
unpickled.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from pushseg import files
from pushseg.data.run import STAGING_DIR, EncodedFrame, EncodedTransition
from pushseg.errors import RunFolderError
from pushseg.types import CameraInfo

DONE_FILE = "done"


def _frame_to_json(f: EncodedFrame) -> dict:
    return {
        "timestamp": f.timestamp,
        "camera": f.camera.to_dict(),
        "png": {k: base64.b64encode(v).decode("ascii") for k, v in f.png.items()},
    }


def _frame_from_json(d: dict) -> EncodedFrame:
    return EncodedFrame(
        png={k: base64.b64decode(v) for k, v in d["png"].items()},
        timestamp=float(d["timestamp"]),
        camera=CameraInfo.from_dict(d["camera"]),
    )


def encode_staged(enc: EncodedTransition) -> bytes:
    d = {**enc.header(), "before": _frame_to_json(enc.before), "after": _frame_to_json(enc.after)}
    return json.dumps(d, allow_nan=False).encode()


def decode_staged(data: bytes) -> EncodedTransition:
    d = json.loads(data.decode("utf-8"))
    return EncodedTransition(
        episode=int(d["episode"]),
        step=int(d["step"]),
        seed=d["seed"],
        backend=str(d["backend"]),
        push=dict(d["push"]),
        result=dict(d["result"]),
        before=_frame_from_json(d["before"]),
        after=_frame_from_json(d["after"]),
    )


class Staging:
    """``RUN/staging``: per-episode folders of finished transitions not yet in transitions.jsonl."""

    def __init__(self, run_root: str | Path) -> None:
        self.root = Path(run_root) / STAGING_DIR

    def _dir(self, episode: int) -> Path:
        return self.root / f"e{episode:05d}"

    def put(self, enc: EncodedTransition) -> None:
        d = self._dir(enc.episode)
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            files.fsync_dir(self.root)
        files.write_atomic(d / f"s{enc.step:04d}.json", encode_staged(enc))

    def done(self, episode: int, count: int) -> None:
        d = self._dir(episode)
        d.mkdir(parents=True, exist_ok=True)
        files.write_atomic(d / DONE_FILE, f"{count}\n".encode())

    def complete(self, episode: int) -> list[EncodedTransition] | None:
        """The episode's transitions in step order if all of them are staged and it is done, else None."""
        d = self._dir(episode)
        try:
            count = int((d / DONE_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        files = [d / f"s{s:04d}.json" for s in range(count)]
        if not all(f.is_file() for f in files):
            return None
        out = []
        for f in files:
            try:
                out.append(decode_staged(f.read_bytes()))
            except (ValueError, KeyError, TypeError) as e:
                raise RunFolderError(f"staged transition {f} is unreadable ({e}); delete {d} and resume") from None
        return out

    def load(self, episode: int) -> list[EncodedTransition]:
        """Whatever is staged for the episode, in step order (complete or not)."""
        d = self._dir(episode)
        if not d.is_dir():
            return []
        return [decode_staged(f.read_bytes()) for f in sorted(d.glob("s*.json"))]

    def drop(self, episode: int) -> None:
        d = self._dir(episode)
        if d.exists():
            shutil.rmtree(d)

    def episodes(self) -> list[int]:
        if not self.root.is_dir():
            return []
        out = []
        for d in self.root.iterdir():
            if d.is_dir() and d.name.startswith("e") and d.name[1:].isdigit():
                out.append(int(d.name[1:]))
        return sorted(out)

    def count(self) -> int:
        """Transitions staged now (for progress and benchmarks)."""
        if not self.root.is_dir():
            return 0
        return sum(1 for _ in self.root.glob("e*/s*.json"))

    def remove_if_empty(self) -> None:
        if self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()
