"""Cutting a long table of sensor readings (one row per time step) into windows.

With ``data.windows`` in the spec, each sequence input or output reads its
``columns`` as the channels of a window; every other column takes the value
of the window's first row. Windows never span two groups (recordings).

Example:

>>> import numpy as np
>>> from fusegen.data.sources import Table
>>> from fusegen.spec import load_spec
>>> spec = load_spec({
...     "data": {"source": "long.csv", "windows": {"length": 3, "stride": 2, "group_column": "run"}},
...     "inputs": {"motion": {"kind": "sequence", "steps": 3, "channels": 1, "columns": ["x"]}},
...     "output": {"kind": "vector", "size": 1, "column": "y"},
... })
>>> long = Table({"run": np.array(["a"] * 5 + ["b"] * 4, dtype=object),
...               "x": np.arange(9.0), "y": np.arange(9.0)}, "long.csv")
>>> windows = window_table(long, spec)
>>> windows.columns["x"].tolist()
[[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [5.0, 6.0, 7.0]]
>>> windows.columns["y"].tolist()
[0.0, 2.0, 5.0]
"""

from __future__ import annotations

import warnings

import numpy as np

from fusegen.data.checks import as_float, is_missing
from fusegen.data.sources import Table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec


def sequence_columns(spec: GeneratorSpec) -> dict[str, str]:
    """Column -> the sequence input or output that reads it as a channel."""
    parts = [(f"Input '{name}' (sequence)", part) for name, part in spec.inputs.items()]
    parts.append((f"Output '{spec.output.name}' (sequence)", spec.output))
    columns = {}
    for label, part in parts:
        if part.kind == "sequence" and part.columns:
            for column in part.columns:
                columns.setdefault(column, label)
    return columns


def window_table(table: Table, spec: GeneratorSpec) -> Table:
    """The windows of a long table, as the spec's ``data.windows`` asks; other tables unchanged."""
    windows = spec.data.windows if spec.data else None
    if windows is None or table.windowed:
        return table
    length = windows.length
    table, groups = _ordered(table, windows)
    starts = _window_starts(table, groups, windows)
    columns = {}
    channels = sequence_columns(spec)
    for name, values in table.columns.items():
        if name in channels:
            where = f"{channels[name]}, column '{name}'"
            if values.ndim != 1:
                raise DataError(
                    f"{where}: expected one reading per row of the long table, "
                    f"received an array of shape {list(values.shape)}."
                )
            readings = as_float(values, where, table, allow_missing=True)
            columns[name] = readings[starts[:, None] + np.arange(length)]
        else:
            columns[name] = values[starts]
    return Table(
        columns,
        origin=f"windows of {length} rows of {table.origin}",
        files=table.files,
        row_files=table.row_files[starts],
        row_ids=table.row_ids[starts],
        row_noun="window starting at row",
        windowed=True,
    )


def _ordered(table: Table, windows) -> tuple[Table, np.ndarray]:
    """The rows ordered by group, then time (or file order), and each row's group number."""
    groups = np.zeros(len(table), dtype=np.int64)
    if windows.group_column:
        values = table.column(windows.group_column, "data.windows.group_column")
        _no_missing(values, "data.windows.group_column", windows.group_column, table)
        # Groups keep the order they first appear in, so windows follow the file.
        _, first, groups = np.unique(values.astype(str), return_index=True, return_inverse=True)
        groups = np.argsort(np.argsort(first))[groups]
    if windows.time_column:
        times = table.column(windows.time_column, "data.windows.time_column")
        _no_missing(times, "data.windows.time_column", windows.time_column, table)
        times = as_float(times, f"data.windows.time_column '{windows.time_column}'", table)
        order = np.lexsort((times, groups))
    else:
        order = np.argsort(groups, kind="stable")
    return table.take(order), groups[order]


def _window_starts(table: Table, groups: np.ndarray, windows) -> np.ndarray:
    """Row positions where each window starts; a window covers ``length`` rows of one group."""
    length, stride = windows.length, windows.stride or windows.length
    boundaries = np.flatnonzero(np.diff(groups)) + 1
    segments = np.split(np.arange(len(table)), boundaries)
    starts, short = [], []
    for segment in segments:
        if len(segment) < length:
            short.append(segment[0])
            continue
        starts.append(segment[0] + np.arange(0, len(segment) - length + 1, stride))
    if not starts:
        raise DataError(
            f"{table.origin}: no group has {length} rows, so data.windows cuts no window "
            f"(the longest has {max(len(segment) for segment in segments)}).",
            hint="lower data.windows.length, or check data.windows.group_column.",
        )
    if short:
        names = (
            [str(table.columns[windows.group_column][position]) for position in short[:5]]
            if windows.group_column
            else []
        )
        # Not an error: recordings shorter than a window are common; but say so.
        warnings.warn(
            f"{table.origin}: {len(short)} group(s) have fewer than {length} rows and make no window"
            + (f": {names}" if names else "")
            + ".",
            stacklevel=3,
        )
    return np.concatenate(starts)


def _no_missing(values, key: str, column: str, table: Table) -> None:
    missing = np.flatnonzero(is_missing(values))
    if len(missing):
        raise DataError(
            f"{key} '{column}': {len(missing)} row(s) have no value, {table.rows_label(missing)}.",
            hint="every row of a long table needs its group and time.",
        )
