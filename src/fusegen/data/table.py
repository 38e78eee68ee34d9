"""`Table`: named columns of equal length, the unit every data source produces.

It lives apart from the readers in `fusegen.data.sources` (which re-exports
it), so that `fusegen.data.adapters` can build tables without importing the
module that imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fusegen.data.memory import take_rows
from fusegen.errors import DataError

_PLURALS = {"row": "rows", "window starting at row": "windows starting at rows"}


class Table:
    """Named columns with one row count; the unit every source produces.

    Besides the columns, a table remembers where each row came from, so an
    error can name the file and the row of the user's own data even after the
    rows were split or shuffled.

    Args:
        columns: column name -> array with the rows on the first axis.
        origin: where the data came from, for error messages.
        files: the data files the rows were read from, if any.
        row_files: index into ``files`` for each row; all 0 when omitted.
        row_ids: each row's number in its file (0-based, not counting the
            header); ``0..N-1`` when omitted.
        row_noun: what a row is called in messages, e.g. ``window starting at row``.
        windowed: whether the rows are windows cut from a long table already.
    """

    def __init__(
        self,
        columns: dict[str, Any],
        origin: str,
        files: list[Path] | None = None,
        row_files: np.ndarray | None = None,
        row_ids: np.ndarray | None = None,
        row_noun: str = "row",
        windowed: bool = False,
        confined_to: Path | None = None,
    ):
        self.origin = origin
        #: With data.confine_paths: the folder every file path in the data must stay inside.
        self.confined_to = confined_to
        self.columns = {str(name): _as_column(str(name), values, origin) for name, values in columns.items()}
        if not self.columns:
            raise DataError(f"{origin}: the data has no columns.")
        lengths = {name: len(values) for name, values in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(
                f"{origin}: columns have different row counts, received {lengths}.",
                hint="every column or array field needs one entry per example.",
            )
        self.num_rows = next(iter(lengths.values()))
        if self.num_rows == 0:
            raise DataError(
                f"{origin}: the data has no rows (a header alone, or nothing).",
                hint="give a file with rows under its header (for a spec's data: check data.source, its glob "
                "or data.max_rows).",
            )
        self.files = list(files or [])
        self.row_files = np.zeros(self.num_rows, "int32") if row_files is None else np.asarray(row_files)
        self.row_ids = np.arange(self.num_rows) if row_ids is None else np.asarray(row_ids)
        self.row_noun = row_noun
        self.windowed = windowed

    def __len__(self) -> int:
        return self.num_rows

    def column(self, name: str, used_by: str) -> np.ndarray:
        """Column ``name``, or a `DataError` naming who wanted it and what exists."""
        if name not in self.columns:
            available = ", ".join(sorted(self.columns))
            raise DataError(
                f"{used_by}: column '{name}' is not in {self.origin}; available columns: {available}.",
                hint=_missing_column_hint(name, used_by, self.origin),
            )
        return self.columns[name]

    def take(self, rows: np.ndarray) -> Table:
        """The rows at ``rows`` (positions), in that order."""
        rows = np.asarray(rows)
        if len(rows) == self.num_rows and np.array_equal(rows, np.arange(self.num_rows)):
            # Every row in order (no validation split): the columns as they are, not a copy of
            # each, which for decoded images is as large as the data set.
            return self
        return self._derived({name: take_rows(values, rows) for name, values in self.columns.items()}, rows)

    def with_columns(self, columns: dict[str, Any]) -> Table:
        """The same rows with some columns replaced, e.g. image paths by their decoded pixels."""
        return self._derived({**self.columns, **columns})

    def without_columns(self, names) -> Table:
        """The same rows without the columns ``names``."""
        dropped = set(names)
        return self._derived({name: values for name, values in self.columns.items() if name not in dropped})

    def _derived(self, columns: dict[str, Any], rows: Any = slice(None)) -> Table:
        """A table of ``columns`` from this one's ``rows``: same origin, files and row labels."""
        kept = {key: getattr(self, key) for key in ("files", "row_noun", "windowed", "confined_to")}
        return Table(columns, self.origin, row_files=self.row_files[rows], row_ids=self.row_ids[rows], **kept)

    # ------------------------------------------------------------------
    # Where rows came from, for error messages and relative image paths
    # ------------------------------------------------------------------

    def row_label(self, position: int) -> str:
        """``row 7 of 'data.csv'``: the row at ``position`` as the user numbers it."""
        where = self._file_label(int(self.row_files[position]))
        return f"{self.row_noun} {int(self.row_ids[position])}{where}"

    def rows_label(self, positions, limit: int = 5) -> str:
        """``first rows [2, 5] of 'data.csv'``: up to ``limit`` rows, grouped by file."""
        positions = np.asarray(positions)[:limit]
        by_file: dict[int, list[int]] = {}
        for position in positions:
            by_file.setdefault(int(self.row_files[position]), []).append(int(self.row_ids[position]))
        parts = [f"{ids}{self._file_label(index)}" for index, ids in by_file.items()]
        return f"first {_PLURALS.get(self.row_noun, self.row_noun)} " + ", ".join(parts)

    def folder_of(self, position: int) -> Path | None:
        """The folder relative paths in row ``position`` resolve against: its file's folder."""
        if not self.files:
            return None
        path = self.files[int(self.row_files[position])]
        return path if path.is_dir() else path.parent

    def _file_label(self, index: int) -> str:
        if not self.files:
            return ""
        return f" of '{self.files[index]}'"


