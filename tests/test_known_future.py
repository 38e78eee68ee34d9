"""Known-future inputs: steps known ahead (a weather forecast, the calendar) join the output step by step."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import fusegen
from fusegen.errors import SpecError
from fusegen.models import plan_model
from fusegen.models.builder import build_model
from fusegen.spec import load_spec

HISTORY, AHEAD = 8, 16


def forecast_spec(known_future=True, objective=None, output_steps=AHEAD, output_kind="sequence", epochs=30):
    output = {"name": "demand", "kind": output_kind}
    output.update({"steps": output_steps, "channels": 1} if output_kind == "sequence" else {"size": 1})
    return {
        "inputs": {
            "history": {"kind": "sequence", "steps": HISTORY, "channels": 1},
            "weather": {"kind": "sequence", "steps": AHEAD, "channels": 1, "known_future": known_future},
        },
        "output": output,
        "objective": objective or {"type": "regression"},
        "training": {"epochs": epochs, "batch_size": 32, "learning_rate": 0.003, "tensorboard": False},
    }


def demand_data(count, seed=0):
    """Demand ahead is twice the weather at the same step: no other step and no history tells it."""
    rng = np.random.default_rng(seed)
    weather = rng.normal(size=(count, AHEAD, 1)).astype("float32")
    history = rng.normal(size=(count, HISTORY, 1)).astype("float32")
    demand = (2 * weather + rng.normal(0, 0.05, weather.shape)).astype("float32")
    return {"history": history, "weather": weather, "demand": demand}


def test_the_plan_joins_known_future_steps_to_the_output_and_says_so():
    plan = plan_model(load_spec(forecast_spec()))
    described = plan.to_dict()
    assert described["inputs"]["weather"]["known_future"] is True
    assert described["inputs"]["history"]["known_future"] is False
    assert described["head"]["known_future"] == ["weather"]
    # The join sees, per output step, the head's value, the weather there and the fused conditions.
    assert described["head"]["step_join"][0]["shape"] == [AHEAD, 1 + 1 + plan.head_input_shape[-1]]
    assert described["head"]["step_join"][-1]["shape"] == [AHEAD, 1]
    model = build_model(plan)
    data = demand_data(5)
    assert tuple(model({"history": data["history"], "weather": data["weather"]}).shape) == (5, AHEAD, 1)


def test_the_report_lists_the_step_join_with_every_other_layer():
    """The HTML report's shape plan left the step join out while its parameter total counted it."""
    from fusegen.report.html import _plan_rows

    described = plan_model(load_spec(forecast_spec())).to_dict()
    rows = _plan_rows(described)
    joined = [row for row in rows if row["stage"] == "head step join (weather)"]
    assert joined and [row["layer"] for row in joined] == [
        layer["layer"] for layer in described["head"]["step_join"]
    ]


def test_without_the_flag_nothing_joins_step_by_step():
    described = plan_model(load_spec(forecast_spec(known_future=False))).to_dict()
    assert described["head"]["step_join"] == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"output_steps": 6}, r"inputs.weather.known_future: .* sequence output of its 16 steps, received a "
                              r"sequence output of 6 steps"),
        ({"output_kind": "vector"}, r"inputs.weather.known_future: .* received a vector output"),
        ({"objective": {"type": "diffusion"}}, r"inputs.weather.known_future: objective 'diffusion' generates "
                                                r"with a network of its own"),
    ],
)  # fmt: skip
def test_a_known_future_input_that_cannot_join_is_refused(changes, message):
    with pytest.raises(SpecError, match=message):
        load_spec(forecast_spec(**changes))


@pytest.mark.slow
def test_known_future_steps_make_the_step_by_step_forecast_learnable():
    train, test = demand_data(512), demand_data(128, seed=1)
    errors = {}
    for known_future in (True, False):
        generator = fusegen.Generator(load_spec(forecast_spec(known_future=known_future)))
        generator.fit(train, verbose=0)
        predicted = generator.sample({"history": test["history"], "weather": test["weather"]}, seed=0)
        errors[known_future] = float(np.abs(predicted - test["demand"]).mean())
    # Pooled away, which weather belongs to which step is hard to recover; joined per step it is direct.
    assert errors[True] < 0.5 * errors[False], errors
    assert errors[True] < 0.3, errors


