"""A forecast's noise scale step by step, fitted on held-out errors (``objective.noise_scale: per_step``).

The cvae's observation noise had one scale for every step of every window (in
the window's own units). Real errors are not so even: an hourly shop sells
nothing at night, so a night hour's forecast is exact while an evening's
errs by dozens; a commuter station's Friday errs more than its Tuesday; an
error grows with the steps ahead. One scale widens the quiet steps'
intervals and narrows the busy ones', and the sampled 80% interval held
0.47 of pizzaplace's 16th hour and all of its first (docs/benchmarks.md).

So after training, the log of each step's scale is fitted as a linear
function of what the model knows about that step:

- its position in the horizon (one indicator per step: with windows cut at
  the same hour or weekday, that is the hour or weekday, and otherwise how far
  ahead it is);
- the model's centre there, in the window's units, and its size (a shop's
  centre near 0 when it is closed);
- the step's known-ahead values and anchors, as the decoder receives them,
  less their mean over the window (the hour of the day moves within a window;
  a season's temperature moves the whole window, and the window's units
  already carry its level of noise).

The fit maximises the Laplace likelihood of the held-out errors (robust to
a holiday's few huge ones), which is convex in the coefficients, with a ridge penalty worth `PSEUDO_POINTS` errors
at the mean scale on each coefficient: a step seen in a few windows stays near
the mean. The scales are then normalised to a mean square of 1, so the noise
scale keeps its meaning and `calibrate_noise_scale` still sets the interval's
width; only its shape over the steps comes from here. The shape and then the
mean scale are measured on the same held-out windows, so with fewer than
`MIN_ROWS` of them only the growth over the steps ahead is fitted, one
coefficient per channel. A run from before this
has no such network: its coefficients load as zeros, every step's scale 1,
and it samples as it did.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fusegen.models.head_inputs import joins_steps, step_channels
from fusegen.spec.names import CONTEXT_SCALE, STEPS

#: The ridge's weight on each coefficient, in held-out errors: a coefficient moves only as far as
#: this many errors at the mean scale would let it.
PSEUDO_POINTS = 10.0
#: A step's scale stays within this factor of the mean scale either way: a shut shop's hours get
#: narrow intervals, not none, and no one odd error sets a step's interval alone.
MAX_RATIO = 20.0
#: Held-out windows needed for the whole shape; with fewer, only its growth over the steps ahead.
#: The shape's coefficients and then the mean scale are measured on the same held-out windows, and
#: on BasicMotions' 6 a whole shape fitted to them left the test windows' 80% intervals holding 74%.
MIN_ROWS = 20
#: Features held at once while the shape is fitted, at most (rows x steps x width): a long horizon's
#: one indicator per step would otherwise hold gigabytes.
FIT_BUDGET = 20_000_000
#: Newton iterations for the fit; the problem is convex and smooth, so it settles in a few.
FIT_ITERATIONS = 50


def shapes_noise(spec) -> bool:
    """Whether the noise's scale varies over the steps: a sequence output under ``noise_scale: per_step``."""
    return spec.output.kind == "sequence" and getattr(spec.objective, "noise_scale", "constant") == "per_step"


