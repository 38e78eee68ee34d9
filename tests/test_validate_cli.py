"""``fusegen validate``: a dry run that reports every problem per input and exits non-zero on any.

Also checks that ``validate`` and ``train`` work on each kind of source.
"""

import json
import re

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from fusegen.cli import app
from fusegen.data.sources import table_from_frame
from fusegen.data.validation import validate_data
from fusegen.errors import DataError
from fusegen.spec import load_spec

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def write_spec(folder, spec: dict):
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def write_png(path, seed, shape=(8, 8, 3)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)


SMALL_TRAINING = {"batch_size": 4, "epochs": 1}
TINY_IMAGE_ENCODER = {"type": "conv", "filters": [4]}


# --------------------------------------------------------------------------
# One small data set per source kind, with its spec
# --------------------------------------------------------------------------


def csv_with_images(folder):
    for index in range(4):
        write_png(folder / "parts" / "img" / f"{index}.png", index)
    rng = np.random.default_rng(0)
    for part in range(2):
        pd.DataFrame(
            {
                "photo": [f"img/{index % 4}.png" for index in range(6)],
                "caption": rng.choice(["a red square", "a blue dot", "two green lines"], 6),
                "width": rng.normal(10, 2, 6),
                "height": rng.normal(5, 1, 6),
                "shape": rng.choice(["square", "dot"], 6),
                "price": rng.normal(100, 10, 6),
            }
        ).to_csv(folder / "parts" / f"part-{part}.csv", index=False)
    return {
        "data": {"source": "parts/*.csv", "strict": True},
        "inputs": {
            "photo": {"kind": "image", "height": 8, "width": 8, "encoder": TINY_IMAGE_ENCODER},
            "caption": {"kind": "text", "sequence_length": 4, "max_tokens": 50},
            "size": {"kind": "numeric", "columns": ["width", "height"]},
            "shape": {"kind": "categorical"},
        },
        "output": {"kind": "vector", "size": 1, "name": "value", "column": "price"},
        "training": SMALL_TRAINING,
    }


def image_folder(folder):
    for index, label in enumerate(["cat", "dog"] * 5):
        write_png(folder / "photos" / label / f"{index}.png", index)
    return {
        "data": {"source": "photos"},
        "inputs": {"label": {"kind": "categorical"}},
        "output": {
            "kind": "image",
            "name": "photo",
            "column": "image",
            "height": 8,
            "width": 8,
            "head": {"type": "upsample", "base_filters": 4},
        },
        "fusion": {"width": 8},
        "training": SMALL_TRAINING,
    }


