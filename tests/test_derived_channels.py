"""Calendar channels (``data.windows.calendar``): their values, `init`'s choice of them, their errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import fusegen
from fusegen.data.derived_channels import calendar_channels, with_derived_channels
from fusegen.data.sources import Table
from fusegen.data.windows import window_table
from fusegen.errors import DataError, SpecError
from fusegen.scaffold import init_spec
from fusegen.spec import load_spec


def daily(path, days: int, freq: str = "D"):
    rng = np.random.default_rng(0)
    times = pd.date_range("2013-01-01", periods=days, freq=freq)
    frame = pd.DataFrame(
        {
            "day": times.astype(str),
            "riders": 10 + 3 * np.sin(2 * np.pi * times.dayofyear / 365.25) + rng.normal(size=days),
            "temp": rng.normal(size=days),
        }
    )
    frame.to_csv(path, index=False)
    return path


def spec_with(calendar, time_column="day", length=9, horizon=2):
    return load_spec(
        {
            "data": {"windows": {"length": length, "stride": horizon, "time_column": time_column, "calendar": calendar}},
            "inputs": {
                "history": {"kind": "sequence", "steps": length - horizon, "channels": 2,
                            "columns": ["riders", "day_of_year_cos"], "select": {"steps": [0, length - horizon]}},
                "ahead": {"kind": "sequence", "steps": horizon, "channels": 2,
                          "columns": ["day_of_year_sin", "day_of_year_cos"],
                          "select": {"steps": [length - horizon, length]}, "known_future": True},
            },
            "output": {"kind": "sequence", "steps": horizon, "channels": 1, "columns": ["riders"],
                       "select": {"steps": [length - horizon, length]}},
            "objective": {"type": "cvae", "latent_dim": 2},
            "training": {"epochs": 1, "batch_size": 16},
        }
    )  # fmt: skip


def test_each_cycle_is_a_phase_on_the_circle_that_wraps_where_the_cycle_does():
    times = [
        "2014-01-01 00:00",
        "2014-01-01 06:00",
        "2014-01-06 12:00",
        "2014-07-02 12:00",
        "2016-12-31 00:00",
    ]
    table = Table({"t": np.array(times, dtype=object)}, "long.csv")
    columns = calendar_channels(table, "t", ["hour_of_day", "day_of_week", "day_of_month", "day_of_year"])

    def angle(cycle):
        return np.arctan2(columns[f"{cycle}_sin"], columns[f"{cycle}_cos"]) % (2 * np.pi) / (2 * np.pi)

    # Midnight starts the day, 06:00 is a quarter in, noon half.
    assert np.allclose(angle("hour_of_day"), [0, 0.25, 0.5, 0.5, 0])
    # 2014-01-01 is a Wednesday (day 2 of a week from Monday); Monday 6 January at noon is 1/14 in.
    assert np.allclose(angle("day_of_week")[[0, 2]], [2 / 7, 0.5 / 7])
    assert np.allclose(angle("day_of_month")[[0, 2, 4]], [0, 5.5 / 31, 30 / 31])
    # 2 July at noon is the middle of 2014; 31 December of a leap year is its 366th day.
    assert np.allclose(angle("day_of_year")[[0, 3, 4]], [0, 182.5 / 365, 365 / 366])
    for cycle in ("hour_of_day", "day_of_year"):
        assert np.allclose(columns[f"{cycle}_sin"] ** 2 + columns[f"{cycle}_cos"] ** 2, 1)


def test_windows_read_calendar_channels_of_their_own_rows(tmp_path):
    path = daily(tmp_path / "rides.csv", 60)
    spec = spec_with(["day_of_year"])
    table = with_derived_channels(fusegen.data.files.read_file(path), spec.data.windows)
    windows = window_table(table, spec)
    first = pd.Timestamp(str(table.columns["day"][windows.row_ids[0]]))
    expected = np.cos(2 * np.pi * (np.arange(9) + first.dayofyear - 1) / 365)
    assert np.allclose(windows.columns["day_of_year_cos"][0], expected)
    # Reading the same table again keeps the channels; a column of that name holding other values is refused.
    assert with_derived_channels(table, spec.data.windows).columns.keys() == table.columns.keys()
    clashing = table.with_columns({"day_of_year_sin": np.zeros(len(table))})
    with pytest.raises(DataError, match="column 'day_of_year_sin' is in the data.*rename"):
        with_derived_channels(clashing, spec.data.windows)


def test_a_calendar_needs_dates_and_names_the_row_that_has_none(tmp_path):
    with pytest.raises(SpecError, match="calendar .* time_column is not set"):
        load_spec({"data": {"windows": {"length": 4, "calendar": ["day_of_year"]}},
                   "inputs": {"x": {"kind": "sequence", "steps": 4, "channels": 1, "columns": ["x"]}},
                   "output": {"kind": "vector", "size": 1, "column": "y"}})  # fmt: skip
    with pytest.raises(SpecError, match="day_of_year.*more than once"):
        spec_with(["day_of_year", "day_of_year"])
    with pytest.raises(SpecError, match="calendar"):
        spec_with(["week_of_century"])
    spec = spec_with(["day_of_year"])
    years = Table({"day": np.arange(1990, 2000), "riders": np.arange(10.0)}, "years.csv")
    with pytest.raises(
        DataError, match="reads dates from time_column 'day', which holds 1990 in row 0.*a number"
    ):
        with_derived_channels(years, spec.data.windows)
    days = np.array(["2014-01-01", "2014-01-02", "soon"], dtype=object)
    with pytest.raises(DataError, match="holds 'soon' in row 2 of '.*bad.csv': no date"):
        with_derived_channels(
            Table({"day": days}, "bad.csv", files=[tmp_path / "bad.csv"]), spec.data.windows
        )


def test_a_run_forecasts_with_the_calendar_of_the_rows_it_is_given(tmp_path):
    path = daily(tmp_path / "rides.csv", 200)
    frame = pd.read_csv(path).drop(columns="temp")
    generator = fusegen.Generator(spec_with(["day_of_year"]))
    generator.fit(frame)
    # Rows to forecast: the table plus two days with no riders yet; their calendar comes from their dates.
    ahead = pd.DataFrame(
        {"day": ["2013-07-20", "2013-07-21"], "riders": [np.nan, np.nan], "temp": [0.0, 0.0]}
    )
    samples = generator.sample(pd.concat([frame, ahead], ignore_index=True), num_samples=3)
    assert samples.shape[-2:] == (2, 1) and np.isfinite(samples).all()
    generator.save(tmp_path / "run")
    loaded = fusegen.Generator.load(tmp_path / "run")
    again = loaded.sample(pd.concat([frame, ahead], ignore_index=True), num_samples=3)
    assert np.allclose(again, samples)


@pytest.mark.parametrize(
    ("days", "freq", "cycles"),
    [
        (3 * 365, "D", ["day_of_year"]),  # 35 days cannot show the year; three years show it thrice
        (500, "D", []),  # one year and a bit: training would see each day of the year about once
        (3 * 365, "W", []),  # 60 weeks in a window show the year before the forecast
        (3 * 365, "MS", []),
        (2 * 365 * 24 + 48, "h", ["day_of_year"]),  # 8 days of hours show the day and the week
    ],
)
def test_init_adds_the_cycles_a_window_is_too_short_to_show(tmp_path, days, freq, cycles):
    path = daily(tmp_path / "rides.csv", days, freq)
    spec, text = init_spec(path, series={"targets": ["riders"], "time_column": "day"})
    load_spec(spec)
    assert spec["data"]["windows"].get("calendar", []) == cycles
    columns = [f"{cycle}_{part}" for cycle in cycles for part in ("sin", "cos")]
    if cycles:
        assert spec["inputs"]["history"]["columns"] == ["riders", "temp", *columns]
        assert spec["inputs"]["ahead"]["columns"] == columns and spec["inputs"]["ahead"]["known_future"]
        assert "cannot show where in it a forecast falls" in text
    else:
        assert "ahead" not in spec["inputs"] and "calendar" not in text


def test_init_adds_no_calendar_to_dates_written_as_numbers(tmp_path):
    times = pd.date_range("2010-01-01", periods=3 * 365, freq="D")
    frame = pd.DataFrame(
        {"day": times.strftime("%Y%m%d").astype(int), "riders": np.arange(len(times), dtype=float) % 9}
    )
    frame.to_csv(tmp_path / "numbers.csv", index=False)
    spec, _ = init_spec(tmp_path / "numbers.csv", series={"targets": ["riders"], "time_column": "day"})
    assert "calendar" not in spec["data"]["windows"]


def shop(path, days: int = 300, gap: bool = False):
    rng = np.random.default_rng(0)
    weather = rng.choice(["rain", "sun", "snow"], days).astype(object)
    sales = (
        10 + np.where(weather == "sun", 4, 0) - np.where(weather == "snow", 4, 0) + rng.normal(0, 0.5, days)
    )
    if gap:
        weather[7] = None
    times = pd.date_range("2020-01-01", periods=days, freq="D").astype(str)
    pd.DataFrame({"day": times, "sales": sales, "weather": weather}).to_csv(path, index=False)
    return path


def test_a_known_ahead_column_of_labels_is_read_as_one_flag_per_label(tmp_path):
    path = shop(tmp_path / "shop.csv")
    spec, text = init_spec(
        path, series={"targets": ["sales"], "time_column": "day", "known_future": ["weather"]}
    )
    assert spec["data"]["windows"]["one_hot"] == {"weather": ["rain", "snow", "sun"]}
    flags = ["weather=rain", "weather=snow", "weather=sun"]
    assert spec["inputs"]["ahead"]["columns"] == flags and spec["inputs"]["history"]["columns"] == [
        "sales",
        *flags,
    ]
    assert "hold labels: each label is a 0/1 channel" in text
    spec["training"] = {"epochs": 20}
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    frame = pd.read_csv(path)
    # The same history, then a week of sun or of snow ahead: the forecasts follow the weather given.
    week = pd.date_range("2020-10-27", periods=7, freq="D").astype(str)
    means = {}
    for weather in ("sun", "snow"):
        ahead = pd.DataFrame({"day": week, "sales": np.nan, "weather": weather})
        last = pd.concat([frame, ahead], ignore_index=True).tail(35)  # the last window alone
        means[weather] = generator.sample(last, num_samples=50).mean()
    assert means["sun"] - means["snow"] > 4  # 8 apart in the data
    hail = pd.DataFrame({"day": week, "sales": np.nan, "weather": "hail"})
    with pytest.raises(
        DataError, match=r"one_hot: column 'weather' holds 'hail' in row 7 .*not among its labels"
    ):
        generator.sample(pd.concat([frame, hail], ignore_index=True).tail(14))


def test_labels_known_ahead_need_a_value_in_every_row_and_a_list_of_their_own(tmp_path):
    path = shop(tmp_path / "gappy.csv", gap=True)
    with pytest.raises(DataError, match="'weather' holds labels and is empty in 1 row.*row 7"):
        init_spec(path, series={"targets": ["sales"], "time_column": "day", "known_future": ["weather"]})
    base = {"length": 9, "stride": 2, "time_column": "day"}
    for one_hot, message in (({"weather": []}, "distinct labels"), ({"weather": ["a", "a"]}, "distinct labels"),
                             ({"day": ["x"]}, "time or group column")):  # fmt: skip
        with pytest.raises(SpecError, match=message):
            load_spec({"data": {"windows": {**base, "one_hot": one_hot}},
                       "inputs": {"x": {"kind": "sequence", "steps": 9, "channels": 1, "columns": ["x"]}},
                       "output": {"kind": "vector", "size": 1, "column": "y"}})  # fmt: skip


def test_the_calendar_reads_each_rows_own_clock_and_labels_survive_strict_data_and_sampling(tmp_path):
    # 09:00 in Berlin either side of the change to summer time: hour 9 both days, not 8 and 7 in UTC.
    times = np.array(
        ["2020-03-28T09:00+01:00", "2020-03-29T09:00+02:00", "2020-03-30T09:00:00Z"], dtype=object
    )
    hours = calendar_channels(Table({"t": times}, "t.csv"), "t", ["hour_of_day"])
    assert np.allclose(np.arctan2(hours["hour_of_day_sin"], hours["hour_of_day_cos"]), 2 * np.pi * 9 / 24)
    path = shop(tmp_path / "shop.csv", days=120)
    spec, _ = init_spec(
        path, series={"targets": ["sales"], "time_column": "day", "known_future": ["weather"]}
    )
    spec["data"]["strict"] = True  # the label column is read, through its flags
    spec["training"] = {"epochs": 1}
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fusegen.errors.FusegenWarning)  # 'weather' is no stranger
        generator.sample(pd.read_csv(path).tail(35), num_samples=2)
    # Labels read back as floats from another file are the same labels; an empty cell is named so.
    frame = pd.DataFrame({"day": ["2020-01-01", "2020-01-02"], "code": [1.0, np.nan]})
    windows = load_spec(
        {
            **spec,
            "data": {**spec["data"], "windows": {**spec["data"]["windows"], "one_hot": {"code": ["1", "2"]}}},
        }
    ).data.windows
    with pytest.raises(DataError, match=r"'code' holds no label \(an empty cell\) in row 1"):
        with_derived_channels(Table(dict(frame.items()), "codes.csv"), windows)
