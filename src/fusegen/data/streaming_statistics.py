"""The running statistics of a streamed fit: exact over every training row, in bounded memory.

Means and scales are merged batch by batch (Chan, Golub and LeVeque's
parallel variance), minima, maxima and resolutions are exact, labels are
counted (capped at `MAX_DISTINCT_LABELS` per column), and what needs the
values themselves comes from a uniform `Reservoir` sample, save the
quantiles of a record's numeric columns: exact from counted values when a
column has few distinct ones (`_ValueCounts`), else the sample's within
the distribution and exact at its tails, from each column's smallest and
largest values (`_Tails`). Image files are decoded and checked, none kept
(`fusegen.data.streamed_images.ImageCheck`). Each statistic overwrites its
part of a converter's state fitted on that sample
(`fusegen.data.streaming.fit_streaming`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from fusegen.data.checks import MISSING_LABEL, as_labels, check_finite, is_missing
from fusegen.data.image_converters import ImageConverter, ImageOutputConverter
from fusegen.data.missing import imputes
from fusegen.data.numeric_converters import NumericConverter, VectorOutputConverter
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.records import RecordConverter, _decimals, _time_step
from fusegen.data.streamed_images import ImageCheck
from fusegen.data.table import Table
from fusegen.data.vocabulary_converters import CategoricalConverter
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec

#: Distinct labels a categorical column may have when streamed; counting more would not stay bounded.
MAX_DISTINCT_LABELS = 100_000
#: Distinct values of a record's numeric column counted exactly (its quantiles then exact too); past
#: that many its quantiles come from the sample and the exact tails.
MAX_COUNTED_VALUES = 10_000


def statistics_of(spec: GeneratorSpec, preprocessor: Preprocessor, tail_rows: int) -> dict[str, Any]:
    """The exact running statistics of each part that has any (a text input has only its sample).

    ``tail_rows``: the smallest and the largest values kept of each numeric
    column of a record, for its quantiles' tails (see `_Tails`).
    """
    statistics: dict[str, Any] = {}
    for name, converter in preprocessor.inputs.items():
        column = spec.input_column(name)
        if isinstance(converter, ImageConverter):
            statistics[name] = ImageCheck(converter, column)
        elif isinstance(converter, NumericConverter):
            statistics[name] = _NumericStatistics(converter, column, ("inputs", name))
        elif isinstance(converter, CategoricalConverter) and converter.spec.vocabulary is None:
            statistics[name] = _LabelStatistics(converter, column, ("inputs", name))
    output = preprocessor.output
    if isinstance(output, RecordConverter):
        statistics[spec.output.name] = _RecordStatistics(output, tail_rows)
    elif isinstance(output, VectorOutputConverter):
        statistics[spec.output.name] = _VectorStatistics(output, spec.output_column())
    elif isinstance(output, ImageOutputConverter):
        statistics[spec.output.name] = ImageCheck(output, spec.output_column())
    return statistics


def with_values_seen(sample: Table, statistics: dict[str, Any]) -> Table:
    """``sample`` with a record's numeric columns that it holds no value of given values the pass saw
    (`_RecordStatistics.with_values_in`), so that fitting on it cannot fail for want of them."""
    for statistic in statistics.values():
        if isinstance(statistic, _RecordStatistics):
            sample = statistic.with_values_in(sample)
    return sample


class _Moments:
    """Count, mean, sum of squared deviations, minimum and maximum per feature, over the finite values.

    Batches merge as Chan, Golub and LeVeque's parallel variance, in float64,
    so the result matches a two-pass computation over all rows.
    """

    def __init__(self):
        self.count = self.mean = self.squares = self.low = self.high = None

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, "float64").reshape(len(values), -1)
        finite = np.isfinite(values)
        count = finite.sum(axis=0)
        present = np.where(finite, values, 0.0)
        mean = present.sum(axis=0) / np.maximum(count, 1)
        squares = np.where(finite, np.square(values - mean), 0.0).sum(axis=0)
        low = np.where(finite, values, np.inf).min(axis=0)
        high = np.where(finite, values, -np.inf).max(axis=0)
        if self.count is None:
            self.count, self.mean, self.squares, self.low, self.high = count, mean, squares, low, high
            return
        total = self.count + count
        delta = mean - self.mean
        safe_total = np.maximum(total, 1)
        self.squares = self.squares + squares + np.square(delta) * self.count * count / safe_total
        self.mean = self.mean + delta * count / safe_total
        self.count = total
        self.low, self.high = np.minimum(self.low, low), np.maximum(self.high, high)

    def with_fill(self, fill: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and population std once ``missing`` values per feature are filled with ``fill``."""
        fill = np.asarray(fill, "float64")
        total = self.count + missing
        mean = (self.count * self.mean + missing * fill) / total
        squares = self.squares + self.count * np.square(self.mean - mean) + missing * np.square(fill - mean)
        return mean, np.sqrt(squares / total)


