"""Experiments as data: variants x seeds, each cell a folder with its resolved config.

Two kinds of spec live here:

* **Generic specs** (``specs/*.yaml``, :mod:`pushseg.experiments.spec`): the settings
  every cell shares (``base``: section -> key -> value, the sections of
  :data:`pushseg.config.SECTIONS`), the ``variants`` (each a name and the settings it
  changes, ``section.key: value``), the ``seeds`` and ``seed_key``, the setting a seed
  goes into (e.g. ``demo.seed``). ``load_spec(path)`` reads and checks one;
  ``cells(spec, root)`` lists its cells, variant-major; ``prepare(cell)`` creates the
  folder and writes ``config.yaml`` (refusing a folder made with other settings).
  Running a cell is the caller's: e.g. ``run_demo(cell.folder, cell.configs["demo"])``.
* **The paper's tables** (``tables/*.yaml`` for Tables I-III and Fig. 4, sized by
  ``profiles/*.yaml``; :mod:`pushseg.experiments.specs`), run by ``pushseg experiment``
  (:mod:`~pushseg.experiments.runner`): leak-free splits (:mod:`~.splits`), one cell per
  row and seed (:mod:`~.table_cell`), mean ± std over seeds and bootstrap intervals over
  test scenes (:mod:`~.stats`, :mod:`~.scene_ap`), reports and plots (:mod:`~.report`,
  :mod:`~.plots`, :mod:`~.summary`). See docs/experiments.md.
"""

from pushseg.experiments.spec import Cell, ExperimentSpec, Variant, cells, load_spec, prepare

__all__ = ["Cell", "ExperimentSpec", "Variant", "cells", "load_spec", "prepare"]
