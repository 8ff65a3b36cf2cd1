"""The simulated world behind the Backend protocol: PyBullet, a PR2-like head camera, a table.

World frame == the PR2's ``base_link`` (x forward, y left, z up). Each reset
rebuilds the whole world with ``resetSimulation`` so that a seed gives the
same scene and the same physics whatever ran before in the process (that is
what makes collection byte-identical for any number of workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pybullet as pb

from pushseg.envs import scene as sc
from pushseg.envs import sensor
from pushseg.envs import transfer as tr
from pushseg.envs.clutter import PILE_EVERY, SEPARATED_GAP_M, clutter_stats
from pushseg.envs.config_checks import check_sim_config
from pushseg.envs.objects import ObjectSet, ObjectSpec, object_set
from pushseg.envs.pusher import Pusher
from pushseg.envs.rendering import (
    DepthNoise,
    Lighting,
    linearize_depth,
    projection_matrix,
    view_matrix,
)
from pushseg.envs.surroundings import (
    Look,
    apply_looks,
    build_surroundings,
    sample_table,
)
from pushseg.envs.world import Streams, WorldProfile, calibration_rng, world_profile
from pushseg.errors import BackendError, InputError
from pushseg.geometry import KINECT2_QHD_FX, base_to_pixel, kinect2_camera, rot_x, rot_y
from pushseg.limits import check_image_side
from pushseg.types import CameraInfo, Frame, ObjectMotion, Outcome, Push, PushResult
from pushseg.workspace import Workspace, check_push, table_height

NEAR, FAR = 0.1, 10.0  # clipping planes of the simulated camera (metres)
DEFAULT_NUM_OBJECTS = (1, 8)  # objects per scene when min_objects / max_objects are not given


@dataclass
class SimConfig:
    """Everything that shapes the simulated world. Defaults: the robot's own table at qhd."""

    objects: str | ObjectSet = "target-train"  # object set: source, transfer, target-train or target-test
    width: int = 960  # image width in pixels
    height: int = 540  # image height in pixels
    num_objects: tuple[int, int] = (1, 8)  # inclusive range per scene
    clutter: float = 0.5  # chance that an object is put down touching one already placed
    clutter_level: str | None = None  # separated, touching or piled (envs.clutter); None: by `clutter`'s chance
    region_x: tuple[float, float] = (0.50, 0.95)  # where objects are put down (base_link)
    region_y: tuple[float, float] = (-0.35, 0.35)  # ... and across (base_link y)
    jitter: sc.Jitter | None = None  # None: SOURCE_JITTER for "source", else TARGET_JITTER
    depth_noise: DepthNoise | None = None  # legacy extra depth noise on top of the world's (None: none)
    shadows: bool = True  # render shadows
    # The world profile (envs.world): "ideal", "robot" or "harsh", or a WorldProfile.
    # None: "ideal" for the source set (it stands for photographs), "transfer" for the transfer set,
    # "robot" for the target sets.
    world: str | WorldProfile | None = None
    world_overrides: dict[str, float] | None = None  # per-nuisance strengths, e.g. {"calibration": 0}
    time_step: float = 1.0 / 240.0  # physics step, seconds
    push_speed: float = 0.10  # m/s, a careful PR2 push
    workspace: Workspace = field(default_factory=Workspace)  # where the pusher may go
    gui: bool = False  # open the PyBullet window

    def __post_init__(self) -> None:
        self.objects = object_set(self.objects)
        check_sim_config(self)  # types and ranges of every field, with the field's name
        if self.jitter is None:
            self.jitter = sc.SOURCE_JITTER if self.objects.name == "source" else sc.TARGET_JITTER
        if self.world is None:  # source: photographs; transfer: any camera; targets: the PR2's lab
            self.world = {"source": "ideal", "transfer": "transfer"}.get(self.objects.name, "robot")
        self.profile: WorldProfile = world_profile(self.world, self.world_overrides)


