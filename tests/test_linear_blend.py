"""A forecast's centre leans on each window's linear prediction by a weight measured on held-out rows."""

from __future__ import annotations

import hashlib
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.objectives.linear_blend import BLEND_WEIGHTS, blends_linear_prediction, choose_blend_weight
from fusegen.spec import load_spec
from tests.conftest import continuation_spec_dict

CONTEXT, HORIZON = 48, 8


def blended_error(centres, predictions, targets, weight):
    return float(np.mean(np.abs(targets - centres - weight * (predictions - centres))))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    rows=st.integers(2, 40),
    centre_noise=st.floats(0.0, 3.0),
    prediction_noise=st.floats(0.0, 3.0),
    bias=st.floats(-2.0, 2.0),
)
def test_the_chosen_weight_is_the_best_or_none(seed, rows, centre_noise, prediction_noise, bias):
    rng = np.random.default_rng(seed)
    targets = rng.normal(size=(rows, HORIZON, 2))
    centres = targets + centre_noise * rng.normal(size=targets.shape)
    predictions = targets + bias + prediction_noise * rng.normal(size=targets.shape)
    weight = choose_blend_weight(centres, predictions, targets)
    assert weight in BLEND_WEIGHTS
    errors = [blended_error(centres, predictions, targets, candidate) for candidate in BLEND_WEIGHTS]
    # The best weight where its gain is clear, otherwise none: never worse than the decoder's own centre.
    assert weight in (0.0, BLEND_WEIGHTS[int(np.argmin(errors))])
    assert blended_error(centres, predictions, targets, weight) <= errors[0] + 1e-12


def test_a_gain_few_rows_cannot_tell_from_chance_is_not_taken():
    rng = np.random.default_rng(1)
    targets = rng.normal(size=(400, HORIZON, 1))
    centres = targets + rng.normal(size=targets.shape)
    predictions = targets + rng.normal(size=targets.shape)
    # 400 rows measure the best blend of two equally good forecasts: halfway.
    assert choose_blend_weight(centres, predictions, targets) == 0.5
    # Two rows: in one the prediction is right where the centre is 1 off, in the other it is 0.8 off where
    # the centre is right. Leaning on it all the way is best on average (0.4 against 0.5), by less than
    # the rows' disagreement can vouch for.
    centres = np.stack([np.ones((HORIZON, 1)), np.zeros((HORIZON, 1))])
    predictions = np.stack([np.zeros((HORIZON, 1)), np.full((HORIZON, 1), 0.8)])
    assert choose_blend_weight(centres, predictions, np.zeros_like(centres)) == 0.0


def test_an_exact_prediction_takes_all_the_weight_and_no_held_out_rows_take_none():
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(4, HORIZON, 1))
    assert choose_blend_weight(targets + rng.normal(size=targets.shape), targets, targets) == 1.0
    assert (
        choose_blend_weight(np.empty((0, HORIZON, 1)), np.empty((0, HORIZON, 1)), np.empty((0, HORIZON, 1)))
        == 0.0
    )


def oscillations(count, seed):
    """Each window a noisy sinusoid of its own period, swing and level: its own linear fit continues it."""
    rng = np.random.default_rng(seed)
    period = rng.uniform(5.0, 15.0, (count, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (count, 1))
    swing = rng.uniform(0.5, 3.0, (count, 1))
    level = rng.normal(0.0, 5.0, (count, 1))
    steps = np.arange(CONTEXT + HORIZON)[None, :]
    series = (
        level
        + swing * np.sin(2 * np.pi * steps / period + phase)
        + rng.normal(0.0, 0.05, (count, steps.size))
    )
    return {"series": series.astype("float32")[..., None]}


def forecast_spec(**output):
    spec = continuation_spec_dict(
        CONTEXT, HORIZON, "cvae", head={"type": "conv1d", "base_filters": 16, "max_stages": 1}, **output
    )
    spec["data"] = {"validation_split": 0.2}
    spec["objective"]["latent_dim"] = 4
    spec["training"]["epochs"] = 4
    return load_spec(spec)


def median_error(generator, test) -> float:
    paths = np.asarray(generator.sample(test, num_samples=20, seed=0)).reshape(-1, 20, HORIZON, 1)
    return float(np.mean(np.abs(np.median(paths, axis=1) - test["series"][:, CONTEXT:])))


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_briefly_trained_forecast_leans_on_the_prediction_and_a_saved_run_keeps_the_weight(tmp_path):
    spec = forecast_spec()
    assert blends_linear_prediction(spec)
    assert not blends_linear_prediction(forecast_spec(context_autoregression=False))
    assert not blends_linear_prediction(forecast_spec(context_scaling=False))
    test = oscillations(64, seed=1)
    generator = fusegen.Generator(spec).fit(oscillations(256, seed=0), verbose=0)
    blend = generator.model_.blend
    weight = float(blend.weight)
    # Four epochs of a small head do not learn to continue an oscillation; the window's own fit does.
    assert weight >= 0.5, weight
    blended = median_error(generator, test)
    run = generator.save(tmp_path / "run")
    loaded = fusegen.load(run)
    assert float(loaded.model_.blend.weight) == weight
    assert json.loads((run / "plan.json").read_text())["objective"]["linear_blend_weight"] == round(weight, 4)
    np.testing.assert_array_equal(
        np.asarray(loaded.sample(test, seed=3)), np.asarray(generator.sample(test, seed=3))
    )
    # The same model without the shift (weight 0) forecasts new windows worse: measured 0.105 against 0.122.
    blend.network.get_layer("blend_weight").kernel.assign([[0.0]])
    assert blended < 0.92 * median_error(generator, test), (blended, median_error(generator, test))
    # A run written before the blend has no linear_blend.keras: it loads with weight 0, as it sampled.
    (run / "linear_blend.keras").unlink()
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = {
        name: sha256(run / name) for name in manifest["files"] if name != "linear_blend.keras"
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert float(fusegen.load(run).model_.blend.weight) == 0.0
