"""The missing-value policy: which values are missing, and how a converter fills them.

Missing values (NaN, None, an empty or blank string) follow each input's
``missing`` policy, or ``data.missing`` when the input has none: ``error``
(the default) names the rows; ``drop_rows`` drops them before the split (see
`fusegen.data.pipeline.apply_missing_policy`); ``impute`` fills them with a
value fitted on the training split and saved in the state: the mean (or,
with ``impute_with: median``, the median) for numeric columns and per
sequence channel, a ``[MISSING]`` label (or the most frequent label) for
categories, a ``[MISSING]`` text for text; ``mask`` (numeric and sequence
inputs) imputes and appends a 0/1 indicator per feature or channel, 1 where
the value was missing, so the model can tell a filled value from a real one.
Infinity is never imputed; it is an error unless its rows are dropped.

Here: the fill helpers the converters share (`imputes`, `fit_fill`,
`fill_missing`), and where a table's values are missing for a spec
(`columns_of_parts`, `missing_values`, `rows_with_missing`).
"""

from __future__ import annotations

import numpy as np

from fusegen.data.checks import is_missing
from fusegen.data.sources import Table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec

# --------------------------------------------------------------------------
# Filling missing values, for the converters
# --------------------------------------------------------------------------


def imputes(spec) -> bool:
    """Whether missing values are filled: ``missing: impute``, or ``mask``, which also marks them."""
    return getattr(spec, "missing", None) in ("impute", "mask")


def fill_missing(values: np.ndarray, fill: np.ndarray | None, where: str) -> np.ndarray:
    """NaN -> the fitted fill value of its feature (last axis); unchanged without a fill."""
    if fill is None:
        return values
    if fill is not None and np.isnan(values).any():
        values = np.where(np.isnan(values), np.asarray(fill, "float32"), values).astype("float32")
    return values


def fit_fill(values: np.ndarray, where: str, statistic: str = "mean") -> list[float]:
    """The mean or median of each feature (last axis) over its finite values; a feature with none is an error."""
    flat = values.reshape(-1, values.shape[-1]).astype("float64")
    # Infinity is never imputed (it is reported as an error), so it must not skew the fill either.
    observed = np.isfinite(flat)
    empty = np.flatnonzero(~observed.any(axis=0))
    if len(empty):
        raise DataError(
            f"{where}: feature(s) {empty.tolist()} have no value in the training rows to impute from.",
            hint="give those columns some values, or drop the input.",
        )
    present = np.where(observed, flat, np.nan)
    fill = np.nanmedian(present, axis=0) if statistic == "median" else np.nanmean(present, axis=0)
    return fill.astype("float32").tolist()


# --------------------------------------------------------------------------
# Which columns each part reads, and where values are missing
# --------------------------------------------------------------------------


def columns_of_parts(spec: GeneratorSpec) -> dict[str, tuple[list[str], str | None]]:
    """Per input and the output (``Input 'x' (kind)``): the columns it reads and its missing policy."""
    parts = {}
    for name, input_spec in spec.inputs.items():
        columns = input_spec.columns_read(spec.input_column(name))
        parts[f"Input '{name}' ({input_spec.kind})"] = (columns, input_spec.missing)
    output = spec.output
    if output.kind == "record":
        # Nullable columns keep their missing values: the record converter models them.
        columns = [column for column in output.data_columns() if column not in output.nullable]
    elif output.kind == "sequence" and output.columns:
        columns = list(output.columns)
    else:
        columns = [spec.output_column()]
    parts[f"Output '{output.name}' ({output.kind})"] = (columns, None)
    return parts


def steps_of_parts(spec: GeneratorSpec) -> dict[str, tuple[int, int] | None]:
    """Per part of `columns_of_parts`: the ``select.steps`` range it reads of a windowed column (None: all).

    A forecast's context and horizon read one long column's window in two
    ranges; a value missing in the context is no gap in the horizon.
    """
    parts = {}
    for name, input_spec in spec.inputs.items():
        select = getattr(input_spec, "select", None)
        parts[f"Input '{name}' ({input_spec.kind})"] = select.steps if select is not None else None
    output = spec.output
    select = getattr(output, "select", None)
    parts[f"Output '{output.name}' ({output.kind})"] = select.steps if select is not None else None
    return parts


def _number_columns(spec: GeneratorSpec) -> set[str]:
    """The table columns the spec reads as plain numbers: numeric inputs' and a record's numeric columns."""
    columns = {
        column
        for input_spec in spec.inputs.values()
        if input_spec.kind == "numeric"
        for column in (input_spec.columns or [])
    }
    if spec.output.kind == "record":
        columns |= set(spec.output.data_numeric()) - set(spec.output.datetime)
    return columns


def missing_values(table: Table, spec: GeneratorSpec) -> list[tuple[str, str, str, np.ndarray]]:
    """``(part, column, policy, rows)`` for each column with missing or infinite values.

    ``policy`` is the part's own ``missing`` or ``data.missing``. A column
    that a part imputes (or masks) reports only its infinite values, which
    imputation leaves. Under ``drop_rows``, text in a column read as numbers
    (a stray ``n/a`` or ``abc``) is dropped with the missing values; under
    ``error`` the converter reports it, naming the rows.
    """
    default = spec.data.missing if spec.data else "error"
    numbers = _number_columns(spec)
    steps = steps_of_parts(spec)
    found = []
    for part, (columns, policy) in columns_of_parts(spec).items():
        policy = policy or default
        for column in columns:
            if column not in table.columns:
                continue  # reported with its part's name when transformed
            values = table.columns[column]
            if values.dtype.kind == "f":
                if steps[part] is not None and values.ndim >= 2:  # (rows, steps[, channels]): only its steps
                    values = values[:, steps[part][0] : steps[part][1]]
                flat = values.reshape(len(values), -1)
                bad = np.isinf(flat).any(axis=1)
                if policy not in ("impute", "mask"):
                    bad |= np.isnan(flat).any(axis=1)
            elif policy not in ("impute", "mask"):
                bad = is_missing(values)
                if (
                    policy == "drop_rows"
                    and column in numbers
                    and values.dtype == object
                    and values.ndim == 1
                ):
                    import pandas as pd

                    bad |= pd.isna(pd.to_numeric(pd.Series(values), errors="coerce")).to_numpy()
            else:
                continue
            if bad.any():
                found.append((part, column, policy, np.flatnonzero(bad)))
    return found


def rows_with_missing(table: Table, spec: GeneratorSpec) -> np.ndarray:
    """Boolean mask of rows with a NaN, infinite, None or empty value in a column the spec reads."""
    mask = np.zeros(len(table), dtype=bool)
    for _, _, _, rows in missing_values(table, spec):
        mask[rows] = True
    return mask
