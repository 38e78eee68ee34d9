"""Forecasting scores in `fusegen evaluate`, and `fusegen sample --quantiles`.

The first tests score a stand-in generator (no model, no TensorFlow); the
slow ones train the sensors example for two epochs and use the CLI.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fusegen.data.sources import Table
from fusegen.errors import FusegenError
from fusegen.forecast_evaluation import evaluate_forecasts, summary_line
from fusegen.metrics.forecast import mean_weighted_quantile_loss, quantile_summary
from fusegen.spec import load_spec


class StandIn:
    """A generator whose samples are each window's real continuation plus noise of a given spread."""

    def __init__(self, spec, future, spread):
        self.spec, self.future, self.spread = spec, future, spread

    def sample(self, rows, num_samples, seed, strict):
        futures = self.future(rows)
        noise = np.random.default_rng(seed).normal(
            0, self.spread, (len(futures), num_samples, *futures.shape[1:])
        )
        return (futures[:, None] + noise).reshape(-1, *futures.shape[1:])


def motion_table(count=40, seed=0):
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, (count, 1, 6))
    motion = np.sin(0.3 * np.arange(100)[None, :, None] + phase) * 3 + rng.normal(0, 0.3, (count, 100, 6))
    return Table({"motion": motion, "activity": np.array(["walking"] * count)}, origin="test")


@pytest.fixture(scope="module")
def sensors_spec(examples_dir):
    return load_spec(examples_dir / "sensors_to_series.yaml")


def test_the_context_is_the_inputs_steps_before_the_output(sensors_spec):
    train, rows = motion_table(60, seed=1), motion_table(20, seed=2)
    generator = StandIn(sensors_spec, lambda table: np.asarray(table.columns["motion"])[:, 75:], 0.3)
    results, arrays = evaluate_forecasts(generator, train, rows, seed=0, num_paths=50)
    motion = np.asarray(rows.columns["motion"])
    np.testing.assert_array_equal(arrays["real"], motion[:, 75:])
    np.testing.assert_array_equal(arrays["context"], motion[:, :75])
    assert arrays["samples"].shape == (20, 50, 25, 6)
    assert "75 steps before" in results["context"] and "'accelerometer'" in results["context"]
    level = motion[:, :75].mean(axis=1, keepdims=True).repeat(25, axis=1)[:, None]
    baselines = results["baselines"]
    assert baselines["context_mean"]["crps"] == pytest.approx(
        mean_weighted_quantile_loss(motion[:, 75:], level)
    )
    assert set(baselines) == {"seasonal_naive", "context_mean", "climatology"}
    # paths centred on the truth beat every baseline, and their intervals cover it
    for scores in baselines.values():
        assert results["crps"] < scores["crps"] and results["energy_score"] < scores["energy_score"]
    assert results["mase"] < baselines["seasonal_naive"]["mase"]
    assert results["coverage_80"] > 0.95
    json.dumps(results, allow_nan=False)
    assert summary_line(results).startswith("forecasts (50 paths for each of 20 windows): CRPS")
    assert "beats the model" not in summary_line(results)
    # A model that trails a baseline is told so in words.
    trailing = {**results, "crps": 2.0 * baselines["seasonal_naive"]["crps"]}
    best = min(baselines, key=lambda name: baselines[name]["crps"])
    assert summary_line(trailing).endswith(
        f"; the {best.replace('_', ' ')} forecast beats the model here "
        f"(CRPS {baselines[best]['crps']:.3f} against {trailing['crps']:.3f})"
    )


def wandering_table(count=40, seed=0):
    """Random walks: the last value is the best point forecast, a season back (4 steps) a worse one."""
    rng = np.random.default_rng(seed)
    motion = np.cumsum(rng.normal(0, 1, (count, 100, 6)), axis=1)
    return Table({"motion": motion, "activity": np.array(["walking"] * count)}, origin="test")


