"""Per-modality preprocessing, fitted on the training split and saved with the run.

One converter per input and one for the output. Each has ``fit`` (learns
its state from training rows), ``transform`` (table -> model-ready array) and
``get_state`` (plain JSON, no pickle; the constructor takes it back), so
training, evaluation and prediction use identical transforms. Output
converters also have ``inverse`` back to the user's units and labels.

A converter owns its whole conversion, TensorFlow form included, so the
exported SavedModel (`fusegen.export`) runs what ``sample()`` runs:

- an input converter's ``tf_transform(values)`` maps a tensor in the user's
  terms (as ``tf_input_spec()`` describes it) to the model's input. Lookups
  (categories, text) are written once in TensorFlow, and ``transform`` calls
  the same function eagerly; the arithmetic of numbers, windows and images
  stays in NumPy for the training arrays (no TensorFlow copy of them), with
  its TensorFlow twin beside it and ``tests/test_export_parity.py`` holding
  the two equal. ``tf_resources`` lists the tables a SavedModel must track.
- an output converter's ``inverse`` is its ``tf_inverse``, run as a graph
  (`fusegen.data.tensors.GraphCache`) and put in the user's types
  (DataFrames, datetimes, nullable integers).

Missing values (NaN, None, an empty or blank string) follow each input's
``missing`` policy, or ``data.missing`` when the input has none: ``error``
(the default) names the rows; ``drop_rows`` drops them before the split (see
`fusegen.data.pipeline.apply_missing_policy`); ``impute`` fills them with a
value fitted on the training split and saved in the state: the mean (or,
with ``impute_with: median``, the median) for numeric columns and per
sequence channel, a ``[MISSING]`` label (or the most frequent label) for
categories, a ``[MISSING]`` text for text; ``mask`` (numeric and sequence
inputs) imputes and appends a 0/1 indicator per feature or channel, 1 where
the value was missing, so the model can tell a filled value from a real one.
Infinity is never imputed; it is an error unless its rows are dropped.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from fusegen.data.checks import (
    MISSING_LABEL,
    as_float,
    as_labels,
    check_finite,
    check_shape,
    is_missing,
)
from fusegen.data.images import ImageColumn, ImageDecoder, convert_pixels, fits_in_memory, resize_pixels
from fusegen.data.records import RecordConverter
from fusegen.data.sources import Table
from fusegen.data.tensors import GraphCache, tf_divide
from fusegen.data.windows import window_table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec
from fusegen.spec.modalities import StepsAndChannels
from fusegen.spec.names import CONSTANT_INPUT

OUT_OF_VOCABULARY = "[OOV]"


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


def _imputes(spec) -> bool:
    """Whether missing values are filled: ``missing: impute``, or ``mask``, which also marks them."""
    return getattr(spec, "missing", None) in ("impute", "mask")


def _fill_missing(values: np.ndarray, fill: np.ndarray | None, where: str) -> np.ndarray:
    """NaN -> the fitted fill value of its feature (last axis); unchanged without a fill."""
    if fill is None:
        return values
    if fill is not None and np.isnan(values).any():
        values = np.where(np.isnan(values), np.asarray(fill, "float32"), values).astype("float32")
    return values


def _fit_fill(values: np.ndarray, where: str, statistic: str = "mean") -> list[float]:
    """The mean or median of each feature (last axis) over its finite values; a feature with none is an error."""
    flat = values.reshape(-1, values.shape[-1]).astype("float64")
    # Infinity is never imputed (it is reported as an error), so it must not skew the fill either.
    observed = np.isfinite(flat)
    empty = np.flatnonzero(~observed.any(axis=0))
    if len(empty):
        raise DataError(
            f"{where}: feature(s) {empty.tolist()} have no value in the training rows to impute from.",
            hint="give those columns some values, or drop the input.",
        )
    present = np.where(observed, flat, np.nan)
    fill = np.nanmedian(present, axis=0) if statistic == "median" else np.nanmean(present, axis=0)
    return fill.astype("float32").tolist()


#: Rows of values (features or channels) summed at a time when fitting a standardiser.
_FIT_BLOCK = 65536


class _Standardiser:
    """Mean and standard deviation over every axis but the last (features or channels)."""

    def __init__(self, mean=None, std=None):
        self.mean = None if mean is None else np.asarray(mean, dtype="float32")
        self.std = None if std is None else np.asarray(std, dtype="float32")

    def fit(self, values: np.ndarray) -> _Standardiser:
        # Sums in float64 (float32 sums of large values overflow or lose the mean), block by
        # block: a float64 copy of a whole column of windows costs more than the statistics.
        flat = values.reshape(-1, values.shape[-1])
        blocks = [flat[start : start + _FIT_BLOCK] for start in range(0, len(flat), _FIT_BLOCK)]
        mean = sum(block.sum(axis=0, dtype="float64") for block in blocks) / len(flat)
        variance = sum(np.square(block - mean).sum(axis=0) for block in blocks) / len(flat)
        std = np.sqrt(variance)
        self.mean = mean.astype("float32")
        # A constant feature would divide by zero; leave its scale alone.
        self.std = np.where((std > 1e-8) & np.isfinite(std), std, 1.0).astype("float32")
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        scaled = np.subtract(values, self.mean, dtype="float32")
        scaled /= self.std
        return scaled

    def tf_transform(self, values):
        """`transform` in TensorFlow: the same float32 subtraction and division."""
        import tensorflow as tf

        return tf_divide(tf.cast(values, tf.float32) - self.mean, self.std)

    def tf_inverse(self, values):
        import tensorflow as tf

        return tf.cast(values, tf.float32) * self.std + self.mean

    def get_state(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def _eager_numpy(function, *args) -> np.ndarray:
    """Run a converter's TensorFlow function eagerly (a lookup or two); NumPy back."""
    return np.asarray(function(*args))


