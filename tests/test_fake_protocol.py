"""The fake PR2 and a collection drive the simulation through the public protocols only.

The simulation is wrapped in a proxy that exposes the members of one protocol
(``Backend`` for a collection, ``SimulatedBackend`` for the fake PR2) and
raises on anything else, so a reach into ``SimBackend`` internals fails here.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from pushseg import backends
from pushseg.backends import Backend, SimulatedBackend
from pushseg.data.collection import CollectConfig, collect
from pushseg.envs.sim_backend import SimBackend, SimBackendConfig
from pushseg.errors import BackendError
from pushseg.real import planning
from pushseg.real.config import RealBackendConfig
from pushseg.real.fake_pr2 import SimulatedPR2
from pushseg.types import Push
from pushseg.workspace import check_push


def protocol_members(protocol: type) -> set[str]:
    """The attributes and methods a protocol declares (its own and its bases')."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (object,) or not getattr(klass, "_is_protocol", False) or klass.__module__ == "typing":
            continue
        names |= set(getattr(klass, "__annotations__", {}))
        names |= {n for n, v in vars(klass).items() if inspect.isfunction(v) and not n.startswith("_")}
    return names


class ProtocolOnly:
    """``target`` seen through ``protocol``: its members work, anything else is an AttributeError."""

    def __init__(self, target, protocol: type) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_protocol", protocol)
        object.__setattr__(self, "_members", protocol_members(protocol))
        object.__setattr__(self, "used", set())

    def __getattr__(self, name: str):
        if name not in self._members:
            raise AttributeError(f"{name!r} is not a member of {self._protocol.__name__}")
        self.used.add(name)
        return getattr(self._target, name)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"setting {name!r}: a {self._protocol.__name__} is not changed from outside")


def test_the_proxy_exposes_exactly_the_protocol():
    members = protocol_members(SimulatedBackend)
    assert members == {"name", "camera", "workspace", "table_z", "reset", "push", "observe", "close",
                       "table", "execute_path", "render"}
    assert protocol_members(Backend) == members - {"table", "execute_path", "render"}
    with SimBackend(width=64, height=48) as sim:
        proxy = ProtocolOnly(sim, Backend)
        assert isinstance(proxy, Backend) and not isinstance(proxy, SimulatedBackend)
        assert isinstance(ProtocolOnly(sim, SimulatedBackend), SimulatedBackend)
        with pytest.raises(AttributeError, match="'_frame' is not a member of Backend"):
            proxy._frame  # noqa: B018


def _files(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name not in ("meta.json", "config.yaml")}


def test_a_collection_runs_through_the_backend_protocol_alone(tmp_path):
    proxies: list[ProtocolOnly] = []

    def protocol_sim(**kwargs):
        proxies.append(ProtocolOnly(SimBackend(**kwargs), Backend))
        return proxies[-1]

    settings = SimBackendConfig(width=96, height=54, world="harsh")
    backends.register("protocol-sim", protocol_sim, config=SimBackendConfig)
    try:
        through = collect(CollectConfig(episodes=2, pushes_per_episode=2, seed=5, backend="protocol-sim",
                                        backend_config=settings), tmp_path / "proxy", progress=False)
    finally:
        backends.unregister("protocol-sim")
    direct = collect(CollectConfig(episodes=2, pushes_per_episode=2, seed=5, backend_config=settings),
                     tmp_path / "direct", progress=False)
    assert through.written == direct.written == 4
    assert proxies and {"reset", "push", "observe", "camera", "workspace"} <= proxies[0].used
    assert _files(tmp_path / "proxy") == _files(tmp_path / "direct")  # the same transitions, byte for byte


def _reachable_push(world: SimulatedPR2, sim: SimulatedBackend, config: RealBackendConfig):
    """A planned push of the largest object in view, away from the robot, and the arm that does it."""
    frame = world.first_frame
    ids, counts = np.unique(frame.instance_ids[frame.instance_ids > 0], return_counts=True)
    for iid in ids[np.argsort(-counts)]:
        v, u = np.argwhere(frame.instance_ids == iid).mean(axis=0)
        path, _ = check_push(frame.camera, frame.depth, Push(float(u), float(v), 0.0, 0.08), table_z=sim.table_z)
        if path is None:
            continue
        for side in planning.arm_order(path, config):
            try:
                return side, planning.plan_arm(side, path, sim.table_z, world.torso, world.q[side], config)
            except planning.PushRefused:
                continue
    pytest.fail("no push of an object in view could be planned")


def test_the_fake_pr2_drives_the_simulation_through_its_protocol_alone(tmp_path):
    log = tmp_path / "motions.jsonl"
    sim = ProtocolOnly(backends.make_backend("sim", objects="target-train", width=320, height=180,
                                             region_x=(0.55, 0.75), region_y=(-0.2, 0.2), num_objects=(2, 3)),
                       SimulatedBackend)
    world = SimulatedPR2(sim, seed=1, motion_log=str(log))
    config = RealBackendConfig()
    side, plan = _reachable_push(world, sim, config)
    before = world.image()
    paused: list[tuple[int, float]] = []
    assert world.move(side, [world.q[side], *plan.positions], lambda i, s: paused.append((i, s)) or True)
    after = world.image()
    assert paused and log.is_file()  # the tool came down to the table and the pusher followed it
    motions = [m for line in log.read_text().splitlines() for m in json.loads(line)["motions"]]
    assert max(m["translation"] for m in motions) > 0.01  # the pushed object moved
    assert np.allclose(world.q[side], plan.positions[-1])  # the arm ended where the plan ends (out of view)
    assert not np.array_equal(before.rgb, after.rgb)  # a new image of the scene after the push
    assert sim.used <= protocol_members(SimulatedBackend)
    assert {"reset", "execute_path", "render", "table"} <= sim.used
    # Cancelled at once: the arm stops where it is, nothing pushed.
    start = world.q[side].copy()
    assert not world.move(side, [start, *plan.positions], lambda i, s: False)
    assert not np.allclose(world.q[side], plan.positions[-1])
    sim.close()


def test_the_fake_refuses_a_backend_that_cannot_play_an_arm():
    with SimBackend(width=64, height=48) as sim, pytest.raises(BackendError, match="SimulatedBackend"):
        SimulatedPR2(ProtocolOnly(sim, Backend), seed=0)
