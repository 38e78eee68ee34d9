"""Forecasting scores for a conditional sequence run: many sample paths per held-out window.

`fusegen.evaluation` calls `evaluate_forecasts` for a run whose output is a
sequence and which has inputs. For every held-out condition row it draws
``num_paths`` sample paths in one batched `Generator.sample` call and scores
them with `fusegen.metrics.forecast` (GluonTS's definitions): CRPS as the mean
weighted quantile loss, MASE of the sample median, the coverage of the 80%
and 95% intervals and the energy score, beside the same scores of naive
baselines so that the numbers have a comparison.

The context is the real history just before each forecast window. When the
output reads its steps with ``select.steps`` from the same column (or
columns) as sequence inputs, and for every output channel some input reads
that channel up to the output's first step, the context is those inputs'
real values. MASE then scales each (window, channel) by its context's
seasonal-naive error, as GluonTS does, and the ``seasonal_naive`` (the last
season of the context repeated) and ``context_mean`` (each channel's
context mean repeated) baselines are scored too, and with a seasonality
above 1 the ``naive`` one (the context's last value repeated), which beats
the seasonal naive on a series that wanders more than it repeats. Without
such a context, MASE scales each channel by the mean seasonal-naive error
within the training split's output windows, and only the ``climatology``
baseline is scored. ``climatology`` is always there: ``num_paths`` training output
windows drawn at random for every held-out window, whatever its inputs.

The energy score divides each channel by its standard deviation over the
training split's output windows, so that channels in different units weigh
alike.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from fusegen.data.sources import Table
from fusegen.data.windows import window_table

#: Sample paths drawn per held-out window when the caller does not say.
DEFAULT_PATHS = 100


def evaluate_forecasts(
    generator,
    train: Table,
    rows: Table,
    seed: int = 0,
    num_paths: int | None = None,
    seasonality: int | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray | None]]:
    """Score ``num_paths`` sample paths for each of ``rows`` against its real continuation.

    Args:
        generator: a trained generator with a sequence output and inputs.
        train: the real rows it trained on (the climatology baseline and
            the fallback scales).
        rows: the held-out rows to forecast.
        seed: seeds the sample paths and the climatology draws.
        num_paths: sample paths per row (default `DEFAULT_PATHS`).
        seasonality: the season of MASE's scale and of the seasonal-naive
            baseline, in steps (1: the last value, and no separate ``naive``
            baseline); the spec's ``evaluation.seasonality`` (else 1) when None.

    Returns:
        The scores (JSON-ready), and the arrays a fan chart draws: ``real``
        (windows, steps, channels), ``samples`` (windows, paths, steps,
        channels) and ``context`` (windows, context_steps, channels) or None.
    """
    from fusegen.metrics.forecast import forecast_metrics, seasonal_error

    spec = generator.spec
    num_paths = num_paths or DEFAULT_PATHS
    seasonality = seasonality or spec.evaluation.seasonality or 1
    rows, train = window_table(rows, spec, for_run=True), window_table(train, spec, for_run=True)
    histories = _history_errors(spec, train, seasonality)
    output_sources, (start, stop) = _sources(spec, None), _steps(spec.output)
    real = _read(rows, output_sources, start, stop)
    context, context_note = _context(spec, rows, output_sources, start)
    started = time.perf_counter()
    samples = np.asarray(generator.sample(rows, num_samples=num_paths, seed=seed, strict=False), "float64")
    seconds = time.perf_counter() - started
    samples = samples.reshape(len(real), num_paths, *samples.shape[1:])
    # A window with a missing real value cannot be scored; GluonTS masks such values instead.
    kept = np.isfinite(real).all(axis=(1, 2))
    real, samples = real[kept], samples[kept]
    context = context[kept] if context is not None else None

    train_real = _read(train, output_sources, start, stop)
    spread = np.nanstd(train_real, axis=(0, 1))
    channel_scale = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    scale = None if context is not None else np.nanmean(seasonal_error(train_real, seasonality), axis=0)
    scaled_by = context
    if (
        context is not None
        and histories is not None
        and _differences(context, seasonality) < MIN_SCALE_DIFFERENCES
    ):
        # A context of a few steps gives MASE a scale of one or two differences, and a quiet one makes
        # any error look huge (USSeatBelts' 2-year contexts: MASE 30.6 against the naive's 16.3, where
        # CRPS had the model ahead). Each series' own training history gives the scale, as GluonTS's
        # whole past does.
        scaled_by, scale = None, _scales_of(histories, rows, kept, spec)
        context_note += (
            f"; MASE scaled by each series' seasonal-naive error over its training rows, as the context has "
            f"under {MIN_SCALE_DIFFERENCES} differences"
        )

    def score(paths):
        return forecast_metrics(real, paths, scaled_by, seasonality, scale, channel_scale)

    results: dict[str, Any] = {
        "windows": int(len(real)),
        "paths_per_window": num_paths,
        "seasonality": seasonality,
        "context": context_note,
        **score(samples),
        "baselines": {},
        "seconds": round(seconds, 3),
    }
    if not kept.all():
        results["windows_left_out"] = int((~kept).sum())
    if real.shape[1] > 1:
        # Pooled over the horizon, intervals too wide at some steps hide those too narrow at others:
        # pizzaplace's hourly forecasts covered 0.68 of open hours and 1.00 of closed ones, 0.80 in all.
        results["coverage_80_by_step"] = coverage_by_step(real, samples)
    group_column = spec.data.windows.group_column if spec.data and spec.data.windows else None
    if group_column:
        # One noise scale serves every series of a panel, so the pooled coverage can hide a group whose
        # intervals are too narrow (0.61 for one commodity's prices) beside one where they are too wide.
        results["coverage_80_by_group"] = coverage_by_group(real, samples, rows.columns[group_column][kept])
    if context is not None:
        # A missing context value leaves its baseline forecast at the channel's training mean.
        fill = np.nanmean(train_real, axis=(0, 1))
        lag = seasonality if seasonality < context.shape[1] else 1
        repeats = -(-real.shape[1] // lag)
        points = {}
        if lag > 1:
            # Scored beside the seasonal naive: where the series wanders more than it repeats (quarterly
            # prison counts), the last value beats it, and the seasonal naive alone flatters the model.
            points["naive"] = np.repeat(context[:, -1:], real.shape[1], axis=1)
        points["seasonal_naive"] = np.tile(context[:, -lag:], (1, repeats, 1))[:, : real.shape[1]]
        for longer in getattr(spec.output, "context_lags", []):
            # The lags the network is shown (a week of half-hours) are forecasts to beat as well.
            if longer != lag and longer <= context.shape[1]:
                cycles = -(-real.shape[1] // longer)
                points[f"seasonal_naive_{longer}"] = np.tile(context[:, -longer:], (1, cycles, 1))[
                    :, : real.shape[1]
                ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing context has no mean
            points["context_mean"] = np.repeat(
                np.nanmean(context, axis=1, keepdims=True), real.shape[1], axis=1
            )
        for name, point in points.items():
            results["baselines"][name] = score(np.where(np.isfinite(point), point, fill)[:, None])
    usable = train_real[np.isfinite(train_real).all(axis=(1, 2))]
    draws = np.random.default_rng(seed).integers(0, len(usable), (len(real), num_paths))
    results["baselines"]["climatology"] = score(usable[draws])
    return results, {"real": real, "samples": samples, "context": context}


#: MASE scales by each window's context only where it holds at least this many seasonal differences.
MIN_SCALE_DIFFERENCES = 8


def _differences(context: np.ndarray, seasonality: int) -> int:
    lag = seasonality if seasonality < context.shape[1] else 1
    return context.shape[1] - lag


def _history_errors(spec, train: Table, seasonality: int) -> dict | None:
    """Each series' seasonal-naive error per output channel over its training windows read whole
    (context and horizon steps: with overlapping windows, the series' own history), by group label
    ('' for a single series); None without ``data.windows`` and an output read from ``columns``."""
    windows = spec.data.windows if spec.data else None
    if windows is None or not spec.output.columns:
        return None
    whole = np.stack(
        [np.asarray(train.columns[column], "float64") for column, _ in _sources(spec, None)], axis=-1
    )
    lag = seasonality if seasonality < whole.shape[1] else 1
    if whole.ndim != 3 or whole.shape[1] <= lag:
        return None
    differences = np.abs(whole[:, lag:] - whole[:, :-lag])
    labels = np.array(
        [str(label) for label in train.columns[windows.group_column]]
        if windows.group_column
        else [""] * len(whole),
        dtype=object,
    )
    errors = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a series missing throughout has no error
        for label in dict.fromkeys(labels):
            errors[label] = np.nanmean(differences[labels == label], axis=(0, 1))
    return errors


def _scales_of(errors: dict, rows: Table, kept: np.ndarray, spec) -> np.ndarray:
    """Each kept window's MASE scale (windows, channels): its series' training error, else the mean."""
    pooled = np.nanmean(np.stack(list(errors.values())), axis=0)
    group_column = spec.data.windows.group_column
    labels = [str(label) for label in rows.columns[group_column]] if group_column else [""] * len(kept)
    return np.stack([errors.get(label, pooled) for label, keep in zip(labels, kept, strict=True) if keep])


def real_context(spec, rows: Table) -> tuple[np.ndarray | None, str]:
    """The real steps just before each row's output window, as the output's channels, or None.

    ``rows`` are windows already cut (`fusegen.evaluation.real_table`). The
    context exists where sequence inputs read every output channel up to the
    output's first step (the module docstring); the note says which inputs,
    or why there is none.
    """
    return _context(spec, rows, _sources(spec, None), _steps(spec.output)[0])


def coverage_by_group(real: np.ndarray, samples: np.ndarray, groups) -> dict[str, float]:
    """Each group's share of real values inside its windows' central 80% interval."""
    from fusegen.metrics.forecast import interval_coverage

    labels = np.asarray([str(group) for group in groups], dtype=object)
    return {
        label: round(interval_coverage(real[labels == label], samples[labels == label], 0.8), 4)
        for label in sorted(set(labels))
    }


def coverage_by_step(real: np.ndarray, samples: np.ndarray) -> list[float]:
    """The share of real values inside the central 80% interval at each step ahead (windows that
    start at one phase of a season, a day's first hour, make each step one hour of the day)."""
    from fusegen.metrics.forecast import interval_coverage

    return [
        round(interval_coverage(real[:, step : step + 1], samples[:, :, step : step + 1], 0.8), 4)
        for step in range(real.shape[1])
    ]


def summary_line(forecast: dict[str, Any]) -> str:
    """One terminal line: the run's scores with each baseline's CRPS and MASE beside its own, and the
    best baseline's CRPS or MASE where it beats the run's."""

    def number(value):
        if value is None:
            return "n/a"
        # Small scores keep their digits: a flat series' CRPS of 0.00026 is not "0.000".
        return f"{value:.3f}" if value == 0 or abs(value) >= 0.05 else f"{value:.3g}"

    def baseline_name(name):
        # Without a season (a lag of 1) the seasonal naive repeats the last value: say so.
        if name == "seasonal_naive" and "naive" not in forecast["baselines"]:
            return "naive (the last value)"
        return name.replace("_", " ")

    def baselines(metric):
        return ", ".join(
            f"{baseline_name(name)} {number(scores.get(metric))}"
            for name, scores in forecast["baselines"].items()
        )

    line = (
        f"forecasts ({forecast['paths_per_window']} paths for each of {forecast['windows']} windows): "
        f"CRPS {number(forecast['crps'])} ({baselines('crps')}), "
        f"MASE {number(forecast['mase'])} ({baselines('mase')}), "
        f"coverage 80% {number(forecast['coverage_80'])}, 95% {number(forecast['coverage_95'])}, "
        f"energy score {number(forecast['energy_score'])}"
    )
    by_group = forecast.get("coverage_80_by_group") or {}
    if len(by_group) > 1:
        low, high = min(by_group, key=by_group.get), max(by_group, key=by_group.get)
        line += (
            f"; 80% coverage by group from {number(by_group[low])} ({low}) to {number(by_group[high])} "
            f"({high}), over {len(by_group)} groups"
        )
    by_step = forecast.get("coverage_80_by_step") or []
    if by_step:
        low, high = int(np.argmin(by_step)), int(np.argmax(by_step))
        line += (
            f"; 80% coverage by step ahead from {number(by_step[low])} (step {low + 1}) to "
            f"{number(by_step[high])} (step {high + 1})"
        )
    for metric, label in (("crps", "CRPS"), ("mase", "MASE")):
        scored = {
            name: scores[metric]
            for name, scores in forecast["baselines"].items()
            if scores.get(metric) is not None
        }
        if forecast[metric] is None or not scored:
            continue
        best = min(scored, key=scored.get)
        if metric == "crps" and scored[best] == 0:
            # A held-out target that repeats a naive forecast exactly (a price fixed for months).
            line += (
                f"; the held-out values are exactly the {baseline_name(best)} forecast (CRPS 0), so these "
                "scores cannot rank the model: evaluate on windows where the series moves"
            )
            break
        if scored[best] < forecast[metric]:
            # Said in words: a model that trails a naive forecast should not be used as it is
            # (few training windows, or inputs that wander out of their training levels).
            line += (
                f"; the {baseline_name(best)} forecast beats the model here ({label} "
                f"{number(scored[best])} against {number(forecast[metric])})"
            )
    return line


def _steps(part) -> tuple[int, int]:
    """The [start, stop) steps a sequence input or output reads from its stored windows."""
    select = part.select
    if select is not None and select.steps is not None:
        return tuple(select.steps)
    return 0, part.steps


def _sources(spec, name: str | None) -> list[tuple[str, int | None]]:
    """Where each channel of input ``name`` (the output for None) is stored: (column, channel index).

    A channel of an array field is its index along the last axis; a channel
    read from ``columns`` (one column per channel) has index None.
    """
    part = spec.output if name is None else spec.inputs[name]
    select = part.select
    picks = select.channels if select is not None and select.channels is not None else None
    if part.columns:
        return [
            (column, None) for column in (part.columns if picks is None else [part.columns[i] for i in picks])
        ]
    column = spec.output_column() if name is None else spec.input_column(name)
    return [(column, index) for index in (picks if picks is not None else range(part.channels))]


def _read(table: Table, sources, start: int, stop: int) -> np.ndarray:
    """Real values (windows, stop - start, channels) of the stored channels ``sources``."""
    channels = []
    for column, index in sources:
        values = np.asarray(table.columns[column], "float64")[:, start:stop]
        channels.append(values if index is None else values[..., index])
    return np.stack(channels, axis=-1)


def _context(spec, rows: Table, output_sources, start: int):
    """The real steps just before the output's, read by sequence inputs, and a note on where they came from."""
    fallback = "none: MASE scaled by the training split's seasonal-naive error per channel"
    if start == 0:
        return None, fallback
    readers: dict[tuple[str, int | None], tuple[str, int]] = {}  # channel -> (input, first step)
    for name, part in spec.inputs.items():
        if part.kind != "sequence":
            continue
        first, last = _steps(part)
        if last != start:
            continue  # only the history that ends where the forecast starts
        for source in _sources(spec, name):
            if source not in readers or first < readers[source][1]:
                readers[source] = (name, first)
    if not all(source in readers for source in output_sources):
        return None, fallback
    first = max(readers[source][1] for source in output_sources)  # the steps every channel has
    context = _read(rows, output_sources, first, start)
    names = sorted({readers[source][0] for source in output_sources})
    note = f"the {start - first} steps before, read by input(s) {', '.join(repr(name) for name in names)}"
    return context, note
