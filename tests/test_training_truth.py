"""Training tells the truth: the run records the epochs that ran, the progress bar its real
count, and a table `fusegen init` accepts trains, however rare its labels."""

import re
import time

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.data.inference import infer_record_spec
from fusegen.errors import DataError
from fusegen.spec import load_spec
from tests.conftest import cli

pytestmark = pytest.mark.slow

TINY_TRAINING = {"batch_size": 4, "steps_per_execution": 8, "tensorboard": False, "seed": 0}


def tiny_spec(training=None, validation_split=0.0, source=None):
    data = {"validation_split": validation_split}
    if source:
        data["source"] = source
    return {
        "name": "tiny",
        "data": data,
        "inputs": {"size": {"kind": "numeric", "columns": ["a"]}},
        "output": {"kind": "record", "numeric": ["b"], "head": {"type": "mlp", "units": [8]}},
        "objective": {"type": "regression"},
        "training": {**TINY_TRAINING, **(training or {})},
    }


def tiny_frame(rows):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})


# -- 10: the run directory records the epochs actually trained ----------------


def test_epochs_override_is_what_spec_yaml_records(tmp_path):
    generator = fusegen.Generator(load_spec(tiny_spec({"epochs": 5})))
    generator.fit(tiny_frame(24), epochs=2, verbose=0)
    assert len(generator.history_["loss"]) == 2
    assert generator.spec.training.epochs == 2
    generator.save(tmp_path / "run")
    assert load_spec(tmp_path / "run" / "spec.yaml").training.epochs == 2


def test_a_non_positive_epochs_override_is_refused():
    with pytest.raises(fusegen.FusegenError, match="received 0"):
        fusegen.Generator(load_spec(tiny_spec())).fit(tiny_frame(24), epochs=0, verbose=0)


def test_cli_train_epochs_override_is_recorded(tmp_path):
    tiny_frame(24).to_csv(tmp_path / "tiny.csv", index=False)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_spec({"epochs": 28}, source="tiny.csv")))
    # The CLI in this process (tests.conftest.cli), which has TensorFlow loaded: a new one costs seconds.
    code, _, err = cli("train", tmp_path / "tiny.yaml", "--out", tmp_path / "run", "--epochs", "1", "--quiet")
    assert code == 0, err
    assert yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text())["training"]["epochs"] == 1


# -- 12: the progress bar counts the steps that ran ----------------------------


class _SlowSteps(keras.callbacks.Callback):
    """Slower than the progress bar's refresh interval, so it prints every execution."""

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.06)


@pytest.mark.parametrize(
    "rows, training",
    [(172, {}), (40, {"steps_per_epoch": 43})],  # 43 batches: a full pass, or a cap over repeats
    ids=["pass", "steps_per_epoch"],
)
def test_progress_bar_never_overshoots(capsys, rows, training):
    generator = fusegen.Generator(load_spec(tiny_spec({"epochs": 2, **training})))
    generator.fit(tiny_frame(rows), verbose=1, callbacks=[_SlowSteps()])
    printed = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    printed = re.sub(r"Epoch \d+/\d+", "", printed)
    counts = [(int(done), int(total)) for done, total in re.findall(r"(\d+)/(\d+)", printed)]
    assert len(counts) > 4, printed  # the bar printed between executions, not just at the end
    assert all(done <= total == 43 for done, total in counts), counts
    assert counts[-1] == (43, 43)
    assert not re.search(r"-\d", printed), printed  # no negative time left
    # Exactly 43 optimiser steps an epoch, not 48 (six whole executions of 8).
    assert int(generator.model_.optimizer.iterations.numpy()) == 2 * 43


# -- 13: labels seen only in the validation split ------------------------------


def rare_label_spec(validation_row):
    spec = {
        "name": "rare",
        "data": {"split_column": "split"},
        "inputs": {"grade": {"kind": "categorical", "column": "grade"}},
        "output": {
            "kind": "record",
            "numeric": ["b"],
            "categorical": ["sub_grade"],
            "head": {"type": "mlp", "units": [8]},
        },
        "objective": {"type": "cvae"},
        "training": {**TINY_TRAINING, "epochs": 1},
    }
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "grade": ["A", "B"] * 15,
            "sub_grade": ["A1", "B2", "A3"] * 10,
            "b": rng.normal(size=30),
            "split": ["train"] * 30,
        }
    )
    # One row of labels that occur nowhere else, held out for validation.
    frame.loc[validation_row, ["grade", "sub_grade", "split"]] = ["G", "G4", "validation"]
    return load_spec(spec), frame


def test_a_label_only_in_validation_rows_trains_and_is_known():
    spec, frame = rare_label_spec(validation_row=7)
    generator = fusegen.Generator(spec).fit(frame, verbose=0)
    assert np.isfinite(generator.history_["val_loss"]).all()
    assert "G4" in generator.preprocessor_.output.vocabularies["sub_grade"]
    assert "G" in generator.preprocessor_.inputs["grade"].vocabulary
    assert generator.preprocessor_.unseen_counts() == {}

    # A label in no row at all: sample refuses it (likely a typo), predict maps it to the
    # out-of-vocabulary id and counts it.
    unseen = pd.DataFrame({"grade": ["Z"]})
    with pytest.raises(DataError, match="never seen in training"):
        generator.sample(unseen)
    assert len(generator.predict(unseen)) == 1
    assert generator.preprocessor_.unseen_counts() == {"grade": {"Z": 1}}


_LABELS = st.sampled_from(["red", "green", "blue", "G4", "x y", "42a"])


@st.composite
def tables(draw):
    rows = draw(st.integers(20, 80))
    frame = {}
    for index in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["float", "int", "category", "rare"]))
        if kind == "float":
            values = draw(
                st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=rows, max_size=rows)
            )
        elif kind == "int":
            values = draw(st.lists(st.integers(-1000, 1000), min_size=rows, max_size=rows))
        else:
            values = draw(st.lists(_LABELS, min_size=rows, max_size=rows))
            if kind == "rare":
                # Labels that occur exactly once, anywhere in the table.
                for row in draw(st.lists(st.integers(0, rows - 1), min_size=1, max_size=3, unique=True)):
                    values[row] = f"once_{row}"
        frame[f"c{index}"] = values
    return pd.DataFrame(frame)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=tables())
def test_any_table_init_accepts_trains_one_epoch(tmp_path, frame):
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    try:
        raw, _ = infer_record_spec(path, objective="cvae", epochs=1)
    except DataError:
        return  # init refuses the table, with its reason
    raw["output"]["head"] = {"type": "mlp", "units": [8]}
    raw["training"] = {**raw["training"], "batch_size": 16, "steps_per_epoch": 2}
    generator = fusegen.Generator(load_spec(raw), base_dir=tmp_path).fit(epochs=1, verbose=0)
    assert len(generator.history_["loss"]) == 1
