"""From a table to tf.data: column checks, windows, missing values, seeded split, preprocessing, batches.

The datasets yield ``(inputs, targets)`` where ``inputs`` is a dict keyed by
the spec's input names, exactly the model's input names, and ``targets`` is
an array, or a dict of parts for records.

Preprocessing runs once, before training, on whole columns (vectorised, and
image files decoded in a parallel tf.data map), so the training pipeline
only shuffles row indices, gathers whole batches from arrays held in memory
and maps uint8 images to floats: a few operations per batch, never per
example, and never Python per example.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from fusegen.data.images import ImageColumn, source_kinds
from fusegen.data.memory import as_tensor
from fusegen.data.preprocessing import Preprocessor, columns_of_parts, decode_image_files, missing_values
from fusegen.data.shards import validation_by_key
from fusegen.data.sources import Table
from fusegen.data.windows import window_table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec
from fusegen.spec.names import LATENT, PRESENT


@dataclasses.dataclass
class PreparedData:
    """Model-ready arrays for both splits, and the preprocessor fitted on the training split.

    Image inputs and targets may be `ImageColumn` objects (uint8 pixels, or
    encoded files) that `make_dataset` maps to floats batch by batch.
    """

    preprocessor: Preprocessor
    table: Table  # after windows and the missing-value policy; the row indices below refer to it
    train_inputs: dict[str, Any]
    train_targets: Any
    validation_inputs: dict[str, Any] | None
    validation_targets: Any
    train_rows: np.ndarray
    validation_rows: np.ndarray
    dropped_rows: np.ndarray  # the user's row numbers (window starts for windows)

    @property
    def num_train(self) -> int:
        return len(self.train_rows)


def check_columns(table: Table, spec: GeneratorSpec) -> None:
    """Every column the spec reads exists, and under ``data.strict`` no other column does.

    Reports every missing (and, in strict mode, every extra) column at once.
    """
    problems = []
    read = set()
    for part, (columns, _) in columns_of_parts(spec).items():
        read.update(columns)
        absent = [column for column in columns if column not in table.columns]
        if absent:
            noun = "column" if len(absent) == 1 else "columns"
            problems.append(f"{part} reads {noun} {', '.join(repr(c) for c in absent)}, which is not there")
    named = {
        f"data.{key}": [getattr(spec.data, key)] if spec.data and getattr(spec.data, key) else []
        for key in ("split_column", "split_key")
    }
    named["evaluation.group_by"] = spec.evaluation.group_by
    named["evaluation.label_column"] = [spec.evaluation.label_column] if spec.evaluation.label_column else []
    for key, columns in named.items():
        for column in columns:
            read.add(column)
            if column not in table.columns:
                problems.append(f"{key} '{column}' is not a column")
    windows = spec.data.windows if spec.data else None
    if windows is not None:
        for key in ("group_column", "time_column"):
            column = getattr(windows, key)
            if column:
                read.add(column)
                if column not in table.columns:
                    problems.append(f"data.windows.{key} '{column}' is not a column")
        # The columns data.windows computes, and the label columns it computes them from.
        read.update(windows.derived_columns(), windows.one_hot)
    if spec.data is not None and spec.data.strict:
        extra = [column for column in table.columns if column not in read]
        if extra:
            problems.append(
                f"unknown extra column(s) {extra}, which no input or output reads (data.strict: true)"
            )
    if problems:
        raise DataError(
            f"{table.origin}: " + "; ".join(problems) + f". Available columns: {', '.join(table.columns)}.",
            hint="set each input's 'column' (or 'columns') to a column of the data"
            + (
                ", and drop unused columns or set data.strict: false."
                if spec.data and spec.data.strict
                else "."
            ),
        )


def apply_missing_policy(table: Table, spec: GeneratorSpec) -> tuple[Table, np.ndarray]:
    """Drop rows with missing values where the policy says so; report them where it says error.

    Returns the kept table and the user's row numbers of the dropped rows.
    """
    kept, dropped, _ = _apply_missing_policy(table, spec)
    return kept, dropped


def _apply_missing_policy(table: Table, spec: GeneratorSpec) -> tuple[Table, np.ndarray, np.ndarray]:
    """`apply_missing_policy`, and the kept rows' positions in ``table``."""
    drop = rows_to_drop(table, spec)
    if not drop.any():
        return table, np.array([], dtype=np.int64), np.arange(len(table))
    if drop.all():
        raise _nothing_left(table, spec)
    kept = np.flatnonzero(~drop)
    return table.take(kept), table.row_ids[drop], kept