def _tf_fill_blank(values, fill: str | None):
    """Empty or blank strings -> ``fill``, as `as_labels` fills them; unchanged without a fill."""
    import tensorflow as tf

    if fill is None:
        return values
    blank = tf.equal(tf.strings.length(tf.strings.strip(values)), 0)
    return tf.where(blank, tf.constant(fill, tf.string), values)


def _as_strings(labels: np.ndarray):
    """Labels or texts (an object array of str) as a string tensor.

    Straight from the objects: a fixed-width ``astype(str)`` copy would take
    every row as wide as the longest text.
    """
    import tensorflow as tf

    return tf.convert_to_tensor(np.asarray(labels, dtype=object), tf.string)


# --------------------------------------------------------------------------
# Images, for inputs and outputs alike
# --------------------------------------------------------------------------


def read_images(
    table: Table, column: str, spec, where: str, keep_pixels: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, ImageDecoder]:
    """The images of a column as ``(pixels, sources, decoder)``.

    A column of file paths or encoded bytes is decoded (and checked) with
    tf.io; ``pixels`` is uint8, or None when ``keep_pixels`` is false, in which
    case ``sources`` holds what to decode each epoch. A column of arrays
    (N, H, W, C) keeps its dtype, converted and resized as the spec allows.
    """
    values = table.column(column, where)
    decoder = ImageDecoder(spec.height, spec.width, spec.channels, spec.resize, spec.convert_channels, where)
    if values.dtype == object or values.dtype.kind in "SU":
        if values.ndim != 1:
            raise DataError(f"{where}: expected pixel arrays, file paths or bytes, received {values.dtype}.")
        sources = decoder.sources(table, column)
        return decoder.decode_all(sources, table, keep_pixels), sources, decoder
    if values.ndim == 3 and spec.channels == 1:
        values = values[..., None]
    expected = (spec.height, spec.width, spec.channels)
    if values.ndim != 4:
        check_shape(values, expected, where)
    if values.dtype.kind not in "iuf":
        values = as_float(values, where, table)
    if values.shape[-1] != spec.channels and spec.convert_channels and values.shape[-1] in (1, 2, 3, 4):
        values = convert_pixels(values, spec.channels)
    if values.shape[1:3] != expected[:2] and spec.resize and values.shape[-1] == spec.channels:
        values = resize_pixels(values, spec.height, spec.width)
    check_shape(values, expected, where)
    return values, None, decoder


def decode_image_files(table: Table, spec: GeneratorSpec) -> Table:
    """Decode each column of image files or bytes once, for every row, when the pixels fit in memory.

    The training and validation splits then take their rows from the decoded
    uint8 pixels, so each image is read, decoded and checked exactly once
    (with the file and row of any bad one). A column that two parts read with
    different sizes, or whose pixels would not fit, is left to the converters.
    """
    parts = [
        (f"Input '{name}' (image)", part, spec.input_column(name))
        for name, part in spec.inputs.items()
        if part.kind == "image"
    ]
    if spec.output.kind == "image":
        parts.append((f"Output '{spec.output.name}' (image)", spec.output, spec.output_column()))
    cache = spec.data.cache if spec.data else "auto"
    decoded = {}
    for column in dict.fromkeys(column for _, _, column in parts):
        readers = [(where, part) for where, part, read in parts if read == column]
        values = table.columns.get(column)
        if values is None or not (values.dtype == object or values.dtype.kind in "SU"):
            continue
        settings = {
            (part.height, part.width, part.channels, part.resize, part.convert_channels)
            for _, part in readers
        }
        where, part = readers[0]
        if len(settings) > 1 or not fits_in_memory(
            len(table) * part.height * part.width * part.channels, cache
        ):
            continue
        decoded[column], _, _ = read_images(table, column, part, where)
    return table.with_columns(decoded) if decoded else table