def _as_column(name: str, values: Any, origin: str) -> np.ndarray:
    """One column as an array; ragged entries (windows of unequal length) are a `DataError`."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values
    if not isinstance(values, np.ndarray):
        values = list(values)
        if values and isinstance(values[0], (bytes, bytearray)):
            # np.asarray would make fixed-width bytes, which drop trailing zero bytes.
            column = np.empty(len(values), dtype=object)
            column[:] = values
            return column
        try:
            array = np.asarray(values)
        except ValueError:
            _raise_ragged(name, values, origin)
        if array.dtype != object:
            return array
        values = array
    first = next((entry for entry in values if entry is not None), None)
    if isinstance(first, (np.ndarray, list, tuple)):
        # A column of arrays (a DataFrame or Parquet list column): stack it if the shapes agree.
        try:
            return np.stack([np.asarray(entry) for entry in values])
        except (ValueError, TypeError):
            _raise_ragged(name, values, origin)
    return values


def _raise_ragged(name: str, values, origin: str):
    shapes = [np.shape(entry) if entry is not None else None for entry in values]
    first = shapes[0]
    other = next(row for row, shape in enumerate(shapes) if shape != first)
    raise DataError(
        f"{origin}: column '{name}' has entries of different shapes: row 0 has shape "
        f"{list(first) if first is not None else None}, row {other} has shape "
        f"{list(shapes[other]) if shapes[other] is not None else None}.",
        hint="pad or cut every sequence to one length, or give a long table with data.windows.",
    ) from None


def _missing_column_hint(name: str, used_by: str, origin: str) -> str:
    """What to fix when ``used_by`` finds no column ``name``: a window's time or group column is
    added to the data (conditions need it as training had it); an input's column is renamed."""
    if used_by.startswith("data.windows."):
        return (
            f"add the column '{name}' to {origin}, as the training data had it (for a spec not trained yet, "
            f"{used_by} may name one of those instead)."
        )
    if used_by.lower().startswith("output"):
        # Real rows to score (evaluate --real) or train on: the table, not the spec, is usually what is wrong.
        return (
            f"give a table with the output's columns, as the training data had them; if {origin} is the "
            "training data, rename the column in the spec's output to one of those."
        )
    return "set the input's 'column' (or 'columns') to one of those, or add the column to the data."
