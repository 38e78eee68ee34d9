"""What a head takes besides the fused conditions: U-Net skips, and known-future steps.

- **Skips**: an image head may reuse the maps an image input's encoder made
  at each size (`plan_skips`).
- **Known-future steps**: a sequence input marked ``known_future`` holds one
  value per *output* step (tomorrow's temperature, the calendar). Pooled
  into the fused vector, the step each value belongs to would be lost, so
  the decoder also joins these steps to the generated series step by step
  (`step_join_layers`): each output step sees the head's value there, the
  known-future values at that step and the fused conditions (with the
  latent), and a residual correction is added. The head itself stays the
  same; the join follows it.
- **Continued channels**: where an output channel continues an input's
  channel (`GeneratorSpec.continued_channels`: a forecast's horizon after its
  context), the step join also sees, at each output step, that channel's
  last observed value and its value one horizon earlier
  (`ContinuationAnchors`). Pooled encoders summarise the context well but
  blur exactly these: where the series stands now, and the last cycle when
  the horizon is a season (yesterday's half-hours, last week's days). They
  are what naive forecasts use, and lags are what autoregressive
  forecasters such as DeepAR feed their networks. With
  ``context_autoregression`` the join also sees each window's own
  linear-prediction continuation (`linear_prediction`): an oscillation
  whose phase and damping differ from window to window (a stride, a swing)
  is continued there as no fixed lag continues it.
- **Context scaling**: the same continued channels are read in the units of
  their own window (`ContextStatistics`, `ScaleContext`): less the context's
  mean, over its standard deviation, and the output is scaled back with them
  (`UnscaleOutput`). A series whose level drifts (a city's ridership rising
  over a decade) then tests at levels training never saw only in the units
  the network does not use; this is reversible instance normalisation (Kim
  et al., ICLR 2022), and what DeepAR's mean scaling does for its inputs.
- **Window units for covariates**: channels a sequence input lists in
  ``window_units`` (`WindowUnits`) are read the same way, each by its own
  window's mean and spread. A covariate that wanders like a random walk
  (another exchange rate beside the forecast one) otherwise shows the
  network levels that stand in for the target's own, and that a forecast
  window may never have seen in training.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fusegen.spec import GeneratorSpec

#: Width of the step join's convolutions: the same small width as the sequence encoders' first stage.
STEP_JOIN_WIDTH = 64


def plan_skips(spec: GeneratorSpec, branches: dict) -> str | None:
    """Choose the image input whose encoder maps feed the head's skips, and mark those layers.

    A skip is the last encoder output at each size the encoder reaches (the
    input itself at full size when no layer keeps it), so every resolution
    of the decoder can reuse the detail the encoder saw there.
    """
    output = spec.output
    requested = output.head.skips_from
    if requested == "none":
        return None
    if requested is None:
        same_size = [
            name
            for name, input_spec in spec.inputs.items()
            if input_spec.kind == "image"
            and (input_spec.height, input_spec.width) == (output.height, output.width)
        ]
        if not same_size:
            return None
        requested = same_size[0]
    branch = branches[requested]
    last_at_size: dict[tuple[int, int], int] = {branch.input_shape[:2]: -1}
    for index, shape in enumerate(branch.encoder.shapes):
        if len(shape) == 3:
            last_at_size[shape[:2]] = index
    branch.skip_layers = [last_at_size[size] for size in sorted(last_at_size)]
    return requested


def uses_anchors(spec: GeneratorSpec) -> bool:
    """Whether the step join sees continued channels' anchors (``output.context_anchors``)."""
    return bool(spec.continued_channels()) and spec.output.context_anchors


def uses_autoregression(spec: GeneratorSpec) -> bool:
    """Whether the anchors include a linear prediction (``output.context_autoregression``, a long enough context)."""
    return (
        uses_anchors(spec)
        and spec.output.context_autoregression
        and any(autoregression_order(spec.inputs[name].steps) for _, name, _ in spec.continued_channels())
    )


def uses_context_scaling(spec: GeneratorSpec) -> bool:
    """Whether continued channels are read and generated in their window's units (``output.context_scaling``)."""
    return bool(spec.continued_channels()) and spec.output.context_scaling


