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


def window_table(table: Table, spec: GeneratorSpec, training: bool = False) -> Table:
    """The windows of a long table, as the spec's ``data.windows`` asks; other tables unchanged.

    With ``training``, windows start every ``training_stride`` rows (where set) rather than every
    ``stride``: the windows a model learns and validates on, not those it forecasts.
    """
    windows = spec.data.windows if spec.data else None
    if windows is None or table.windowed:
        return table
    length = windows.length
    stride = (training and windows.training_stride) or windows.stride or length
    table, groups = _ordered(table, windows)
    starts = _window_starts(table, groups, windows, stride)
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
        order = np.lexsort((_sortable_times(times, windows.time_column, table), groups))
    else:
        order = np.argsort(groups, kind="stable")
    return table.take(order), groups[order]


def _sortable_times(times: np.ndarray, column: str, table: Table) -> np.ndarray:
    """Times as numbers to sort by: numbers as they are; dates, datetimes (``2014-01-01 00:30``) and
    period labels (``1998 Q1``, ``1991 W06``, ``1987 Jan``) parsed as `fusegen.data.times` reads them."""
    if times.dtype.kind in "iufM":
        return times
    import pandas as pd

    from fusegen.data.times import parse_times

    numbers = pd.to_numeric(pd.Series(times), errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy()
    parsed = parse_times(times)
    if parsed.notna().all():
        return parsed.to_numpy()
    first = int(np.flatnonzero(parsed.isna() & numbers.isna())[0])
    raise DataError(
        f"data.windows.time_column '{column}': expected numbers or dates, received {times[first]!r} in "
        f"{table.row_label(first)}.",
        hint="write every time as a number, an ISO 8601 date (2014-01-01 00:30) or a period (1998 Q1, "
        "1991 W06, 1987 Jan), or leave time_column "
        "out to keep the file's order.",
    )


def _window_starts(table: Table, groups: np.ndarray, windows, stride: int) -> np.ndarray:
    """Row positions where each window starts, ``stride`` apart; a window covers ``length`` rows of one group."""
    length = windows.length
    boundaries = np.flatnonzero(np.diff(groups)) + 1
    segments = np.split(np.arange(len(table)), boundaries)
    starts = [
        segment[0] + np.arange(0, len(segment) - length + 1, stride)
        for segment in segments
        if len(segment) >= length
    ]
    short = [segment for segment in segments if len(segment) < length]
    if not starts:
        longest = max(segments, key=len)
        raise DataError(
            f"{table.origin}: data.windows.length {length} is longer than every group's series, so no "
            f"window can be cut: the longest, {_group_text(table, windows, longest)}, has {len(longest)} rows.",
            hint=f"set data.windows.length to at most {len(longest)} (and the steps of the sequence inputs "
            "and outputs with it), or check data.windows.group_column.",
        )
    if short:
        listed = ", ".join(
            f"{_group_name(table, windows, segment)} ({len(segment)} rows)" for segment in short[:5]
        )
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        # Not an error: recordings shorter than a window are common; but say which.
        warnings.warn(
            f"{table.origin}: {len(short)} group(s) have fewer rows than data.windows.length ({length}) "
            f"and make no window: {listed}{more}.",
            stacklevel=3,
        )
    return np.concatenate(starts)


def _group_name(table: Table, windows, segment: np.ndarray) -> str:
    if not windows.group_column:
        return "the table"
    return repr(str(table.columns[windows.group_column][segment[0]]))


def _group_text(table: Table, windows, segment: np.ndarray) -> str:
    if not windows.group_column:
        return "the whole table (one group: no data.windows.group_column)"
    return (
        f"group {_group_name(table, windows, segment)} of data.windows.group_column '{windows.group_column}'"
    )


def _no_missing(values, key: str, column: str, table: Table) -> None:
    missing = np.flatnonzero(is_missing(values))
    if len(missing):
        raise DataError(
            f"{key} '{column}': {len(missing)} row(s) have no value, {table.rows_label(missing)}.",
            hint="every row of a long table needs its group and time.",
        )
