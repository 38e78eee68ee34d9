"""Per-modality preprocessing, fitted on the training split and saved with the run.

One converter per input and one for the output. Each has ``fit`` (learns
its state from training rows), ``transform`` (table -> model-ready array) and
``get_state`` (plain JSON, no pickle; the constructor takes it back), so
training, evaluation and prediction use identical transforms. Output
converters also have ``inverse`` back to the user's units and labels.

A converter owns its whole conversion, TensorFlow form included, so the
exported SavedModel (`fusegen.export`) runs what ``sample()`` runs:

- an input converter's ``tf_transform(values)`` maps a tensor in the user's
  terms (as ``tf_input_spec()`` describes it) to the model's input. Lookups
  (categories, text) are written once in TensorFlow, and ``transform`` calls
  the same function eagerly; the arithmetic of numbers, windows and images
  stays in NumPy for the training arrays (no TensorFlow copy of them), with
  its TensorFlow twin beside it and ``tests/test_export_parity.py`` holding
  the two equal. ``tf_resources`` lists the tables a SavedModel must track.
- an output converter's ``inverse`` is its ``tf_inverse``, run as a graph
  (`fusegen.data.tensors.GraphCache`) and put in the user's types
  (DataFrames, datetimes, nullable integers).

The converters live by kind: `fusegen.data.image_converters`,
`fusegen.data.vocabulary_converters` (categorical and text),
`fusegen.data.numeric_converters` (numeric inputs, vector outputs),
`fusegen.data.sequence_converters` and `fusegen.data.records` (record
outputs). Missing values follow each input's ``missing`` policy; see
`fusegen.data.missing`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusegen.data.image_converters import (
    ImageConverter,
    ImageOutputConverter,
    decode_image_files,
    read_images,
)
from fusegen.data.missing import columns_of_parts, missing_values, rows_with_missing
from fusegen.data.numeric_converters import NumericConverter, VectorOutputConverter
from fusegen.data.records import RecordConverter
from fusegen.data.sequence_converters import SequenceConverter
from fusegen.data.sources import Table
from fusegen.data.vocabulary_converters import OUT_OF_VOCABULARY, CategoricalConverter, TextConverter
from fusegen.data.windows import window_table
from fusegen.spec import INPUT_SLOT, GeneratorSpec, InputConfig
from fusegen.spec.inputs import register_input_kind as register_spec_input_kind
from fusegen.spec.names import CONSTANT_INPUT

# The converters and missing-value helpers moved to their own modules; they are
# re-exported so that `from fusegen.data.preprocessing import ...` keeps working.
__all__ = [
    "OUT_OF_VOCABULARY",
    "CategoricalConverter",
    "ImageConverter",
    "ImageOutputConverter",
    "INPUT_CONVERTERS",
    "NumericConverter",
    "Preprocessor",
    "SequenceConverter",
    "TextConverter",
    "VectorOutputConverter",
    "columns_of_parts",
    "decode_image_files",
    "missing_values",
    "read_images",
    "register_input_kind",
    "rows_with_missing",
]


#: The converter of each input kind; `register_input_kind` adds one.
INPUT_CONVERTERS: dict[str, type] = {
    "image": ImageConverter,
    "text": TextConverter,
    "numeric": NumericConverter,
    "categorical": CategoricalConverter,
    "sequence": SequenceConverter,
}


def register_input_kind(config: type[InputConfig], converter: type) -> type[InputConfig]:
    """Add an input kind: the spec accepts ``config`` and its rows go through ``converter``.

    ``config`` subclasses `fusegen.spec.InputConfig` with ``kind:
    Literal["my_kind"]`` and an ``encoder`` field; ``converter`` is built as
    ``converter(name, input_spec, **saved_state)`` and has ``fit(table,
    column)``, ``transform(table, column, **options)``, ``get_state()``,
    ``tf_input_spec()``, ``tf_transform(values)``, ``tf_resources`` and
    ``example_values(spec, rows, rng)``, like the built-in converters. The
    kind's encoders then register with ``ENCODERS.register(kind, ...)``.
    See docs/adding-a-part.md.
    """
    required = ("fit", "transform", "get_state", "tf_input_spec", "tf_transform", "example_values")
    missing = [method for method in required if not callable(getattr(converter, method, None))]
    if missing:
        raise TypeError(
            f"converter {converter.__name__} for an input kind lacks {missing}; it needs {list(required)}"
        )
    (kind,) = INPUT_SLOT.names_of(config)
    if INPUT_CONVERTERS.get(kind, converter) is not converter:
        raise ValueError(f"input kind '{kind}' already has the converter {INPUT_CONVERTERS[kind].__name__}")
    register_spec_input_kind(config)
    INPUT_CONVERTERS[kind] = converter
    return config


# --------------------------------------------------------------------------
# The preprocessor: every converter of a spec
# --------------------------------------------------------------------------


class Preprocessor:
    """All converters of one spec: fit on training rows, transform, invert, save.

    A long table is cut into windows first when the spec has ``data.windows``.

    Example:

    >>> import numpy as np
    >>> from fusegen.spec import load_spec
    >>> from fusegen.data.sources import Table
    >>> spec = load_spec({
    ...     "inputs": {"size": {"kind": "numeric", "columns": ["a"]}},
    ...     "output": {"kind": "record", "categorical": ["label"]},
    ... })
    >>> table = Table({"a": np.array([1.0, 2.0, 3.0]),
    ...                "label": np.array(["x", "y", "x"], dtype=object)}, "example")
    >>> pre = Preprocessor(spec).fit(table)
    >>> pre.transform_targets(table)["label"].tolist()
    [0, 1, 0]
    """

    def __init__(self, spec: GeneratorSpec, state: dict[str, Any] | None = None):
        self.spec = spec
        state = state or {}
        input_states = state.get("inputs", {})
        self.inputs = {
            name: INPUT_CONVERTERS[input_spec.kind](name, input_spec, **input_states.get(name, {}))
            for name, input_spec in spec.inputs.items()
        }
        for name, converter in self.inputs.items():
            if hasattr(converter, "ranged_channels"):
                # A channel read in each window's units (window_units, or a context the output
                # continues in its own units) may sit at any level: only the others are range-checked.
                converter.ranged_channels = [
                    channel
                    for channel in converter.ranged_channels
                    if channel not in _window_unit_channels(spec, name)
                ]
        output_state = state.get("output", {})
        output = spec.output
        if output.kind == "image":
            self.output = ImageOutputConverter(output)
        elif output.kind == "sequence":
            # A channel generated in its window's own units follows its context past the training range.
            follows_context = (
                [channel for channel, _, _ in spec.continued_channels()] if output.context_scaling else []
            )
            self.output = SequenceConverter(
                output.name, output, kind="Output", unclipped=follows_context, **output_state
            )
        elif output.kind == "record":
            self.output = RecordConverter(output, output_state)
        else:
            self.output = VectorOutputConverter(output, **output_state)
        self.fitted = bool(state)

    def fit(self, table: Table, labels: Table | None = None) -> Preprocessor:
        """Fit every converter on ``table``, the training rows.

        Args:
            table: the rows that statistics (means, quantiles, ranges) are fitted on.
            labels: rows whose category labels the vocabularies must also know,
                usually every row of the data. A label is not a statistic, so
                this leaks nothing; without it a rare label drawn only into the
                validation split would be unknown to the model.
        """
        table = window_table(table, self.spec)
        labels = window_table(labels, self.spec) if labels is not None else None
        converters = [(converter, self.spec.input_column(name)) for name, converter in self.inputs.items()]
        converters.append((self.output, self.spec.output_column()))
        for converter, column in converters:
            converter.fit(table, column)
            if labels is not None and hasattr(converter, "fit_vocabulary"):
                converter.fit_vocabulary(labels, column)
        if _levels_scale(self.spec):
            self._share_context_units()
        self.fitted = True
        return self

    def _share_context_units(self) -> None:
        """Standardise each continued output channel as its context channel is (``output.level_scaling``).

        The output is generated as ``y * scale + mean`` of its context in the context's model units;
        fitted apart, the two units differ by a global shift and stretch, which a network correction
        can only learn approximately, and whose error then lands on every series alike: an offset
        of 15 is nothing to a series of thousands and everything to one of tens.
        """
        scaler = self.output.scaler
        for channel, name, source in self.spec.continued_channels():
            context = self.inputs[name].scaler
            scaler.mean[channel], scaler.std[channel] = context.mean[source], context.std[source]
        self.output.refit_inverse()

    def context_levels(self) -> dict[int, float]:
        """Per continued output channel never below zero in training, its training spread over its mean.

        `fusegen.models.head_inputs.ContextStatistics` reads a window's level relative to the
        channel's mean from its model-units mean with it. Empty without ``output.level_scaling``,
        and for channels that cross zero (their level says nothing of their scale).
        """
        if not _levels_scale(self.spec):
            return {}
        levels = {}
        for channel, name, source in self.spec.continued_channels():
            context = self.inputs[name]
            mean, std = float(context.scaler.mean[source]), float(context.scaler.std[source])
            if context.low is not None and float(context.low[source]) >= 0 and mean > 0:
                levels[channel] = std / mean
        return levels

    def transform_inputs(self, table: Table, names=None, compact: bool = False) -> dict[str, Any]:
        """Model-ready inputs keyed by input name.

        With ``compact``, uint8 images stay uint8 (or encoded, when they do not
        fit in memory) in an `ImageColumn` that `make_dataset` maps per batch.
        """
        table = window_table(table, self.spec)
        if not self.spec.inputs and names is None:
            return {CONSTANT_INPUT: np.zeros((table.num_rows, 1), "float32")}
        names = list(self.inputs) if names is None else names
        cache = self.spec.data.pixel_cache if self.spec.data else "auto"
        return {
            name: self.inputs[name].transform(
                table, self.spec.input_column(name), compact=compact, cache=cache
            )
            for name in names
        }

    def transform_targets(self, table: Table, compact: bool = False):
        """Model-space targets: an array, or a dict of parts for records."""
        table = window_table(table, self.spec)
        cache = self.spec.data.pixel_cache if self.spec.data else "auto"
        return self.output.transform(table, self.spec.output_column(), compact=compact, cache=cache)

    def inverse_outputs(self, predictions):
        return self.output.inverse(predictions)

    def vocabulary_sizes(self) -> dict[str, int]:
        """Sizes the shape planner needs: per text/categorical input, and ``output.COLUMN``."""
        sizes = {}
        for name, converter in self.inputs.items():
            size = getattr(converter, "vocabulary_size", None)
            if size:
                sizes[name] = size
        if isinstance(self.output, RecordConverter):
            for col, size in self.output.vocabulary_sizes().items():
                sizes[f"output.{col}"] = size
        return sizes

    def unseen_label_pairs(self) -> dict[tuple[str, str], np.ndarray]:
        """Per pair of a record's categorical parts, the label ids the training rows rule out
        (``output.unseen_label_pairs``); empty for other outputs."""
        return self.output.unseen_pair_ids() if isinstance(self.output, RecordConverter) else {}

    def unseen_counts(self) -> dict[str, dict[str, int]]:
        """Per categorical input, the labels mapped to the out-of-vocabulary id 0 so far, and how often."""
        return {
            name: dict(converter.unseen_counts)
            for name, converter in self.inputs.items()
            if isinstance(converter, CategoricalConverter) and converter.unseen_counts
        }

    def get_state(self) -> dict[str, Any]:
        return {
            "inputs": {name: conv.get_state() for name, conv in self.inputs.items()},
            "output": self.output.get_state(),
        }


def _levels_scale(spec: GeneratorSpec) -> bool:
    """Whether continued channels are scaled by their window in their own units (``output.level_scaling``)."""
    output = spec.output
    return output.kind == "sequence" and output.context_scaling and output.level_scaling


def _window_unit_channels(spec: GeneratorSpec, name: str) -> set[int]:
    """The channels of sequence input ``name`` that the model reads in each window's own units."""
    channels = set(spec.inputs[name].window_unit_channels())
    if spec.output.kind == "sequence" and spec.output.context_scaling:
        channels |= {channel for _, source, channel in spec.continued_channels() if source == name}
    return channels
