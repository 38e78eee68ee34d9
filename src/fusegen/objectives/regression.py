"""The deterministic objective: each output part regressed with its weighted loss.

Numeric parts (images, sequences, vectors, a record's numeric columns) use
the spec's ``numeric_loss``; each categorical column of a record uses sparse
categorical cross-entropy on its logits. ``loss_weights`` weighs the parts.
"""

from __future__ import annotations

import keras

from fusegen.objectives.base import make_optimizer, register_objective


@register_objective("regression")
class Regression:
    """Compile the backbone with per-part losses; generation is a forward pass."""

    def __init__(self, spec, backbone: keras.Model):
        self.spec = spec
        self.backbone = backbone

    def losses(self):
        numeric = {"mse": "mse", "mae": "mae", "huber": keras.losses.Huber()}[
            self.spec.objective.numeric_loss
        ]
        output = self.spec.output
        if output.kind != "record":
            return numeric, None
        losses, weights = {}, {}
        for part in output.part_names():
            losses[part] = (
                numeric if part == "numeric" else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            )
            weights[part] = self.spec.loss_weights.get(part, 1.0)
        return losses, weights

    def training_model(self) -> keras.Model:
        losses, weights = self.losses()
        if weights is None and self.spec.loss_weights:
            weights = [self.spec.loss_weights.get(self.spec.output.name, 1.0)]
        self.backbone.compile(optimizer=make_optimizer(self.spec.training), loss=losses, loss_weights=weights)
        return self.backbone

    def generate(self, inputs: dict, batch_size: int):
        """Model-space outputs for model-space inputs."""
        return self.backbone.predict(inputs, batch_size=batch_size, verbose=0)
