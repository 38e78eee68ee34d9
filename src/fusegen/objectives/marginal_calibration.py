"""Matching a record generator's column distributions to the training data's (``objective.marginals``).

A cvae record is the decoder's output for one latent draw. Its categorical
columns are drawn from the decoder's probabilities, whose average over the
prior's latents need not be the data's shares: a rare class tends to come
out rarer, a three-label column a few points off. Its numbers are the
likelihood's mean for that latent, without the noise around it, so each
numeric column is narrower than the data's and its tails are cut.

After training, the objective draws rows the way unconditional sampling
does and measures what it generates against the training rows:

- ``labels``: per categorical part (the categorical columns and the missing
  flags of nullable numbers), each label's mean probability. Sampling adds
  log(data share / generated share) to that label's logit: the prior-shift
  correction of a classifier's outputs (Saerens, Latinne and Decaestecker,
  2002). Each column's shares become the data's, and how a label depends on
  the other columns is kept.
- ``all`` (the default since 0.6.0): the labels, and per numeric column its
  generated quantiles. Sampling maps each generated number through the
  monotone, piecewise-linear map from those quantiles to the data's (both in
  model space). Each column's distribution becomes the data's, tails and
  point masses included, and the order within it is kept. On the tabular
  suite it raised quality with ML efficacy about the same on the mean, once
  the quantile transform stopped sending columns' ends to 5 standard
  deviations (docs/objectives.md).

The measured maps are non-trainable weights of a small network, saved and
loaded with the others; a run from before them keeps the initial identity.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

#: Quantile levels of each numeric column's map: every half percent.
LEVELS = 201
#: Rows drawn and compared to measure the maps (a small table's training rows repeated to as many).
CALIBRATION_ROWS = 20_000
#: The identity map's knots in model space: far beyond any quantile-transformed or standardised value.
_IDENTITY_SPAN = 1e3


class MarginalCalibration:
    """The measured maps of one record output, and their use at sampling time.

    Args:
        record_numeric: the record's numeric columns' count.
        record_categories: ``(part, size)`` per categorical part, in model order.
        numbers: whether numeric columns are mapped too (``marginals: all``).
    """

    def __init__(self, record_numeric: int, record_categories: list[tuple[str, int]], numbers: bool):
        self.record_numeric = record_numeric if numbers else 0
        self.record_categories = list(record_categories)
        unit = keras.Input((1,))
        outputs = []
        if self.record_numeric:
            for name in ("generated_quantiles", "data_quantiles"):
                outputs.append(_stored(LEVELS * self.record_numeric, name)(unit))
        labels = sum(size for _, size in self.record_categories)
        if labels:
            outputs.append(_stored(labels, "label_shift")(unit))
        self.network = keras.Model(unit, outputs, name="marginals")
        if self.record_numeric:
            identity = np.repeat(
                np.linspace(-_IDENTITY_SPAN, _IDENTITY_SPAN, LEVELS)[:, None], record_numeric, 1
            )
            for name in ("generated_quantiles", "data_quantiles"):
                self._store(name, identity)

    def _store(self, name: str, values: np.ndarray) -> None:
        self.network.get_layer(name).kernel.assign(np.asarray(values, "float32").reshape(1, -1))

    def _stored(self, name: str):
        return self.network.get_layer(name).kernel[0]

    def apply(self, outputs: dict) -> dict:
        """Decoded record parts (numbers; logits per categorical part) with the measured maps applied."""
        outputs = dict(outputs)
        if self.record_numeric:
            generated = ops.reshape(self._stored("generated_quantiles"), (LEVELS, self.record_numeric))
            data = ops.reshape(self._stored("data_quantiles"), (LEVELS, self.record_numeric))
            outputs["numeric"] = piecewise_linear(outputs["numeric"], generated, data)
        if self.record_categories:
            shift, start = self._stored("label_shift"), 0
            for part, size in self.record_categories:
                outputs[part] = outputs[part] + shift[start : start + size]
                start += size
        return outputs

    def label_shifts(self) -> dict[str, np.ndarray]:
        """Each categorical part's measured shift of its logits, as numpy."""
        shift, start, shifts = ops.convert_to_numpy(self._stored("label_shift")), 0, {}
        for part, size in self.record_categories:
            shifts[part] = shift[start : start + size]
            start += size
        return shifts

    def measure(self, generated: dict, data: dict, generated_present=None, data_present=None) -> None:
        """Store the maps that take ``generated`` to ``data``.

        Both are dicts of numpy parts as the record's: ``numeric`` (rows,
        columns); per categorical part, the generator's label probabilities
        (rows, labels) and the data's label ids (rows,). ``*_present``:
        (rows, columns) flags, False where a nullable column's number is
        missing (its model-space value is the fill); None: all present.
        """
        shifts = []
        for part, size in self.record_categories:
            shares = np.bincount(data[part].astype("int64"), minlength=size) / len(data[part])
            shifts.append(label_shift(generated[part], shares, floor=0.5 / len(data[part])))
        if shifts:
            self._store("label_shift", np.concatenate(shifts))
        if not self.record_numeric:
            return
        levels = np.linspace(0.0, 1.0, LEVELS)
        knots, targets = [], []
        for index in range(self.record_numeric):
            numbers = generated["numeric"][:, index]
            values = data["numeric"][:, index]
            if generated_present is not None and generated_present[:, index].any():
                numbers = numbers[generated_present[:, index]]
            if data_present is not None and data_present[:, index].any():
                values = values[data_present[:, index]]
            knots.append(np.quantile(numbers, levels))
            targets.append(np.quantile(values, levels))
        self._store("generated_quantiles", np.stack(knots, axis=1))
        self._store("data_quantiles", np.stack(targets, axis=1))