def _image_column(pixels, sources, decoder, low, high, clip, spec) -> ImageColumn:
    shape = (len(pixels if pixels is not None else sources), spec.height, spec.width, spec.channels)
    return ImageColumn(shape, low, high, clip, pixels=pixels, sources=sources, decoder=decoder)


# --------------------------------------------------------------------------
# Input converters
# --------------------------------------------------------------------------


class ImageConverter:
    """Images (N, H, W, C) as floats in [0, 1]; uint8 data and image files are divided by 255.

    Images come as arrays, or as a column of PNG/JPEG/BMP file paths (relative
    to the data file's folder) or encoded bytes, decoded with tf.io, resized
    to the spec's height and width unless ``resize: false``, and converted to
    its channel count when ``convert_channels: true``.
    """

    def __init__(self, name, spec, scale: float | None = None):
        self.name, self.spec, self.scale = name, spec, scale
        self.where = f"Input '{name}' (image)"

    def fit(self, table: Table, column: str):
        values = table.column(column, self.where)
        if values.dtype == object or values.dtype.kind in "SU":
            # Files decode to uint8; they are decoded (and checked) once, in transform.
            self.scale = 255.0
            return self
        values, _, _ = read_images(table, column, self.spec, self.where)
        if values.dtype == np.uint8:
            self.scale = 255.0
            return self
        values = as_float(values, self.where, table)
        check_finite(values, self.where, table)
        self.scale = 255.0 if float(np.max(values)) > 1.0 else 1.0
        return self

    def transform(self, table: Table, column: str, compact: bool = False, cache: Any = "auto"):
        """Float images; with ``compact``, uint8 images stay uint8 in an `ImageColumn`."""
        keep = not compact or fits_in_memory(self._decoded_bytes(table), cache)
        pixels, sources, decoder = read_images(table, column, self.spec, self.where, keep_pixels=keep)
        if compact and (pixels is None or pixels.dtype == np.uint8):
            return _image_column(pixels, sources, decoder, 0.0, self.scale, False, self.spec)
        values = as_float(pixels, self.where, table)
        check_finite(values, self.where, table)
        # One float32 multiply, as training batches (`ImageColumn.to_float`) and `tf_transform` do.
        return values * np.float32(1.0 / self.scale)

    def tf_input_spec(self):
        import tensorflow as tf

        shape = (None, self.spec.height, self.spec.width, self.spec.channels)
        return tf.TensorSpec(shape, tf.float32, name=self.name)

    def tf_transform(self, values):
        """Images in the data's value range -> the model's floats: `transform`'s arithmetic."""
        import tensorflow as tf

        return tf.cast(values, tf.float32) * (1.0 / self.scale)

    tf_resources: tuple = ()

    def _decoded_bytes(self, table: Table) -> int:
        return len(table) * self.spec.height * self.spec.width * self.spec.channels

    def get_state(self) -> dict:
        return {"scale": self.scale}


class TextConverter:
    """Raw text -> token ids with a fitted vocabulary; or embedding vectors as they are.

    Empty or blank text is an error, or a ``[MISSING]`` text under ``missing: impute``.
    """

    def __init__(self, name, spec, vocabulary: list[str] | None = None):
        self.name, self.spec, self.vocabulary = name, spec, vocabulary
        self.where = f"Input '{name}' (text)"
        self._layer = None

    def _texts(self, table: Table, column: str) -> np.ndarray:
        fill = MISSING_LABEL if _imputes(self.spec) else None
        return as_labels(table.column(column, self.where), self.where, table, fill=fill)

    def fit(self, table: Table, column: str):
        if not self.spec.is_raw_text:
            return self
        layer = self._make_layer()
        layer.adapt(self._texts(table, column).astype(str))
        self.vocabulary = [str(token) for token in layer.get_vocabulary()]
        # The adapted layer maps exactly as one rebuilt from the vocabulary; building another costs time.
        self._layer = layer
        return self

    def _make_layer(self):
        import keras

        return keras.layers.TextVectorization(
            max_tokens=self.spec.max_tokens,
            output_sequence_length=self.spec.sequence_length,
            vocabulary=self.vocabulary,
        )

    def transform(self, table: Table, column: str, **options) -> np.ndarray:
        if not self.spec.is_raw_text:
            values = as_float(table.column(column, self.where), self.where, table)
            check_shape(values, (self.spec.embedding_size,), self.where)
            check_finite(values, self.where, table)
            return values
        return _eager_numpy(self.tf_transform, _as_strings(self._texts(table, column)))

    def tf_input_spec(self):
        import tensorflow as tf

        if self.spec.is_raw_text:
            return tf.TensorSpec((None,), tf.string, name=self.name)
        return tf.TensorSpec((None, self.spec.embedding_size), tf.float32, name=self.name)

    def tf_transform(self, values):
        """Texts -> token ids (empty ones filled under ``missing: impute``); embeddings as they are."""
        import tensorflow as tf

        if not self.spec.is_raw_text:
            return tf.cast(values, tf.float32)
        values = _tf_fill_blank(values, MISSING_LABEL if _imputes(self.spec) else None)
        return tf.cast(self._text_layer()(values), tf.int32)

    def _text_layer(self):
        if self._layer is None:
            self._layer = self._make_layer()
        return self._layer

    @property
    def tf_resources(self) -> list:
        return [self._text_layer()] if self.spec.is_raw_text else []

    @property
    def vocabulary_size(self) -> int | None:
        return len(self.vocabulary) if self.vocabulary is not None else None

    def get_state(self) -> dict:
        return {"vocabulary": self.vocabulary}


