"""Kill a collection (SIGKILL to it and its workers) at seeded random moments, then --resume.

Each trial asserts: the resumed run is byte-identical to an uninterrupted one
(nothing lost, duplicated or different), and at the kill no more pushes were
lost than there are workers (the pushes in flight). The bigger numbers are in
benchmarks/reliability.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import fault_tools as ft

EPISODES, PUSHES = 4, 3


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return ft.reference_run(tmp_path_factory.mktemp("ref") / "run", EPISODES, PUSHES)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.slow
def test_kill_at_random_moments_then_resume(tmp_path, reference, workers):
    rng = np.random.default_rng(100 + workers)
    # One kill in the first second (before or while the folder is made), then kills a random
    # moment after a random push has finished.
    kills = [(None, float(rng.uniform(0.0, 1.0)))]
    kills += [(int(rng.integers(1, EPISODES * PUSHES)), float(rng.uniform(0.0, 0.05))) for _ in range(2)]
    for i, (k, t) in enumerate(kills):
        trial = tmp_path / f"t{i}"
        trial.mkdir()
        r = ft.kill_and_resume(trial, reference, workers=workers, episodes=EPISODES, pushes=PUSHES, kill_after_s=t,
                               kill_at_push=k)
        assert r["resume_rc"] == 0, r
        assert (r["missing"], r["duplicated"], r["different"]) == (0, 0, []), r
        assert r["lost_at_kill"] <= workers, r
        assert r["killed"] or k is None, r  # a kill after a push always lands inside the run


def test_scenes_interrupted_then_resumed_equal_an_uninterrupted_run(tmp_path, monkeypatch):
    from pushseg.data import scenes as sc

    cfg = sc.ScenesConfig(count=3, width=64, height=48, min_objects=1, max_objects=2)
    sc.write_scenes(cfg, tmp_path / "full", progress=False)
    real = sc.render_scene

    def dies_at_the_third(backend, index, seed):
        if index == 2:
            raise KeyboardInterrupt  # as a Ctrl-C or a kill would
        return real(backend, index, seed)

    monkeypatch.setattr(sc, "render_scene", dies_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        sc.write_scenes(cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(sc, "render_scene", real)
    assert not (tmp_path / "cut" / "meta.json").exists() and (tmp_path / "cut" / "staging").is_dir()
    rendered = []
    monkeypatch.setattr(sc, "render_scene", lambda b, i, s: rendered.append(i) or real(b, i, s))
    sc.write_scenes(cfg, tmp_path / "cut", progress=False, resume=True)
    assert rendered == [2]  # the two finished scenes were read back, not rendered again
    assert ft.files(tmp_path / "cut") == ft.files(tmp_path / "full")