def _nothing_left(table: Table, spec: GeneratorSpec) -> DataError:
    """The error for a table whose every row (or window) the missing-value policy drops: which columns
    hold the gaps, and how to keep some rows."""
    noun = "window" if table.windowed else "row"
    counts = [
        f"{part}, column '{column}': {len(rows):,}" for part, column, _, rows in missing_values(table, spec)
    ]
    if table.windowed:
        hint = (
            "fill the gaps where a value is known (0 on a day with nothing to count, say), or use shorter "
            "windows (fusegen init's --context and --horizon, or data.windows.length) so that some hold none."
        )
    else:
        hint = "fill the missing values, or set missing: impute on the inputs that have them."
    return DataError(
        f"{table.origin}: every one of its {len(table):,} {noun}s has a missing value in a column the spec "
        f"reads, and data.missing: drop_rows drops such {noun}s, so nothing is left to train on "
        f"({noun}s with gaps by column: {'; '.join(counts)}).",
        hint=hint,
    )


def rows_to_drop(table: Table, spec: GeneratorSpec) -> np.ndarray:
    """Which rows the missing-value policy drops; a `DataError` naming the rows it does not allow."""
    found = missing_values(table, spec)
    # Under impute only infinity is reported, and infinity is never imputed.
    errors = [(part, column, rows) for part, column, policy, rows in found if policy != "drop_rows"]
    if errors:
        count = len(np.unique(np.concatenate([rows for _, _, rows in errors])))
        details = "; ".join(
            f"{part}, column '{column}': {table.rows_label(rows)}" for part, column, rows in errors
        )
        raise DataError(
            f"{table.origin}: {count} row(s) have missing values (NaN, None, empty) or infinity "
            f"in columns the spec reads: {details}.",
            hint="clean them, set data.missing: drop_rows in the spec to drop them, "
            "or missing: impute on an input to fill its NaN and empty values.",
        )
    drop = np.zeros(len(table), dtype=bool)
    for _, _, _, rows in found:  # all under drop_rows by now
        drop[rows] = True
    return drop


