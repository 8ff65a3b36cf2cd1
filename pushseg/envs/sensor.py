"""The Kinect2 as a sensor: what its depth and colour images do to a perfect rendering.

Each function takes one nuisance's strength (0 off, 1 the robot's lab, 2
harsh; see :mod:`pushseg.envs.world`) and that nuisance's own generator, and
returns a new image. The causes and the sources of the magnitudes are in
docs/world-profiles.md; the numbers below are those of strength 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Kinect v2 operating range (Microsoft's specification): no reading outside it.
KINECT2_RANGE_M = (0.5, 4.5)


@dataclass(frozen=True)
class SurfaceLooks:
    """Per-pixel surface properties the depth sensor cares about (from the renderer's instance ids)."""

    dark: np.ndarray  # (H, W) bool: dark (IR-absorbing) surface
    shiny: np.ndarray  # (H, W) bool: glossy surface (specular)


def incidence(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Angle (radians) between each pixel's viewing ray and its surface normal; NaN where unknown.

    Normals from central differences of the back-projected points; on depth
    edges they are meaningless, which the edge nuisance covers anyway.
    Written out per component: about 4x faster than np.cross on (H, W, 3).
    """
    h, w = depth.shape
    z = depth.astype(np.float32, copy=False)
    a = ((np.arange(w, dtype=np.float32) - np.float32(K[0, 2])) / np.float32(K[0, 0]))[None, :]
    b = ((np.arange(h, dtype=np.float32) - np.float32(K[1, 2])) / np.float32(K[1, 1]))[:, None]
    x, y = a * z, b * z
    # Differences along rows (u) and columns (v); the border keeps zeros (no normal).
    dxx, dxy, dxz = (np.zeros_like(z) for _ in range(3))
    dyx, dyy, dyz = (np.zeros_like(z) for _ in range(3))
    dxx[:, 1:-1], dxy[:, 1:-1], dxz[:, 1:-1] = x[:, 2:] - x[:, :-2], y[:, 2:] - y[:, :-2], z[:, 2:] - z[:, :-2]
    dyx[1:-1], dyy[1:-1], dyz[1:-1] = x[2:] - x[:-2], y[2:] - y[:-2], z[2:] - z[:-2]
    nx = dxy * dyz - dxz * dyy
    ny = dxz * dyx - dxx * dyz
    nz = dxx * dyy - dxy * dyx
    # The ray through the pixel is (a, b, 1) up to scale.
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.abs(nx * a + ny * b + nz) / (np.sqrt(nx * nx + ny * ny + nz * nz) * np.sqrt(a * a + b * b + 1))
    return np.arccos(np.clip(c, 0.0, 1.0))


def axial_noise(depth: np.ndarray, theta: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise along the ray with the Kinect v2 model of Fankhauser et al. (2015), then 1 mm steps.

    sigma_z(z, theta) [mm] = 1.5 - 0.5 z + 0.3 z^2 + 0.1 z^1.5 theta^2 / (pi/2 - theta)^2, z in metres,
    theta the incidence angle (clipped at 80 deg, beyond which grazing-angle dropout takes over).
    """
    z = np.nan_to_num(depth, nan=0.0).astype(np.float64)
    t = np.nan_to_num(np.minimum(theta, np.radians(80.0)), nan=0.0).astype(np.float64)
    sigma_mm = 1.5 - 0.5 * z + 0.3 * z**2 + 0.1 * z**1.5 * t**2 / (np.pi / 2 - t) ** 2
    noisy = depth + (strength * sigma_mm * 1e-3 * rng.standard_normal(depth.shape)).astype(np.float32)
    return (np.round(noisy * 1000.0) / 1000.0).astype(np.float32)


def depth_edges(
    depth: np.ndarray, strength: float, rng: np.random.Generator, clean: np.ndarray | None = None, edge_step: float = 0.01
) -> np.ndarray:
    """Time-of-flight pixels that straddle a depth edge mix the two surfaces' returns.

    Some come back at a depth between foreground and background ("flying
    pixels"), some are discarded by the driver's edge filter (holes). At
    strength 1: 30 % of edge pixels become holes, 30 % flying pixels. The
    edges are those of the scene (``clean``, the noise-free depth, when given),
    so that depth noise does not make edges of its own.
    """
    depth_in = depth
    depth = depth if clean is None else clean
    far = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(1e6))
    w = 1.0 / far
    jump = np.zeros(depth.shape, dtype=bool)
    jump[:, 1:-1] |= np.abs(w[:, 2:] - 2 * w[:, 1:-1] + w[:, :-2]) > edge_step * w[:, 1:-1]
    jump[1:-1, :] |= np.abs(w[2:, :] - 2 * w[1:-1, :] + w[:-2, :]) > edge_step * w[1:-1, :]
    near_z = cv2.erode(far, np.ones((3, 3), np.uint8))
    far_z = cv2.dilate(np.where(far >= 1e6, np.float32(0), far), np.ones((3, 3), np.uint8))
    r = rng.random(depth.shape)
    mix = rng.random(depth.shape).astype(np.float32)
    p = min(0.3 * strength, 0.5)
    out = depth_in.copy()
    hole = jump & (r < p)
    fly = jump & (r >= p) & (r < 2 * p) & (far_z > 0) & (near_z < 1e6)
    out[fly] = (near_z + (0.2 + 0.6 * mix) * (far_z - near_z))[fly]
    out[hole] = np.nan
    return out


def _blobs(shape: tuple[int, int], rng: np.random.Generator, scale: int = 6) -> np.ndarray:
    """A smooth random field in [0, 1): dropout on a real sensor comes in patches, not single pixels."""
    h, w = shape
    small = rng.random((max(1, h // scale + 1), max(1, w // scale + 1))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def dropout(
    depth: np.ndarray,
    theta: np.ndarray,
    looks: SurfaceLooks,
    strength: float,
    rng: np.random.Generator,
    depth_range: tuple[float, float] = KINECT2_RANGE_M,
) -> np.ndarray:
    """Missing returns (NaN): out of range, grazing angles, dark and shiny surfaces, a few at random.

    At strength 1: no reading outside 0.5-4.5 m; beyond 70 deg incidence the
    chance of a return falls linearly to none at 88 deg; dark surfaces lose
    about 40 % of their pixels in patches, shiny ones everything within 12 deg
    of a mirror reflection back into the camera plus 10 % in patches; 0.1 % of
    all pixels at random. ``depth_range`` is the sensor's operating range
    (the Kinect v2's by default).
    """
    s = strength
    out = depth.copy()
    lo, hi = depth_range
    with np.errstate(invalid="ignore"):
        out[(depth < lo) | (depth > hi)] = np.nan
        grazing = np.clip(s * (theta - np.radians(70.0)) / np.radians(18.0), 0.0, 1.0)
    field = _blobs(depth.shape, rng)
    r = rng.random(depth.shape)
    drop = r < np.nan_to_num(grazing)
    drop |= looks.dark & (field < min(0.4 * s, 1.0))
    with np.errstate(invalid="ignore"):
        mirror = theta < np.radians(12.0 * min(s, 3.0))
    drop |= looks.shiny & (mirror | (field > 1.0 - min(0.1 * s, 1.0)))
    drop |= rng.random(depth.shape) < 0.001 * s
    out[drop] = np.nan
    return out


def auto_exposure(rgb: np.ndarray, rng: np.random.Generator, target: tuple[float, float] = (90.0, 140.0),
                  gain_range: tuple[float, float] = (0.6, 2.5)) -> np.ndarray:
    """A camera's auto exposure: the image is scaled so that its mean lands on a metering target.

    Consumer RGB-D cameras meter the whole frame towards a mid grey (about 118 in sRGB for 18 %
    grey); where the target lands depends on the scene, so it is drawn in ``target``. The
    renderer's own brightness follows its light coefficients, not a sensor's exposure time.
    """
    mean = float(rgb.mean()) if rgb.size else 0.0
    gain = float(np.clip(rng.uniform(*target) / max(mean, 1.0), *gain_range))
    return np.clip(np.round(rgb.astype(np.float32) * np.float32(gain)), 0, 255).astype(np.uint8)


def exposure(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Auto exposure and auto white balance settle anew for every image.

    A global gain, log-normal with sigma 5 %, and per-channel white-balance
    gains with sigma 2 % (strength 1), applied to the 8-bit values.
    """
    gain = np.exp(rng.normal(0.0, 0.05 * strength))
    wb = np.exp(rng.normal(0.0, 0.02 * strength, size=3))
    out = rgb.astype(np.float32) * np.float32(gain) * wb.astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def sensor_noise(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Shot and read noise (Poisson-Gaussian, sigma^2 = 0.02 I + 1.5 in 8-bit units at strength 1:
    about 2 levels at mid grey), then the JPEG compression the Kinect2 applies on the device
    (quality 100 - 8 x strength)."""
    x = rgb.astype(np.float32)
    sigma = strength * np.sqrt(0.02 * x + 1.5)
    x = x + sigma * rng.standard_normal(x.shape).astype(np.float32)
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    quality = int(round(100 - 8 * strength))
    if quality < 100:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, max(quality, 50)])
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out
