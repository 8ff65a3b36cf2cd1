"""Building one tabletop scene in a PyBullet client: floor, table, objects, camera, light.

Everything random is drawn from the generator handed in, in a fixed order, so
a seed gives the same scene whatever happened in the process before.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import cv2
import numpy as np
import pybullet as pb
import pybullet_data

from pushseg import files
from pushseg.envs.objects import NUM_TEXTURES, ObjectSpec
from pushseg.envs.rendering import Lighting
from pushseg.envs.shapes import MESH_KINDS, make_mesh
from pushseg.geometry import pr2_head_camera_pose

FLOOR_Z = -0.051  # base_footprint in base_link (docs/pr2.md)
TABLE_TOP_Z = 0.699  # a table top 0.75 m above the floor
TABLE_X = (0.30, 1.30)  # the table's front and back edge in base_link
TABLE_Y = (-0.80, 0.80)


@dataclass(frozen=True)
class Table:
    """The table the robot works at: its top's extent in base_link and its height."""

    x: tuple[float, float] = TABLE_X
    y: tuple[float, float] = TABLE_Y
    top_z: float = TABLE_TOP_Z


IDEAL_TABLE = Table()


@dataclass(frozen=True)
class Jitter:
    """Bounds of the per-scene randomisation of the head camera and the light.

    The head joints are drawn uniformly around (torso, pan, tilt); the camera's
    extrinsics follow from them exactly, as they would from a PR2's joint states.
    """

    torso: tuple[float, float] = (0.095, 0.105)
    head_pan: tuple[float, float] = (-0.01, 0.01)
    head_tilt: tuple[float, float] = (0.89, 0.91)
    light_azimuth: tuple[float, float] = (-0.6, 0.6)
    light_elevation: tuple[float, float] = (0.9, 1.3)
    ambient: tuple[float, float] = (0.55, 0.65)
    light_tint: float = 0.05  # +- per colour channel
    table_tint: float = 0.04
    textured_table: float = 0.0  # chance of a textured table top


# The robot's own table: the head stays where it always is, light varies a little.
TARGET_JITTER = Jitter()
# Source domain: other viewpoints, lighting and table textures.
SOURCE_JITTER = Jitter(
    torso=(0.0, 0.3),
    head_pan=(-0.35, 0.35),
    head_tilt=(0.75, 1.05),
    light_azimuth=(-np.pi, np.pi),
    light_elevation=(0.5, 1.4),
    ambient=(0.35, 0.75),
    light_tint=0.25,
    table_tint=0.25,
    textured_table=0.5,
)


def sample_camera_pose(rng: np.random.Generator, jitter: Jitter) -> np.ndarray:
    torso = rng.uniform(*jitter.torso)
    pan = rng.uniform(*jitter.head_pan)
    tilt = rng.uniform(*jitter.head_tilt)
    return pr2_head_camera_pose(torso=torso, head_pan=pan, head_tilt=tilt)


def sample_lighting(rng: np.random.Generator, jitter: Jitter, shadows: bool) -> Lighting:
    az = rng.uniform(*jitter.light_azimuth)
    el = rng.uniform(*jitter.light_elevation)
    direction = (float(np.cos(el) * np.cos(az)), float(np.cos(el) * np.sin(az)), float(np.sin(el)))
    tint = rng.uniform(-jitter.light_tint, jitter.light_tint, size=3)
    color = tuple(float(c) for c in np.clip(1.0 + tint, 0.5, 1.0))
    ambient = float(rng.uniform(*jitter.ambient))
    return Lighting(direction=direction, color=color, ambient=ambient, diffuse=0.9 - ambient, shadow=shadows)