def _scale(std: np.ndarray) -> list[float]:
    """As `fusegen.data.numeric_converters._Standardiser`: a constant feature keeps its scale."""
    return np.where((std > 1e-8) & np.isfinite(std), std, 1.0).astype("float32").tolist()


class _NumericStatistics:
    """A numeric input: mean and std (after the fill), and its training range."""

    def __init__(self, converter: NumericConverter, column: str, key: tuple[str, str]):
        self.converter, self.column, self.key = converter, column, key
        self.moments = _Moments()
        self.missing = 0
        self.rows = 0

    def add(self, table: Table, train: np.ndarray) -> None:
        raw = self.converter._raw(table, self.column)
        missing = np.isnan(raw)
        # Infinity is never imputed: the converter's own check names its row.
        check_finite(np.where(missing, 0.0, raw), self.converter.where, table)
        if train.any():
            self.moments.add(raw[train])
            self.missing = self.missing + missing[train].reshape(int(train.sum()), -1).sum(axis=0)
            self.rows += int(train.sum())

    def update(self, state: dict) -> None:
        part = state[self.key[0]][self.key[1]]
        moments = self.moments
        if imputes(self.converter.spec) and self.converter.spec.impute_with != "median":
            part["fill"] = moments.mean.astype("float32").tolist()
        fill = part.get("fill", np.zeros_like(moments.mean))
        mean, std = moments.with_fill(fill, np.asarray(self.missing, "float64"))
        part.update(mean=mean.astype("float32").tolist(), std=_scale(std))
        part.update(low=moments.low.tolist(), high=moments.high.tolist())

    def describe(self, sample_rows: int) -> list[str]:
        lines = [f"mean, scale and range: {self.rows:,} training rows"]
        if imputes(self.converter.spec) and self.converter.spec.impute_with == "median":
            lines.append(f"median (the fill): the sample of {sample_rows:,} training rows")
        return lines


class _VectorStatistics:
    """A vector output: mean and std per feature."""

    def __init__(self, converter: VectorOutputConverter, column: str):
        self.converter, self.column = converter, column
        self.moments = _Moments()
        self.rows = 0

    def add(self, table: Table, train: np.ndarray) -> None:
        values = self.converter._values(table, self.column)
        if train.any():
            self.moments.add(values[train])
            self.rows += int(train.sum())

    def update(self, state: dict) -> None:
        mean, std = self.moments.with_fill(np.zeros_like(self.moments.mean), 0)
        state["output"].update(mean=mean.astype("float32").tolist(), std=_scale(std))

    def describe(self, sample_rows: int) -> list[str]:
        return [f"mean and scale: {self.rows:,} training rows"]


class _LabelCounts:
    """Label counts of one column, refusing more than `MAX_DISTINCT_LABELS` distinct labels."""

    def __init__(self, where: str):
        self.where = where
        self.counts: Counter = Counter()

    def add(self, labels, table: Table) -> None:
        self.counts.update(labels.tolist())
        if len(self.counts) > MAX_DISTINCT_LABELS:
            raise DataError(
                f"{self.where}: more than {MAX_DISTINCT_LABELS:,} distinct labels by {table.origin}; "
                "streamed data counts every label, and a vocabulary that large is no category.",
                hint="treat the column as text or an identifier (leave it out), or give the vocabulary in the spec.",
            )

    def vocabulary(self) -> list[str]:
        # Most frequent first, ties by label, as the in-memory fit orders them.
        return sorted(self.counts, key=lambda label: (-self.counts[label], label))


