"""Self-supervised labels: a mask of the pushed object from (before, after, push).

Public API::

    from pushseg.labeling import Labeler, LabelConfig
    result = Labeler(LabelConfig()).label_transition(transition)
    result.label.mask, result.label.score, result.label.reason
"""

from pushseg.labeling.config import LabelConfig
from pushseg.labeling.gates import REASONS
from pushseg.labeling.labeler import Labeler, LabelResult, label_transition

__all__ = ["LabelConfig", "Labeler", "LabelResult", "REASONS", "label_transition"]
