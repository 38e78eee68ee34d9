"""Your own Python generator or `keras.utils.PyDataset`, checked against the spec.

Two adapters, for the two things a generator of your own can yield:

- **raw data**, a dict of columns per batch (``{"photo": paths, "caption":
  texts, "price": numbers}``): `table_from_batches` collects the batches into
  a `Table`, so fusegen fits its preprocessing and builds its fast pipeline as
  for any other source. A spec names such a source as
  ``data.source: python:MODULE:FUNCTION``.
- **model-ready batches** ``(inputs, targets)``, as a hand-written Keras
  generator yields them: `dataset_from_batches` checks every batch against
  the model's inputs from the spec and serves them as a `tf.data.Dataset`.

Either way, a batch that does not match raises a `DataError` listing every
key that differs, with the expected and the received dtype and shape, instead
of TensorFlow's "generator yielded an element that did not match the expected
structure". A model-ready batch after the first is checked while TensorFlow
reads it, which wraps the error in its own; `surface_data_errors` raises it
again as the `DataError` it was.

Example:

>>> import numpy as np
>>> def batches():
...     for start in range(0, 6, 3):
...         yield {"a": np.arange(start, start + 3.0), "label": np.array(["x", "y", "x"])}
>>> table = table_from_batches(batches, origin="batches()")
>>> len(table), sorted(table.columns)
(6, ['a', 'label'])
"""

from __future__ import annotations

import contextlib
import itertools
import re
import reprlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from fusegen.data.signature import (
    Expected,
    compare,
    describe_value,
    model_input_signature,
    model_target_signature,
)
from fusegen.data.table import Table
from fusegen.errors import DataError
from fusegen.spec import GeneratorSpec


def _is_py_dataset(source: Any) -> bool:
    return hasattr(source, "__getitem__") and hasattr(source, "num_batches")


def is_batch_source(source: Any) -> bool:
    """Whether ``source`` is a generator function, a generator, a PyDataset or a list of batches.

    Tables, DataFrames, dicts of columns, arrays and paths are not: they are data already.
    """
    if isinstance(source, (list, tuple)):
        return bool(source) and all(isinstance(batch, (dict, tuple)) for batch in source)
    return _is_py_dataset(source) or hasattr(source, "__next__") or callable(source)


def source_name(source: Any) -> str:
    """How error messages name a batch source: ``make_rows()``, ``generator make_rows``, ``PyDataset Rows``."""
    if _is_py_dataset(source):
        return f"PyDataset {type(source).__name__}"
    name = getattr(source, "__name__", None)
    if hasattr(source, "__next__"):
        return f"generator {name or type(source).__name__}"
    if callable(source):
        return f"{name or type(source).__name__}()"
    return f"the {type(source).__name__} of batches"


def iterate_batches(source: Any, origin: str | None = None) -> Iterator:
    """Batches of a generator function, a generator, an iterable or a PyDataset, one pass."""
    if _is_py_dataset(source):
        return _iterate_py_dataset(source)
    if callable(source) and not hasattr(source, "__next__"):
        origin = origin or source_name(source)
        source = source()
        if _is_py_dataset(source):
            return _iterate_py_dataset(source)
    if isinstance(source, dict):
        return iter([source])  # one batch of columns
    if isinstance(source, (str, bytes)) or not hasattr(source, "__iter__"):
        # A string iterates, but over characters, never batches.
        raise DataError(
            f"{origin or 'the data source'} returned {type(source).__name__} {reprlib.repr(source)}; "
            "expected a generator, an iterable or a keras.utils.PyDataset of batches, each a dict of columns.",
            hint="return or yield batches such as {'column': values, ...}; for a single batch, "
            "return [batch].",
        )
    return iter(source)


def _iterate_py_dataset(dataset) -> Iterator:
    count = dataset.num_batches
    indices = range(count) if count is not None else itertools.count()
    for index in indices:
        yield dataset[index]
    dataset.on_epoch_end()


# --------------------------------------------------------------------------
# Raw batches -> a Table
# --------------------------------------------------------------------------


