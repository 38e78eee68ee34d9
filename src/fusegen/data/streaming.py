"""Data larger than memory: preprocessing fitted in one bounded pass, and a streamed tf.data pipeline.

`fit_streaming` reads the files once, a batch at a time. The statistics a
converter saves are computed exactly over every training row by running
sums (means and scales merged batch by batch as Chan, Golub and LeVeque's
parallel variance; minima, maxima, resolutions) and counted labels (the
vocabularies, capped per column; `fusegen.data.streaming_statistics`); what needs the
values themselves (quantiles, medians, text vocabularies) comes from a
uniform sample of at most ``sample_rows`` training rows, save a record's
quantiles: exact from counted values where a column has few distinct ones,
else exact at the tails, from each column's smallest and largest values (a
`TAIL_SHARE` of the sample's rows each). Every converter is
first fitted on that sample as in memory, then its exact statistics replace
the sample's, so the saved state is the same JSON as an in-memory fit's.

`stream_dataset` turns the files into ``(inputs, targets)`` batches through
the same converters' ``transform``, batch by batch, with the files in a new
seeded order every epoch and the rows mixed in a bounded shuffle buffer.
A batch's table keeps its file and row numbers, so a bad value found
mid-stream is a `DataError` naming them, as it would be in memory.

Records, numbers, categories, texts and image files stream (images as
their paths or bytes, decoded batch by batch: `fusegen.data.streamed_images`);
sequences and windows are read into memory (`check_streamable` says so).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fusegen.data.missing import columns_of_parts
from fusegen.data.pipeline import (
    check_columns,
    make_dataset,
    rows_to_drop,
    validation_by_column,
    validation_rows,
)
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.shards import (
    BATCH_ROWS,
    ShardSet,
    file_signature,
    files_for_worker,
    read_batches,
    split_files,
    validation_by_position,
)
from fusegen.data.shuffle_buffer import ShuffleBuffer
from fusegen.data.streamed_images import StreamedImages
from fusegen.data.streaming_statistics import Reservoir, statistics_of, with_values_seen
from fusegen.data.table import Table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec

#: Training rows the bounded sample holds (quantiles, medians and text vocabularies are fitted on it).
FIT_SAMPLE_ROWS = 100_000
#: The smallest and the largest values kept exactly of each numeric column of a record, as a share of
#: the sample's rows: its quantiles' tails, where a sample errs most (`streaming_statistics._Tails`).
#: Half each way costs a column what the sample's rows cost it.
TAIL_SHARE = 0.5
#: Rows a training stream reads from a file at a time: small blocks keep batches flowing while it reads.
STREAM_BATCH_ROWS = 8192

_STREAMED_INPUTS = ("numeric", "categorical", "text", "image")
_STREAMED_OUTPUTS = ("record", "vector", "image")


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
            "streamed data (data.stream) reads numeric, categorical, text and image inputs and record, vector "
            f"and image outputs, a row at a time; received: {'; '.join(problems)}.",
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
    train_rows_per_file: dict[Path, int]  # training rows in each file: how many rows each worker holds
    checked_files: dict[Path, tuple[int, int]]  # each file's signature when the pass checked its every row
    fitted_rows: dict[str, int]  # per input or output name: the rows its statistics were computed on
    sample_rows: int  # rows of the bounded sample: quantiles, medians and text vocabularies
    fitted_parts: dict[str, list[str]]  # per input or output name: each statistic and the rows it read
    validation_sample: Table | None  # up to `FIT_SAMPLE_ROWS` validation rows, for evaluation

    def unchanged_files(self) -> frozenset:
        """The files as the fitting pass checked them: each epoch skips checking their values again."""
        return frozenset(
            path for path, signature in self.checked_files.items() if file_signature(path) == signature
        )

    def describe_fit(self) -> str:
        parts = ", ".join(f"{name} on {rows:,} rows" for name, rows in self.fitted_rows.items())
        return (
            f"preprocessing fitted in one pass: {parts}; quantiles (their tails exact) and medians on a sample "
            f"of {self.sample_rows:,}"
        )


def columns_read(spec: GeneratorSpec) -> list[str]:
    """Every column the spec reads, the row split's included; the files are read for these alone."""
    columns = []
    for name, input_spec in spec.inputs.items():
        columns += input_spec.columns_read(spec.input_column(name))
    output = spec.output
    columns += output.data_columns() if output.kind == "record" else [spec.output_column()]
    data = spec.data
    columns += [column for column in (data.split_column, data.split_key) if column] if data else []
    return list(dict.fromkeys(columns))