class _StandardisedConverter:
    """Shared by numeric and sequence data: read (``_raw``), impute on request, check, standardise.

    Under ``missing: mask`` the standardised values are followed, on the last
    axis, by a 0/1 indicator of each value that was missing (and filled).
    """

    def __init__(self, name, spec, mean=None, std=None, fill=None, where=""):
        self.name, self.spec = name, spec
        self.scaler = _Standardiser(mean, std)
        self.fill = fill
        self.where = where
        self._inverse_graph = GraphCache(self.tf_inverse)

    def _filled(self, table: Table, column: str) -> tuple[np.ndarray, np.ndarray]:
        """The values with missing ones filled, and where they were missing."""
        raw = self._raw(table, column)
        values = _fill_missing(raw, self.fill, self.where)
        check_finite(values, self.where, table)
        return values, np.isnan(raw)

    def _values(self, table: Table, column: str) -> np.ndarray:
        return self._filled(table, column)[0]

    def fit(self, table: Table, column: str):
        if _imputes(self.spec):
            self.fill = _fit_fill(self._raw(table, column), self.where, self.spec.impute_with)
        self.scaler.fit(self._values(table, column))
        # The traced way back holds the fitted state as constants: trace it again from the new state.
        self._inverse_graph = GraphCache(self.tf_inverse)
        return self

    def transform(self, table: Table, column: str, **options) -> np.ndarray:
        values, missing = self._filled(table, column)
        values = self.scaler.transform(values)
        if not getattr(self.spec, "masks_missing", False):
            return values
        return np.concatenate([values, missing.astype("float32")], axis=-1)

    def tf_transform(self, values):
        """`transform` in TensorFlow, from the same fitted state: fill NaN (and mark it), standardise.

        NaN is filled only where the input imputes it; otherwise it passes
        through, where `transform` would refuse it.
        """
        import tensorflow as tf

        values = self._tf_select(tf.cast(values, tf.float32))
        if self.fill is None:
            return self.scaler.tf_transform(values)
        missing = tf.math.is_nan(values)
        standardised = self.scaler.tf_transform(tf.where(missing, np.asarray(self.fill, "float32"), values))
        if not getattr(self.spec, "masks_missing", False):
            return standardised
        return tf.concat([standardised, tf.cast(missing, tf.float32)], axis=-1)

    def _tf_select(self, values):
        return values

    tf_resources: tuple = ()

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return self._inverse_graph(values)

    def tf_inverse(self, values):
        return self.scaler.tf_inverse(values)

    def get_state(self) -> dict:
        state = self.scaler.get_state()
        if self.fill is not None:
            state["fill"] = list(self.fill)
        return state


