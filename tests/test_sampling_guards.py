"""Sampling refuses conditions the model never saw, and a killed `fusegen sample` leaves no partial file."""

import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

import fusegen
from fusegen.errors import DataError, FusegenError, FusegenWarning

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guards")
    rng = np.random.default_rng(0)
    c0 = rng.uniform(0, 10, 200)
    pd.DataFrame({"c0": c0, "y": c0 + rng.normal(size=200), "g": rng.choice(["a", "b"], 200)}).to_csv(
        folder / "data.csv", index=False
    )
    spec = {
        "data": {"source": "data.csv"},
        "inputs": {"c0": {"kind": "numeric", "columns": ["c0"]}},
        "output": {"kind": "record", "numeric": ["y"], "categorical": ["g"]},
        "objective": {"type": "cvae", "latent_dim": 2},
        "training": {"epochs": 1, "batch_size": 32},
    }
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    fusegen.Generator(folder / "spec.yaml").fit(verbose=0).save(folder / "run")
    return folder / "run"


def test_a_condition_far_outside_the_training_range_is_refused(run_dir):
    generator = fusegen.load(run_dir)
    low, high = generator.preprocessor_.inputs["c0"].low[0], generator.preprocessor_.inputs["c0"].high[0]
    with pytest.raises(DataError) as caught:
        generator.sample({"c0": [5.0, 1e9, -1e9]}, num_samples=3)
    message = str(caught.value)
    assert message.startswith(
        f"column 'c0' of input 'c0' has 2 value(s) outside the training range [{low:.6g}, {high:.6g}]"
    )
    assert "the first 1e+09 in row 1" in message and "--allow-extrapolation" in message
    # Inside the range, or within the 10% margin, nothing is said.
    margin = 0.1 * (high - low)
    assert len(generator.sample({"c0": [low, high + 0.9 * margin]}, num_samples=2)) == 4
    with pytest.raises(DataError, match="outside the training range"):
        generator.sample({"c0": [high + 1.1 * margin]})
    # Ranges drawn with `ranges=` are checked the same way.
    with pytest.raises(DataError, match="outside the training range"):
        generator.sample(None, num_samples=4, ranges={"c0": (100.0, 200.0)})


def test_a_negative_temperature_and_a_column_ranged_twice_are_refused(run_dir):
    generator = fusegen.load(run_dir)
    with pytest.raises(FusegenError, match=r"temperature .* must be 0 or more; received -1.0"):
        generator.sample({"c0": [0.5]}, num_samples=2, temperature=-1.0)
    assert len(generator.sample({"c0": [0.5]}, num_samples=2, temperature=0.0)) == 2
    from fusegen.cli_options import parse_ranges

    with pytest.raises(FusegenError, match=r"--range is given twice for 'c0' \(the second: 'c0=2:3'\)"):
        parse_ranges(["c0=0:1", "c0=2:3"])


def test_conditions_without_an_input_name_the_columns_they_lack(run_dir):
    generator = fusegen.load(run_dir)
    with pytest.raises(
        DataError,
        match=r"the conditions have no input 'c0' \(column 'c0'\): they lack the column\(s\) \['c0'\]",
    ) as caught:
        generator.sample({"g": ["a"]}, num_samples=2)
    assert "add the column(s) ['c0'] to the conditions" in str(caught.value)


def test_extrapolation_on_request_warns_and_samples(run_dir):
    generator = fusegen.load(run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = generator.sample({"c0": [1e9]}, num_samples=3, extrapolate=True)
    assert len(samples) == 3
    messages = [str(item.message) for item in caught if item.category is FusegenWarning]
    assert messages[0].startswith("column 'c0' of input 'c0' has 1 value(s) outside the training range")
    assert messages[0].endswith("sampling anyway, as asked.")
    # Clipped at the range's edge, y lands on the training row that holds its maximum: the similarity
    # filter cannot move it and says so, once, rather than looping or dropping the rows.
    assert len(messages) == 2 and "stayed closer than" in messages[1] and "however often" in messages[1]


def fusegen_cli(*args, **options):
    return subprocess.Popen(
        [sys.executable, "-m", "fusegen.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def test_the_cli_refuses_or_warns_in_one_line(run_dir, tmp_path):
    (tmp_path / "c.csv").write_text("c0\n1e9\n")
    refused = fusegen_cli(
        "sample", run_dir, "--conditions", tmp_path / "c.csv", "-n", 3, "--out", tmp_path / "s.csv"
    )
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith(
        "fusegen: error: column 'c0' of input 'c0' has 1 value(s) outside the training range"
    )
    assert not (tmp_path / "s.csv").exists()
    allowed = fusegen_cli(
        "sample",
        run_dir,
        "-c",
        tmp_path / "c.csv",
        "-n",
        3,
        "--out",
        tmp_path / "s.csv",
        "--allow-extrapolation",
    )
    _, err = allowed.communicate(timeout=120)
    assert allowed.returncode == 0
    assert err.startswith("fusegen: warning: column 'c0' of input 'c0' has 1 value(s) outside")
    # One line per warning: this one, and the similarity filter's on the rows clipped to the range's edge.
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("fusegen: warning: 3 of 3 sampled records stayed closer")
    assert len(pd.read_csv(tmp_path / "s.csv")) == 3


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_killed_sample_leaves_no_partial_file(run_dir, tmp_path, signal_number):
    (tmp_path / "c.csv").write_text("c0\n5.0\n")
    process = fusegen_cli(
        "sample", run_dir, "-c", tmp_path / "c.csv", "-n", 50_000_000, "--out", tmp_path / "out" / "s.csv"
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "out").glob(".s.csv.*.tmp")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    os.kill(process.pid, signal_number)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal_number, err
    assert err.strip().endswith("partial files removed")
    assert list((tmp_path / "out").iterdir()) == []


def test_redrawn_rows_keep_each_columns_dtype_without_a_pandas_warning():
    """A column missing in every redrawn row (a nullable number, say) must not be joined as float or
    object: pandas warns that the joined dtype will change (seen in `evaluate` on openintro's loans)."""
    import warnings

    import pandas as pd

    from fusegen.sampling import redraw_rejected

    records = pd.DataFrame({"count": pd.array([1, 2, 3], dtype="Int64"), "label": ["x", "y", "z"]})

    def draw(positions, state):
        return pd.DataFrame({"count": [None] * len(positions), "label": [None] * len(positions)}), state + 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        redrawn, state, first, last = redraw_rejected(
            records, draw, 0, {"odd": lambda rows: rows["label"].fillna("").eq("y").to_numpy()}
        )
    assert str(redrawn["count"].dtype) == "Int64" and redrawn["count"].isna().tolist() == [False, True, False]
    assert state == 1 and first == {"odd": 1} and last == {"odd": 0}
