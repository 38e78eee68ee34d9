"""Per-modality preprocessing, fitted on the training split and saved with the run.

One converter per input and one for the output. Each has ``fit`` (learns
its state from training rows), ``transform`` (table -> model-ready array) and
``get_state`` / ``from_state`` (plain JSON, no pickle), so training,
evaluation and prediction use identical transforms. Output converters also
have ``inverse`` back to the user's units and labels.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from fusegen.data.sources import Table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec
from fusegen.spec.modalities import StepsAndChannels

OUT_OF_VOCABULARY = "[OOV]"


# --------------------------------------------------------------------------
# Shared checks
# --------------------------------------------------------------------------


def _as_float(values: np.ndarray, where: str) -> np.ndarray:
    """Values as float32, or a `DataError` naming the first row that is not a number."""
    try:
        return np.asarray(values, dtype="float32")
    except (TypeError, ValueError):
        flat = np.asarray(values, dtype=object).reshape(len(values), -1)
        for row, entries in enumerate(flat):
            for entry in entries:
                try:
                    float(entry)
                except (TypeError, ValueError):
                    raise DataError(f"{where}: expected numbers, received {entry!r} in row {row}.") from None
        raise


def _check_finite(values: np.ndarray, where: str) -> None:
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise DataError(
            f"{where}: {len(rows)} row(s) have NaN or infinite values, first rows {rows[:5].tolist()}.",
            hint="clean them, or set data.missing: drop_rows in the spec.",
        )


def _check_shape(values: np.ndarray, expected: tuple[int, ...], where: str) -> None:
    received = tuple(values.shape[1:])
    if received != tuple(expected):
        raise DataError(
            f"{where}: expected each example to have shape {list(expected)}, received {list(received)}.",
            hint="fix the spec's sizes to match the data, or the data to match the spec.",
        )


def _select(values: np.ndarray, select: StepsAndChannels | None, where: str) -> np.ndarray:
    if values.ndim != 3:
        raise DataError(
            f"{where}: expected windows of shape (examples, steps, channels), "
            f"received an array of shape {list(values.shape)}."
        )
    if select is None:
        return values
    if select.steps is not None:
        start, stop = select.steps
        if stop > values.shape[1]:
            raise DataError(
                f"{where}: select.steps {[start, stop]} reaches past the {values.shape[1]} steps in the data."
            )
        values = values[:, start:stop]
    if select.channels is not None:
        if max(select.channels) >= values.shape[2]:
            raise DataError(
                f"{where}: select.channels {select.channels} names a channel past the "
                f"{values.shape[2]} channels in the data."
            )
        values = values[:, :, select.channels]
    return values


def _as_labels(values: np.ndarray, where: str) -> np.ndarray:
    labels = np.array(["" if value is None else str(value) for value in values], dtype=object)
    empty = np.flatnonzero(labels == "")
    if len(empty):
        raise DataError(
            f"{where}: {len(empty)} row(s) are empty, first rows {empty[:5].tolist()}.",
            hint="fill them, or set data.missing: drop_rows in the spec.",
        )
    return labels


class _Standardiser:
    """Mean and standard deviation over every axis but the last (features or channels)."""

    def __init__(self, mean=None, std=None):
        self.mean = None if mean is None else np.asarray(mean, dtype="float32")
        self.std = None if std is None else np.asarray(std, dtype="float32")

    def fit(self, values: np.ndarray) -> _Standardiser:
        axes = tuple(range(values.ndim - 1))
        self.mean = values.mean(axis=axes).astype("float32")
        std = values.std(axis=axes).astype("float32")
        # A constant feature would divide by zero; leave its scale alone.
        self.std = np.where(std > 1e-8, std, 1.0).astype("float32")
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.std).astype("float32")

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values) * self.std + self.mean).astype("float32")

    def get_state(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


# --------------------------------------------------------------------------
# Input converters
# --------------------------------------------------------------------------


class ImageConverter:
    """Images (N, H, W, C) as floats in [0, 1]; uint8 data is divided by 255."""

    def __init__(self, name, spec, scale: float | None = None):
        self.name, self.spec, self.scale = name, spec, scale
        self.where = f"Input '{name}' (image)"

    def fit(self, table: Table, column: str):
        values = table.column(column, self.where)
        if values.ndim == 3 and self.spec.channels == 1:
            values = values[..., None]
        _check_shape(values, (self.spec.height, self.spec.width, self.spec.channels), self.where)
        values = _as_float(values, self.where)
        self.scale = 255.0 if table.columns[column].dtype == np.uint8 or float(np.max(values)) > 1.0 else 1.0
        return self

    def transform(self, table: Table, column: str) -> np.ndarray:
        values = table.column(column, self.where)
        if values.ndim == 3 and self.spec.channels == 1:
            values = values[..., None]
        _check_shape(values, (self.spec.height, self.spec.width, self.spec.channels), self.where)
        values = _as_float(values, self.where)
        _check_finite(values, self.where)
        return values / np.float32(self.scale)

    def get_state(self) -> dict:
        return {"scale": self.scale}


class TextConverter:
    """Raw text -> token ids with a fitted vocabulary; or embedding vectors as they are."""

    def __init__(self, name, spec, vocabulary: list[str] | None = None):
        self.name, self.spec, self.vocabulary = name, spec, vocabulary
        self.where = f"Input '{name}' (text)"
        self._layer = None

    def fit(self, table: Table, column: str):
        if not self.spec.is_raw_text:
            return self
        texts = _as_labels(table.column(column, self.where), self.where)
        layer = self._make_layer()
        layer.adapt(texts.astype(str))
        self.vocabulary = [str(token) for token in layer.get_vocabulary()]
        self._layer = None
        return self

    def _make_layer(self):
        import keras

        return keras.layers.TextVectorization(
            max_tokens=self.spec.max_tokens,
            output_sequence_length=self.spec.sequence_length,
            vocabulary=self.vocabulary,
        )

    def transform(self, table: Table, column: str) -> np.ndarray:
        values = table.column(column, self.where)
        if not self.spec.is_raw_text:
            values = _as_float(values, self.where)
            _check_shape(values, (self.spec.embedding_size,), self.where)
            _check_finite(values, self.where)
            return values
        texts = _as_labels(values, self.where)
        if self._layer is None:
            self._layer = self._make_layer()
        return np.asarray(self._layer(texts.astype(str))).astype("int32")

    @property
    def vocabulary_size(self) -> int | None:
        return len(self.vocabulary) if self.vocabulary is not None else None

    def get_state(self) -> dict:
        return {"vocabulary": self.vocabulary}


class NumericConverter:
    """Numeric columns or a vector field, standardised per feature."""

    def __init__(self, name, spec, mean=None, std=None):
        self.name, self.spec = name, spec
        self.scaler = _Standardiser(mean, std)
        self.where = f"Input '{name}' (numeric)"

    def _values(self, table: Table, column: str) -> np.ndarray:
        if self.spec.columns:
            stacked = [
                _as_float(table.column(col, self.where), f"Column '{col}' of input '{self.name}' (numeric)")
                for col in self.spec.columns
            ]
            values = np.stack(stacked, axis=1)
        else:
            values = _as_float(table.column(column, self.where), self.where)
            _check_shape(values, (self.spec.size,), self.where)
        _check_finite(values, self.where)
        return values

    def fit(self, table: Table, column: str):
        self.scaler.fit(self._values(table, column))
        return self

    def transform(self, table: Table, column: str) -> np.ndarray:
        return self.scaler.transform(self._values(table, column))

    def get_state(self) -> dict:
        return self.scaler.get_state()


class CategoricalConverter:
    """Labels -> ids 1..K by the fitted vocabulary; unseen labels map to 0.

    Unseen labels are not an error at prediction time: they go to the
    out-of-vocabulary id, and ``unseen_counts`` records how many of each.
    """

    def __init__(self, name, spec, vocabulary: list[str] | None = None):
        self.name, self.spec = name, spec
        self.vocabulary = vocabulary or spec.vocabulary
        self.where = f"Input '{name}' (categorical)"
        self.unseen_counts: Counter = Counter()

    def fit(self, table: Table, column: str):
        if self.spec.vocabulary is None:
            labels = _as_labels(table.column(column, self.where), self.where)
            counts = Counter(labels.tolist())
            # Most frequent first, ties by label, so the order is reproducible.
            self.vocabulary = sorted(counts, key=lambda label: (-counts[label], label))
        return self

    def transform(self, table: Table, column: str) -> np.ndarray:
        labels = _as_labels(table.column(column, self.where), self.where)
        lookup = {label: index + 1 for index, label in enumerate(self.vocabulary)}
        ids = np.array([lookup.get(label, 0) for label in labels], dtype="int32")
        for label in labels[ids == 0]:
            self.unseen_counts[label] += 1
        return ids

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary) + 1

    def get_state(self) -> dict:
        return {"vocabulary": self.vocabulary}


class SequenceConverter:
    """Windows (N, T, C): the selected steps and channels, standardised per channel."""

    def __init__(self, name, spec, mean=None, std=None, kind="Input"):
        self.name, self.spec = name, spec
        self.scaler = _Standardiser(mean, std)
        self.where = f"{kind} '{name}' (sequence)"

    def _values(self, table: Table, column: str) -> np.ndarray:
        values = table.column(column, self.where)
        if values.dtype == object:
            raise DataError(
                f"{self.where}: expected windows of equal length as one numeric array, "
                "received an object array (unequal lengths or mixed types)."
            )
        values = _select(_as_float(values, self.where), self.spec.select, self.where)
        _check_shape(values, (self.spec.steps, self.spec.channels), self.where)
        _check_finite(values, self.where)
        return values

    def fit(self, table: Table, column: str):
        self.scaler.fit(self._values(table, column))
        return self

    def transform(self, table: Table, column: str) -> np.ndarray:
        return self.scaler.transform(self._values(table, column))

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return self.scaler.inverse(values)

    def get_state(self) -> dict:
        return self.scaler.get_state()


# --------------------------------------------------------------------------
# Output converters
# --------------------------------------------------------------------------


class ImageOutputConverter:
    """Target images mapped from ``value_range`` to [0, 1] and back."""

    def __init__(self, spec):
        self.spec = spec
        self.where = f"Output '{spec.name}' (image)"

    def fit(self, table: Table, column: str):
        return self

    def transform(self, table: Table, column: str) -> np.ndarray:
        values = table.column(column, self.where)
        if values.ndim == 3 and self.spec.channels == 1:
            values = values[..., None]
        _check_shape(values, self.spec.model_shape(), self.where)
        values = _as_float(values, self.where)
        _check_finite(values, self.where)
        low, high = self.spec.value_range
        return np.clip((values - low) / (high - low), 0.0, 1.0).astype("float32")

    def inverse(self, values: np.ndarray) -> np.ndarray:
        low, high = self.spec.value_range
        images = np.clip(np.asarray(values), 0.0, 1.0) * (high - low) + low
        if self.spec.dtype == "uint8":
            return np.clip(np.round(images), 0, 255).astype("uint8")
        return images.astype("float32")

    def get_state(self) -> dict:
        return {}


class VectorOutputConverter:
    """Target vectors standardised per feature; predictions returned in the user's units."""

    def __init__(self, spec, mean=None, std=None):
        self.spec = spec
        self.scaler = _Standardiser(mean, std)
        self.where = f"Output '{spec.name}' (vector)"

    def _values(self, table, column):
        values = _as_float(table.column(column, self.where), self.where)
        if values.ndim == 1 and self.spec.size == 1:
            values = values[:, None]
        _check_shape(values, (self.spec.size,), self.where)
        _check_finite(values, self.where)
        return values

    def fit(self, table, column):
        self.scaler.fit(self._values(table, column))
        return self

    def transform(self, table, column):
        return self.scaler.transform(self._values(table, column))

    def inverse(self, values):
        return self.scaler.inverse(values)

    def get_state(self):
        return self.scaler.get_state()


