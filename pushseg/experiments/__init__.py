"""Experiments as data: a table is a list of variants over seeds, each cell a folder.

This package holds the skeleton the stages need; runners, tables, statistics
and reports build on it here.

* A **spec** (YAML, see ``specs/``) names the settings every cell shares
  (``base``: section -> key -> value, the sections of :data:`pushseg.config.SECTIONS`),
  the ``variants`` (each a name and the settings it changes, ``section.key: value``),
  the ``seeds``, and ``seed_key``, the setting a seed goes into (e.g. ``demo.seed``).
* A **cell** is one variant at one seed: its resolved configs and its folder,
  ``ROOT/<variant>/seed-<seed>/``, which holds ``config.yaml`` (the resolved
  sections, readable by the matching command's ``--config``) beside whatever
  the stages run for that cell write there.

``load_spec(path)`` reads and checks a spec (errors name the key);
``cells(spec, root)`` lists its cells, variant-major; ``prepare(cell)`` creates
the folder and writes ``config.yaml`` (refusing a folder made with other
settings). Running a cell is the caller's: e.g. ``run_demo(cell.folder,
cell.configs["demo"])``.
"""

from pushseg.experiments.spec import Cell, ExperimentSpec, Variant, cells, load_spec, prepare

__all__ = ["Cell", "ExperimentSpec", "Variant", "cells", "load_spec", "prepare"]