def joins_steps(spec: GeneratorSpec) -> bool:
    """Whether the head is followed by a step join: known-future inputs, or anchors."""
    return bool(spec.known_future_inputs()) or uses_anchors(spec)


def step_channels(spec: GeneratorSpec) -> int:
    """Channels of the per-step values the decoder receives: known-future steps, then anchors."""
    known = sum(spec.inputs[name].model_shape()[-1] for name in spec.known_future_inputs())
    return known + continuation_anchors(spec).channels if uses_anchors(spec) else known


def context_statistics(spec: GeneratorSpec, levels: dict[int, float] | None = None) -> ContextStatistics:
    """The layer that measures each continued channel's context mean and spread, per window.

    ``levels`` (`ShapePlan.context_levels`) names the channels whose scale follows their level.
    """
    continued = spec.continued_channels()
    contexts = list(dict.fromkeys(name for _, name, _ in continued))
    sources = {channel: (contexts.index(name), source) for channel, name, source in continued}
    return ContextStatistics(
        contexts,
        sources,
        spec.output.channels,
        spec.output.context_scale_prior,
        levels=levels if spec.output.level_scaling else None,
        name="context_statistics",
    )


def context_scalers(spec: GeneratorSpec) -> dict[str, ScaleContext]:
    """Per context input, the layer that puts its continued channels in their window's units."""
    scalers: dict[str, dict[int, int]] = {}
    for channel, name, source in spec.continued_channels():
        scalers.setdefault(name, {}).setdefault(source, channel)
    return {name: ScaleContext(pairs, name=f"scale_context_{index}") for index, (name, pairs) in
            enumerate(scalers.items())}  # fmt: skip


#: Keeps a flat context's scale away from 0 (model units: the data's own standard deviation is 1).
MIN_CONTEXT_SCALE = 1e-2
#: The least share of the channel's mean a window's level counts as (`ContextStatistics` ``levels``):
#: a series of zeros gets a scale floor of this share of MIN_CONTEXT_SCALE, not none.
MIN_LEVEL_SHARE = 1e-3
#: A window's level below this share of its channel's mean shrinks its scale prior and floor in
#: proportion (`ContextStatistics` ``levels``); above it, they are the channel's. A panel of similar
#: series moves within a few times its mean (a state's unemployment from 3% to 10%, whose windows
#: at half the mean are no calmer); one of different scales spans orders of magnitude.
LEVEL_SHARE_FROM = 0.25


@keras.saving.register_keras_serializable(package="fusegen")
class ContextStatistics(keras.layers.Layer):
    """(batch, 2, output channels): each continued channel's context mean and standard deviation.

    ``sources`` maps an output channel to ``(context position, channel)``;
    an output channel that continues nothing gets mean 0 and scale 1, so
    scaling leaves it as it is.

    The scale is the window's standard deviation with ``prior`` readings of
    the channel's training spread (1 in model units) added to its variance:
    ``sqrt((n * var + prior) / (n + prior))`` for a window of ``n`` steps.
    A long window keeps about its own spread; six years of a slow series,
    whose own spread is a few hundredths of the series', would otherwise
    magnify the next year's change dozens of times.

    ``levels`` maps an output channel never below zero in training to its
    training spread over its mean (`Preprocessor.context_levels`). Such a
    channel's prior spread and scale floor shrink in proportion to the
    window's level where it is below `LEVEL_SHARE_FROM` of the channel's
    mean (down to `MIN_LEVEL_SHARE`): in a panel of countries importing from
    tens to tens of thousands, the prior is otherwise the panel's spread,
    and a small country's forecast takes on the big ones' swings.
    """

    example = {
        "init_kwargs": {"contexts": ["history"], "sources": {0: [0, 1]}, "channels": 2, "levels": {1: 0.5}},
        "input_shape": ((2, 6, 2),),
        "expected_output_shape": (2, 2, 2),
    }

    def __init__(self, contexts, sources, channels, prior=0.0, levels=None, **kwargs):
        super().__init__(**kwargs)
        self.contexts = list(contexts)
        self.sources = {int(channel): tuple(source) for channel, source in dict(sources).items()}
        self.channels = int(channels)
        self.prior = float(prior)
        self.levels = {int(channel): float(ratio) for channel, ratio in dict(levels or {}).items()}

    def call(self, contexts):
        contexts = list(contexts) if isinstance(contexts, (list, tuple)) else [contexts]
        batch = ops.shape(contexts[0])[0]
        means, scales = [], []
        for channel in range(self.channels):
            if channel not in self.sources:
                means.append(ops.zeros((batch,)))
                scales.append(ops.ones((batch,)))
                continue
            position, source = self.sources[channel]
            series = contexts[position][:, :, source]
            mean = ops.mean(series, axis=1)
            share = None
            if channel in self.levels:
                # The window's level over the channel's mean: (m * std + mean) / mean in data units.
                level = 1.0 + mean * self.levels[channel]
                share = ops.clip(level / LEVEL_SHARE_FROM, MIN_LEVEL_SHARE, 1.0)
            means.append(mean)
            scales.append(_window_scale(series, self.prior, share))
        return ops.stack([ops.stack(means, axis=-1), ops.stack(scales, axis=-1)], axis=1)

    def compute_output_shape(self, input_shape):
        first = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        return (first[0], 2, self.channels)

    def get_config(self):
        sources = {str(channel): list(source) for channel, source in self.sources.items()}
        return {
            **super().get_config(),
            "contexts": self.contexts,
            "sources": sources,
            "channels": self.channels,
            "prior": self.prior,
            "levels": {str(channel): ratio for channel, ratio in self.levels.items()},
        }


