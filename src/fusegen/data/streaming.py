"""Data larger than memory: preprocessing fitted in one bounded pass, and a streamed tf.data pipeline.

`fit_streaming` reads the files once, a batch at a time. The statistics a
converter saves are computed exactly over every training row by running
sums (means and scales merged batch by batch as Chan, Golub and LeVeque's
parallel variance; minima, maxima, resolutions) and counted labels (the
vocabularies, capped per column; `fusegen.data.streaming_statistics`); what needs the
values themselves (quantiles, medians, text vocabularies) comes from a
uniform sample of at most ``sample_rows`` training rows. Every converter is
first fitted on that sample as in memory, then its exact statistics replace
the sample's, so the saved state is the same JSON as an in-memory fit's.

`stream_dataset` turns the files into ``(inputs, targets)`` batches through
the same converters' ``transform``, batch by batch, with the files in a new
seeded order every epoch and the rows mixed in a bounded shuffle buffer.
A batch's table keeps its file and row numbers, so a bad value found
mid-stream is a `DataError` naming them, as it would be in memory.

Records, numbers, categories and texts stream; images, sequences and
windows are read into memory (`check_streamable` says so).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fusegen.data.pipeline import check_columns, rows_to_drop, validation_by_column, validation_rows
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.shards import (
    BATCH_ROWS,
    ShardSet,
    files_for_worker,
    read_batches,
    split_files,
    validation_by_position,
)
from fusegen.data.streaming_statistics import Reservoir, statistics_of
from fusegen.data.table import Table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec

#: Training rows the bounded sample holds (quantiles, medians and text vocabularies are fitted on it).
FIT_SAMPLE_ROWS = 100_000

_STREAMED_INPUTS = ("numeric", "categorical", "text")
_STREAMED_OUTPUTS = ("record", "vector")


def check_streamable(spec: GeneratorSpec) -> None:
    """A `DataError` unless every input and the output of ``spec`` can be streamed."""
    problems = [
        f"input '{name}' is {input_spec.kind}"
        for name, input_spec in spec.inputs.items()
        if input_spec.kind not in _STREAMED_INPUTS
    ]
    if spec.output.kind not in _STREAMED_OUTPUTS:
        problems.append(f"the output is {spec.output.kind}")
    if spec.data is not None and spec.data.windows is not None:
        problems.append("data.windows cuts windows across rows")
    if problems:
        raise DataError(
            "streamed data (data.stream) reads numeric, categorical and text inputs and record or vector "
            f"outputs, a row at a time; received: {'; '.join(problems)}.",
            hint="set data.stream: false to read the data into memory.",
        )


@dataclasses.dataclass
class StreamedData:
    """What the fitting pass found: the fitted preprocessor, the split, and the rows each part was fitted on."""

    preprocessor: Preprocessor
    shards: ShardSet
    train_files: list[Path]
    validation_files: list[Path]  # files holding any validation row (all of them unless split by file)
    num_train: int
    num_validation: int
    num_dropped: int
    fitted_rows: dict[str, int]  # per input or output name: the rows its statistics were computed on
    sample_rows: int  # rows of the bounded sample: quantiles, medians and text vocabularies
    validation_sample: Table | None  # up to `FIT_SAMPLE_ROWS` validation rows, for evaluation

    def describe_fit(self) -> str:
        parts = ", ".join(f"{name} on {rows:,} rows" for name, rows in self.fitted_rows.items())
        return f"preprocessing fitted in one pass: {parts}; quantiles and medians on a sample of {self.sample_rows:,}"


def columns_read(spec: GeneratorSpec) -> list[str]:
    """Every column the spec reads, the row split's included; the files are read for these alone."""
    columns = []
    for name, input_spec in spec.inputs.items():
        columns += input_spec.columns_read(spec.input_column(name))
    output = spec.output
    columns += output.numeric + output.categorical if output.kind == "record" else [spec.output_column()]
    data = spec.data
    columns += [column for column in (data.split_column, data.split_key) if column] if data else []
    return list(dict.fromkeys(columns))


def split_batches(spec: GeneratorSpec, shards: ShardSet, paths, batch_rows: int = BATCH_ROWS):
    """Each batch of ``paths`` after the missing-value policy: ``(table, validates, dropped)``.

    ``validates`` says which rows of the table validate; ``dropped`` counts the
    rows the policy dropped (a batch of dropped rows alone yields no table).
    """
    columns = columns_read(spec)
    for table in read_batches(shards, paths, columns, batch_rows):
        drop = rows_to_drop(table, spec)
        if drop.all():
            yield None, None, len(table)
            continue
        if drop.any():
            table = table.take(np.flatnonzero(~drop))
        yield table, _validates(table, spec), int(drop.sum())