def make_textures(folder: str | None = None, size: int = 64, table_tiles: int = 12) -> tuple[list[str], list[str]]:
    """Write NUM_TEXTURES small procedural textures (stripes, checkers, dots, noise) as PNG files.

    Returns (object textures, table textures); a table texture repeats its
    pattern ``table_tiles`` times each way, as PyBullet stretches one texture
    over a whole box face. Files are written once per machine and reused.
    """
    folder = folder or os.path.join(tempfile.gettempdir(), f"pushseg-textures-v2-{os.getuid()}")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1234)
    objects, tables = [], []
    yy, xx = np.mgrid[0:size, 0:size]
    for k in range(NUM_TEXTURES):
        a, b = rng.integers(0, 256, size=(2, 3))
        period = int(rng.integers(6, 20))
        pattern = k % 4
        if pattern == 0:
            m = (xx // period) % 2 == 0
        elif pattern == 1:
            m = ((xx // period) + (yy // period)) % 2 == 0
        elif pattern == 2:
            m = ((xx % period - period / 2) ** 2 + (yy % period - period / 2) ** 2) < (period / 3) ** 2
        else:
            m = cv2.GaussianBlur(rng.random((size, size)), (0, 0), 3) > 0.5
        img = np.where(m[..., None], a, b).astype(np.uint8)
        for name, image, out in ((f"tex{k}.png", img, objects), (f"table{k}.png", np.tile(img, (table_tiles, table_tiles, 1)), tables)):
            path = os.path.join(folder, name)
            out.append(path)
            if not os.path.exists(path):
                files.write_atomic(path, cv2.imencode(".png", image)[1].tobytes(), sync_dir=False, shared=True)
    return objects, tables


def _quat(rpy: tuple[float, float, float]) -> list[float]:
    return list(pb.getQuaternionFromEuler(rpy))


def build_room(
    client: int, rng: np.random.Generator, jitter: Jitter, table_textures: list[str], table: Table = IDEAL_TABLE
) -> tuple[int, int]:
    """Floor and table (textured with a chance ``jitter.textured_table``); returns their body ids."""
    floor_col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[5, 5, 0.05], physicsClientId=client)
    floor_vis = pb.createVisualShape(
        pb.GEOM_BOX, halfExtents=[5, 5, 0.05], rgbaColor=[0.45, 0.42, 0.40, 1], physicsClientId=client
    )
    floor = pb.createMultiBody(0, floor_col, floor_vis, [0, 0, FLOOR_Z - 0.05], physicsClientId=client)

    half = [(table.x[1] - table.x[0]) / 2, (table.y[1] - table.y[0]) / 2, 0.025]
    centre = [(table.x[0] + table.x[1]) / 2, (table.y[0] + table.y[1]) / 2, table.top_z - half[2]]
    tint = rng.uniform(-jitter.table_tint, jitter.table_tint, size=3)
    rgba = [*np.clip(np.array([0.78, 0.72, 0.62]) + tint, 0, 1).tolist(), 1.0]
    table_col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=half, physicsClientId=client)
    table_vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=half, rgbaColor=rgba, physicsClientId=client)
    table = pb.createMultiBody(0, table_col, table_vis, centre, physicsClientId=client)
    pb.changeDynamics(table, -1, lateralFriction=0.5, physicsClientId=client)
    if table_textures and rng.random() < jitter.textured_table:
        tex = pb.loadTexture(table_textures[int(rng.integers(len(table_textures)))], physicsClientId=client)
        pb.changeVisualShape(table, -1, textureUniqueId=tex, physicsClientId=client)
    return floor, table


