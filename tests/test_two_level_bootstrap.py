"""The verdicts' interval: seeds and scenes resampled together, with the width a claim needs.

Synthetic scores with known variance: x[seed, scene] = seed effect + scene effect + noise
(every seed scored on the same scenes, as in an experiment). Over repeated draws, the
95 % interval must hold the true mean (0) about 95 % of the time, whichever of seeds and
scenes varies most; the scene-only bootstrap that the verdicts used before must not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pushseg.errors import InputError
from pushseg.evaluation.bootstrap import bootstrap, two_level_bootstrap
from pushseg.experiments.stats import two_level_ap_difference, verdict
from test_experiment_stats import _two_models

SEEDS, SCENES, REPEATS = 5, 30, 200


def _draw(rng, seed_sd, scene_sd, noise_sd):
    return (rng.normal(0, seed_sd, (SEEDS, 1)) + rng.normal(0, scene_sd, (1, SCENES))
            + rng.normal(0, noise_sd, (SEEDS, SCENES)))


def _coverage(seed_sd, scene_sd, noise_sd, method):
    rng = np.random.default_rng(7)
    hits, widths = 0, []
    for r in range(REPEATS):
        x = _draw(rng, seed_sd, scene_sd, noise_sd)
        if method == "two-level":
            ci = two_level_bootstrap(lambda j, x=x: x[:, j].mean(axis=1), SEEDS, SCENES, n_boot=200, seed=r)[0]
            ci = ci.interval
        else:  # scenes only, every seed's model taken as fixed
            ci = bootstrap(lambda j, x=x: float(x[:, j].mean()), SCENES, n_boot=200, seed=r)
        hits += ci.low < 0 < ci.high
        widths.append(ci.high - ci.low)
    true_sd = math.sqrt(seed_sd ** 2 / SEEDS + scene_sd ** 2 / SCENES + noise_sd ** 2 / (SEEDS * SCENES))
    return hits / REPEATS, float(np.mean(widths)) / (2 * 1.96 * true_sd)


@pytest.mark.parametrize("seed_sd,scene_sd,noise_sd", [
    (1.0, 0.1, 0.5),  # seeds matter most: few of them, so the interval must be t-wide
    (0.1, 1.0, 0.5),  # scenes matter most
    (0.5, 0.5, 0.5),  # both
])
def test_two_level_interval_covers_the_true_mean_about_95_percent(seed_sd, scene_sd, noise_sd):
    coverage, width = _coverage(seed_sd, scene_sd, noise_sd, "two-level")
    assert 0.90 <= coverage <= 0.99
    assert 0.85 <= width <= 1.6  # about the normal width; wider where 5 seeds need Student's t


def test_scene_only_bootstrap_is_too_narrow_when_seeds_vary():
    coverage, width = _coverage(1.0, 0.1, 0.5, "scenes")
    assert coverage < 0.5 and width < 0.3


def test_two_level_interval_is_seeded_and_exact_when_nothing_varies():
    x = np.random.default_rng(0).normal(0, 1, (SEEDS, SCENES))
    one = two_level_bootstrap(lambda j: x[:, j].mean(axis=1), SEEDS, SCENES, n_boot=100, seed=3)
    assert one == two_level_bootstrap(lambda j: x[:, j].mean(axis=1), SEEDS, SCENES, n_boot=100, seed=3)
    # the joint interval is never narrower than either level's own
    joint, scenes, seeds = one[0].interval, one[0].scenes, one[0].seeds
    assert joint.low <= min(scenes.low, seeds.low) and joint.high >= max(scenes.high, seeds.high)
    flat = two_level_bootstrap(lambda j: np.full((SEEDS, 2), 2.0), SEEDS, SCENES, n_boot=50)
    assert len(flat) == 2 and all((f.interval.low, f.interval.high) == (2.0, 2.0) for f in flat)


def test_ap_difference_over_seeds_and_scenes():
    good, weak = _two_models()
    ci = two_level_ap_difference({0: good, 1: good, 2: good}, {0: weak}, n_boot=200)
    assert set(ci) == {"AP50", "AP75", "AP"}
    assert ci["AP50"].interval.low > 0 and verdict(ci["AP50"].interval) == "better"
    same = two_level_ap_difference({0: good, 1: good}, {0: good, 1: good}, ["AP"], n_boot=50)["AP"].interval
    assert (same.low, same.high) == (0.0, 0.0) and verdict(same) == "no clear difference"
    with pytest.raises(InputError, match="different scenes"):
        two_level_ap_difference({0: good}, {0: weak[:7]}, ["AP50"], n_boot=10)
