"""What a generator reads: its spec's data, a user's file, frame or batches, and the dry run over them."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from fusegen.data.adapters import is_batch_source, source_name, table_from_batches
from fusegen.data.derived_channels import with_derived_channels
from fusegen.data.pipeline import prepare_data
from fusegen.data.shards import BATCH_ROWS, read_batches, stream_decision
from fusegen.data.sources import load_table, read_file, read_image_folder, table_from_frame
from fusegen.data.streaming import FIT_SAMPLE_ROWS, check_streamable, fit_streaming
from fusegen.data.streaming_statistics import concatenate_tables
from fusegen.data.table import Table
from fusegen.errors import DataError, RunError


def spec_table(generator) -> Table:
    if generator.spec.data is None or generator.spec.data.source is None:
        raise DataError(
            f"spec '{generator.spec.name}' has no data.source, and no data was passed.",
            hint="add data.source to the spec, or pass data to fit().",
        )
    if generator.run_dir_ is not None:
        _check_run_data_exists(generator)
    table = load_table(generator.spec.data, generator.base_dir, generator.code_policy)
    if generator.spec.data.max_rows:
        table = table.take(np.arange(min(len(table), generator.spec.data.max_rows)))
    return table


def read_user_file(generator, path: str | Path) -> Table:
    """A CSV, Parquet or NPZ file of the user's, read with the spec's ``data.delimiter`` and ``data.encoding``
    (and its calendar channels added, as training's table had them). A folder is read as an image
    folder, as ``data.source`` reads one (a subfolder per class gives ``label``)."""
    if Path(path).is_dir():
        return read_image_folder(path)
    data = generator.spec.data
    if data is None:
        return read_file(path)
    return with_derived_channels(
        read_file(path, delimiter=data.delimiter, encoding=data.encoding), data.windows
    )


def _check_run_data_exists(generator) -> None:
    """A loaded run looks for its data where training found it; say so when it is not there."""
    source = generator.spec.data.source
    if source.startswith(("bundled:", "python:")) or glob.has_magic(source):
        return
    path = Path(os.path.normpath(Path(generator.base_dir).absolute() / source))
    if not path.exists():
        raise RunError(
            f"run '{generator.run_dir_}': its training data '{source}' is not at '{path}', where it was "
            "relative to the run when it trained (the run was moved without it).",
            hint="pass the real data with --real DATA (Python: real=...).",
        )


def as_table(generator, data, training: bool = False) -> Table:
    """``data`` (a table, a file, a frame, arrays or batches) as a `Table`, with the channels the
    spec's windows compute (`fusegen.data.derived_channels`)."""
    if isinstance(data, (str, Path)):
        return read_user_file(generator, data)  # which adds them itself, for evaluate's --real too
    windows = generator.spec.data.windows if generator.spec.data else None
    return with_derived_channels(_as_table(generator, data, training), windows)


def _as_table(generator, data, training: bool) -> Table:
    if isinstance(data, Table):
        return data
    if isinstance(data, dict):
        return Table(data, origin="the given arrays")
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return table_from_frame(data)
    if is_batch_source(data):
        # The adapter of python: sources: every batch checked against the first, key by key.
        max_rows = generator.spec.data.max_rows if training and generator.spec.data else None
        return table_from_batches(data, origin=source_name(data), max_rows=max_rows)
    raise DataError(
        f"cannot read data of type {type(data).__name__}; expected a DataFrame, a dict of arrays, "
        "a CSV/Parquet/NPZ path, or a generator function, generator or keras.utils.PyDataset of "
        f"batches of columns, received {type(data).__name__}."
    )


def fitted_sizes(generator) -> dict[str, int] | None:
    """Vocabulary sizes fitted on the spec's data, for `build`; None when the spec fixes them all.

    ``fusegen inspect`` plans with them, so its plan shows the sizes training would use.
    """
    if generator.spec.data is None or not _needs_fitted_sizes(generator.spec):
        return None
    shards, _ = stream_decision(generator.spec.data, generator.base_dir)
    if shards is not None:
        # Too large to read whole: the vocabularies come from the same bounded pass as training's.
        return fit_streaming(generator.spec, shards).preprocessor.vocabulary_sizes()
    return prepare_data(generator.spec, spec_table(generator)).preprocessor.vocabulary_sizes()


def reading_plan(generator) -> str:
    """How training would read the spec's data, in words: in memory or streamed, and why."""
    return stream_decision(generator.spec.data, generator.base_dir)[1]


def _first_rows(shards, count: int) -> Table:
    """The first ``count`` rows of a streamed source, every column: what its dry run reads."""
    tables, rows = [], 0
    for table in read_batches(shards, shards.paths, batch_rows=min(count, BATCH_ROWS)):
        tables.append(table)
        rows += len(table)
        if rows >= count:
            break
    first = concatenate_tables(tables)
    return first.take(np.arange(min(count, len(first))))


def dry_run(generator, sample_size: int | None = 1000, describe_table=None):
    """A dry run, as ``fusegen validate`` makes it: pipeline on a sample, then the built model checked.

    Loads the spec's data, fits preprocessing on ``sample_size`` rows (all
    when None), builds one batch and checks it against a model built for
    it. Returns the `fusegen.data.validation.ValidationReport`, ``ok`` when
    nothing is wrong. ``describe_table(table)``, when given, adds a note
    about the whole table once the run is clean (the training schedule).
    """
    from fusegen.data.validation import validate_data

    shards, how = stream_decision(generator.spec.data, generator.base_dir)
    if shards is None:
        table = spec_table(generator)
        report = validate_data(generator.spec, table, sample_size=sample_size)
    else:
        # Streamed data is never read whole, not even here: the dry run reads the first rows.
        table = _first_rows(shards, sample_size or FIT_SAMPLE_ROWS)
        report = validate_data(generator.spec, table, sample_size=sample_size)
        describe_table = None  # the schedule depends on the rows of each split
        try:
            check_streamable(generator.spec)
        except DataError as error:
            report.problems.append(str(error))
        if sample_size is None and report.ok:
            _fitting_pass(generator.spec, shards, report)
        else:
            report.notes.append(
                f"read the first {report.num_rows:,} rows of {shards.origin}; training fits preprocessing in "
                "one pass over every row, and counts the rows of each split there (--sample 0 runs that "
                "pass here and says how many rows each part was fitted on)"
            )
    report.notes.insert(0, f"data: {how}")

    def build_model():
        built = generator.build(report.vocabulary_sizes)
        # An objective may wrap the Keras model whose inputs the data feeds.
        return getattr(built, "condition_model", built)

    report.check_model(build_model)
    if report.ok and describe_table is not None:
        report.notes.append(describe_table(table))
    return report


def _fitting_pass(spec, shards, report) -> None:
    """Training's fitting pass over every file, each part's statistics noted with the rows they read.

    Its vocabulary sizes, over every row, replace those of the first rows for the model check.
    """
    try:
        streamed = fit_streaming(spec, shards)
    except DataError as error:
        report.problems.append(str(error))
        return
    for name, lines in streamed.fitted_parts.items():
        report.parts[name].notes += [f"fitted: {line}" for line in lines]
    report.fitted_parts = streamed.fitted_parts
    report.vocabulary_sizes = streamed.preprocessor.vocabulary_sizes()
    report.notes.append(
        f"fitted preprocessing in one pass over {shards.origin}, as training does: {streamed.num_train:,} "
        f"training and {streamed.num_validation:,} validation rows"
        + (f", {streamed.num_dropped:,} dropped" if streamed.num_dropped else "")
        + f"; its bounded sample: {streamed.sample_rows:,} training rows"
    )


def _needs_fitted_sizes(spec) -> bool:
    """Whether some vocabulary size is left to the data: a categorical or raw-text input, or an output label."""
    if any(input_spec.fits_vocabulary for input_spec in spec.inputs.values()):
        return True
    output = spec.output
    return output.kind == "record" and any(col not in output.vocabularies for col in output.categorical)