def _validates(table: Table, spec: GeneratorSpec) -> np.ndarray:
    data = spec.data
    if data.split_column:
        return validation_by_column(table, data.split_column)
    if data.split_key or data.validation_files:
        return validation_rows(table, data)
    return validation_by_position(table, data.validation_split)


def check_first_file(spec: GeneratorSpec, shards: ShardSet) -> None:
    """Check the first file's columns against the spec (every column, for ``data.strict``), before a long pass."""
    first = next(read_batches(shards, shards.paths[:1], None, batch_rows=64), None)
    if first is None:
        raise DataError(f"{shards.origin}: the first file '{shards.paths[0]}' has no rows.")
    check_columns(first, spec)


# --------------------------------------------------------------------------
# The fitting pass
# --------------------------------------------------------------------------


def fit_streaming(
    spec: GeneratorSpec,
    shards: ShardSet,
    preprocessor: Preprocessor | None = None,
    sample_rows: int = FIT_SAMPLE_ROWS,
    batch_rows: int = BATCH_ROWS,
) -> StreamedData:
    """Fit ``spec``'s preprocessing on the training rows of ``shards`` in one pass of bounded memory.

    Args:
        spec: a spec whose parts stream (see `check_streamable`).
        shards: the files.
        preprocessor: an already fitted one (a resumed run): the pass then
            only counts the rows of each split.
        sample_rows: training rows of the uniform sample that quantiles,
            medians and text vocabularies are fitted on.
        batch_rows: rows read from a file at a time.
    """
    check_streamable(spec)
    check_first_file(spec, shards)
    fitted = preprocessor is not None
    preprocessor = preprocessor or Preprocessor(spec)
    statistics = {} if fitted else statistics_of(spec, preprocessor)
    train_files, held_files = split_files(shards, spec.data.validation_files)
    sample = Reservoir(sample_rows, spec.training.seed)
    validation_sample = Reservoir(sample_rows, spec.training.seed + 1)
    num_train = num_validation = num_dropped = 0
    validation_files = set(held_files)
    for table, validates, dropped in split_batches(spec, shards, shards.paths, batch_rows):
        num_dropped += dropped
        if table is None:
            continue
        # Every row is read and checked, training and validation alike, so that a bad value stops
        # the fit here, before training starts; statistics are of the training rows alone.
        for statistic in statistics.values():
            statistic.add(table, ~validates)
        if not validates.all():
            train = table.take(np.flatnonzero(~validates)) if validates.any() else table
            num_train += len(train)
            sample.add(train)
        if validates.any():
            num_validation += int(validates.sum())
            validation_sample.add(table.take(np.flatnonzero(validates)))
            validation_files.add(shards.paths[int(table.row_files[0])])
    if num_train == 0:
        raise DataError(
            f"{shards.origin}: no training row is left after the split and the missing-value policy.",
            hint="lower data.validation_split or data.validation_files, or check data.missing.",
        )
    sample_table = sample.table()
    if not fitted:
        preprocessor.fit(sample_table)
        state = preprocessor.get_state()
        for statistic in statistics.values():
            statistic.update(state)
        preprocessor = Preprocessor(spec, state)
    fitted_rows = {name: statistic.rows for name, statistic in statistics.items()}
    return StreamedData(
        preprocessor=preprocessor,
        shards=shards,
        train_files=train_files,
        validation_files=[path for path in shards.paths if path in validation_files],
        num_train=num_train,
        num_validation=num_validation,
        num_dropped=num_dropped,
        fitted_rows=fitted_rows,
        sample_rows=len(sample_table),
        validation_sample=validation_sample.table(),
    )