def _primitive_shapes(client: int, spec: ObjectSpec) -> tuple[int, int]:
    if spec.kind == "box":
        col = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=list(spec.size), physicsClientId=client)
        vis = pb.createVisualShape(pb.GEOM_BOX, halfExtents=list(spec.size), physicsClientId=client)
    elif spec.kind == "cylinder":
        r, _, hh = spec.size
        col = pb.createCollisionShape(pb.GEOM_CYLINDER, radius=r, height=2 * hh, physicsClientId=client)
        vis = pb.createVisualShape(pb.GEOM_CYLINDER, radius=r, length=2 * hh, physicsClientId=client)
    elif spec.kind == "prism":
        r, _, hh = spec.size
        corners = [(r * np.cos(a), r * np.sin(a)) for a in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)]
        verts = [[x, y, z] for z in (-hh, hh) for x, y in corners]
        col = pb.createCollisionShape(pb.GEOM_MESH, vertices=verts, physicsClientId=client)
        faces = [0, 2, 1, 3, 4, 5, 0, 1, 4, 0, 4, 3, 1, 2, 5, 1, 5, 4, 2, 0, 3, 2, 3, 5]
        vis = pb.createVisualShape(pb.GEOM_MESH, vertices=verts, indices=faces, physicsClientId=client)
    elif spec.kind in MESH_KINDS:
        mesh = make_mesh(spec.kind, spec.size, spec.shape_seed)
        # PyBullet collides a moving mesh by the convex hull of its vertices.
        col = pb.createCollisionShape(pb.GEOM_MESH, vertices=mesh.vertices.tolist(), physicsClientId=client)
        vis = pb.createVisualShape(pb.GEOM_MESH, physicsClientId=client, **mesh.lists())
    else:
        raise ValueError(f"not a primitive: {spec.kind}")
    return col, vis


def create_object(
    client: int, spec: ObjectSpec, xy: np.ndarray, yaw: float, textures: list[int], table_z: float = TABLE_TOP_Z
) -> int:
    """Create ``spec`` standing on the table (top at ``table_z``) at ``xy`` turned by ``yaw``; returns the body id."""
    rpy = (spec.base_rpy[0], spec.base_rpy[1], spec.base_rpy[2] + yaw)
    quat = _quat(rpy)
    if spec.kind == "urdf":
        body = pb.loadURDF(
            os.path.join(pybullet_data.getDataPath(), spec.urdf),
            [float(xy[0]), float(xy[1]), table_z + 0.3],
            quat,
            globalScaling=spec.scale,
            physicsClientId=client,
        )
    else:
        col, vis = _primitive_shapes(client, spec)
        body = pb.createMultiBody(
            spec.mass, col, vis, [float(xy[0]), float(xy[1]), table_z + 0.3], quat, physicsClientId=client
        )
    if spec.rgba is not None:
        pb.changeVisualShape(body, -1, rgbaColor=list(spec.rgba), physicsClientId=client)
    if spec.texture is not None and textures:
        pb.changeVisualShape(body, -1, textureUniqueId=textures[spec.texture % len(textures)], physicsClientId=client)
    # Put it down 2 mm above the table top.
    lo, hi = pb.getAABB(body, physicsClientId=client)
    pos, q = pb.getBasePositionAndOrientation(body, physicsClientId=client)
    pb.resetBasePositionAndOrientation(
        body, [pos[0], pos[1], pos[2] - lo[2] + table_z + 0.002], q, physicsClientId=client
    )
    # Physical mass and inertia: some pybullet_data URDFs carry placeholder
    # inertias (1 kg m^2) that would make objects refuse to turn.
    ext = np.array(hi) - np.array(lo)
    inertia = spec.mass / 12.0 * np.array([ext[1] ** 2 + ext[2] ** 2, ext[0] ** 2 + ext[2] ** 2, ext[0] ** 2 + ext[1] ** 2])
    pb.changeDynamics(
        body,
        -1,
        mass=spec.mass,
        localInertiaDiagonal=inertia.tolist(),
        lateralFriction=spec.friction,
        spinningFriction=0.001,  # so that a pushed object stops turning when let go
        physicsClientId=client,
    )
    return body


def overlaps(client: int, body: int, others: list[int], margin: float = 0.0) -> bool:
    """True when ``body`` comes closer than ``margin`` to any of ``others`` (negative: penetration)."""
    for other in others:
        if pb.getClosestPoints(body, other, distance=margin, physicsClientId=client):
            return True
    return False


def rotation_about_z(q0, q1) -> float:
    """The turn about the vertical axis between two orientations, in (-pi, pi]."""
    R0 = np.array(pb.getMatrixFromQuaternion(q0)).reshape(3, 3)
    R1 = np.array(pb.getMatrixFromQuaternion(q1)).reshape(3, 3)
    R = R1 @ R0.T
    return float(np.arctan2(R[1, 0], R[0, 0]))

