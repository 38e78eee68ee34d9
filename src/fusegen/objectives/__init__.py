"""Training objectives, chosen by the spec's ``objective.type``.

An objective takes the planned backbone (encoders, fusion, head) and makes it
trainable: losses, optimizer and, for generative objectives, its own training
step and sampler.
"""

from fusegen.objectives import regression  # noqa: F401  (registers 'regression')
from fusegen.objectives.base import OBJECTIVES, make_optimizer

__all__ = ["OBJECTIVES", "make_optimizer"]