def test_with_a_season_the_last_value_is_scored_beside_the_seasonal_naive(sensors_spec):
    """Quarterly prison counts: last-value MASE 0.859, seasonal naive 1.447, model 0.904. With the
    seasonal naive alone, `fusegen evaluate` said the model beat the naive forecasts."""
    from fusegen.metrics.forecast import mase

    train, rows = wandering_table(60, seed=1), wandering_table(20, seed=2)
    generator = StandIn(sensors_spec, lambda table: np.asarray(table.columns["motion"])[:, 75:], 2.0)
    results, arrays = evaluate_forecasts(generator, train, rows, seed=0, num_paths=50, seasonality=4)
    baselines = results["baselines"]
    assert set(baselines) == {"naive", "seasonal_naive", "context_mean", "climatology"}
    context, real = arrays["context"], arrays["real"]
    last = np.repeat(context[:, -1:], 25, axis=1)[:, None]
    assert baselines["naive"]["crps"] == pytest.approx(mean_weighted_quantile_loss(real, last))
    assert baselines["naive"]["mase"] == pytest.approx(mase(real, last, context=context, seasonality=4))
    assert baselines["naive"]["mase"] < baselines["seasonal_naive"]["mase"]
    line = summary_line(results)
    assert (
        f"MASE {results['mase']:.3f} (naive {baselines['naive']['mase']:.3f}, seasonal naive "
        f"{baselines['seasonal_naive']['mase']:.3f}, context mean "
    ) in line
    from fusegen.report.html import _metric_rows

    shown = {row["name"] for row in _metric_rows({"forecast": results})}
    assert {"forecast.baselines.naive.mase", "forecast.baselines.seasonal_naive.mase"} <= shown
    # A model between the two naive forecasts is told that the last value beats it.
    between = {**results, "mase": (baselines["naive"]["mase"] + baselines["seasonal_naive"]["mase"]) / 2}
    assert (
        f"; the naive forecast beats the model here (MASE {baselines['naive']['mase']:.3f} against "
        f"{between['mase']:.3f})"
    ) in summary_line(between)
    # The lags the network is shown (output.context_lags: a week of half-hours) are scored as forecasts too.
    lagged = sensors_spec.model_copy(
        update={"output": sensors_spec.output.model_copy(update={"context_lags": [50]})}
    )
    stand_in = StandIn(lagged, lambda table: np.asarray(table.columns["motion"])[:, 75:], 2.0)
    with_lag, _ = evaluate_forecasts(stand_in, train, rows, seed=0, num_paths=50, seasonality=4)
    week_before = context[:, -50:-25][:, None]
    assert with_lag["baselines"]["seasonal_naive_50"]["crps"] == pytest.approx(
        mean_weighted_quantile_loss(real, week_before)
    )
    assert "seasonal naive 50 " in summary_line(with_lag)
    # With no season, the seasonal naive is the last value: scored once, under its old name.
    results, _ = evaluate_forecasts(generator, train, rows, seed=0, num_paths=50, seasonality=1)
    assert set(results["baselines"]) == {"seasonal_naive", "context_mean", "climatology"}
    assert results["baselines"]["seasonal_naive"]["crps"] == baselines["naive"]["crps"]
    # ... and named for what it is where the summary says it (Ecdat's weekly Pound read "seasonal naive").
    assert "naive (the last value) " in summary_line(results) and "seasonal naive" not in summary_line(
        results
    )


