"""Several models trained apart, their samples pooled in turn (``training.ensemble``)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

import fusegen
from fusegen.errors import RunError, SpecError
from fusegen.objectives.ensemble import generate_in_turn
from fusegen.spec import load_spec
from tests.conftest import continuation_spec_dict
from tests.test_linear_blend import CONTEXT, HORIZON, oscillations


class Scaled:
    """A stand-in member whose samples are its rows' ``x`` times its own factor: which member drew
    each row shows in the result."""

    def __init__(self, factor):
        self.factor = factor

    def generate(self, inputs, present, seed_generator, temperature=1.0):
        return {"out": inputs["x"] * self.factor, "flags": present}


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(0, 23), members=st.integers(1, 4))
def test_each_row_is_drawn_by_the_members_in_turn_and_comes_back_in_order(rows, members):
    x = np.arange(1, rows + 1, dtype="float32")[:, None]
    present = np.arange(rows, dtype="float32")[:, None]
    factors = [10.0**member for member in range(members)]
    outputs = generate_in_turn([Scaled(factor) for factor in factors], {"x": x}, present, None)
    expected = x[:, 0] * np.array([factors[row % members] for row in range(rows)], "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(outputs["out"])[:, 0], expected)
    np.testing.assert_array_equal(ops.convert_to_numpy(outputs["flags"]), present)


def forecast_spec(**training):
    spec = continuation_spec_dict(
        CONTEXT, HORIZON, "cvae", head={"type": "conv1d", "base_filters": 16, "max_stages": 1}
    )
    spec["data"] = {"validation_split": 0.2}
    spec["objective"]["latent_dim"] = 4
    spec["training"].update({"epochs": 3, "ensemble": 2, **training})
    return load_spec(spec)


def test_one_model_by_default_and_more_refused_under_tf_distribute():
    default = fusegen.Generator(load_spec(continuation_spec_dict(CONTEXT, HORIZON, "cvae")))
    default.build()
    assert default.spec.training.ensemble == 1 and "ensemble" not in default.describe()
    planned = fusegen.Generator(forecast_spec(ensemble=3))
    planned.build()
    assert planned.describe()["ensemble"]["models"] == 3  # `fusegen inspect` shows it before training
    # The members train one after another on this machine: under tf.distribute, refused before any work.
    with pytest.raises(SpecError, match="training.ensemble 2 trains its models one after another"):
        forecast_spec(distribution="mirrored")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_members_train_apart_sample_in_turn_and_round_trip(tmp_path):
    generator = fusegen.Generator(forecast_spec()).fit(oscillations(128, seed=0), verbose=0)
    assert len(generator.ensemble()) == 2
    first, second = generator.ensemble()
    # Each member has its own variables, none shared with the other, and starts from its own seed.
    assert not {id(variable) for variable in first.weights} & {id(variable) for variable in second.weights}
    largest = [
        max((np.asarray(w) for w in model.trainable_weights), key=np.size) for model in (first, second)
    ]
    assert largest[0].shape == largest[1].shape and not np.allclose(*largest)
    assert generator.spec.training.ensemble == 2  # the run records the count used
    assert len(generator.history_["member2_loss"]) == len(generator.history_["member2_val_loss"]) > 0
    assert generator.describe()["ensemble"]["models"] == 2

    test = oscillations(6, seed=1)
    paths = np.asarray(generator.sample(test, num_samples=4, seed=2))
    assert paths.shape == (24, HORIZON, 1)
    # Sample i of the call came from member i mod 2: without the second, every other sample changes.
    alone = fusegen.Generator(generator.spec)
    alone.model_, alone.plan_, alone.preprocessor_ = first, generator.plan_, generator.preprocessor_
    single = np.asarray(alone.sample(test, num_samples=4, seed=2))
    assert not np.allclose(paths[1::2], single[1::2])

    # One row: the second member has no row of its own, and draws a spare that is dropped.
    assert np.asarray(generator.sample({"series": test["series"][:1]}, seed=2)).shape == (1, HORIZON, 1)

    run = generator.save(tmp_path / "run")
    assert sorted(path.name for path in run.glob("member2-*.keras"))
    loaded = fusegen.load(run)
    assert len(loaded.ensemble()) == 2
    np.testing.assert_array_equal(np.asarray(loaded.sample(test, num_samples=4, seed=2)), paths)

    # The SavedModel samples as the generator does, each row from its member in turn.
    import tensorflow as tf

    from fusegen.export import export_savedmodel

    export_savedmodel(loaded, tmp_path / "savedmodel")
    sampler = tf.saved_model.load(str(tmp_path / "savedmodel")).signatures["serving_default"]
    exported = sampler(history=tf.constant(test["series"]), seed=tf.constant(5, tf.int64))["ahead"].numpy()
    np.testing.assert_allclose(exported, np.asarray(loaded.sample(test, seed=5)), rtol=0, atol=1e-5)

    # Saved again as one model, the folder keeps no file of the second.
    generator.members_ = []
    generator.save(run)
    assert not list(run.glob("member2-*.keras"))
    assert len(fusegen.load(run).ensemble()) == 1


def test_a_run_missing_a_members_file_is_refused_and_older_runs_load_as_one_model(tmp_path):
    generator = fusegen.Generator(forecast_spec(ensemble=1)).fit(oscillations(64, seed=0), verbose=0)
    run = generator.save(tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    spec_text = (run / "spec.yaml").read_text()
    assert "ensemble: 1" in spec_text

    def rewrite(spec_text, version):
        (run / "spec.yaml").write_text(spec_text)
        manifest["versions"]["fusegen"] = version
        manifest["files"]["spec.yaml"] = sha256(run / "spec.yaml")
        (run / "manifest.json").write_text(json.dumps(manifest))

    # The spec says two models, and the run holds the networks of one.
    rewrite(spec_text.replace("ensemble: 1", "ensemble: 2"), fusegen.__version__)
    with pytest.raises(RunError, match="lists no member2-condition.keras"):
        fusegen.load(run)
    # A run written before 0.10.0 has no count: it was one model, and loads as one.
    rewrite("\n".join(line for line in spec_text.splitlines() if "ensemble:" not in line) + "\n", "0.9.0")
    assert len(fusegen.load(run).ensemble()) == 1


def test_a_record_ensemble_returns_given_cells_exactly_and_imputes():
    """Sampling's record paths (given cells, imputation, the similarity filter) run through the members too."""
    from tests.test_any_column import record_spec, table

    spec = record_spec(training={"batch_size": 64, "epochs": 2, "steps_per_epoch": 20, "ensemble": 2})
    generator = fusegen.Generator(load_spec(spec)).fit(table(600, seed=0), verbose=0)
    assert len(generator.ensemble()) == 2
    rows = generator.sample({"c": ["b"] * 5, "x": [0.5] * 5}, num_samples=3, seed=1)
    assert len(rows) == 15 and (rows["c"] == "b").all() and np.allclose(rows["x"], 0.5)
    filled = generator.impute({"x": [1.0, None], "y": [None, 3.0], "c": ["a", None]})
    assert filled["x"].iloc[0] == 1.0 and filled["y"].iloc[1] == 3.0 and not filled.isna().any().any()
