"""``RandomPushAgent``: push at a random spot on the edge of something, in a random direction."""

from __future__ import annotations

import cv2
import numpy as np

from pushseg.agents.perception import build_table_map, observation_frame
from pushseg.geometry import camera_to_base
from pushseg.types import CameraInfo, Push
from pushseg.workspace import Workspace


class RandomPushAgent:
    """Picks a pixel on the outline of what stands above the table plane, and a random direction.

    When nothing stands on the table it pushes at a random table pixel, so
    that it always returns a push (the backend may refuse it).
    """

    def __init__(
        self,
        camera: CameraInfo,
        seed: int | None = None,
        length: tuple[float, float] = (0.05, 0.15),
        workspace: Workspace | None = None,
    ) -> None:
        self.camera = camera
        self.length = length
        self.workspace = workspace or Workspace()
        self.rng = np.random.default_rng(seed)

    def start_mask(self, depth: np.ndarray, *, reachable_only: bool = True) -> np.ndarray:
        """(H, W) bool: outline pixels of what stands above the table plane (within reach, if any is)."""
        tmap = build_table_map(self.camera, depth, rng=self.rng.integers(2**31))
        fg = tmap.image_fg
        edge = fg & ~cv2.erode(fg.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        vs, us = np.nonzero(edge)
        if len(us) and reachable_only:  # keep the pixels whose points the arm can reach
            z = depth[vs, us].astype(np.float64)
            cam = self.camera
            p = camera_to_base(cam, np.stack([(us - cam.cx) * z / cam.fx, (vs - cam.cy) * z / cam.fy, z], 1))
            reach = (self.workspace.x[0] <= p[:, 0]) & (p[:, 0] <= self.workspace.x[1])
            reach &= (self.workspace.y[0] <= p[:, 1]) & (p[:, 1] <= self.workspace.y[1])
            if reach.any():
                edge = np.zeros_like(edge)
                edge[vs[reach], us[reach]] = True
        return edge

    def act(self, obs) -> Push:
        _, depth = observation_frame(obs, self.camera)
        vs, us = np.nonzero(self.start_mask(depth))
        if len(us) == 0:
            vs, us = np.nonzero(np.isfinite(depth))
        k = int(self.rng.integers(len(us)))
        return Push(
            u=float(us[k]),
            v=float(vs[k]),
            angle=float(self.rng.uniform(-np.pi, np.pi)),
            length=float(self.rng.uniform(*self.length)),
        )
