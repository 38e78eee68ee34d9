"""The deterministic objective: each output part regressed with its weighted loss.

Numeric parts (images, sequences, vectors, a record's numeric columns) use
the spec's ``numeric_loss``; each categorical column of a record uses
cross-entropy on its logits. It predicts one output per condition, the mean
where several outputs are valid, so it suits editing and forecasting the
mean; the generative objectives sample.
"""

from __future__ import annotations

from fusegen.objectives.base import (
    ObjectiveModel,
    compile_options,
    make_optimizer,
    per_replica,
    register_objective,
)
from fusegen.spec.objectives import RegressionObjective


@register_objective(RegressionObjective)
class Regression(ObjectiveModel):
    # Its validation loss is the error of the very outputs it generates.
    validation_tracks_quality = True

    def compile_for_training(self, distributed: bool = False):
        self.compile(
            optimizer=make_optimizer(self.spec.training), **compile_options(self.spec.training, distributed)
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        outputs = self.decode(y_pred, training=training)
        return per_replica(self.reconstruction_loss(y, outputs, self.spec.objective.numeric_loss))

    def generate(self, inputs, present, seed_generator, temperature=1.0):
        outputs = self.decode(self.conditions(inputs, present))
        # Deterministic: the most likely label of each categorical column.
        return self.sample_categories(outputs, seed_generator, 0.0)