@keras.saving.register_keras_serializable(package="fusegen")
class ScaleContext(keras.layers.Layer):
    """A context input with its continued channels in their window's units; ``[context, statistics]`` in.

    ``pairs`` maps a context channel to the output channel whose statistics scale it.
    """

    example = {
        "init_kwargs": {"pairs": {1: 0}},
        "input_shape": ((2, 6, 3), (2, 2, 2)),
        "expected_output_shape": (2, 6, 3),
    }

    def __init__(self, pairs, **kwargs):
        super().__init__(**kwargs)
        self.pairs = {int(channel): int(output) for channel, output in dict(pairs).items()}

    def call(self, inputs):
        context, statistics = inputs
        columns = []
        for channel in range(context.shape[-1]):
            values = context[:, :, channel]
            if channel in self.pairs:
                output = self.pairs[channel]
                values = (values - statistics[:, 0, output][:, None]) / statistics[:, 1, output][:, None]
            columns.append(values)
        return ops.stack(columns, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "pairs": {str(key): value for key, value in self.pairs.items()}}


def window_units_layers(spec: GeneratorSpec) -> dict[str, WindowUnits]:
    """Per sequence input with ``window_units``, the layer that reads those channels in their window's units."""
    return {
        name: WindowUnits(part.window_unit_channels(), prior=spec.output.context_scale_prior if
                          spec.output.kind == "sequence" else 0.0, name=f"window_units_{name}")
        for name, part in spec.inputs.items()
        if part.kind == "sequence" and part.window_units
    }  # fmt: skip


@keras.saving.register_keras_serializable(package="fusegen")
class WindowUnits(keras.layers.Layer):
    """A sequence with the ``channels`` listed less their window's mean, over their window's spread.

    The spread takes ``prior`` readings of the channel's training spread
    (1 in model units), as `ContextStatistics` does; other channels (and a
    missing-value mask's indicators, which follow the data channels) pass
    through as they are.
    """

    example = {
        "init_kwargs": {"channels": [1]},
        "input_shape": (2, 6, 3),
        "expected_output_shape": (2, 6, 3),
    }

    def __init__(self, channels, prior=0.0, **kwargs):
        super().__init__(**kwargs)
        self.channels = [int(channel) for channel in channels]
        self.prior = float(prior)

    def call(self, sequence):
        columns = []
        for channel in range(sequence.shape[-1]):
            values = sequence[:, :, channel]
            if channel in self.channels:
                centred = values - ops.mean(values, axis=1, keepdims=True)
                values = centred / _window_scale(values, self.prior)[:, None]
            columns.append(values)
        return ops.stack(columns, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "prior": self.prior}


def _window_scale(series, prior: float, share=None):
    """(batch,) each window's standard deviation, with ``prior`` readings of unit variance in it.

    ``share`` (batch,), where given, scales the prior's spread and the floor: the window's level as a
    share of its channel's mean (`ContextStatistics`).
    """
    steps = series.shape[1]
    share = 1.0 if share is None else share
    variance = (steps * ops.var(series, axis=1) + prior * ops.square(share)) / (steps + prior)
    return ops.maximum(ops.sqrt(variance), MIN_CONTEXT_SCALE * share)


