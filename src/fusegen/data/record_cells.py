"""A record's own cells as conditions: the user's values -> model space, and back into a result.

`given_cells` turns the columns of a table that a user gives (for
``sample()`` conditions or the observed cells of ``impute()``) into what a
generator with ``conditioning.any_column`` takes beside its inputs
(`fusegen.objectives.record_conditioning`): per row, the model-space record
(numeric columns, then one-hot blocks) and one 0/1 flag per feature. A
missing cell is not given: it stays hidden, and is generated.
`given_values` gives the same cells in the record's own types, so a result
returns every given cell exactly as it was given.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from fusegen.data.checks import known_labels_text
from fusegen.data.records import MISSING, RecordConverter, _user_numbers, on_times_of_day, tf_model_numbers
from fusegen.data.sources import Table
from fusegen.errors import DataError


def record_features(spec) -> list[str]:
    """The features a record's cells are shown or hidden by: numeric columns, then categorical parts."""
    return list(spec.numeric) + spec.categorical_parts()


def record_columns(spec) -> list[str]:
    """The record's columns, as a user names them (not the differences computed from them)."""
    return spec.data_columns()


#: Added to a ruled-out label's logit: its probability becomes 0.
EXCLUDED_LOGIT = -1e9


def given_cells(
    converter: RecordConverter,
    table: Table,
    columns: list[str],
    values_present: bool | Collection[str] = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells of ``columns`` in ``table`` as model-space values and visibility flags.

    Args:
        converter: the fitted record converter.
        table: the user's rows.
        columns: the record columns of ``table`` that condition.
        values_present: imputation: True, or the columns to fill. A missing
            cell of such a nullable column is generated as a value, not as
            missing again: a numeric column's missing indicator is shown as
            "present", and a categorical column's missing label is ruled
            out. A missing cell of the other nullable columns is shown as
            missing, a fact about the row (a measurement never taken), so
            the cells filled are drawn given it.

    Returns:
        ``(values, visible, excluded)``: float32 arrays (rows, model-space
        width), (rows, features) and (rows, categorical logits), the last
        `EXCLUDED_LOGIT` for each label ruled out and 0 elsewhere.

    Raises:
        DataError: a label the record never had in training, naming the
            column, the labels and the known ones.
    """
    spec = converter.spec
    features = record_features(spec)
    sizes = [1] * len(spec.numeric) + [
        len(converter.vocabularies[part]) if part in spec.categorical else 2
        for part in spec.categorical_parts()
    ]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    rows = table.num_rows
    values = np.zeros((rows, int(offsets[-1])), "float32")
    visible = np.zeros((rows, len(features)), "float32")
    excluded = np.zeros((rows, int(offsets[-1] - offsets[len(spec.numeric)])), "float32")
    imputing = values_present is not False
    fill = set(columns) if values_present is True else set(values_present or ())
    for column in columns:
        if column in spec.numeric:
            numbers = converter._numeric_values(table, column, text_as_missing=True)
            observed = np.isfinite(numbers)
            state = converter.numeric_state[column]
            filled = np.where(observed, numbers, state["fill"])
            index = features.index(column)
            values[:, offsets[index]] = np.where(observed, converter._forward(column, filled), 0.0)
            visible[:, index] = observed
            if column in spec.nullable:
                indicator = features.index(f"{column}_is_missing")
                shown = np.ones(rows, bool) if imputing else observed
                present = observed | (column in fill)
                values[shown & present, offsets[indicator]] = 1.0  # id 0: present
                values[shown & ~present, offsets[indicator] + 1] = 1.0  # id 1: missing, as given
                visible[:, indicator] = shown
                flag = offsets[indicator] - offsets[len(spec.numeric)]
                if column in fill:  # and the indicator's draw is "present" too
                    excluded[~observed, flag + 1] = EXCLUDED_LOGIT
                # A given cell's own draw is thrown away, but the columns missing with it
                # (output.missing_together) copy its flag: the flag says what was given.
                excluded[observed, flag + 1] = EXCLUDED_LOGIT
                if imputing and column not in fill:
                    excluded[~observed, flag] = EXCLUDED_LOGIT
        else:
            labels, observed = converter.given_labels(table, column)
            vocabulary = [str(label) for label in converter.vocabularies[column] if label != MISSING]
            unknown = sorted(set(labels[observed]) - set(vocabulary))
            if unknown:
                first = int(np.flatnonzero(observed & np.isin(labels, unknown))[0])
                raise DataError(
                    f"column '{column}' (categorical) of {table.origin} holds {unknown[:5]}, never seen in "
                    f"training, the first in {table.row_label(first)}; {known_labels_text(vocabulary, unknown)}.",
                    hint="use a known label, or leave the cell empty to have it generated.",
                )
            lookup = {label: position for position, label in enumerate(converter.vocabularies[column])}
            index = features.index(column)
            for row in np.flatnonzero(observed):
                values[row, offsets[index] + lookup[labels[row]]] = 1.0
            visible[:, index] = observed
            if column in {*spec.determined_by.values(), *spec.gaps_follow.values()}:
                # A given cell's own draw is thrown away, but the columns it determines are looked
                # up from that draw (sub_grade E1 given, grade drawn C), and the gaps that follow it
                # follow that draw: the draw is the given label.
                start = offsets[index] - offsets[len(spec.numeric)]
                for row in np.flatnonzero(observed):
                    others = np.arange(len(lookup)) != lookup[labels[row]]
                    excluded[row, start + np.flatnonzero(others)] = EXCLUDED_LOGIT
            if imputing and MISSING in lookup:
                if column in fill:
                    label = offsets[index] - offsets[len(spec.numeric)] + lookup[MISSING]
                    excluded[~observed, label] = EXCLUDED_LOGIT
                else:  # left missing: shown as the missing label training learned
                    values[~observed, offsets[index] + lookup[MISSING]] = 1.0
                    visible[:, index] = 1.0
    for column, by in spec.determined_by.items():
        if column in columns:
            _confine_determining_labels(converter, table, column, by, visible, excluded, offsets, features)
    for column, by in spec.gaps_follow.items():
        if column in columns:
            # A cell given, or one to fill, is no gap: the column it follows draws no label it is a gap beside.
            present = ~converter.missing_cells(table, column) | (column in fill)
            _rule_out_gap_labels(converter, column, by, present, visible, excluded, offsets, features)
    return values, visible, excluded


def _rule_out_gap_labels(converter, column, by, present, visible, excluded, offsets, features) -> None:
    """Where ``column`` has a value and ``by`` is drawn, rule out the labels of ``by`` beside which
    ``column`` is always missing (``output.gaps_follow``): a weight given, no species never weighed."""
    gaps = set(converter.gap_labels.get(column, []))
    ruled_out = [index for index, label in enumerate(converter.vocabularies[by]) if str(label) in gaps]
    drawn = np.flatnonzero(present & (visible[:, features.index(by)] == 0))
    if ruled_out and drawn.size:
        start = offsets[features.index(by)] - offsets[len(converter.spec.numeric)]
        excluded[np.ix_(drawn, start + np.array(ruled_out))] = EXCLUDED_LOGIT


def _confine_determining_labels(converter, table, column, by, visible, excluded, offsets, features) -> None:
    """Where ``column`` is given and ``by``, which determines it, is drawn, rule out the labels of ``by``
    that never had the given label (operator SOUTHWEST AIRLINES: opid SWA, not USA), so the label
    looked up from the draw is the one given."""
    labels, observed = converter.given_labels(table, column)
    drawn = observed & (visible[:, features.index(by)] == 0)
    if not drawn.any():
        return
    lookup = converter.lookups.get(column, {})
    vocabulary = [str(label) for label in converter.vocabularies[by]]
    start = offsets[features.index(by)] - offsets[len(converter.spec.numeric)]
    for label in set(labels[drawn]):
        allowed = np.array([lookup.get(key) == label for key in vocabulary])
        if allowed.any():  # a label only ever seen beside a missing one is left to the draw
            rows = np.flatnonzero(drawn & (labels == label))
            excluded[np.ix_(rows, start + np.flatnonzero(~allowed))] = EXCLUDED_LOGIT
            # Even a gap that imputation rules out: MplsStops' MDC 'other' is looked up from no
            # personSearch only, so given 'other' the search stays a gap (it was filled YES or NO).
            excluded[np.ix_(rows, start + np.flatnonzero(allowed))] = 0.0


def tf_given_cells(converter: RecordConverter, cells: dict, batch):
    """`given_cells` in TensorFlow, for the SavedModel (`fusegen.export`), without imputation.

    Args:
        converter: the fitted record converter.
        cells: record column -> its given cells, one per row: numbers (in the
            data's units) for a numeric column, labels (strings) for a
            categorical one. NaN, an empty label or one training never saw
            leaves the cell hidden, to be generated; so does a datetime
            column, or a number of a run fitted before 0.6.0.
        batch: the number of rows.

    Returns:
        ``(values, visible, excluded, observed)``: the three tensors
        `given_cells` returns, and per column of ``cells`` a boolean tensor,
        true where its cell was given.
    """
    import tensorflow as tf

    spec = converter.spec
    features = record_features(spec)
    numeric = len(spec.numeric)
    sizes = [1] * numeric + [
        len(converter.vocabularies[part]) if part in spec.categorical else 2
        for part in spec.categorical_parts()
    ]
    blocks = [tf.zeros((batch, size)) for size in sizes]
    shown = [tf.zeros((batch,)) for _ in features]
    excluded = [tf.zeros((batch, size)) for size in sizes[numeric:]]
    observed, one_hots = {}, {}
    for column, given in cells.items():
        index = features.index(column)
        if column in spec.numeric:
            numbers = tf.cast(given, tf.float64)
            present = tf.math.is_finite(numbers)
            model = tf_model_numbers(tf.where(present, numbers, 0.0), converter.numeric_state[column])
            if model is None or column in spec.datetime:
                continue
            flag = tf.cast(present, tf.float32)
            blocks[index] = tf.cast(tf.where(present, model, 0.0), tf.float32)[:, None]
            if column in spec.nullable:
                indicator = features.index(f"{column}_is_missing")
                blocks[indicator] = tf.stack([flag, tf.zeros_like(flag)], axis=1)  # id 0: present
                shown[indicator] = flag
                # As `given_cells`: the columns missing with it copy the flag, so its draw is "present".
                excluded[indicator - numeric] = tf.stack([tf.zeros_like(flag), flag * EXCLUDED_LOGIT], axis=1)
        else:
            vocabulary = [str(label) for label in converter.vocabularies[column]]
            known = tf.constant([label != MISSING for label in vocabulary])
            one_hot = tf.equal(tf.reshape(given, (-1, 1)), tf.constant(vocabulary)[None, :]) & known[None, :]
            one_hots[column] = tf.cast(one_hot, tf.float32)
            present = tf.reduce_any(one_hot, axis=1)
            flag = tf.cast(present, tf.float32)
            blocks[index] = one_hots[column]
            if column in {*spec.determined_by.values(), *spec.gaps_follow.values()}:
                # The given label is the draw the columns it determines (and the gaps after it) follow.
                excluded[index - numeric] = (1.0 - one_hots[column]) * flag[:, None] * EXCLUDED_LOGIT
        shown[index] = flag
        observed[column] = present
    for column, by in spec.determined_by.items():
        if column not in one_hots:
            continue
        # As `_confine_determining_labels`: a drawn ``by`` takes only the labels that look up the given one.
        lookup = converter.lookups.get(column, {})
        allowed = np.array(
            [[lookup.get(str(key)) == str(label) for key in converter.vocabularies[by]]
             for label in converter.vocabularies[column]], "float32",
        )  # fmt: skip
        row_allowed = tf.matmul(one_hots[column], tf.constant(allowed))
        by_index = features.index(by)
        drawn = observed[column] & (shown[by_index] == 0) & tf.reduce_any(row_allowed > 0, axis=1)
        ruled_out = tf.cast(drawn[:, None] & (row_allowed == 0), tf.float32) * EXCLUDED_LOGIT
        excluded[by_index - numeric] = excluded[by_index - numeric] + ruled_out
    values = tf.concat(blocks, axis=1)
    visible = tf.stack(shown, axis=1)
    excluded = tf.concat(excluded, axis=1) if excluded else tf.zeros((batch, 0))
    return values, visible, excluded, observed


def given_values(converter: RecordConverter, table: Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Column ``column``'s given cells in the record's own types (as ``inverse`` returns them), and
    where they are given (not missing)."""
    spec = converter.spec
    if column in spec.categorical:
        labels, observed = converter.given_labels(table, column)
        if column in converter.number_labels:  # sampled back as numbers: given back as numbers too
            import pandas as pd

            labels = np.asarray(
                pd.to_numeric(pd.Series(labels).where(observed), errors="coerce"), dtype=object
            )
        return labels, observed
    numbers = converter._numeric_values(table, column, text_as_missing=True)
    observed = np.isfinite(numbers)
    typed = _user_numbers(numbers, converter.numeric_state[column], column in spec.datetime, ~observed)
    return np.asarray(typed, dtype=object), observed


def out_of_range(converter: RecordConverter, table: Table, columns: list[str], margin: float) -> list[str]:
    """A problem per numeric column of ``columns`` with given values beyond its training range
    (widened by ``margin`` of its width on either side)."""
    problems = []
    for column in columns:
        if column not in converter.spec.numeric:
            continue
        numbers = converter._numeric_values(table, column, text_as_missing=True)
        state = converter.numeric_state[column]
        low, high = state["low"], state["high"]
        slack = margin * (high - low)
        given = numbers[np.isfinite(numbers)]
        outside = given[(given < low - slack) | (given > high + slack)]
        if outside.size:
            shown = in_data_units(converter, column, outside[:3])
            bounds = in_data_units(converter, column, [low, high])
            problems.append(
                f"column '{column}' is given {', '.join(shown)}, outside its training range "
                f"[{bounds[0]}, {bounds[1]}]"
            )
    return problems


def in_data_units(converter: RecordConverter, column: str, numbers) -> list[str]:
    """Numbers of numeric column ``column`` as the data writes them: a datetime column's seconds as
    dates (times only where there are any), others as numbers."""
    if column in converter.spec.datetime:
        moments = pd.to_datetime(np.round(np.asarray(numbers, "float64")), unit="s")
        timed = any(moment != moment.normalize() for moment in moments)
        return [str(moment) if timed else str(moment.date()) for moment in moments]
    return [f"{float(number):g}" for number in numbers]


def draw_in_range(converter: RecordConverter, column: str, low: float, high: float, count: int, rng):
    """``count`` values of numeric column ``column`` in [low, high], distributed as its training values
    there (through its fitted quantiles); uniformly where it was standardised instead, or where no
    training value lies in the range."""
    state = converter.numeric_state[column]
    quantiles = np.asarray(state.get("quantiles", []), "float64")
    # A column of whole numbers (or of a step, or decimals) draws over each point's half-step either
    # side, so the range's end points get their share: at [80, 82] an age's 80 had come back 4 times
    # in 300, as the quantiles' plateau of 80s lay below the range's low end, which they share.
    step = _resolution(state)
    inner_low, inner_high = low, high
    if step and np.ceil(low / step - 1e-9) <= np.floor(high / step + 1e-9):
        inner_low = np.ceil(low / step - 1e-9) * step - step / 2
        inner_high = np.floor(high / step + 1e-9) * step + step / 2
    elif step and (state.get("integer") or state.get("step")) and column not in converter.spec.datetime:
        # Nothing at the column's resolution lies in the range: a draw would be a value it never holds.
        unit = "whole number" if state.get("integer") and not state.get("step") else f"multiple of {step:g}"
        below, above = np.floor(low / step) * step, np.ceil(high / step) * step
        raise DataError(
            f"the range for '{column}', [{low:g}, {high:g}], holds no {unit}, and '{column}' holds only "
            f"{unit}s in training.",
            hint=f"widen it to take one in, such as {column}={below:g}:{above:g}.",
        )
    values = np.asarray(state.get("values", []), "float64")
    inside = (values >= low) & (values <= high)
    if inside.any():
        # A column of few values draws among those in the range, each at its share of the training
        # rows: interpolated quantiles would put some draws on values the column never takes.
        counts = np.asarray(state["value_counts"], "float64")[inside]
        return rng.choice(values[inside], size=count, p=counts / counts.sum())
    if not quantiles.size or inner_high < quantiles[0] or inner_low > quantiles[-1]:
        # Standardised, or a range beyond every training value (extrapolation asked for): uniformly.
        drawn = at_resolution(state, rng.uniform(inner_low, inner_high, count), low, high)
        return _at_times_of_day(state, drawn, low, high)
    levels = np.linspace(0.0, 1.0, len(quantiles))
    bottom, top = np.interp([inner_low, inner_high], quantiles, levels)
    drawn = np.interp(rng.uniform(bottom, top, count), levels, quantiles)
    return _at_times_of_day(
        state, at_resolution(state, np.clip(drawn, inner_low, inner_high), low, high), low, high
    )


def _at_times_of_day(state: dict, seconds: np.ndarray, low: float, high: float) -> np.ndarray:
    """A datetime column's drawn moments at its own times of day, a day earlier or later where that
    keeps them in [low, high]; a moment with no such time in the range stays."""
    if "times_of_day" not in state:
        return seconds
    placed = on_times_of_day(seconds, state)
    placed = np.where(placed > high, placed - 86400.0, placed)
    placed = np.where(placed < low, placed + 86400.0, placed)
    return np.where((placed >= low) & (placed <= high), placed, seconds)


def _resolution(state: dict) -> float | None:
    """The spacing of a numeric column's values: its step, 1 for whole numbers, 10^-decimals; else None."""
    if state.get("step"):
        return float(state["step"])
    if state.get("integer"):
        return 1.0
    if state.get("decimals") is not None:
        return 10.0 ** -state["decimals"]
    return None


def at_resolution(state: dict, values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` at the column's own resolution (whole numbers, its step, its decimals), as sampling
    gives the column back, and still in [low, high]; a value with no such point in the range stays."""
    decimals = state.get("decimals")
    step = _resolution(state)
    if step is None:
        return values
    rounded = np.round(values / step) * step
    rounded = np.where(rounded < low, rounded + step, rounded)
    rounded = np.where(rounded > high, rounded - step, rounded)
    if decimals is not None and not state.get("integer"):
        rounded = np.round(rounded, decimals)  # 4.6, not 4.6000000000000005
    return np.where((rounded >= low) & (rounded <= high), rounded, values)
