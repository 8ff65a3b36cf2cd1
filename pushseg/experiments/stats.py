"""Statistics for claims over seeds and test scenes.

* :func:`mean_std` -- mean and sample standard deviation over seeds (the paper's "mean ± std").
* :func:`paired_over_seeds` -- the per-seed differences of two rows, with a Student-t interval.
* :func:`bootstrap_ap_difference` -- a percentile bootstrap interval over test scenes for the
  difference in AP of two rows, averaged over seeds; paired (the same resampled scenes for
  both rows) when both were scored on the same scenes.
* :func:`two_level_ap_difference` -- the verdict's interval: seeds and test scenes resampled
  together (:func:`pushseg.evaluation.bootstrap.two_level_bootstrap`), so that a claim
  holds for another training seed as well as for other scenes.
* :func:`verdict` -- "better" only where the interval lies above zero.

Every resampling is seeded: the same inputs give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from pushseg.errors import InputError
from pushseg.evaluation.bootstrap import Interval, TwoLevel, bootstrap, two_level_bootstrap
from pushseg.experiments.scene_ap import METRICS, SceneRecord, ap_of


@dataclass(frozen=True)
class MeanStd:
    mean: float
    std: float  # sample standard deviation (ddof = 1); 0 for a single value
    n: int

    def fmt(self, digits: int = 1) -> str:
        if self.n == 0 or math.isnan(self.mean):
            return "–"
        if self.n == 1:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def mean_std(values: Sequence[float]) -> MeanStd:
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], float)
    if v.size == 0:
        return MeanStd(float("nan"), float("nan"), 0)
    return MeanStd(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size))


def verdict(interval: Interval | None) -> str:
    """'better' / 'worse' only where the interval excludes zero, else 'no clear difference'."""
    if interval is None or math.isnan(interval.low) or math.isnan(interval.high):
        return "not measured"
    if interval.low > 0:
        return "better"
    if interval.high < 0:
        return "worse"
    return "no clear difference"


@dataclass(frozen=True)
class Paired:
    """Row A minus row B, seed by seed (only seeds both have)."""

    seeds: tuple[int, ...]
    differences: tuple[float, ...]
    mean: float
    std: float
    interval: Interval  # Student-t over the per-seed differences; nan with fewer than 2 seeds
    wins: int  # seeds where A > B

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["interval"] = self.interval.to_dict()
        return d


def paired_over_seeds(a: Mapping[int, float], b: Mapping[int, float], level: float = 0.95) -> Paired:
    """Per-seed differences a[s] - b[s]. A row with one value (no seed dependence) pairs with every seed."""
    a, b = _broadcast(a, b)
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        raise InputError("paired comparison: the two rows have no seed in common")
    d = np.array([a[s] - b[s] for s in seeds], float)
    ms = mean_std(d.tolist())
    if len(d) > 1:
        half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1)) * ms.std / math.sqrt(len(d))
        interval = Interval(ms.mean, ms.mean - half, ms.mean + half, level)
    else:
        interval = Interval(ms.mean, float("nan"), float("nan"), level)
    return Paired(seeds, tuple(float(x) for x in d), ms.mean, ms.std, interval, int((d > 0).sum()))


def _same_scenes(rows: Sequence[Sequence[SceneRecord]]) -> bool:
    ids = [tuple(r.image_id for r in recs) for recs in rows]
    return all(i == ids[0] for i in ids)


def bootstrap_ap_difference(a: Mapping[int, Sequence[SceneRecord]], b: Mapping[int, Sequence[SceneRecord]],
                            metric: str = "AP50", *, n_boot: int = 1000, seed: int = 0,
                            level: float = 0.95) -> tuple[Interval, bool]:
    """Interval for mean over seeds of AP_a - AP_b (points), resampling test scenes.

    ``a`` and ``b`` map seed -> per-scene records. A row with one entry (e.g. the
    pretrained model, which no seed changes) is compared with every seed of the
    other. When every entry covers the same scenes in the same order, one resample of
    scene indices serves both rows and all seeds (paired); otherwise each entry is
    resampled on its own. Returns the interval and whether it was paired.
    """
    a, b = _broadcast(a, b)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise InputError("bootstrap: the two rows have no seed in common")
    rows = [a[s] for s in seeds] + [b[s] for s in seeds]
    paired = _same_scenes(rows)
    if paired:
        def stat(index: np.ndarray) -> float:
            return float(np.mean([ap_of(a[s], index)[metric] - ap_of(b[s], index)[metric] for s in seeds]))

        return bootstrap(stat, len(rows[0]), n_boot=n_boot, seed=seed, level=level), True
    rng = np.random.default_rng(seed)
    estimate = float(np.mean([ap_of(a[s])[metric] - ap_of(b[s])[metric] for s in seeds]))
    draws = []
    for _ in range(n_boot):
        diffs = []
        for s in seeds:
            ia = rng.integers(0, len(a[s]), len(a[s]))
            ib = rng.integers(0, len(b[s]), len(b[s]))
            diffs.append(ap_of(a[s], ia)[metric] - ap_of(b[s], ib)[metric])
        draws.append(np.mean(diffs))
    d = np.array(draws)
    d = d[~np.isnan(d)]
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2]) if d.size else (float("nan"), float("nan"))
    return Interval(estimate, float(lo), float(hi), level), False


def _broadcast(a: Mapping, b: Mapping):
    """A row with one entry (no seed dependence, e.g. the pretrained model) pairs with every seed of the other."""
    if len(b) == 1 and len(a) > 1:
        b = {s: next(iter(b.values())) for s in a}
    if len(a) == 1 and len(b) > 1:
        a = {s: next(iter(a.values())) for s in b}
    return a, b


def two_level_ap_difference(a: Mapping[int, Sequence[SceneRecord]], b: Mapping[int, Sequence[SceneRecord]],
                            metrics: Sequence[str] = METRICS, *, n_boot: int = 1000, seed: int = 0,
                            level: float = 0.95) -> dict[str, TwoLevel]:
    """Per metric, intervals for mean over seeds of AP_a - AP_b (points), resampling seeds and scenes.

    Both rows must hold the same scenes in the same order for every seed (one experiment's
    test set); a row with one entry is compared with every seed of the other.
    """
    a, b = _broadcast(a, b)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise InputError("bootstrap: the two rows have no seed in common")
    if not _same_scenes([a[s] for s in seeds] + [b[s] for s in seeds]):
        raise InputError("two-level bootstrap: the rows were scored on different scenes; compare rows of one "
                         "experiment (the same target-test scenes)")
    metrics = list(metrics)
    cache: dict[int, np.ndarray] = {}

    def per_seed(index: np.ndarray) -> np.ndarray:
        cache.clear()  # a row shared by several seeds (one record list) is scored once per resample

        def ap(records: Sequence[SceneRecord]) -> np.ndarray:
            if id(records) not in cache:
                m = ap_of(records, index)
                cache[id(records)] = np.array([m[x] for x in metrics])
            return cache[id(records)]

        return np.stack([ap(a[s]) - ap(b[s]) for s in seeds])

    out = two_level_bootstrap(per_seed, len(seeds), len(a[seeds[0]]), n_boot=n_boot, seed=seed, level=level)
    return dict(zip(metrics, out))


def two_level_ap(rows: Mapping[int, Sequence[SceneRecord]], metrics: Sequence[str] = METRICS, *,
                 n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, TwoLevel]:
    """Per metric, intervals for one row's mean AP over seeds, resampling seeds and (shared) scenes."""
    seeds = sorted(rows)
    if not seeds:
        raise InputError("bootstrap: the row has no seed")
    if not _same_scenes([rows[s] for s in seeds]):
        raise InputError("two-level bootstrap: the seeds were scored on different scenes")
    metrics = list(metrics)

    def per_seed(index: np.ndarray) -> np.ndarray:
        return np.stack([[ap_of(rows[s], index)[m] for m in metrics] for s in seeds])

    out = two_level_bootstrap(per_seed, len(seeds), len(rows[seeds[0]]), n_boot=n_boot, seed=seed, level=level)
    return dict(zip(metrics, out))
