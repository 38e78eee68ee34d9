"""Forecast metrics: exact on tiny cases, good forecasts beat bad ones, and equal to GluonTS's Evaluator."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusegen.errors import DataError
from fusegen.metrics.forecast import (
    QUANTILE_LEVELS,
    energy_score,
    forecast_metrics,
    interval_coverage,
    mase,
    mean_weighted_quantile_loss,
    quantile_summary,
    seasonal_error,
    weighted_quantile_losses,
)

WINDOWS, STEPS, CHANNELS, PATHS = 200, 6, 2, 200


def gaussian_case(seed=0):
    """Real paths ~ N(mean, 1) per window; forecasts drawn from that truth, biased or over-narrow."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 3, (WINDOWS, 1, 1, CHANNELS)) + 10
    real = mean[:, 0] + rng.normal(0, 1, (WINDOWS, STEPS, CHANNELS))
    noise = rng.normal(0, 1, (WINDOWS, PATHS, STEPS, CHANNELS))
    return real, {
        "true": mean + noise,
        "biased": mean + 1.5 + noise,
        "narrow": mean + 0.2 * noise,
        "wide": mean + 3 * noise,
    }


# --------------------------------------------------------------------------- exact values


def test_sample_quantiles_are_gluonts_order_statistics():
    paths = np.array([3.0, 0.0, 4.0, 1.0, 2.0]).reshape(1, 5, 1, 1)
    # index round(4 q): 0.1 -> 0, 0.3 -> 1 (1.2), 0.5 -> 2, 0.625 -> 2 (2.5 rounds to even), 0.9 -> 4
    summary = quantile_summary(paths, [0.1, 0.3, 0.5, 0.625, 0.9])
    assert summary.shape == (1, 5, 1, 1)
    assert summary[0, :, 0, 0].tolist() == [0.0, 1.0, 2.0, 2.0, 4.0]


def test_weighted_quantile_loss_by_hand():
    real = np.array([[[2.0], [4.0]]])  # one window, two steps, one channel
    samples = np.array([[[[1.0], [4.0]], [[3.0], [6.0]], [[5.0], [8.0]]]])  # three paths
    # q=0.5 picks the middle path [3, 6]: y <= yhat at both steps, loss 2 * (|1 * 0.5| + |2 * 0.5|) = 3
    # q=0.1 picks index round(0.2) = 0, [1, 4]: step 1 under (y > yhat): |(1-2)(0-0.1)| = 0.1;
    # step 2 y = yhat: 0; loss 2 * 0.1 = 0.2. Both over sum |y| = 6.
    losses = weighted_quantile_losses(real, samples, [0.1, 0.5])
    assert losses[0.5] == pytest.approx(3 / 6)
    assert losses[0.1] == pytest.approx(0.2 / 6)
    assert mean_weighted_quantile_loss(real, samples, [0.1, 0.5]) == pytest.approx((0.5 + 0.2 / 6) / 2)


def test_a_point_forecast_scores_twice_the_mean_pinball_loss():
    real = np.array([[[1.0], [3.0]]])
    point = np.array([[[[2.0], [2.0]]]])
    # each step misses by 1, once above and once below: pinball q + (1 - q) = 1 per level, sum |y| = 4
    assert mean_weighted_quantile_loss(real, point) == pytest.approx(2 * 1 / 4)


def test_mase_by_hand():
    context = np.array([[[0.0], [2.0], [1.0], [3.0]]])  # one-step changes 2, 1, 2: scale 5/3
    real = np.array([[[4.0], [4.0]]])
    samples = np.full((1, 3, 2, 1), 3.0)  # median 3, error 1 at each step
    assert seasonal_error(context, 1)[0, 0] == pytest.approx(5 / 3)
    assert mase(real, samples, context=context) == pytest.approx(1 / (5 / 3))
    # season 2: changes |1 - 0|, |3 - 2| -> scale 1; a season as long as the context falls back to 1
    assert mase(real, samples, context=context, seasonality=2) == pytest.approx(1.0)
    assert mase(real, samples, context=context, seasonality=4) == pytest.approx(0.6)
    assert mase(real, samples, scale=np.array([0.5])) == pytest.approx(2.0)


