"""Rebalancing: samples whose shares of a categorical column's labels are chosen, by conditioning.

``sample(rebalance={"label": {"yes": 0.5, "no": 0.5}})`` (CLI: ``--rebalance
label=yes:0.5,no:0.5``) gives each sample one label as a condition, in
exactly the chosen shares (whole counts by the largest remainder), in an
order shuffled by the seed; every other column then follows its
conditional distribution given that label. Nothing is drawn and thrown
away, so a rare class costs no more than a common one. The column is a
categorical input, or any categorical column of a record generator trained
with ``conditioning.any_column``.
"""

from __future__ import annotations

import numpy as np

from fusegen.data.records import MISSING
from fusegen.data.table import Table
from fusegen.errors import DataError


def rebalanced(generator, table: Table | None, rows: np.ndarray, rebalance, seed: int) -> Table:
    """One condition row per sample (``rows`` of ``table``), with the rebalanced column's label added.

    Args:
        generator: a fitted `fusegen.Generator`.
        table: the condition rows, or None.
        rows: the condition row of each sample.
        rebalance: a column name (equal shares of its labels), or ``{column: shares}`` with ``shares``
            a dict of label -> share (any positive weights; labels left out get none) or None (equal).
        seed: shuffles which sample gets which label.
    """
    column, shares = _one_column(rebalance)
    labels = _known_labels(generator, column)
    weights = _weights(column, shares, labels)
    counts = _whole_counts(weights, len(rows))
    assigned = np.repeat(np.array(list(weights), dtype=object), counts)
    np.random.default_rng(seed).shuffle(assigned)
    columns = (
        {name: np.asarray(values)[rows] for name, values in table.columns.items()}
        if table is not None
        else {}
    )
    if column in columns:
        raise DataError(
            f"'{column}' is both rebalanced and given as a condition; received a '{column}' column in the "
            "conditions.",
            hint=f"drop '{column}' from the conditions, or leave out rebalance.",
        )
    columns[column] = assigned
    return Table(columns, origin="the conditions")


def _one_column(rebalance) -> tuple[str, dict | None]:
    if isinstance(rebalance, str):
        return rebalance, None
    if isinstance(rebalance, dict) and len(rebalance) == 1:
        column, shares = next(iter(rebalance.items()))
        if shares is None or isinstance(shares, dict):
            return str(column), shares
    raise DataError(
        f"rebalance expects a column name or {{column: {{label: share, ...}}}} for one column, received "
        f"{rebalance!r}.",
        hint='for example rebalance="label" (equal shares) or rebalance={"label": {"yes": 0.5, "no": 0.5}}.',
    )


def _known_labels(generator, column: str) -> list[str]:
    """The labels ``column`` had in training, if it is a categorical column that can condition."""
    spec = generator.spec
    for name, input_spec in spec.inputs.items():
        if input_spec.kind == "categorical" and spec.input_column(name) == column:
            return [str(label) for label in generator.preprocessor_.inputs[name].vocabulary]
    output = spec.output
    if output.kind == "record" and spec.conditions_on_any_column() and column in output.categorical:
        vocabulary = generator.preprocessor_.output.vocabularies[column]
        return [str(label) for label in vocabulary if label != MISSING]
    categorical = [
        spec.input_column(name) for name, part in spec.inputs.items() if part.kind == "categorical"
    ]
    if output.kind == "record" and spec.conditions_on_any_column():
        categorical += [name for name in output.categorical if name not in categorical]
    raise DataError(
        f"rebalance names '{column}', which is not a categorical column this generator can condition on; "
        f"those are {sorted(categorical)}.",
        hint="rebalance a categorical column (a record generator trained with conditioning.any_column, "
        "the default for a cvae, conditions on every column).",
    )


def _weights(column: str, shares: dict | None, labels: list[str]) -> dict[str, float]:
    if shares is None:
        return {label: 1.0 / len(labels) for label in labels}
    unknown = sorted(str(label) for label in shares if str(label) not in labels)
    if unknown:
        raise DataError(
            f"rebalance gives shares for {unknown}, never seen in column '{column}' in training; known labels: "
            f"{labels}.",
            hint="use known labels.",
        )
    try:
        weights = {str(label): float(share) for label, share in shares.items()}
    except (TypeError, ValueError):
        raise DataError(f"rebalance shares for '{column}' must be numbers, received {shares!r}.") from None
    if any(not np.isfinite(share) or share < 0 for share in weights.values()) or sum(weights.values()) <= 0:
        raise DataError(
            f"rebalance shares for '{column}' must be non-negative numbers with a positive sum, received "
            f"{shares!r}.",
            hint="for example yes:0.5,no:0.5 (shares are normalised, so yes:1,no:1 is the same).",
        )
    total = sum(weights.values())
    return {label: share / total for label, share in weights.items() if share > 0}


def _whole_counts(weights: dict[str, float], total: int) -> np.ndarray:
    """Whole counts summing to ``total`` in the given shares (largest remainder)."""
    exact = np.array(list(weights.values())) * total
    counts = np.floor(exact).astype(int)
    remainder = total - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:remainder]] += 1
    return counts