def split_rows(num_rows: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle of row indices into training and validation rows."""
    order = np.random.default_rng(seed).permutation(num_rows)
    num_validation = int(round(num_rows * validation_split))
    if validation_split > 0 and num_rows >= 10:
        num_validation = max(num_validation, 1)
    else:
        num_validation = 0 if num_rows < 10 else num_validation
    return np.sort(order[num_validation:]), np.sort(order[:num_validation])


def _split_latest(
    windows: Table,
    validation_split: float,
    group_column: str | None,
    purge: int = 0,
    places: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The last ``validation_split`` of each group's windows validate; windows are in time order per group.

    The windows cut within ``purge`` places before each group's first validation window neither
    train nor validate: overlapping windows would otherwise put the rows a validation window
    forecasts into training. ``places`` (each window's position as cut; its row by default)
    counts the windows dropped between them too, so that a gap purges no window it need not.
    """
    groups = windows.columns[group_column].astype(str) if group_column else np.zeros(len(windows), str)
    places = np.arange(len(windows)) if places is None else np.asarray(places)
    validation, purged = [], []
    for group in dict.fromkeys(groups):
        rows = np.flatnonzero(groups == group)
        # As split_rows: a group of under 10 windows keeps them all; a larger one holds out at least one.
        count = (
            0 if len(rows) < 10 or not validation_split else max(1, int(round(len(rows) * validation_split)))
        )
        validation.extend(rows[len(rows) - count :])
        if count:
            earlier = rows[: len(rows) - count]
            purged.extend(earlier[places[earlier] >= places[rows[len(rows) - count]] - purge])
    validation = np.asarray(sorted(validation), dtype=np.int64)
    return np.setdiff1d(np.arange(len(windows)), np.concatenate([validation, purged])), validation


#: The values a ``data.split_column`` may hold.
SPLIT_VALUES = ("train", "validation")


def split_table(
    table: Table, spec: GeneratorSpec, training: bool = False, places: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation row indices.

    By ``data.split_column``, ``data.split_key`` (a hash of the key) or
    ``data.validation_files`` where set, each as streamed data splits; else a
    seeded random split. ``training`` says ``table`` holds the training windows
    (`window_table`'s ``training``): with ``validation_from: end``, the windows that
    overlap the first validation window are then left out of training. ``places``:
    each row's position among the windows as cut, where the missing-value policy
    dropped some (consecutive windows are one stride apart only there).
    """
    data = spec.data
    if data is not None and (data.split_key or data.validation_files):
        validation = validation_rows(table, data)
        if validation.all():
            raise DataError(
                f"{table.origin}: {_split_by(data)} holds out every row; nothing is left to train on.",
                hint="lower data.validation_split or data.validation_files.",
            )
        return np.flatnonzero(~validation), np.flatnonzero(validation)
    column = data.split_column if data else None
    if column is None:
        split = data.validation_split if data else 0.1
        if data is not None and data.validation_from == "end" and data.windows is not None:
            windows = data.windows
            stride = (training and windows.training_stride) or windows.stride or windows.length
            purge = -(-windows.length // stride) - 1 if training else 0
            return _split_latest(table, split, windows.group_column, purge, places)
        return split_rows(len(table), split, spec.training.seed)
    return split_by_column(table, column)


def _split_by(data) -> str:
    if data.split_key:
        return f"data.split_key '{data.split_key}' with validation_split {data.validation_split}"
    return f"data.validation_files {data.validation_files}"


def validation_rows(table: Table, data) -> np.ndarray:
    """Which rows of ``table`` validate under ``data.split_key`` or ``data.validation_files``.

    A row's side depends on its key, or on its file, alone: the same row lands
    on the same side in memory, streamed, and in any batch.
    """
    if data.split_key:
        return validation_by_key(table.column(data.split_key, "data.split_key"), data.validation_split)
    num_files = len(table.files)
    if num_files <= 1:
        raise DataError(
            f"{table.origin}: data.validation_files holds out whole files, but the data is one file.",
            hint="point data.source at a glob of files (data/part-*.parquet), or use data.split_key.",
        )
    if data.validation_files >= num_files:
        raise DataError(
            f"data.validation_files {data.validation_files} holds out every file of {table.origin}, "
            f"which has {num_files}; none is left to train on.",
            hint=f"set data.validation_files below {num_files}, or split the data into more files.",
        )
    return table.row_files >= num_files - data.validation_files


def split_by_column(table: Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation row indices by a column of 'train' and 'validation'."""
    validation = validation_by_column(table, column)
    if validation.all():
        raise DataError(
            f"{table.origin}: data.split_column '{column}' marks no row 'train'; nothing is left to train on."
        )
    return np.flatnonzero(~validation), np.flatnonzero(validation)


def validation_by_column(table: Table, column: str) -> np.ndarray:
    """Which rows ``column`` marks 'validation'; a `DataError` naming the first row it marks neither way."""
    values = np.asarray(table.columns[column]).astype(str)
    unknown = ~np.isin(values, SPLIT_VALUES)
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        raise DataError(
            f"{table.origin}: data.split_column '{column}' holds {str(values[first])!r} in row "
            f"{table.row_ids[first]} ({int(unknown.sum())} such rows); expected 'train' or 'validation'.",
            hint=f"write 'train' or 'validation' in every row of '{column}', or remove data.split_column.",
        )
    return values == "validation"


def training_split(spec: GeneratorSpec, table: Table) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray]:
    """The rows training learns and validates on: windows cut (where the spec cuts them), rows the
    missing-value policy drops left out, then split.

    Returns the kept table, the user's row numbers of the dropped rows, and the training and
    validation row indices into the kept table.
    """
    table = window_table(table, spec, training=True)
    # Each kept window's place among the windows as cut: the split purges by place, not by row.
    table, dropped, places = _apply_missing_policy(table, spec)
    train_rows, validation_rows = split_table(table, spec, training=True, places=places)
    if not len(train_rows):
        raise DataError(
            f"{table.origin}: no row is left to train on: of {len(table) + len(dropped)}, {len(dropped)} were "
            f"dropped for missing values (data.missing: drop_rows), {len(validation_rows)} validate and "
            f"{len(table) - len(validation_rows)} overlap the first validation window.",
            hint="lower data.validation_split, shorten the windows, or fill the gaps (missing: impute).",
        )
    return table, dropped, train_rows, validation_rows


def prepare_data(spec: GeneratorSpec, table: Table, preprocessor: Preprocessor | None = None) -> PreparedData:
    """Check columns, cut windows, apply the missing policy, decode images, split, fit on training rows, transform."""
    check_columns(table, spec)
    table, dropped, train_rows, validation_rows = training_split(spec, table)
    table = decode_image_files(table, spec)
    train = table.take(train_rows)
    if preprocessor is None:
        # Vocabularies know every row's labels, so a rare label drawn into validation is no error.
        preprocessor = Preprocessor(spec).fit(train, labels=table)
    validation = table.take(validation_rows) if len(validation_rows) else None
    return PreparedData(
        preprocessor=preprocessor,
        table=table,
        train_inputs=preprocessor.transform_inputs(train, compact=True),
        train_targets=preprocessor.transform_targets(train, compact=True),
        validation_inputs=preprocessor.transform_inputs(validation, compact=True) if validation else None,
        validation_targets=preprocessor.transform_targets(validation, compact=True) if validation else None,
        train_rows=train_rows,
        validation_rows=validation_rows,
        dropped_rows=dropped,
    )


def make_dataset(inputs, targets=None, batch_size=32, shuffle=False, seed=0):
    """A batched, prefetched tf.data pipeline over preprocessed columns held in memory.

    Each epoch shuffles row indices (seeded, reshuffled every epoch), batches
    them and gathers every column for a whole batch at once in a parallel
    map, mapping uint8 images to floats there (a vectorised map). Images that
    did not fit in memory (see ``data.cache``) are read and decoded per
    example in a parallel map instead; only then does tf.data tune the
    pipeline (autotune), which in memory costs more than it saves.

    Args:
        inputs: input name -> array or `ImageColumn`, rows on the first axis.
        targets: an array, a dict of arrays, or None.
        batch_size: rows per batch; the last batch may be smaller.
        shuffle: reshuffle the rows every epoch.
        seed: the shuffle's seed.
    """
    import tensorflow as tf

    elements = inputs if targets is None else (inputs, targets)
    columns = tf.nest.flatten(elements)
    num_rows = _common_length(inputs, targets)
    streamed = [isinstance(column, ImageColumn) and column.pixels is None for column in columns]
    # Converted once (fusegen's own arrays, such as decoded images, are read in place):
    # the map functions capture these tensors by reference, not by copy.
    held = [
        as_tensor(_stored(column)) if not stream else None
        for column, stream in zip(columns, streamed, strict=True)
    ]
    finish = [column.to_float if isinstance(column, ImageColumn) else None for column in columns]

    indices = tf.data.Dataset.range(num_rows)
    if shuffle:
        indices = indices.shuffle(num_rows, seed=seed, reshuffle_each_iteration=True)

    def finished(values):
        values = [fn(value) if fn is not None else value for fn, value in zip(finish, values, strict=True)]
        return tf.nest.pack_sequence_as(elements, values)

    if not any(streamed):

        def gather_batch(rows):
            return finished([tf.gather(column, rows) for column in held])

        dataset = indices.batch(batch_size).map(gather_batch, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        sources = [
            _encoded_sources(column) if stream else None
            for column, stream in zip(columns, streamed, strict=True)
        ]

        def gather_example(row):
            values = []
            for column, tensor, source in zip(columns, held, sources, strict=True):
                if source is None:
                    values.append(tf.gather(tensor, row))
                else:
                    encoded, is_path, kinds = source
                    values.append(column.decoder.decode_one(encoded[row], is_path[row], kinds)[0])
            return tuple(values)

        dataset = (
            indices.map(gather_example, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size)
            .map(lambda *values: finished(list(values)), num_parallel_calls=tf.data.AUTOTUNE)
        )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    if not any(streamed):
        # In memory, a batch is a few gathers: nothing worth tuning. tf.data's tuning
        # thread is joined when an iterator is destroyed, and the join waited out the
        # rest of its optimisation period: 0-2.5 s at the end of a 3 s fit on penguins,
        # up to 18 s after 25 s of training (that period grows as the run goes on).
        options = tf.data.Options()
        options.autotune.enabled = False
        dataset = dataset.with_options(options)
    return dataset


def _stored(column):
    if isinstance(column, ImageColumn):
        return column.pixels
    return np.asarray(column)


def _encoded_sources(column: ImageColumn):
    """A streamed image column as (encoded bytes or paths, is-path flags, kinds) tensors."""
    import tensorflow as tf

    is_path = np.array([isinstance(source, str) for source in column.sources])
    encoded = [source.encode() if isinstance(source, str) else source for source in column.sources]
    return tf.constant(encoded), tf.constant(is_path), source_kinds(is_path)


def _common_length(inputs: dict, targets) -> int:
    lengths = {f"inputs['{name}']": len(values) for name, values in inputs.items()}
    if isinstance(targets, dict):
        lengths.update({f"targets['{name}']": len(values) for name, values in targets.items()})
    elif targets is not None:
        lengths["targets"] = len(targets)
    if not lengths:
        raise DataError("the dataset has no inputs.")
    if len(set(lengths.values())) > 1:
        raise DataError(
            "inputs have different row counts, received "
            + ", ".join(f"{name}: {count}" for name, count in lengths.items())
            + ".",
            hint="every input and target needs one entry per example.",
        )
    count = next(iter(lengths.values()))
    if count == 0:
        raise DataError("the dataset is empty: every input has 0 rows.")
    return count


def compare_with_model(inputs: dict[str, Any], model) -> dict[str, list[str]]:
    """Per input name, how the pipeline's columns differ from the model's inputs (dtype, shape)."""
    # Presence flags and latents are made by the objective, not the data.
    names = {tensor.name.split(":")[0]: tensor for tensor in model.inputs}
    expected = {name: tensor for name, tensor in names.items() if name not in (PRESENT, LATENT)}
    problems: dict[str, list[str]] = {}
    for name in sorted(set(expected) | set(inputs)):
        found = problems.setdefault(name, [])
        if name not in inputs:
            found.append("the model expects it, the data has no such input")
            continue
        if name not in expected:
            found.append("the data provides it, the model has no such input")
            continue
        want_shape = tuple(expected[name].shape[1:])
        have_shape = tuple(inputs[name].shape[1:])
        if want_shape != have_shape:
            found.append(f"expected shape {list(want_shape)}, received {list(have_shape)}")
        want_dtype = str(expected[name].dtype)
        have_dtype = str(np.dtype(inputs[name].dtype))
        if want_dtype != have_dtype:
            found.append(f"expected dtype {want_dtype}, received {have_dtype}")
    return {name: found for name, found in problems.items() if found}


def check_against_model(inputs: dict[str, Any], model) -> None:
    """Compare the pipeline's arrays with the model's inputs, key by key, before training."""
    problems = compare_with_model(inputs, model)
    if problems:
        listed = [f"'{name}': {problem}" for name, found in problems.items() for problem in found]
        raise DataError("The data does not fit the model: " + "; ".join(listed) + ".")
