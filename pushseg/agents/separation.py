"""``SeparationPushAgent``: push one object out of clutter into free space.

The stand-in for the paper's push proposals. From one RGB-D observation it
builds a top-down map of the table (``perception.build_table_map``), then for
every object segment and every direction it plans a push the way the backend
will execute it (``geometry.resolve_push``: the finger comes down 4 cm behind
the contact point and moves in a straight line), and keeps the pushes where

* the finger comes down and approaches in free space (no other object near),
* the line runs through the segment's centre (little rotation),
* the object, swept along the push, keeps a margin to every other object and
  stays on the table, and
* start and end lie in the robot's workspace.

Among those it prefers objects that have a close neighbour (separating them is
the point), directions away from the neighbours, and the widest clearance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from pushseg.agents.perception import TableMap, build_table_map, observation_frame
from pushseg.errors import InputError
from pushseg.geometry import pixel_to_base
from pushseg.types import CameraInfo, Push
from pushseg.workspace import Workspace

APPROACH = 0.04  # resolve_push's default: the finger comes down this far behind the contact


@dataclass(frozen=True)
class Candidate:
    """One planned push and why it scored what it did."""

    push: Push
    segment: int
    score: float
    clearance: float  # metres between the pushed object and its nearest neighbour at the end


@dataclass(frozen=True)
class SeparationConfig:
    directions: int = 16
    lengths: tuple[float, ...] = (0.10, 0.07, 0.05)
    finger_radius: float = 0.01
    approach_margin: float = 0.012  # free space around the finger while it approaches
    sweep_margin: float = 0.02  # free space kept around the object while it slides
    opening_rate: float = 0.7  # how fast a gap to a touching neighbour must open (m per m pushed)
    table_margin: float = 0.06  # objects stay this far inside the seen table
    crowded: float = 0.05  # a neighbour closer than this makes an object worth separating

    def relaxed(self) -> "SeparationConfig":
        """Finer directions and half the margins, for scenes where nothing passes the strict ones."""
        return replace(
            self, directions=2 * self.directions, approach_margin=self.approach_margin / 2,
            sweep_margin=self.sweep_margin / 2, opening_rate=self.opening_rate / 2,
        )  # fmt: skip


class SeparationPushAgent:
    """Heuristic object separation; acts on rgb/depth + CameraInfo only. See the module doc."""

    def __init__(
        self,
        camera: CameraInfo,
        seed: int | None = None,
        config: SeparationConfig = SeparationConfig(),
        workspace: Workspace | None = None,
    ) -> None:
        self.camera = camera
        self.config = config
        self.workspace = workspace or Workspace()
        self.rng = np.random.default_rng(seed)
        self.last_candidates: list[Candidate] = []  # for inspection and debugging

    def act(self, obs) -> Push:
        _, depth = observation_frame(obs, self.camera)
        tmap = build_table_map(self.camera, depth, rng=int(self.rng.integers(2**31)))
        cands = self.candidates(tmap, depth)
        self.last_candidates = cands
        if not cands:
            return self._fallback(tmap, depth)
        return self.choose(tmap, cands).push

    def candidates(self, tmap: TableMap, depth: np.ndarray) -> list[Candidate]:
        """Feasible pushes under the strict margins, else under the relaxed ones."""
        cands = self.plan(tmap, depth, self.config)
        if not cands:  # tight clutter: accept smaller margins before giving up
            cands = self.plan(tmap, depth, self.config.relaxed())
        return cands

    def choose(self, tmap: TableMap, cands: list[Candidate]) -> Candidate:
        """The push to make among ``cands`` (not empty): the best score."""
        return max(cands, key=lambda c: c.score)

    # --- planning ----------------------------------------------------------------------

    def plan(self, tmap: TableMap, depth: np.ndarray, cfg: SeparationConfig) -> list[Candidate]:
        """Every feasible push under ``cfg``, scored."""
        g = tmap.grid
        if tmap.num_segments == 0:
            return []
        table_area = ndi.binary_fill_holes(
            ndi.binary_closing(tmap.free | tmap.occupied, structure=np.ones((5, 5)))
        )
        inside_table = ndi.distance_transform_edt(table_area) * g.cell >= cfg.table_margin
        dist_any = ndi.distance_transform_edt(~tmap.occupied) * g.cell
        offset = self.rng.uniform(0, 2 * np.pi / cfg.directions)
        angles = offset + np.arange(cfg.directions) * 2 * np.pi / cfg.directions
        angles = (angles + np.pi) % (2 * np.pi) - np.pi
        cands: list[Candidate] = []
        for s in range(1, tmap.num_segments + 1):
            own = tmap.segments == s
            other = tmap.occupied & ~own
            dist_other = ndi.distance_transform_edt(~other) * g.cell if other.any() else np.full(own.shape, 1.0)
            ci, cj = np.nonzero(own)
            cells = g.centre(ci, cj)
            centre = cells.mean(axis=0)
            neighbour = float(dist_other[ci, cj].min())
            oi, oj = np.nonzero(other)
            away_from = None
            if len(oi):
                oc = g.centre(oi, oj)
                near = oc[np.linalg.norm(oc - centre, axis=1) < 0.25]
                if len(near):
                    v = centre - near.mean(axis=0)
                    away_from = v / (np.linalg.norm(v) + 1e-9)
            for a in angles:
                d = np.array([np.cos(a), np.sin(a)])
                c = self._candidate(cfg, tmap, depth, own, cells, centre, d, a, dist_other, dist_any, inside_table)
                if c is None:
                    continue
                push, clearance = c
                score = min(clearance, 0.08) * 10.0
                score += 0.5 if neighbour < cfg.crowded else 0.0
                if away_from is not None:
                    score += 0.3 * float(d @ away_from)
                score += push.length * 2.0
                score += 0.01 * self.rng.random()
                cands.append(Candidate(push=push, segment=s, score=score, clearance=clearance))
        return cands

    def _candidate(self, cfg, tmap, depth, own, cells, centre, d, angle, dist_other, dist_any, inside_table):
        g = tmap.grid
        rel = cells - centre
        along = rel @ d
        lateral = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0])
        band = lateral < 0.01
        if not band.any():
            return None
        boundary = centre + d * along[band].min()
        # A contact pixel a little inside the object, whose depth resolves to a point on it.
        contact = pixel = None
        for inset in (0.01, 0.015, 0.02, 0.005):
            p = boundary + d * inset
            i, j = g.index(p)
            if not (g.inside(i, j) and own[i, j] and tmap.pixel[i, j, 0] >= 0):
                continue
            u, v = tmap.pixel[i, j]
            try:
                q = pixel_to_base(self.camera, depth, float(u), float(v))
            except InputError:
                continue
            qi, qj = g.index(q[:2])
            if g.inside(qi, qj) and own[qi, qj] and -0.005 <= (q[:2] - boundary) @ d <= 0.03:
                contact, pixel = q[:2], (float(u), float(v))
                break
        if contact is None:
            return None
        start = contact - APPROACH * d
        # The finger comes down at ``start`` and approaches the boundary in free space.
        approach = start + np.outer(np.linspace(0.0, 1.0, 6), (boundary - 0.012 * d) - start)
        ai, aj = g.index(approach)
        if not np.all(g.inside(ai, aj)):
            return None
        if dist_any[ai[0], aj[0]] < cfg.finger_radius + 0.005:
            return None
        if np.any(dist_other[ai, aj] < cfg.finger_radius + cfg.approach_margin):
            return None
        if not self.workspace.contains(start):
            return None
        for length in cfg.lengths:
            end = contact + length * d
            if not self.workspace.contains(end):
                continue
            clear = self._sweep_clearance(g, cells, d, length, dist_other, inside_table)
            if clear is None:
                continue
            # An object may start touching a neighbour, but the gap must open as it
            # slides (at >= 0.7 m per m pushed) up to the margin: no dragging along.
            shifts = np.arange(1, len(clear) + 1) * 0.01
            if np.all(clear >= np.minimum(cfg.sweep_margin, cfg.opening_rate * shifts)):
                return Push(u=pixel[0], v=pixel[1], angle=float(angle), length=float(length)), float(clear[-1])
        return None

    @staticmethod
    def _sweep_clearance(g, cells, d, length, dist_other, inside_table) -> np.ndarray | None:
        """Distance to the nearest other object after each 1 cm of sliding, up to ``length`` + 2 cm
        of drift; None when the object would leave the map or come near the table's edge."""
        shifts = np.arange(0.01, length + 0.02 + 1e-9, 0.01)
        i, j = g.index(cells[None, :, :] + shifts[:, None, None] * d)
        if not np.all(g.inside(i, j)):
            return None
        if not np.all(inside_table[i, j]):
            return None
        return dist_other[i, j].min(axis=1)

    def _fallback(self, tmap: TableMap, depth: np.ndarray) -> Push:
        """No safe push found: a random spot of something on the table (or of the table), shortest length."""
        vs, us = np.nonzero(tmap.image_fg)
        if len(us) == 0:
            vs, us = np.nonzero(np.isfinite(depth))
        k = int(self.rng.integers(len(us)))
        return Push(float(us[k]), float(vs[k]), float(self.rng.uniform(-np.pi, np.pi)), self.config.lengths[-1])