def test_mase_leaves_out_items_with_a_constant_context():
    context = np.stack([np.zeros(5), np.arange(5.0)], axis=-1)[None]  # channel 0 constant
    real, samples = np.ones((1, 2, 2)), np.zeros((1, 4, 2, 2))
    assert mase(real, samples, context=context) == pytest.approx(1.0)
    assert np.isnan(mase(real[..., :1], samples[..., :1], context=context[..., :1]))


def test_a_one_step_context_has_no_mase_and_the_other_scores_stand():
    """ChickWeight through init: a 1 + 1 step window; `fusegen evaluate` stopped on MASE's scale there."""
    rng = np.random.default_rng(0)
    real, samples, context = (
        rng.normal(size=(6, 1, 1)),
        rng.normal(size=(6, 50, 1, 1)),
        rng.normal(size=(6, 1, 1)),
    )
    assert np.isnan(mase(real, samples, context=context))
    scores = forecast_metrics(real, samples, context)
    assert scores["mase"] is None and scores["crps"] > 0 and 0 <= scores["coverage_80"] <= 1


def test_interval_coverage_by_hand():
    samples = np.arange(11.0).reshape(1, 11, 1, 1)  # 0..10: the 80% interval is [1, 9]
    real = np.array([0.5, 1.0, 5.0, 9.0, 9.5]).reshape(5, 1, 1)
    covered = interval_coverage(real, np.repeat(samples, 5, axis=0), 0.8)
    assert covered == pytest.approx(3 / 5)  # the bounds count as inside
    assert interval_coverage(real, np.repeat(samples, 5, axis=0), 0.95) == pytest.approx(1.0)


def test_energy_score_by_hand():
    real = np.zeros((1, 1, 2))
    samples = np.array([[[[3.0, 4.0]], [[0.0, 0.0]]]])  # distances to y: 5 and 0; between them 5
    # mean 2.5 - 1/(2 * 4) * (5 + 5) = 1.25
    assert energy_score(real, samples) == pytest.approx(1.25)
    # scaling channel 1 by 4 and channel 0 by 3 puts the first path at distance sqrt(2)
    assert energy_score(real, samples, scale=np.array([3.0, 4.0])) == pytest.approx(
        np.sqrt(2) / 2 - np.sqrt(2) / 4
    )


def test_energy_score_of_one_channel_is_the_ensemble_crps():
    rng = np.random.default_rng(1)
    real, samples = rng.normal(size=(3, 1, 1)), rng.normal(size=(3, 40, 1, 1))
    x, y = samples[:, :, 0, 0], real[:, 0, 0]
    crps = np.abs(x - y[:, None]).mean(axis=1) - 0.5 * np.abs(x[:, :, None] - x[:, None, :]).mean(axis=(1, 2))
    assert energy_score(real, samples) == pytest.approx(crps.mean())


# --------------------------------------------------------------------------- good against bad


@pytest.fixture(scope="module")
def gaussian():
    return gaussian_case()


def test_the_true_distribution_beats_biased_and_over_narrow_forecasts(gaussian):
    real, forecasts = gaussian
    scores = {
        name: forecast_metrics(real, samples, scale=np.ones(CHANNELS)) for name, samples in forecasts.items()
    }
    for bad in ("biased", "narrow", "wide"):
        assert scores["true"]["crps"] < scores[bad]["crps"], (bad, scores)
        assert scores["true"]["energy_score"] < scores[bad]["energy_score"], (bad, scores)
    assert 0.77 < scores["true"]["coverage_80"] < 0.83
    assert 0.93 < scores["true"]["coverage_95"] < 0.97
    assert scores["narrow"]["coverage_80"] < 0.3  # intervals a fifth as wide miss most values
    assert scores["wide"]["coverage_80"] > 0.99
    assert scores["biased"]["mase"] > scores["true"]["mase"]


