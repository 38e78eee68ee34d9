"""The record transformer: mixed numeric and categorical columns to model space and back.

Numeric columns go through a quantile transform to a standard normal by
default (`_normal_scores`: scikit-learn's `QuantileTransformer` inside the
range, but a value repeated at the range's ends, such as zero rain, stays
near the middle instead of at 5 standard deviations), which copes with
skewed, multi-modal and point-mass columns and, inverted, stays within the
observed range; or through standardisation. Integer columns come back as
integers, datetime columns as datetimes, and every numeric column within
its training range.
Categorical columns become ids over a fitted vocabulary. Columns listed as
``nullable`` keep their missing values: a categorical one gets a
``[MISSING]`` label, a numeric one a ``COLUMN_is_missing`` part, so
missingness is generated at the real rate. The state is plain JSON.

The way back is written once, in TensorFlow (`RecordConverter.tf_inverse`):
the exported SavedModel runs it in its graph, and `RecordConverter.inverse`
runs it as a graph too (`fusegen.data.tensors.GraphCache`) and puts the
columns in the user's types.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from typing import Any

import numpy as np

from fusegen.data.checks import as_float, as_labels, check_finite, is_missing, row_text, rows_text
from fusegen.data.label_pairs import fit_unseen_pairs, unseen_pair_ids
from fusegen.data.sources import Table
from fusegen.data.tensors import GraphCache, tf_divide
from fusegen.errors import DataError
from fusegen.spec.outputs import GAP_LABEL_MIN_ROWS

MISSING = "[MISSING]"
#: A numeric column of at most this many distinct training values keeps them (and their counts).
MAX_KEPT_VALUES = 64


class RecordConverter:
    """Fit on training rows; ``transform`` gives the parts, ``inverse`` a DataFrame in the user's terms.

    Args:
        spec: the `RecordOutput` spec.
        state: a state from `get_state`, to restore a fitted converter.
    """

    def __init__(self, spec, state: dict[str, Any] | None = None):
        self.spec = spec
        self.where = f"Output '{spec.name}' (record)"
        state = state or {}
        self.vocabularies = {**spec.vocabularies, **state.get("vocabularies", {})}
        self.numeric_state: dict[str, dict] = state.get("numeric", {})
        # Categorical columns whose labels are numbers (a rating, a year): sampled back as numbers.
        self.number_labels: list[str] = list(state.get("number_labels", []))
        # Categorical columns of True / False (a CSV's logical column): sampled back as booleans.
        self.boolean_labels: list[str] = list(state.get("boolean_labels", []))
        # The record's columns in the training table's order, which samples come back in (runs fitted
        # before 0.13.0, or on streamed statistics, have none: numbers first, then categories).
        self.column_order: list[str] = list(state.get("column_order", []))
        # Per first column of output.differences, its quantiles as sampled (the second plus the gap) and
        # in training: the map that gives it the training marginal (`fit_difference_maps`).
        self.difference_maps: dict[str, list[list[float]]] = {
            column: [list(sampled), list(data)]
            for column, (sampled, data) in state.get("difference_maps", {}).items()
        }
        # Each nullable column's share of missing cells in training (runs fitted before 0.16.0 have none).
        self.missing_shares: dict[str, float] = dict(state.get("missing_shares", {}))
        # Each categorical column's training rows per label (runs fitted before 0.16.0 have none).
        self.label_counts: dict[str, dict[str, int]] = {
            column: dict(counts) for column, counts in state.get("label_counts", {}).items()
        }
        # output.determined_by's tables: per determined column, its label for each determining label.
        self.lookups: dict[str, dict[str, str]] = {
            column: dict(table) for column, table in state.get("lookups", {}).items()
        }
        # output.gaps_follow's labels: per column, the labels of the column it follows beside which it
        # was missing in every training row.
        self.gap_labels: dict[str, list[str]] = {
            column: list(labels) for column, labels in state.get("gap_labels", {}).items()
        }
        # Those numbers of output.gaps_follow missing in exactly the rows their column is: present
        # wherever it is, as drawn (STAR's school id of a grade and its class type).
        self.gaps_together: list[str] = list(state.get("gaps_together", []))
        # output.unseen_label_pairs: label pairs of two categorical parts the training rows rule out
        # (`fusegen.data.label_pairs`); runs fitted before 0.23.0 have none.
        self.unseen_pairs: list[list] = [list(entry) for entry in state.get("unseen_pairs", [])]
        # output.gaps_follow's rules whose gaps follow their column exactly (`_present_beside`).
        self.present_beside: list[list] = [list(rule) for rule in state.get("present_beside", [])]
        self._transformers: dict[str, Any] = {}
        self._inverse_graph = GraphCache(self.tf_inverse)

    # -- numeric columns --------------------------------------------------

    def _column_where(self, column):
        return f"Column '{column}' of output '{self.spec.name}'"

    def _numeric_values(self, table: Table, column: str, text_as_missing: bool = False) -> np.ndarray:
        """A numeric column of ``table`` in the data's units (datetimes in seconds). Text among the
        numbers is an error naming its rows, unless the column is nullable or ``text_as_missing``
        (given cells: sampling refuses such text first, and `impute` keeps it as given)."""
        if column in self.spec.differences and column not in table.columns:
            first, second = self.spec.differences[column]
            return self._numeric_values(table, first, text_as_missing) - self._numeric_values(
                table, second, text_as_missing
            )
        raw = table.column(column, self.where)
        if column in self.spec.datetime:
            return _datetimes_to_seconds(
                raw,
                self._column_where(column),
                table,
                column,
                self.spec.datetime_formats.get(column),
                nullable=column in self.spec.nullable,
            )
        try:
            # float64 keeps the data's decimals exact (prices stay in cents).
            return np.asarray(raw, dtype="float64")
        except (TypeError, ValueError):
            return self._numbers_among_text(table, column, raw, text_as_missing)

    def read_numbers(self, table: Table, column: str):
        """A numeric column of ``table`` as sampling returns it: dates and times as datetime64 (parsed
        in the column's format), numbers among stray text as numbers (the text missing).

        What a user's rows are compared with samples in: the same dates as text in a CSV would
        otherwise be labels that no sampled datetime ever equals.
        """
        import pandas as pd

        values = self._numeric_values(table, column)
        if column in self.spec.datetime:
            return pd.to_datetime(values * 1e9, errors="coerce")  # NaN (a gap) becomes NaT
        return values

    def _numbers_among_text(
        self, table: Table, column: str, raw, text_as_missing: bool = False
    ) -> np.ndarray:
        """A numeric column holding some text: missing where ``nullable`` (or ``text_as_missing``), else an
        error naming the rows."""
        import pandas as pd

        try:
            values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy("float64")
        except (TypeError, ValueError):  # arrays or other objects, not text: as_float names the row
            return as_float(raw, self._column_where(column), table).astype("float64")
        text = np.isnan(values) & ~is_missing(np.asarray(raw, dtype=object))
        if column in self.spec.nullable or text_as_missing or not text.any():
            return values
        rows = np.flatnonzero(text)
        received = sorted({str(raw[row]) for row in rows})
        raise DataError(
            f"{self._column_where(column)}: expected numbers, received text in {len(rows)} row(s), "
            f"{rows_text(table, rows)}: {received[:5]}.",
            hint=f"fix those values, set data.missing: drop_rows to drop those rows, or list '{column}' in "
            "output.nullable to treat them as missing values (generated at their rate).",
        )

    def _fit_numeric(self, column: str, values: np.ndarray, raw) -> dict:
        present = values[np.isfinite(values)]
        if present.size == 0:
            raise DataError(f"{self._column_where(column)}: every value is missing; nothing to learn from.")
        integral = column in self.spec.integer or (
            np.asarray(raw).dtype.kind in "iu"
            or (column not in self.spec.datetime and np.all(present == np.round(present)))
        )
        state = {
            "low": float(present.min()),
            "high": float(present.max()),
            "integer": bool(integral),
            "decimals": None if column in self.spec.datetime else _decimals(present),
            "step": _time_step(present) if column in self.spec.datetime else _grid_step(present),
            "fill": float(np.median(present)),
        }
        if self.spec.numeric_transform == "quantile":
            count = int(min(1000, present.size))
            levels = np.linspace(0, 1, count)
            state["quantiles"] = np.quantile(present, levels).tolist()
            state["scores"] = "midpoint"
        else:
            state["mean"] = float(present.mean())
            state["std"] = float(present.std()) or 1.0
        if column in self.spec.datetime:
            state.update(_times_of_day(present, state))
        values, counts = np.unique(present, return_counts=True)
        if len(values) <= MAX_KEPT_VALUES:
            # A range draws among these (`fusegen.data.record_cells.draw_in_range`): survey years
            # 1983, 1991 and 1995 in [1980, 2000], never the years between that the data lacks.
            state["values"], state["value_counts"] = values.tolist(), counts.tolist()
        return state

    def _transformer(self, column):
        if column not in self._transformers:
            from sklearn.preprocessing import QuantileTransformer

            state = self.numeric_state[column]
            quantiles = np.asarray(state["quantiles"], dtype="float64")[:, None]
            transformer = QuantileTransformer(n_quantiles=len(quantiles), output_distribution="normal")
            # Restore the fitted state from JSON rather than pickling the estimator.
            transformer.quantiles_ = quantiles
            transformer.references_ = np.linspace(0, 1, len(quantiles))
            transformer.n_features_in_ = 1
            transformer.n_quantiles_ = len(quantiles)
            self._transformers[column] = transformer
        return self._transformers[column]

    def _forward(self, column, values):
        state = self.numeric_state[column]
        if "quantiles" not in state:
            return (values - state["mean"]) / state["std"]
        if state.get("scores") == "midpoint":
            return _normal_scores(values, np.asarray(state["quantiles"], dtype="float64"))
        # Runs fitted before 0.6.0 keep scikit-learn's transform, which their models were trained on.
        return self._transformer(column).transform(values[:, None])[:, 0]

    # -- fit / transform / inverse ---------------------------------------

    def fit(self, table: Table, column: str | None = None) -> RecordConverter:
        for name in self.spec.numeric:
            values = self._numeric_values(table, name)
            raw = values if name in self.spec.differences else table.column(name, self.where)
            if name not in self.spec.nullable:
                check_finite(values, self._column_where(name), table)
            self.numeric_state[name] = self._fit_numeric(name, values, raw)
        self._transformers = {}
        record = set(self.spec.numeric) | set(self.spec.categorical)
        self.column_order = [name for name in table.columns if name in record]
        self.missing_shares = {
            name: round(float(is_missing(np.asarray(table.column(name, self.where), dtype=object)).mean()), 4)
            for name in self.spec.nullable
            if name in table.columns
        }
        self.label_counts = {
            name: {str(label): count for label, count in Counter(self._labels(table, name).tolist()).items()}
            for name in self.spec.categorical
        }
        self.lookups = {}  # fitted afresh: the training rows', then `fit_vocabulary` adds every row's
        self.gap_labels, self.gaps_together = {}, []
        for column, by in self.spec.gaps_follow.items():
            missing, labels = self.missing_cells(table, column), self._labels(table, by)
            self.gap_labels[column] = gap_labels(labels, missing)
            if column in self.spec.numeric and np.array_equal(missing, labels == MISSING):
                self.gaps_together.append(column)
        self.unseen_pairs, self.present_beside = [], []
        if self.spec.unseen_label_pairs == "rule_out":
            looked_up = {column: self._labels(table, column) for column in self.spec.determined_by}
            self.unseen_pairs = fit_unseen_pairs(self._part_labels(table), looked_up)
            self.present_beside = self._present_beside(table)
        return self.fit_vocabulary(table)

    def column_problems(self, table: Table, skip=()) -> list[str]:
        """Every column's problem, each column read on its own: `fit` stops at the first, and ``fusegen
        validate`` lists them all, so that one run shows every cell to fix. Columns in ``skip`` (their
        problem said already) are not read."""
        from fusegen.errors import FusegenError

        problems = []
        record = [*self.spec.numeric, *self.spec.categorical]
        parts = {name: self.spec.differences.get(name, [name]) for name in record}
        absent = sorted({column for name in record for column in parts[name] if column not in table.columns})
        if absent:
            problems.append(
                f"{self.where}: column(s) {absent} are not in {table.origin}; available columns: "
                f"{', '.join(sorted(table.columns))}."
            )
        for name in record:
            if any(column in absent or column in skip for column in parts[name]):
                continue
            try:
                if name in self.spec.numeric:
                    values = self._numeric_values(table, name)
                    if name not in self.spec.nullable:
                        check_finite(values, self._column_where(name), table)
                else:
                    self._labels(table, name)
            except FusegenError as error:
                problems.append(str(error))
        return problems

    def _present_beside(self, table: Table) -> list[list]:
        """The rules of ``output.gaps_follow`` whose gaps are exactly the rows of their labels (rpdr's
        `eliminated`, empty exactly where `outcome` is), as ``[column, part, gap label, gap labels]``:
        beside any other label of the column the part's gap is ruled out, however rare the label (a
        disqualification, or one seen only in validation rows; `unseen_pair_ids`)."""
        rules = []
        for column, by in self.spec.gaps_follow.items():
            if column in self.spec.determined_by or by in self.spec.determined_by:
                continue
            labels, missing = self._labels(table, by).astype(str), self.missing_cells(table, column)
            gaps = set(self.gap_labels.get(column, []))
            if not gaps or not np.array_equal(missing, np.isin(labels, list(gaps))):
                continue
            part, gap = (
                (column, MISSING) if column in self.spec.categorical else (f"{column}_is_missing", "1")
            )
            rules.append([by, part, gap, sorted(gaps)])
        return rules

    def _part_labels(self, table: Table) -> dict[str, np.ndarray]:
        """Each categorical part's label on each row of ``table``, in model order (a missing flag's is 0
        or 1), but for the columns looked up from another."""
        labels = {name: self._labels(table, name) for name in self.spec.categorical}
        for name in self.spec.numeric:
            if name in self.spec.nullable:
                labels[f"{name}_is_missing"] = self.missing_cells(table, name).astype(int)
        # A column looked up from another (output.determined_by) is replaced after the draw: its drawn
        # label would rule out pairs for a label the row does not keep (its determining column's pairs
        # carry the rule instead).
        return {
            part: labels[part]
            for part in self.spec.categorical_parts()
            if part not in self.spec.determined_by
        }

    def unseen_pair_ids(self) -> dict[tuple[str, str], np.ndarray]:
        """The label pairs the training rows rule out, as ids per pair of parts (`unseen_pair_ids`)."""
        ids = unseen_pair_ids(self.unseen_pairs, self.vocabularies)
        for by, part, gap, gaps in self.present_beside:
            # A missing flag's ids are 0 (present) and 1 (missing); a column's gap is its label.
            own = (
                [str(label) for label in self.vocabularies[part]] if part in self.vocabularies else ["0", "1"]
            )
            if gap not in own:
                continue
            ruled_out = [[index, own.index(gap)] for index, label in enumerate(self.vocabularies[by])
                         if str(label) not in gaps]  # fmt: skip
            if not ruled_out:
                continue
            pairs, key = np.array(ruled_out, dtype="int64"), (by, part)
            if (part, by) in ids:
                pairs, key = pairs[:, ::-1], (part, by)
            ids[key] = np.unique(np.concatenate([ids[key], pairs]) if key in ids else pairs, axis=0)
        return ids

    def missing_cells(self, table: Table, column: str) -> np.ndarray:
        """Where a record column of ``table`` is missing: NaN for a number, the missing label for a category."""
        if column in self.spec.numeric:
            return ~np.isfinite(self._numeric_values(table, column))
        return self._labels(table, column) == MISSING

    def fit_vocabulary(self, table: Table, column: str | None = None) -> RecordConverter:
        """Fit the categorical columns' vocabularies (those the spec does not give) on ``table``."""
        for name in self.spec.categorical:
            if name in self.spec.vocabularies:
                continue
            labels = self._labels(table, name)
            counts = Counter(labels.tolist())
            self.vocabularies[name] = sorted(counts, key=lambda label: (-counts[label], label))
            if (
                np.asarray(table.column(name, self.where)).dtype.kind in "iuf"
                and name not in self.number_labels
            ):
                self.number_labels.append(name)
            if _is_boolean(table.column(name, self.where)) and name not in self.boolean_labels:
                self.boolean_labels.append(name)
        for column, by in self.spec.determined_by.items():
            self._fit_lookup(table, column, by)
        # The traced way back holds the fitted state as constants: trace it again from the new state.
        self._inverse_graph = GraphCache(self.tf_inverse)
        return self

    def _fit_lookup(self, table: Table, column: str, by: str) -> None:
        """``column``'s label for each label of ``by`` in ``table``: its most frequent one (the only one
        where ``by`` determines it), added to what earlier rows gave (the training rows', then all)."""
        pairs = Counter(
            zip(self._labels(table, by).tolist(), self._labels(table, column).tolist(), strict=True)
        )
        lookup = self.lookups.setdefault(column, {})
        for (key, label), _ in sorted(pairs.items(), key=lambda item: -item[1]):
            lookup.setdefault(str(key), str(label))

    def lookup_ids(self, column: str) -> np.ndarray:
        """For each label id of ``column``'s determining column, the id of ``column``'s label, or -1."""
        by = self.spec.determined_by[column]
        position = {str(label): index for index, label in enumerate(self.vocabularies[column])}
        lookup = self.lookups.get(column, {})
        return np.array(
            [position.get(lookup.get(str(label)), -1) for label in self.vocabularies[by]], dtype="int64"
        )

    def _labels(self, table: Table, name: str) -> np.ndarray:
        raw = table.column(name, self.where)
        if np.asarray(raw).dtype.kind == "f":
            # Whole numbers read as floats (a column with gaps) are labelled as whole numbers: 3, not 3.0.
            raw = np.array([_number_label(value) for value in raw], dtype=object)
        if name in self.spec.nullable:
            raw = np.array([MISSING if _is_missing(value) else value for value in raw], dtype=object)
        return as_labels(raw, self._column_where(name), table)

    def given_labels(self, table: Table, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A categorical column's cells given to condition on, as the labels training knew them by
        (a whole number read as a float, 3.0 in a column with gaps, is '3'), and where they are given."""
        raw = np.asarray(table.column(name, self.where), dtype=object)
        observed = ~is_missing(raw)
        labels = [
            str(_number_label(value)) if given and isinstance(value, float | np.floating) else str(value)
            for value, given in zip(raw, observed, strict=True)
        ]
        return np.array(labels, dtype=object), observed

    def transform(self, table: Table, column: str | None = None, **options) -> dict[str, np.ndarray]:
        parts = {}
        if self.spec.numeric:
            columns = []
            for name in self.spec.numeric:
                values = self._numeric_values(table, name)
                missing = ~np.isfinite(values)
                if name in self.spec.nullable:
                    parts[f"{name}_is_missing"] = missing.astype("int32")
                    values = np.where(missing, self.numeric_state[name]["fill"], values)
                else:
                    check_finite(values, self._column_where(name), table)
                columns.append(self._forward(name, values))
            parts["numeric"] = np.stack(columns, axis=1).astype("float32")
        for name in self.spec.categorical:
            parts[name] = self._ids(table, name)
        return {part: parts[part] for part in self.spec.part_names()}

    def _ids(self, table: Table, name: str) -> np.ndarray:
        labels = self._labels(table, name)
        lookup = {label: index for index, label in enumerate(self.vocabularies[name])}
        unknown = sorted({label for label in labels if label not in lookup})
        if unknown:
            raise DataError(
                f"{self._column_where(name)}: labels {unknown[:5]} are not in the vocabulary "
                f"{self.vocabularies[name]}.",
                hint="add them to output.vocabularies, or leave the vocabulary to be fitted.",
            )
        return np.array([lookup[label] for label in labels], dtype="int32")

    def distance_codes(self, table: Table) -> dict[str, np.ndarray]:
        """The record's columns as `fusegen.privacy` compares rows, each column weighing the same.

        ``numbers`` (rows, numeric columns): each number scaled by its
        training range, so the range spans 1 (a missing value takes the
        training median); ``missing`` (rows, nullable numeric columns): 1
        where the value is missing; ``categories`` (rows, categorical
        columns): vocabulary ids.
        """
        rows = len(table)
        numbers, missing = [], []
        for name in self.spec.numeric:
            state = self.numeric_state[name]
            values = self._numeric_values(table, name)
            absent = ~np.isfinite(values)
            values = np.where(absent, state["fill"], values)
            numbers.append((values - state["low"]) / ((state["high"] - state["low"]) or 1.0))
            if name in self.spec.nullable:
                missing.append(absent)
        return {
            "numbers": np.stack(numbers, axis=1).astype("float32")
            if numbers
            else np.zeros((rows, 0), "float32"),
            "missing": np.stack(missing, axis=1).astype("float32")
            if missing
            else np.zeros((rows, 0), "float32"),
            "categories": (
                np.stack([self._ids(table, name) for name in self.spec.categorical], axis=1)
                if self.spec.categorical
                else np.zeros((rows, 0), "int32")
            ),
        }

    def tf_inverse(self, parts) -> dict:
        """Model outputs -> one tensor per column, in TensorFlow: the conversion `inverse` runs too.

        Numeric columns come back as float64 in the data's units, within the
        training range and at the data's resolution (whole numbers for
        integer columns; datetime columns as seconds since 1970), NaN where a
        nullable column is missing; categorical columns as their labels, an
        empty string where a nullable column is missing. Categorical parts
        may be ids or logits (their most likely label).
        """
        import tensorflow as tf

        columns, drawn = {}, {}
        if self.spec.numeric:
            numeric = tf.cast(parts["numeric"], tf.float64)
            for index, name in enumerate(self.spec.numeric):
                values = drawn[name] = _tf_restore_numbers(numeric[:, index], self.numeric_state[name])
                if name in self.spec.nullable:
                    missing = tf.cast(_tf_ids(parts[f"{name}_is_missing"]), tf.bool)
                    values = tf.where(missing, tf.constant(np.nan, tf.float64), values)
                columns[name] = values
        ids_of = {}
        for name in self.spec.categorical:
            labels = [str(label) for label in self.vocabularies[name]]
            if name in self.spec.nullable:
                labels = ["" if label == MISSING else label for label in labels]
            ids = _tf_ids(parts[name])
            if name in self.spec.determined_by:
                # Looked up from the determining column's label: a plane's maker from its model.
                looked_up = tf.gather(
                    tf.constant(self.lookup_ids(name)), _tf_ids(parts[self.spec.determined_by[name]])
                )
                ids = tf.where(looked_up >= 0, looked_up, tf.cast(ids, tf.int64))
            ids_of[name] = ids
            columns[name] = tf.gather(tf.constant(labels, tf.string), ids)
        blank = self._tf_gaps_that_follow(ids_of)
        for name, empty in blank.items():
            missing = tf.constant(np.nan, tf.float64) if name in self.spec.numeric else tf.constant("")
            # A number missing in exactly its column's gaps is present wherever that column is.
            kept = drawn[name] if name in self.gaps_together else columns[name]
            columns[name] = tf.where(empty, missing, kept)
        for name, (first, second) in self.spec.differences.items():
            # The first column as its second plus the drawn difference, which sampling leaves out.
            added = columns[second] + columns.pop(name)
            if first in self.difference_maps:
                added = _tf_interpolate(added, *self.difference_maps[first])
            decimals = self.numeric_state[first].get("decimals")
            if decimals is not None:
                added = tf.round(added * 10.0**decimals) / 10.0**decimals
            columns[first] = tf.where(tf.math.is_nan(added), columns[first], added)
        return columns

    def _tf_gaps_that_follow(self, ids_of: dict) -> dict:
        """Per column of ``output.gaps_follow``, where it is missing beside the label its column drew: a
        species never weighed has no weight. A gap that follows a column's gap follows it also where
        that column was left missing by a rule of its own (C follows B's gap, and B is left missing
        beside a label of A), so the rules are applied along every chain."""
        import tensorflow as tf

        rules = self.spec.gaps_follow
        beside, after_gap = {}, {}
        for name, by in rules.items():
            gaps = set(self.gap_labels.get(name, []))
            known = tf.constant([str(label) in gaps for label in self.vocabularies[by]])
            beside[name] = tf.gather(known, ids_of[by])
            after_gap[name] = MISSING in gaps
        blank = dict(beside)
        for _ in range(min(len(rules), MAX_GAP_CHAIN)):
            blank = {
                name: beside[name] | blank[by] if after_gap[name] and by in blank else beside[name]
                for name, by in rules.items()
            }
        return blank

    def inverse(self, parts: dict[str, np.ndarray]):
        """Model outputs (numeric part; ids or logits per categorical part) -> a DataFrame."""
        import pandas as pd

        columns = self._inverse_graph(dict(parts))
        frame = {}
        for name in self.spec.data_numeric():  # the differences are added back in `tf_inverse`
            values = columns[name]
            missing = np.isnan(values) if name in self.spec.nullable else None
            frame[name] = _user_numbers(values, self.numeric_state[name], name in self.spec.datetime, missing)
        self.add_up(frame)
        for name in self.spec.categorical:
            labels = np.array([label.decode() for label in columns[name]], dtype=object)
            if name in self.spec.nullable:
                labels = np.where(labels == "", None, labels)
            if name in self.number_labels:
                labels = _as_numbers(labels, self.vocabularies[name], name in self.spec.nullable)
            elif name in self.boolean_labels:
                labels = _as_booleans(labels, name in self.spec.nullable)
            frame[name] = labels
        return pd.DataFrame(frame)[self.sample_order()]

    def add_up(self, frame, given=None) -> None:
        """Each total of ``output.sums`` in ``frame`` (a DataFrame or a dict of columns) as its parts' sum,
        at its own decimals. Where a part is missing, a total that may be missing (``nullable``) is
        missing too, as a sum of answers with one unanswered is, and any other keeps its cell; where
        ``given`` (a boolean mask per total) says the total was given, it keeps the given cell."""

        for total, parts in self.spec.sums.items():
            values = np.stack([frame_numbers(frame[part]) for part in parts])
            added = values.sum(axis=0)
            decimals = self.numeric_state[total].get("decimals")
            if decimals is not None:
                added = np.round(added, decimals)
            current = frame_numbers(frame[total])
            nullable = total in self.spec.nullable
            summed = np.where(np.isnan(added), np.nan if nullable else current, added)
            if given is not None and total in given:
                summed = np.where(np.asarray(given[total], bool), current, summed)
            missing = np.isnan(summed) if nullable else None
            frame[total] = _user_numbers(summed, self.numeric_state[total], False, missing)

    def restore_differences(self, frame, gaps: dict, given: dict) -> None:
        """After given cells replaced drawn ones in ``frame`` (a user's frame, without the differences),
        each difference's two columns apart by ``gaps[name]`` (the drawn gap, first - second as drawn)
        again: a given second column moves the first, a given first column moves the second, and
        where both are given both stay. ``given`` is a boolean mask per given column."""

        def at_resolution(column, values):
            decimals = self.numeric_state[column].get("decimals")
            return np.round(values, decimals) if decimals is not None else values

        for name, (first, second) in self.spec.differences.items():
            rows = len(gaps[name])
            given_first = np.asarray(given.get(first, np.zeros(rows, bool)), bool)
            given_second = np.asarray(given.get(second, np.zeros(rows, bool)), bool)
            values = {column: self.frame_numbers(frame, column) for column in (first, second)}
            moved = {
                first: np.where(given_first, np.nan, at_resolution(first, values[second] + gaps[name])),
                second: np.where(
                    given_first & ~given_second, at_resolution(second, values[first] - gaps[name]), np.nan
                ),
            }
            for column in (first, second):
                kept = np.where(np.isnan(moved[column]), values[column], moved[column])
                missing = np.isnan(kept) if column in self.spec.nullable else None
                is_datetime = column in self.spec.datetime
                frame[column] = _user_numbers(kept, self.numeric_state[column], is_datetime, missing)

    def fit_difference_maps(self, samples, table: Table) -> None:
        """Per difference, the map from its first column as sampled (the second plus the drawn gap, in
        ``samples``, drawn with no map) to the column's training quantiles in ``table``.

        The second column and the gap each get the training marginal (`objective.marginals`), but their
        sum only as nearly as the model pairs them: on survival's rhDNase the infusion's stop day, the
        start plus its length, had lost 0.016 of its shape. The map gives the sum the column's own
        marginal back, and moves each gap as little as that takes.

        No map is fitted where the training quantiles are too few to place the column more finely than
        its gap spreads (its interquartile range over the square root of its rows, about a quantile's
        standard error, above the gap's): an interview's end, an hour after its start in a year of
        interviews, would be moved by days of sampling noise.
        """

        self.difference_maps = {}
        self._inverse_graph = GraphCache(self.tf_inverse)
        levels = np.linspace(0.0, 1.0, DIFFERENCE_MAP_LEVELS)
        for name, (first, _) in self.spec.differences.items():
            drawn = self.frame_numbers(samples, first)
            drawn, data = drawn[np.isfinite(drawn)], self._numeric_values(table, first)
            data, gaps = data[np.isfinite(data)], self._numeric_values(table, name)
            gaps = gaps[np.isfinite(gaps)]
            if len(data) and _spread(data) / np.sqrt(len(data)) > _spread(gaps):
                continue
            if len(drawn) >= MIN_DIFFERENCE_MAP_ROWS and len(data) >= MIN_DIFFERENCE_MAP_ROWS:
                self.difference_maps[first] = [
                    np.quantile(drawn, levels).tolist(),
                    np.quantile(data, levels).tolist(),
                ]
        self._inverse_graph = GraphCache(self.tf_inverse)  # traced afresh, with the maps

    def frame_numbers(self, frame, column: str) -> np.ndarray:
        """``frame[column]`` (a user's or sampled frame) as the model's numbers (`frame_numbers`)."""
        return frame_numbers(frame[column], column in self.spec.datetime)

    def drawn_gaps(self, frame) -> dict[str, np.ndarray]:
        """Per difference, first - second in a user's ``frame`` as drawn (see `restore_differences`)."""
        return {
            name: self.frame_numbers(frame, first) - self.frame_numbers(frame, second)
            for name, (first, second) in self.spec.differences.items()
        }

    def sample_order(self) -> list[str]:
        """The record's columns in the order samples come back in: the training table's."""
        default = self.spec.data_columns()
        return self.column_order if sorted(self.column_order) == sorted(default) else default

    def vocabulary_sizes(self) -> dict[str, int]:
        sizes = {name: len(labels) for name, labels in self.vocabularies.items()}
        sizes.update({part: 2 for part in self.spec.missing_parts()})
        return sizes

    def get_state(self) -> dict:
        state = {"vocabularies": self.vocabularies, "numeric": self.numeric_state}
        # Written only where set, so a run without them reads as runs before each was added.
        optional = (
            "number_labels",
            "boolean_labels",
            "column_order",
            "missing_shares",
            "lookups",
            "label_counts",
            "gap_labels",
            "gaps_together",
            "unseen_pairs",
            "present_beside",
            "difference_maps",
        )
        state.update({key: getattr(self, key) for key in optional if getattr(self, key)})
        return state


#: Quantile levels of a difference's map (`RecordConverter.fit_difference_maps`), and the rows it needs.
DIFFERENCE_MAP_LEVELS = 201
MIN_DIFFERENCE_MAP_ROWS = 100


def _spread(values: np.ndarray) -> float:
    """The interquartile range: a spread that a few interviews lasting weeks do not set."""
    low, high = np.quantile(values, [0.25, 0.75]) if len(values) else (0.0, 0.0)
    return float(high - low)


def _tf_interpolate(values, sampled, data):
    """``values`` mapped piecewise-linearly from the quantiles ``sampled`` to ``data`` (both ascending),
    held at the ends; NaN stays NaN."""
    import tensorflow as tf

    knots = tf.constant(np.maximum.accumulate(np.asarray(sampled, "float64")), tf.float64)
    targets = tf.constant(np.asarray(data, "float64"), tf.float64)
    last = len(sampled) - 1
    clipped = tf.clip_by_value(values, knots[0], knots[-1])
    upper = tf.clip_by_value(tf.searchsorted(knots, clipped, side="right"), 1, last)
    low_x, high_x = tf.gather(knots, upper - 1), tf.gather(knots, upper)
    low_y, high_y = tf.gather(targets, upper - 1), tf.gather(targets, upper)
    weight = tf.math.divide_no_nan(clipped - low_x, high_x - low_x)
    mapped = low_y + weight * (high_y - low_y)
    return tf.where(tf.math.is_nan(values), values, mapped)


#: Rules of ``output.gaps_follow`` followed through at most this many links (a gap that follows a
#: gap that follows ...).
MAX_GAP_CHAIN = 4


def gap_labels(labels: np.ndarray, missing: np.ndarray) -> list[str]:
    """The labels beside which a column is missing in every row, each on enough rows to say so.

    Enough is `gap_label_min_rows`: a column missing in half the rows is missing on all three rows of
    one label by chance one time in eight, which over dozens of labels is often.

    >>> gap_labels(np.array(["AH"] * 6 + ["DM"] * 60 + ["RO"] * 2), np.array([True] * 6 + [False] * 60 + [True] * 2))
    ['AH']
    """
    labels = np.asarray(labels).astype(str)
    counts = Counter(labels.tolist())
    present = Counter(labels[~missing].tolist())
    least = gap_label_min_rows(float(np.mean(missing)) if len(missing) else 0.0)
    return sorted(label for label, count in counts.items() if count >= least and not present[label])


def gap_label_min_rows(missing_share: float) -> int:
    """The rows a label needs, all of them gaps, for a column's gaps to follow it: at least
    `GAP_LABEL_MIN_ROWS`, and enough that chance would leave them all missing less than once in a
    hundred labels (7 where half the rows are missing)."""
    if not 0.0 < missing_share < 1.0:
        return GAP_LABEL_MIN_ROWS
    return max(GAP_LABEL_MIN_ROWS, int(np.ceil(np.log(1e-2) / np.log(missing_share))))


def _number_label(value):
    """A float as its label: NaN stays missing, a whole number loses its '.0'."""
    if value is None or np.isnan(value):
        return None
    return int(value) if float(value).is_integer() else value


def _is_boolean(raw) -> bool:
    """Whether a column holds True / False and nothing else but gaps (pandas reads a CSV's logical
    column with gaps as objects)."""
    values = np.asarray(raw)
    if values.dtype.kind == "b":
        return True
    if values.dtype != object:
        return False
    present = [value for value in values if not _is_missing(value)]
    return bool(present) and all(isinstance(value, bool | np.bool_) for value in present)


def _as_booleans(labels: np.ndarray, nullable: bool):
    """Sampled labels 'True' / 'False' as booleans: bool, or pandas' nullable boolean where the
    column has gaps (the type is the column's, whatever a chunk drew)."""
    import pandas as pd

    values = pd.Series(labels, dtype=object).map({"True": True, "False": False})
    return values.astype("boolean") if nullable else values.astype(bool)


def _as_numbers(labels: np.ndarray, vocabulary: list, nullable: bool):
    """Sampled labels of a column of numbers, as numbers: whole ones as integers (missing as <NA>).

    The type follows the column, not the sample: its labels (``vocabulary``) all whole numbers make
    integers, and a nullable column is Int64 even in a chunk that happens to draw no gap, so that
    chunks of one sample join without changing type.
    """
    import pandas as pd

    numbers = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce")
    known = pd.to_numeric(pd.Series(vocabulary, dtype=object), errors="coerce").dropna()
    if len(known) and np.all(known == np.round(known)):
        return numbers.astype("Int64") if nullable or numbers.isna().any() else numbers.astype("int64")
    return numbers


def _tf_ids(values):
    """Ids, or the most likely id of logits (N, K)."""
    import tensorflow as tf

    values = tf.convert_to_tensor(values)
    if values.shape.rank == 2:
        return tf.argmax(values, axis=-1, output_type=tf.int32)
    return tf.cast(values, tf.int32)


#: As scikit-learn's `QuantileTransformer`: probabilities this close to 0 or 1 map to the extremes.
_BOUNDS_THRESHOLD = 1e-7


def _normal_scores(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Numbers -> standard normal scores by the training ``quantiles`` (evenly spaced levels 0 .. 1).

    A value between two quantiles takes the level interpolated between
    theirs; a value that fills several quantiles (a point mass: the 84% of
    hours with 10 miles' visibility, the 93% without rain) takes the middle
    of their levels, as scikit-learn's `QuantileTransformer` does inside the
    range. At the range's ends it differs: scikit-learn sends every value
    equal to the lowest or highest quantile to -5.2 or +5.2 standard
    deviations, so a column whose mass sits on its minimum or maximum (zero
    rain, a capped reading, hour 0 and 23, month 1 and 12) becomes a cluster
    of outliers that a squared error is dominated by, and samples pile up on
    the ends. Here the ends too take the middle of their levels, and the
    levels are squeezed by half a level at each end, so the lowest and
    highest values get finite scores (about 3.3 standard deviations for 1,000
    quantiles) and still come back exactly. `_tf_restore_numbers` inverts it.
    """
    from scipy.special import ndtri

    levels = np.linspace(0.0, 1.0, len(quantiles))
    # np.interp takes the highest level of a repeated quantile, and mirrored the lowest: their mean
    # is the middle of the point mass.
    level = 0.5 * (np.interp(values, quantiles, levels) - np.interp(-values, -quantiles[::-1], -levels[::-1]))
    half = _half_level(len(quantiles))
    return ndtri(half + np.clip(level, 0.0, 1.0) * (1.0 - 2.0 * half))


def tf_model_numbers(values, state: dict):
    """Numbers in the data's units (float64) -> model space, in TensorFlow: ``RecordConverter._forward``.

    For the SavedModel's given cells (`fusegen.export`). A value between two
    quantiles takes the level interpolated between theirs, and one equal to
    a run of quantiles the middle of their levels, as `_normal_scores` does.
    Returns None for runs fitted before 0.6.0, whose scikit-learn transform
    has no TensorFlow twin here.
    """
    import tensorflow as tf

    if "quantiles" not in state:
        return tf_divide(values - state["mean"], state["std"])
    if state.get("scores") != "midpoint":
        return None
    quantiles = np.asarray(state["quantiles"], dtype="float64")
    count = len(quantiles)
    sorted_quantiles = tf.constant(quantiles)[None, :]
    flat = tf.reshape(values, (1, -1))
    # Quantiles below the value, and at most the value: the run of those equal to it lies between.
    below = tf.cast(tf.searchsorted(sorted_quantiles, flat, side="left")[0], tf.int32)
    at_most = tf.cast(tf.searchsorted(sorted_quantiles, flat, side="right")[0], tf.int32)
    values = flat[0]
    left = tf.clip_by_value(below - 1, 0, count - 1)
    right = tf.clip_by_value(below, 0, count - 1)
    low, high = tf.gather(quantiles, left), tf.gather(quantiles, right)
    between = tf.cast(left, tf.float64) + tf_divide(values - low, tf.maximum(high - low, 1e-300))
    tied = 0.5 * tf.cast(below + at_most - 1, tf.float64)
    position = tf.where(at_most > below, tied, between)
    position = tf.where(at_most == 0, tf.zeros_like(position), position)  # below the lowest quantile
    position = tf.where(
        below == count, tf.fill(tf.shape(position), tf.constant(count - 1, tf.float64)), position
    )
    level = tf.clip_by_value(position / max(count - 1, 1), 0.0, 1.0)
    half = _half_level(count)
    return tf.math.ndtri(half + level * (1.0 - 2.0 * half))


def _half_level(count: int) -> float:
    """Half the step between ``count`` evenly spaced levels: levels 0 and 1 become this and 1 minus it,
    so that the lowest and highest values get finite scores and still come back exactly."""
    return 0.5 / max(count - 1, 1)


def _tf_restore_numbers(values, state: dict):
    """Model-space numbers (float64) -> the data's units, range and resolution, by the fitted ``state``."""
    import tensorflow as tf

    if "quantiles" in state:
        quantiles = tf.constant(np.asarray(state["quantiles"], "float64"))
        count = len(state["quantiles"])
        # Normal -> probability -> the training quantiles, interpolated as QuantileTransformer's inverse.
        probability = 0.5 * tf.math.erfc(tf_divide(-values, np.sqrt(2.0)))
        if state.get("scores") == "midpoint":
            # `_normal_scores` squeezed the levels by half a level at each end: undo that.
            half = _half_level(count)
            probability = tf.clip_by_value((probability - half) / max(1.0 - 2.0 * half, 1e-12), 0.0, 1.0)
        else:
            probability = tf.where(
                probability - _BOUNDS_THRESHOLD < 0.0, tf.zeros_like(probability), probability
            )
            probability = tf.where(
                probability + _BOUNDS_THRESHOLD > 1.0, tf.ones_like(probability), probability
            )
        position = probability * (count - 1)
        lower = tf.clip_by_value(tf.cast(tf.floor(position), tf.int32), 0, count - 1)
        upper = tf.minimum(lower + 1, count - 1)
        fraction = position - tf.cast(lower, tf.float64)
        restored = tf.gather(quantiles, lower) * (1.0 - fraction) + tf.gather(quantiles, upper) * fraction
    else:
        restored = values * state["std"] + state["mean"]
    restored = tf.clip_by_value(restored, state["low"], state["high"])
    if "times_of_day" in state:
        restored = tf.clip_by_value(_tf_on_times_of_day(restored, state), state["low"], state["high"])
    # Back to the data's own resolution: dates in days, baths in halves, prices in cents.
    if state.get("step"):
        restored = tf.round(tf_divide(restored, state["step"])) * state["step"]
        if state.get("decimals") is None:
            return restored
    if state["integer"]:
        return tf.round(restored)
    if state.get("decimals") is not None:
        factor = 10.0 ** state["decimals"]
        return tf_divide(tf.round(restored * factor), factor)
    return restored


def _is_missing(value) -> bool:
    """None, NaN, or text of nothing but spaces: what `fusegen.data.checks.is_missing` calls missing."""
    return (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


#: Date formats `detect_datetime_format` tries after ISO 8601, each also with a time of day.
DATETIME_FORMATS = (
    "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y",
    # Two-digit years (openintro's pm25 dates, 1/3/11): read as 1969-2068, as strptime does.
    "%d/%m/%y", "%m/%d/%y", "%d.%m.%y",
)  # fmt: skip
_TIMES_OF_DAY = ("", " %H:%M", " %H:%M:%S")
#: A time of day alone (a bird's release at 13:26): kept a time of day, where pandas' own reading
#: would date it today, and written back as one.
CLOCK_FORMATS = ("%H:%M", "%H:%M:%S")
#: ISO 8601 with a ``T`` (and a ``Z`` for UTC), kept as written: pandas' ISO writer drops both.
_ISO_WITH_T = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


#: A text column whose values are numbers (or dates) but for at most this share is numeric; the
#: rest are missing.
MAX_STRAY_TEXT_SHARE = 0.1
#: ... or for up to this many distinct strings in under half the rows: markers of a missing value,
#: however often they occur (medicaldata's opt writes '.' for a visit not made, in 23% of rows).
MAX_MISSING_MARKERS = 2


def few_strays(stray, labels) -> bool:
    """Whether the ``stray`` cells of ``labels`` (pandas Series) are few enough to be missing values
    beside numbers or dates: a typo or a marker, not a column of text."""
    return bool(
        stray.sum() <= MAX_STRAY_TEXT_SHARE * len(labels)
        or (labels[stray].nunique() <= MAX_MISSING_MARKERS and stray.sum() < 0.5 * len(labels))
    )


#: The fields a date's text may write without a leading zero: ``1/3/2011``, ``9:05``. `init`
#: writes such a field as glibc's ``%-m``; `format_datetimes` writes it on every platform, and
#: `parsing_format` reads it with strptime's own code (which takes one digit or two).
_UNPADDED_FIELDS = ("d", "m", "H", "I", "M", "S")


def parsing_format(date_format: str) -> str:
    """``date_format`` as strptime reads it: ``%-m`` (no leading zero) as ``%m``.

    >>> parsing_format("%-m/%-d/%Y")
    '%m/%d/%Y'
    """
    return date_format.replace("%-", "%")


def format_datetimes(times, date_format: str):
    """``times`` (a pandas datetime Series) as text in ``date_format``, whose ``%-d``-style fields are
    written without their leading zero on any platform (Python's own strftime has no such flag).

    >>> import pandas as pd
    >>> format_datetimes(pd.Series(pd.to_datetime(["2011-01-03 09:05", None])), "%-m/%-d/%y %-H:%M").tolist()
    ['1/3/11 9:05', nan]
    """
    if "%-" not in date_format:
        return times.dt.strftime(date_format)
    # Each unpadded field is written padded between two control characters (not NUL, which ends
    # strftime's C string), then its leading zeros dropped.
    marked = re.sub(r"%-([A-Za-z])", "\x02%\\1\x03", date_format)
    text = times.dt.strftime(marked)
    return text.str.replace(r"\x02(\d+)\x03", lambda found: str(int(found.group(1))), regex=True)


def _as_written(values, date_format: str) -> str:
    """``date_format`` with the fields that ``values`` write without a leading zero unpadded: the
    variant whose writing reproduces the most of ``values`` (the padded one where none does better)."""
    import itertools

    import pandas as pd

    fields = [field for field in _UNPADDED_FIELDS if f"%{field}" in date_format]
    if not fields:
        return date_format
    times = pd.to_datetime(values, format=date_format, errors="coerce")
    best, best_matches = date_format, int((format_datetimes(times, date_format) == values).sum())
    for count in range(1, len(fields) + 1):
        for unpadded in itertools.combinations(fields, count):
            candidate = date_format
            for field in unpadded:
                candidate = candidate.replace(f"%{field}", f"%-{field}")
            matches = int((format_datetimes(times, candidate) == values).sum())
            if matches > best_matches:
                best, best_matches = candidate, matches
    return best


def detect_datetime_format(values) -> list[str]:
    """Every format (``ISO8601``, ISO 8601 with a ``T``, `CLOCK_FORMATS`, or `DATETIME_FORMATS` with
    times) that parses all of ``values``.

    ``values`` are date strings without missing ones. The first format is
    the one to use; more than one means the dates are ambiguous (every day
    and month 12 or less parses both day-first and month-first). ``ISO8601``
    comes back only where no layout of `DATETIME_FORMATS` reads the dates:
    pandas' ISO 8601 parser also reads ``2020/01/02``, which is then written
    back in its own layout, not as ``2020-01-02``.

    >>> detect_datetime_format(["02/01/2020", "13/01/2020"])
    ['%d/%m/%Y']
    >>> detect_datetime_format(["2020/01/02 10:30:05"])
    ['%Y/%m/%d %H:%M:%S']
    >>> detect_datetime_format(["1963-08-24T14:30:00Z"])
    ['%Y-%m-%dT%H:%M:%SZ']
    >>> detect_datetime_format(["1/3/11", "12/31/11"]), detect_datetime_format(["13:26", "9:05"])
    (['%-m/%-d/%y'], ['%-H:%M'])
    """
    import pandas as pd

    values = pd.Series(values, dtype=object).astype(str)
    if values.empty or not values.str.contains(_DATE_LIKE, regex=True).all():
        return []
    candidates = _layouts()
    # A quick pass on a sample, then the survivors on every value.
    for sample in (values.head(1000), values):
        candidates = [
            candidate
            for candidate in candidates
            if pd.to_datetime(sample, format=candidate, errors="coerce").notna().all()
        ]
    layouts = [
        _as_written(values.head(1000), candidate) for candidate in candidates if candidate != "ISO8601"
    ]
    return layouts or candidates


def dates_among_strays(labels):
    """Where ``labels`` (strings, none missing) are dates but for a few strays (`few_strays`): the mask
    of the strays, as the layout that reads the most of them leaves them; None where they are not.

    >>> import pandas as pd
    >>> dates_among_strays(pd.Series(["3/1/2011", "unknown", "31/12/2011", "4/1/2011"] * 3)).tolist()[:4]
    [False, True, False, False]
    """
    import pandas as pd

    labels = pd.Series(labels, dtype=object).astype(str)
    if not few_strays(~labels.str.contains(_DATE_LIKE, regex=True), labels):
        return None
    best = None
    for candidate in _layouts():
        unread = pd.to_datetime(labels, format=candidate, errors="coerce").isna()
        if best is None or unread.sum() < best.sum():
            best = unread
    if not best.any() or best.all() or not few_strays(best, labels):
        return None
    return best.to_numpy()


#: Something like a date or a time of day: what every value of a datetime column holds.
_DATE_LIKE = r"\d{1,4}[-/:.]\d{1,2}"


def _layouts() -> list[str]:
    """Every format `detect_datetime_format` tries."""
    return ["ISO8601", *_ISO_WITH_T, *CLOCK_FORMATS] + [
        date + time for date in DATETIME_FORMATS for time in _TIMES_OF_DAY
    ]


def _datetimes_to_seconds(
    raw, where: str, table: Table, column: str, date_format: str | None, nullable: bool = False
) -> np.ndarray:
    """Dates or times as seconds since 1970, in ``date_format`` (ISO 8601 or pandas' guess when None).

    In a ``nullable`` column a few values that are not dates (`few_strays`: a typo, 'unknown') are
    missing values, as `init` says; more are an error, as a wrong format would make them.
    """
    import warnings

    import pandas as pd

    series = pd.Series(raw, dtype=object) if np.asarray(raw).dtype.kind != "M" else pd.Series(raw)
    present = ~is_missing(np.asarray(raw, dtype=object))
    tried = date_format or "ISO 8601"
    times = pd.to_datetime(series, format=parsing_format(date_format or "ISO8601"), errors="coerce")
    if date_format is None and (present & times.isna().to_numpy()).any():
        # Not ISO 8601: pandas infers a format from the first value, as it reads other tools' dates.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inferred = pd.to_datetime(series, errors="coerce")
        if inferred.notna().sum() > times.notna().sum():
            first = series[present].iloc[0]
            times, tried = inferred, pd.tseries.api.guess_datetime_format(str(first)) or "pandas' guess"
    seconds = _epoch_seconds(times)
    unread = present & np.isnan(seconds)
    if date_format is not None and unread.any():
        # ISO 8601 reads whatever the column's format: a condition or a row to impute dated 2017-06-01,
        # for a column written 2017-06-01T10:00:00Z, was refused with a hint to change a trained spec.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            iso = pd.to_datetime(series.where(unread), format="ISO8601", errors="coerce", utc=True)
        seconds = np.where(unread, _epoch_seconds(iso), seconds)
        unread = present & np.isnan(seconds)
    if (
        nullable
        and unread.any()
        and few_strays(pd.Series(unread[present]), series[present].reset_index(drop=True))
    ):
        unread[:] = False
    bad = np.flatnonzero(unread)
    if bad.size:
        found = detect_datetime_format(series[present])
        fix = f"'{found[0]}'" if found else "the column's format, e.g. '%d/%m/%Y'"
        raise DataError(
            f"{where}: expected dates "
            + (
                "in ISO 8601"
                if tried in ("ISO 8601", "ISO8601")
                else f"in the format '{tried}' or in ISO 8601"
            )
            + ", received "
            f"{str(raw[bad[0]])!r} in {row_text(table, int(bad[0]))} ({bad.size} value(s) do not parse).",
            hint="write them in ISO 8601 (2017-06-01 or 2017-06-01T10:00:00); if this is the training "
            f"data, set output.datetime_formats: {{{column}: {fix}}} in the spec (strftime codes).",
        )
    return np.where(unread, np.nan, seconds)


def _epoch_seconds(times) -> np.ndarray:
    """Seconds since 1970 (UTC for times in a zone, as written for the others); NaN for NaT."""
    missing = times.isna().to_numpy()
    return np.where(missing, np.nan, times.astype("int64").to_numpy().astype("float64") / 1e9)


def frame_numbers(values, is_datetime: bool = False) -> np.ndarray:
    """A numeric column of a sampled or user's frame as float64, in the units the model reads it in:
    seconds since 1970 for a datetime column (UTC for times in a zone), anything that is no number
    (or no time) as NaN."""
    import pandas as pd

    if is_datetime:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' note on inferring a format, for text times
            times = pd.to_datetime(pd.Series(values), errors="coerce", utc=True, format="mixed")
        return _epoch_seconds(times)
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy("float64")


def _user_numbers(values, state, is_datetime, missing):
    import pandas as pd

    # A missing value is NaN here; a whole number stands in for it until it becomes NaT or NA.
    whole = np.where(missing, 0.0, values) if missing is not None else values
    if is_datetime:
        times = pd.to_datetime(np.round(whole * 1e9).astype("int64"))
        return times.where(~missing, pd.NaT) if missing is not None else times
    if state["integer"]:
        series = pd.Series(whole.astype("int64"))
        return series.astype("Int64").where(~missing, pd.NA) if missing is not None else series
    return values


#: Most decimals a column's resolution is read at (R writes up to 15 significant digits; a column
#: of ages to 7 decimals came back at 17 when this was 6); finer values are left unrounded.
MAX_DECIMALS = 10


#: A grid (`_grid_step`) is looked for among numbers of at most this many decimals.
MAX_GRID_DECIMALS = 6


#: The largest share of a column's values that may be set aside as a source's artefacts (`_decimals`).
MAX_FLOAT_TAIL_SHARE = 0.05
#: ... and the fewest distinct values the rest must hold for their decimals to be the column's: one
#: reading of 1.8046875 among nineteen zeros is a reading, not a tail on a grid of whole numbers.
MIN_GRID_VALUES = 3


def _decimals(values: np.ndarray) -> int | None:
    """The fewest decimals (0 to `MAX_DECIMALS`) that hold every value exactly, or None.

    A binary float's tail (0.07175999999999999 for 0.07176) is within the tolerance. A few values
    past them, mostly long float tails, are a source's artefacts and set aside: openintro's loans
    write paid totals in cents but 4.3% otherwise, most past 6 decimals (5202.6426724643, and a
    few as 12006.525), and their samples had come back at 9 decimals. At most
    `MAX_FLOAT_TAIL_SHARE` of the values are set aside, and only where over half of them need more
    than `MAX_GRID_DECIMALS`: a column of legitimately few decimals beside a point mass (rain on 3%
    of days) keeps them.

    >>> _decimals(np.array([42.87748, 16.59138, 1.5])), _decimals(np.array([0.1234567, 0.1]))
    (5, 7)
    >>> _decimals(np.array([0.06664, 0.07175999999999999]))
    5
    >>> _decimals(np.array([12.25, 40.5, 7.75] * 32 + [5202.6426724643] * 3 + [12006.525]))
    2
    >>> _decimals(np.array([0.0] * 97 + [1.25] * 3)), _decimals(np.array([0.0] * 19 + [1.8046875]))
    (2, 7)
    """
    values = np.asarray(values, dtype="float64")
    long = ~np.isclose(values, np.round(values, MAX_GRID_DECIMALS), rtol=1e-12, atol=0)
    for decimals in range(0, MAX_DECIMALS + 1):
        inexact = ~np.isclose(values, np.round(values, decimals), rtol=1e-12, atol=0)
        if not inexact.any():
            return decimals
        if (
            inexact.mean() <= MAX_FLOAT_TAIL_SHARE
            and long[inexact].mean() > 0.5
            and len(np.unique(values[~inexact])) >= MIN_GRID_VALUES
        ):
            return decimals
    return None


def _grid_step(values: np.ndarray) -> float | None:
    """The spacing of a number's grid coarser than its decimals (0.5 for baths of 1, 1.5, 2, ...; 5 for
    ages in five-year bands), or None: the largest step every value is a whole multiple of."""
    decimals = _decimals(values)
    if decimals is None or decimals > MAX_GRID_DECIMALS:
        # A step in the billionths (titanic's ages of 0.91670001 beside 0.9167) is a stored float's
        # tail, not a grid: rounding to it wrote sampled ages of 19 as 19.000001.
        return None
    scaled = np.unique(np.round(values * 10.0**decimals))
    if len(scaled) < 3 or np.abs(scaled).max() > 2**52:
        return None
    step = int(np.gcd.reduce(scaled.astype("int64")))
    return step / 10.0**decimals if step > 1 else None


#: A datetime column with at most this many distinct times of day (kick-offs at 13:30, 14:30 and
#: 19:30; shifts; opening hours) gives every generated moment one of them.
MAX_TIMES_OF_DAY = 48
_DAY = 86400.0


def _times_of_day(seconds: np.ndarray, state: dict) -> dict:
    """A datetime column's few times of day, their shares, and how a generated moment takes one.

    The moments are generated as one number, whose fitted quantiles over
    years are days apart: within a day they place a moment anywhere, so a
    football match would kick off at 00:11. Where the quantiles are hours
    apart or closer they do place it near a real time, and the nearest one
    is taken (``nearest``); where farther apart, the time within the day is
    drawn at random, and is read as a share of the day, taking each time of
    day at its share of the rows (``share``).
    """
    times, counts = np.unique(np.mod(seconds, _DAY), return_counts=True)
    if not 1 < len(times) <= MAX_TIMES_OF_DAY:
        return {}
    quantiles = state.get("quantiles")
    spacing = (state["high"] - state["low"]) / max(len(quantiles) - 1, 1) if quantiles else state["std"]
    return {
        "times_of_day": times.tolist(),
        "time_of_day_shares": np.cumsum(counts / counts.sum()).tolist(),
        "times_of_day_by": "share" if spacing > _DAY / 4 else "nearest",
    }


def on_times_of_day(seconds: np.ndarray, state: dict) -> np.ndarray:
    """``seconds`` (since 1970) at the column's own times of day, as `_times_of_day` says; unchanged
    for a column without them."""
    if "times_of_day" not in state:
        return seconds
    seconds = np.asarray(seconds, "float64")
    times = np.asarray(state["times_of_day"])
    day = np.floor(seconds / _DAY) * _DAY
    within = seconds - day
    if state["times_of_day_by"] == "share":
        shares = np.asarray(state["time_of_day_shares"])
        index = np.minimum(np.searchsorted(shares, within / _DAY, side="right"), len(times) - 1)
        return day + times[index]
    # The nearest on the clock, which may be just past midnight.
    around = np.concatenate([times - _DAY, times, times + _DAY])
    nearest = np.argmin(np.abs(within[..., None] - around), axis=-1)
    return day + around[nearest]


def _tf_on_times_of_day(seconds, state: dict):
    """`on_times_of_day` in TensorFlow (float64 seconds)."""
    import tensorflow as tf

    times = np.asarray(state["times_of_day"], "float64")
    day = tf.floor(seconds / _DAY) * _DAY
    within = seconds - day
    if state["times_of_day_by"] == "share":
        shares = tf.constant(np.asarray(state["time_of_day_shares"], "float64"))
        index = tf.searchsorted(shares, tf.reshape(within / _DAY, [-1]), side="right")
        index = tf.reshape(tf.minimum(index, len(times) - 1), tf.shape(seconds))
        return day + tf.gather(tf.constant(times), index)
    around = tf.constant(np.concatenate([times - _DAY, times, times + _DAY]))
    nearest = tf.argmin(tf.abs(within[..., None] - around), axis=-1)
    return day + tf.gather(around, nearest)


def _time_step(seconds: np.ndarray) -> float | None:
    """The coarsest of day, hour, minute and second that every timestamp is a whole multiple of."""
    for step in (86400.0, 3600.0, 60.0, 1.0):
        if np.all(np.mod(seconds, step) == 0):
            return step
    return None
