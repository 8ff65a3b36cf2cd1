"""The composition root: the only package that wires the parts of pushseg together.

Everything below it is a part with one job (contracts, settings, backends, agents,
data, labeling, training, evaluation, the experiments' tables and statistics), and
imports only parts below itself (``tests/test_import_graph.py`` holds the order). Here
those parts become the loop:

* :mod:`~pushseg.pipeline.stages` -- each stage as a function (configs and paths in, a
  path out, finished work skipped) and :mod:`~pushseg.pipeline.record`, the settings
  record beside each output and the one rule for "already done";
* :mod:`~pushseg.pipeline.demo` -- ``pushseg demo``, the end-to-end loop in simulation;
* :mod:`~pushseg.pipeline.experiment` (``pushseg experiment``), its cells
  (:mod:`~pushseg.pipeline.cell`) and their shared data (:mod:`~pushseg.pipeline.experiment_data`);
* :mod:`~pushseg.pipeline.agent_eval` -- a push agent run in the simulation and scored.

The command line (:mod:`pushseg.cli`) and ``python -m pushseg`` (the training commands under
torchrun) sit on top.
"""
