"""Windows (N, T, C) of sequence inputs and outputs: read, select, standardised per channel."""

from __future__ import annotations

import numpy as np

from fusegen.data.checks import as_float, check_shape
from fusegen.data.missing import imputes
from fusegen.data.numeric_converters import StandardisedConverter
from fusegen.data.records import _decimals
from fusegen.data.sources import Table
from fusegen.errors import DataError
from fusegen.spec.modalities import StepsAndChannels


def _select(values: np.ndarray, select: StepsAndChannels | None, where: str) -> np.ndarray:
    if values.ndim != 3:
        raise DataError(
            f"{where}: expected windows of shape (examples, steps, channels), "
            f"received an array of shape {list(values.shape)}."
        )
    if select is None:
        return values
    if select.steps is not None:
        start, stop = select.steps
        if stop > values.shape[1]:
            raise DataError(
                f"{where}: select.steps {[start, stop]} reaches past the {values.shape[1]} steps in the data."
            )
        values = values[:, start:stop]
    if select.channels is not None:
        if max(select.channels) >= values.shape[2]:
            raise DataError(
                f"{where}: select.channels {select.channels} names a channel past the "
                f"{values.shape[2]} channels in the data."
            )
        values = values[:, :, select.channels]
    return values


def _read_windows(table: Table, column: str, spec, where: str, impute: bool) -> np.ndarray:
    """A part's windows (N, T, C): one array field, or its ``columns`` stacked as channels."""
    if spec.columns:
        channels = []
        for col in spec.columns:
            values = table.column(col, where)
            if values.ndim != 2:
                raise DataError(
                    f"{where}, column '{col}': expected one window of readings per row (examples, steps), "
                    f"received an array of shape {list(values.shape)}.",
                    hint="a long table of one reading per row needs data.windows in the spec.",
                )
            channels.append(as_float(values, f"{where}, column '{col}'", table, allow_missing=impute))
        values = np.stack(channels, axis=-1)
    else:
        values = table.column(column, where)
        if values.dtype == object:
            raise DataError(
                f"{where}: expected windows of equal length as one numeric array, "
                "received an object array (unequal lengths or mixed types).",
                hint="pad or cut every sequence to one length, or give a long table with data.windows.",
            )
        values = as_float(values, where, table, allow_missing=impute)
    return _select(values, spec.select, where)