def split_batches(
    spec: GeneratorSpec, shards: ShardSet, paths, batch_rows: int = BATCH_ROWS, checked=frozenset()
):
    """Each batch of ``paths`` after the missing-value policy: ``(table, validates, dropped)``.

    ``validates`` says which rows of the table validate; ``dropped`` counts the
    rows the policy dropped (a batch of dropped rows alone yields no table).
    The files in ``checked`` had every row checked already (by the fitting
    pass, unchanged since): unless a policy drops rows, they are not checked again.
    """
    columns = columns_read(spec)
    skip = frozenset() if _drops_rows(spec) else frozenset(shards.paths.index(path) for path in checked)
    for table in read_batches(shards, paths, columns, batch_rows):
        if len(table) and int(table.row_files[0]) in skip:
            yield table, _validates(table, spec), 0
            continue
        drop = rows_to_drop(table, spec)
        if drop.all():
            yield None, None, len(table)
            continue
        if drop.any():
            table = table.take(np.flatnonzero(~drop))
        yield table, _validates(table, spec), int(drop.sum())


def _drops_rows(spec: GeneratorSpec) -> bool:
    default = spec.data.missing if spec.data else "error"
    return any((policy or default) == "drop_rows" for _, policy in columns_of_parts(spec).values())


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
    statistics = {} if fitted else statistics_of(spec, preprocessor, int(sample_rows * TAIL_SHARE))
    train_files, held_files = split_files(shards, spec.data.validation_files)
    sample = Reservoir(sample_rows, spec.training.seed)
    validation_sample = Reservoir(sample_rows, spec.training.seed + 1)
    num_train = num_validation = num_dropped = 0
    validation_files = set(held_files)
    per_file = np.zeros(len(shards.paths), "int64")
    signatures = {path: file_signature(path) for path in shards.paths}  # before reading: a later change shows
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
            per_file += np.bincount(train.row_files, minlength=len(per_file))
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
        preprocessor.fit(with_values_seen(sample_table, statistics))
        state = preprocessor.get_state()
        for statistic in statistics.values():
            statistic.update(state)
        preprocessor = Preprocessor(spec, state)
    fitted_rows = {name: statistic.rows for name, statistic in statistics.items()}
    fitted_parts = {} if fitted else _fitted_parts(spec, statistics, len(sample_table))
    return StreamedData(
        preprocessor=preprocessor,
        shards=shards,
        train_files=train_files,
        validation_files=[path for path in shards.paths if path in validation_files],
        num_train=num_train,
        num_validation=num_validation,
        num_dropped=num_dropped,
        train_rows_per_file={path: int(rows) for path, rows in zip(shards.paths, per_file, strict=True)},
        checked_files=signatures,
        fitted_rows=fitted_rows,
        sample_rows=len(sample_table),
        fitted_parts=fitted_parts,
        validation_sample=validation_sample.table(),
    )


def _fitted_parts(spec: GeneratorSpec, statistics: dict, sample_rows: int) -> dict[str, list[str]]:
    """Per input and the output: each part of its preprocessing and the rows it was fitted on, in words."""
    parts = {}
    for name in [*spec.inputs, spec.output.name]:
        if name in statistics:
            parts[name] = statistics[name].describe(sample_rows)
        elif spec.inputs[name].fits_vocabulary:  # raw text
            parts[name] = [f"vocabulary: the sample of {sample_rows:,} training rows"]
        elif spec.inputs[name].kind == "categorical":
            parts[name] = ["vocabulary given in the spec"]
        else:
            parts[name] = ["nothing fitted (precomputed embeddings)"]
    return parts


