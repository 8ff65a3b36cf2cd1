"""The paper's tables as data, and the statistics and reports made from their cells.

``tables/*.yaml`` (Tables I-III and Fig. 4) list the variants -- the rows -- and the
comparisons; ``profiles/*.yaml`` size them (:mod:`~pushseg.experiments.specs`). Leak-free
splits (:mod:`~.splits`), scoring of one model on a scene set (:mod:`~.scoring`,
:mod:`~.scene_ap`), the interactive scenes of Fig. 4 (:mod:`~.interactive`), mean ± std over
seeds and bootstrap intervals over test scenes (:mod:`~.stats`), reports and plots
(:mod:`~.report`, :mod:`~.plots`, :mod:`~.summary`).

Running the cells is orchestration and lives in the composition root:
:mod:`pushseg.pipeline.experiment` (``pushseg experiment``) and :mod:`pushseg.pipeline.cell`.
See docs/experiments.md.
"""