def test_timegan_scores_put_the_real_context_before_each_continuation(sensors_spec):
    from fusegen.evaluation import _scored_context

    rows = motion_table(10, seed=3)
    context, scored_on = _scored_context(sensors_spec, rows)
    np.testing.assert_array_equal(context, np.asarray(rows.columns["motion"])[:, :75])
    assert scored_on == "the 75 real context steps and the 25 generated ones"
    raw = sensors_spec.model_dump(exclude_none=True)
    raw["inputs"] = {"activity": raw["inputs"]["activity"]}  # nothing reads the history
    context, scored_on = _scored_context(load_spec(raw), rows)
    assert context is None and scored_on.startswith("the 25 generated steps (no real context: none")
    motion = np.asarray(rows.columns["motion"]).copy()
    motion[4, 10, 2] = np.nan
    gappy = Table({"motion": motion, "activity": rows.columns["activity"]}, origin="test")
    context, scored_on = _scored_context(sensors_spec, gappy)
    assert context is None and scored_on == "the 25 generated steps (the context has missing values)"


def test_without_a_context_mase_takes_the_training_scale(sensors_spec):
    raw = sensors_spec.model_dump(exclude_none=True)
    raw["inputs"] = {"activity": raw["inputs"]["activity"]}  # no sequence input reads the history
    spec = load_spec(raw)
    generator = StandIn(spec, lambda table: np.asarray(table.columns["motion"])[:, 75:], 1.0)
    results, arrays = evaluate_forecasts(generator, motion_table(60, 1), motion_table(10, 2), num_paths=20)
    assert arrays["context"] is None and results["context"].startswith("none")
    assert set(results["baselines"]) == {"climatology"}
    assert results["mase"] is not None and results["mase"] > 0


# --------------------------------------------------------------------------- trained, through the CLI