class RecordOutputConverter:
    """A record's numeric columns (standardised) and categorical columns (ids 0..K-1)."""

    def __init__(self, spec, mean=None, std=None, vocabularies=None):
        self.spec = spec
        self.scaler = _Standardiser(mean, std)
        self.vocabularies = dict(spec.vocabularies)
        self.vocabularies.update(vocabularies or {})
        self.where = f"Output '{spec.name}' (record)"

    def _numeric(self, table):
        if not self.spec.numeric:
            return None
        columns = [
            _as_float(table.column(col, self.where), f"Column '{col}' of output '{self.spec.name}'")
            for col in self.spec.numeric
        ]
        values = np.stack(columns, axis=1)
        _check_finite(values, self.where)
        return values

    def fit(self, table, column=None):
        numeric = self._numeric(table)
        if numeric is not None:
            self.scaler.fit(numeric)
        for col in self.spec.categorical:
            if col in self.spec.vocabularies:
                continue
            labels = _as_labels(table.column(col, self.where), f"Column '{col}' of output '{self.spec.name}'")
            counts = Counter(labels.tolist())
            self.vocabularies[col] = sorted(counts, key=lambda label: (-counts[label], label))
        return self

    def transform(self, table, column=None) -> dict[str, np.ndarray]:
        parts = {}
        numeric = self._numeric(table)
        if numeric is not None:
            parts["numeric"] = self.scaler.transform(numeric)
        for col in self.spec.categorical:
            where = f"Column '{col}' of output '{self.spec.name}'"
            labels = _as_labels(table.column(col, self.where), where)
            lookup = {label: index for index, label in enumerate(self.vocabularies[col])}
            unknown = sorted({label for label in labels if label not in lookup})
            if unknown:
                raise DataError(
                    f"{where}: labels {unknown[:5]} are not in the vocabulary {self.vocabularies[col]}.",
                    hint="add them to output.vocabularies or leave the vocabulary to be fitted.",
                )
            parts[col] = np.array([lookup[label] for label in labels], dtype="int32")
        return parts

    def inverse(self, parts: dict[str, np.ndarray]):
        """Model outputs (numeric part, logits or ids per category) -> a DataFrame."""
        import pandas as pd

        frame = {}
        if self.spec.numeric:
            numeric = self.scaler.inverse(parts["numeric"])
            for index, col in enumerate(self.spec.numeric):
                frame[col] = numeric[:, index]
        for col in self.spec.categorical:
            values = np.asarray(parts[col])
            ids = values.argmax(axis=-1) if values.ndim == 2 else values.astype(int)
            frame[col] = np.asarray(self.vocabularies[col], dtype=object)[ids]
        order = [col for col in self.spec.numeric + self.spec.categorical]
        return pd.DataFrame(frame)[order]

    def vocabulary_sizes(self) -> dict[str, int]:
        return {col: len(labels) for col, labels in self.vocabularies.items()}

    def get_state(self):
        state = {"vocabularies": self.vocabularies}
        if self.spec.numeric:
            state.update(self.scaler.get_state())
        return state


