"""Checks every converter shares: numbers, finiteness, shapes, labels, missing values.

Each names the input (``where``) and, when it has the table, the file and the
row the bad value came from.
"""

from __future__ import annotations

import numpy as np

from fusegen.data.sources import Table
from fusegen.errors import DataError

#: The label a missing category or text becomes under ``missing: impute``.
MISSING_LABEL = "[MISSING]"
#: Known labels an error lists at most (a column of 200 countries would fill the terminal).
KNOWN_LABELS_SHOWN = 20


def known_labels_text(known, unknown=()) -> str:
    """The known labels an error about ``unknown`` ones lists: those closest to them first (a typo's
    fix), then at most `KNOWN_LABELS_SHOWN` of the rest, with their count.

    >>> known_labels_text(["Adelie", "Chinstrap", "Gentoo"], ["gentoo"])
    "closest known labels: ['Gentoo']; known labels: ['Adelie', 'Chinstrap', 'Gentoo']"
    >>> known_labels_text([f"c{index:03d}" for index in range(30)])[-39:]
    "'c018', 'c019'] and 10 more (30 in all)"
    """
    import difflib

    known = sorted(str(label) for label in known)
    lowered = {label.lower(): label for label in known}
    close = sorted(
        {
            lowered[match]
            for label in unknown
            for match in difflib.get_close_matches(str(label).lower(), lowered, n=3)
        }
    )
    shown = known[:KNOWN_LABELS_SHOWN]
    more = f" and {len(known) - len(shown)} more ({len(known)} in all)" if len(shown) < len(known) else ""
    listed = f"known labels: {shown}{more}"
    return (f"closest known labels: {close}; " if close else "") + listed


def likely_renames(absent, unknown) -> dict[str, str]:
    """Each of ``unknown`` (columns a table has that were not asked for) that looks like a column of
    ``absent`` (those asked for that it lacks), misspelt or renamed: {unknown column: absent column}."""
    import difflib

    lowered = {column.lower(): column for column in absent}
    return {
        column: lowered[close[0]]
        for column in unknown
        if (close := difflib.get_close_matches(column.lower(), list(lowered), n=1))
    }


def renames_text(renamed: dict[str, str]) -> str:
    """`likely_renames`' guesses as words: " ('Ages' may be 'age')", or nothing."""
    return f" ({', '.join(f'{a!r} may be {b!r}' for a, b in renamed.items())})" if renamed else ""


def row_text(table: Table | None, position: int) -> str:
    return table.row_label(position) if table is not None else f"row {position}"


def rows_text(table: Table | None, positions) -> str:
    if table is not None:
        return table.rows_label(positions)
    return f"first rows {np.asarray(positions)[:5].tolist()}"


def text_among_numbers(values) -> np.ndarray:
    """Per cell of a numeric column: given, but not a number ('abc', or a marker such as '<5')."""
    import pandas as pd

    raw = np.asarray(values, dtype=object)
    try:
        numbers = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy().astype("float64")
    except (TypeError, ValueError):  # arrays or other objects, not text: the converters name them
        return np.zeros(len(raw), bool)
    return np.isnan(numbers) & ~is_missing(raw)


def is_missing(values: np.ndarray) -> np.ndarray:
    """Per row: a None, NaN or empty string anywhere in it (infinity is not missing, but an error)."""
    if values.dtype == object or values.dtype.kind in "SU":
        flat = values.reshape(-1)
        factorized = _factorized(flat)
        if factorized is not None:
            # Each distinct value is looked at once: a column of labels repeats a few many times.
            codes, distinct = factorized
            blank = np.array([_is_blank(value) for value in distinct] + [True], bool)
            missing = blank[codes]  # code -1 (None, NaN) takes the last entry
        else:
            import pandas as pd

            missing = pd.isna(flat)
            missing |= np.fromiter((_is_blank(value) for value in flat), bool, len(flat))
        return missing.reshape(len(values), -1).any(axis=1)
    if values.dtype.kind == "f":
        return np.isnan(values.reshape(len(values), -1)).any(axis=1)
    return np.zeros(len(values), dtype=bool)


def _is_blank(value) -> bool:
    return isinstance(value, str) and (not value or value.isspace())


def _factorized(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, distinct strings)`` by pandas' hashing, code -1 for None and NaN; None unless all are text.

    Text alone: hashing would take 1, 1.0 and True for one value, where each is its own label.
    """
    import pandas as pd

    if pd.api.types.infer_dtype(flat, skipna=True) != "string":
        return None
    return pd.factorize(flat, use_na_sentinel=True)


def as_float(
    values: np.ndarray, where: str, table: Table | None = None, allow_missing: bool = False
) -> np.ndarray:
    """Values as float32, or a `DataError` naming the first row that is not a number.

    With ``allow_missing``, None and empty strings become NaN (to be imputed).
    """
    if allow_missing and values.dtype == object:
        values = np.array(
            [
                np.nan if entry is None or (isinstance(entry, str) and not entry.strip()) else entry
                for entry in values
            ],
            dtype=object,
        )
    try:
        if values.dtype.kind in "SU":
            raise ValueError("text")
        # Numbers beyond float32 become infinity here and are reported by check_finite.
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype="float32")
    except (TypeError, ValueError):
        flat = np.asarray(values, dtype=object).reshape(len(values), -1)
        for position, entries in enumerate(flat):
            for entry in entries:
                try:
                    float(entry)
                except (TypeError, ValueError):
                    raise DataError(
                        f"{where}: expected numbers, received {entry!r} in {row_text(table, position)}.",
                        hint="fix that value (a number is expected there); for a spec not trained yet, the "
                        "column may be declared categorical or text instead.",
                    ) from None
        raise


def check_finite(values: np.ndarray, where: str, table: Table | None = None) -> None:
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise DataError(
            f"{where}: {len(rows)} row(s) have NaN or infinite values, {rows_text(table, rows)}.",
            hint="clean them, set data.missing: drop_rows in the spec, or missing: impute (or mask) on the input "
            "(which fills NaN, not infinity).",
        )


def check_shape(values: np.ndarray, expected: tuple[int, ...], where: str) -> None:
    received = tuple(values.shape[1:])
    if received != tuple(expected):
        raise DataError(
            f"{where}: expected each example to have shape {list(expected)}, received {list(received)}.",
            hint="fix the spec's sizes to match the data, or the data to match the spec.",
        )


def as_labels(
    values: np.ndarray, where: str, table: Table | None = None, fill: str | None = None
) -> np.ndarray:
    """Values as strings; an empty (or blank) one is an error, or becomes ``fill``."""
    factorized = _factorized(np.asarray(values).reshape(-1)) if np.ndim(values) == 1 else None
    if factorized is not None:
        # Each distinct value is made a string once; None and NaN (code -1) are empty.
        codes, distinct = factorized
        labels = np.array([str(value) for value in distinct] + [""], dtype=object)[codes]
    else:
        labels = np.array(["" if value is None else str(value) for value in values], dtype=object)
    empty = is_missing(np.asarray(values, dtype=object))
    if empty.any():
        if fill is not None:
            labels[empty] = fill
            return labels
        rows = np.flatnonzero(empty)
        raise DataError(
            f"{where}: {len(rows)} row(s) are empty, {rows_text(table, rows)}.",
            hint="fill them, set data.missing: drop_rows in the spec, or missing: impute (or mask) on the input.",
        )
    return labels
