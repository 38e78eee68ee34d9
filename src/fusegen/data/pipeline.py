"""From a table to tf.data: missing-value policy, seeded split, fitted preprocessing, batches.

The datasets yield ``(inputs, targets)`` where ``inputs`` is a dict keyed by
the spec's input names, exactly the model's input names, and ``targets`` is
an array, or a dict of parts for records.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from fusegen.data.preprocessing import Preprocessor, rows_with_missing
from fusegen.data.sources import Table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec


@dataclasses.dataclass
class PreparedData:
    """Model-ready arrays for both splits, and the preprocessor fitted on the training split."""

    preprocessor: Preprocessor
    table: Table  # after the missing-value policy; the row indices below refer to it
    train_inputs: dict[str, np.ndarray]
    train_targets: Any
    validation_inputs: dict[str, np.ndarray] | None
    validation_targets: Any
    train_rows: np.ndarray
    validation_rows: np.ndarray
    dropped_rows: np.ndarray

    @property
    def num_train(self) -> int:
        return len(self.train_rows)


def apply_missing_policy(table: Table, spec: GeneratorSpec) -> tuple[Table, np.ndarray]:
    """Drop rows with missing values if the spec asks to; otherwise report them."""
    missing = rows_with_missing(table, spec)
    rows = np.flatnonzero(missing)
    if not len(rows):
        return table, rows
    policy = spec.data.missing if spec.data else "error"
    if policy == "drop_rows":
        if len(rows) == len(table):
            raise DataError(f"{table.origin}: every row has a missing value; nothing is left to train on.")
        return table.take(np.flatnonzero(~missing)), rows
    raise DataError(
        f"{table.origin}: {len(rows)} row(s) have missing values in columns the spec uses, "
        f"first rows {rows[:5].tolist()}.",
        hint="clean them, or set data.missing: drop_rows in the spec to drop them.",
    )


def split_rows(num_rows: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle of row indices into training and validation rows."""
    order = np.random.default_rng(seed).permutation(num_rows)
    num_validation = int(round(num_rows * validation_split))
    if validation_split > 0 and num_rows >= 10:
        num_validation = max(num_validation, 1)
    else:
        num_validation = 0 if num_rows < 10 else num_validation
    return np.sort(order[num_validation:]), np.sort(order[:num_validation])


def prepare_data(spec: GeneratorSpec, table: Table, preprocessor: Preprocessor | None = None) -> PreparedData:
    """Apply the missing policy, split, fit preprocessing on training rows, transform both splits."""
    table, dropped = apply_missing_policy(table, spec)
    split = spec.data.validation_split if spec.data else 0.1
    train_rows, validation_rows = split_rows(len(table), split, spec.training.seed)
    train = table.take(train_rows)
    if preprocessor is None:
        preprocessor = Preprocessor(spec).fit(train)
    validation = table.take(validation_rows) if len(validation_rows) else None
    return PreparedData(
        preprocessor=preprocessor,
        table=table,
        train_inputs=preprocessor.transform_inputs(train),
        train_targets=preprocessor.transform_targets(train),
        validation_inputs=preprocessor.transform_inputs(validation) if validation else None,
        validation_targets=preprocessor.transform_targets(validation) if validation else None,
        train_rows=train_rows,
        validation_rows=validation_rows,
        dropped_rows=dropped,
    )


def make_dataset(inputs, targets=None, batch_size=32, shuffle=False, seed=0):
    """A batched, prefetched tf.data pipeline over in-memory arrays.

    The arrays are already preprocessed, so the pipeline only slices, shuffles
    (reshuffled every epoch, seeded) and batches; batching before any other
    work keeps per-example Python out of the loop.
    """
    import tensorflow as tf

    elements = inputs if targets is None else (inputs, targets)
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        num_rows = len(next(iter(inputs.values())))
        dataset = dataset.shuffle(num_rows, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def check_against_model(inputs: dict[str, np.ndarray], model) -> None:
    """Compare the pipeline's arrays with the model's inputs, key by key, before training."""
    expected = {tensor.name.split(":")[0]: tensor for tensor in model.inputs}
    problems = []
    for name in sorted(set(expected) | set(inputs)):
        if name not in inputs:
            problems.append(f"'{name}': the model expects it, the data has no such input")
            continue
        if name not in expected:
            problems.append(f"'{name}': the data provides it, the model has no such input")
            continue
        want = tuple(expected[name].shape[1:])
        have = tuple(inputs[name].shape[1:])
        if want != have:
            problems.append(f"'{name}': expected shape {list(want)}, received {list(have)}")
    if problems:
        raise DataError("The data does not fit the model: " + "; ".join(problems) + ".")
