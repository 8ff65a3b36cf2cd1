"""``LabelingPushAgent``: push a different object each time, so K pushes can label K objects.

Episode labels (``pushseg label RUN --episode-labels``) carry every accepted
mask through its episode, so a push that moves an object already pushed
labels nothing new. This agent plans exactly like ``SeparationPushAgent`` and
remembers, within its episode, where the objects it pushed should be now: the
segment's footprint on the table (base_link xy) swept along the push vector.
At each step it matches those remembered places to the segments it sees: a
segment mostly inside a swept footprint, and the segment whose centre is
nearest (within ``match_radius``) to the path from the object's old centre to
its planned one. So an object that slid only part of the way, not at all, or a
little further, or that the map now splits in two, is still recognised; what
is seen replaces what was remembered.

Candidates on segments not matched ("unpushed") always win over candidates on
pushed ones; among each group the separation score decides. When only pushed
segments have a feasible push under the strict margins, the relaxed margins
are tried for the unpushed ones before pushing an object a second time.
Observation only (depth + camera), like the separation agent, so it runs on
the robot. One agent per episode (``run_episode`` makes a new one), so the
memory is the episode's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from pushseg.agents.perception import GridSpec, TableMap
from pushseg.agents.separation import Candidate, SeparationConfig, SeparationPushAgent
from pushseg.errors import InputError
from pushseg.types import CameraInfo
from pushseg.workspace import Workspace


@dataclass
class PushedObject:
    """An object this agent pushed: where it was seen and how it was pushed since (base_link xy, m)."""

    cells: np.ndarray  # (N, 2) centres of the grid cells it covered when last seen
    shift: np.ndarray  # (2,) the push planned since then; zero once it is seen again

    @property
    def centre(self) -> np.ndarray:
        return self.cells.mean(axis=0)

    def region(self, grid: GridSpec, margin: float) -> np.ndarray:
        """(nx, ny) bool: the footprint swept along the push (and 2 cm beyond), widened by ``margin``."""
        length = float(np.linalg.norm(self.shift))
        steps = np.arange(0.0, length + 0.02 + 1e-9, grid.cell / 2) if length > 0 else np.zeros(1)
        d = self.shift / length if length > 0 else np.zeros(2)
        i, j = grid.index(self.cells[None, :, :] + steps[:, None, None] * d)
        keep = grid.inside(i, j)
        out = np.zeros((grid.nx, grid.ny), bool)
        out[i[keep], j[keep]] = True
        r = int(round(margin / grid.cell))
        return ndi.binary_dilation(out, structure=np.ones((2 * r + 1, 2 * r + 1), bool)) if r > 0 else out


def segment_centres(tmap: TableMap) -> np.ndarray:
    """(K, 2) base_link xy of the centre of each segment 1..K of ``tmap``."""
    k = tmap.num_segments
    if k == 0:
        return np.zeros((0, 2))
    ci, cj = np.nonzero(tmap.segments)
    labels = tmap.segments[ci, cj]
    xy = tmap.grid.centre(ci, cj)
    count = np.bincount(labels, minlength=k + 1)[1:]
    sums = np.stack([np.bincount(labels, weights=xy[:, a], minlength=k + 1)[1:] for a in (0, 1)], -1)
    return sums / np.maximum(count, 1)[:, None]


def distance_to_path(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each of ``points`` (N, 2) to the line segment from ``a`` to ``b``."""
    ab = b - a
    t = np.clip((points - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


class LabelingPushAgent(SeparationPushAgent):
    """Separation pushes that prefer objects not yet pushed in this episode. See the module doc."""

    def __init__(
        self,
        camera: CameraInfo,
        seed: int | None = None,
        config: SeparationConfig = SeparationConfig(),
        workspace: Workspace | None = None,
        match_radius: float = 0.04,
        region_margin: float = 0.015,
    ) -> None:
        if not match_radius > 0 or not region_margin >= 0:
            raise InputError(f"match_radius must be > 0 and region_margin >= 0 metres, got {match_radius}, {region_margin}")
        super().__init__(camera, seed=seed, config=config, workspace=workspace)
        self.match_radius = match_radius
        self.region_margin = region_margin
        self.pushed: list[PushedObject] = []
        self.pushed_segments: set[int] = set()  # of the latest table map
        self._matched: list[set[int]] = []  # per memory: its segments in the latest table map

    def candidates(self, tmap: TableMap, depth: np.ndarray) -> list[Candidate]:
        self.pushed_segments = self.match(tmap)
        cands = self.plan(tmap, depth, self.config)
        if not any(c.segment not in self.pushed_segments for c in cands):
            # Before pushing an object twice (or giving up), try the relaxed margins.
            cands += self.plan(tmap, depth, self.config.relaxed())
        return cands

    def choose(self, tmap: TableMap, cands: list[Candidate]) -> Candidate:
        fresh = [c for c in cands if c.segment not in self.pushed_segments]
        best = max(fresh or cands, key=lambda c: c.score)
        ci, cj = np.nonzero(tmap.segments == best.segment)
        cells = [tmap.grid.centre(ci, cj)]
        # Pushing a remembered object again: its memory (all its pieces) moves with this push.
        keep = []
        for p, segs in zip(self.pushed, self._matched):
            (cells.append(p.cells) if best.segment in segs else keep.append(p))
        d = np.array([np.cos(best.push.angle), np.sin(best.push.angle)])
        self.pushed = keep + [PushedObject(cells=np.concatenate(cells), shift=best.push.length * d)]
        self._matched = [set() for _ in self.pushed]
        return best

    def match(self, tmap: TableMap) -> set[int]:
        """Segments (1-based) of ``tmap`` holding an object pushed earlier in the episode; updates the memory.

        A memory claims every segment with at least half its cells in the
        memory's swept region (an object the map splits in two keeps both
        pieces), every segment covering half as many cells of the bare swept
        path as the memory had (a piece of an object, seen whole now), and the segment whose centre lies nearest to its path from
        the old centre to the planned one, within ``match_radius`` (an object
        that slid further, or turned). It then remembers those segments' cells.
        A memory that matches nothing (object hidden, or gone) is kept as it was.
        """
        k = tmap.num_segments
        self._matched = [set() for _ in self.pushed]
        if k == 0 or not self.pushed:
            return set()
        centres = segment_centres(tmap)
        index = np.arange(1, k + 1)
        size = np.asarray(ndi.sum(np.ones_like(tmap.segments), labels=tmap.segments, index=index))
        for m, p in enumerate(self.pushed):
            inside = np.asarray(ndi.sum(p.region(tmap.grid, self.region_margin), labels=tmap.segments, index=index))
            # A remembered piece may be seen whole now: count cells on the bare swept path against the piece's size.
            on_path = np.asarray(ndi.sum(p.region(tmap.grid, 0.0), labels=tmap.segments, index=index))
            segs = {int(s) for s in index[(inside >= 0.5 * size) | (on_path >= 0.5 * len(p.cells))]}
            dist = distance_to_path(centres, p.centre, p.centre + p.shift)
            if dist.min() <= self.match_radius:
                segs.add(int(np.argmin(dist)) + 1)
            self._matched[m] = segs
        for m, segs in enumerate(self._matched):
            if segs:
                ci, cj = np.nonzero(np.isin(tmap.segments, sorted(segs)))
                self.pushed[m] = PushedObject(cells=tmap.grid.centre(ci, cj), shift=np.zeros(2))
        return set().union(*self._matched)