class _LabelStatistics:
    """A categorical input: the vocabulary over every row, and the most frequent training label as its fill."""

    def __init__(self, converter: CategoricalConverter, column: str, key: tuple[str, str]):
        self.converter, self.column, self.key = converter, column, key
        self.labels = _LabelCounts(converter.where)
        self.present = _LabelCounts(converter.where)
        self.rows = 0

    def add(self, table: Table, train: np.ndarray) -> None:
        where = self.converter.where
        fill = MISSING_LABEL if imputes(self.converter.spec) else None
        values = np.asarray(table.column(self.column, where), dtype=object)
        self.labels.add(as_labels(values, where, table, fill), table)
        self.rows += len(table)
        if fill is not None and self.converter.spec.impute_with == "most_frequent":
            present = values[train & ~is_missing(values)]
            self.present.add(as_labels(present, where), table)

    def update(self, state: dict) -> None:
        part = state[self.key[0]][self.key[1]]
        if self.present.counts:
            # Missing labels were counted as [MISSING]; in memory they are filled before counting.
            part["fill"] = self.present.vocabulary()[0]
            self.labels.counts[part["fill"]] += self.labels.counts.pop(MISSING_LABEL, 0)
        part["vocabulary"] = self.labels.vocabulary()

    def describe(self, sample_rows: int) -> list[str]:
        labels = len(self.labels.counts)
        lines = [f"vocabulary ({labels:,} labels): counted over {self.rows:,} rows, both splits"]
        if self.present.counts:
            present = sum(self.present.counts.values())
            lines.append(f"most frequent label (the fill): {present:,} training rows")
        return lines