@dataclass(frozen=True)
class SimBackendConfig:
    """The simulation's settings in a collection (``pushseg collect``, section ``sim``).

    Registered with the "sim" backend in :mod:`pushseg.backends`; the rest of
    :class:`SimConfig` keeps its defaults. Satisfies :class:`pushseg.backends.BackendConfig`.
    """

    replayable: ClassVar[bool] = True  # a seed gives the same episode in any process

    objects: str = "target-train"  # object set: source, target-train or target-test
    width: int = 960  # image width in pixels
    height: int = 540  # image height in pixels
    min_objects: int | None = None  # fewest objects per scene (None: 1)
    max_objects: int | None = None  # most objects per scene (None: 8, or min_objects if larger)
    world: str | None = None  # world profile (ideal, robot, harsh); None: the object set's default

    def __post_init__(self) -> None:
        check_image_side(self.width, self.height, "--width/--height")
        lo, hi = self.min_objects, self.max_objects
        if (lo is not None and lo < 1) or (hi is not None and hi < 1) or (lo and hi and lo > hi):
            raise InputError(f"--min-objects/--max-objects must satisfy 1 <= min <= max, got {lo} and {hi}")
        object_set(self.objects)  # a bad name is an InputError naming it, before anything starts
        if self.world is not None:
            world_profile(self.world)

    @property
    def num_objects(self) -> tuple[int, int]:
        lo = self.min_objects if self.min_objects is not None else DEFAULT_NUM_OBJECTS[0]
        hi = self.max_objects if self.max_objects is not None else max(lo, DEFAULT_NUM_OBJECTS[1])
        return lo, hi

    def backend_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"objects": self.objects, "width": self.width, "height": self.height,
                                  "num_objects": self.num_objects}
        if self.world is not None:
            kwargs["world"] = self.world
        return kwargs

    def describe(self) -> dict[str, Any]:
        s = object_set(self.objects)
        return {
            "objects": {"set": self.objects, "names": s.names, "procedural": s.procedural,
                        "description": s.description},
            "world": SimConfig(**self.backend_kwargs()).profile.to_dict(),
        }


@dataclass(frozen=True)
class SceneObject:
    """One object in the current scene."""

    instance_id: int  # 1..N, the value in Frame.instance_ids
    name: str
    body: int  # PyBullet body id
    spec: ObjectSpec


@dataclass
class SimStats:
    """Counters for benchmarks: what the backend asked PyBullet to do."""

    physics_steps: int = 0
    renders: int = 0


