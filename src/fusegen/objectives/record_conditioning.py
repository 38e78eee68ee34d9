"""Conditioning a record on any subset of its own columns (``conditioning.any_column``).

A record is a set of *features*: its numeric columns, then its categorical
parts (categorical columns, then the missing indicators of nullable numeric
columns), as `fusegen.spec.RecordOutput.categorical_parts` orders them. In
training, each example shows the generator a random subset of its own
features: their model-space values (zero where hidden) and one 0/1 flag per
feature. The loss counts only the hidden features, so one network learns
p(hidden features | visible features, inputs) for every subset at once, as
masked and any-order models do (MOSTLY AI's TabularARGN calls it "flexible
generation"). Sampling shows the given cells and hides the rest; with none
given, it is plain unconditional sampling.

Each training batch is used twice: as it is, with every cell hidden (the
unconditional model, plain sampling's, trains exactly as without any-column
conditioning), and as a masked copy, where each example hides each feature
with a rate drawn uniformly from [0, 1] per example, so one visible cell and
all but one are trained alike. Showing the cells on only some of the
examples instead cost the unconditional samples quality (see
docs/objectives.md).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fusegen.data.record_cells import EXCLUDED_LOGIT
from fusegen.models.target_networks import build_record_condition
from fusegen.spec.names import RECORD_EXCLUDED, RECORD_VALUES, RECORD_VISIBLE


class RecordConditioning:
    """The masked copy of a record that conditions the decoder, and the masks that train it.

    Args:
        record_numeric: the record's numeric columns' count.
        record_categories: ``(part, size)`` per categorical part, in model order.
        width: the encoded condition's width (the plan's ``record_condition_width``).
        seed_generator: the objective's training `keras.random.SeedGenerator`.
    """

    def __init__(
        self, record_numeric: int, record_categories: list[tuple[str, int]], width: int, seed_generator
    ):
        self.record_numeric = record_numeric
        self.record_categories = list(record_categories)
        self.num_features = record_numeric + len(self.record_categories)
        sizes = [1] * record_numeric + [size for _, size in self.record_categories]
        # Which feature each element of the model-space record belongs to: a one-hot block's
        # elements are all shown or all hidden together.
        self.feature_of_element = np.repeat(np.eye(self.num_features, dtype="float32"), sizes, axis=0)
        self.network = build_record_condition(int(sum(sizes)), self.num_features, width)
        self.seed_generator = seed_generator

    def random_visible(self, batch_size):
        """Training's random flags (batch, features): 1 where a feature is shown, at a random rate per row."""
        rate = keras.random.uniform((batch_size, 1), seed=self.seed_generator)
        shown = keras.random.uniform((batch_size, self.num_features), seed=self.seed_generator) >= rate
        return ops.cast(shown, "float32")

    def with_masked_copy(self, fused, representation, targets):
        """The batch twice: every cell hidden, then a random subset of each row's cells shown.

        Returns the doubled fused inputs, model-space records and targets (a dict of parts), and
        the visibility flags of the doubled batch.
        """
        batch = ops.shape(representation)[0]
        visible = ops.concatenate([ops.zeros((batch, self.num_features)), self.random_visible(batch)], axis=0)

        def twice(tensor):
            return ops.concatenate([tensor, tensor], axis=0)

        return (
            twice(fused),
            twice(representation),
            {part: twice(value) for part, value in targets.items()},
            visible,
        )

    def encode(self, representation, visible):
        """The visible cells of a model-space record (batch, elements) as a condition vector."""
        visible = ops.cast(visible, "float32")
        shown = self.shown_elements(visible)
        return self.network({"values": ops.cast(representation, "float32") * shown, "visible": visible})

    def shown_elements(self, visible):
        """Per-feature flags (batch, features) spread over each feature's elements (batch, elements)."""
        return ops.matmul(
            ops.cast(visible, "float32"), ops.transpose(ops.convert_to_tensor(self.feature_of_element))
        )

    def with_given_cells(self, representation, cells, visible):
        """A model-space record (batch, elements) with the visible features' elements taken from ``cells``."""
        shown = self.shown_elements(visible)
        return ops.cast(cells, "float32") * shown + ops.cast(representation, "float32") * (1.0 - shown)

    def given(self, inputs, batch_size):
        """The record cells the sampler gives in ``inputs`` (none: every cell hidden)."""
        if RECORD_VALUES in inputs:
            return inputs[RECORD_VALUES], inputs[RECORD_VISIBLE]
        width = self.feature_of_element.shape[0]
        return ops.zeros((batch_size, width)), ops.zeros((batch_size, self.num_features))

    def exclude_labels(self, outputs, inputs):
        """The record's categorical logits with the labels the sampler rules out (``RECORD_EXCLUDED``)
        removed, and a given part's logits left with its given label alone.

        A given cell comes back as given whatever is drawn for it; its draw is the given label so that
        what reads the draws sees it (the label pairs ruled out beside it, `fusegen.objectives.unseen_pairs`).
        """
        outputs = dict(outputs)
        if RECORD_VALUES in inputs:
            cells, visible = (
                ops.cast(inputs[RECORD_VALUES], "float32"),
                ops.cast(inputs[RECORD_VISIBLE], "float32"),
            )
            start = self.record_numeric
            for index, (part, size) in enumerate(self.record_categories):
                label = cells[:, start : start + size]
                given = (visible[:, self.record_numeric + index] > 0) & (ops.sum(label, axis=-1) > 0)
                pinned = outputs[part] + (1.0 - label) * EXCLUDED_LOGIT
                outputs[part] = ops.where(given[:, None], pinned, outputs[part])
                start += size
        if RECORD_EXCLUDED in inputs:
            start = 0
            for part, size in self.record_categories:
                outputs[part] = outputs[part] + inputs[RECORD_EXCLUDED][:, start : start + size]
                start += size
        return outputs

    def hidden_numeric(self, visible):
        """1 where a numeric column is hidden (its error counts), per example and column."""
        return 1.0 - visible[:, : self.record_numeric]

    def hidden_part(self, visible, part: str):
        """1 where categorical part ``part`` is hidden, per example."""
        index = self.record_numeric + [name for name, _ in self.record_categories].index(part)
        return 1.0 - visible[:, index]
