"""Matching a record generator's column distributions to the data's (``objective.marginals``)."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import ops

import fusegen
from fusegen.errors import SpecError
from fusegen.fileio import sha256
from fusegen.objectives.marginal_calibration import MarginalCalibration, label_shift, piecewise_linear
from fusegen.spec import load_spec


@settings(max_examples=40, deadline=None)
@given(
    knots=st.lists(st.floats(-5, 5), min_size=2, max_size=12, unique=True).map(sorted),
    slope=st.floats(0.1, 4.0),
    shift=st.floats(-3, 3),
)
def test_piecewise_linear_passes_through_its_knots_and_is_flat_beyond_them(knots, slope, shift):
    knots = np.array(knots, "float32")[:, None]
    targets = slope * knots + shift  # increasing, so the map is monotone
    values = np.concatenate([knots, [[knots.min() - 1.0], [knots.max() + 1.0]]]).astype("float32")
    mapped = ops.convert_to_numpy(piecewise_linear(values, knots, targets))[:, 0]
    np.testing.assert_allclose(mapped[: len(knots)], targets[:, 0], rtol=1e-4, atol=1e-4)
    assert mapped[-2] == pytest.approx(targets.min(), abs=1e-4)  # below the first knot: the first target
    assert mapped[-1] == pytest.approx(targets.max(), abs=1e-4)
    between = (knots[:-1] + knots[1:]) / 2  # linear between knots, so midpoints go to midpoints
    np.testing.assert_allclose(
        ops.convert_to_numpy(piecewise_linear(between, knots, targets))[:, 0],
        ((targets[:-1] + targets[1:]) / 2)[:, 0], rtol=1e-4, atol=1e-4,
    )  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(labels=st.integers(2, 6), seed=st.integers(0, 10_000), concentration=st.floats(0.2, 5.0))
def test_label_shift_makes_uneven_rows_average_to_the_data_s_shares(labels, seed, concentration):
    rng = np.random.default_rng(seed)
    # Rows whose probabilities differ a lot (a label likely on some rows, unlikely on others).
    probabilities = rng.dirichlet(np.full(labels, concentration), 2000)
    shares = rng.dirichlet(np.ones(labels)) * 0.9 + 0.1 / labels  # every label at least 1/(10 labels)
    shift = label_shift(probabilities, shares, floor=0.0)
    shifted = np.log(probabilities + 1e-12) + shift
    shifted = np.exp(shifted - shifted.max(axis=1, keepdims=True))
    np.testing.assert_allclose((shifted / shifted.sum(axis=1, keepdims=True)).mean(axis=0), shares, atol=2e-3)


def test_measured_maps_give_the_data_s_distributions_and_a_new_one_is_the_identity():
    rng = np.random.default_rng(0)
    calibration = MarginalCalibration(2, [("colour", 3)], numbers=True)
    narrow = rng.normal(0.0, 0.6, (20_000, 2)).astype("float32")
    logits = np.tile(np.log([0.8, 0.15, 0.05]), (20_000, 1)).astype("float32")
    untouched = calibration.apply({"numeric": narrow, "colour": logits})
    np.testing.assert_allclose(ops.convert_to_numpy(untouched["numeric"]), narrow, atol=1e-4)
    np.testing.assert_allclose(ops.convert_to_numpy(untouched["colour"]), logits)

    data = {"numeric": rng.normal(0.0, 1.0, (20_000, 2)), "colour": rng.choice(3, 20_000, p=[0.5, 0.3, 0.2])}
    calibration.measure({"numeric": narrow, "colour": np.exp(logits)}, data)
    fresh = rng.normal(0.0, 0.6, (20_000, 2)).astype("float32")
    mapped = calibration.apply({"numeric": fresh, "colour": logits})
    numbers = ops.convert_to_numpy(mapped["numeric"])
    assert np.std(fresh) == pytest.approx(0.6, abs=0.02)
    np.testing.assert_allclose(np.std(numbers, axis=0), [1.0, 1.0], atol=0.03)
    assert np.all(np.diff(numbers[np.argsort(fresh[:, 0]), 0]) >= -1e-6)  # the order is kept
    shares = ops.convert_to_numpy(ops.softmax(mapped["colour"]))[0]
    np.testing.assert_allclose(shares, [0.5, 0.3, 0.2], atol=0.01)


def rare_class_table(rows=2000, seed=0):
    """A class of 10% whose rows sit apart in x; y follows x with a spread the decoder's mean lacks."""
    rng = np.random.default_rng(seed)
    rare = rng.random(rows) < 0.1
    x = np.where(rare, rng.normal(2.5, 0.5, rows), rng.normal(0.0, 1.0, rows))
    y = x + rng.normal(0.0, 0.7, rows)
    return pd.DataFrame({"x": x, "y": y, "kind": np.where(rare, "rare", "common")})