def label_shift(probabilities: np.ndarray, shares: np.ndarray, floor: float, rounds: int = 50) -> np.ndarray:
    """The shift of each label's logit after which ``probabilities`` (rows, labels) average to ``shares``.

    One step, log(share / mean probability), is exact when every row has the
    same probabilities; where they differ (a label likely on some rows and
    not others) the steps are repeated on the shifted probabilities until the
    means agree (a fixed point, as in Saerens et al.'s EM). ``floor``, half a
    row's share, keeps a label absent from either side at a finite shift.
    """
    logits = np.log(np.maximum(probabilities, 1e-12))
    shift = np.zeros(probabilities.shape[1])
    for _ in range(rounds):
        shifted = logits + shift
        shifted = np.exp(shifted - shifted.max(axis=1, keepdims=True))
        drawn = (shifted / shifted.sum(axis=1, keepdims=True)).mean(axis=0)
        step = np.log((shares + floor) / (drawn + floor))
        shift += step
        if np.abs(step).max() < 1e-4:
            break
    return shift - shift.mean()  # only differences between a part's logits matter


def _stored(width: int, name: str) -> keras.layers.Dense:
    return keras.layers.Dense(width, use_bias=False, kernel_initializer="zeros", trainable=False, name=name)


def piecewise_linear(values, knots, targets):
    """Each column of ``values`` (batch, columns) mapped through the piecewise-linear function through
    ``(knots[k, c], targets[k, c])``, constant beyond the first and last knots (both nondecreasing)."""
    count = knots.shape[0]
    # Knot index of each value: how many knots lie at or below it, kept to an inner segment.
    above = ops.sum(ops.cast(values[:, :, None] >= ops.transpose(knots)[None], "int32"), axis=-1)
    upper = ops.clip(above, 1, count - 1)
    knots_t, targets_t = ops.transpose(knots), ops.transpose(targets)  # (columns, knots)

    def at(table, index):
        return ops.take_along_axis(
            ops.broadcast_to(table[None], (ops.shape(values)[0], *table.shape)), index[:, :, None], axis=-1
        )[:, :, 0]

    low, high = at(knots_t, upper - 1), at(knots_t, upper)
    weight = ops.clip((values - low) / ops.maximum(high - low, 1e-9), 0.0, 1.0)
    start = at(targets_t, upper - 1)
    return start + weight * (at(targets_t, upper) - start)