_INPUT_CONVERTERS = {
    "image": ImageConverter,
    "text": TextConverter,
    "numeric": NumericConverter,
    "categorical": CategoricalConverter,
    "sequence": SequenceConverter,
}


# --------------------------------------------------------------------------
# The preprocessor: every converter of a spec
# --------------------------------------------------------------------------


class Preprocessor:
    """All converters of one spec: fit on training rows, transform, invert, save.

    Example:

    >>> import numpy as np
    >>> from fusegen.spec import load_spec
    >>> from fusegen.data.sources import Table
    >>> spec = load_spec({
    ...     "inputs": {"size": {"kind": "numeric", "columns": ["a"]}},
    ...     "output": {"kind": "record", "categorical": ["label"]},
    ... })
    >>> table = Table({"a": np.array([1.0, 2.0, 3.0]),
    ...                "label": np.array(["x", "y", "x"], dtype=object)}, "example")
    >>> pre = Preprocessor(spec).fit(table)
    >>> pre.transform_targets(table)["label"].tolist()
    [0, 1, 0]
    """

    def __init__(self, spec: GeneratorSpec, state: dict[str, Any] | None = None):
        self.spec = spec
        state = state or {}
        input_states = state.get("inputs", {})
        self.inputs = {
            name: _INPUT_CONVERTERS[input_spec.kind](name, input_spec, **input_states.get(name, {}))
            for name, input_spec in spec.inputs.items()
        }
        output_state = state.get("output", {})
        output = spec.output
        if output.kind == "image":
            self.output = ImageOutputConverter(output)
        elif output.kind == "sequence":
            self.output = SequenceConverter(output.name, output, kind="Output", **output_state)
        elif output.kind == "record":
            self.output = RecordOutputConverter(output, **output_state)
        else:
            self.output = VectorOutputConverter(output, **output_state)
        self.fitted = bool(state)

    def fit(self, table: Table) -> Preprocessor:
        for name, converter in self.inputs.items():
            converter.fit(table, self.spec.input_column(name))
        self.output.fit(table, self.spec.output_column())
        self.fitted = True
        return self

    def transform_inputs(self, table: Table, names=None) -> dict[str, np.ndarray]:
        names = list(self.inputs) if names is None else names
        return {name: self.inputs[name].transform(table, self.spec.input_column(name)) for name in names}

    def transform_targets(self, table: Table):
        """Model-space targets: an array, or a dict of parts for records."""
        return self.output.transform(table, self.spec.output_column())

    def inverse_outputs(self, predictions):
        return self.output.inverse(predictions)

    def vocabulary_sizes(self) -> dict[str, int]:
        """Sizes the shape planner needs: per text/categorical input, and ``output.COLUMN``."""
        sizes = {}
        for name, converter in self.inputs.items():
            size = getattr(converter, "vocabulary_size", None)
            if size:
                sizes[name] = size
        if isinstance(self.output, RecordOutputConverter):
            for col, size in self.output.vocabulary_sizes().items():
                sizes[f"output.{col}"] = size
        return sizes

    def get_state(self) -> dict[str, Any]:
        return {
            "inputs": {name: conv.get_state() for name, conv in self.inputs.items()},
            "output": self.output.get_state(),
        }


def rows_with_missing(table: Table, spec: GeneratorSpec) -> np.ndarray:
    """Boolean mask of rows with a NaN, None or empty value in any column the spec uses."""
    used = []
    for name, input_spec in spec.inputs.items():
        if input_spec.kind == "numeric" and input_spec.columns:
            used += input_spec.columns
        else:
            used.append(spec.input_column(name))
    output = spec.output
    if output.kind == "record":
        used += output.numeric + output.categorical
    else:
        used.append(spec.output_column())
    missing = np.zeros(len(table), dtype=bool)
    for column in dict.fromkeys(used):
        if column not in table.columns:
            continue  # reported with its input's name when transformed
        values = table.columns[column]
        if values.dtype == object:
            missing |= np.array(
                [
                    value is None or (isinstance(value, float) and np.isnan(value)) or value == ""
                    for value in values
                ]
            )
        elif values.dtype.kind == "f":
            missing |= ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return missing
