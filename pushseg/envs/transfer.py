"""The varied scene of the ``transfer`` world: any tabletop, seen by any common tabletop RGB-D camera.

A network pretrained on one camera at one table learns that camera and that
table. Real frames come from Kinect v2, RealSense D4xx and Asus Xtion
cameras, hand-held or on tripods and robots, above tables of every height and
finish, in rooms with walls, furniture and papers lying about, under ceiling
lights, windows and desk lamps. Every such cause is one draw below, from the
scene's own generator in a fixed order (camera, light, table, room, textures);
the ranges are in :class:`Ranges` and, with the cause each stands for, in
docs/world-profiles.md ("The transfer world").

The world frame is still the simulation's base_link: the table stays around
the PR2's workspace so that push episodes in this world work, and the camera
moves around it freely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as pb

from pushseg.envs import textures as tx
from pushseg.envs.rendering import Lighting
from pushseg.envs.scene import FLOOR_Z, Table
from pushseg.types import CameraInfo

CAMERA_FRAME = "camera_color_optical_frame"


@dataclass(frozen=True)
class Ranges:
    """What the transfer world draws from (uniformly unless said otherwise); see docs/world-profiles.md."""

    hfov_deg: tuple[float, float] = (55.0, 90.0)  # Xtion ~58, D435 colour ~69, Kinect v2 colour ~84, wide D4xx ~87
    aspect_jitter: float = 0.01  # fy / fx - 1, +- (non-square pixels of a calibrated camera)
    principal_jitter: float = 0.02  # cx, cy off the image centre, +- this fraction of the width / height
    distance: tuple[float, float] = (0.5, 1.5)  # camera to the table along the optical axis, metres
    look_down_deg: tuple[float, float] = (30.0, 80.0)  # optical axis below the horizontal
    roll_deg: float = 5.0  # +- about the optical axis (a tripod or a hand is not level)
    min_range: tuple[float, float] = (0.2, 0.5)  # the depth sensor's near limit (D4xx ~0.2-0.3, Kinect v2 0.5)
    max_range: float = 4.5
    table_height: tuple[float, float] = (0.60, 0.95)  # top above the floor: coffee tables to lab benches
    table_depth: tuple[float, float] = (0.7, 1.6)
    table_width: tuple[float, float] = (0.8, 2.0)
    wall_gap: tuple[float, float] = (0.3, 2.5)  # from the table's edge to a wall
    sheets: tuple[int, int] = (0, 3)  # papers, mats and cloths lying on the table (not objects)
    furniture: tuple[int, int] = (0, 2)  # cabinets and boxes on the floor beside the table
    light_elevation: tuple[float, float] = (0.35, 1.5)  # radians above the horizon
    ambient: tuple[float, float] = (0.25, 0.70)
    specular: tuple[float, float] = (0.0, 0.3)


RANGES = Ranges()


@dataclass(frozen=True)
class Scenery:
    """One scene's draws: the camera, the light, the table, where objects go, the depth sensor's range."""

    camera: CameraInfo
    lighting: Lighting
    table: Table
    region: tuple[tuple[float, float], tuple[float, float]]  # (x range, y range) in base_link
    depth_range: tuple[float, float]

    @property
    def hfov_deg(self) -> float:
        return float(np.degrees(2 * np.arctan(self.camera.width / (2 * self.camera.fx))))


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """T_base_optical of a camera at ``eye`` looking at ``target`` (x right, y down, z forward), turned by ``roll``."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = np.cos(roll), np.sin(roll)
    x, y = c * x + s * y, -s * x + c * y
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def sample_scenery(rng: np.random.Generator, width: int, height: int, ranges: Ranges = RANGES) -> Scenery:
    r = ranges
    # Camera intrinsics: a field of view, then K for this image size.
    hfov = np.radians(rng.uniform(*r.hfov_deg))
    fx = width / (2 * np.tan(hfov / 2))
    fy = fx * (1 + rng.uniform(-r.aspect_jitter, r.aspect_jitter))
    cx = (width - 1) / 2 + rng.uniform(-r.principal_jitter, r.principal_jitter) * width
    cy = (height - 1) / 2 + rng.uniform(-r.principal_jitter, r.principal_jitter) * height
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    # The table, around the robot's workspace (base_link x 0.50-0.95, y -0.35-0.35).
    depth, width_m = rng.uniform(*r.table_depth), rng.uniform(*r.table_width)
    cx_t, cy_t = 0.75 + rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)
    top = FLOOR_Z + rng.uniform(*r.table_height)
    table = Table(x=(cx_t - depth / 2, cx_t + depth / 2), y=(cy_t - width_m / 2, cy_t + width_m / 2), top_z=float(top))
    # Where the camera looks: a point on the table at least 0.2 m inside its edges.
    m = 0.2
    target = np.array([rng.uniform(table.x[0] + m, table.x[1] - m), rng.uniform(table.y[0] + m, table.y[1] - m), top])
    dist = rng.uniform(*r.distance)
    down = np.radians(rng.uniform(*r.look_down_deg))
    azimuth = rng.uniform(-np.pi, np.pi)
    roll = np.radians(rng.uniform(-r.roll_deg, r.roll_deg))
    eye = target + dist * np.array([-np.cos(down) * np.cos(azimuth), -np.cos(down) * np.sin(azimuth), np.sin(down)])
    T = look_at(eye, target, roll)
    camera = CameraInfo(width=width, height=height, K=K, T_base_camera=T, frame_id=CAMERA_FRAME)
    # Objects go within about the half-height of the view around the target, kept on the table.
    vfov = 2 * np.arctan(height / (2 * fy))
    half = float(np.clip(0.7 * dist * np.tan(vfov / 2), 0.12, 0.4))
    mo = 0.08
    region = (
        (float(max(target[0] - half, table.x[0] + mo)), float(min(target[0] + half, table.x[1] - mo))),
        (float(max(target[1] - half, table.y[0] + mo)), float(min(target[1] + half, table.y[1] - mo))),
    )
    lighting = sample_lighting(rng, r)
    depth_range = (float(rng.uniform(*r.min_range)), r.max_range)
    return Scenery(camera=camera, lighting=lighting, table=table, region=region, depth_range=depth_range)