def table_from_batches(source: Any, origin: str | None = None, max_rows: int | None = None) -> Table:
    """Collect batches of raw columns into one `Table`.

    Args:
        source: a generator function, generator, iterable or
            ``keras.utils.PyDataset`` whose batches are dicts of columns
            (rows on the first axis), or ``(inputs, targets)`` pairs of such
            dicts, which are merged.
        origin: the source's name in error messages; its function or class
            name when omitted.
        max_rows: stop after this many rows; needed for an endless generator.

    Every batch must have the keys, dtypes and per-row shapes of the first;
    otherwise a `DataError` lists each key that differs.
    """
    origin = origin or source_name(source)
    columns: dict[str, list] = {}
    first: dict[str, Any] | None = None
    num_rows = 0
    for index, batch in enumerate(iterate_batches(source, origin)):
        batch = _as_columns(batch, origin, index)
        if first is None:
            first = batch
        else:
            problems = _compare_with_first(first, batch)
            if problems:
                raise DataError(
                    f"{origin}: batch {index} differs from batch 0, key by key: " + "; ".join(problems) + ".",
                    hint="yield the same columns with the same dtypes and per-row shapes in every batch.",
                )
        lengths = {key: len(values) for key, values in batch.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(
                f"{origin}: batch {index} has columns with different row counts, received {lengths}.",
                hint="every column of a batch needs one entry per row.",
            )
        for key, values in batch.items():
            columns.setdefault(key, []).append(values)
        num_rows += next(iter(lengths.values()))
        if max_rows is not None and num_rows >= max_rows:
            break
    if first is None:
        raise DataError(f"{origin}: the generator yielded no batches.", hint="check that it yields data.")
    merged = {key: np.concatenate(parts)[:max_rows] for key, parts in columns.items()}
    return Table(merged, origin=origin)


def _as_columns(batch: Any, origin: str, index: int) -> dict[str, np.ndarray]:
    if (
        isinstance(batch, tuple)
        and len(batch) in (2, 3)
        and all(isinstance(part, dict) for part in batch[:2])
    ):
        overlap = sorted(set(batch[0]) & set(batch[1]))
        if overlap:
            raise DataError(f"{origin}: batch {index} has keys {overlap} in both its inputs and its targets.")
        batch = {**batch[0], **batch[1]}
    if not isinstance(batch, dict) or not batch:
        model_ready = isinstance(batch, tuple) and batch and isinstance(batch[0], dict)
        raise DataError(
            f"{origin}: batch {index} is a {type(batch).__name__}, expected a dict of columns "
            f"(column name -> values, one per row), received {describe_value(batch)}.",
            hint="yield {'column': values, ...}, or ({'input column': ...}, {'target column': ...})"
            + (
                "; fusegen fits its preprocessing on raw columns, so model-ready (inputs, targets) "
                "batches go to your own Keras model through dataset_from_batches(spec, source)."
                if model_ready
                else "."
            ),
        )
    columns = {}
    for key, values in batch.items():
        array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
        if array.dtype == object and array.ndim == 1 and len(array):
            try:  # a list of numbers or of equal-shaped arrays becomes a numeric array
                stacked = np.asarray(list(array))
                array = stacked if stacked.dtype != object else array
            except ValueError:
                pass
        if array.ndim == 0:
            raise DataError(
                f"{origin}: batch {index}, key '{key}': expected one value per row, received a scalar "
                f"{describe_value(values)}."
            )
        columns[str(key)] = array
    return columns


def _family(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind in "iubf":
        return "number"
    return "text or object"


def _compare_with_first(first: dict[str, np.ndarray], batch: dict[str, np.ndarray]) -> list[str]:
    problems = []
    for key in list(first) + [key for key in batch if key not in first]:
        if key not in batch:
            problems.append(f"'{key}': expected it as in batch 0, received nothing (missing key)")
        elif key not in first:
            problems.append(f"'{key}': not in batch 0, received {describe_value(batch[key])}")
        else:
            want, have = first[key], batch[key]
            if _family(want) != _family(have) or want.shape[1:] != have.shape[1:]:
                problems.append(
                    f"'{key}': expected {_family(want)} with per-row shape {list(want.shape[1:])}, "
                    f"received {describe_value(have)}"
                )
    return problems


# --------------------------------------------------------------------------
# Model-ready batches -> a checked tf.data.Dataset
# --------------------------------------------------------------------------


def check_model_batch(
    spec: GeneratorSpec, batch: Any, label: str = "batch 0", with_targets: bool = True
) -> tuple[dict, Any]:
    """Check one ``(inputs, targets)`` batch against the model's inputs and targets.

    Returns the batch with every array cast to the dtype the model takes;
    raises a `DataError` listing each key that differs otherwise.
    """
    inputs, targets = batch, None
    if isinstance(batch, (tuple, list)):
        if len(batch) not in (1, 2, 3):
            raise DataError(
                f"{label}: expected (inputs, targets), received a {type(batch).__name__} of {len(batch)} items."
            )
        inputs = batch[0]
        targets = batch[1] if len(batch) > 1 else None
    if not isinstance(inputs, dict):
        names = list(spec.inputs)
        raise DataError(
            f"{label}: expected the inputs as a dict keyed by the model's input names {names}, "
            f"received {describe_value(inputs)}.",
            hint="yield ({" + ", ".join(f"'{name}': ..." for name in names) + "}, targets).",
        )
    problems = compare(model_input_signature(spec), inputs, "inputs")
    target_signature = model_target_signature(spec)
    if not isinstance(target_signature, dict):
        # A single target is compared as the model's one output, by its name.
        target_signature = {spec.output.name: target_signature}
        targets = targets if targets is None or isinstance(targets, dict) else {spec.output.name: targets}
    if with_targets:
        if targets is None:
            problems.append("targets: expected them after the inputs, received nothing")
        elif not isinstance(targets, dict):
            problems.append(
                f"targets: expected a dict of parts {list(target_signature)}, received {describe_value(targets)}"
            )
        else:
            problems += compare(target_signature, targets, "targets")
    rows = {np.shape(value)[0] for value in inputs.values() if np.ndim(value)}
    rows |= {np.shape(value)[0] for value in (targets or {}).values() if np.ndim(value)}
    if len(rows) > 1 and not any("row counts" in problem for problem in problems):
        problems.append(f"inputs and targets have different row counts, received {sorted(rows)}")
    if problems:
        raise DataError(
            f"{label} does not match the spec, key by key: " + "; ".join(problems) + ".",
            hint="make the generator yield exactly these keys, dtypes and shapes "
            "(shapes without the batch axis come from the spec's inputs and output).",
        )
    cast_inputs = {
        name: np.asarray(value, dtype=model_input_signature(spec)[name].dtype)
        for name, value in inputs.items()
    }
    if targets is None:
        return cast_inputs, None
    cast_targets = {
        part: np.asarray(targets[part], dtype=expected.dtype) for part, expected in target_signature.items()
    }
    if spec.output.kind != "record":
        return cast_inputs, cast_targets[spec.output.name]
    return cast_inputs, cast_targets


def dataset_from_batches(spec: GeneratorSpec, source: Any, origin: str | None = None):
    """A `tf.data.Dataset` over your own model-ready batches, each checked against the spec.

    Args:
        spec: the spec whose model the batches feed.
        source: a generator function (called again each epoch), a
            ``keras.utils.PyDataset``, a generator or an iterable of
            ``(inputs, targets)`` batches, ``inputs`` a dict keyed by input name.
        origin: the source's name in error messages; its function or class name
            when omitted.

    The first batch is checked at once, so a mismatch raises a `DataError`
    here, before training starts. Later batches are checked as TensorFlow
    reads them, so their `DataError` reaches you inside TensorFlow's own error
    (``tf.errors.UnknownError``, the key-by-key diff in its message); iterate
    or fit within `surface_data_errors` to get the `DataError` itself.
    Note that a Python generator is bound by the GIL: for speed, give fusegen
    the raw data instead (`table_from_batches` or any other source).

    Example:

    >>> with surface_data_errors():                                      # doctest: +SKIP
    ...     model.fit(dataset_from_batches(spec, my_batches), epochs=3)
    """
    import tensorflow as tf

    origin = origin or source_name(source)
    batches = iterate_batches(source)
    first = next(batches, None)
    if first is None:
        raise DataError(f"{origin}: the generator yielded no batches.")
    check_model_batch(spec, first, f"{origin}: batch 0")

    def checked() -> Iterator:
        nonlocal batches
        # The first pass goes on from the batch read for the check; later passes
        # start again (a generator function or PyDataset) or end (a used-up generator).
        stream = itertools.chain([first], batches) if batches is not None else iterate_batches(source)
        batches = None
        for index, batch in enumerate(stream):
            yield check_model_batch(spec, batch, f"{origin}: batch {index}")

    def signature(expected: Expected):
        return tf.TensorSpec((None, *expected.shape), tf.as_dtype(expected.dtype))

    target_signature = model_target_signature(spec)
    targets = (
        {part: signature(expected) for part, expected in target_signature.items()}
        if isinstance(target_signature, dict)
        else signature(target_signature)
    )
    inputs = {name: signature(expected) for name, expected in model_input_signature(spec).items()}
    return tf.data.Dataset.from_generator(checked, output_signature=(inputs, targets))


# --------------------------------------------------------------------------
# A batch check that failed inside TensorFlow, raised again as itself
# --------------------------------------------------------------------------

# TensorFlow puts a Python exception raised while it reads a generator into its
# own error's message as "ExceptionName: message", followed by the traceback.
_EMBEDDED_DATA_ERROR = re.compile(r"(?:^|\s)DataError: (.+)")


def data_error_from(error: BaseException) -> DataError | None:
    """The `DataError` that a TensorFlow error carries in its message, or None.

    A `DataError` raised while TensorFlow reads batches (a later batch of
    `dataset_from_batches` that does not match the spec) reaches Python as a
    ``tf.errors.OpError``; its message and hint are recovered intact.
    """
    if isinstance(error, DataError):
        return error
    import tensorflow as tf

    if not isinstance(error, tf.errors.OpError):
        return None
    found = _EMBEDDED_DATA_ERROR.search(getattr(error, "message", None) or str(error))
    if found is None:
        return None
    message, _, hint = found.group(1).strip().partition(" Hint: ")
    return DataError(message, hint=hint or None)


@contextlib.contextmanager
def surface_data_errors() -> Iterator[None]:
    """Within this block, a batch check that failed inside TensorFlow is raised as its `DataError`.

    Keras and tf.data read a generator's batches inside TensorFlow, which turns
    any Python error into a ``tf.errors.UnknownError`` carrying a traceback.
    Wrap ``model.fit`` (or a loop over the dataset) to get the `DataError`
    itself, with its key-by-key diff and hint; other errors pass unchanged.

    Example:

    >>> with surface_data_errors():                                      # doctest: +SKIP
    ...     model.fit(dataset_from_batches(spec, my_batches), epochs=3)
    """
    try:
        yield
    except Exception as error:
        data_error = data_error_from(error)
        if data_error is None or data_error is error:
            raise
        raise data_error from None
