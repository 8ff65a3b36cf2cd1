"""OpenGL matrices from a pinhole camera, and what turns PyBullet buffers into a Frame.

PyBullet renders with OpenGL conventions: an eye frame with x right, y up and
z backwards, a projection to normalised device coordinates in [-1, 1], and
rows stored top-down after ``getCameraImage``. The matrices below are built
so that ``geometry.project`` of a point lands on the pixel where PyBullet
draws it (tests check it to 1 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pushseg.types import CameraInfo

# Optical frame (x right, y down, z forward) -> OpenGL eye (x right, y up, z back).
_OPTICAL_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def view_matrix(T_base_camera: np.ndarray) -> list[float]:
    """World (= base_link) -> OpenGL eye, column-major as PyBullet wants it."""
    V = _OPTICAL_TO_GL @ np.linalg.inv(T_base_camera)
    return V.T.reshape(-1).tolist()


def projection_matrix(camera: CameraInfo, near: float, far: float) -> list[float]:
    """The OpenGL projection equivalent to K for a ``width`` x ``height`` image.

    With u = fx X / Z + cx: PyBullet's TinyRenderer draws NDC x at column
    (x + 1) W / 2 and NDC y at row H - 1 - (y + 1) H / 2 (rows flipped to
    top-down), measured by rendering small spheres. Solving for the pixel
    that ``geometry.project`` gives fixes the first two rows:
    NDC x = 2 u / W - 1 and NDC y = 1 - 2 (v + 1) / H. The depth rows are the
    usual perspective ones.
    """
    W, H = camera.width, camera.height
    P = np.zeros((4, 4))
    P[0, 0] = 2.0 * camera.fx / W
    P[0, 2] = 1.0 - 2.0 * camera.cx / W
    P[1, 1] = 2.0 * camera.fy / H
    P[1, 2] = 2.0 * (camera.cy + 1.0) / H - 1.0
    P[2, 2] = -(far + near) / (far - near)
    P[2, 3] = -2.0 * far * near / (far - near)
    P[3, 2] = -1.0
    return P.T.reshape(-1).tolist()


def linearize_depth(buffer: np.ndarray, near: float, far: float) -> np.ndarray:
    """OpenGL depth buffer in [0, 1] -> metres along the optical axis; NaN where nothing was hit."""
    d = np.asarray(buffer, dtype=np.float32)
    z = (far * near) / (far - (far - near) * d)
    z[d >= 1.0] = np.nan
    return z.astype(np.float32, copy=False)


@dataclass(frozen=True)
class Lighting:
    """PyBullet TinyRenderer light settings for one scene."""

    direction: tuple[float, float, float] = (0.3, 0.2, 1.0)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.6
    diffuse: float = 0.35
    specular: float = 0.05
    shadow: bool = True
    # TinyRenderer's shadow map spans the light's view from this distance: at 3 m it misses
    # most object shadows and darkens wedges of the table; 10 m covers the table properly.
    distance: float = 3.0

    def kwargs(self) -> dict:
        return {
            "lightDirection": list(self.direction),
            "lightColor": list(self.color),
            "lightDistance": self.distance,
            "lightAmbientCoeff": self.ambient,
            "lightDiffuseCoeff": self.diffuse,
            "lightSpecularCoeff": self.specular,
            "shadow": int(self.shadow),
        }


FAR_NO_READING = 1e6  # stands in for "no reading" when looking for edges


@dataclass(frozen=True)
class DepthNoise:
    """Kinect2-like depth noise: axial Gaussian growing with distance, dropout at edges and at random.

    sigma(z) = base + quad * z^2 metres (about 1.5 mm at 1 m, as reported for
    the Kinect v2 time-of-flight sensor); readings are quantised to 1 mm like
    the 16UC1 images the driver publishes.
    """

    base: float = 0.0005
    quad: float = 0.001
    edge_dropout: float = 0.5  # chance to lose a pixel on a depth discontinuity
    random_dropout: float = 0.005
    edge_step: float = 0.01  # relative kink in inverse depth that counts as a discontinuity

    def apply(self, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        z = depth.astype(np.float32, copy=True)
        sigma = self.base + self.quad * np.nan_to_num(z) ** 2
        z += (rng.standard_normal(z.shape).astype(np.float32) * sigma).astype(np.float32)
        z = np.round(z * 1000.0) / 1000.0
        # Discontinuities: inverse depth is linear across the image on any plane,
        # so a large second difference of it marks an edge, whatever the slope.
        w = 1.0 / np.where(np.isfinite(depth) & (depth > 0), depth, FAR_NO_READING)
        jump = np.zeros(z.shape, dtype=bool)
        jump[:, 1:-1] |= np.abs(w[:, 2:] - 2 * w[:, 1:-1] + w[:, :-2]) > self.edge_step * w[:, 1:-1]
        jump[1:-1, :] |= np.abs(w[2:, :] - 2 * w[1:-1, :] + w[:-2, :]) > self.edge_step * w[1:-1, :]
        drop = (jump & (rng.random(z.shape) < self.edge_dropout)) | (rng.random(z.shape) < self.random_dropout)
        z[drop] = np.nan
        return z.astype(np.float32)