def sample_lighting(rng: np.random.Generator, r: Ranges = RANGES) -> Lighting:
    """A key light from anywhere above (ceiling, window, lamp) in a colour between warm and cool white."""
    az = rng.uniform(-np.pi, np.pi)
    el = rng.uniform(*r.light_elevation)
    direction = (float(np.cos(el) * np.cos(az)), float(np.cos(el) * np.sin(az)), float(np.sin(el)))
    warm = rng.uniform(0, 1)  # 0: cool daylight, 1: warm tungsten
    color = np.array([0.85 + 0.15 * warm, 0.92, 1.0 - 0.25 * warm]) + rng.uniform(-0.04, 0.04, 3)
    ambient = float(rng.uniform(*r.ambient))
    diffuse = float(np.clip(0.95 - ambient + rng.uniform(-0.1, 0.1), 0.1, 0.9))
    return Lighting(
        direction=direction,
        color=tuple(float(c) for c in np.clip(color, 0.5, 1.0)),
        ambient=ambient,
        diffuse=diffuse,
        specular=float(rng.uniform(*r.specular)),
        shadow=True,
        distance=10.0,  # a shadow map over the whole table (see rendering.Lighting)
    )


def _box_mesh(half, tile: float | None) -> dict:
    """A box's six faces as a mesh whose texture repeats every ``tile`` metres (None: once per face).

    PyBullet's own box shows only part of a texture on each face and TinyRenderer samples it
    nearest-neighbour, so large surfaces would show centimetre texels; UVs beyond 1 wrap.
    """
    h = np.asarray(half, dtype=np.float64)
    V, UV, N, I = [], [], [], []
    for axis in range(3):
        for sign in (1.0, -1.0):
            a, b = [k for k in range(3) if k != axis]
            n = np.zeros(3)
            n[axis] = sign
            base = len(V)
            for ca, cb in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[a], p[b] = sign * h[axis], ca * h[a], cb * h[b]
                V.append(p.tolist())
                if tile is None:
                    UV.append([(ca + 1) / 2, (cb + 1) / 2])
                else:
                    UV.append([(p[a] + h[a]) / tile, (p[b] + h[b]) / tile])
                N.append(n.tolist())
            quad = [base, base + 1, base + 2, base, base + 2, base + 3]
            if np.dot(np.cross(np.eye(3)[a], np.eye(3)[b]), n) < 0:  # counter-clockwise seen from outside
                quad = [base, base + 2, base + 1, base, base + 3, base + 2]
            I += quad
    return {"vertices": V, "indices": I, "uvs": UV, "normals": N}


def _slab(client: int, half, centre, image: np.ndarray | None, tile: float | None = None,
          rgba=(1.0, 1.0, 1.0, 1.0), yaw: float = 0.0) -> int:
    """A static textured box: collision as a box, looks as :func:`_box_mesh` (``image`` None: plain ``rgba``)."""
    col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[float(x) for x in half], physicsClientId=client)
    vis = pb.createVisualShape(pb.GEOM_MESH, rgbaColor=list(rgba), physicsClientId=client, **_box_mesh(half, tile))
    body = pb.createMultiBody(0, col, vis, [float(c) for c in centre], pb.getQuaternionFromEuler((0, 0, yaw)),
                              physicsClientId=client)  # fmt: skip
    if image is not None:
        pb.changeVisualShape(body, -1, textureUniqueId=tx.load_texture(client, image), physicsClientId=client)
    return body


