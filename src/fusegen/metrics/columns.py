"""Column kinds, checks and conversions shared by the tabular metrics.

`infer_column_kinds` decides how each column is scored; `_prepare_frames`
checks real and synthetic frames against each other and converts every column
to its kind, so the quality, ML efficacy and privacy scores (and the record
plots) all read the data the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fusegen.errors import DataError

NUMERIC = "numeric"
DATETIME = "datetime"
CATEGORICAL = "categorical"

# Missing categories form one category of their own in contingency tables,
# in ML features and in distances; this label cannot clash with a user's.
_MISSING = "<missing value>"


def infer_column_kinds(frame: pd.DataFrame, categorical: Sequence[str] | None = None) -> dict[str, str]:
    """The kind of each column: ``"numeric"``, ``"datetime"`` or ``"categorical"``.

    Numeric dtypes are numeric unless listed in ``categorical``; datetimes
    are datetime (scored like numbers, as SDMetrics does); object, string,
    category and boolean dtypes are categorical.

    Args:
        frame: the real table.
        categorical: columns to treat as categorical whatever their dtype,
            e.g. integer codes.

    Returns:
        A dict from column name to kind, in the frame's column order.

    Raises:
        DataError: a column in ``categorical`` is not in the frame.

    Example:

    >>> frame = pd.DataFrame({"age": [30, 41], "zip": [1000, 2000], "city": ["x", "y"]})
    >>> infer_column_kinds(frame, categorical=["zip"])
    {'age': 'numeric', 'zip': 'categorical', 'city': 'categorical'}
    """
    listed = [categorical] if isinstance(categorical, str) else list(categorical or [])
    unknown = [name for name in listed if name not in frame.columns]
    if unknown:
        raise DataError(
            f"categorical= names columns that are not in the real data: {unknown}. "
            f"Received columns: {list(frame.columns)}."
        )
    kinds = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        if name in listed or pd.api.types.is_bool_dtype(dtype):
            kinds[name] = CATEGORICAL
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kinds[name] = DATETIME
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[name] = NUMERIC
        else:
            kinds[name] = CATEGORICAL
    return kinds


def _as_features(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Categories as strings with missing values as their own category, for the encoders."""
    frame = frame.copy()
    for name, kind in kinds.items():
        if kind == CATEGORICAL:
            frame[name] = _label_missing(frame[name], _MISSING).astype(str)
    return frame


# --------------------------------------------------------------------------- validation


def _check_not_empty(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"The {name} data must be a pandas DataFrame. Received: {type(frame).__name__}")
    if frame.empty:
        raise DataError(
            f"The {name} data is empty: there is nothing to compare. Received shape {frame.shape}."
        )
    return frame


def _check_target(target: str, kinds: dict[str, str]) -> None:
    if target not in kinds:
        raise DataError(
            f"target={target!r} is not a column of the data. Expected one of: {list(kinds)}. "
            f"Received: target={target!r}"
        )


def _prepare_frames(
    real: pd.DataFrame, others: dict[str, pd.DataFrame], categorical: Sequence[str] | None
) -> tuple[dict[str, str], list[pd.DataFrame]]:
    """Check the frames against the real one and convert every column to its kind.

    Numbers become float64, datetimes float seconds since the epoch (NaN for
    NaT), categories object values with NaN for missing; the other frames'
    columns are put in the real column order.
    """
    kinds = infer_column_kinds(_check_not_empty(real, "real"), categorical)
    prepared = [_convert(real, kinds, "real")]
    for name, frame in others.items():
        _check_not_empty(frame, name)
        missing = [column for column in real.columns if column not in frame.columns]
        extra = [column for column in frame.columns if column not in real.columns]
        if missing or extra:
            raise DataError(
                f"The {name} data must have the real data's columns. Missing: {missing}; "
                f"not in the real data: {extra}. Expected: {list(real.columns)}. "
                f"Received: {list(frame.columns)}"
            )
        prepared.append(_convert(frame[list(real.columns)], kinds, name))
    return kinds, prepared


def _convert(frame: pd.DataFrame, kinds: dict[str, str], name: str) -> pd.DataFrame:
    columns = {}
    for column, kind in kinds.items():
        values = frame[column]
        try:
            if kind == NUMERIC:
                columns[column] = pd.to_numeric(values).astype("float64")
            elif kind == DATETIME:
                columns[column] = _seconds_since_epoch(values)
            else:
                columns[column] = _labels(values)
        except (TypeError, ValueError) as error:
            raise DataError(
                f'Column "{column}" as {kind} in the {name} data: its values cannot be read as '
                f"{kind} like the real column's. Received dtype={values.dtype}: {error}",
                hint="convert the column, or list it in categorical= to compare it as categories.",
            ) from error
    return pd.DataFrame(columns, index=frame.index)


def _labels(values: pd.Series) -> pd.Series:
    """A categorical column as object labels, NaN for missing, whole-number floats as ints.

    A column of whole numbers with gaps reads as floats (14.0) where a
    generator's samples hold Int64 (14). As Python values the two are one
    label, but the encoders compare labels as text, where they are two.
    """
    labels = values.astype(object).where(values.notna(), np.nan)
    whole = [int(value) if isinstance(value, float) and value.is_integer() else value for value in labels]
    return pd.Series(whole, index=values.index, dtype=object)  # map() would infer float64 back


def _label_missing(values: pd.Series, label: str) -> pd.Series:
    """The categories with each missing value replaced by ``label``, as objects.

    Unlike `Series.fillna`, this never converts the result to another dtype.
    """
    return pd.Series(
        np.where(values.isna(), label, values.to_numpy(dtype=object)), index=values.index, dtype=object
    )


def _seconds_since_epoch(values: pd.Series) -> pd.Series:
    moments = pd.to_datetime(values)
    if moments.dt.tz is not None:
        moments = moments.dt.tz_convert("UTC").dt.tz_localize(None)
    # KS, Pearson's r and equal-width bins do not depend on the time unit.
    return (moments - pd.Timestamp(0)) / pd.Timedelta(seconds=1)


# --------------------------------------------------------------------------- numbers


def _number(value) -> float | None:
    """A plain float for JSON, or None where the value is undefined."""
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _mean(values: list[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None