def half_days_spec(inputs: dict):
    """Windows of 12 hourly rows: ``inputs`` read from them, the demand of the last 4 hours generated."""
    return load_spec(
        {
            "data": {"windows": {"length": 12, "stride": 12, "time_column": "hour"}, "validation_split": 0.0},
            "inputs": inputs,
            "output": {"name": "ahead", "kind": "sequence", "steps": 4, "channels": 1, "columns": ["demand"],
                       "select": {"steps": [8, 12]}},
            "training": {"epochs": 1, "batch_size": 16, "tensorboard": False},
        }
    )  # fmt: skip


def test_a_long_table_of_conditions_is_cut_into_windows_as_in_training():
    """Sampling (and so evaluate) on a long table of readings gives one forecast per window."""
    rng = np.random.default_rng(0)
    rows = 12 * 40
    weather = rng.normal(size=rows)
    long = {"hour": np.arange(rows) % 12 + 12.0 * (np.arange(rows) // 12), "weather": weather,
            "demand": 2 * weather + rng.normal(0, 0.1, rows)}  # fmt: skip
    window = {"columns": ["demand"], "select": {"steps": [0, 8]}}
    spec = half_days_spec(
        {
            "history": {"kind": "sequence", "steps": 8, "channels": 1, **window},
            "weather": {"kind": "sequence", "steps": 4, "channels": 1, "columns": ["weather"],
                        "select": {"steps": [8, 12]}, "known_future": True},
        }
    )  # fmt: skip
    generator = fusegen.Generator(spec)
    generator.fit(long, verbose=0)
    samples = generator.sample({name: values[: 12 * 5] for name, values in long.items()}, num_samples=3)
    assert samples.shape == (5 * 3, 4, 1)
    # Tomorrow's demand is what is unknown: a window whose horizon is missing still forecasts, and the
    # time column that orders the readings is welcome in the conditions.
    tomorrow = {"hour": np.arange(12.0), "weather": weather[:12], "demand": long["demand"][:12].copy()}
    tomorrow["demand"][8:] = np.nan
    assert np.isfinite(generator.sample(tomorrow, num_samples=2)).all()
    # Columns the spec does not read (init leaves out a row counter or a year column) are in the user's
    # long table as they were in training: read past, with a warning naming them, not refused.
    with pytest.warns(
        fusegen.errors.FusegenWarning, match=r"the conditions' columns \['year'\] are not read"
    ):
        drawn = generator.sample({**tomorrow, "year": np.full(12, 2014.0)}, num_samples=2)
    assert drawn.shape == (2, 4, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fusegen.errors.FusegenWarning)  # evaluate and report: no warning
        generator.predict({**tomorrow, "year": np.full(12, 2014.0)})
    # A known-future value beyond the training range is warned of (naming the column, the step and
    # the window), not refused; a history the output continues is read in its window's units, at any level.
    with pytest.warns(fusegen.errors.FusegenWarning, match=r"column 'weather' of input 'weather' has 1 value\(s\) "
                                                           r"outside the training range .* the first 50 at step 1 of"):  # fmt: skip
        generator.sample(
            {**tomorrow, "weather": np.where(np.arange(12) == 9, 50.0, weather[:12])}, num_samples=2
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", fusegen.errors.FusegenWarning)
        generator.sample({**tomorrow, "demand": tomorrow["demand"] + 1000.0}, num_samples=2)
        generator.sample({**tomorrow, "weather": np.full(12, 50.0)}, num_samples=2, extrapolate=True)
    # A known-ahead value left out is named by column, step and window, not as "1 row(s) have NaN".
    gap = {**tomorrow, "weather": np.where(np.arange(12) == 10, np.nan, weather[:12])}
    with pytest.raises(fusegen.errors.DataError, match=r"column 'weather' is missing at step 2 of its 4 \(step 10 "
                                                       r"of the window\) in 1 window\(s\), the first the window "
                                                       r"starting at row 0.*forecast's rows too"):  # fmt: skip
        generator.sample(gap, num_samples=2)


def test_the_savedmodel_takes_one_window_per_row_and_refuses_a_longer_history(tmp_path):
    """A longer history would be read from its start by the inputs' steps, a stale forecast (the
    session-43 sweep: a 30-quarter history forecast as its first 16 quarters)."""
    import tensorflow as tf

    from fusegen.export import export_savedmodel

    rng = np.random.default_rng(1)
    rows = 12 * 20
    long = {"hour": np.arange(rows, dtype=float), "demand": rng.normal(size=rows)}
    window = {"columns": ["demand"], "select": {"steps": [0, 8]}}
    generator = fusegen.Generator(
        half_days_spec({"history": {"kind": "sequence", "steps": 8, "channels": 1, **window}})
    )
    generator.fit(long, verbose=0)
    sampler = tf.saved_model.load(str(export_savedmodel(generator, tmp_path / "model"))).signatures[
        "serving_default"
    ]
    readings = long["demand"][:30].astype("float32")
    seed = tf.constant(0, tf.int64)
    whole = sampler(history=tf.constant(readings[None, :12, None]), seed=seed)["ahead"].numpy()
    alone = sampler(history=tf.constant(readings[None, :8, None]), seed=seed)["ahead"].numpy()
    np.testing.assert_allclose(whole, alone)  # a window, or its 8 steps of context alone
    for steps in (30, 10, 5):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"input history takes one window of the "
                           r"data per row: 12 steps \(it reads steps 0 to 7, or its first 8 steps alone\)"):  # fmt: skip
            sampler(history=tf.constant(readings[None, :steps, None]), seed=seed)


def test_a_window_whose_history_is_missing_throughout_is_warned_of():
    """Sugar prices before a market's series began: the history masked at every step gave narrow,
    confident forecasts from the fill value alone, with no word of it."""
    rng = np.random.default_rng(0)
    rows = 12 * 20
    long = {"hour": np.arange(rows, dtype=float), "demand": rng.normal(size=rows)}
    spec = half_days_spec(
        {"history": {"kind": "sequence", "steps": 8, "channels": 1, "columns": ["demand"],
                     "select": {"steps": [0, 8]}, "missing": "mask"}}
    )  # fmt: skip
    generator = fusegen.Generator(spec)
    generator.fit(long, verbose=0)
    conditions = {"hour": np.arange(36.0), "demand": rng.normal(size=36)}
    conditions["demand"][12:20] = np.nan  # the second window's whole history
    with pytest.warns(fusegen.errors.FusegenWarning, match=r"column 'demand' of input 'history' is missing at "
                                                           r"every step of 1 window\(s\), the first the window "
                                                           r"starting at row 12"):  # fmt: skip
        samples = generator.sample(conditions, num_samples=2)
    assert samples.shape == (3 * 2, 4, 1)
    conditions["demand"][12:19] = 1.0  # one reading of it is enough to go on
    with warnings.catch_warnings():
        warnings.simplefilter("error", fusegen.errors.FusegenWarning)
        generator.sample(conditions, num_samples=2)


@pytest.mark.slow
def test_cvae_forecasts_carry_the_noise_their_intervals_need():
    """Sampled paths spread as far as the real values do: the 80% interval covers about 80%."""
    train, test = demand_data(512), demand_data(128, seed=1)
    rng = np.random.default_rng(2)
    for data in (train, test):  # noise the weather does not explain: the spread a forecast must show
        data["demand"] = (data["demand"] + rng.normal(0, 0.5, data["demand"].shape)).astype("float32")
    objective = {"type": "cvae", "latent_dim": 4}
    generator = fusegen.Generator(load_spec(forecast_spec(objective=objective, epochs=30)))
    assert generator.spec.objective.observation_noise == "auto"
    generator.fit(train, verbose=0)
    paths = generator.sample({"history": test["history"], "weather": test["weather"]}, num_samples=50, seed=0)
    paths = paths.reshape(128, 50, AHEAD, 1)
    low, high = np.quantile(paths, [0.1, 0.9], axis=1)
    coverage = float(((test["demand"] >= low) & (test["demand"] <= high)).mean())
    assert 0.65 <= coverage <= 0.95, coverage


def test_correlated_noise_keeps_unit_variance_and_the_measured_autocorrelation():
    generator = fusegen.Generator(load_spec(forecast_spec(objective={"type": "cvae", "latent_dim": 2})))
    model = generator.build()
    layer = model.noise_correlation.get_layer("autocorrelation")
    for rho in (0.9, -0.5, 0.0):  # an AR(1) process's autocorrelation: rho^lag
        layer.kernel.assign([[rho**lag for lag in range(1, AHEAD)]])
        white = np.random.default_rng(0).normal(size=(20_000, AHEAD, 1)).astype("float32")
        noise = np.asarray(model._correlated_over_steps(white))[:, :, 0]
        np.testing.assert_allclose(noise.std(axis=0), 1.0, atol=0.03)
        lag_one = np.mean([np.corrcoef(noise[:, t], noise[:, t - 1])[0, 1] for t in range(1, AHEAD)])
        assert abs(lag_one - rho) < 0.03, (rho, lag_one)


@pytest.mark.slow
def test_cvae_paths_are_as_smooth_as_the_series_they_continue():
    """Where the unexplained part drifts smoothly, sampled paths drift too instead of jittering."""
    train, test = demand_data(512), demand_data(128, seed=1)
    rng = np.random.default_rng(2)
    for data in (train, test):  # an AR(1) drift with lag-1 correlation 0.9 the weather does not explain
        drift = np.zeros(data["demand"].shape)
        drift[:, 0] = rng.normal(size=(len(drift), 1))
        for step in range(1, AHEAD):
            drift[:, step] = 0.9 * drift[:, step - 1] + np.sqrt(1 - 0.81) * rng.normal(size=(len(drift), 1))
        data["demand"] = (data["demand"] + 0.5 * drift).astype("float32")
    generator = fusegen.Generator(load_spec(forecast_spec(objective={"type": "cvae", "latent_dim": 4})))
    generator.fit(train, verbose=0)
    measured = float(generator.model_.noise_correlation.get_layer("autocorrelation").kernel[0, 0])  # lag 1
    assert measured > 0.6, measured
    paths = generator.sample({"history": test["history"], "weather": test["weather"]}, num_samples=20, seed=0)
    deviations = paths.reshape(128, 20, AHEAD) - paths.reshape(128, 20, AHEAD).mean(axis=1, keepdims=True)
    lag_one = np.corrcoef(deviations[:, :, 1:].ravel(), deviations[:, :, :-1].ravel())[0, 1]
    assert lag_one > 0.5, lag_one  # white noise would give about 0


def test_evaluation_holds_out_the_windows_training_held_out(tmp_path):
    """Windows are cut before the split, in evaluation as in training: each held-out window is contiguous."""
    from fusegen.evaluation import real_splits

    rows = 12 * 30
    long = {"step": np.arange(rows, dtype="float64"), "demand": np.zeros(rows)}
    spec = load_spec(
        {
            "data": {"windows": {"length": 12, "stride": 12}, "validation_split": 0.3},
            "inputs": {"clock": {"kind": "sequence", "steps": 12, "channels": 1, "columns": ["step"]}},
            "output": {
                "name": "ahead",
                "kind": "sequence",
                "steps": 12,
                "channels": 1,
                "columns": ["demand"],
            },
            "training": {"epochs": 1, "batch_size": 16, "tensorboard": False},
        }
    )
    generator = fusegen.Generator(spec)
    generator.fit(long, verbose=0)
    train, holdout = real_splits(generator, _write_csv(tmp_path / "long.csv", long))
    assert len(train) + len(holdout) == 30
    steps = np.stack(holdout.columns["step"])
    assert np.all(np.diff(steps, axis=1) == 1) and np.all(steps[:, 0] % 12 == 0)


def _write_csv(path, columns):
    import pandas as pd

    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_sampled_forecasts_come_as_a_long_table_beside_the_times_they_forecast(tmp_path):
    """`sample --out F.csv` (and `Generator.sample_table`): a row per window, sample and step, with the
    window's group and the time of each step; `--quantiles` writes F.quantiles.csv beside it."""
    import pandas as pd
    import yaml

    from fusegen.metrics.forecast import quantile_summary
    from tests.conftest import cli

    rng = np.random.default_rng(0)
    per_site = 12 * 6
    times = pd.date_range("2014-01-01", periods=per_site, freq="30min").strftime("%Y-%m-%d %H:%M")
    weather = rng.normal(size=2 * per_site)
    long = pd.DataFrame({
        "site": ["north"] * per_site + ["south"] * per_site,
        "time": list(times) * 2,
        "weather": weather,
        "demand": 2 * weather + rng.normal(0, 0.1, 2 * per_site),
    })  # fmt: skip
    long = long.iloc[::-1]  # newest first: the windows order the rows by time within each site
    long.to_csv(tmp_path / "long.csv", index=False)
    spec = {
        "data": {"source": "long.csv", "validation_split": 0.0,
                 "windows": {"length": 12, "stride": 12, "time_column": "time", "group_column": "site"}},
        "inputs": {
            "history": {"kind": "sequence", "steps": 8, "channels": 1, "columns": ["demand"],
                        "select": {"steps": [0, 8]}},
            "weather": {"kind": "sequence", "steps": 4, "channels": 1, "columns": ["weather"],
                        "select": {"steps": [8, 12]}, "known_future": True},
        },
        "output": {"name": "ahead", "kind": "sequence", "steps": 4, "channels": 1, "columns": ["demand"],
                   "select": {"steps": [8, 12]}},
        "objective": {"type": "cvae", "latent_dim": 2},
        "training": {"epochs": 2, "batch_size": 8, "tensorboard": False},
    }  # fmt: skip
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    code, out, err = cli("train", tmp_path / "spec.yaml", "--out", tmp_path / "run", "-q")
    assert code == 0, out + err
    code, out, err = cli("sample", tmp_path / "run", "-c", tmp_path / "long.csv", "-n", "5",
                         "--quantiles", "0.1,0.5,0.9", "--out", tmp_path / "paths.csv")  # fmt: skip
    assert code == 0, out + err
    assert "wrote 60 sequence sample(s)" in out and "paths.quantiles.csv" in out
    # Every horizon is in the table already: a backtest, and the line says how to forecast past it.
    assert "every window forecasts steps the table already holds" in out and "append the next 4 rows" in out
    paths = pd.read_csv(tmp_path / "paths.csv")
    assert list(paths.columns) == ["window", "site", "sample", "step", "time", "demand"]
    assert len(paths) == 12 * 5 * 4  # 6 windows a site, 5 paths of 4 steps each
    # Sites keep the order they first appear in (south: the file is newest first), and each window
    # forecasts its last four half-hours: south's third window, those of its rows 32-35.
    assert paths.groupby("window")["site"].first().tolist() == ["south"] * 6 + ["north"] * 6
    third_south = paths[(paths["window"] == 2) & (paths["sample"] == 0)]
    assert third_south["time"].tolist() == list(times[32:36]) and third_south["step"].tolist() == [1, 2, 3, 4]
    # The table holds exactly the samples `sample` draws for the same seed.
    from fusegen import load

    generator = load(tmp_path / "run")
    drawn = generator.sample(tmp_path / "long.csv", num_samples=5)
    np.testing.assert_allclose(paths["demand"].to_numpy().reshape(12 * 5, 4, 1), drawn, rtol=1e-5, atol=1e-5)
    summary = pd.read_csv(tmp_path / "paths.quantiles.csv")
    assert list(summary.columns) == [
        "window",
        "site",
        "step",
        "time",
        "demand_q0.1",
        "demand_q0.5",
        "demand_q0.9",
    ]
    expected = quantile_summary(drawn.reshape(12, 5, 4, 1), [0.1, 0.5, 0.9])
    np.testing.assert_allclose(
        summary["demand_q0.5"].to_numpy().reshape(12, 4), expected[:, 1, :, 0], atol=1e-5
    )
    assert (summary["demand_q0.1"] <= summary["demand_q0.9"]).all()
    # Each quantile is one of the paths, and is written as the paths are (not with float32's noise).
    written = pd.read_csv(tmp_path / "paths.quantiles.csv", dtype=str)["demand_q0.5"]
    assert set(written) <= set(pd.read_csv(tmp_path / "paths.csv", dtype=str)["demand"])
    frame = generator.sample_table(tmp_path / "long.csv", num_samples=5, quantiles=[0.1, 0.5, 0.9])
    pd.testing.assert_frame_equal(frame.astype({"time": str}), summary, check_dtype=False, atol=1e-5)
    # Windows are counted back from each series' last row, so the newest horizon is always forecast:
    # without south's three oldest rows it makes 5 windows, the last forecasting its last 4 rows.
    shorter = long[~((long["site"] == "south") & long["time"].isin(times[:3]))]
    frame = generator.sample_table(shorter, quantiles=[0.5])
    south = frame[frame["site"] == "south"]
    assert south["window"].nunique() == 5 and south["time"].tolist()[-4:] == list(times[-4:])
    assert south["time"].tolist()[:4] == list(times[20:24])
    with pytest.raises(fusegen.errors.DataError, match=r"quantiles must be a non-empty list"):
        generator.sample_table(tmp_path / "long.csv", quantiles=[0.5, 1.5])
    # With the next four half-hours appended (weather known, demand empty), it forecasts them: no line.
    ahead = pd.date_range(pd.Timestamp(times[-1]) + pd.Timedelta("30min"), periods=4, freq="30min")
    future = pd.DataFrame({"site": ["north"] * 4 + ["south"] * 4, "time": list(ahead.strftime("%Y-%m-%d %H:%M")) * 2,
                           "weather": rng.normal(size=8), "demand": np.nan})  # fmt: skip
    pd.concat([long, future]).to_csv(tmp_path / "future.csv", index=False)
    code, out, err = cli("sample", tmp_path / "run", "-c", tmp_path / "future.csv", "-n", "5", "--out",
                         tmp_path / "ahead.csv")  # fmt: skip
    assert code == 0, out + err
    assert "already holds" not in out
    assert pd.read_csv(tmp_path / "ahead.csv")["time"].iloc[-1] == ahead.strftime("%Y-%m-%d %H:%M")[-1]
    # --last: each series' forecast past its end alone
    # (gt's countrypops wrote 108 MB of past windows for one year ahead).
    code, out, err = cli("sample", tmp_path / "run", "-c", tmp_path / "future.csv", "-n", "5", "--last",
                         "--out", tmp_path / "last.csv")  # fmt: skip
    assert code == 0, out + err
    last = pd.read_csv(tmp_path / "last.csv")
    assert len(last) == 2 * 5 * 4 and set(last["time"]) == set(ahead.strftime("%Y-%m-%d %H:%M"))
    assert last.groupby("site")["window"].nunique().tolist() == [1, 1]
    code, out, err = cli("sample", tmp_path / "run", "--last", "-n", "2", "--out", tmp_path / "none.csv")
    assert code == 1 and "--last keeps each series' last window" in err and "no --conditions" in err
    # No rows at all: the long table's own columns are asked for, each once (sp500 had been asked for
    # its calendar channels, twice over, and told to retrain with modality_dropout).
    code, out, err = cli("sample", tmp_path / "run", "-n", "2", "--out", tmp_path / "none.csv")
    assert code == 1 and "no rows were given to forecast from" in err
    assert "with the columns ['time', 'site', 'demand', 'weather']" in err and "modality_dropout" not in err


def _forecast_spec(time_column="t", group_column=None):
    from fusegen.spec import load_spec

    windows = {"length": 6, "stride": 6, "time_column": time_column}
    if group_column:
        windows["group_column"] = group_column
    return load_spec({
        "data": {"source": "long.csv", "windows": windows},
        "inputs": {"history": {"kind": "sequence", "steps": 4, "channels": 1, "columns": ["y"],
                               "select": {"steps": [0, 4]}}},
        "output": {"name": "ahead", "kind": "sequence", "steps": 2, "channels": 1, "columns": ["y"],
                   "select": {"steps": [4, 6]}},
        "objective": {"type": "cvae", "latent_dim": 2},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("times", "late"),
    [
        # UKgas's quarters: 1988's appended after 1986's last quarter got the forecast for 1987.
        ([1985 + q / 4 for q in range(8)] + [1988.0, 1988.25], True),
        ([1985 + q / 4 for q in range(10)], False),
        # Business days: a Friday's next row is a Monday, no gap; a year later is one.
        (list(pd.bdate_range("2017-11-20", periods=10).strftime("%m/%d/%Y")), False),
        (
            list(pd.bdate_range("2017-11-20", periods=8).strftime("%Y-%m-%d")) + ["2018-12-04", "2018-12-05"],
            True,
        ),
    ],
)
def test_rows_to_forecast_after_a_gap_in_time_are_warned_of(times, late):
    """A forecast is for the rows after a series' last values, whatever their times say: future rows
    appended a year late got the next rows' forecast under their own times, with no word."""
    import warnings

    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table
    from fusegen.errors import FusegenWarning

    values = np.r_[np.arange(8.0), np.nan, np.nan]
    table = Table({"t": np.asarray(times, dtype=object), "y": values}, "future.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        window_table(table, _forecast_spec(), sampling=True)
    said = [str(w.message) for w in caught if issubclass(w.category, FusegenWarning)]
    assert bool(said) == late, said
    if late:
        assert said[0].startswith(f"the rows to forecast start at {times[8]} in 't', ")
        assert f"usual steps after the last row with values ({times[7]})" in said[0]


def test_late_rows_to_forecast_name_the_series(tmp_path):
    import warnings

    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table

    years = list(range(2010, 2020)) + [2021]
    table = Table({
        "country": np.asarray(["A"] * 11 + ["B"] * 11, dtype=object),
        "year": np.asarray(years * 2), "y": np.r_[np.arange(10.0), np.nan, np.arange(10.0), np.nan],
    }, "coffee.csv")  # fmt: skip
    with pytest.warns(UserWarning) as caught:
        warnings.simplefilter("always")
        window_table(table, _forecast_spec("year", "country"), sampling=True)
    assert str(caught[0].message).startswith(
        "series 'A' of 'country' (and 1 more): the rows to forecast start at 2021 in 'year', 2 usual steps "
        "after the last row with values (2019)"
    )