def fusegen(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "fusegen.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def in_process(*args):
    """The CLI in this process, which has TensorFlow loaded already: seconds faster than a new one."""
    from typer.testing import CliRunner

    from fusegen.cli import app

    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def sensors_run(examples_dir, tmp_path_factory):
    import yaml

    import fusegen as fusegen_module

    raw = yaml.safe_load((examples_dir / "sensors_to_series.yaml").read_text())
    # One TimeGAN discriminator (and floor), not five of each: the tests read which windows the
    # scores are on, not how the five spread, and each post-hoc network costs seconds to build.
    raw["evaluation"] = {**raw.get("evaluation", {}), "discriminative_fits": 1}
    # One model, not the example's two: evaluation reads the pooled samples the same way, and
    # tests/test_ensemble.py trains, samples and evaluates a two-model forecaster of its own.
    raw["training"]["ensemble"] = 1
    generator = fusegen_module.Generator(load_spec(raw))
    generator.fit(epochs=2, verbose=0)
    run_dir = tmp_path_factory.mktemp("runs") / "sensors"
    generator.save(run_dir)
    return generator, run_dir


@pytest.mark.slow
def test_evaluate_reports_forecast_scores_and_a_fan_chart(sensors_run, tmp_path):
    from fusegen.evaluation import evaluate_run, summary_lines
    from fusegen.report import write_report

    generator, run_dir = sensors_run
    results = evaluate_run(generator, None, tmp_path, timegan_iterations=(2, 2), num_samples=30)
    forecast = results["forecast"]
    assert forecast["windows"] == 12 and forecast["paths_per_window"] == 30  # BasicMotions' 15% holdout
    for name in ("crps", "mase", "coverage_80", "coverage_95", "energy_score"):
        assert forecast[name] is not None and forecast[name] >= 0, name
    assert set(forecast["baselines"]) == {"seasonal_naive", "context_mean", "climatology"}
    assert "timegan" in results and "errors" in results  # the existing scores stay
    # ... on each window's real context followed by its real or generated continuation
    assert results["timegan"]["steps"] == 100 and results["timegan"]["windows"] == 80
    assert results["timegan"]["scored_on"] == "the 75 real context steps and the 25 generated ones"
    assert any(line.startswith("forecasts (30 paths") for line in summary_lines(results))
    assert (tmp_path / "fan_chart.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["forecast"]["crps"] == forecast["crps"]
    html = write_report(
        run_dir, results, generator.spec, generator.history_, out=tmp_path / "r.html"
    ).read_text()
    assert "Fan chart" in html and "forecast.crps" in html


@pytest.mark.slow
def test_sample_writes_a_quantile_summary_beside_the_paths(sensors_run, tmp_path):
    generator, run_dir = sensors_run
    table = generator.load_table()
    np.savez(
        tmp_path / "c.npz",
        motion=table.columns["motion"][:3],
        activity=table.columns["activity"][:3].astype(str),
    )
    out = tmp_path / "paths.npz"
    result = in_process("sample", run_dir, "-c", tmp_path / "c.npz", "-n", "40", "--quantiles", "0.1,0.5,0.9",
                        "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "quantiles 0.1, 0.5, 0.9 of each of 3 condition row(s)" in result.output
    paths = np.load(out)["continuation"]
    summary = np.load(tmp_path / "paths.quantiles.npz")
    assert paths.shape == (120, 25, 6)
    assert summary["continuation"].shape == (3, 3, 25, 6)  # rows, quantiles, steps, channels
    np.testing.assert_array_equal(summary["quantile_levels"], [0.1, 0.5, 0.9])
    expected = quantile_summary(paths.reshape(3, 40, 25, 6), [0.1, 0.5, 0.9])
    np.testing.assert_array_equal(summary["continuation"], expected)
    assert np.all(np.diff(summary["continuation"], axis=1) >= 0)
    # To CSV: a long table, a row per condition row, sample and step, a column per channel.
    result = in_process("sample", run_dir, "-c", tmp_path / "c.npz", "-n", "40", "--quantiles", "0.1,0.5,0.9",
                        "--out", tmp_path / "paths.csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "paths.csv")
    channels = [f"motion_{index}" for index in range(6)]
    assert list(table.columns) == ["row", "sample", "step", *channels] and len(table) == 120 * 25
    np.testing.assert_allclose(table[channels].to_numpy().reshape(120, 25, 6), paths, rtol=1e-5, atol=1e-4)
    quantiles = pd.read_csv(tmp_path / "paths.quantiles.csv")
    assert len(quantiles) == 3 * 25 and list(quantiles.columns[:5]) == [
        "row",
        "step",
        *(f"motion_0_q{q}" for q in (0.1, 0.5, 0.9)),
    ]
    np.testing.assert_allclose(
        quantiles["motion_5_q0.9"].to_numpy().reshape(3, 25), expected[:, 2, :, 5], atol=1e-4
    )


@pytest.mark.parametrize(
    ("quantiles", "problem"),
    [("0.1,abc", "'abc' is not a number"), ("0.5,1", "1 is not strictly between 0 and 1")],
)
def test_bad_quantiles_are_one_line(tmp_path, quantiles, problem):
    # The option is checked before the run is read, so no run is needed.
    result = fusegen("sample", tmp_path / "run", "--quantiles", quantiles, "--out", tmp_path / "o.npz")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--quantiles expects numbers strictly between 0 and 1" in lines[0], lines
    assert f"received '{quantiles}' ({problem})" in lines[0]


@pytest.mark.slow
def test_quantiles_of_a_record_output_are_refused(examples_dir, tmp_path):
    import fusegen as fusegen_module

    generator = fusegen_module.Generator(examples_dir / "tabular_augment.yaml")
    generator.fit(epochs=1, verbose=0)
    generator.save(tmp_path / "run")
    result = in_process(
        "sample", tmp_path / "run", "-n", "5", "--quantiles", "0.5", "--out", tmp_path / "o.csv"
    )
    assert isinstance(result.exception, FusegenError)  # which `fusegen` prints as one line, as above
    message = str(result.exception)
    assert "--quantiles summarises sequence outputs" in message, message
    assert "is a record; received --quantiles 0.5" in message
    assert not (tmp_path / "o.csv").exists()


def test_a_panel_reports_each_groups_coverage_beside_the_pooled_one():
    """One noise scale serves every series of a panel: pooled 0.79 hid 0.58 for one commodity's prices
    and 1.00 for another's."""
    from fusegen.forecast_evaluation import coverage_by_group

    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 5, 1))
    samples = rng.normal(size=(40, 200, 5, 1))
    samples[20:] *= 0.3  # group b's paths are far too narrow
    groups = np.array(["a"] * 20 + ["b"] * 20, dtype=object)
    by_group = coverage_by_group(real, samples, groups)
    assert set(by_group) == {"a", "b"} and abs(by_group["a"] - 0.8) < 0.08 and by_group["b"] < 0.45
    forecast = {"paths_per_window": 200, "windows": 40, "crps": 0.5, "mase": 1.0, "coverage_80": 0.6,
                "coverage_95": 0.8, "energy_score": 1.0, "baselines": {}, "coverage_80_by_group": by_group}  # fmt: skip
    assert (
        f"80% coverage by group from {by_group['b']:.3f} (b) to {by_group['a']:.3f} (a), over 2 groups"
        in summary_line(forecast)
    )


def test_coverage_is_reported_per_step_ahead_where_pooling_hides_its_spread():
    """pizzaplace's hourly forecasts covered 0.68 of open hours and 1.00 of closed ones: 0.80 pooled."""
    from fusegen.forecast_evaluation import coverage_by_step

    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 4, 1))
    samples = rng.normal(size=(300, 100, 4, 1))
    samples[:, :, 1] *= 0.4  # step 2's intervals far too narrow
    samples[:, :, 3] *= 3.0  # step 4's far too wide
    by_step = coverage_by_step(real, samples)
    assert len(by_step) == 4 and by_step[1] < 0.45 and by_step[3] > 0.99 and abs(by_step[0] - 0.8) < 0.06
    forecast = {"paths_per_window": 100, "windows": 300, "crps": 0.5, "mase": 1.0, "coverage_80": 0.8,
                "coverage_95": 0.9, "energy_score": 1.0, "baselines": {}, "coverage_80_by_step": by_step}  # fmt: skip
    assert (
        f"80% coverage by step ahead from {by_step[1]:.3f} (step 2) to {by_step[3]:.3f} (step 4)"
        in summary_line(forecast)
    )