class NumericConverter(_StandardisedConverter):
    """Numeric columns or a vector field, standardised per feature; NaN imputed (and masked) on request.

    It also keeps each feature's training range (``low``, ``high``), so that a
    condition far outside it can be refused before the model extrapolates.
    """

    def __init__(self, name, spec, mean=None, std=None, fill=None, low=None, high=None):
        super().__init__(name, spec, mean, std, fill, where=f"Input '{name}' (numeric)")
        self.low = None if low is None else np.asarray(low, "float64")
        self.high = None if high is None else np.asarray(high, "float64")

    def fit(self, table: Table, column: str):
        super().fit(table, column)
        values = self._values(table, column)
        self.low, self.high = values.min(axis=0).astype("float64"), values.max(axis=0).astype("float64")
        return self

    def get_state(self) -> dict:
        state = super().get_state()
        if self.low is not None:
            state.update(low=self.low.tolist(), high=self.high.tolist())
        return state

    def tf_input_spec(self):
        """The user's features (before any ``mask`` indicators), one row each."""
        import tensorflow as tf

        return tf.TensorSpec((None, self.spec.num_features), tf.float32, name=self.name)

    def feature_names(self, column: str) -> list[str]:
        """The name of each feature: its table column, or ``column[i]`` of a vector field."""
        if self.spec.columns:
            return list(self.spec.columns)
        return [column] if self.spec.size == 1 else [f"{column}[{index}]" for index in range(self.spec.size)]

    def out_of_range(self, table: Table, column: str, margin: float) -> list[str]:
        """One line per feature with a value outside the training range widened by ``margin`` of its width.

        Empty when every value is inside, or for a run saved before ranges were kept.
        """
        if self.low is None:
            return []
        values = self._values(table, column)
        width = self.high - self.low
        lowest, highest = self.low - margin * width, self.high + margin * width
        problems = []
        for index, name in enumerate(self.feature_names(column)):
            outside = np.flatnonzero((values[:, index] < lowest[index]) | (values[:, index] > highest[index]))
            if len(outside):
                first = outside[0]
                problems.append(
                    f"column '{name}' of input '{self.name}' has {len(outside)} value(s) outside the training "
                    f"range [{self.low[index]:.6g}, {self.high[index]:.6g}] (with the {margin:.0%} margin "
                    f"[{lowest[index]:.6g}, {highest[index]:.6g}]), the first {values[first, index]:.6g} in "
                    f"{table.row_label(int(first))}"
                )
        return problems

    def _raw(self, table: Table, column: str) -> np.ndarray:
        impute = _imputes(self.spec)
        if self.spec.columns:
            stacked = [
                as_float(
                    table.column(col, self.where),
                    f"Column '{col}' of input '{self.name}' (numeric)",
                    table,
                    allow_missing=impute,
                )
                for col in self.spec.columns
            ]
            return np.stack(stacked, axis=1)
        values = as_float(table.column(column, self.where), self.where, table, allow_missing=impute)
        if values.ndim == 1 and self.spec.size == 1:
            values = values[:, None]
        check_shape(values, (self.spec.size,), self.where)
        return values


class CategoricalConverter:
    """Labels -> ids 1..K by the fitted vocabulary; unseen labels map to 0.

    Unseen labels are not an error at prediction time: they go to the
    out-of-vocabulary id 0, and ``unseen_counts`` records how many of each.
    Under ``missing: impute`` an empty label becomes ``[MISSING]`` (a
    category of its own when the vocabulary is fitted) or the most frequent
    label of the training split (``impute_with: most_frequent``).
    """

    def __init__(self, name, spec, vocabulary: list[str] | None = None, fill: str | None = None):
        self.name, self.spec = name, spec
        self.vocabulary = vocabulary or spec.vocabulary
        self.fill = fill
        self.where = f"Input '{name}' (categorical)"
        self.unseen_counts: Counter = Counter()
        self._table = None

    def _labels(self, table: Table, column: str) -> np.ndarray:
        return as_labels(table.column(column, self.where), self.where, table, fill=self.fill)

    def fit(self, table: Table, column: str):
        values = table.column(column, self.where)
        if _imputes(self.spec):
            self.fill = MISSING_LABEL
            if self.spec.impute_with == "most_frequent":
                present = values[~is_missing(np.asarray(values, dtype=object))]
                if not len(present):
                    raise DataError(f"{self.where}: every training row is empty; nothing to impute from.")
                counts = Counter(as_labels(present, self.where).tolist())
                self.fill = sorted(counts, key=lambda label: (-counts[label], label))[0]
        return self.fit_vocabulary(table, column)

    def fit_vocabulary(self, table: Table, column: str):
        """Fit the vocabulary (unless the spec gives one) on ``table``'s labels; call after `fit`."""
        if self.spec.vocabulary is None:
            counts = Counter(self._labels(table, column).tolist())
            # Most frequent first, ties by label, so the order is reproducible.
            self.vocabulary = sorted(counts, key=lambda label: (-counts[label], label))
            self._table = None
        return self

    def transform(self, table: Table, column: str, **options) -> np.ndarray:
        labels = self._labels(table, column)
        ids = _eager_numpy(self.tf_transform, _as_strings(labels))
        for label in labels[ids == 0]:
            self.unseen_counts[label] += 1
        return ids

    def tf_input_spec(self):
        import tensorflow as tf

        return tf.TensorSpec((None,), tf.string, name=self.name)

    def tf_transform(self, values):
        """Labels -> ids: label i of the vocabulary is i + 1, an unseen one 0; empty ones filled first."""
        import tensorflow as tf

        return tf.cast(self._lookup().lookup(_tf_fill_blank(values, self.fill)), tf.int32)

    def _lookup(self):
        if self._table is None:
            import tensorflow as tf

            keys = tf.constant(list(self.vocabulary), tf.string)
            ids = tf.range(1, len(self.vocabulary) + 1, dtype=tf.int64)
            self._table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, ids), 0)
        return self._table

    @property
    def tf_resources(self) -> list:
        return [self._lookup()]

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary) + 1

    def get_state(self) -> dict:
        state = {"vocabulary": self.vocabulary}
        if self.fill is not None:
            state["fill"] = self.fill
        return state


