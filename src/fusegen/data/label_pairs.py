"""Pairs of labels the training rows rule out (``output.unseen_label_pairs``).

Two categorical parts of a record (categorical columns and the missing flags
of nullable numbers) often rule some pairs of labels out: a Gentoo penguin
is never seen on Dream island, and a share of rented homes of 9 of 9 never
beside owned homes above 0 of 9. A generator that draws each label from its
own distribution given a latent puts some rows on such pairs (7% of
penguins' sampled rows, 35% of caravan's for the two home shares).

A pair counts as ruled out only where chance would have shown it: no
training row has it, yet the two labels' counts put at least
`MIN_EXPECTED_ROWS` rows on it were the columns independent, so that its
absence has a probability under 1%. Sampling draws the parts one after
another, and each leaves out the labels ruled out beside the labels already
drawn or given (`fusegen.objectives.base.Objective.sample_categories`).
"""

from __future__ import annotations

import math

import numpy as np

#: A pair no training row has is ruled out where independent columns would put at least this many
#: rows on it: none of them then has probability e^-4.6, under 1%.
MIN_EXPECTED_ROWS = math.log(100)
#: A determining column repeats each label over this many rows on average, at least: a label seen
#: once fixes any other column by chance (`fusegen init`'s ``output.determined_by``, and the pairs
#: of two columns that fix one looked up from either).
MIN_ROWS_PER_DETERMINING_LABEL = 5
#: Pairs of parts with more label pairs than this are not checked (their counts would not fit in
#: memory); two columns of 2,000 labels each have 4,000,000.
MAX_LABEL_PAIRS = 4_000_000
#: Sampling holds a table of every label pair of two parts with a pair ruled out, both ways round: at
#: most this many entries in all (64 MB), the smallest grids first, so that a table of many wide
#: columns of thousands of labels keeps the pairs it can afford.
MAX_TABLE_ENTRIES = 16_000_000


def fit_unseen_pairs(
    parts: dict[str, np.ndarray], looked_up: dict[str, np.ndarray] | None = None
) -> list[list]:
    """The label pairs of each two parts that the rows rule out, as ``[part_a, part_b, [[a, b], ...]]``.

    Args:
        parts: per categorical part, in model order, its label on each training row (as text).
        looked_up: per column looked up from a part (``output.determined_by``), its label on each
            training row. Where two parts each fix such a column's label (openintro's cpu: a
            codename and a socket each fix the maker), every pair of their labels that fix two
            different ones is ruled out, however rare the labels: the looked-up column follows one
            of the two, and the other would disagree with it.

    >>> species = np.array(["Gentoo"] * 40 + ["Adelie"] * 40)
    >>> island = np.array(["Biscoe"] * 40 + ["Dream"] * 20 + ["Biscoe"] * 20)
    >>> fit_unseen_pairs({"species": species, "island": island})
    [['species', 'island', [['Gentoo', 'Dream']]]]
    """
    names = list(parts)
    factorized = {
        name: np.unique(np.asarray(labels).astype(str), return_inverse=True) for name, labels in parts.items()
    }
    rows = len(next(iter(parts.values()))) if parts else 0
    fixes = _fixed_labels(factorized, looked_up or {}, rows)
    found = []
    for index, first in enumerate(names):
        labels_a, codes_a = factorized[first]
        counts_a = np.bincount(codes_a, minlength=len(labels_a))
        for second in names[index + 1 :]:
            labels_b, codes_b = factorized[second]
            if len(labels_a) * len(labels_b) > MAX_LABEL_PAIRS or len(labels_a) < 2 or len(labels_b) < 2:
                continue
            counts_b = np.bincount(codes_b, minlength=len(labels_b))
            seen = np.bincount(codes_a * len(labels_b) + codes_b, minlength=len(labels_a) * len(labels_b))
            expected = np.outer(counts_a, counts_b) / rows
            absent = (seen.reshape(expected.shape) == 0) & (expected >= MIN_EXPECTED_ROWS)
            for column in fixes[first].keys() & fixes[second].keys():
                absent |= fixes[first][column][:, None] != fixes[second][column][None, :]
            positions = np.argwhere(absent)
            if len(positions):
                pairs = [[str(labels_a[a]), str(labels_b[b])] for a, b in positions]
                found.append((len(labels_a) * len(labels_b), [first, second, pairs]))
    unseen, entries = [], 0
    for size, entry in sorted(found, key=lambda item: item[0]):
        # Both ways round, each with a row for "not drawn yet".
        entries += 2 * size + len(factorized[entry[0]][0]) + len(factorized[entry[1]][0])
        if entries > MAX_TABLE_ENTRIES:
            break
        unseen.append(entry)
    return sorted(unseen, key=lambda entry: (names.index(entry[0]), names.index(entry[1])))