def stream_dataset(
    streamed: StreamedData,
    spec: GeneratorSpec,
    split: str = "train",
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 1,
    worker_index: int = 0,
    batch_rows: int = BATCH_ROWS,
):
    """A tf.data pipeline of ``(inputs, targets)`` batches of one split, read from the files as it goes.

    Args:
        streamed: the fitting pass's result (preprocessor, files, split).
        spec: the spec it was fitted for.
        split: ``"train"`` or ``"validation"``.
        batch_size: rows per batch; the last batch of a pass may be smaller.
        shuffle: read the files in a new seeded order each epoch and mix the
            rows in a buffer of ``data.shuffle_buffer`` rows.
        seed: the seed of both.
        num_workers, worker_index: read only this worker's share of the
            files (see `fusegen.data.shards.files_for_worker`).
        batch_rows: rows read from a file at a time.
    """
    import tensorflow as tf

    paths = streamed.train_files if split == "train" else streamed.validation_files
    paths = files_for_worker(paths, num_workers, worker_index)
    preprocessor = streamed.preprocessor
    want_validation = split == "validation"
    capacity = spec.data.shuffle_buffer if shuffle else 0
    epochs = itertools.count()

    def transformed(table: Table) -> tuple:
        return preprocessor.transform_inputs(table), preprocessor.transform_targets(table)

    def batches() -> Iterator[tuple]:
        rng = np.random.default_rng([seed, next(epochs)])
        order = rng.permutation(len(paths)) if shuffle else range(len(paths))
        buffer = _ShuffleBuffer(capacity, batch_size, rng if shuffle else None)
        for table, validates, _ in split_batches(
            spec, streamed.shards, [paths[i] for i in order], batch_rows
        ):
            if table is None:
                continue
            rows = np.flatnonzero(validates == want_validation)
            if len(rows):
                part = table.take(rows) if len(rows) < len(table) else table
                for batch in buffer.add(tf.nest.flatten(transformed(part))):
                    yield tuple(batch)
        for batch in buffer.flush():
            yield tuple(batch)

    first = _first_rows(streamed, spec, paths, want_validation)
    structure = transformed(first)
    flat_signature = tuple(
        tf.TensorSpec((None, *np.shape(value)[1:]), tf.as_dtype(np.asarray(value).dtype))
        for value in tf.nest.flatten(structure)
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=flat_signature)
    dataset = dataset.map(lambda *values: tf.nest.pack_sequence_as(structure, list(values)))
    if num_workers == 1:
        # The fitting pass counted the rows: Keras then knows an epoch's length from the start.
        num_rows = streamed.num_validation if want_validation else streamed.num_train
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-num_rows // batch_size)))
    options = tf.data.Options()
    # Each worker reads its own files already: tf.distribute must not shard the stream again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def _first_rows(streamed: StreamedData, spec: GeneratorSpec, paths, want_validation: bool) -> Table:
    """A few rows of the split, to learn the batches' structure, dtypes and shapes."""
    for table, validates, _ in split_batches(spec, streamed.shards, paths, batch_rows=1024):
        if table is not None and (validates == want_validation).any():
            return table.take(np.flatnonzero(validates == want_validation)[:8])
    raise DataError(
        f"{streamed.shards.origin}: the {'validation' if want_validation else 'training'} split has no rows."
    )


class _ShuffleBuffer:
    """Rows held until ``capacity`` are in hand; then all but half of them leave in random batches.

    Each batch is drawn from at least ``capacity`` rows, and memory stays at
    about twice that. (tf.data's ``unbatch().shuffle().batch()`` does the same
    a row at a time: 0.19M rows/s on 2 CPU cores, where this moves millions.)
    Without a generator the rows keep their order.
    """

    def __init__(self, capacity: int, batch_size: int, rng: np.random.Generator | None):
        self.capacity, self.batch_size, self.rng = capacity, batch_size, rng
        self.blocks: list[list[np.ndarray]] = []
        self.rows = 0

    def add(self, columns: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
        self.blocks.append(columns)
        self.rows += len(columns[0])
        if self.rows >= max(self.capacity, self.batch_size):
            keep = self.capacity // 2 if self.rng is not None else 0
            yield from self._emit(((self.rows - keep) // self.batch_size) * self.batch_size)

    def flush(self) -> Iterator[list[np.ndarray]]:
        yield from self._emit(self.rows)

    def _emit(self, count: int) -> Iterator[list[np.ndarray]]:
        held = [
            np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in zip(*self.blocks, strict=True)
        ]
        order = self.rng.permutation(self.rows) if self.rng is not None else np.arange(self.rows)
        for start in range(0, count, self.batch_size):
            rows = order[start : min(start + self.batch_size, count)]
            yield [column[rows] for column in held]
        rest = order[count:]
        self.blocks = [[column[rest] for column in held]] if len(rest) else []
        self.rows = len(rest)