class NoiseShape:
    """Each step's noise scale relative to the mean, from its features (the network saves the coefficients).

    Features per step and channel: one indicator per step, the centre in
    window units and its absolute value, then the step values
    (`fusegen.models.head_inputs.step_channels`) where the decoder gets them.
    """

    def __init__(self, spec):
        self.steps, self.channels = spec.output.steps, spec.output.channels
        self.step_values = step_channels(spec) if joins_steps(spec) else 0
        self.width = self.steps + 2 + self.step_values
        self.network = keras.Sequential(
            [keras.Input((self.width,)), keras.layers.Dense(self.channels, kernel_initializer="zeros",
                                                            trainable=False, name="noise_shape")],
            name="noise_shape",
        )  # fmt: skip

    def features(self, fused, centre, units):
        """The step's features other than its position: the ``centre``'s level in window ``units``
        (batch, steps, channels) and the step values less their window's mean (batch, steps,
        step_values), or None where the decoder gets none.

        ``centre`` is the decoder's output at the prior's centre (model units) and ``units`` what one
        unit of noise is worth in each window (`ConditionalVAE._window_units`).
        """
        level = centre
        if isinstance(fused, dict) and CONTEXT_SCALE in fused:
            level = centre - fused[CONTEXT_SCALE][:, 0:1, :]
        values = None
        if self.step_values:
            # Each value less its mean over the window's steps: the window's units already carry its
            # overall level of noise, and a value's level over the year (a cold winter's) is measured
            # on one year of held-out windows at most, so only how it moves within a window counts.
            values = ops.cast(fused[STEPS], "float32")
            values = values - ops.mean(values, axis=1, keepdims=True)
        return level / units, values

    def reads_centre(self):
        """A boolean tensor: whether the scale depends on the centre (a coefficient on its level or
        size is set). Where it does not (no shape, or only the growth over the steps ahead), sampling
        skips the decoder call that computes the centre."""
        kernel = self.network.get_layer("noise_shape").kernel
        return ops.any(ops.not_equal(kernel[self.steps : self.steps + 2], 0.0))

    def scale(self, fused, centre, units):
        """(batch, steps, channels): each step's noise scale relative to the mean (1 before `fit`)."""
        layer = self.network.get_layer("noise_shape")
        kernel, bias = layer.kernel, layer.bias
        level, values = self.features(fused, centre, units)
        steps = self.steps
        # The kernel's rows as `design` lays them out: one per step, the level, its size, the values.
        log_scale = kernel[None, :steps] + level * kernel[steps] + ops.abs(level) * kernel[steps + 1] + bias
        if values is not None:
            log_scale = log_scale + ops.einsum("btk,kc->btc", values, kernel[steps + 2 :])
        return ops.exp(ops.clip(log_scale, -np.log(MAX_RATIO), np.log(MAX_RATIO)))

    def design(self, level: np.ndarray, values: np.ndarray | None, channel: int) -> np.ndarray:
        """(rows * steps, width): one channel's features as `fit_log_scale` reads them, float64."""
        rows = level.shape[0]
        position = np.broadcast_to(np.eye(self.steps)[None], (rows, self.steps, self.steps))
        parts = [position, level[..., channel, None], np.abs(level[..., channel, None])]
        if values is not None:
            parts.append(values)
        return np.concatenate(parts, axis=-1, dtype="float64").reshape(rows * self.steps, self.width)

    def fit(self, level: np.ndarray, values: np.ndarray | None, errors: np.ndarray) -> np.ndarray:
        """Set the coefficients from held-out rows' `features` (``level`` (rows, steps, channels),
        ``values`` (rows, steps, step_values) or None) and ``errors`` (rows, steps, channels, in window
        units); return each step's fitted scale, (rows, steps, channels).

        With fewer than `MIN_ROWS` rows only one coefficient per channel is fitted: how the scale
        grows with the steps ahead, ``log scale = slope * log(1 + step)`` (a random walk's error
        grows as the square root of the steps, a slope of 0.5).
        """
        kernel = np.zeros((self.width, self.channels), "float32")
        bias = np.zeros(self.channels, "float32")
        rows = len(errors)
        # With few rows only the growth over the steps ahead: log scale = slope * log(1 + step),
        # written into the step indicators' coefficients, one slope per channel.
        ahead = np.log1p(np.arange(self.steps, dtype="float64"))
        groups = np.broadcast_to(np.arange(self.steps)[None], (rows, self.steps)).ravel()
        log_scale = np.empty(errors.shape, "float64")
        for channel in range(self.channels):
            sizes = errors[..., channel].ravel()
            if rows < MIN_ROWS:
                x = np.broadcast_to(ahead[None, :], (rows, self.steps)).reshape(-1, 1)
                slope, bias[channel] = fit_log_scale(x, sizes, indicators=0, groups=groups)
                kernel[: self.steps, channel] = slope[0] * ahead
                fitted = x[:, 0] * slope[0] + bias[channel]
            else:
                x = self.design(level, values, channel)
                kernel[:, channel], bias[channel] = fit_log_scale(x, sizes, self.steps, groups=groups)
                fitted = x @ kernel[:, channel] + bias[channel]
            log_scale[..., channel] = fitted.reshape(rows, self.steps)
        self.network.get_layer("noise_shape").set_weights([kernel, bias])
        return np.exp(np.clip(log_scale, -np.log(MAX_RATIO), np.log(MAX_RATIO)))