def _read_windows(table: Table, column: str, spec, where: str, impute: bool) -> np.ndarray:
    """A part's windows (N, T, C): one array field, or its ``columns`` stacked as channels."""
    if spec.columns:
        channels = []
        for col in spec.columns:
            values = table.column(col, where)
            if values.ndim != 2:
                raise DataError(
                    f"{where}, column '{col}': expected one window of readings per row (examples, steps), "
                    f"received an array of shape {list(values.shape)}.",
                    hint="a long table of one reading per row needs data.windows in the spec.",
                )
            channels.append(as_float(values, f"{where}, column '{col}'", table, allow_missing=impute))
        values = np.stack(channels, axis=-1)
    else:
        values = table.column(column, where)
        if values.dtype == object:
            raise DataError(
                f"{where}: expected windows of equal length as one numeric array, "
                "received an object array (unequal lengths or mixed types).",
                hint="pad or cut every sequence to one length, or give a long table with data.windows.",
            )
        values = as_float(values, where, table, allow_missing=impute)
    return _select(values, spec.select, where)


class SequenceConverter(_StandardisedConverter):
    """Windows (N, T, C): the selected steps and channels, standardised per channel.

    As an output it also records each channel's range in the training data;
    with the output's ``clip`` (the default) generated windows are clipped
    to it, as a bounded output layer (TimeGAN's sigmoid) would keep them.
    """

    def __init__(self, name, spec, mean=None, std=None, fill=None, kind="Input", low=None, high=None):
        super().__init__(name, spec, mean, std, fill, where=f"{kind} '{name}' (sequence)")
        self.is_output = kind == "Output"
        self.low = None if low is None else np.asarray(low, "float32")
        self.high = None if high is None else np.asarray(high, "float32")

    def fit(self, table: Table, column: str):
        super().fit(table, column)
        if self.is_output:
            values = self._values(table, column)
            self.low, self.high = values.min(axis=(0, 1)), values.max(axis=(0, 1))
            self._inverse_graph = GraphCache(self.tf_inverse)
        return self

    def tf_inverse(self, values):
        """Model space -> the user's units; an output with ``clip`` is clipped to its training range."""
        import tensorflow as tf

        values = super().tf_inverse(values)
        if self.is_output and getattr(self.spec, "clip", False) and self.low is not None:
            values = tf.clip_by_value(values, self.low, self.high)
        return values

    def tf_input_spec(self):
        """Windows as the data holds them: with ``select``, the steps or channels it picks from are any number."""
        import tensorflow as tf

        select = self.spec.select
        steps = None if select is not None and select.steps is not None else self.spec.steps
        channels = None if select is not None and select.channels is not None else self.spec.channels
        return tf.TensorSpec((None, steps, channels), tf.float32, name=self.name)

    def _tf_select(self, values):
        """`_select` in TensorFlow: the same steps and channels of each window."""
        import tensorflow as tf

        select = self.spec.select
        if select is None:
            return values
        if select.steps is not None:
            start, stop = select.steps
            values = values[:, start:stop]
        if select.channels is not None:
            values = tf.gather(values, list(select.channels), axis=2)
        # The model's layers need the window's shape; a window too short for the steps fails here.
        return tf.ensure_shape(values, (None, self.spec.steps, self.spec.channels))

    def get_state(self) -> dict:
        state = super().get_state()
        if self.is_output and self.low is not None:
            state["low"], state["high"] = self.low.tolist(), self.high.tolist()
        return state

    def _raw(self, table: Table, column: str) -> np.ndarray:
        values = _read_windows(table, column, self.spec, self.where, _imputes(self.spec))
        check_shape(values, (self.spec.steps, self.spec.channels), self.where)
        return values


