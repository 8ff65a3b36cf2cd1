"""The percentile bootstrap, the one resampling every interval in pushseg comes from.

:func:`bootstrap_draws` resamples item indices with replacement (seeded) and
applies a statistic to each resample; :func:`bootstrap` turns the draws of a
scalar statistic into an :class:`Interval`. The streaming evaluator's intervals
over test images and the experiments' intervals over scenes both use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from pushseg.errors import InputError


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def bootstrap_draws(statistic: Callable[[np.ndarray], float | np.ndarray], n_items: int, *, n_boot: int = 1000,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``statistic`` on all items (in order) and on ``n_boot`` resamples of ``n_items`` item indices."""
    if n_items < 1:
        raise InputError("bootstrap: nothing to resample")
    if n_boot < 1:
        raise InputError(f"bootstrap: resamples must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    estimate = np.asarray(statistic(np.arange(n_items)), float)
    draws = np.array([statistic(rng.integers(0, n_items, n_items)) for _ in range(n_boot)], float)
    return estimate, draws


def check_level(level: float) -> None:
    if not 0 < level < 1:
        raise InputError(f"level must lie in (0, 1), got {level}")


def bootstrap(statistic: Callable[[np.ndarray], float], n_items: int, *, n_boot: int = 1000, seed: int = 0,
              level: float = 0.95) -> Interval:
    """Percentile bootstrap: ``statistic(index)`` on ``n_boot`` resamples (with replacement) of ``n_items``.

    Resamples where the statistic is undefined (NaN) are left out.
    """
    check_level(level)
    estimate, draws = bootstrap_draws(statistic, n_items, n_boot=n_boot, seed=seed)
    draws = draws[~np.isnan(draws)]
    if draws.size == 0:
        return Interval(float(estimate), float("nan"), float("nan"), level)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(estimate), float(lo), float(hi), level)