class SimBackend:
    """A PyBullet tabletop with a Kinect2-like head camera and a pushing finger.

    Implements :class:`pushseg.backends.SimulatedBackend` (a :class:`pushseg.backends.Backend`
    that also follows any tool path: ``table``, ``execute_path(waypoints)``, ``render()``).
    Extra, for the simulation's own tools and tests: ``object_names``,
    ``scene_objects``, ``object_poses()``, ``profile``.
    """

    name = "sim"

    def __init__(self, config: SimConfig | None = None, **overrides) -> None:
        if config is None:
            config = SimConfig(**overrides)
        elif overrides:
            raise InputError("pass either a SimConfig or keyword overrides, not both")
        self.config = config
        self.profile = config.profile
        self.table = sc.IDEAL_TABLE
        self.table_z = sc.TABLE_TOP_Z  # what the robot believes (fitted in a non-ideal world)
        self.camera: CameraInfo = kinect2_camera(config.width, config.height)  # the believed camera
        self._T_true = self.camera.T_base_camera  # where the camera really is
        self._T_calib = self._calibration_error()
        self.looks: dict[int, Look] = {}
        self._streams = Streams(0)
        self._renders_in_scene = 0
        self.stats = SimStats()
        self.scene_objects: list[SceneObject] = []
        self.lighting = Lighting(shadow=config.shadows)
        self._texture_files, self._table_texture_files = sc.make_textures()
        self._client = pb.connect(pb.GUI if config.gui else pb.DIRECT)
        if self._client < 0:
            raise BackendError("could not start a PyBullet physics server")
        self._frame: Frame | None = None
        self._noise_rng = np.random.default_rng(0)
        self._lut = np.zeros(1, dtype=np.uint16)
        self._pusher: Pusher | None = None
        self._scenery: tr.Scenery | None = None  # the varied scene's draws (a varied world only)
        self._depth_range = sensor.KINECT2_RANGE_M
        self._seed: int | None = None
        self._sim_steps = 0

    # --- Backend protocol ----------------------------------------------------------

    def reset(self, seed: int | None = None) -> Frame:
        """Build a new scene from ``seed`` (a fresh random one when None) and return its first image."""
        rng = np.random.default_rng(seed)
        self._seed = seed
        self._streams = Streams(seed)
        self._build_world(rng)
        self._frame = None
        return self.observe()

    def observe(self) -> Frame:
        if self._pusher is None:
            raise BackendError("the simulation has no scene yet: call reset() first")
        if self._frame is None:
            self._frame = self._render()
            # A varied world is a source of labelled images, not the PR2 at its table: its robot is
            # told the table height rather than fitting it (the view may show little table).
            if self._renders_in_scene == 1 and not self.profile.ideal and not self.profile.varied:
                self.table_z = self._fit_table_z(self._frame)
        return self._frame

    def push(self, push: Push) -> PushResult:
        """Resolve ``push`` on the current image and carry it out, or refuse it with a reason."""
        frame = self.observe()
        path, reason = check_push(
            frame.camera, frame.depth, push, table_z=self.table_z, workspace=self.config.workspace
        )
        if path is None:
            return PushResult(Outcome.REJECTED, reason=reason)
        motions = self.execute_path(np.stack([path.start, path.end]))
        return PushResult(
            Outcome.EXECUTED,
            start_base=tuple(float(x) for x in path.start),
            end_base=tuple(float(x) for x in path.end),
            motions=motions,
        )

    def render(self) -> Frame:
        """A new image of the scene as it is now: the head settles and the sensor draws its noise again."""
        if self._pusher is None:
            raise BackendError("the simulation has no scene yet: call reset() first")
        self._frame = None
        return self.observe()

    def close(self) -> None:
        if self._client is not None and self._client >= 0:
            try:
                pb.disconnect(physicsClientId=self._client)
            except pb.error:
                pass
        self._client = -1

    # --- for the other parts --------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        """Where pushes may go (agents take it to plan reachable pushes)."""
        return self.config.workspace

    @property
    def true_table_z(self) -> float:
        """Ground truth: the table top's real height in base_link."""
        return self.table.top_z

    @property
    def object_names(self) -> dict[int, str]:
        return {o.instance_id: o.name for o in self.scene_objects}

    def object_poses(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Instance id -> (position (3,), quaternion xyzw (4,)) in base_link: ground truth."""
        out = {}
        for o in self.scene_objects:
            pos, quat = pb.getBasePositionAndOrientation(o.body, physicsClientId=self._client)
            out[o.instance_id] = (np.array(pos), np.array(quat))
        return out

    def execute_path(self, waypoints_base: np.ndarray) -> tuple[ObjectMotion, ...]:
        """Move the finger's tool point through ``waypoints_base`` (N, 3) in base_link.

        The finger comes straight down onto the first point from 15 cm above
        the table, follows the points in straight lines at the push speed,
        goes straight up, leaves the camera's view, and the objects settle.
        Returns how every object moved (ground truth).
        """
        w = np.asarray(waypoints_base, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != 3 or len(w) < 1 or not np.all(np.isfinite(w)):
            raise InputError(f"waypoints must be a finite (N, 3) array of base_link points, got shape {w.shape}")
        if self._pusher is None:
            raise BackendError("the simulation has no scene yet: call reset() first")
        before = self.object_poses()
        self._pusher.follow(w, clearance_z=max(self.table_z, self.table.top_z) + 0.15)
        self._settle()
        self._frame = None
        after = self.object_poses()
        motions = []
        for o in self.scene_objects:
            (p0, q0), (p1, q1) = before[o.instance_id], after[o.instance_id]
            motions.append(
                ObjectMotion(
                    instance_id=o.instance_id,
                    name=o.name,
                    translation=float(np.hypot(*(p1[:2] - p0[:2]))),
                    rotation=sc.rotation_about_z(q0, q1),
                )
            )
        return tuple(motions)

    # --- internals -----------------------------------------------------------------

    def _step(self) -> None:
        pb.stepSimulation(physicsClientId=self._client)
        self.stats.physics_steps += 1
        self._sim_steps += 1

    def _settle(self, min_steps: int = 24, max_steps: int = 480) -> None:
        """Step until every object is still (or ``max_steps`` passed)."""
        for k in range(max_steps):
            self._step()
            if k + 1 >= min_steps and (k + 1) % 12 == 0 and self._all_still():
                return

    def _all_still(self, lin: float = 0.005, ang: float = 0.05) -> bool:
        for o in self.scene_objects:
            v, w = pb.getBaseVelocity(o.body, physicsClientId=self._client)
            if np.linalg.norm(v) > lin or np.linalg.norm(w) > ang:
                return False
        return True

    def _build_world(self, rng: np.random.Generator) -> None:
        cfg, c = self.config, self._client
        pb.resetSimulation(physicsClientId=c)
        self._sim_steps = 0
        pb.setGravity(0, 0, -9.81, physicsClientId=c)
        pb.setTimeStep(cfg.time_step, physicsClientId=c)
        if cfg.gui:
            pb.configureDebugVisualizer(pb.COV_ENABLE_GUI, 0, physicsClientId=c)

        # The draw order is fixed: camera, light, room, objects, depth-noise seed. The world's
        # nuisances draw from their own streams (self._streams), never from ``rng``.
        nz = self.profile.nuisances
        if self.profile.varied:  # any camera at any table (envs.transfer)
            self._scenery = tr.sample_scenery(rng, cfg.width, cfg.height)
            T = self._scenery.camera.T_base_camera
            self._T_true = T
            self.camera = replace(self._scenery.camera, T_base_camera=T @ self._T_calib if nz.calibration > 0 else T)
            self.lighting = replace(self._scenery.lighting, shadow=cfg.shadows)
            self._depth_range = self._scenery.depth_range
        else:
            self._scenery = None
            T = sc.sample_camera_pose(rng, cfg.jitter)
            self._T_true = T
            self.camera = kinect2_camera(cfg.width, cfg.height, T @ self._T_calib if nz.calibration > 0 else T)
            self.lighting = sc.sample_lighting(rng, cfg.jitter, cfg.shadows)
        if nz.shadows > 0 and cfg.shadows:
            # Shadows that objects cast: a shadow map over the whole table, and a key light
            # stronger against the ambient (shadow contrast) with the strength.
            k = min(0.1 * nz.shadows, self.lighting.ambient - 0.15)
            self.lighting = replace(
                self.lighting, distance=10.0, ambient=self.lighting.ambient - k, diffuse=self.lighting.diffuse + k
            )
        self._view = view_matrix(T)
        self._last_view = self._view
        self._proj = projection_matrix(self.camera, NEAR, FAR)
        self._renders_in_scene = 0
        if self._scenery is not None:
            self.table = self._scenery.table
        elif nz.surroundings > 0:
            self.table = sample_table(self._streams["surroundings"], nz.surroundings)
        else:
            self.table = sc.IDEAL_TABLE
        self.table_z = self.table.top_z
        if self._scenery is not None:
            floor, table = tr.build_room(c, rng, self._scenery)
            textures = tr.object_textures(c, rng)  # this scene's own, made from its seed
        else:
            textures = [pb.loadTexture(f, physicsClientId=c) for f in self._texture_files]
            floor, table = sc.build_room(c, rng, cfg.jitter, self._table_texture_files, self.table)
        if nz.surroundings > 0:
            build_surroundings(c, self._streams["surroundings"], nz.surroundings, self.table, table, floor)
        self._pusher = Pusher(c, self._step, speed=cfg.push_speed, time_step=cfg.time_step)
        count = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
        specs = cfg.objects.sample(rng, count)
        bodies = self._place(rng, specs, textures)
        self.scene_objects = [
            SceneObject(instance_id=i + 1, name=spec.name, body=body, spec=spec)
            for i, (spec, body) in enumerate(bodies)
        ]
        self._settle(max_steps=720)
        self._drop_fallen()
        self.looks = {o.instance_id: Look() for o in self.scene_objects}
        if nz.object_looks > 0:
            self.looks = apply_looks(
                c, self._streams["object_looks"], nz.object_looks,
                [(o.instance_id, o.spec, o.body) for o in self.scene_objects],
            )  # fmt: skip
        self._noise_rng = np.random.default_rng(rng.integers(2**63))
        self._lut = np.zeros(max(o.body for o in self.scene_objects) + 2 if self.scene_objects else 1, np.uint16)
        for o in self.scene_objects:
            self._lut[o.body + 1] = o.instance_id  # segmentation: -1 (nothing) -> index 0

    def _region(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Where objects go: the configured region, moved under the camera's optical axis for
        viewpoints that look elsewhere (source jitter), and kept on the table."""
        cfg = self.config
        if self._scenery is not None:  # around where the varied camera looks
            return self._scenery.region
        rx, ry = cfg.region_x, cfg.region_y
        T, tx, ty, tz = self._T_true, self.table.x, self.table.y, self.table.top_z
        axis, origin = T[:3, 2], T[:3, 3]
        if axis[2] < -1e-3:
            hit = origin + axis * (tz - origin[2]) / axis[2]
            nominal = kinect2_camera(cfg.width, cfg.height).T_base_camera
            nominal_hit = nominal[:3, 3] + nominal[:3, 2] * (tz - nominal[2, 3]) / nominal[2, 2]
            dx, dy = hit[0] - nominal_hit[0], hit[1] - nominal_hit[1]
            m = 0.08
            rx = (np.clip(rx[0] + dx, tx[0] + m, None), np.clip(rx[1] + dx, None, tx[1] - m))
            ry = (np.clip(ry[0] + dy, ty[0] + m, None), np.clip(ry[1] + dy, None, ty[1] - m))
        return (float(rx[0]), float(rx[1])), (float(ry[0]), float(ry[1]))

    def _place(self, rng: np.random.Generator, specs: list[ObjectSpec], textures: list[int]):
        """Put objects down one by one without interpenetration; with probability
        ``clutter`` slide a new one against an object already placed so that they touch.
        A ``clutter_level`` (envs.clutter) fixes how instead: apart, touching, or piled.
        An object that finds no room in 30 tries is left out (scenes may hold fewer)."""
        cfg, c = self.config, self._client
        rx, ry = self._region()
        level = cfg.clutter_level
        gap = SEPARATED_GAP_M if level == "separated" else 0.0
        placed: list[tuple[ObjectSpec, int, np.ndarray]] = []
        for k, spec in enumerate(specs):
            yaw = float(rng.uniform(-np.pi, np.pi))
            if level is None:
                cluster = bool(placed) and rng.random() < cfg.clutter
            else:
                cluster = bool(placed) and level != "separated"
            body = sc.create_object(c, spec, np.array([rx[0], ry[0]]), yaw, textures, self.table.top_z)
            if level == "piled" and len(placed) >= 2 and k % PILE_EVERY == PILE_EVERY - 1:
                if self._put_on_pile(rng, body, [b for _, b, _ in placed]):
                    placed.append((spec, body, self._xy(body)))
                else:
                    pb.removeBody(body, physicsClientId=c)
                continue
            ok = False
            for _ in range(30):
                if cluster:
                    _, _, anchor = placed[int(rng.integers(len(placed)))]
                    a = rng.uniform(-np.pi, np.pi)
                    d = np.array([np.cos(a), np.sin(a)])
                    xy = anchor + d * (spec.footprint_radius + 0.09)
                else:
                    xy = np.array([rng.uniform(*rx), rng.uniform(*ry)])
                self._move_xy(body, xy)
                if cluster:  # slide towards the anchor in 2 mm steps until it touches (< 1 mm)
                    for _ in range(100):
                        if sc.overlaps(c, body, [b for _, b, _ in placed], margin=0.001):
                            break
                        self._move_xy(body, self._xy(body) - d * 0.002)
                    if sc.overlaps(c, body, [b for _, b, _ in placed], margin=0.0):
                        self._move_xy(body, self._xy(body) + d * 0.002)  # one step too far
                xy = self._xy(body)
                inside = rx[0] <= xy[0] <= rx[1] and ry[0] <= xy[1] <= ry[1]
                if inside and not sc.overlaps(c, body, [b for _, b, _ in placed], margin=gap):
                    ok = True
                    break
            if ok:
                placed.append((spec, body, self._xy(body)))
            else:  # no room left for it: leave it out
                pb.removeBody(body, physicsClientId=c)
        return [(spec, body) for spec, body, _ in placed]

    def _put_on_pile(self, rng: np.random.Generator, body: int, others: list[int]) -> bool:
        """Hold ``body`` just above the group, over one or two of its objects, to fall onto them when the
        scene settles (it rests on them or leans against them). False if it finds no free place."""
        c = self._client
        for _ in range(30):
            a, b = (others[int(i)] for i in rng.choice(len(others), 2, replace=False))
            t = rng.uniform(0.3, 0.7)  # between two objects of the group, where it is caught by both
            xy = t * self._xy(a) + (1 - t) * self._xy(b) + rng.normal(0, 0.01, 2)
            self._move_xy(body, xy)
            top = max(pb.getAABB(o, physicsClientId=c)[1][2] for o in others)
            lo, _ = pb.getAABB(body, physicsClientId=c)
            pos, q = pb.getBasePositionAndOrientation(body, physicsClientId=c)
            pb.resetBasePositionAndOrientation(body, [pos[0], pos[1], pos[2] + top - lo[2] + 0.005], q,
                                               physicsClientId=c)
            if not sc.overlaps(c, body, others, margin=0.0):
                return True
        return False

    def clutter_stats(self, scene_ids: np.ndarray) -> dict:
        """The clutter of the settled scene (envs.clutter.clutter_stats); ``scene_ids`` its instance image."""
        cam = self.camera

        def render_ids() -> np.ndarray:
            *_, seg = pb.getCameraImage(cam.width, cam.height, self._last_view, self._proj,
                                        renderer=pb.ER_TINY_RENDERER, physicsClientId=self._client)
            seg = np.reshape(seg, (cam.height, cam.width)).astype(np.int64)
            return self._lut[np.clip(seg + 1, 0, len(self._lut) - 1)]

        bodies = {o.instance_id: o.body for o in self.scene_objects}
        stats = clutter_stats(self._client, bodies, self.table.top_z, render_ids, np.asarray(scene_ids),
                              self._last_view, self._proj)
        return {"level": self.config.clutter_level, **stats}

    def _xy(self, body: int) -> np.ndarray:
        return np.array(pb.getBasePositionAndOrientation(body, physicsClientId=self._client)[0][:2])

    def _move_xy(self, body: int, xy: np.ndarray) -> None:
        pos, q = pb.getBasePositionAndOrientation(body, physicsClientId=self._client)
        pb.resetBasePositionAndOrientation(body, [float(xy[0]), float(xy[1]), pos[2]], q, physicsClientId=self._client)

    def _drop_fallen(self) -> None:
        """Objects that left the table top while settling are taken out; ids stay 1..N."""
        keep = []
        for o in self.scene_objects:
            lo, _ = pb.getAABB(o.body, physicsClientId=self._client)
            pos = self._xy(o.body)
            # Bullet's AABBs include collision margins: a standing object reaches ~1-2 cm below the top.
            tx, ty = self.table.x, self.table.y
            on_table = lo[2] > self.table.top_z - 0.05 and tx[0] < pos[0] < tx[1]
            if on_table and ty[0] < pos[1] < ty[1]:
                keep.append(o)
            else:
                pb.removeBody(o.body, physicsClientId=self._client)
        self.scene_objects = [
            SceneObject(instance_id=i + 1, name=o.name, body=o.body, spec=o.spec) for i, o in enumerate(keep)
        ]

    def _calibration_error(self) -> np.ndarray:
        """T_true_believed: the believed optical frame in the true one. A fixed 1 cm and 0.5 deg
        (times the strength) in directions drawn once per backend, like one hand-eye calibration."""
        s = self.profile.nuisances.calibration
        if s <= 0:
            return np.eye(4)
        rng = calibration_rng(self.profile.calibration_seed)
        t_dir, r_dir = rng.standard_normal(3), rng.standard_normal(3)
        t = 0.01 * s * t_dir / np.linalg.norm(t_dir)
        axis = r_dir / np.linalg.norm(r_dir)
        angle = np.radians(0.5 * s)
        K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        E = np.eye(4)
        E[:3, :3] = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K  # Rodrigues
        E[:3, 3] = t
        return E

    def _head_view(self) -> list[float]:
        """The view matrix of this image: after a push the head settles 1 px (s.d., per axis, at
        qhd, times the strength) away from where it was, unseen by the head's encoders."""
        s = self.profile.nuisances.head_shift
        if s <= 0 or self._renders_in_scene == 0:
            return self._view
        rng = self._streams["head_shift"]
        pan, tilt = rng.normal(0.0, s / KINECT2_QHD_FX, size=2)  # radians per pixel of a qhd image
        R = np.eye(4)
        R[:3, :3] = rot_y(pan) @ rot_x(tilt)  # about the optical frame's y (pan) and x (tilt) axes
        return view_matrix(self._T_true @ R)

    def _render(self) -> Frame:
        cam = self.camera
        nz = self.profile.nuisances
        self._last_view = self._head_view()  # the clutter statistics render from the same view
        _, _, rgba, depth_buf, seg = pb.getCameraImage(
            cam.width,
            cam.height,
            self._last_view,
            self._proj,
            renderer=pb.ER_TINY_RENDERER,
            physicsClientId=self._client,
            **self.lighting.kwargs(),
        )
        self.stats.renders += 1
        self._renders_in_scene += 1
        rgb = np.ascontiguousarray(np.reshape(rgba, (cam.height, cam.width, 4))[..., :3], dtype=np.uint8)
        depth = linearize_depth(np.reshape(depth_buf, (cam.height, cam.width)), NEAR, FAR)
        seg = np.reshape(seg, (cam.height, cam.width)).astype(np.int64)
        ids = self._lut[np.clip(seg + 1, 0, len(self._lut) - 1)]
        if self.profile.varied:  # a real camera's exposure, before its noise (envs.sensor.auto_exposure)
            rgb = sensor.auto_exposure(rgb, self._streams["auto_exposure"])
        if nz.any:
            rgb, depth = self._sensor(rgb, depth, ids)
        if self.config.depth_noise is not None:
            depth = self.config.depth_noise.apply(depth, self._noise_rng)
        t = self._sim_steps * self.config.time_step  # simulated seconds since reset
        return Frame(rgb=rgb, depth=depth, camera=cam, timestamp=float(t), instance_ids=ids)

    def _sensor(self, rgb: np.ndarray, depth: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The Kinect2's nuisances on a perfect rendering, each from its own stream (envs.sensor)."""
        nz, st = self.profile.nuisances, self._streams
        clean = depth
        if nz.depth_noise > 0 or nz.depth_dropout > 0:
            theta = sensor.incidence(depth, self.camera.K)
        if nz.depth_noise > 0:
            depth = sensor.axial_noise(depth, theta, nz.depth_noise, st["depth_noise"])
        if nz.depth_edges > 0:
            depth = sensor.depth_edges(depth, nz.depth_edges, st["depth_edges"], clean=clean)
        if nz.depth_dropout > 0:
            dark = np.zeros(len(self._lut), bool)
            shiny = np.zeros(len(self._lut), bool)
            for iid, look in self.looks.items():
                dark[iid], shiny[iid] = look.dark, look.shiny
            looks = sensor.SurfaceLooks(dark=dark[ids], shiny=shiny[ids])
            depth = sensor.dropout(depth, theta, looks, nz.depth_dropout, st["depth_dropout"], self._depth_range)
        if nz.exposure > 0:
            rgb = sensor.exposure(rgb, nz.exposure, st["exposure"])
        if nz.rgb_noise > 0:
            rgb = sensor.sensor_noise(rgb, nz.rgb_noise, st["rgb_noise"])
        return rgb, depth

    def _fit_table_z(self, frame: Frame) -> float:
        """The table height the robot believes: a plane fitted in the workspace, read at its centre."""
        ws = self.config.workspace
        try:
            return table_height(frame.camera, frame.depth, (ws.x, ws.y), rng=0)  # as the real robot does
        except InputError as exc:
            raise BackendError(f"the simulated robot cannot find its table: {exc}") from exc

    def project_base(self, p_base: np.ndarray) -> np.ndarray:
        """base_link point(s) -> pixel(s) in the current camera (a convenience for tests and tools)."""
        return base_to_pixel(self.camera, p_base)

    def __enter__(self) -> "SimBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
