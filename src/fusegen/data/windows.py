"""Cutting a long table of sensor readings (one row per time step) into windows.

With ``data.windows`` in the spec, each sequence input or output reads its
``columns`` as the channels of a window; every other column takes the value
of the window's first row. Windows never span two groups (recordings), and
each group's are counted back from its last row, so the newest rows are used.

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
[[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [6.0, 7.0, 8.0]]
>>> windows.columns["y"].tolist()
[0.0, 2.0, 6.0]
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from fusegen.data.checks import as_float, is_missing
from fusegen.data.sources import Table
from fusegen.errors import DataError, FusegenWarning
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


def window_table(
    table: Table, spec: GeneratorSpec, training: bool = False, sampling: bool = False, for_run: bool = False
) -> Table:
    """The windows of a long table, as the spec's ``data.windows`` asks; other tables unchanged.

    Each series' windows are counted back from its last row, so the last window ends on the last
    row: training learns from the newest rows, and sampling forecasts the newest horizon at the
    phase training learned (a stride of 7 days ends each forecast on the weekday the table ends on).
    With ``training``, windows start every ``training_stride`` rows (where set) rather than every
    ``stride``: the windows a model learns and validates on, not those it forecasts. ``sampling``
    says the table holds a trained run's conditions (for the error a too-short series gets);
    ``for_run``, that it is other rows a trained run reads (evaluate's --real or --holdout), whose
    spec can no longer change either.
    """
    windows = spec.data.windows if spec.data else None
    if windows is None or table.windowed:
        return table
    length = windows.length
    stride = (training and windows.training_stride) or windows.stride or length
    table, groups = _ordered(table, windows)
    starts = _window_starts(table, groups, windows, stride, sampling or for_run)
    if sampling:
        _warn_of_late_forecast_rows(table, groups, spec)
        _warn_of_jumps_in_windows(table, groups, starts, windows)
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


@dataclasses.dataclass
class WindowSteps:
    """Where each window that `window_table` cuts for sampling lies in the long table.

    Attributes:
        groups: each window's ``group_column`` value (None without a group column).
        group_label: the group column's name (None without one).
        times: (windows, steps): the ``time_column`` value of each of the
            output's steps, as the table writes it; without a time column,
            each step's row number in its file (0-based, not counting the header).
        time_label: the time column's name, or ``file_row``.
    """

    groups: np.ndarray | None
    group_label: str | None
    times: np.ndarray
    time_label: str


def window_steps(table: Table, spec: GeneratorSpec) -> WindowSteps:
    """The group and the time of every output step of the windows sampling cuts from ``table``.

    The windows are those `window_table` cuts for sampling (``stride``
    apart, the last ending on each series' last row, in its order), so a
    forecast's steps can be written beside the times they forecast.
    """
    windows = spec.data.windows
    table, groups = _ordered(table, windows)
    starts = _window_starts(table, groups, windows, windows.stride or windows.length, sampling=True)
    offset = (spec.output.step_range() or (0,))[0]
    rows = starts[:, None] + offset + np.arange(spec.output.steps)
    if windows.time_column:
        times, label = table.columns[windows.time_column][rows], windows.time_column
    else:
        times, label = table.row_ids[rows], "file_row"
    names = table.columns[windows.group_column][starts] if windows.group_column else None
    return WindowSteps(groups=names, group_label=windows.group_column, times=times, time_label=label)


#: Rows to forecast that start more than this many usual steps after a series' last row with values
#: (and further than any step its history takes: a weekend in business days, a 31-day month) do
#: not follow it.
LATE_STEPS = 1.5


def _warn_of_late_forecast_rows(table: Table, groups: np.ndarray, spec: GeneratorSpec) -> None:
    """Warn where the rows a series' forecast fills start later than the row after its last one.

    A forecast reads the rows after a series' last values as the next steps, whatever their times
    say: UKgas's quarters of 1988 appended after 1986's got the forecast for 1987, labelled 1988.
    """
    windows = spec.data.windows
    columns = getattr(spec.output, "columns", None)
    if not windows.time_column or not columns or any(column not in table.columns for column in columns):
        return
    written = table.columns[windows.time_column]
    times = np.asarray(_sortable_times(written, windows.time_column, table))
    times = times.astype("datetime64[ns]").astype("int64") if times.dtype.kind == "M" else times.astype(float)
    present = np.all(
        [
            np.isfinite(as_float(table.columns[column], column, table, allow_missing=True))
            for column in columns
        ],
        axis=0,
    )
    late = []
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        known = rows[present[rows]]
        if len(known) < 3 or known[-1] == rows[-1]:
            continue  # nothing to forecast past the end, or too few times for a usual step
        steps = np.diff(times[known])
        usual, gap = np.median(steps), times[known[-1] + 1] - times[known[-1]]
        if usual > 0 and gap > max(LATE_STEPS * usual, steps.max()):
            late.append((known[-1], gap / usual))
    if late:
        last, steps = late[0]
        who = ""
        if windows.group_column:
            more = f" (and {len(late) - 1} more)" if len(late) > 1 else ""
            who = f"series '{table.columns[windows.group_column][last]}' of '{windows.group_column}'{more}: "
        warnings.warn(
            f"{who}the rows to forecast start at {written[last + 1]} in '{windows.time_column}', {steps:.3g} "
            f"usual steps after the last row with values ({written[last]}); "
            "a forecast is for the rows that follow that row, whatever their times say. Append the rows "
            "that come next, without a gap, to forecast them.",
            FusegenWarning,
            stacklevel=2,
        )


#: A step between two rows of a series at least this many times its usual one is a jump: missing rows.
JUMP_STEPS = 3.5


def _warn_of_jumps_in_windows(table: Table, groups: np.ndarray, starts: np.ndarray, windows) -> None:
    """Warn where windows to forecast span a jump in time (rows missing): a window reads the rows on
    either side as consecutive, as `fusegen init` notes of the training data (a sweep's 61 days gone
    from a daily table were forecast across without a word)."""
    if not windows.time_column or not len(starts):
        return
    written = table.columns[windows.time_column]
    times = np.asarray(_sortable_times(written, windows.time_column, table))
    times = times.astype("datetime64[ns]").astype("int64") if times.dtype.kind == "M" else times.astype(float)
    steps = np.diff(times).astype(float)
    same = groups[1:] == groups[:-1]
    if not same.any():
        return
    usual = np.median(steps[same])
    jumps = same & (steps > JUMP_STEPS * usual) if usual > 0 else np.zeros_like(same)
    if not jumps.any():
        return
    # A window over rows [start, start + length) spans the jump between rows j and j + 1 where start <= j
    # and j + 1 < start + length.
    after = np.flatnonzero(jumps)  # j
    spanning = [start for start in starts if ((after >= start) & (after + 1 < start + windows.length)).any()]
    if not spanning:
        return
    widest = after[np.argmax(steps[after])]
    warnings.warn(
        f"{len(spanning)} of {len(starts)} window(s) to forecast span a jump in '{windows.time_column}' (the "
        f"widest {steps[widest] / usual:.3g} usual steps, from {written[widest]} to {written[widest + 1]}); "
        "a window reads the rows on either side as consecutive. Add a row for each missing time, readings "
        "left empty, to have the jump read as a gap.",
        FusegenWarning,
        stacklevel=2,
    )


def horizon_held(table: Table, spec: GeneratorSpec) -> bool:
    """Whether the last window of every series in ``table`` forecasts steps the table already holds
    (every output value there present): sampling it is a backtest, not a forecast past the end."""
    windows = spec.data.windows
    output = spec.output
    if not getattr(output, "columns", None) or any(column not in table.columns for column in output.columns):
        return False
    table, groups = _ordered(table, windows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # series too short for a window: sampling has said so
        starts = _window_starts(table, groups, windows, windows.stride or windows.length, sampling=True)
    # The last window of each series: the one whose start is followed by another series' (or none).
    last = starts[np.r_[groups[starts[1:]] != groups[starts[:-1]], True]]
    offset = (output.step_range() or (0,))[0]
    rows = last[:, None] + offset + np.arange(output.steps)
    return all(
        np.isfinite(as_float(table.columns[column], column, table, allow_missing=True)[rows]).all()
        for column in output.columns
    )


def last_windows(table: Table, spec: GeneratorSpec) -> Table:
    """Each series' last ``data.windows.length`` rows: all that its last window, the forecast past its
    end, reads. (Windows are counted back from each series' last row, so it is the same window.)"""
    windows = spec.data.windows
    table, groups = _ordered(table, windows)
    # Rows from each group's end: groups are contiguous once ordered, so a row's group ends at the
    # next group's first row (or the table's end).
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], len(groups)]
    from_end = np.repeat(ends, ends - starts) - 1 - np.arange(len(groups))
    return table.take(np.flatnonzero(from_end < windows.length))


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
        sortable = _sortable_times(times, windows.time_column, table)
        order = np.lexsort((sortable, groups))
        ordered = table.take(order)
        _no_repeated_times(ordered, sortable[order], groups[order], windows)
        return ordered, groups[order]
    order = np.argsort(groups, kind="stable")
    return table.take(order), groups[order]


def _no_repeated_times(table: Table, times: np.ndarray, groups: np.ndarray, windows) -> None:
    """A `DataError` where a time repeats within a group: rows ``table`` orders by group, then ``times``.

    A panel of several series stacked without ``group_column`` (or with one that does not tell them all
    apart), or duplicated rows: a window would interleave the series, or hold a reading twice.
    """
    repeats = (times[1:] == times[:-1]) & (groups[1:] == groups[:-1])
    if not repeats.any():
        return
    # Each run of equal (group, time) rows is one repeated time; the first starts at ``start``.
    count = int(np.sum(repeats & ~np.concatenate([[False], repeats[:-1]])))
    start = int(np.flatnonzero(repeats)[0])
    end = start + 1
    while end < len(repeats) and repeats[end]:
        end += 1
    rows = np.arange(start, end + 1)
    column = windows.time_column
    within, of_group = "in the table (one series: no data.windows.group_column)", ""
    if windows.group_column:
        within = f"within groups of data.windows.group_column '{windows.group_column}'"
        of_group = f" of group {_group_name(table, windows, rows)}"
    hint = (
        "name the column that tells the series apart with data.windows.group_column (`fusegen init "
        "--group COLUMN`), or drop the duplicate rows if they are copies."
    )
    if windows.group_column:
        hint = (
            "drop the duplicate rows if they are copies, or name a column that tells every series apart "
            "with data.windows.group_column (`fusegen init --group COLUMN`; join several columns into one "
            "if it takes them)."
        )
    raise DataError(
        f"{table.origin}: data.windows.time_column '{column}': {count} time(s) repeat {within}, the first "
        f"{_plain(table.columns[column][start])!r}{of_group} in {len(rows)} rows, {table.rows_label(rows)}; each "
        "series needs one row per time, or its windows interleave several series or repeat readings.",
        hint=hint,
    )


def _plain(value):
    """A cell as Python writes it (4, not numpy's np.int64(4))."""
    return value.item() if isinstance(value, np.generic) else value


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


def _window_starts(
    table: Table, groups: np.ndarray, windows, stride: int, sampling: bool = False
) -> np.ndarray:
    """Row positions where each window starts, ``stride`` apart; a window covers ``length`` rows of one group.

    The last window of a group ends on its last row (the rows before a group's first window, fewer
    than a stride, are its oldest).
    """
    length = windows.length
    boundaries = np.flatnonzero(np.diff(groups)) + 1
    segments = np.split(np.arange(len(table)), boundaries)
    starts = []
    for segment in segments:
        if len(segment) >= length:
            offsets = np.arange(0, len(segment) - length + 1, stride)
            offsets = offsets + (len(segment) - length - offsets[-1])  # counted back from the end
            starts.append(segment[0] + offsets)
    short = [segment for segment in segments if len(segment) < length]
    if not starts:
        longest = max(segments, key=len)
        # A trained run's rows (conditions, evaluate's) must hold whole windows; a spec's length can change.
        hint = (
            f"give at least {length} rows of each series (a window: its context, and the rows ahead that "
            "the forecast reads), or check the group column's values."
            if sampling
            else f"set data.windows.length to at most {len(longest)} (and the steps of the sequence inputs "
            "and outputs with it), or check data.windows.group_column."
        )
        raise DataError(
            f"{table.origin}: data.windows.length {length} is longer than every group's series, so no "
            f"window can be cut: the longest, {_group_text(table, windows, longest)}, has {len(longest)} rows.",
            hint=hint,
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