def build_room(client: int, rng: np.random.Generator, scenery: Scenery, r: Ranges = RANGES) -> tuple[int, int]:
    """Floor, table (top and legs), four walls, furniture and sheets on the table, all textured; returns
    (floor, table top) body ids. Sheets and furniture carry no instance id: they are background."""
    t = scenery.table
    # Texture tiles repeat over large surfaces (floor tiles, carpet, wallpaper, laminate) at sizes
    # that keep texels near the camera's own pixel footprint (1-3 mm on the table).
    floor = _slab(client, (6, 6, 0.05), (0.75, 0, FLOOR_Z - 0.05), tx.texture(rng, 128), tile=rng.uniform(0.3, 1.0))
    half = ((t.x[1] - t.x[0]) / 2, (t.y[1] - t.y[0]) / 2, rng.uniform(0.012, 0.025))
    centre = ((t.x[0] + t.x[1]) / 2, (t.y[0] + t.y[1]) / 2, t.top_z - half[2])
    top_kind = ("wood", "plain", "noise", "checker", "stripes", "label")[int(rng.choice(6, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05]))]
    table = _slab(client, half, centre, tx.texture(rng, 256, top_kind), tile=rng.uniform(0.3, 0.6))
    pb.changeDynamics(table, -1, lateralFriction=0.5, physicsClientId=client)
    leg_rgba = (*rng.uniform(0.1, 0.8, 3), 1.0)
    leg_h = (t.top_z - 2 * half[2] - FLOOR_Z) / 2
    for sx in (-1, 1):
        for sy in (-1, 1):
            xy = (centre[0] + sx * (half[0] - 0.05), centre[1] + sy * (half[1] - 0.05))
            _slab(client, (0.025, 0.025, leg_h), (*xy, FLOOR_Z + leg_h), None, rgba=leg_rgba)
    # Walls on all four sides, each at its own distance and with its own finish (paint, tiles, posters).
    for axis, sign in ((0, 1), (0, -1), (1, 1), (1, -1)):
        gap = rng.uniform(*r.wall_gap)
        image, tile = tx.texture(rng, 128), rng.uniform(0.4, 1.5)
        edge = (t.x if axis == 0 else t.y)[1 if sign > 0 else 0]
        pos = edge + sign * (gap + 0.05)
        if axis == 0:
            _slab(client, (0.05, 6, 1.5), (pos, 0, FLOOR_Z + 1.5), image, tile)
        else:
            _slab(client, (6, 0.05, 1.5), (0.75, pos, FLOOR_Z + 1.5), image, tile)
    # Furniture on the floor beside the table: cabinets, crates, a chair seat.
    for _ in range(int(rng.integers(r.furniture[0], r.furniture[1] + 1))):
        h = rng.uniform(0.3, 0.9)
        hx, hy = rng.uniform(0.15, 0.45, 2)
        side = 1 if rng.random() < 0.5 else -1
        x = rng.uniform(t.x[0], t.x[1])
        y = (t.y[1] + hy + 0.05) if side > 0 else (t.y[0] - hy - 0.05)
        _slab(client, (hx, hy, h / 2), (x, y, FLOOR_Z + h / 2), tx.texture(rng, 128), yaw=rng.uniform(-0.3, 0.3))
    # Sheets on the table: paper, place mats, cloths, 1-3 mm thick, some under objects.
    (rx, ry) = scenery.region
    for _ in range(int(rng.integers(r.sheets[0], r.sheets[1] + 1))):
        hx, hy = rng.uniform(0.05, 0.2, 2)
        thick = rng.uniform(0.0005, 0.0015)
        c = (rng.uniform(rx[0] - 0.1, rx[1] + 0.1), rng.uniform(ry[0] - 0.1, ry[1] + 0.1), t.top_z + thick)
        _slab(client, (hx, hy, thick), c, tx.texture(rng, 128), yaw=rng.uniform(-np.pi, np.pi))
    return floor, table


def object_textures(client: int, rng: np.random.Generator, count: int = 8) -> list[int]:
    """The textures objects pick from in this scene (ObjectSpec.texture modulo ``count``)."""
    return [tx.load_texture(client, tx.texture(rng, 128)) for _ in range(count)]
