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
def test_kill_at_random_moments_then_resume(tmp_path, reference, workers):
    rng = np.random.default_rng(100 + workers)
    # From "before the folder exists" to "the last episodes"; the child needs ~1 s to start.
    for i, t in enumerate(sorted(rng.uniform(0.2, 2.5, size=2))):
        trial = tmp_path / f"t{i}"
        trial.mkdir()
        r = ft.kill_and_resume(trial, reference, workers=workers, episodes=EPISODES, pushes=PUSHES, kill_after_s=t)
        assert r["resume_rc"] == 0, r
        assert (r["missing"], r["duplicated"], r["different"]) == (0, 0, []), r
        assert r["lost_at_kill"] <= workers, r