def panel_spec(column: str, time: str, context: int, horizon: int, stride: int):
    """Windows of a panel's series (its 'series' column): ``context`` steps of ``column`` in, ``horizon`` out."""
    from fusegen.spec import load_spec

    length = context + horizon
    return load_spec(
        {
            "data": {"windows": {"length": length, "stride": stride, "time_column": time, "group_column": "series"},
                     "validation_split": 0.0},
            "inputs": {"history": {"kind": "sequence", "steps": context, "channels": 1, "columns": [column],
                                   "select": {"steps": [0, context]}}},
            "output": {"name": "ahead", "kind": "sequence", "steps": horizon, "channels": 1, "columns": [column],
                       "select": {"steps": [context, length]}},
            "training": {"epochs": 1, "batch_size": 8, "tensorboard": False},
        }
    )  # fmt: skip


def test_evaluating_a_panel_scores_coverage_per_group():
    import fusegen

    rng = np.random.default_rng(0)
    rows = 12 * 20
    long = {"series": np.repeat(np.array(["a", "b"], dtype=object), rows // 2),
            "hour": np.tile(np.arange(rows // 2, dtype="float64"), 2), "demand": rng.normal(size=rows)}  # fmt: skip
    generator = fusegen.Generator(panel_spec("demand", "hour", context=8, horizon=4, stride=12)).fit(
        long, verbose=0
    )
    table = Table(long, "long")
    results, _ = evaluate_forecasts(generator, table, table, seed=0, num_paths=20)
    assert set(results["coverage_80_by_group"]) == {"a", "b"}
    assert all(0.0 <= value <= 1.0 for value in results["coverage_80_by_group"].values())
    assert len(results["coverage_80_by_step"]) == 4


def test_a_short_context_scales_mase_by_each_series_history():
    """USSeatBelts' 2-year contexts: scaled by one difference each, MASE read 30.6 against the naive's
    16.3 where CRPS had the model ahead; by each state's own history, 0.69 against 0.76."""
    import fusegen

    rng = np.random.default_rng(2)
    rows = 60
    noise = np.repeat([0.1, 5.0], rows // 2)  # two series on very different scales
    long = {"series": np.repeat(np.array(["calm", "wild"], dtype=object), rows // 2),
            "year": np.tile(np.arange(rows // 2, dtype="float64"), 2),
            "deaths": np.cumsum(rng.normal(size=rows) * noise)}  # fmt: skip
    generator = fusegen.Generator(panel_spec("deaths", "year", context=2, horizon=1, stride=1)).fit(
        long, verbose=0
    )
    table = Table(long, "long")
    results, arrays = evaluate_forecasts(generator, table, table, seed=0, num_paths=10)
    assert "MASE scaled by each series' seasonal-naive error over its training rows" in results["context"]
    # The last value's MASE by hand: each window's error over its series' mean step in training.
    steps = {
        name: np.mean(np.abs(np.diff(long["deaths"][long["series"] == name]))) for name in ("calm", "wild")
    }
    windows = np.repeat(["calm", "wild"], rows // 2 - 2)
    errors = np.abs(arrays["real"][:, 0, 0] - arrays["context"][:, -1, 0])
    expected = np.mean(errors / np.array([steps[name] for name in windows]))
    # Read from overlapping training windows, a series' inner steps count twice and its two end steps
    # once: within 2% of the series' plain mean step here.
    assert results["baselines"]["seasonal_naive"]["mase"] == pytest.approx(expected, rel=0.02)
    context_scaled = np.mean(errors / np.abs(arrays["context"][:, 1, 0] - arrays["context"][:, 0, 0]))
    assert context_scaled > 1.5 * expected  # one difference each: a quiet one makes any error huge


def test_a_flat_held_out_series_is_said_to_rank_nothing():
    """Aluminium premiums held at 15 for months: the line read "CRPS 0.000 (naive 0.000, ...)" and
    "the naive forecast beats the model here (CRPS 0.000 against 0.000)"."""
    flat = {"crps": 0.0, "mase": None}
    results = {
        "paths_per_window": 100, "windows": 12, "crps": 0.00026, "mase": None, "coverage_80": 0.975,
        "coverage_95": 1.0, "energy_score": 0.0021,
        "baselines": {"naive": flat, "seasonal_naive": flat, "climatology": {"crps": 0.579, "mase": None}},
    }  # fmt: skip
    line = summary_line(results)
    assert line.startswith("forecasts (100 paths for each of 12 windows): CRPS 0.00026 (naive 0.000, ")
    assert "energy score 0.0021" in line and "beats the model" not in line
    assert line.endswith(
        "; the held-out values are exactly the naive forecast (CRPS 0), so these scores cannot rank the "
        "model: evaluate on windows where the series moves"
    )


def test_sequence_samples_are_written_to_csv_as_plain_decimals(tmp_path):
    """stevedata's pwt_sample: pandas wrote a float32 GDP of 1342799.75 as 1.3427998e+06, and a whole
    count as 4269.0. Each is now the shortest text that reads back as the same float32."""
    import pandas as pd

    from fusegen.writers import write_outputs

    frame = pd.DataFrame({"step": [1, 2, 3], "gdp": np.array([1342799.75, 4269.0, np.nan], "float32")})
    (path,) = write_outputs(frame, tmp_path / "paths.csv")
    assert path.read_text().splitlines() == ["step,gdp", "1,1342799.8", "2,4269", "3,"]
    back = pd.read_csv(path)["gdp"].to_numpy("float32")
    assert back[0] == np.float32(1342799.75) and back[1] == 4269 and np.isnan(back[2])