class _RecordStatistics:
    """A record output: per numeric column its range, resolution and moments; per categorical one its labels."""

    def __init__(self, converter: RecordConverter, tail_rows: int):
        self.converter = converter
        spec = converter.spec
        self.moments = {name: _Moments() for name in spec.numeric}
        self.tails = {name: _Tails(tail_rows) for name in spec.numeric}
        self.counted = {name: _ValueCounts(MAX_COUNTED_VALUES) for name in spec.numeric}
        self.whole = dict.fromkeys(spec.numeric, True)
        self.decimals: dict[str, int | None] = dict.fromkeys(spec.numeric, 0)
        self.steps: dict[str, float | None] = dict.fromkeys(spec.numeric, 86400.0)
        self.labels = {
            name: _LabelCounts(converter._column_where(name))
            for name in spec.categorical
            if name not in spec.vocabularies
        }
        self.rows = self.labelled_rows = 0

    def add(self, table: Table, train: np.ndarray) -> None:
        converter, spec = self.converter, self.converter.spec
        for name, counts in self.labels.items():
            counts.add(converter._labels(table, name), table)
        self.labelled_rows += len(table)
        self.rows += int(train.sum())
        for name in spec.numeric:
            values = converter._numeric_values(table, name)
            if name not in spec.nullable:
                check_finite(values, converter._column_where(name), table)
            present = values[train & np.isfinite(values)]
            if not present.size:
                continue
            self.moments[name].add(present[:, None])
            self.tails[name].add(present)
            self.counted[name].add(present)
            self.whole[name] &= bool(np.all(present == np.round(present)))
            if name in spec.datetime:
                step = _time_step(present)
                self.steps[name] = (
                    None if step is None or self.steps[name] is None else min(step, self.steps[name])
                )
            else:
                decimals = _decimals(present)
                known = decimals is not None and self.decimals[name] is not None
                self.decimals[name] = max(decimals, self.decimals[name]) if known else None

    def with_values_in(self, sample: Table) -> Table:
        """``sample`` with each numeric column it holds no value of given some the pass saw.

        A sparse nullable column (a rebate on a few rows in millions) can miss
        a uniform sample that the first fit needs values from: its missing
        cells take those the tails kept. `update`'s exact statistics replace
        that fit's. A datetime column is left as it is (its cells are text).
        """
        columns = {}
        for name in self.converter.spec.numeric:
            moments, tails = self.moments[name], self.tails[name]
            if moments.count is None or name in self.converter.spec.datetime:
                continue
            values = self.converter._numeric_values(sample, name)
            if np.isfinite(values).any():
                continue
            every = int(moments.count[0]) <= tails.size  # then both tails hold every value
            kept = (tails.lowest if every else np.concatenate([tails.lowest, tails.highest]))[: len(values)]
            columns[name] = np.concatenate([kept, values[len(kept) :]])
        return sample.with_columns(columns) if columns else sample

    def update(self, state: dict) -> None:
        spec = self.converter.spec
        numeric = state["output"]["numeric"]
        for name, moments in self.moments.items():
            if moments.count is None:
                raise DataError(
                    f"{self.converter._column_where(name)}: every value is missing; nothing to learn from."
                )
            part = numeric[name]
            part.update(low=float(moments.low[0]), high=float(moments.high[0]))
            part["integer"] = bool(name in spec.integer or (name not in spec.datetime and self.whole[name]))
            if name in spec.datetime:
                part["step"] = self.steps[name]
            else:
                part["decimals"] = self.decimals[name]
            if "mean" in part:
                part.update(
                    mean=float(moments.mean[0]),
                    std=float(np.sqrt(moments.squares[0] / moments.count[0])) or 1.0,
                )
            counted = self.counted[name]
            if "quantiles" in part and counted.values is not None:
                part["quantiles"] = counted.quantiles(np.linspace(0.0, 1.0, len(part["quantiles"]))).tolist()
            elif "quantiles" in part:
                part["quantiles"] = self.tails[name].quantiles(part["quantiles"], int(moments.count[0]))
            if counted.values is not None:
                part["fill"] = float(counted.quantiles(np.array([0.5]))[0])  # the median, as in memory
        for name, counts in self.labels.items():
            state["output"]["vocabularies"][name] = counts.vocabulary()

    def describe(self, sample_rows: int) -> list[str]:
        spec = self.converter.spec
        lines = []
        for name, moments in self.moments.items():
            count = 0 if moments.count is None else int(moments.count[0])
            if spec.numeric_transform == "quantile":
                lines.append(
                    f"{name}: range and resolution: {count:,} training values; quantiles: "
                    + self._quantiles_source(name, count, sample_rows)
                )
            else:
                lines.append(f"{name}: range, resolution, mean and scale: {count:,} training values")
        for name, counts in self.labels.items():
            lines.append(
                f"{name}: vocabulary ({len(counts.counts):,} labels): counted over {self.labelled_rows:,} rows, "
                "both splits"
            )
        lines += [f"{name}: vocabulary given in the spec" for name in spec.vocabularies]
        return lines

    def _quantiles_source(self, name: str, count: int, sample_rows: int) -> str:
        counted, kept = self.counted[name], min(self.tails[name].size, count)
        if counted.values is not None:
            return f"exact, from its {len(counted.values):,} distinct values counted"
        if kept == count:
            return f"exact, from its {count:,} values kept"
        return (
            f"the sample of {sample_rows:,} training rows, the {kept:,} smallest and {kept:,} largest "
            "values exact"
        )