def _fixed_labels(factorized: dict, looked_up: dict[str, np.ndarray], rows: int) -> dict[str, dict]:
    """Per part, per looked-up column whose label each of the part's labels fixes on the rows (each
    repeated over `MIN_ROWS_PER_DETERMINING_LABEL` rows on average), the fixed label's id per label."""
    fixes = {name: {} for name in factorized}
    for column, values in looked_up.items():
        targets = np.unique(np.asarray(values).astype(str), return_inverse=True)[1]
        for name, (labels, codes) in factorized.items():
            if len(labels) < 2 or rows < MIN_ROWS_PER_DETERMINING_LABEL * len(labels):
                continue
            pairs = np.unique(np.stack([codes, targets]), axis=1)
            if pairs.shape[1] == len(labels):  # each label beside one label of the looked-up column
                fixed = np.empty(len(labels), "int64")
                fixed[pairs[0]] = pairs[1]
                fixes[name][column] = fixed
    return fixes


def unseen_pair_ids(unseen: list[list], vocabularies: dict[str, list]) -> dict[tuple[str, str], np.ndarray]:
    """``fit_unseen_pairs``' pairs as label ids (rows of ``[id_a, id_b]``) per ``(part_a, part_b)``.

    ``vocabularies`` gives each part's labels in id order; a part missing from it (a nullable
    number's missing flag) has ids 0 and 1 for its labels '0' and '1'. Labels no longer in a
    vocabulary are left out.
    """
    ids = {}
    for first, second, pairs in unseen:
        position = [_positions(vocabularies.get(part)) for part in (first, second)]
        found = [
            (position[0].get(a), position[1].get(b))
            for a, b in pairs
            if a in position[0] and b in position[1]
        ]
        if found:
            ids[(first, second)] = np.array(found, dtype="int64")
    return ids


def _positions(vocabulary) -> dict[str, int]:
    labels = ["0", "1"] if vocabulary is None else [str(label) for label in vocabulary]
    return {label: index for index, label in enumerate(labels)}


def frame_part_labels(frame, categorical: list[str], nullable_numeric: list[str]) -> dict[str, np.ndarray]:
    """A DataFrame's categorical parts as text, as `fit_unseen_pairs` reads them: each categorical
    column's labels (a gap as the missing label, a whole number as one: 3, not 3.0) and each nullable
    number's missing flag ('1' where missing)."""
    import pandas as pd

    from fusegen.data.checks import is_missing
    from fusegen.data.records import MISSING

    parts = {}
    for column in categorical:
        values = frame[column].to_numpy(object)
        text = pd.Series(values).map(_label_text).to_numpy(object)
        parts[column] = np.where(is_missing(values), MISSING, text)
    for column in nullable_numeric:
        parts[f"{column}_is_missing"] = pd.isna(frame[column]).astype(int).astype(str).to_numpy(object)
    return parts


def rows_with_unseen_pairs(parts: dict[str, np.ndarray], unseen: list[list]) -> tuple[np.ndarray, dict]:
    """Which rows hold a pair of ``unseen`` (from `fit_unseen_pairs`), and each column pair's share of rows."""
    rows = len(next(iter(parts.values()))) if parts else 0
    holding, shares = np.zeros(rows, bool), {}
    for first, second, pairs in unseen:
        if first not in parts or second not in parts:
            continue
        ruled_out = {(a, b) for a, b in pairs}
        hits = np.array([pair in ruled_out for pair in zip(parts[first], parts[second], strict=True)], bool)
        shares[(first, second)] = float(hits.mean()) if rows else 0.0
        holding |= hits
    return holding, shares


def _label_text(value) -> str:
    """A cell as the label `RecordConverter` reads it: a whole number read as a float loses its '.0'."""
    from fusegen.data.records import _number_label

    if isinstance(value, float | np.floating) and np.isfinite(value):
        return str(_number_label(value))
    return str(value)