def test_forecast_metrics_are_json_ready(gaussian):
    import json

    real, forecasts = gaussian
    results = forecast_metrics(np.zeros_like(real[:2]), forecasts["true"][:2], scale=np.zeros(CHANNELS))
    assert results["crps"] is None and results["mase"] is None  # sum |y| = 0, no usable scale
    json.dumps(results, allow_nan=False)
    assert set(results["wquantile_loss"]) == {f"{level:g}" for level in QUANTILE_LEVELS}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: quantile_summary(np.zeros((2, 3, 4)), [0.5]), r"4-D array \(windows, num_samples"),
        (lambda: quantile_summary(np.zeros((1, 3, 4, 1)), [0.5, 1.0]), r"numbers in \(0, 1\)"),
        (lambda: weighted_quantile_losses(np.zeros((2, 4, 1)), np.zeros((2, 3, 5, 1))), "Received real"),
        (lambda: energy_score(np.full((1, 2, 1), np.nan), np.zeros((1, 3, 2, 1))), "must be finite"),
        (lambda: mase(np.zeros((1, 2, 1)), np.zeros((1, 3, 2, 1))), "context or the scale"),
        (lambda: seasonal_error(np.zeros((1, 1, 1))), "at least 2 steps"),
        (lambda: interval_coverage(np.zeros((1, 2, 1)), np.zeros((1, 3, 2, 1)), 80), r"level must be"),
    ],
)
def test_bad_arrays_get_one_clear_error(call, message):
    with pytest.raises(DataError, match=message):
        call()


# --------------------------------------------------------------------------- GluonTS's own numbers


def gluonts_scores(real, samples, context, seasonality):
    """GluonTS's Evaluator on each (window, channel) as one hourly series: context, then the real steps."""
    import pandas as pd
    from gluonts.evaluation import Evaluator
    from gluonts.model.forecast import SampleForecast

    windows, _, steps, channels = samples.shape
    series, forecasts = [], []
    index = pd.period_range("2020-01-01", periods=context.shape[1] + steps, freq="h")
    for window in range(windows):
        for channel in range(channels):
            values = np.concatenate([context[window, :, channel], real[window, :, channel]])
            series.append(pd.Series(values, index=index))
            forecasts.append(
                SampleForecast(samples=samples[window, :, :, channel], start_date=index[context.shape[1]])
            )
    evaluator = Evaluator(quantiles=(*QUANTILE_LEVELS, 0.025, 0.975), seasonality=seasonality, num_workers=0)
    totals, _ = evaluator(iter(series), iter(forecasts))
    return {
        "crps": float(np.mean([totals[f"wQuantileLoss[{level}]"] for level in QUANTILE_LEVELS])),
        "mase": totals["MASE"],
        "coverage_80": totals["Coverage[0.9]"] - totals["Coverage[0.1]"],
        "coverage_95": totals["Coverage[0.975]"] - totals["Coverage[0.025]"],
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    windows=st.integers(1, 4),
    num_samples=st.integers(1, 60),
    steps=st.integers(1, 8),
    channels=st.integers(1, 3),
    context_steps=st.integers(2, 12),
    seasonality=st.integers(1, 14),
)
def test_equal_to_gluonts_evaluator(seed, windows, num_samples, steps, channels, context_steps, seasonality):
    pytest.importorskip("gluonts.evaluation")
    rng = np.random.default_rng(seed)
    real = rng.normal(2, 1, (windows, steps, channels))
    samples = rng.normal(2, 1.5, (windows, num_samples, steps, channels))
    context = rng.normal(2, 1, (windows, context_steps, channels))
    ours = forecast_metrics(real, samples, context=context, seasonality=seasonality)
    theirs = gluonts_scores(real, samples, context, seasonality)
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_one_step_forecasts_score_and_plot(tmp_path):
    """A yearly series forecast one step ahead (one channel): windows of one value each have no
    autocorrelation to compare and one feature to embed; evaluation says so instead of failing."""
    from fusegen.metrics import sequence_distances
    from fusegen.metrics.plots import plot_sequence_comparison

    rng = np.random.default_rng(0)
    real, generated = rng.normal(size=(40, 1, 1)), rng.normal(0.5, 1.0, size=(40, 1, 1))
    distances = sequence_distances(real, generated)
    assert distances["autocorrelation"] is None and 0 < distances["marginal"] <= 1
    paths = plot_sequence_comparison(real, generated, tmp_path)
    assert paths["embedding"].stat().st_size > 0 and paths["traces"].stat().st_size > 0
    # Two steps have a lag to compare.
    assert (
        sequence_distances(rng.normal(size=(40, 2, 1)), rng.normal(size=(40, 2, 1)))["autocorrelation"] >= 0
    )
    from fusegen.evaluation import summary_lines

    lines = summary_lines({"samples": {"count": 40, "mode": "one per held-out row"}, "distances": distances})
    assert f"distances: marginal {distances['marginal']:.4g}, autocorrelation n/a" in lines
