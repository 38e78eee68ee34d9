"""Strings through a fitted vocabulary: categorical labels and raw text inputs.

Their lookups are written once, in TensorFlow; ``transform`` runs the same
function eagerly, so the exported SavedModel maps labels and texts as
training did.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from fusegen.data.checks import MISSING_LABEL, as_float, as_labels, check_finite, check_shape, is_missing
from fusegen.data.missing import imputes
from fusegen.data.sources import Table
from fusegen.errors import DataError

OUT_OF_VOCABULARY = "[OOV]"


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


class TextConverter:
    """Raw text -> token ids with a fitted vocabulary; or embedding vectors as they are.

    Empty or blank text is an error, or a ``[MISSING]`` text under ``missing: impute``.
    """

    def __init__(self, name, spec, vocabulary: list[str] | None = None):
        self.name, self.spec, self.vocabulary = name, spec, vocabulary
        self.where = f"Input '{name}' (text)"
        self._layer = None

    @staticmethod
    def example_values(spec, rows: int, rng: np.random.Generator) -> np.ndarray:
        """Random raw values of ``spec``'s kind, in the user's form (the conformance tests feed them)."""
        if spec.embedding_size:
            return rng.normal(size=(rows, spec.embedding_size)).astype("float32")
        words = ["red", "green", "blue", "small", "large", "round", "square", "dark"]
        return np.array([" ".join(rng.choice(words, 3)) for _ in range(rows)], dtype=object)

    def _texts(self, table: Table, column: str) -> np.ndarray:
        fill = MISSING_LABEL if imputes(self.spec) else None
        return as_labels(table.column(column, self.where), self.where, table, fill=fill)

    def fit(self, table: Table, column: str):
        if not self.spec.is_raw_text:
            return self
        layer = self._make_layer()
        texts = self._texts(table, column).astype(str)
        layer.adapt(texts)
        self.vocabulary = [str(token) for token in layer.get_vocabulary()]
        if len(self.vocabulary) <= 2:  # the padding and out-of-vocabulary tokens alone
            # Keras leaves the lookup table of an empty vocabulary uninitialised, and every call fails.
            raise DataError(
                f"{self.where}: no word in any of the {len(texts)} training rows once lowercased and stripped "
                f"of punctuation (e.g. {sorted(set(texts.tolist()))[:3]}); a text input learns from words.",
                hint="point the input at a column of text, or read a column of labels as kind: categorical.",
            )
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
        values = _tf_fill_blank(values, MISSING_LABEL if imputes(self.spec) else None)
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

    @staticmethod
    def example_values(spec, rows: int, rng: np.random.Generator) -> np.ndarray:
        """Random raw values of ``spec``'s kind, in the user's form (the conformance tests feed them)."""
        labels = spec.vocabulary or ["a", "b", "c"]
        return rng.choice(labels, rows).astype(object)

    def _labels(self, table: Table, column: str) -> np.ndarray:
        return as_labels(table.column(column, self.where), self.where, table, fill=self.fill)

    def fit(self, table: Table, column: str):
        values = table.column(column, self.where)
        if imputes(self.spec):
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
