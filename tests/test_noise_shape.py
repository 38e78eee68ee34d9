"""A forecast's noise scale step by step (``objective.noise_scale: per_step``), fitted on held-out errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.errors import RunError
from fusegen.objectives.noise_shape import MAX_RATIO, MIN_ROWS, NoiseShape, fit_log_scale, shapes_noise
from fusegen.spec import load_spec
from tests.conftest import continuation_spec_dict

CONTEXT, HORIZON = 32, 8
QUIET, BUSY = 0.1, 1.0  # the error's size on the horizon's first and second half


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    ratio=st.floats(1.0, 8.0),
    rows=st.integers(400, 3000),
    slope=st.floats(-1.0, 1.0),
)
def test_the_fit_recovers_a_scale_that_follows_an_indicator_and_a_covariate(seed, ratio, rows, slope):
    rng = np.random.default_rng(seed)
    busy = rng.random(rows) < 0.5
    covariate = rng.normal(size=rows)
    truth = np.where(busy, ratio, 1.0) * np.exp(0.3 * slope * covariate)
    errors = rng.normal(size=rows) * truth
    features = np.column_stack([busy, ~busy, covariate]).astype(float)
    weights, intercept = fit_log_scale(features, errors, indicators=2)
    fitted = np.exp(features @ weights + intercept)
    # Normalised to a mean square of 1; its shape is the truth's within the sampling error of a few
    # hundred Gaussian errors and the ridge's pull toward flat.
    assert np.mean(fitted**2) == pytest.approx(1.0, rel=1e-6)
    shape = truth / np.sqrt(np.mean(truth**2))
    assert np.median(np.abs(np.log(fitted / shape))) < 0.2


def test_a_constant_error_gets_a_flat_shape_and_exact_zeros_stay_bounded():
    rng = np.random.default_rng(0)
    position = np.eye(4)[rng.integers(0, 4, 2000)]
    weights, intercept = fit_log_scale(position, rng.normal(size=2000), indicators=4)
    assert np.allclose(np.exp(position @ weights + intercept), 1.0, atol=0.1)
    # A shut shop: two of four positions always exactly right. Their scale is small, not zero or NaN.
    errors = rng.normal(size=2000) * (position[:, :2].sum(axis=1))
    weights, intercept = fit_log_scale(position, errors, indicators=4)
    fitted = np.exp(position @ weights + intercept)
    assert np.all(np.isfinite(fitted))
    assert fitted[position[:, 3] == 1].max() < 0.2 * fitted[position[:, 0] == 1].min()


def uneven_windows(count, seed):
    """Each window a level with a little noise, whose horizon's second half errs ten times its first."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0.0, 3.0, (count, 1))
    context = level + 0.5 * rng.normal(size=(count, CONTEXT))
    sizes = np.repeat([QUIET, BUSY], HORIZON // 2)
    horizon = level + sizes * rng.normal(size=(count, HORIZON))
    return {"series": np.concatenate([context, horizon], axis=1).astype("float32")[..., None]}


def forecast_spec(noise_scale):
    spec = continuation_spec_dict(
        CONTEXT, HORIZON, "cvae", head={"type": "conv1d", "base_filters": 16, "max_stages": 1}
    )
    spec["data"] = {"validation_split": 0.25}
    spec["objective"].update({"latent_dim": 4, "noise_scale": noise_scale})
    spec["training"]["epochs"] = 6
    return load_spec(spec)


def interval_widths(generator, windows):
    """The mean width of each step's sampled 80% interval, and each step's coverage of the truth."""
    paths = np.asarray(generator.sample(windows, num_samples=50, seed=0)).reshape(-1, 50, HORIZON)
    low, high = np.quantile(paths, [0.1, 0.9], axis=1)
    truth = windows["series"][:, CONTEXT:, 0]
    return (high - low).mean(axis=0), ((truth >= low) & (truth <= high)).mean(axis=0)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_step_gets_the_interval_its_error_needs_and_a_saved_run_keeps_it(tmp_path):
    assert shapes_noise(forecast_spec("per_step")) and not shapes_noise(forecast_spec("constant"))
    train, test = uneven_windows(400, seed=0), uneven_windows(200, seed=1)
    shaped = fusegen.Generator(forecast_spec("per_step")).fit(train, verbose=0)
    flat = fusegen.Generator(forecast_spec("constant")).fit(train, verbose=0)
    shaped_widths, shaped_coverage = interval_widths(shaped, test)
    flat_widths, flat_coverage = interval_widths(flat, test)
    quiet, busy = slice(0, HORIZON // 2), slice(HORIZON // 2, None)
    # The truth's error is ten times larger on the busy half. One scale gives both halves about the same
    # interval: the quiet half covered always, the busy half too rarely.
    assert flat_widths[busy].mean() < 2.0 * flat_widths[quiet].mean()
    assert flat_coverage[quiet].min() > 0.97 and flat_coverage[busy].mean() < 0.75
    assert shaped_widths[busy].mean() > 4.0 * shaped_widths[quiet].mean()
    assert 0.7 <= shaped_coverage[busy].mean() <= 0.9, shaped_coverage
    assert shaped_widths[quiet].mean() < 0.5 * flat_widths[quiet].mean()

    run = shaped.save(tmp_path / "run")
    loaded = fusegen.load(run)
    np.testing.assert_array_equal(
        np.asarray(loaded.sample(test, seed=3)), np.asarray(shaped.sample(test, seed=3))
    )
    # A run written before per-step noise has no noise_shape.keras: every step's scale 1, as it sampled.
    (run / "noise_shape.keras").unlink()
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = {
        name: sha256(run / name) for name in manifest["files"] if name != "noise_shape.keras"
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    old = fusegen.load(run)
    kernel, bias = old.model_.noise_shape.get_layer("noise_shape").get_weights()
    assert not kernel.any() and not bias.any()
    widths, _ = interval_widths(old, test)
    assert widths[busy].mean() < 2.0 * widths[quiet].mean()


def test_scales_stay_within_the_bounds_whatever_the_coefficients():
    spec = forecast_spec("per_step")
    generator = fusegen.Generator(spec).fit(uneven_windows(64, seed=0), verbose=0, epochs=1)
    layer = generator.model_.noise_shape.get_layer("noise_shape")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.full_like(kernel, 50.0), np.full_like(bias, 50.0)])
    paths = np.asarray(generator.sample(uneven_windows(4, seed=2), num_samples=8, seed=0))
    assert np.all(np.isfinite(paths))
    assert MAX_RATIO > 1


def held_out_features(shape, rows, rng):
    """Random levels and step values for ``rows`` held-out windows, as `NoiseShape.features` gives them."""
    values = rng.normal(size=(rows, HORIZON, shape.step_values)) if shape.step_values else None
    return rng.normal(size=(rows, HORIZON, 1)), values


def test_a_few_held_out_windows_fit_only_the_growth_over_the_steps_ahead():
    # The shape and then the mean scale are measured on the same held-out windows; on a handful a whole
    # shape would follow their luck, so below MIN_ROWS one slope per channel over log(1 + step) is all.
    shape = NoiseShape(forecast_spec("per_step"))
    rng = np.random.default_rng(0)
    ahead = np.arange(HORIZON)
    walk = np.sqrt(1.0 + ahead)[:, None]  # a random walk's error: the square root of the steps
    errors = rng.normal(size=(MIN_ROWS - 1, HORIZON, 1)) * walk
    fitted = shape.fit(*held_out_features(shape, MIN_ROWS - 1, rng), errors)
    kernel, _ = shape.network.get_layer("noise_shape").get_weights()
    assert not kernel[HORIZON:].any()  # nothing from the centre or the step values
    slope = kernel[1:HORIZON, 0] / np.log1p(ahead[1:])  # one slope over log(1 + step); the truth's 0.5
    assert kernel[0, 0] == 0.0 and np.allclose(slope, slope[0], rtol=1e-5) and 0.2 < slope[0] < 0.8
    assert np.all(np.diff(fitted[0, :, 0]) > 0) and 1.4 < fitted[0, -1, 0] / fitted[0, 0, 0] < 5.0
    assert not bool(shape.reads_centre())  # so sampling skips the decoder call for the centre
    # Enough rows: the whole shape, here the busy half's ten times the quiet half's error.
    errors = rng.normal(size=(MIN_ROWS * 10, HORIZON, 1)) * np.repeat([QUIET, BUSY], HORIZON // 2)[:, None]
    level, values = held_out_features(shape, MIN_ROWS * 10, rng)
    fitted = shape.fit(level, values, errors * np.exp(0.5 * np.abs(level)))  # and larger far from the level
    assert fitted[:, HORIZON // 2 :].mean() > 4.0 * fitted[:, : HORIZON // 2].mean()
    assert bool(shape.reads_centre())


def test_a_busy_step_keeps_its_errors_and_a_far_off_feature_does_not_overflow():
    rng = np.random.default_rng(0)
    rows, steps = 400, 24
    position = np.eye(steps)[np.tile(np.arange(steps), rows)]
    sizes = np.where(position[:, 5] == 1, 5.0, 1.0)  # one step errs five times the others
    errors = rng.normal(size=len(sizes)) * sizes
    groups = np.tile(np.arange(steps), rows)
    weights, intercept = fit_log_scale(position, errors, steps, groups=groups)
    fitted = np.exp(position @ weights + intercept)
    # Each step's errors are clipped at its own 99th percentile, not the busy step's at everyone's.
    assert 4.0 < fitted[position[:, 5] == 1].mean() / fitted[position[:, 0] == 1].mean() < 6.0
    # A covariate near 10,000 that moves by a thousandth: normalised without overflowing.
    offset = np.column_stack([position, 1e4 + 1e-3 * rng.normal(size=len(sizes))])
    weights, intercept = fit_log_scale(offset, errors, steps, groups=groups)
    assert np.isfinite(intercept) and np.all(np.isfinite(weights))
    np.testing.assert_allclose(
        np.mean(np.exp(2 * (offset @ weights.astype("float64") + intercept))), 1.0, rtol=1e-3
    )
    # Errors all alike: no shape at all, exactly.
    weights, _ = fit_log_scale(position, np.ones(len(sizes)), steps, groups=groups)
    assert not weights.any()


def test_resuming_a_checkpoint_of_a_model_without_the_shape_names_the_checkpoint(tmp_path):
    # A checkpoint written before per-step noise (here: by the constant-scale spec) lacks the
    # noise_shape network; Keras's own error named no checkpoint and gave no way out.
    constant = forecast_spec("constant").model_dump()
    constant["training"]["checkpoint_every"] = 1
    windows = uneven_windows(64, seed=0)
    fusegen.Generator(load_spec(constant)).fit(windows, verbose=0, run_dir=tmp_path / "run", epochs=2)
    per_step = {**constant, "objective": {**constant["objective"], "noise_scale": "per_step"}}
    with pytest.raises(RunError, match="checkpoint .*epoch_0002.* does not fit this spec's model") as caught:
        fusegen.Generator(load_spec(per_step)).fit(windows, verbose=0, run_dir=tmp_path / "run", resume=True)
    assert "noise_shape" in str(caught.value) and "without --resume" in caught.value.hint