@keras.saving.register_keras_serializable(package="fusegen")
class UnscaleOutput(keras.layers.Layer):
    """The generated window back in model units: a learned affine per channel, and ``* scale + mean``.

    With ``in_window_units`` (``output.level_scaling``) the affine (starting
    at the identity) acts in each window's units, ``(y * gain + offset) *
    scale + mean``, so its offset is worth as much to a small series as to a
    big one; the output is then standardised as its context is, and nothing
    else is left to correct. Without it (runs before 0.17.0) the affine
    follows, in the model's units, and learns the difference between the
    context's and the output's separate standardisations.
    """

    example = {
        "init_kwargs": {"in_window_units": True},
        "input_shape": ((2, 4, 3), (2, 2, 3)),
        "expected_output_shape": (2, 4, 3),
        "expected_num_trainable_weights": 2,
    }

    def __init__(self, in_window_units=False, **kwargs):
        super().__init__(**kwargs)
        self.in_window_units = bool(in_window_units)

    def build(self, input_shape):
        channels = input_shape[0][-1]
        self.gain = self.add_weight(shape=(channels,), initializer="ones", name="gain")
        self.offset = self.add_weight(shape=(channels,), initializer="zeros", name="offset")

    def call(self, inputs):
        generated, statistics = inputs
        scale, mean = statistics[:, 1:2, :], statistics[:, 0:1, :]
        if self.in_window_units:
            return (generated * self.gain + self.offset) * scale + mean
        return (generated * scale + mean) * self.gain + self.offset

    def get_config(self):
        return {**super().get_config(), "in_window_units": self.in_window_units}

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def continuation_anchors(spec: GeneratorSpec) -> ContinuationAnchors:
    """The layer that reads the continued channels' anchors from the context inputs."""
    continued = spec.continued_channels()
    contexts = list(dict.fromkeys(name for _, name, _ in continued))
    sources = [(contexts.index(name), channel) for _, name, channel in continued]
    lengths = [spec.inputs[name].steps for name in contexts]
    return ContinuationAnchors(
        contexts,
        sources,
        lengths,
        spec.output.steps,
        cycles=spec.output.context_cycles,
        autoregression=spec.output.context_autoregression,
        lags=spec.output.context_lags,
        name="continuation_anchors",
    )


