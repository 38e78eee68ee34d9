"""Training objectives, chosen by the spec's ``objective.type``.

Each objective is a `keras.Model` over the planned networks (the condition
model and the decoder) that adds what it needs (a posterior, a critic, a
denoiser), trains them, and generates from model-space conditions.
"""

from fusegen.objectives import cgan, cvae, diffusion, regression  # noqa: F401  (registration)
from fusegen.objectives.base import OBJECTIVES, ObjectiveModel, make_optimizer, register_objective

__all__ = ["OBJECTIVES", "ObjectiveModel", "make_optimizer", "register_objective"]