class SequenceConverter(StandardisedConverter):
    """Windows (N, T, C): the selected steps and channels, standardised per channel.

    As an output it also records each channel's range in the training data;
    with the output's ``clip`` (the default) generated windows are clipped
    to it, as a bounded output layer (TimeGAN's sigmoid) would keep them,
    except the ``unclipped`` channels (those that continue their context in
    its own units: `fusegen.models.head_inputs`). Those follow their context
    past the training range, but keep its sign: a channel never below zero
    in training (a count, a price, a demand) is clipped at zero, never
    forecast negative, and one never above zero likewise.
    """

    #: A condition outside an input's training range is warned of, never refused: a forecast's
    #: covariates (a hotter week than any in training) are real data the user has to forecast from.
    refuses_out_of_range = False

    def __init__(
        self,
        name,
        spec,
        mean=None,
        std=None,
        fill=None,
        kind="Input",
        low=None,
        high=None,
        unclipped=(),
        decimals=None,
    ):
        super().__init__(name, spec, mean, std, fill, where=f"{kind} '{name}' (sequence)")
        self.is_output = kind == "Output"
        self.unclipped = sorted(unclipped)
        self.low = None if low is None else np.asarray(low, "float32")
        self.high = None if high is None else np.asarray(high, "float32")
        # An output channel's decimals in training (0 for counts; None past MAX_DECIMALS): samples come back so.
        self.decimals = None if decimals is None else list(decimals)
        # An input's channels read in the data's units, whose range conditions are checked against;
        # the preprocessor leaves out those read in each window's units (`Preprocessor.__init__`).
        self.ranged_channels = list(range(spec.channels))

    @staticmethod
    def example_values(spec, rows: int, rng: np.random.Generator) -> np.ndarray:
        """Random raw values of ``spec``'s kind, in the user's form (the conformance tests feed them)."""
        return rng.normal(size=(rows, spec.steps, spec.channels)).astype("float32")

    def _fit_more(self, values: np.ndarray) -> None:
        # Each channel's training range: an output's clips its samples, an input's checks conditions.
        self.low, self.high = values.min(axis=(0, 1)), values.max(axis=(0, 1))
        if self.is_output:
            self.decimals = [_decimals(values[..., channel]) for channel in range(values.shape[-1])]

    def out_of_range(self, table: Table, column: str, margin: float) -> list[str]:
        """One line per channel (of ``ranged_channels``) with a value outside the training range widened
        by ``margin`` of its width; empty for a run saved before input ranges were kept."""
        if self.is_output or self.low is None:
            return []
        values = self._values(table, column)
        names = self._channel_names(column)
        problems = []
        for channel in self.ranged_channels:
            low, high = float(self.low[channel]), float(self.high[channel])
            slack = margin * (high - low)
            readings = values[:, :, channel]
            outside = (readings < low - slack) | (readings > high + slack)
            if outside.any():
                window, step = np.argwhere(outside)[0]
                problems.append(
                    f"{names[channel]} of input '{self.name}' has {int(outside.sum())} value(s) outside the "
                    f"training range [{low:.6g}, {high:.6g}], the first {readings[window, step]:.6g} at step "
                    f"{int(step)} of {table.row_label(int(window))}"
                )
        return problems

    def unobserved(self, table: Table, column: str) -> list[str]:
        """One line per channel that some windows of an input that fills its gaps hold no value of at all."""
        if self.is_output or not imputes(self.spec):
            return []
        empty = np.isnan(self._raw(table, column)).all(axis=1)  # (windows, channels)
        names = self._channel_names(column)
        return [
            f"{names[channel]} of input '{self.name}' is missing at every step of {int(empty[:, channel].sum())} "
            f"window(s), the first the {table.row_label(int(np.flatnonzero(empty[:, channel])[0]))}"
            for channel in range(empty.shape[1])
            if empty[:, channel].any()
        ]

    def _channel_names(self, column: str) -> list[str]:
        """``column 'temp'`` (or ``channel 0`` for a multi-channel column) per channel, for messages."""
        return [
            f"column '{source}'" if self.spec.columns is not None else f"channel {index}"
            for index, (source, _) in enumerate(self.spec.channel_sources(column))
        ]

    def tf_inverse(self, values):
        """Model space -> the user's units; an output with ``clip`` is clipped to its training range
        (a channel that follows its context only to the sign it kept in training), and rounded to each
        channel's decimals in training."""
        import tensorflow as tf

        values = super().tf_inverse(values)
        if self.is_output and getattr(self.spec, "clip", False) and self.low is not None:
            low, high = self.low.copy(), self.high.copy()
            # A level may drift past anything training saw, but not across zero.
            low[self.unclipped] = np.where(low[self.unclipped] >= 0, 0.0, -np.inf)
            high[self.unclipped] = np.where(high[self.unclipped] <= 0, 0.0, np.inf)
            values = tf.clip_by_value(values, low, high)
        if self.is_output and self.decimals is not None and any(d is not None for d in self.decimals):
            # Deaths come back whole and prices in cents, as the data writes them.
            # (in float64: at 6 decimals, a value in the hundreds is past float32's exact whole numbers.)
            factor = np.array([10.0**d if d is not None else 1.0 for d in self.decimals], "float64")
            rounded = tf.cast(tf.round(tf.cast(values, tf.float64) * factor) / factor, values.dtype)
            values = tf.where(np.array([d is not None for d in self.decimals]), rounded, values)
        return values

    def tf_input_spec(self):
        """Windows as the data holds them: with ``select``, the steps or channels it picks from are any number."""
        import tensorflow as tf

        select = self.spec.select
        steps = None if select is not None and select.steps is not None else self.spec.steps
        channels = None if select is not None and select.channels is not None else self.spec.channels
        return tf.TensorSpec((None, steps, channels), tf.float32, name=self.name)

    def _tf_select(self, values):
        """`_select` in TensorFlow: the same steps and channels of each window."""
        import tensorflow as tf

        select = self.spec.select
        if select is None:
            return values
        if select.steps is not None:
            start, stop = select.steps
            values = values[:, start:stop]
        if select.channels is not None:
            values = tf.gather(values, list(select.channels), axis=2)
        # The model's layers need the window's shape; a window too short for the steps fails here.
        return tf.ensure_shape(values, (None, self.spec.steps, self.spec.channels))

    def get_state(self) -> dict:
        state = super().get_state()
        if self.low is not None:
            state["low"], state["high"] = self.low.tolist(), self.high.tolist()
        if self.decimals is not None:
            state["decimals"] = self.decimals
        return state

    def _raw(self, table: Table, column: str) -> np.ndarray:
        values = _read_windows(table, column, self.spec, self.where, imputes(self.spec))
        check_shape(values, (self.spec.steps, self.spec.channels), self.where)
        if not imputes(self.spec):
            self._require_values(values, table, column)
        return values

    def _require_values(self, values: np.ndarray, table: Table, column: str) -> None:
        """A `DataError` naming the column, the step and the window of the first missing value."""
        bad = ~np.isfinite(values)
        if not bad.any():
            return
        window, step, channel = (int(index) for index in np.argwhere(bad)[0])
        windows = int(bad.any(axis=(1, 2)).sum())
        name = self._channel_names(column)[channel]
        value = values[window, step, channel]
        found = "missing" if np.isnan(value) else f"infinite ({value})"
        first = self.spec.select.steps[0] if self.spec.select is not None and self.spec.select.steps else 0
        ahead = (
            " (a known-ahead input: the forecast's rows too)"
            if getattr(self.spec, "known_future", False)
            else ""
        )
        raise DataError(
            f"{self.where}: {name} is {found} at step {step} of its {self.spec.steps} (step {first + step} of "
            f"the window) in {windows} window(s), the first the {table.row_label(window)}; the input needs a "
            f"number at every step it reads{ahead}.",
            hint=f"give {name} a value at those rows, or leave those rows out; a spec trained with missing: "
            "mask (or impute) on the input, or data.missing: drop_rows, accepts gaps.",
        )