@keras.saving.register_keras_serializable(package="fusegen")
class ContinuationAnchors(keras.layers.Layer):
    """Per output step: each continued channel's value one horizon earlier, then its last value,
    then (with ``cycles``) its last cycle repeated, then (with ``autoregression``) its
    linear-prediction continuation.

    Called on the context inputs named by ``contexts`` (in that order);
    ``sources`` lists ``(context position, channel)`` per continued channel.
    A context shorter than the horizon has no value one horizon earlier, so
    it gives only the last value.

    The cycle is found in each window on its own (`last_cycle`), so a
    recording whose rhythm changes from one window to the next (walking at
    one cadence, running at another) gets the seasonal-naive continuation
    at its own period, which neither fixed anchor gives.

    The linear prediction (`linear_prediction`) is an autoregression of
    order `autoregression_order` fitted to each window alone, so a context
    too short to fit one (under 16 steps) has none.

    Each of ``lags`` (``output.context_lags``) adds, last, the value that
    many steps before each output step (repeated where the lag is shorter
    than the horizon): a week of half-hours shows the same time last week,
    which neither the value one horizon (a day) earlier nor a cycle found
    in half the context can. A lag longer than a context is left out there.
    """

    example = {
        "init_kwargs": {
            "contexts": ["history"],
            "sources": [[0, 0], [0, 1]],
            "lengths": [16],
            "steps": 3,
            "cycles": True,
            "autoregression": True,
        },
        "input_shape": ((2, 16, 2),),
        "expected_output_shape": (2, 3, 8),
    }

    def __init__(
        self, contexts, sources, lengths, steps, cycles=False, autoregression=False, lags=(), **kwargs
    ):
        super().__init__(**kwargs)
        # Empty for runs written before 0.14.0, whose decoders were trained without them.
        self.lags = [int(lag) for lag in lags]
        self.contexts = list(contexts)
        self.sources = [tuple(source) for source in sources]
        self.lengths = list(lengths)
        self.steps = int(steps)
        # False for runs written before 0.4.0 (cycles) and 0.8.0 (autoregression), whose
        # decoders were trained without them.
        self.cycles = bool(cycles)
        self.autoregression = bool(autoregression)

    def _order(self, position: int) -> int:
        return autoregression_order(self.lengths[position]) if self.autoregression else 0

    def _lags(self, position: int) -> list[int]:
        return [lag for lag in self.lags if lag <= self.lengths[position]]

    @property
    def channels(self) -> int:
        earlier = sum(self.lengths[position] >= self.steps for position, _ in self.sources)
        predicted = sum(self._order(position) > 0 for position, _ in self.sources)
        lagged = sum(len(self._lags(position)) for position, _ in self.sources)
        return earlier + len(self.sources) * (2 if self.cycles else 1) + predicted + lagged

    def call(self, contexts):
        contexts = list(contexts) if isinstance(contexts, (list, tuple)) else [contexts]
        earlier, last, cycles, predicted, lagged = [], [], [], [], []
        for position, channel in self.sources:
            series = contexts[position][:, :, channel]
            if self.lengths[position] >= self.steps:
                earlier.append(series[:, self.lengths[position] - self.steps :])
            last.append(ops.repeat(series[:, -1:], self.steps, axis=1))
            if self.cycles:
                cycles.append(last_cycle(series, self.lengths[position], self.steps))
            if order := self._order(position):
                predicted.append(linear_prediction(series, self.lengths[position], self.steps, order))
            for lag in self._lags(position):
                index = self.lengths[position] - lag + np.arange(self.steps) % lag
                lagged.append(ops.take(series, index, axis=1))
        return ops.stack(earlier + last + cycles + predicted + lagged, axis=-1)

    def compute_output_shape(self, input_shape):
        first = (
            input_shape[0]
            if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple))
            else input_shape
        )
        return (first[0], self.steps, self.channels)

    def get_config(self):
        return {
            **super().get_config(),
            "contexts": self.contexts,
            "sources": [list(source) for source in self.sources],
            "lengths": self.lengths,
            "steps": self.steps,
            "cycles": self.cycles,
            "autoregression": self.autoregression,
            "lags": self.lags,
        }


