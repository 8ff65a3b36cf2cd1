"""Every threshold of the labeler, in one frozen dataclass.

The quality gates are in metres (sizes and motions from depth and intrinsics,
metric.py), so one setting holds for any camera. The other pixel values (flow
noise, superpixel size, margins) are given at the Kinect2 "qhd" resolution
(960x540) the paper used and scale with the image: lengths by
``s = sqrt(W * H / (960 * 540))``, areas by ``s ** 2``. Where the paper states a value it is the default; where
only the reference implementation has one, that is the default; the rest were
chosen on simulated pushes and say so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from pushseg.errors import InputError

# The PR2 head camera's metres per pixel at the table (metric.py; kept here so
# config has no imports from the rest of the labeler).
REFERENCE_M_PER_PX = 1.033 / 540.686

REFERENCE_WIDTH = 960
REFERENCE_HEIGHT = 540

FLOW_METHODS = ("dis", "farneback")
LABEL_METHODS = ("flow", "framediff")
DIS_PRESETS = ("ultrafast", "fast", "medium")


@dataclass(frozen=True)
class LabelConfig:
    # --- which labeler ---------------------------------------------------------------
    method: str = "flow"  # "flow" (the paper) or "framediff" (Pathak et al. 2018 baseline)
    use_table_filter: bool = True  # paper step 2; False is the "without table filtering" ablation
    use_action_prior: bool = True  # paper step 5; False takes the largest moving segment

    # --- the after image made comparable with the before image (photometric.py) -------
    # Per-channel histogram matching of the after image onto the before image:
    # undoes auto exposure and white balance changes between the two shots.
    normalize_colours: bool = True
    # Shift the after image back by the global translation between the images
    # (phase correlation): a head that settled a pixel or two differently.
    # Shifts under the minimum are sub-pixel noise and left alone; over the
    # maximum they are not a settling head (the push would be suspect anyway).
    align_head_shift: bool = True
    # Both in pixels of the reference camera (the Kinect2 at qhd, fx 540.7), scaled
    # by the focal length: a head turn of 0.65 mrad and 11 mrad on any camera.
    min_head_shift_px: float = 0.35  # smaller head shifts are left alone
    max_head_shift_px: float = 6.0  # larger ones are not undone

    # --- optical flow (paper: FlowNet2; here OpenCV, see flow.py) ---------------------
    flow: str = "dis"  # optical flow method: "dis" (OpenCV DIS) or "farneback"
    dis_preset: str = "medium"  # DISOPTICAL_FLOW_PRESET_MEDIUM
    # Flow is computed on images resized by this factor and upsampled: objects
    # move tens of pixels, so half resolution keeps the motion and costs 1/4.
    flow_scale: float = 0.5
    # Push guided flow (flow.guided_flow): the flow is also computed around the image
    # motion the push would give its object (the fractions of its length below), and
    # each pixel where the plain flow fails keeps what matches best. Only for pushes
    # whose whole length spans more than flow_guide_min_px in the image (px at 960x540;
    # 70 px is about the longest motion DIS followed on simulated pushes). A narrow
    # camera at 0.6 m sees a 5 cm push move 90 px, beyond what DIS follows on real
    # images. See the labeling README for what was measured.
    flow_guided: bool = True
    flow_guide_min_px: float = 70.0  # pushes spanning fewer image pixels (at 960x540) are not guided
    flow_guide_fractions: tuple[float, ...] = (0.5, 1.0)  # shares of the push length tried as motions

    # --- table plane (RANSAC on the before depth) -------------------------------------
    # A pixel less than this high above the fitted plane is table; its flow is
    # zeroed. 5 mm: above Kinect2 depth noise at 1 m (~2 mm), below the
    # lowest object side worth keeping.
    table_height_m: float = 0.005
    # The table is most of the head camera's view: with it at >= 50 % of the
    # valid pixels, 60 draws all miss it with probability (1 - 0.5^3)^60 < 1e-3.
    ransac_iterations: int = 60
    # Every 8th depth pixel: the table search bins the points into cells, and
    # at every 10th pixel a cluttered table's patch can fall apart so that a
    # lower surface (a shelf, the floor) wins; on 49 robot-profile pushes every
    # 10th pixel found a lower surface 3 times, every 8th or 6th never.
    ransac_stride: int = 8  # fit the plane on every n-th pixel in each direction
    ransac_inlier_m: float = 0.008  # metres from the plane that count as an inlier

    # Pixels without a depth reading within this many pixels of a reading take
    # the side (table or not) of their nearest reading: the Kinect2 loses depth
    # along depth edges, and on 6 robot-profile labels 80-90 % of the pixels
    # wrongly in the mask were such pixels on the table side.
    edge_hole_band_px: float = 3.0

    # --- segments ----------------------------------------------------------------------
    # Absolute motion threshold: slower pixels are still and never part of a segment.
    motion_threshold_px: float = 1.5
    # A pixel also counts as moving when its colour changed this much (0-255)
    # between the images: where an object moved further than DIS can follow
    # (more than its own size), the flow fades but the pixel now shows table.
    use_change_cue: bool = True
    # Work happens in the box around the moving pixels, grown by this margin.
    roi_margin_px: float = 40.0
    # Superpixels over the pixels above the table: about this many pixels each
    # (at 960x540), on features (u, v) plus CIELAB colour times the weight, so
    # that they follow both motion and object edges.
    superpixel_area_px: float = 150.0
    # At most this many per connected region (the reference used 400 per image):
    # only huge regions, e.g. without the table filter, reach it; the normalized
    # cut's eigen-solve grows fast with the node count.
    max_superpixels: int = 300
    superpixel_color_weight: float = 0.5  # weight of CIELAB colour against flow in the superpixel features
    slic_compactness: float = 5.0  # SLIC compactness: higher gives rounder superpixels
    # A superpixel moves when at least this share of its pixels does.
    superpixel_moving_frac: float = 0.3
    # Region graph weights exp(-d^2 / sigma) for mean-flow distance d in pixels.
    # No value in the paper; 50 px^2 (weight 0.14 at 10 px apart) was chosen on
    # simulated pushes of an ad-hoc policy, not on the benchmark's pushes:
    # smaller splits one object whose flow DIS smears, larger merges neighbours.
    ncut_sigma_px2: float = 50.0
    ncut_thresh: float = 0.02  # reference: 0.001 on colour similarities
    ncut_num_cuts: int = 10  # reference value

    # --- quality gates -------------------------------------------------------------------
    # In metres (metric.py): the same object and motion give the same decision on
    # any camera. Defaults are the reference implementation's pixel values at the
    # Kinect2's qhd resolution, converted at the PR2 head's 1.03 m to the table
    # (1.91 mm per pixel).
    # Paper: std of flow magnitude in the segment above 15 px (2.9 cm there); here
    # the std of each pixel's motion in metres (flow length times z / f).
    rotation_std_m: float = 0.029
    # Paper: mean flow magnitude "in the image" above 7 px discards the push; here the
    # sum over the image of area times motion of everything above the table
    # (m^2 * m): 7 px over the whole qhd image at 1.03 m. See gates.py for why a sum.
    large_motion_m3: float = 0.025
    # A label's object must have moved at least this far on average (gates.py,
    # ``small_motion``): below 5 mm, where the simulation counts an object as moved,
    # and far above what flow noise and a slightly moved camera give (< 1 mm).
    min_motion_m: float = 0.003
    # Masks seen face-on smaller or larger than this (reference implementation: 100 px
    # and 2.5 % of the qhd image, i.e. 3.6 cm^2 and 470 cm^2 at 1.03 m).
    min_area_m2: float = 3.6e-4  # smallest mask area seen face-on, m^2
    max_area_m2: float = 0.047  # largest mask area seen face-on, m^2
    # Action prior fallback: nearest segment within this distance of the push pixel
    # (20 px at qhd and 1.03 m), at the push pixel's depth.
    prior_radius_m: float = 0.038
    # Segments smaller than this at 960x540 are specks of flow noise, never a mask
    # (a quarter of it in segments.py); scales with the image like the other pixel values.
    min_area_px: float = 100.0
    # Labels whose quality score (gates.quality_score) is below this are rejected
    # as ``low_score``; a label of score 0 (no evidence at all that it is one whole
    # moved object) is rejected whatever this says.
    min_score: float = 0.0

    # --- episode labels (episodes.py) -----------------------------------------------------
    # Carry every accepted mask through the images of its episode (several
    # masks per image) instead of one mask per push on its before image.
    episode_labels: bool = False
    # A mask counts as disturbed by a push when more than this share of it
    # moved, was covered or changed colour; a moved mask must move as a whole
    # (all but this share).
    episode_disturbed_frac: float = 0.1
    # A carried mask is dropped when the flow takes more than this share of it out of view.
    episode_left_view_frac: float = 0.1
    # ... or when its area changes by more than this factor (a rigid object
    # seen from the same head keeps its area within perspective changes).
    episode_max_area_change: float = 1.4
    # Two masks on one image overlapping by more than this share of the
    # smaller: the one carried further is dropped; less: the shared pixels are
    # removed from it.
    episode_overlap_frac: float = 0.05
    # When the flow loses a pushed object (it moved further than DIS follows),
    # it is looked for by its looks this far around its old place (px at 960x540).
    episode_search_px: float = 120.0

    # --- frame differencing baseline -----------------------------------------------------
    framediff_threshold: int = 30  # change of any colour channel (0-255) that counts as "changed"
    framediff_blur_px: float = 1.0  # Gaussian sigma before differencing, against sensor noise

    # --- reproducibility -------------------------------------------------------------------
    seed: int = 0  # seed of RANSAC and the normalized cut

    def __post_init__(self) -> None:
        if self.method not in LABEL_METHODS:
            raise InputError(f"LabelConfig.method must be one of {LABEL_METHODS}, got {self.method!r}")
        if self.flow not in FLOW_METHODS:
            raise InputError(f"LabelConfig.flow must be one of {FLOW_METHODS}, got {self.flow!r}")
        if self.dis_preset not in DIS_PRESETS:
            raise InputError(f"LabelConfig.dis_preset must be one of {DIS_PRESETS}, got {self.dis_preset!r}")
        if not 0.05 <= self.flow_scale <= 1.0:
            raise InputError(f"LabelConfig.flow_scale must be in [0.05, 1], got {self.flow_scale}")
        if self.episode_labels and self.method != "flow":
            raise InputError("episode labels carry masks along the optical flow: use method='flow'")
        for name in ("episode_disturbed_frac", "episode_left_view_frac", "episode_overlap_frac"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise InputError(f"LabelConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.episode_max_area_change < 1.0:
            raise InputError(f"LabelConfig.episode_max_area_change must be >= 1, got {self.episode_max_area_change}")
        for name in ("rotation_std_m", "large_motion_m3", "max_area_m2", "prior_radius_m"):
            if not getattr(self, name) > 0.0:
                raise InputError(f"LabelConfig.{name} must be positive, got {getattr(self, name)}")
        if not self.min_motion_m >= 0.0:
            raise InputError(f"LabelConfig.min_motion_m must be >= 0, got {self.min_motion_m}")
        if not 0.0 <= self.min_area_m2 < self.max_area_m2:
            raise InputError(f"LabelConfig.min_area_m2 must be in [0, max_area_m2), got {self.min_area_m2}")

    def with_(self, **changes: Any) -> "LabelConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scaled:
    """The pixel thresholds of a config at one image size."""

    s: float  # linear scale relative to 960x540
    motion_threshold_px: float
    # The rotation limit in pixels as on the reference camera; only episode labels
    # use it (the gates in gates.py work in metres).
    rotation_std_px: float
    min_area_px: float
    roi_margin_px: float
    superpixel_area_px: float
    ncut_sigma_px2: float


def scaled(cfg: LabelConfig, width: int, height: int) -> Scaled:
    s = math.sqrt((width * height) / (REFERENCE_WIDTH * REFERENCE_HEIGHT))
    return Scaled(
        s=s,
        motion_threshold_px=cfg.motion_threshold_px * s,
        rotation_std_px=cfg.rotation_std_m / REFERENCE_M_PER_PX * s,
        min_area_px=cfg.min_area_px * s * s,
        roi_margin_px=cfg.roi_margin_px * s,
        superpixel_area_px=max(4.0, cfg.superpixel_area_px * s * s),
        # Flow differences scale with s, so their square with s^2.
        ncut_sigma_px2=cfg.ncut_sigma_px2 * s * s,
    )
