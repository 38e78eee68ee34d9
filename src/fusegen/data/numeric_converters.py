"""Numbers standardised per feature: numeric inputs and vector outputs.

`StandardisedConverter` (read, impute on request, check, standardise) is
shared with `fusegen.data.sequence_converters`, which standardises per channel.
"""

from __future__ import annotations

import numpy as np

from fusegen.data.checks import as_float, check_finite, check_shape
from fusegen.data.missing import fill_missing, fit_fill, imputes
from fusegen.data.sources import Table
from fusegen.data.tensors import GraphCache, tf_divide
from fusegen.errors import DataError

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


class StandardisedConverter:
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
        values = fill_missing(raw, self.fill, self.where)
        check_finite(values, self.where, table)
        return values, np.isnan(raw)

    def _values(self, table: Table, column: str) -> np.ndarray:
        return self._filled(table, column)[0]

    def fit(self, table: Table, column: str):
        if imputes(self.spec):
            self.fill = fit_fill(self._raw(table, column), self.where, self.spec.impute_with)
        values = self._values(table, column)
        self.scaler.fit(values)
        self._fit_more(values)
        self.refit_inverse()
        return self

    def refit_inverse(self) -> None:
        """Trace the way back again: the traced graph holds the fitted state as constants."""
        self._inverse_graph = GraphCache(self.tf_inverse)

    def _fit_more(self, values: np.ndarray) -> None:
        """Whatever else a subclass measures on the filled training values (a sequence's range)."""

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


class NumericConverter(StandardisedConverter):
    """Numeric columns or a vector field, standardised per feature; NaN imputed (and masked) on request.

    It also keeps each feature's training range (``low``, ``high``), so that a
    condition far outside it can be refused before the model extrapolates.
    """

    def __init__(self, name, spec, mean=None, std=None, fill=None, low=None, high=None):
        super().__init__(name, spec, mean, std, fill, where=f"Input '{name}' (numeric)")
        self.low = None if low is None else np.asarray(low, "float64")
        self.high = None if high is None else np.asarray(high, "float64")

    @staticmethod
    def example_values(spec, rows: int, rng: np.random.Generator) -> np.ndarray:
        """Random raw values of ``spec``'s kind, in the user's form (the conformance tests feed them)."""
        return rng.normal(size=(rows, spec.num_features)).astype("float32")

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
        impute = imputes(self.spec)
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
            for col, values in zip(self.spec.columns, stacked, strict=True):
                if values.ndim != 1:
                    raise DataError(
                        f"Column '{col}' of input '{self.name}' (numeric): expected one number per row, "
                        f"received an array of shape {list(values.shape)}.",
                        hint=f"pass '{col}' as a flat array of {len(table)} numbers (values.ravel() for a "
                        "column vector).",
                    )
            return np.stack(stacked, axis=1)
        values = as_float(table.column(column, self.where), self.where, table, allow_missing=impute)
        if values.ndim == 1 and self.spec.size == 1:
            values = values[:, None]
        check_shape(values, (self.spec.size,), self.where)
        return values


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