def fit_log_scale(
    features: np.ndarray, errors: np.ndarray, indicators: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Coefficients and intercept of ``log scale = features @ w + b`` for ``errors``, normalised.

    The scale is the Laplace likelihood's (each error's size ``|e|`` weighs
    in as itself, not squared as under a Gaussian's), so that a few huge
    errors, a holiday's, do not set a step's scale; each error is also
    clipped to the 99th percentile of its ``groups``' (its step's: a busy
    step's errors are not cut to the quiet steps'). The first ``indicators``
    columns are 0/1 and kept as they are; the rest are standardised while
    fitting (one that barely varies is left out) and the coefficients mapped
    back. The intercept is set last so that the fitted scales' mean square
    over the rows is 1.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> busy = rng.random(4000) < 0.5                 # half the steps err three times as much
    >>> errors = rng.normal(size=4000) * np.where(busy, 3.0, 1.0)
    >>> w, b = fit_log_scale(busy[:, None].astype(float), errors, indicators=1)
    >>> ratio = float(np.exp(w[0]))
    >>> 2.6 < ratio < 3.4
    True
    """
    x = np.asarray(features, "float64")
    sizes = np.abs(np.asarray(errors, "float64"))
    groups = np.zeros(len(sizes), int) if groups is None else np.asarray(groups)
    for group in np.unique(groups):
        members = groups == group
        sizes[members] = np.minimum(sizes[members], np.quantile(sizes[members], 0.99))
    sizes = np.maximum(sizes, 1e-6 * max(float(sizes.mean()), 1e-12))
    centre = np.zeros(x.shape[1])
    spread = np.ones(x.shape[1])
    continuous = slice(indicators, None)
    centre[continuous] = x[:, continuous].mean(axis=0)
    spread[continuous] = x[:, continuous].std(axis=0)
    # A column that barely moves (an anchor constant over a window, less its mean) is rounding noise.
    flat = np.zeros(x.shape[1], bool)
    flat[continuous] = spread[continuous] <= 1e-5 * np.maximum(1.0, np.abs(centre[continuous]))
    spread[flat] = 1.0
    standard = np.where(flat, 0.0, (x - centre) / spread)
    design = np.column_stack([np.ones(len(x)), standard])
    penalty = np.full(design.shape[1], PSEUDO_POINTS)
    penalty[0] = 0.0  # the intercept is free: only the shape is shrunk toward flat

    def objective(w):
        s = design @ w
        return float(np.sum(s + sizes * np.exp(-s)) + 0.5 * np.sum(penalty * w * w))

    w = np.zeros(design.shape[1])
    w[0] = np.log(sizes.mean())
    current = objective(w)
    for _ in range(FIT_ITERATIONS):
        weight = sizes * np.exp(-(design @ w))  # 1 on average at the optimum: each error's curvature
        gradient = design.T @ (1.0 - weight) + penalty * w
        hessian = (design.T * weight) @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-4 and objective(w - size * step) > current:
            size *= 0.5
        if size <= 1e-4:
            break
        w = w - size * step
        previous, current = current, objective(w)
        if previous - current < 1e-9 * max(abs(previous), 1.0):
            break
    w[1:][np.abs(w[1:]) < 1e-7] = 0.0  # no shape at all, as for errors that are all alike, is exactly flat
    # Normalised on the standardised columns, so that a feature far from 0 does not overflow exp.
    shape = 2.0 * (standard @ w[1:])
    top = shape.max(initial=0.0)
    normaliser = -0.5 * (top + np.log(np.mean(np.exp(shape - top))))
    coefficients = np.where(flat, 0.0, w[1:] / spread)
    intercept = normaliser - float(np.sum(coefficients * centre))
    return coefficients.astype("float32"), float(intercept)
