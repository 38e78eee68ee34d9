"""Probabilistic forecasts scored the way forecasters score them: GluonTS's definitions, for windows.

A forecast here is ``samples`` of shape (windows, num_samples, steps,
channels): ``num_samples`` sample paths of the next ``steps`` steps of every
channel, for each of ``windows`` forecast windows, scored against the
``real`` continuations (windows, steps, channels). ``context`` (windows,
context_steps, channels) holds what came before each window, where a metric
needs it (MASE's scale).

Each (window, channel) is one *item*, GluonTS's single series, so these
numbers equal what GluonTS's ``Evaluator`` (0.17) reports for the same items
(``tests/test_forecast_metrics.py`` checks it when ``gluonts`` is installed):

- a sample quantile is GluonTS's ``SampleForecast.quantile``: the sorted
  sample at index ``round((num_samples - 1) * q)``, no interpolation;
- ``weighted_quantile_losses``: wQuantileLoss[q] = 2 Σ |(y - ŷ_q) ((y <= ŷ_q) - q)| / Σ |y|,
  the sums running over every item and step (GluonTS sums the numerators and
  the denominators over items before dividing); ``mean_weighted_quantile_loss``
  averages it over the quantiles 0.1, ..., 0.9 (GluonTS's
  ``mean_wQuantileLoss``, the usual estimate of CRPS);
- ``mase``: per item, mean |y - median| divided by the item's seasonal error,
  mean |c_t - c_(t-m)| over its context (m = ``seasonality``, 1 when m is not
  shorter than the context, as GluonTS does), then the mean over items;
- ``interval_coverage``: the share of real values inside [ŷ_lo, ŷ_hi], the
  central interval of the given level (0.8: the 0.1 and 0.9 quantiles). On
  continuous data this is GluonTS's Coverage[hi] - Coverage[lo].

``energy_score`` is the multivariate generalisation of CRPS (Gneiting and
Raftery 2007), E||X - y|| - ½ E||X - X'||, taken over each window's whole path
(steps x channels as one vector), with the V-statistic estimator of the R
package scoringRules (``es_sample``: the mean over all ordered pairs of
samples, a sample with itself included); the mean over windows.

Lower is better for every score but coverage, which should be near its level.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from fusegen.errors import DataError

#: GluonTS's default quantiles, over which the mean weighted quantile loss (CRPS) averages.
QUANTILE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: The central intervals whose coverage is reported.
INTERVAL_LEVELS = (0.8, 0.95)


def quantile_summary(samples: np.ndarray, quantiles: Sequence[float] = QUANTILE_LEVELS) -> np.ndarray:
    """Per-step sample quantiles of each window's sample paths.

    Args:
        samples: sample paths (windows, num_samples, steps, channels).
        quantiles: levels strictly between 0 and 1.

    Returns:
        (windows, len(quantiles), steps, channels): ``[w, k]`` is the
        ``quantiles[k]`` quantile of window ``w`` at every step and channel,
        GluonTS's sample quantile (the sorted sample at index
        ``round((num_samples - 1) * q)``).

    Example:

    >>> paths = np.arange(5.0).reshape(1, 5, 1, 1)  # five paths of one step
    >>> quantile_summary(paths, [0.1, 0.5, 0.9])[0, :, 0, 0].tolist()
    [0.0, 2.0, 4.0]
    """
    samples = _as_windows(samples, 4, "samples", "(windows, num_samples, steps, channels)")
    levels = check_quantile_levels(quantiles)
    ordered = np.sort(samples, axis=1)
    picks = [int(np.round((samples.shape[1] - 1) * level)) for level in levels]
    return ordered[:, picks]


def weighted_quantile_losses(
    real: np.ndarray, samples: np.ndarray, quantiles: Sequence[float] = QUANTILE_LEVELS
) -> dict[float, float]:
    """GluonTS's wQuantileLoss[q] per level: 2 Σ |(y - ŷ_q) ((y <= ŷ_q) - q)| / Σ |y| over everything.

    NaN when every real value is 0.
    """
    real, samples = _check_forecast(real, samples)
    levels = check_quantile_levels(quantiles)
    predicted = quantile_summary(samples, levels)
    denominator = float(np.sum(np.abs(real)))
    losses = {}
    for index, level in enumerate(levels):
        estimate = predicted[:, index]
        numerator = 2.0 * np.sum(np.abs((estimate - real) * ((real <= estimate) - level)))
        losses[level] = float(numerator / denominator) if denominator > 0 else float("nan")
    return losses


def mean_weighted_quantile_loss(
    real: np.ndarray, samples: np.ndarray, quantiles: Sequence[float] = QUANTILE_LEVELS
) -> float:
    """GluonTS's ``mean_wQuantileLoss``: `weighted_quantile_losses` averaged over the levels (CRPS).

    Example:

    >>> real = np.ones((1, 2, 1))
    >>> float(mean_weighted_quantile_loss(real, real[:, None]))  # a perfect point forecast
    0.0
    """
    return float(np.mean(list(weighted_quantile_losses(real, samples, quantiles).values())))


def seasonal_error(context: np.ndarray, seasonality: int = 1) -> np.ndarray:
    """Each item's in-sample seasonal-naive error, mean |c_t - c_(t-m)| over the context: (windows, channels).

    As in GluonTS, m falls back to 1 when it is not shorter than the context;
    missing context values (NaN) are left out of the mean.
    """
    context = _as_windows(context, 3, "context", "(windows, context_steps, channels)", allow_missing=True)
    _check_seasonality(seasonality)
    if context.shape[1] < 2:
        raise DataError(
            "seasonal_error compares each context step with the one a season earlier, so the context needs "
            f"at least 2 steps. Received shape {list(context.shape)}."
        )
    lag = seasonality if seasonality < context.shape[1] else 1
    with warnings.catch_warnings():
        # An item whose context is all missing has no scale (NaN), which `mase` leaves out.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.abs(context[:, lag:] - context[:, :-lag]), axis=1)


def mase(
    real: np.ndarray,
    samples: np.ndarray,
    context: np.ndarray | None = None,
    seasonality: int = 1,
    scale: np.ndarray | None = None,
) -> float:
    """Mean absolute scaled error of the sample median, GluonTS's MASE averaged over items.

    Args:
        real: real continuations (windows, steps, channels).
        samples: sample paths (windows, num_samples, steps, channels).
        context: what preceded each window (windows, context_steps, channels);
            each item's scale is its `seasonal_error`.
        seasonality: the season m of the seasonal-naive scale (1: the last value).
        scale: instead of ``context``, the scale of each channel (channels,)
            or item (windows, channels).

    Items whose scale is 0 or undefined (a constant context) are left out of
    the mean, where GluonTS would report infinity; NaN when none is left, and
    for a context of one step.
    """
    real, samples = _check_forecast(real, samples)
    if (context is None) == (scale is None):
        raise DataError("mase needs the context or the scale, exactly one of them. Received both or neither.")
    if context is not None:
        context = _as_windows(context, 3, "context", "(windows, context_steps, channels)", allow_missing=True)
        if context.shape[0] != real.shape[0] or context.shape[2] != real.shape[2]:
            raise DataError(
                "mase: the context must have one window per real window and the same channels, "
                f"(windows, context_steps, channels). Received context {list(context.shape)} and real "
                f"{list(real.shape)}."
            )
        if context.shape[1] < 2:
            # One step has no step before it, so no seasonal-naive scale (ChickWeight's panel, where
            # init's window is 1 + 1 steps): MASE is undefined there, not an error of the evaluation.
            return float("nan")
        item_scale = seasonal_error(context, seasonality)
    else:
        item_scale = np.broadcast_to(np.asarray(scale, "float64"), (real.shape[0], real.shape[2]))
    median = quantile_summary(samples, [0.5])[:, 0]
    error = np.mean(np.abs(real - median), axis=1)
    usable = np.isfinite(item_scale) & (item_scale > 0)
    if not usable.any():
        return float("nan")
    return float(np.mean(error[usable] / item_scale[usable]))


def interval_coverage(real: np.ndarray, samples: np.ndarray, level: float) -> float:
    """The share of real values inside the central ``level`` interval of the samples (0.8: [q0.1, q0.9])."""
    real, samples = _check_forecast(real, samples)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise DataError(f"interval_coverage: level must be a number in (0, 1). Received: level={level!r}")
    lower = round((1 - level) / 2, 12)
    low, high = np.moveaxis(quantile_summary(samples, [lower, round(1 - lower, 12)]), 1, 0)
    return float(np.mean((real >= low) & (real <= high)))


def energy_score(real: np.ndarray, samples: np.ndarray, scale: np.ndarray | None = None) -> float:
    """The energy score of each window's whole path, averaged over windows.

    ES = mean_i ||x_i - y|| - 1/(2 n²) Σ_ij ||x_i - x_j||, with x_i and y a
    window's sample and real path flattened over steps and channels (the
    scoringRules ``es_sample`` estimator). ``scale`` (channels,) divides each
    channel first, so that channels in different units weigh alike.

    Example:

    >>> real = np.zeros((1, 1, 2))
    >>> float(energy_score(real, np.array([[[[3.0, 4.0]]]])))  # one path at distance 5
    5.0
    """
    from scipy.spatial.distance import cdist, pdist

    real, samples = _check_forecast(real, samples)
    if scale is not None:
        scale = np.asarray(scale, "float64")
        if scale.shape != (real.shape[2],) or not np.all(np.isfinite(scale) & (scale > 0)):
            raise DataError(
                f"energy_score: scale must hold one positive number per channel, ({real.shape[2]},). "
                f"Received: {scale.tolist()}."
            )
        real, samples = real / scale, samples / scale
    count = samples.shape[1]
    scores = []
    for truth, paths in zip(real, samples, strict=True):
        paths = paths.reshape(count, -1)
        to_truth = cdist(paths, truth.reshape(1, -1)).mean()
        # pdist lists each unordered pair once: the ordered pairs (and the zero diagonal) sum to twice it.
        between = 2.0 * pdist(paths).sum() / count**2 if count > 1 else 0.0
        scores.append(to_truth - 0.5 * between)
    return float(np.mean(scores))


def forecast_metrics(
    real: np.ndarray,
    samples: np.ndarray,
    context: np.ndarray | None = None,
    seasonality: int = 1,
    scale: np.ndarray | None = None,
    channel_scale: np.ndarray | None = None,
) -> dict:
    """Every score at once, JSON-ready (an undefined number is None).

    ``context``, ``seasonality`` and ``scale`` go to `mase`; ``channel_scale``
    to `energy_score`'s ``scale``.

    Returns:
        ``crps`` (the mean weighted quantile loss), ``wquantile_loss``
        (per level), ``mase``, ``coverage_80``, ``coverage_95`` and
        ``energy_score``.
    """
    losses = weighted_quantile_losses(real, samples)
    results = {
        "crps": float(np.mean(list(losses.values()))),
        "wquantile_loss": {f"{level:g}": value for level, value in losses.items()},
        "mase": mase(real, samples, context=context, seasonality=seasonality, scale=scale),
    }
    for level in INTERVAL_LEVELS:
        results[f"coverage_{round(level * 100)}"] = interval_coverage(real, samples, level)
    results["energy_score"] = energy_score(real, samples, scale=channel_scale)
    return _finite_or_none(results)


def _finite_or_none(value):
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    return value if np.isfinite(value) else None


def _as_windows(values, ndim: int, name: str, layout: str, allow_missing: bool = False) -> np.ndarray:
    try:
        array = np.asarray(values, dtype="float64")
    except (TypeError, ValueError) as error:
        raise DataError(
            f"the {name} must be a numeric array {layout}. Received: {type(values).__name__} ({error})."
        ) from None
    if array.ndim != ndim:
        raise DataError(f"the {name} must be a {ndim}-D array {layout}. Received shape {list(array.shape)}.")
    if 0 in array.shape:
        raise DataError(
            f"the {name} are empty; expected {layout}, each >= 1. Received shape {list(array.shape)}."
        )
    finite = np.isfinite(array) | (allow_missing & np.isnan(array))
    if not finite.all():
        raise DataError(
            f"the {name} must be finite{' (or NaN where missing)' if allow_missing else ''}. Received NaN or "
            f"infinity in {int(np.sum(~finite))} of {array.size} values."
        )
    return array


def _check_forecast(real, samples) -> tuple[np.ndarray, np.ndarray]:
    real = _as_windows(real, 3, "real values", "(windows, steps, channels)")
    samples = _as_windows(samples, 4, "samples", "(windows, num_samples, steps, channels)")
    if samples.shape[0] != real.shape[0] or samples.shape[2:] != real.shape[1:]:
        raise DataError(
            "the samples must hold paths for every real window, with its steps and channels: real "
            f"(windows, steps, channels) and samples (windows, num_samples, steps, channels). Received real "
            f"{list(real.shape)} and samples {list(samples.shape)}."
        )
    return real, samples


def check_quantile_levels(quantiles) -> list[float]:
    """The levels as floats; a `DataError` unless they are a non-empty list of numbers in (0, 1)."""
    levels = list(quantiles) if isinstance(quantiles, (list, tuple, np.ndarray)) else None
    if not levels or not all(
        isinstance(level, (int, float, np.floating)) and not isinstance(level, bool) and 0 < level < 1
        for level in levels
    ):
        raise DataError(f"quantiles must be a non-empty list of numbers in (0, 1). Received: {quantiles!r}")
    return [float(level) for level in levels]


def _check_seasonality(seasonality) -> None:
    if isinstance(seasonality, bool) or not isinstance(seasonality, (int, np.integer)) or seasonality < 1:
        raise DataError(f"seasonality must be an integer >= 1. Received: seasonality={seasonality!r}")