def long_table(folder):
    rows = 40
    pd.DataFrame(
        {
            "subject": np.repeat(["a", "b"], rows // 2),
            "t": np.tile(np.arange(rows // 2), 2),
            "ax": np.sin(np.arange(rows)),
            "ay": np.cos(np.arange(rows)),
            "activity": np.repeat(["walk", "run"], rows // 2),
        }
    ).to_csv(folder / "sensors.csv", index=False)
    return {
        "data": {
            "source": "sensors.csv",
            "windows": {"length": 6, "stride": 2, "group_column": "subject", "time_column": "t"},
        },
        "inputs": {
            "motion": {
                "kind": "sequence",
                "steps": 4,
                "channels": 2,
                "columns": ["ax", "ay"],
                "select": {"steps": [0, 4]},
            },
            "activity": {"kind": "categorical"},
        },
        "output": {
            "kind": "sequence",
            "name": "next_steps",
            "steps": 2,
            "channels": 2,
            "columns": ["ax", "ay"],
            "select": {"steps": [4, 6]},
        },
        "training": SMALL_TRAINING,
    }


def python_source(folder):
    (folder / "rows.py").write_text(
        "import numpy as np\n"
        "def batches(count):\n"
        "    rng = np.random.default_rng(0)\n"
        "    for _ in range(count):\n"
        "        yield {'reading': rng.normal(size=(8, 3)), 'level': rng.choice(['low', 'high'], 8),\n"
        "               'target': rng.normal(size=(8, 2))}\n"
    )
    return {
        "data": {"source": "python:rows.py:batches", "options": {"count": 3}},
        "inputs": {"reading": {"kind": "numeric", "size": 3}, "level": {"kind": "categorical"}},
        "output": {"kind": "vector", "size": 2, "name": "target"},
        "training": SMALL_TRAINING,
    }


def npz_arrays(folder):
    rng = np.random.default_rng(0)
    np.savez(
        folder / "arrays.npz",
        photo=rng.integers(0, 256, (12, 8, 8, 1), dtype=np.uint8),
        motion=rng.normal(size=(12, 5, 2)),
        y=rng.normal(size=(12, 3)),
    )
    return {
        "data": {"source": "arrays.npz"},
        "inputs": {
            "photo": {"kind": "image", "height": 8, "width": 8, "channels": 1, "encoder": TINY_IMAGE_ENCODER},
            "motion": {"kind": "sequence", "steps": 5, "channels": 2},
        },
        "output": {"kind": "vector", "size": 3, "column": "y"},
        "training": SMALL_TRAINING,
    }


def whole_windows(folder):
    """Whole-window synthesis, as docs/guide-sensors.md writes it: no inputs, the windows alone
    (validate once failed on it with 'unexpected StopIteration')."""
    np.savez(folder / "windows.npz", window=np.random.default_rng(0).normal(size=(12, 6, 2)))
    return {
        "data": {"source": "windows.npz"},
        "inputs": {},
        "output": {"kind": "sequence", "steps": 6, "channels": 2, "column": "window"},
        "objective": {"type": "cvae"},
        "training": SMALL_TRAINING,
    }


SOURCES = {
    "csv glob with image paths": csv_with_images,
    "image folder": image_folder,
    "long table in windows": long_table,
    "python generator": python_source,
    "npz arrays": npz_arrays,
    "whole windows, no inputs": whole_windows,
}


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_validate_passes_on_every_source_kind(tmp_path, make):
    spec = write_spec(tmp_path, make(tmp_path))
    result = invoke("validate", spec, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and not report["problems"]
    for name, part in report["parts"].items():
        assert part["problems"] == [], name
        assert part["shape"][0] is None and part["dtype"]
    # It also says how long training would run on these rows.
    (schedule,) = [note for note in report["notes"] if note.startswith("training: ")]
    assert re.search(r"training: [\d,]+ rows, [\d,]+ validating; \d+ epochs", schedule), schedule


def test_a_spec_init_wrote_for_a_table_with_gaps_validates_clean(tmp_path):
    """openintro's births14 through `fusegen init`: its nullable numbers carry COLUMN_is_missing targets,
    which validate called 'not in the spec' and exited 1 on."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"weeks": rng.normal(39, 2, 200).round(1), "sex": rng.choice(["f", "m"], 200)})
    frame.loc[::7, "weeks"] = np.nan
    frame.to_csv(tmp_path / "births.csv", index=False)
    assert invoke("init", tmp_path / "births.csv", "--out", tmp_path / "births.yaml").exit_code == 0
    result = invoke("validate", tmp_path / "births.yaml", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and not report["problems"]


@pytest.mark.parametrize(
    "make", [csv_with_images, image_folder, long_table], ids=["csv", "folder", "windows"]
)
def test_train_works_on_source_kinds(tmp_path, make):
    spec = write_spec(tmp_path, make(tmp_path))
    result = invoke("train", spec, "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert (tmp_path / "run" / "manifest.json").is_file() and (
        tmp_path / "run" / "preprocessing.json"
    ).is_file()


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def test_the_table_shows_each_input_with_its_dtype_shape_and_an_example(tmp_path):
    spec = write_spec(tmp_path, csv_with_images(tmp_path))
    result = invoke("validate", spec)
    assert result.exit_code == 0, result.output
    for expected in ("photo", "caption", "size", "shape", "value (output)", "[None, 8, 8, 3]", "int32", "ok"):
        assert expected in result.output
    assert re.search(r"'(square|dot)' -> \d", result.output)  # a stored label and the id the model gets


def test_problems_are_reported_per_input_and_exit_one(tmp_path):
    spec = csv_with_images(tmp_path)
    for part in (0, 1):
        path = tmp_path / "parts" / f"part-{part}.csv"
        frame = pd.read_csv(path)
        frame["width"] = frame["width"].astype(object)
        frame.loc[2, "width"] = "wide"
        frame.loc[3, "caption"] = ""
        frame.to_csv(path, index=False)
    # The empty caption is dropped; 'size' keeps missing: error, so the text in its number is reported
    # (under drop_rows it would be dropped too).
    spec["data"]["missing"] = "drop_rows"
    spec["inputs"]["size"]["missing"] = "error"
    result = invoke("validate", write_spec(tmp_path, spec), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert not report["ok"]
    assert report["parts"]["size"]["problems"] == [
        f"Column 'width' of input 'size' (numeric): expected numbers, received 'wide' in row 2 of "
        f"'{tmp_path / 'parts' / 'part-0.csv'}'. Hint: fix that value (a number is expected there); for a spec "
        "not trained yet, the column may be declared categorical or text instead."
    ]
    assert report["parts"]["photo"]["problems"] == []
    assert "data.missing: drop_rows drops 2 of 12 rows" in report["notes"]


def test_every_missing_and_extra_column_is_listed(tmp_path):
    spec = csv_with_images(tmp_path)
    spec["inputs"]["size"]["columns"] = ["width", "depth"]
    spec["inputs"]["caption"]["column"] = "title"
    result = invoke("validate", write_spec(tmp_path, spec), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["parts"]["size"]["problems"][0].startswith("column(s) ['depth'] are not in the data")
    assert report["parts"]["caption"]["problems"][0].startswith("column(s) ['title'] are not in the data")
    assert report["problems"] == [
        "unknown extra column(s) ['caption', 'height'], which no input or output reads (strict)"
    ]
    printed = invoke("validate", write_spec(tmp_path, spec))
    assert printed.exit_code == 1 and "3 problem(s)" in printed.output


def test_every_bad_column_of_a_record_is_listed_in_one_run(tmp_path):
    """A record's columns are read one after another, and validate listed only the first problem: a
    user fixed a cell, ran it again, and met the next (a sweep on openintro's epa2021)."""
    frame = pd.DataFrame({"city": [18.0, 20.0, 22.0, 25.0], "hwy": [25.0, 28.0, np.inf, 33.0],
                          "made": ["2020-01-02", "sometime", "2020-03-01", "2020-04-01"],
                          "kind": ["car", "van", "car", "van"]})  # fmt: skip
    frame["city"] = frame["city"].astype(object)
    frame.loc[1, "city"] = "abc"
    frame.to_csv(tmp_path / "cars.csv", index=False)
    spec = {"data": {"source": "cars.csv"}, "output": {"kind": "record", "numeric": ["city", "hwy", "made"],
            "categorical": ["kind"], "datetime": ["made"]}, "objective": {"type": "cvae"}, "training": SMALL_TRAINING}  # fmt: skip
    result = invoke("validate", write_spec(tmp_path, spec), "--json")
    assert result.exit_code == 1
    problems = json.loads(result.output)["parts"]["record"]["problems"]
    assert [problem.split(":")[0] for problem in problems] == [
        "column 'hwy'", "Column 'city' of output 'record'", "Column 'made' of output 'record'"
    ]  # fmt: skip
    assert "infinity" in problems[0] and "['abc']" in problems[1] and "'sometime'" in problems[2]


def test_a_batch_that_does_not_fit_the_model_is_a_problem_of_that_input():
    spec = load_spec(
        {
            "inputs": {"size": {"kind": "numeric", "columns": ["a", "b"]}, "label": {"kind": "categorical"}},
            "output": {"kind": "vector", "size": 1, "column": "y"},
        }
    )
    frame = pd.DataFrame({"a": np.arange(12.0), "b": np.arange(12.0), "label": ["x"] * 12, "y": np.zeros(12)})
    report = validate_data(spec, table_from_frame(frame))
    assert report.ok
    size, label = keras.Input((3,), name="size"), keras.Input((), dtype="float32", name="label")
    other = keras.Model([size, label], keras.layers.Concatenate()([size, keras.ops.expand_dims(label, -1)]))
    report.check_model(lambda: other)
    assert report.parts["size"].problems == ["model: expected shape [3], received [2]"]
    assert report.parts["label"].problems == ["model: expected dtype float32, received int32"]
    assert not report.ok


def test_a_source_that_cannot_be_read_is_one_error(tmp_path):
    spec = write_spec(tmp_path, {**npz_arrays(tmp_path), "data": {"source": "missing.npz"}})
    result = invoke("validate", spec)
    assert result.exit_code == 1 and isinstance(result.exception, DataError)
    assert "missing.npz' does not exist" in str(result.exception)


def test_a_windowed_parts_example_shows_the_steps_it_reads():
    """Hourly NOx: 'ahead' reads steps 168-191 of each window, but its example showed steps 0-5."""
    hours = np.arange(40, dtype=float)
    table = table_from_frame(pd.DataFrame({"hour": hours, "load": 100.0 + hours}), "load.csv")
    spec = load_spec(
        {
            "data": {"windows": {"length": 12, "stride": 12, "time_column": "hour"}, "validation_split": 0.0},
            "inputs": {
                "history": {"kind": "sequence", "steps": 8, "channels": 1, "columns": ["load"],
                            "select": {"steps": [0, 8]}},
                "ahead": {"kind": "sequence", "steps": 4, "channels": 1, "columns": ["load"],
                          "select": {"steps": [8, 12]}},
            },
            "output": {"name": "forecast", "kind": "sequence", "steps": 4, "channels": 1, "columns": ["load"],
                       "select": {"steps": [8, 12]}},
        }
    )  # fmt: skip
    report = validate_data(spec, table)
    # 40 rows make three windows, counted back from the last row: the first starts on row 4.
    assert report.parts["history"].example.startswith("[104, 105, 106, 107, 108, 109, ...] -> array [8, 1]")
    assert report.parts["ahead"].example.startswith("[112, 113, 114, 115] -> array [4, 1]")
    assert report.parts["forecast"].example.startswith("[112, 113, 114, 115] -> array [4, 1]")