def last_cycle(series, length: int, steps: int):
    """Each window's last cycle, repeated over ``steps``: the seasonal-naive continuation at its own period.

    ``series`` is (batch, length); the result is (batch, steps). The period
    is the lag, up to half the window, with the highest autocorrelation
    once the autocorrelation has stopped falling from lag 1, so a smooth
    series' high short-lag correlation is not taken for a cycle. A window
    whose autocorrelation only falls (a trend, a random walk) has no cycle
    and gets its last value.

    Measured on issue 18's benchmark, a strength channel beside it (the
    autocorrelation at that period) helped B a little and hurt C more, so
    the network judges the cycle from the context alone.
    """
    longest = max(length // 2, 1)
    if longest < 2:
        # Under 4 steps no lag can follow a rise (the shortest cycle is 2 steps, seen twice): no cycle.
        return ops.repeat(series[:, -1:], steps, axis=1)
    centred = series - ops.mean(series, axis=1, keepdims=True)
    correlations = []
    for lag in range(1, longest + 1):
        ahead, behind = centred[:, lag:], centred[:, : length - lag]
        norm = ops.sqrt(ops.sum(ahead * ahead, axis=1) * ops.sum(behind * behind, axis=1))
        correlations.append(ops.sum(ahead * behind, axis=1) / (norm + 1e-8))
    correlations = ops.stack(correlations, axis=1)  # (batch, lags 1..longest)
    rising = ops.cast(correlations[:, 1:] > correlations[:, :-1], "int32")
    # Lags at or after the first rise: before it the correlation is still decaying from lag 1.
    after_rise = ops.concatenate([ops.zeros_like(rising[:, :1]), ops.cumsum(rising, axis=1)], axis=1) > 0
    candidates = ops.where(after_rise, correlations, -2.0 * ops.ones_like(correlations))
    best = ops.cast(ops.argmax(candidates, axis=1), "int32") + 1
    period = ops.where(ops.any(after_rise, axis=1), best, ops.ones_like(best))[:, None]
    index = length - period + ops.mod(ops.arange(steps, dtype="int32")[None, :], period)
    return ops.take_along_axis(series, index, axis=1)


#: Steps of context per autoregressive coefficient: enough equations that a window's own fit
#: is not noise, and an order that grows with the context, so a long context can hold a cycle.
STEPS_PER_COEFFICIENT = 8

#: Ridge strength, as a share of the lagged values' mean square per coefficient: keeps a
#: window's normal equations well conditioned, and its roots mostly inside the unit circle.
AUTOREGRESSION_RIDGE = 0.1


def autoregression_order(length: int) -> int:
    """The order of a window's linear prediction: one coefficient per 8 context steps; 0 (none) under 16 steps."""
    order = length // STEPS_PER_COEFFICIENT
    return order if order >= 2 else 0


def linear_prediction(series, length: int, steps: int, order: int):
    """Each window's own autoregression of ``order``, fitted by ridge least squares and rolled ``steps`` ahead.

    ``series`` is (batch, length); the result is (batch, steps). The window
    is centred and scaled by its own mean and spread first, so the ridge
    means the same for every window; the continuation is clipped to the
    window's range widened by that range on each side, so a fit with a root
    outside the unit circle cannot run away over a long horizon.

    On issue 18's workload B (BasicMotions, 75 steps in, 25 out) this
    continuation alone, as a point forecast, has MASE 1.00 against the
    context mean's 1.18 and the last value's 1.66: the strides and swings
    of a recording are oscillations that one window's own fit continues.
    """
    mean = ops.mean(series, axis=1, keepdims=True)
    spread = ops.std(series, axis=1, keepdims=True) + 1e-6
    centred = (series - mean) / spread
    rows = length - order
    # lagged[:, i, k] is the value k + 1 steps before target i (centred[:, order + i]).
    lagged = ops.stack([centred[:, order - k - 1 : length - k - 1] for k in range(order)], axis=-1)
    targets = centred[:, order:]
    gram = ops.einsum("bik,bil->bkl", lagged, lagged)
    # The floor keeps a flat window's system (all zeros) solvable: no weights, its level continued.
    ridge = AUTOREGRESSION_RIDGE * ops.sum(lagged * lagged, axis=(1, 2)) / rows + 1e-3
    gram = gram + ridge[:, None, None] * ops.eye(order, dtype=gram.dtype)[None]
    weights = ops.solve(gram, ops.einsum("bik,bi->bk", lagged, targets)[..., None])[..., 0]
    # Newest first: recent[k] is the value k + 1 steps back.
    recent = [centred[:, length - k - 1] for k in range(order)]
    continued = []
    for _ in range(steps):
        step = ops.sum(weights * ops.stack(recent, axis=1), axis=1)
        continued.append(step)
        recent = [step, *recent[:-1]]
    continued = ops.stack(continued, axis=1) * spread + mean
    low, high = ops.min(series, axis=1, keepdims=True), ops.max(series, axis=1, keepdims=True)
    return ops.minimum(ops.maximum(continued, 2 * low - high), 2 * high - low)


def step_join_layers(spec: GeneratorSpec, head_input_width: int) -> tuple[list, list[tuple[int, ...]]]:
    """The step join's layers, and the shapes of its extra inputs (the steps, the repeated conditions).

    Its first layer concatenates, per output step, the head's output, the
    known-future steps and anchors and the fused conditions repeated over the steps; two
    convolutions (kernel 3, so a step also sees its neighbours) then give a
    correction per output channel, which the builder adds to the head's output.
    """
    steps, channels = spec.output.steps, spec.output.channels
    layers = [
        keras.layers.Concatenate(name="step_join_concat"),
        keras.layers.Conv1D(STEP_JOIN_WIDTH, 3, padding="same", activation="relu", name="step_join_conv_0"),
        keras.layers.Conv1D(STEP_JOIN_WIDTH, 3, padding="same", activation="relu", name="step_join_conv_1"),
        keras.layers.Conv1D(channels, 1, name="step_join_to_channels"),
    ]
    return layers, [(steps, step_channels(spec)), (steps, head_input_width)]
