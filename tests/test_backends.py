"""The backend registry: built-ins by name, plug-ins by entry point or at run time, ready objects as they are."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from pushseg import backends
from pushseg.backends import Backend
from pushseg.envs import PushSegEnv
from pushseg.errors import BackendError, InputError
from pushseg.geometry import kinect2_camera
from pushseg.types import Frame, Outcome, Push, PushResult
from pushseg.workspace import Workspace

W, H = 64, 36


class FlatTableBackend:
    """A plug-in as a third party would write one: an empty table seen from the PR2's head."""

    name = "flat"

    def __init__(self, table_z: float = 0.7, width: int = W, height: int = H) -> None:
        self.camera = kinect2_camera(width, height)
        self.workspace = Workspace(x=(0.4, 0.9), y=(-0.3, 0.3))
        self.table_z = table_z
        self.pushes: list[Push] = []
        self.closed = False

    def _frame(self) -> Frame:
        c = self.camera
        vs, us = np.mgrid[0 : c.height, 0 : c.width].astype(np.float64)
        rays = np.stack([(us - c.cx) / c.fx, (vs - c.cy) / c.fy, np.ones_like(us)], axis=-1) @ c.T_base_camera[:3, :3].T
        depth = (self.table_z - c.T_base_camera[2, 3]) / rays[..., 2]  # where each ray meets the table
        return Frame(rgb=np.full((c.height, c.width, 3), 128, np.uint8), depth=depth.astype(np.float32), camera=c)

    def reset(self, seed=None) -> Frame:
        return self._frame()

    def push(self, push: Push) -> PushResult:
        self.pushes.append(push)
        return PushResult(Outcome.EXECUTED)

    def observe(self) -> Frame:
        return self._frame()

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def flat_registered():
    backends.register("flat", FlatTableBackend)
    yield
    backends.unregister("flat")


def test_builtins_are_listed_and_sim_is_made_by_name():
    assert {"sim", "real"} <= set(backends.available())
    sim = backends.make_backend("sim", width=W, height=H, num_objects=(1, 1))
    try:
        assert sim.name == "sim" and isinstance(sim, Backend)
        assert isinstance(sim.workspace, Workspace) and sim.table_z == pytest.approx(0.699)
    finally:
        sim.close()


def test_a_backend_registered_at_run_time_drives_the_env(flat_registered):
    env = PushSegEnv(backend="flat", table_z=0.65)
    try:
        assert isinstance(env.backend, FlatTableBackend) and env.backend.table_z == 0.65
        obs, _ = env.reset(seed=0)
        assert obs["depth"].shape == (H, W)
        _, _, _, _, info = env.step(np.array([10, 10, 0.0, 0.05], np.float32))
        assert info["transition"].backend == "flat" and len(env.backend.pushes) == 1
    finally:
        env.close()
    assert env.backend.closed


def test_a_backend_from_an_entry_point(tmp_path, monkeypatch):
    # An installed plug-in distribution: a module and its entry point in the pushseg.backends group.
    (tmp_path / "my_flat_plugin.py").write_text(
        textwrap.dedent(
            """
            from test_backends import FlatTableBackend

            class Plugged(FlatTableBackend):
                name = "plugged"
            """
        )
    )
    dist = tmp_path / "my_flat_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-flat-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pushseg.backends]\nplugged = my_flat_plugin:Plugged\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "plugged" in backends.available()
    made = backends.make_backend("plugged")
    assert made.name == "plugged" and isinstance(made, Backend)
    # A plug-in that fails to import is a clear BackendError naming it.
    (dist / "entry_points.txt").write_text("[pushseg.backends]\nbroken = no_such_module_xyz:Thing\n")
    with pytest.raises(BackendError, match="backend 'broken' .*no_such_module_xyz:Thing"):
        backends.make_backend("broken")


def test_bad_backends_are_clear_errors(flat_registered):
    with pytest.raises(InputError, match=r"unknown backend 'mars': use one of .*flat.*real.*sim"):
        backends.make_backend("mars")

    class NoWorkspace:
        name, camera, table_z = "x", kinect2_camera(W, H), 0.7

        def reset(self, seed=None): ...
        def push(self, push): ...
        def observe(self): ...
        def close(self): ...

    with pytest.raises(InputError, match="NoWorkspace lacks workspace"):
        PushSegEnv(backend=NoWorkspace())
    with pytest.raises(InputError, match="ready backend object"):
        backends.make_backend(FlatTableBackend(), table_z=0.6)
    backends.register("half", lambda: object())
    try:
        with pytest.raises(BackendError, match="backend 'half' made a object, which lacks name, camera"):
            backends.make_backend("half")
    finally:
        backends.unregister("half")