class _ValueCounts:
    """Each distinct value of a column and its count, while there are at most ``limit`` of them.

    A column of few values (counts, ratings, rounded amounts) steps between
    them, and a quantile a sample puts a little off in rank lands a whole
    step off; counted, its quantiles are exact. Past ``limit`` values the
    counts are dropped (``values`` is None).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.values: np.ndarray | None = np.empty(0)
        self.counts = np.empty(0, "int64")

    def add(self, values: np.ndarray) -> None:
        if self.values is None:
            return
        batch, counts = np.unique(values, return_counts=True)
        merged, where = np.unique(np.concatenate([self.values, batch]), return_inverse=True)
        if len(merged) > self.limit:
            self.values = self.counts = None
            return
        self.values = merged
        self.counts = np.bincount(where, np.concatenate([self.counts, counts]), len(merged)).astype("int64")

    def quantiles(self, levels: np.ndarray) -> np.ndarray:
        """The exact quantiles at ``levels``, interpolated between ranks as `numpy.quantile` does."""
        cumulative = np.cumsum(self.counts)
        last = cumulative[-1] - 1
        ranks = np.asarray(levels, "float64") * last
        below = np.floor(ranks)

        def ranked(rank: np.ndarray) -> np.ndarray:
            return self.values[np.searchsorted(cumulative, rank, side="right")]

        low, high = ranked(below), ranked(np.minimum(below + 1, last))
        return low + (ranks - below) * (high - low)


class _Tails:
    """The ``size`` smallest and the ``size`` largest values of a column, exactly, for its extreme quantiles.

    A uniform sample of n rows is accurate within a distribution but not at
    its edges: at level p a quantile's rank errs by about sqrt(p(1 - p) / n)
    of the rows, which near the edges is large against p itself, and it
    misses the extremes altogether (a 100,000-row sample of a million normal
    values stops some 0.5 standard deviations short of each, 5% of the
    range). The levels whose rank falls within the kept values are exact
    instead, the levels 0 and 1 (the minimum and maximum) always.
    """

    def __init__(self, size: int):
        self.size = max(2, size)
        self.lowest = self.highest = np.empty(0)

    def add(self, values: np.ndarray) -> None:
        if len(self.lowest) == self.size:
            # Only a value beyond the kept ones can enter: most batches add none.
            low, high = values[values < self.lowest.max()], values[values > self.highest.min()]
        else:
            low = high = values
        self.lowest = _smallest(np.concatenate([self.lowest, low]), self.size)
        self.highest = -_smallest(-np.concatenate([self.highest, high]), self.size)

    def quantiles(self, quantiles: list[float], count: int) -> list[float]:
        """``quantiles`` at evenly spaced levels with those the kept values reach replaced by the exact ones.

        A quantile at rank r of the ``count`` values interpolates between the
        values ranked floor(r) and floor(r) + 1, as `numpy.quantile` does.
        """
        estimates = np.asarray(quantiles, "float64")
        if len(estimates) < 2:  # the sample held one value: the exact range instead
            low, high = float(self.lowest.min()), float(self.highest.max())
            return [low, high] if low < high else [low]
        lowest, highest = np.sort(self.lowest), np.sort(self.highest)
        ranks = np.linspace(0.0, 1.0, len(estimates)) * (count - 1)
        below = np.floor(ranks).astype("int64")
        above = np.minimum(below + 1, count - 1)
        fraction = ranks - below
        in_lowest = above < len(lowest)
        in_highest = below >= count - len(highest)

        def interpolated(values, offset, where):
            low, high = values[below[where] - offset], values[above[where] - offset]
            return low + fraction[where] * (high - low)

        estimates[in_lowest] = interpolated(lowest, 0, in_lowest)
        estimates[in_highest] = interpolated(highest, count - len(highest), in_highest)
        # The sample's estimates next to an exact value may cross it; quantiles never decrease.
        return np.maximum.accumulate(estimates).tolist()


def _smallest(values: np.ndarray, size: int) -> np.ndarray:
    return values if len(values) <= size else np.partition(values, size - 1)[:size]


class Reservoir:
    """A uniform sample of at most ``capacity`` rows of a stream: the rows with the smallest random keys."""

    def __init__(self, capacity: int, seed: int):
        self.capacity = capacity
        self.rng = np.random.default_rng(seed)
        self.held: Table | None = None
        self.keys = np.empty(0)

    def add(self, table: Table) -> None:
        keys = self.rng.random(len(table))
        tables = [table] if self.held is None else [self.held, table]
        keys = np.concatenate([self.keys, keys])
        joined = concatenate_tables(tables)
        if len(keys) > self.capacity:
            kept = np.sort(np.argpartition(keys, self.capacity)[: self.capacity])
            joined, keys = joined.take(kept), keys[kept]
        self.held, self.keys = joined, keys

    def table(self) -> Table | None:
        return self.held


def concatenate_tables(tables: list[Table]) -> Table:
    """Tables with the same columns (read from the same files) as one, each row keeping its file and number."""
    if len(tables) == 1:
        return tables[0]
    first = tables[0]
    return Table(
        {name: np.concatenate([table.columns[name] for table in tables]) for name in first.columns},
        origin=first.origin,
        files=first.files,
        row_files=np.concatenate([table.row_files for table in tables]),
        row_ids=np.concatenate([table.row_ids for table in tables]),
        confined_to=first.confined_to,
    )


# --------------------------------------------------------------------------
# The streamed tf.data pipeline
# --------------------------------------------------------------------------