# --------------------------------------------------------------------------
# Output converters
# --------------------------------------------------------------------------


class ImageOutputConverter:
    """Target images mapped from ``value_range`` to [0, 1] and back; arrays or image files."""

    def __init__(self, spec):
        self.spec = spec
        self.where = f"Output '{spec.name}' (image)"
        self._inverse_graph = GraphCache(self.tf_inverse)

    def fit(self, table: Table, column: str):
        return self

    def transform(self, table: Table, column: str, compact: bool = False, cache: Any = "auto"):
        spec = self.spec
        keep = not compact or fits_in_memory(len(table) * spec.height * spec.width * spec.channels, cache)
        pixels, sources, decoder = read_images(table, column, spec, self.where, keep_pixels=keep)
        low, high = spec.value_range
        if compact and (pixels is None or pixels.dtype == np.uint8):
            return _image_column(pixels, sources, decoder, low, high, True, spec)
        values = as_float(pixels, self.where, table)
        check_finite(values, self.where, table)
        # The arithmetic of compact training batches (`ImageColumn.to_float`).
        if low:
            values = values - np.float32(low)
        return np.clip(values * np.float32(1.0 / (high - low)), 0.0, 1.0).astype("float32")

    def tf_inverse(self, values):
        """[0, 1] -> ``value_range``, rounded to uint8 when the output's dtype is uint8."""
        import tensorflow as tf

        low, high = self.spec.value_range
        images = tf.clip_by_value(tf.cast(values, tf.float32), 0.0, 1.0) * (high - low) + low
        if self.spec.dtype == "uint8":
            return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8)
        return images

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return self._inverse_graph(values)

    def get_state(self) -> dict:
        return {}


class VectorOutputConverter:
    """Target vectors standardised per feature; predictions returned in the user's units."""

    def __init__(self, spec, mean=None, std=None):
        self.spec = spec
        self.scaler = _Standardiser(mean, std)
        self.where = f"Output '{spec.name}' (vector)"
        self._inverse_graph = GraphCache(self.tf_inverse)

    def _values(self, table, column):
        values = as_float(table.column(column, self.where), self.where, table)
        if values.ndim == 1 and self.spec.size == 1:
            values = values[:, None]
        check_shape(values, (self.spec.size,), self.where)
        check_finite(values, self.where, table)
        return values

    def fit(self, table, column):
        self.scaler.fit(self._values(table, column))
        self._inverse_graph = GraphCache(self.tf_inverse)
        return self

    def transform(self, table, column, **options):
        return self.scaler.transform(self._values(table, column))

    def tf_inverse(self, values):
        return self.scaler.tf_inverse(values)

    def inverse(self, values):
        return self._inverse_graph(values)

    def get_state(self):
        return self.scaler.get_state()


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

    A long table is cut into windows first when the spec has ``data.windows``.

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
            self.output = RecordConverter(output, output_state)
        else:
            self.output = VectorOutputConverter(output, **output_state)
        self.fitted = bool(state)

    def fit(self, table: Table, labels: Table | None = None) -> Preprocessor:
        """Fit every converter on ``table``, the training rows.

        Args:
            table: the rows that statistics (means, quantiles, ranges) are fitted on.
            labels: rows whose category labels the vocabularies must also know,
                usually every row of the data. A label is not a statistic, so
                this leaks nothing; without it a rare label drawn only into the
                validation split would be unknown to the model.
        """
        table = window_table(table, self.spec)
        labels = window_table(labels, self.spec) if labels is not None else None
        converters = [(converter, self.spec.input_column(name)) for name, converter in self.inputs.items()]
        converters.append((self.output, self.spec.output_column()))
        for converter, column in converters:
            converter.fit(table, column)
            if labels is not None and hasattr(converter, "fit_vocabulary"):
                converter.fit_vocabulary(labels, column)
        self.fitted = True
        return self

    def transform_inputs(self, table: Table, names=None, compact: bool = False) -> dict[str, Any]:
        """Model-ready inputs keyed by input name.

        With ``compact``, uint8 images stay uint8 (or encoded, when they do not
        fit in memory) in an `ImageColumn` that `make_dataset` maps per batch.
        """
        table = window_table(table, self.spec)
        if not self.spec.inputs and names is None:
            return {CONSTANT_INPUT: np.zeros((table.num_rows, 1), "float32")}
        names = list(self.inputs) if names is None else names
        cache = self.spec.data.cache if self.spec.data else "auto"
        return {
            name: self.inputs[name].transform(
                table, self.spec.input_column(name), compact=compact, cache=cache
            )
            for name in names
        }

    def transform_targets(self, table: Table, compact: bool = False):
        """Model-space targets: an array, or a dict of parts for records."""
        table = window_table(table, self.spec)
        cache = self.spec.data.cache if self.spec.data else "auto"
        return self.output.transform(table, self.spec.output_column(), compact=compact, cache=cache)

    def inverse_outputs(self, predictions):
        return self.output.inverse(predictions)

    def vocabulary_sizes(self) -> dict[str, int]:
        """Sizes the shape planner needs: per text/categorical input, and ``output.COLUMN``."""
        sizes = {}
        for name, converter in self.inputs.items():
            size = getattr(converter, "vocabulary_size", None)
            if size:
                sizes[name] = size
        if isinstance(self.output, RecordConverter):
            for col, size in self.output.vocabulary_sizes().items():
                sizes[f"output.{col}"] = size
        return sizes

    def unseen_counts(self) -> dict[str, dict[str, int]]:
        """Per categorical input, the labels mapped to the out-of-vocabulary id 0 so far, and how often."""
        return {
            name: dict(converter.unseen_counts)
            for name, converter in self.inputs.items()
            if isinstance(converter, CategoricalConverter) and converter.unseen_counts
        }

    def get_state(self) -> dict[str, Any]:
        return {
            "inputs": {name: conv.get_state() for name, conv in self.inputs.items()},
            "output": self.output.get_state(),
        }


