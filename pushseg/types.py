"""The contracts between the parts of pushseg.

Everything that crosses a stage boundary (backend -> env -> data -> labeling ->
training) is one of these dataclasses. They hold numpy arrays and plain values
only, so that the simulation and the real robot produce the same things.

Conventions
-----------
* Images are row-major, pixel (u, v) = (column, row), origin at the top left.
* ``CameraInfo.T_base_camera`` maps points from the camera *optical* frame
  (z forward, x right, y down) into the robot's ``base_link`` frame
  (x forward, y left, z up), i.e. ``p_base = T_base_camera @ p_camera``.
* ``Push.angle`` is the push direction in the table plane, in radians, measured
  in ``base_link`` counter-clockwise from +x (away from the robot) towards +y
  (the robot's left). So 0 pushes away from the robot, pi/2 pushes to its left.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CameraInfo:
    """A pinhole camera: image size, intrinsics and where it sits on the robot."""

    width: int
    height: int
    K: np.ndarray  # (3, 3) float64
    T_base_camera: np.ndarray  # (4, 4) float64, optical frame -> base_link
    frame_id: str = "head_mount_kinect2_rgb_optical_frame"

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64)
        T = np.asarray(self.T_base_camera, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"CameraInfo.K must be 3x3, got shape {K.shape}")
        if T.shape != (4, 4):
            raise ValueError(f"CameraInfo.T_base_camera must be 4x4, got shape {T.shape}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"CameraInfo size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "T_base_camera", T)

    def __eq__(self, other: object) -> bool:
        # Array-aware (the generated __eq__ would compare arrays ambiguously).
        if not isinstance(other, CameraInfo):
            return NotImplemented
        return (
            (self.width, self.height, self.frame_id) == (other.width, other.height, other.frame_id)
            and np.array_equal(self.K, other.K)
            and np.array_equal(self.T_base_camera, other.T_base_camera)
        )

    __hash__ = None  # mutable arrays inside

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "T_base_camera": self.T_base_camera.tolist(),
            "frame_id": self.frame_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CameraInfo":
        return cls(
            width=int(d["width"]),
            height=int(d["height"]),
            K=np.array(d["K"], dtype=np.float64),
            T_base_camera=np.array(d["T_base_camera"], dtype=np.float64),
            frame_id=str(d.get("frame_id", "head_mount_kinect2_rgb_optical_frame")),
        )


@dataclass
class Frame:
    """One RGB-D image. ``instance_ids`` is simulation ground truth (0 = table or background)."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres, NaN where there is no reading
    camera: CameraInfo
    timestamp: float = 0.0
    instance_ids: np.ndarray | None = None  # (H, W) uint16, simulation only

    def __post_init__(self) -> None:
        h, w = self.camera.height, self.camera.width
        if self.rgb.shape != (h, w, 3) or self.rgb.dtype != np.uint8:
            raise ValueError(
                f"Frame.rgb must be uint8 of shape {(h, w, 3)}, got {self.rgb.dtype} {self.rgb.shape}"
            )
        if self.depth.shape != (h, w):
            raise ValueError(f"Frame.depth must have shape {(h, w)}, got {self.depth.shape}")
        if self.depth.dtype != np.float32:
            self.depth = self.depth.astype(np.float32)
        if self.instance_ids is not None and self.instance_ids.shape != (h, w):
            raise ValueError(
                f"Frame.instance_ids must have shape {(h, w)}, got {self.instance_ids.shape}"
            )

    def __eq__(self, other: object) -> bool:
        # Bit-for-bit, NaN equal to NaN: what "the same seed gives the same frame" means.
        if not isinstance(other, Frame):
            return NotImplemented
        ids_equal = (self.instance_ids is None and other.instance_ids is None) or (
            self.instance_ids is not None
            and other.instance_ids is not None
            and np.array_equal(self.instance_ids, other.instance_ids)
        )
        return (
            self.camera == other.camera
            and self.timestamp == other.timestamp
            and np.array_equal(self.rgb, other.rgb)
            and np.array_equal(self.depth, other.depth, equal_nan=True)
            and ids_equal
        )

    __hash__ = None


@dataclass(frozen=True)
class Push:
    """A push: start pixel, direction in the table plane (see module doc), length in metres."""

    u: float
    v: float
    angle: float
    length: float

    def as_array(self) -> np.ndarray:
        return np.array([self.u, self.v, self.angle, self.length], dtype=np.float32)

    @classmethod
    def from_array(cls, a: np.ndarray) -> "Push":
        a = np.asarray(a, dtype=np.float64).reshape(-1)
        return cls(float(a[0]), float(a[1]), float(a[2]), float(a[3]))

    def to_dict(self) -> dict[str, float]:
        return {"u": self.u, "v": self.v, "angle": self.angle, "length": self.length}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Push":
        return cls(float(d["u"]), float(d["v"]), float(d["angle"]), float(d["length"]))


class Outcome(str, enum.Enum):
    EXECUTED = "executed"
    REJECTED = "rejected"


@dataclass(frozen=True)
class PushResult:
    """What a backend did with a push. ``reason`` explains a rejection."""

    outcome: Outcome
    reason: str = ""
    start_base: tuple[float, float, float] | None = None  # resolved 3D start, base_link
    end_base: tuple[float, float, float] | None = None
    motions: tuple["ObjectMotion", ...] = ()  # simulation ground truth only

    @property
    def executed(self) -> bool:
        return self.outcome == Outcome.EXECUTED

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "reason": self.reason,
            "start_base": list(self.start_base) if self.start_base is not None else None,
            "end_base": list(self.end_base) if self.end_base is not None else None,
            "motions": [m.to_dict() for m in self.motions],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PushResult":
        return cls(
            outcome=Outcome(d["outcome"]),
            reason=str(d.get("reason", "")),
            start_base=tuple(d["start_base"]) if d.get("start_base") is not None else None,
            end_base=tuple(d["end_base"]) if d.get("end_base") is not None else None,
            motions=tuple(ObjectMotion.from_dict(m) for m in d.get("motions", [])),
        )


@dataclass(frozen=True)
class ObjectMotion:
    """Simulation ground truth: how far one object moved during a push."""

    instance_id: int
    name: str
    translation: float  # metres, in the table plane
    rotation: float  # radians, about the vertical axis

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "translation": self.translation,
            "rotation": self.rotation,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ObjectMotion":
        return cls(int(d["instance_id"]), str(d["name"]), float(d["translation"]), float(d["rotation"]))


# An object counts as moved when it translates or turns by more than this.
MOVED_TRANSLATION_M = 0.005
MOVED_ROTATION_RAD = 0.05


@dataclass
class Transition:
    """One interaction: the frame before, the push, what happened, the frame after."""

    before: Frame
    after: Frame
    push: Push
    result: PushResult
    backend: str
    seed: int | None = None
    episode: int = 0
    step: int = 0

    @property
    def moved_ids(self) -> list[int]:
        """Instance ids that moved (simulation ground truth; empty on the robot)."""
        return [
            m.instance_id
            for m in self.result.motions
            if m.translation > MOVED_TRANSLATION_M or abs(m.rotation) > MOVED_ROTATION_RAD
        ]


@dataclass
class Label:
    """A self-made mask from one transition, or the reason there is none."""

    mask: np.ndarray | None  # (H, W) bool in the *before* image; None when rejected
    score: float  # quality in [0, 1]; 0 when rejected
    reason: str = ""  # "" when accepted, else a rejection code
    source: str = ""  # which transition it came from, e.g. "episode 3 step 1"

    @property
    def accepted(self) -> bool:
        return self.mask is not None and not self.reason