def spec_with(marginals, prior_scale=1.0):
    # At the prior itself (prior_scale 1), so the maps are measured against the decoder's mean alone.
    return load_spec(
        {
            "output": {"kind": "record", "numeric": ["x", "y"], "categorical": ["kind"]},
            "objective": {
                "type": "cvae",
                "latent_dim": 4,
                "kl_warmup_epochs": 2,
                "marginals": marginals,
                "prior_scale": prior_scale,
            },
            "training": {"batch_size": 64, "epochs": 6, "steps_per_epoch": 40, "learning_rate": 0.003},
        }
    )


@pytest.fixture(scope="module")
def fitted():
    data = rare_class_table()
    modes = ("none", "all", "labels")
    return data, {mode: fusegen.Generator(spec_with(mode)).fit(data, verbose=0) for mode in modes}


def test_calibrated_samples_have_the_data_s_shares_and_spread(fitted):
    data, generators = fitted
    raw = generators["none"].sample(None, num_samples=4000, seed=3)
    calibrated = generators["all"].sample(None, num_samples=4000, seed=3)
    real_std = data["y"].std()

    def spread_gap(frame):
        return abs(frame["y"].std() / real_std - 1.0)

    assert spread_gap(raw) > 0.05  # the decoder's mean alone is too narrow ...
    assert spread_gap(calibrated) < spread_gap(raw) / 2  # ... and the map restores most of the spread
    assert abs((calibrated["kind"] == "rare").mean() - 0.1) < 0.03
    # The rare class still lives where x is high: the relation survives the maps.
    assert calibrated.loc[calibrated["kind"] == "rare", "x"].mean() > calibrated["x"].mean() + 1.0


def test_records_draw_the_latent_a_little_wider_by_default(fitted):
    data, generators = fitted
    default = fusegen.Generator(spec_with("none", prior_scale="auto")).fit(data, verbose=0)
    assert default.model_.prior_scale == 1.1 and generators["none"].model_.prior_scale == 1.0
    raw = generators["none"].sample(None, num_samples=4000, seed=3)
    wide = default.sample(None, num_samples=4000, seed=3)
    real_std = data["y"].std()
    # Wider draws widen the numbers, towards the data's spread ...
    assert wide["y"].std() > 1.04 * raw["y"].std()
    assert abs(wide["y"].std() / real_std - 1.0) < abs(raw["y"].std() / real_std - 1.0)
    # ... along what the decoder learnt: y still follows x, and the rare class still sits high in x.
    assert np.corrcoef(wide["x"], wide["y"])[0, 1] > np.corrcoef(data["x"], data["y"])[0, 1] - 0.05
    assert wide.loc[wide["kind"] == "rare", "x"].mean() > wide["x"].mean() + 1.0


def test_a_saved_calibrated_run_samples_the_same_and_an_older_run_samples_uncalibrated(fitted, tmp_path):
    _, generators = fitted
    run = generators["all"].save(tmp_path / "run")
    before = generators["all"].sample(None, num_samples=200, seed=5)
    pd.testing.assert_frame_equal(fusegen.load(run).sample(None, num_samples=200, seed=5), before)
    # A run written before the maps existed has no marginals.keras (nor the key): it loads with the identity.
    (run / "marginals.keras").unlink()
    written = yaml.safe_load((run / "spec.yaml").read_text())
    del written["objective"]["marginals"]
    (run / "spec.yaml").write_text(yaml.safe_dump(written))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = {name: sha256(run / name) for name in manifest["files"] if name != "marginals.keras"}
    (run / "manifest.json").write_text(json.dumps(manifest))
    older = fusegen.load(run).sample(None, num_samples=200, seed=5)
    assert not older.equals(before)
    assert older["y"].std() < before["y"].std()


def test_marginals_setting_is_checked():
    with pytest.raises(SpecError, match="marginals"):
        spec_with("most")
    default = load_spec({"output": {"kind": "record", "numeric": ["x"]}, "objective": {"type": "cvae"}})
    assert default.objective.marginals == "all"


def test_a_run_from_before_0_6_that_left_marginals_unset_loads_with_its_label_maps(fitted, tmp_path):
    # Before 0.6.0 the default was 'labels': such a run's spec.yaml has no marginals key, and its
    # marginals network holds label shifts only. It must load as it was trained, not with 0.6's 'all'.
    _, generators = fitted
    run = generators["labels"].save(tmp_path / "run")
    before = generators["labels"].sample(None, num_samples=200, seed=5)
    written = yaml.safe_load((run / "spec.yaml").read_text())
    del written["objective"]["marginals"]
    (run / "spec.yaml").write_text(yaml.safe_dump(written))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["versions"]["fusegen"] = "0.5.0"
    manifest["files"]["spec.yaml"] = sha256(run / "spec.yaml")
    (run / "manifest.json").write_text(json.dumps(manifest))
    loaded = fusegen.load(run)
    assert loaded.spec.objective.marginals == "labels"
    pd.testing.assert_frame_equal(loaded.sample(None, num_samples=200, seed=5), before)