def stream_dataset(
    streamed: StreamedData,
    spec: GeneratorSpec,
    split: str = "train",
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 1,
    worker_index: int = 0,
    batch_rows: int = STREAM_BATCH_ROWS,
    repeat: bool = False,
    first_epoch: int = 0,
):
    """A tf.data pipeline of ``(inputs, targets)`` batches of one split, read from the files as it goes.

    Args:
        streamed: the fitting pass's result (preprocessor, files, split).
        spec: the spec it was fitted for.
        split: ``"train"`` or ``"validation"``.
        batch_size: rows per batch; the last batch of a pass may be smaller.
        shuffle: read the files in a new seeded order each pass and mix the
            rows in a buffer of ``data.shuffle_buffer`` rows.
        seed: the seed of both.
        num_workers, worker_index: read only this worker's share of the
            files (see `fusegen.data.shards.files_for_worker`).
        batch_rows: rows read from a file at a time.
        repeat: an endless stream of whole batches (a static batch size): the
            files are read pass after pass and the shuffle buffer carries the
            rows over from one pass to the next, so no batch is ever partial.
            Each worker of a cluster streams so, and ``fit`` counts the steps.
        first_epoch: the epoch the first pass is (a resumed run's): each
            pass's file order and shuffle are seeded by its epoch, so a run
            resumed at an epoch boundary reads that epoch as the interrupted
            run would have.
    """
    import tensorflow as tf

    paths = streamed.train_files if split == "train" else streamed.validation_files
    paths = files_for_worker(paths, num_workers, worker_index)
    preprocessor = streamed.preprocessor
    want_validation = split == "validation"
    capacity = spec.data.shuffle_buffer if shuffle else 0
    if repeat and split == "train":
        # A buffer larger than a pass would read the files again and again before its first batch.
        capacity = min(capacity, sum(streamed.train_rows_per_file[path] for path in paths))
    epochs = itertools.count(first_epoch)
    stream_seed = [seed, worker_index] if num_workers > 1 else [seed]

    def transformed(table: Table) -> tuple:
        return _transformed(preprocessor, spec, table)

    def batches() -> Iterator[tuple]:
        rng = np.random.default_rng([*stream_seed, next(epochs)])
        buffer = ShuffleBuffer(capacity, batch_size, rng if shuffle else None)
        while True:
            order = rng.permutation(len(paths)) if shuffle else range(len(paths))
            rows_read = 0
            for table, validates, _ in split_batches(
                spec, streamed.shards, [paths[i] for i in order], batch_rows, streamed.unchanged_files()
            ):
                if table is None:
                    continue
                rows = np.flatnonzero(validates == want_validation)
                rows_read += len(rows)
                if len(rows):
                    part = table.take(rows) if len(rows) < len(table) else table
                    for batch in buffer.add(images.encode(tf.nest.flatten(transformed(part)))):
                        yield tuple(batch)
            if not repeat:
                break
            if rows_read == 0:
                raise DataError(
                    f"{streamed.shards.origin}: the files {paths} hold no {split} rows to stream."
                )
        for batch in buffer.flush():
            yield tuple(batch)

    first = _first_rows(streamed, spec, paths, want_validation)
    structure = transformed(first)
    images = StreamedImages(tf.nest.flatten(structure))
    flat_signature = tuple(
        tf.TensorSpec((batch_size if repeat else None, *np.shape(value)[1:]), _tensor_dtype(value))
        for value in images.encode(tf.nest.flatten(structure))
    )
    ahead = max(4, -(-batch_rows // batch_size))  # a block's batches
    dataset = tf.data.Dataset.from_generator(batches, output_signature=flat_signature)
    if images.columns:
        # The batches ahead hold sources; a few decoded ones wait, each decoded in a parallel map.
        dataset = dataset.prefetch(ahead)
        ahead = 2
    dataset = dataset.map(
        lambda *values: tf.nest.pack_sequence_as(structure, images.decode(list(values))),
        num_parallel_calls=tf.data.AUTOTUNE if images.columns else None,
    )
    if num_workers == 1 and not repeat:
        # The fitting pass counted the rows: Keras then knows an epoch's length from the start.
        num_rows = streamed.num_validation if want_validation else streamed.num_train
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-num_rows // batch_size)))
    options = tf.data.Options()
    # Training: each worker reads its own files already, so tf.distribute must not shard the stream
    # again. Validation: every worker reads every validation row and keeps its share of each batch.
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.DATA if want_validation else policy.OFF
    # A block's batches ahead, untuned: the generator is the pipeline's one stage, and tf.data's tuning
    # thread is joined when an iterator is destroyed (at every epoch's end), which waits out its period.
    options.autotune.enabled = False
    return dataset.prefetch(ahead).with_options(options)


def _tensor_dtype(value):
    import tensorflow as tf

    dtype = np.asarray(value).dtype
    # An object array holds images' encoded sources, decoded per batch.
    return tf.string if dtype.kind == "O" else tf.as_dtype(dtype)


def _transformed(preprocessor: Preprocessor, spec: GeneratorSpec, table: Table) -> tuple:
    """A block's ``(inputs, targets)`` as in memory, save image files: left undecoded (`StreamedImages`)."""
    images = [name for name, part in spec.inputs.items() if part.kind == "image"]
    others = [name for name in spec.inputs if name not in images] if images else None
    inputs = preprocessor.transform_inputs(table, others)
    for name in images:
        inputs[name] = preprocessor.inputs[name].undecoded(table, spec.input_column(name))
    if spec.output.kind == "image":
        return inputs, preprocessor.output.undecoded(table, spec.output_column())
    return inputs, preprocessor.transform_targets(table)


def validation_dataset(streamed: StreamedData, spec: GeneratorSpec, batch_size: int):
    """The validation batches: from memory when the bounded sample holds every validation row, else streamed.

    The fitting pass keeps up to `FIT_SAMPLE_ROWS` validation rows; when that
    is all of them, they are transformed once, and no epoch reads the files
    again to validate (a key split spreads the validation rows over every file).
    """
    sample = streamed.validation_sample
    if sample is not None and len(sample) == streamed.num_validation:
        preprocessor = streamed.preprocessor
        # Compact: images stay uint8 (or files decoded per epoch, under data.cache), as in memory.
        return make_dataset(
            preprocessor.transform_inputs(sample, compact=True),
            preprocessor.transform_targets(sample, compact=True),
            batch_size,
        )
    return stream_dataset(streamed, spec, "validation", batch_size)


def worker_steps(streamed: StreamedData, num_workers: int, batch_size: int) -> tuple[int, list[int]]:
    """Steps of an epoch when each of ``num_workers`` workers streams its own files, and each worker's rows.

    Every step takes ``batch_size / num_workers`` rows from every worker (the
    global batch is ``batch_size``), so an epoch is one pass over the smallest
    worker's rows; a worker with more streams on into the next epoch.
    """
    rows = [
        sum(
            streamed.train_rows_per_file[path]
            for path in files_for_worker(streamed.train_files, num_workers, index)
        )
        for index in range(num_workers)
    ]
    steps = min(rows) // max(1, batch_size // num_workers)
    if steps == 0:
        raise DataError(
            f"worker {int(np.argmin(rows))} of {num_workers} holds {min(rows)} training rows, fewer than one "
            f"step's {batch_size // num_workers} (training.batch_size {batch_size} over {num_workers} workers).",
            hint="lower training.batch_size, or use fewer workers.",
        )
    return steps, rows


def _first_rows(streamed: StreamedData, spec: GeneratorSpec, paths, want_validation: bool) -> Table:
    """A few rows of the split, to learn the batches' structure, dtypes and shapes."""
    for table, validates, _ in split_batches(spec, streamed.shards, paths, batch_rows=1024):
        if table is not None and (validates == want_validation).any():
            return table.take(np.flatnonzero(validates == want_validation)[:8])
    raise DataError(
        f"{streamed.shards.origin}: the {'validation' if want_validation else 'training'} split has no rows."
    )
