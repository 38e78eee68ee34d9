"""Calendar channels: where in the day, the week, the month and the year each row of a long table falls.

A forecast whose context is shorter than a cycle cannot see the cycle: 28 days
of ridership say nothing of summer, and a week of temperatures nothing of the
season ahead. ``data.windows.calendar`` names the cycles to add as channels,
computed from ``data.windows.time_column``. Each cycle becomes two columns,
the sine and cosine of the row's phase in it (``day_of_year_sin``,
``day_of_year_cos``), so that the last day of a cycle sits next to the first.
Inputs read them like any other column, and since every row's time is known
ahead of its values, they belong in a ``known_future`` input as well as in
the context.

The columns are added where a table is read (the spec's source, a user's file
or frame), so training, sampling, imputing and evaluating all see the same
channels, computed the same way from the rows' own times.

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
from fusegen.spec.generator_spec import CALENDAR_CYCLES, WindowSpec, calendar_column_names

_DAY_SECONDS = 86_400.0


def with_calendar(table: Table, windows: WindowSpec | None) -> Table:
    """``table`` with the calendar channels that ``windows.calendar`` (a spec's ``data.windows``)
    names, as its time column places each row; without them (or once cut into windows) unchanged.

    A column of the table that already has a calendar channel's name must hold that channel's
    values (a table this function returned, read again); any other is refused, naming it.
    """
    if windows is None or not windows.calendar or table.windowed:
        return table
    added = calendar_channels(table, windows.time_column, windows.calendar)
    for name, values in added.items():
        if name in table.columns:
            current = table.columns[name]
            if current.dtype.kind != "f" or not np.allclose(current, values, atol=1e-6, equal_nan=False):
                raise DataError(
                    f"{table.origin}: column '{name}' is in the data, and data.windows.calendar adds a "
                    f"channel of that name computed from '{windows.time_column}'; the two differ.",
                    hint=f"rename the data's column '{name}', or drop it and let the calendar compute it.",
                )
    return table.with_columns(added)


def calendar_channels(table: Table, time_column: str, cycles) -> dict[str, np.ndarray]:
    """Each of ``cycles``' sine and cosine columns for the rows of ``table``, from ``time_column``."""
    from fusegen.data.times import parse_times

    written = table.column(time_column, "data.windows.time_column")
    numbers = np.asarray(written).dtype.kind in "iuf"
    times = None if numbers else parse_times(written)
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
