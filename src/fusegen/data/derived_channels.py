"""Channels a long table's windows read that are computed from its other columns.

**The calendar.** A forecast whose context is shorter than a cycle cannot see
the cycle: 28 days of ridership say nothing of summer, and a week of
temperatures nothing of the season ahead. ``data.windows.calendar`` names the
cycles to add as channels, computed from ``data.windows.time_column``. Each
cycle becomes two columns, the sine and cosine of the row's phase in it
(``day_of_year_sin``, ``day_of_year_cos``), so that the last day of a cycle
sits next to the first. Since every row's time is known ahead of its values,
they belong in a ``known_future`` input as well as in the context.

**Labels as flags.** A window holds numbers, and a text covariate (the
weather as ``rain`` or ``sun``, a promotion's name) has no place in one.
``data.windows.one_hot`` names such columns with their labels; each label
becomes a 0/1 column ``column=label``.

The columns are added where a table is read (the spec's source, a user's file
or frame), so training, sampling, imputing and evaluating all see the same
channels, computed the same way from the rows' own values.

Example:

>>> import numpy as np
>>> from fusegen.data.table import Table
>>> table = Table({"day": np.array(["2014-01-01", "2014-07-02"], dtype=object)}, "long.csv")
>>> added = calendar_channels(table, "day", ["day_of_year"])
>>> sorted(added)
['day_of_year_cos', 'day_of_year_sin']
>>> np.round(added["day_of_year_cos"], 2).tolist()
[1.0, -1.0]
"""

from __future__ import annotations

import numpy as np

from fusegen.data.table import Table
from fusegen.errors import DataError
from fusegen.spec.generator_spec import CALENDAR_CYCLES, WindowSpec, calendar_column_names, label_column_names

_DAY_SECONDS = 86_400.0


def with_derived_channels(table: Table, windows: WindowSpec | None) -> Table:
    """``table`` with the channels that ``windows`` (a spec's ``data.windows``) computes: its
    calendar's and its one-hot labels'; without them (or once cut into windows) unchanged.

    A column of the table that already has a derived channel's name must hold that channel's
    values (a table this function returned, read again); any other is refused, naming it.
    """
    if windows is None or table.windowed or not (windows.calendar or windows.one_hot):
        return table
    added = calendar_channels(table, windows.time_column, windows.calendar) if windows.calendar else {}
    added.update(label_channels(table, windows.one_hot))
    for name, values in added.items():
        if name in table.columns:
            current = table.columns[name]
            same = current.dtype.kind in "iufb" and np.allclose(current.astype("float64"), values, atol=1e-6)
            if not same:
                raise DataError(
                    f"{table.origin}: column '{name}' is in the data, and data.windows adds a channel of "
                    "that name (calendar or one_hot); the two differ.",
                    hint=f"rename the data's column '{name}', or drop it and let data.windows compute it.",
                )
    return table.with_columns(added)


def label_channels(table: Table, one_hot: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """A 0/1 column ``column=label`` for each label of each of ``one_hot``'s text columns. A label
    outside the list is an error naming the row: it has no channel, and a row of zeros would read
    as "none of these"."""
    columns = {}
    for column, labels in one_hot.items():
        values = table.column(column, "data.windows.one_hot")
        # A gap reads as "" (no label listed matches it, so it is named below); checks' is_missing would
        # import this module's importers.
        text = np.array(["" if _missing(value) else _label(value) for value in values], dtype=object)
        known = np.isin(text, labels)
        if not known.all():
            first = int(np.flatnonzero(~known)[0])
            shown = repr(text[first]) if text[first] else "no label (an empty cell)"
            raise DataError(
                f"data.windows.one_hot: column '{column}' holds {shown} in {table.row_label(first)} "
                f"({int((~known).sum())} such rows), which is not among its labels {labels}.",
                hint=f"add the label to data.windows.one_hot.{column} and train again, or fix those rows.",
            )
        for name, label in zip(label_column_names(column, labels), labels, strict=True):
            columns[name] = (text == label).astype("float64")
    return columns


def calendar_channels(table: Table, time_column: str, cycles) -> dict[str, np.ndarray]:
    """Each of ``cycles``' sine and cosine columns for the rows of ``table``, from ``time_column``."""
    written = table.column(time_column, "data.windows.time_column")
    numbers = np.asarray(written).dtype.kind in "iuf"
    times = None if numbers else _wall_clock(written)
    if numbers or times.isna().any():
        first = 0 if numbers else int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(
            f"data.windows.calendar {list(cycles)} reads dates from time_column '{time_column}', which holds "
            f"{_plain(written[first])!r} in {table.row_label(first)}: "
            + ("a number, not a date." if numbers else "no date or time."),
            hint="write every time as a date (2014-01-01, 2014-01-01 00:30, 1998 Q1, 1987 Jan), or remove "
            "data.windows.calendar.",
        )
    columns = {}
    for cycle in cycles:
        angle = 2 * np.pi * _phase(times, cycle)
        sine, cosine = calendar_column_names([cycle])
        columns[sine], columns[cosine] = np.sin(angle), np.cos(angle)
    return columns


def _wall_clock(written):
    """The times as their own clocks read them: a UTC offset or a zone is dropped, not converted
    (09:00 in Berlin is hour 9 in summer and in winter), since the day's and the week's rhythms
    follow the local clock. `fusegen.data.times.parse_times` converts to UTC, which orders rows."""
    import pandas as pd

    from fusegen.data.times import parse_times

    series = pd.Series(written)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_localize(None)
    if series.dtype.kind != "M":
        series = series.astype(str).str.replace(_OFFSET, r"\1", regex=True)
    return parse_times(series)


#: A time of day followed by a UTC offset or Z, the offset to drop.
_OFFSET = r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}:?\d{2})$"


def _missing(value) -> bool:
    import pandas as pd

    if np.ndim(value) != 0:
        return False
    return value is None or bool(pd.isna(value))


def _label(value) -> str:
    """A cell as its label: a whole float as the whole number (a column of 1 and 2 read as floats
    from another file is still labels '1' and '2')."""
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plain(value):
    """A table's value as Python writes it: 1990, not np.int64(1990)."""
    return value.item() if isinstance(value, np.generic) else value


def _phase(times, cycle: str) -> np.ndarray:
    """Each time's place in ``cycle``, from 0 (its start) up to 1 (its end)."""
    if cycle not in CALENDAR_CYCLES:
        raise ValueError(f"unknown calendar cycle {cycle!r}; expected one of {sorted(CALENDAR_CYCLES)}")
    of_day = (times.dt.hour * 3600.0 + times.dt.minute * 60.0 + times.dt.second).to_numpy(
        "float64"
    ) / _DAY_SECONDS
    if cycle == "hour_of_day":
        return of_day
    if cycle == "day_of_week":
        return (times.dt.dayofweek.to_numpy("float64") + of_day) / 7.0
    if cycle == "day_of_month":
        return (times.dt.day.to_numpy("float64") - 1 + of_day) / times.dt.days_in_month.to_numpy("float64")
    days_in_year = np.where(times.dt.is_leap_year.to_numpy(), 366.0, 365.0)
    return (times.dt.dayofyear.to_numpy("float64") - 1 + of_day) / days_in_year
