"""Imputation: each row's missing cells drawn given that row's observed cells.

`impute` is what `fusegen.Generator.impute` and ``fusegen impute`` run. It is
conditional sampling (`fusegen.sampling`) with every observed cell of a row
as a condition and every missing one hidden, which a record generator
trained with ``conditioning.any_column`` can do for any pattern of missing
cells: it learned p(hidden columns | visible columns) for every subset.
Observed cells come back exactly, those beyond the training range too
(with a warning); a row with nothing observed is drawn unconditionally. A
missing cell of a nullable column is drawn as a value: a numeric column's
missing indicator is shown as "present" (the model learned the value given
presence), and a categorical column's missing label is ruled out of the draw
(its other labels keep their relative odds).

With ``num_imputations`` N > 1, each row is imputed N times (multiple
imputation, so a downstream analysis can see the imputation's spread):
the result has N rows per input row, grouped by row, and an
``imputation`` column numbering them 0 .. N-1.

Two ways to fill a cell once (``strategy``):

- ``"draw"`` (the default): one draw from the cell's conditional
  distribution. The filled column keeps the real column's spread and shape,
  so the table reads like real rows: what synthesis and multiple imputation
  need.
- ``"expected"``: the conditional distribution's centre, estimated from
  `EXPECTED_DRAWS` draws: a number's mean (rounded for an integer column;
  the median draw for a datetime), a label's most frequent draw. Each cell
  is then the best single guess in squared error or accuracy, as scikit-
  learn's ``IterativeImputer`` gives by default; a model trained on the
  filled rows learns less noise. The filled cells are narrower than real
  ones.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from fusegen.data.checks import is_missing, likely_renames, renames_text, text_among_numbers
from fusegen.data.record_cells import record_columns
from fusegen.data.records import MISSING
from fusegen.errors import DataError, FusegenError, FusegenWarning
from fusegen.writers import concatenate_chunks

#: The column that numbers a row's imputations when there are several.
IMPUTATION_COLUMN = "imputation"
#: Draws per row that ``strategy="expected"`` summarises: the mean of 20 draws has a fifth of one
#: draw's spread around the conditional mean (1/sqrt(20)), and a label drawn with probability
#: 0.6 against 0.4 wins the vote 4 times in 5.
EXPECTED_DRAWS = 20
#: How a missing cell is filled once; see the module's docstring.
STRATEGIES = ("draw", "expected")


def impute(
    generator,
    data,
    num_imputations: int = 1,
    seed: int = 0,
    temperature: float = 1.0,
    strategy: str = "draw",
    columns: list[str] | None = None,
    given_cell_rounds: int | None = None,
):
    """``data`` with its missing record cells filled; see the module's docstring.

    ``given_cell_rounds`` overrides the spec's ``objective.given_cell_rounds``
    (rebalancing's label check passes 0: the first draw, as it samples).

    ``columns`` fills only those columns' missing cells (default: every record
    column's). The other columns' missing cells stay missing, and where the
    column was missing in training too (nullable) they condition as missing:
    a measurement never taken, as hawks' tarsus outside 1997, is then a fact
    about the row rather than a cell drawn as present, which would move the
    row's other fills towards the rows that had one.

    Raises:
        FusegenError: the generator's output is not a record, it was
            trained without ``conditioning.any_column``, or ``strategy`` is
            unknown or ``"expected"`` with ``num_imputations`` above 1.
        DataError: columns the generator does not know while it lacks some
            of its own (a renamed column?), or no record column at all. A
            label never seen in training is kept as given, with a warning, and
            conditions nothing. Unknown columns beside all of the generator's
            (the row names ``fusegen init`` left out) are kept as given,
            with a warning.
    """
    from fusegen.sampling import iter_samples

    generator._require_fitted()
    spec = generator.spec
    if spec.output.kind != "record":
        raise FusegenError(
            f"impute fills the cells of records, but this generator's output '{spec.output.name}' is a "
            f"{spec.output.kind}.",
            hint="impute with a generator trained on a table (fusegen init TABLE.csv).",
        )
    if not spec.conditions_on_any_column():
        raise FusegenError(
            "impute needs a generator trained with conditioning.any_column, so that it can condition on any "
            "subset of a row's cells; this run was trained without it (received any_column: "
            f"{spec.conditioning.any_column!r}, objective '{spec.objective.type}').",
            hint="retrain with a cvae objective and conditioning: {any_column: true} (fusegen init writes it).",
        )
    if num_imputations < 1:
        raise FusegenError(f"num_imputations must be at least 1, received {num_imputations}.")
    if strategy not in STRATEGIES:
        raise FusegenError(f"strategy must be one of {list(STRATEGIES)}, received {strategy!r}.")
    if strategy == "expected" and num_imputations > 1:
        raise FusegenError(
            f"strategy 'expected' fills each cell with one value, its conditional mean or most likely "
            f"label, so it gives one imputation per row; received num_imputations={num_imputations}.",
            hint="ask for several draws with strategy 'draw', or for one expected value with num_imputations 1.",
        )
    table = generator._as_table(data)
    known = set(record_columns(spec.output)) | {
        column for name in spec.inputs for column in _input_columns(spec, name)
    }
    unknown = sorted(set(table.columns) - known)
    absent = [column for column in record_columns(spec.output) if column not in table.columns]
    if unknown and absent:
        # Perhaps a renamed or misspelt column: imputing the absent one whole would hide that.
        renamed = likely_renames(absent, unknown)
        raise DataError(
            f"the table to impute lacks the generator's columns {absent}"
            + renames_text(renamed)
            + f"; beside them it has columns the generator does not know, {unknown}, which would otherwise "
            "be kept as they are.",
            hint=f"add the column{'s' if len(absent) > 1 else ''} {absent} (empty cells are filled)"
            + (", or rename the misspelt one" if renamed else "")
            + ".",
        )
    original = table
    if unknown:
        # The table init learned from, with the columns it left out (row names, identifiers): they
        # come back as they are, in their place, and are no condition.
        warnings.warn(
            f"columns {unknown} are not this generator's (fusegen init leaves out row indexes and "
            "identifiers); they are kept as given, neither imputed nor used as conditions.",
            FusegenWarning,
            stacklevel=2,
        )
        table = table.without_columns(unknown)
    given = [column for column in record_columns(spec.output) if column in table.columns]
    if columns is not None:
        stray = [column for column in columns if column not in given]
        if stray or not columns:
            raise DataError(
                f"columns to fill {stray or columns} are not among the record columns of the table to impute; "
                f"received columns={columns}, and the table's record columns are {given}.",
                hint="name columns of the table that the generator models, or leave columns out to fill them all.",
            )
    if not given:
        raise DataError(
            f"the table to impute has none of the record's columns {record_columns(spec.output)}; received "
            f"{sorted(table.columns)}.",
            hint="pass a table with the columns the generator was trained on (missing cells left empty).",
        )
    # An observed cell is a fact about its row, not a request: one beyond the training range (a wetter
    # day than any the model saw) is kept as given and conditions at the range's edge, with a warning
    # naming it, rather than refusing the whole table over one row.
    options = {
        "num_samples": num_imputations, "seed": seed, "temperature": temperature, "batch_size": None,
        "strict": True, "ranges": None, "extrapolate": True, "impute": True,
        # The rows are the user's own: nothing about them is redrawn (`fusegen.privacy`).
        "similarity_filter": False, "fill": True if columns is None else list(columns),
        "given_cell_rounds": given_cell_rounds,
    }  # fmt: skip
    if columns is None:
        _warn_of_gaps_by_nature(generator, table, given)
    table, unseen = _hide_unseen_labels(generator, table)
    if strategy == "expected":
        options["num_samples"] = EXPECTED_DRAWS
    result = concatenate_chunks(list(iter_samples(generator, table, options)))
    if strategy == "expected":
        result = _expected_cells(result, generator.preprocessor_.output, table.num_rows, EXPECTED_DRAWS)
    # The table's own columns in its order: record columns imputed, input-only columns as they were.
    rows = np.repeat(np.arange(table.num_rows), num_imputations)
    _keep_observed_text(result, table, spec.output, rows)
    if columns is not None:
        _keep_missing_outside(result, table, [column for column in given if column not in columns], rows)
    for column, (cells, labels) in unseen.items():
        merged = result[column].astype(object).to_numpy(copy=True)
        merged[cells[rows]] = labels[rows][cells[rows]]
        result[column] = merged
    for column in original.columns:
        if column not in result.columns:
            result[column] = _whole_numbers_as_integers(
                np.asarray(original.columns[column], dtype=object)[rows]
            )
    result = result[list(original.columns)]
    if num_imputations > 1:
        result.insert(0, IMPUTATION_COLUMN, np.tile(np.arange(num_imputations), table.num_rows))
    return result


def _whole_numbers_as_integers(values: np.ndarray) -> np.ndarray:
    """A column passed through as read, with whole numbers as integers where a gap made it float.

    A CSV column of row numbers with a blank cell is read as floats, and came back from `impute`
    as 1.0, 2.0 (every observed row name of Ecdat's Workinghours with 10% of cells blanked).

    >>> _whole_numbers_as_integers(np.array([1.0, np.nan, 3.0], dtype=object)).tolist()
    [1, nan, 3]
    >>> _whole_numbers_as_integers(np.array([1.5, np.nan], dtype=object)).tolist()
    [1.5, nan]
    """
    present = ~is_missing(values)
    floats = np.array([isinstance(value, float) for value in values], dtype=bool)
    if not present.any() or not floats[present].all():
        return values  # text, or numbers beside text: as read
    numbers = values[present].astype("float64")
    if not (np.all(numbers == np.round(numbers)) and np.all(np.abs(numbers) < 2**53)):
        return values
    whole = values.copy()
    whole[present] = [int(number) for number in numbers]
    return whole


def as_written(filled, table, output, num_imputations: int = 1):
    """``filled`` (what `impute` returned for ``table``) with each datetime column of a written format as
    text, its observed cells exactly as ``table`` writes them: ``1/3/11`` stays ``1/3/11`` where
    the format writes ``01/03/11``, so a filled table joins back to the user's own rows."""
    from fusegen.writers import dated_text

    formats = {column: text for column, text in output.datetime_formats.items() if text != "ISO8601"}
    text = dated_text(filled, formats)
    rows = np.repeat(np.arange(table.num_rows), num_imputations)
    for column in formats:
        if column not in table.columns or column not in text.columns:
            continue
        raw = np.asarray(table.columns[column], dtype=object)[rows]
        observed = ~is_missing(raw)
        merged = text[column].astype(object).to_numpy(copy=True)
        merged[observed] = raw[observed]
        text[column] = merged
    return text


#: A column missing in at least this share of training rows is likely missing by nature (a
#: measurement taken in one year only, an effect most events lack): filling it is worth a warning.
MOSTLY_MISSING = 0.5


def _warn_of_gaps_by_nature(generator, table, given: list[str]) -> None:
    """Warn where filling every gap fills columns that training mostly lacked. Hawks' tarsus was
    measured in 1997 alone; filled as present in every row, it pulled the keel fat imputed beside it
    towards 1997's (mean 1.25 against 2.18), where filling keel fat alone gave 2.27."""
    shares = generator.preprocessor_.output.missing_shares
    # A column looked up from another (output.determined_by) is not drawn: it takes the label, gap or
    # not, that its determining column's label had (epa2012's air_aspir_method from its description).
    looked_up = generator.spec.output.determined_by
    mostly = [
        f"'{column}' ({shares[column]:.0%} of training rows)"
        for column in given
        if shares.get(column, 0.0) >= MOSTLY_MISSING
        and column not in looked_up
        and is_missing(np.asarray(table.columns[column], dtype=object)).any()
    ]
    if mostly:
        warnings.warn(
            f"filling every gap fills columns that training mostly lacked: {', '.join(mostly)}. If their gaps "
            "are by nature (a measurement not taken), each row is drawn as if it had been taken, and its other "
            "fills lean towards the rows that had one. To fill only the columns whose cells were lost, name "
            "them: columns=[...] (fusegen impute --columns a,b); the other gaps then stay, as facts about the row.",
            FusegenWarning,
            stacklevel=3,
        )


def _keep_missing_outside(result, table, kept: list[str], rows) -> None:
    """The missing cells of the ``kept`` columns (those not asked to be filled) come back missing."""
    for column in kept:
        missing = is_missing(np.asarray(table.columns[column], dtype=object))[rows]
        if missing.any():
            values = result[column]
            if pd.api.types.is_integer_dtype(values.dtype):
                values = values.astype("Int64")  # whole numbers with gaps, as sampling gives them
            result[column] = values.mask(pd.Series(missing, index=result.index))


def _hide_unseen_labels(generator, table):
    """``table`` with the observed labels training never saw left empty, and per such column where
    they were and what they hold, to be put back as given after the fill.

    A new store, a new product: a label the model has no id for is a fact about the row that it cannot
    read, as a number far outside the training range is one it reads at the range's edge. Refusing the
    whole table over it lost the other rows' fills; the row's other cells are drawn without it.
    """
    converter = generator.preprocessor_.output
    hidden, unseen = {}, {}
    for column in generator.spec.output.categorical:
        if column not in table.columns:
            continue
        labels, observed = converter.given_labels(table, column)
        known = [str(label) for label in converter.vocabularies[column] if label != MISSING]
        cells = observed & ~np.isin(labels, known)
        if not cells.any():
            continue
        raw = np.asarray(table.columns[column], dtype=object)
        unseen[column] = (cells, raw.copy())
        hidden[column] = np.where(cells, None, raw)
        examples = sorted({str(label) for label in labels[cells]})
        warnings.warn(
            f"column '{column}' holds {len(examples)} label(s) never seen in training in {int(cells.sum())} "
            f"observed cell(s) ({examples[:5]}{' ...' if len(examples) > 5 else ''}); they are kept as given, "
            "not imputed, and do not condition their rows' other cells (the model has no id for them).",
            FusegenWarning,
            stacklevel=3,
        )
    return (table.with_columns(hidden) if hidden else table), unseen


def _keep_observed_text(result, table, output, rows) -> None:
    """Text in a numeric column that the model reads as missing (``<5`` among hours of sleep, a
    typo) comes back as given, with a warning: it is an observed cell, and filling it would
    overwrite the user's data. The model saw no value there, so the row's other cells were drawn
    without it."""
    for column in output.numeric:
        if column in output.datetime or column not in table.columns:
            continue
        raw = np.asarray(table.columns[column], dtype=object)
        text = text_among_numbers(raw)
        if not text.any():
            continue
        examples = sorted({str(value) for value in raw[text]})
        warnings.warn(
            f"column '{column}' holds text in {int(text.sum())} observed cell(s) ({examples[:5]}), which "
            "this generator reads as missing values; they are kept as given, not imputed, and did not "
            "condition their rows' other cells.",
            FusegenWarning,
            stacklevel=3,
        )
        kept = text[rows]
        merged = result[column].astype(object).to_numpy(copy=True)
        merged[kept] = raw[rows][kept]
        result[column] = merged


def _expected_cells(draws, converter, rows: int, per_row: int):
    """One row per input row from ``draws`` (``per_row`` consecutive draws each): each record column's
    centre over its draws, at the column's own decimals (``converter``'s, a `RecordConverter`). An
    observed cell is the same in every draw, so it comes back as given."""
    output = converter.spec
    result = draws.iloc[::per_row].reset_index(drop=True)
    for column in output.data_numeric():
        values = draws[column].to_numpy()
        dtype = draws[column].dtype
        if column in output.datetime:
            # The lower median draw: a date the model drew, where a mean could fall between two days.
            middle = np.sort(values.reshape(rows, per_row), axis=1)[:, (per_row - 1) // 2]
            result[column] = middle
            continue
        block = values.astype(float).reshape(rows, per_row)
        # An observed cell is the same in every draw; its mean could differ from it in the last bit.
        mean = np.where(block.min(axis=1) == block.max(axis=1), block[:, 0], block.mean(axis=1))
        if column in output.integer or pd.api.types.is_integer_dtype(dtype):
            # Whole numbers stay whole, in the type sampling gives them (int64, or Int64 where nullable).
            result[column] = pd.Series(np.round(mean)).astype(dtype).to_numpy()
            continue
        decimals = converter.numeric_state[column].get("decimals")
        # Times recorded to the hundredth come back so, not as 889.8385000000001.
        result[column] = np.round(mean, decimals) if decimals is not None else mean
    owner = np.repeat(np.arange(rows), per_row)
    for column in output.categorical:
        codes, labels = pd.factorize(draws[column], use_na_sentinel=False)
        counts = np.zeros((rows, len(labels)), dtype=np.int32)
        np.add.at(counts, (owner, codes), 1)
        # The most frequent draw; a tie goes to the label drawn first, which keeps a seed's result fixed.
        result[column] = np.asarray(labels, dtype=object)[counts.argmax(axis=1)]
    return result


def filled_cells(generator, data, filled, num_imputations: int = 1) -> tuple[dict[str, int], dict[str, int]]:
    """Per record column, the cells of ``data`` that ``filled`` (what `impute` returned for it) filled,
    and those it left empty, each counted once per row (over its ``num_imputations``, on average).

    A cell stays empty where it was not asked for, or where its column is looked up from another
    whose label has it missing (``output.determined_by``)."""
    table = generator._as_table(data)
    rows = np.repeat(np.arange(table.num_rows), num_imputations)
    done, empty = {}, {}
    for column in record_columns(generator.spec.output):
        if column not in table.columns or column not in filled.columns:
            continue
        lacking = is_missing(np.asarray(table.columns[column], dtype=object))[rows]
        still = is_missing(filled[column].astype(object).to_numpy())
        done[column] = round(int((lacking & ~still).sum()) / num_imputations)
        empty[column] = round(int((lacking & still).sum()) / num_imputations)
    return done, empty


def _input_columns(spec, name: str) -> list[str]:
    part = spec.inputs[name]
    return part.columns if getattr(part, "columns", None) else [spec.input_column(name)]