# --------------------------------------------------------------------------
# Which columns each part reads, and where values are missing
# --------------------------------------------------------------------------


def columns_of_parts(spec: GeneratorSpec) -> dict[str, tuple[list[str], str | None]]:
    """Per input and the output (``Input 'x' (kind)``): the columns it reads and its missing policy."""
    parts = {}
    for name, input_spec in spec.inputs.items():
        if input_spec.kind in ("numeric", "sequence") and input_spec.columns:
            columns = list(input_spec.columns)
        else:
            columns = [spec.input_column(name)]
        parts[f"Input '{name}' ({input_spec.kind})"] = (columns, input_spec.missing)
    output = spec.output
    if output.kind == "record":
        # Nullable columns keep their missing values: the record converter models them.
        columns = [column for column in output.numeric + output.categorical if column not in output.nullable]
    elif output.kind == "sequence" and output.columns:
        columns = list(output.columns)
    else:
        columns = [spec.output_column()]
    parts[f"Output '{output.name}' ({output.kind})"] = (columns, None)
    return parts


def _number_columns(spec: GeneratorSpec) -> set[str]:
    """The table columns the spec reads as plain numbers: numeric inputs' and a record's numeric columns."""
    columns = {
        column
        for input_spec in spec.inputs.values()
        if input_spec.kind == "numeric"
        for column in (input_spec.columns or [])
    }
    if spec.output.kind == "record":
        columns |= set(spec.output.numeric) - set(spec.output.datetime)
    return columns


def missing_values(table: Table, spec: GeneratorSpec) -> list[tuple[str, str, str, np.ndarray]]:
    """``(part, column, policy, rows)`` for each column with missing or infinite values.

    ``policy`` is the part's own ``missing`` or ``data.missing``. A column
    that a part imputes (or masks) reports only its infinite values, which
    imputation leaves. Under ``drop_rows``, text in a column read as numbers
    (a stray ``n/a`` or ``abc``) is dropped with the missing values; under
    ``error`` the converter reports it, naming the rows.
    """
    default = spec.data.missing if spec.data else "error"
    numbers = _number_columns(spec)
    found = []
    for part, (columns, policy) in columns_of_parts(spec).items():
        policy = policy or default
        for column in columns:
            if column not in table.columns:
                continue  # reported with its part's name when transformed
            values = table.columns[column]
            if values.dtype.kind == "f":
                flat = values.reshape(len(values), -1)
                bad = np.isinf(flat).any(axis=1)
                if policy not in ("impute", "mask"):
                    bad |= np.isnan(flat).any(axis=1)
            elif policy not in ("impute", "mask"):
                bad = is_missing(values)
                if (
                    policy == "drop_rows"
                    and column in numbers
                    and values.dtype == object
                    and values.ndim == 1
                ):
                    import pandas as pd

                    bad |= pd.isna(pd.to_numeric(pd.Series(values), errors="coerce")).to_numpy()
            else:
                continue
            if bad.any():
                found.append((part, column, policy, np.flatnonzero(bad)))
    return found


def rows_with_missing(table: Table, spec: GeneratorSpec) -> np.ndarray:
    """Boolean mask of rows with a NaN, infinite, None or empty value in a column the spec reads."""
    mask = np.zeros(len(table), dtype=bool)
    for _, _, _, rows in missing_values(table, spec):
        mask[rows] = True
    return mask
