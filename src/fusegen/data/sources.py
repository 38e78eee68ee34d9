"""Reading training data into a `Table`: named columns of equal length.

A table column is a NumPy array whose first axis is the row: a numeric or
string column of a CSV, or an array field of an NPZ file or bundled dataset
(images (N, H, W, C), sensor windows (N, T, C)).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fusegen.errors import DataError
from fusegen.spec import DataSpec


class Table:
    """Named columns with one row count; the unit every source produces.

    Args:
        columns: column name -> array with the rows on the first axis.
        origin: where the data came from, for error messages.
    """

    def __init__(self, columns: dict[str, np.ndarray], origin: str):
        self.origin = origin
        self.columns = {name: np.asarray(values) for name, values in columns.items()}
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
            raise DataError(f"{origin}: the data has no rows.")

    def __len__(self) -> int:
        return self.num_rows

    def column(self, name: str, used_by: str) -> np.ndarray:
        """Column ``name``, or a `DataError` naming who wanted it and what exists."""
        if name not in self.columns:
            available = ", ".join(sorted(self.columns))
            raise DataError(
                f"{used_by}: column '{name}' is not in {self.origin}; available columns: {available}.",
                hint="set the input's 'column' (or 'columns') to one of those.",
            )
        return self.columns[name]

    def take(self, rows: np.ndarray) -> Table:
        return Table({name: values[rows] for name, values in self.columns.items()}, self.origin)


#: Bundled datasets by name; each loader takes the spec's ``data.options``.
BUNDLED: dict[str, Callable[..., Any]] = {}


def register_bundled(name: str):
    def register(loader):
        BUNDLED[name] = loader
        return loader

    return register


@register_bundled("penguins")
def _penguins(**options):
    from fusegen.data.bundled.penguins import load_penguins

    return load_penguins(**options)


@register_bundled("basic_motions")
def _basic_motions(**options):
    from fusegen.data.bundled.basic_motions import load_basic_motions

    return load_basic_motions(**options)


@register_bundled("emoji_edits")
def _emoji_edits(**options):
    from fusegen.data.bundled.emoji_edits import load_emoji_edits

    return load_emoji_edits(**options)


def load_table(data: DataSpec, base_dir: str | Path | None = None) -> Table:
    """Read the data a spec names. Relative paths resolve against ``base_dir``."""
    source = data.source
    if source.startswith("bundled:"):
        return _load_bundled(source.removeprefix("bundled:"), data.options)
    if data.options:
        raise DataError(
            f"data.options are for bundled datasets, received {sorted(data.options)} with source '{source}'."
        )
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return read_file(path)


def read_file(path: str | Path) -> Table:
    """Read a CSV, Parquet or NPZ file into a table."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pandas as pd

            return table_from_frame(pd.read_csv(path), origin=str(path))
        if suffix in (".parquet", ".pq"):
            import pandas as pd

            return table_from_frame(pd.read_parquet(path), origin=str(path))
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                return Table({name: arrays[name] for name in arrays.files}, origin=str(path))
    except DataError:
        raise
    except Exception as error:  # pandas and NumPy raise many types for a bad file
        raise DataError(f"cannot read data file '{path}': {error}") from None
    raise DataError(
        f"data file '{path}' has an unsupported extension '{suffix}'; expected .csv, .parquet or .npz."
    )


def table_from_frame(frame, origin: str = "the DataFrame") -> Table:
    """A pandas DataFrame as a table; string columns become object arrays."""
    if frame.shape[1] == 0:
        raise DataError(f"{origin}: the data has no columns.")
    columns = {}
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "biuf":
            columns[str(name)] = series.to_numpy()
        else:
            columns[str(name)] = series.astype(object).where(series.notna(), None).to_numpy()
    return Table(columns, origin=origin)


def _load_bundled(name: str, options: dict) -> Table:
    if name not in BUNDLED:
        raise DataError(f"unknown bundled dataset '{name}'; available: {', '.join(sorted(BUNDLED))}.")
    try:
        data = BUNDLED[name](**options)
    except TypeError as error:
        raise DataError(f"bundled dataset '{name}': bad data.options ({error}).") from None
    origin = f"bundled dataset '{name}'"
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return table_from_frame(data, origin=origin)
    return Table(data, origin=origin)
