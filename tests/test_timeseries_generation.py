"""Whole windows of time series: unconditional and class-conditional synthesis, and their evaluation."""

import json

import numpy as np
import pytest

import fusegen
from fusegen.errors import SpecError
from fusegen.evaluation import evaluate_run, summary_lines
from fusegen.metrics import sequence_distances
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow

STEPS, CHANNELS = 12, 3


def sine_windows(count, seed=0):
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(0.1, 0.5, (count, 1, CHANNELS))
    phase = rng.uniform(0, np.pi, (count, 1, CHANNELS))
    return ((np.sin(frequency * np.arange(STEPS)[None, :, None] + phase) + 1) / 2).astype("float32")


def window_spec(inputs=None, epochs=20, objective="diffusion", guidance_scale=1.0):
    objectives = {
        "diffusion": {
            "type": "diffusion",
            "timesteps": 100,
            "sampling_steps": 20,
            "denoiser_width": 32,
            "denoiser_depth": 2,
            "guidance_scale": guidance_scale,
        },  # fmt: skip
        "regression": {"type": "regression"},
    }
    return load_spec(
        {
            "name": "windows",
            "inputs": inputs or {},
            "output": {"name": "window", "kind": "sequence", "steps": STEPS, "channels": CHANNELS},
            "objective": objectives[objective],
            "training": {"batch_size": 32, "epochs": epochs, "learning_rate": 0.002, "tensorboard": False},
        }
    )


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory):
    generator = fusegen.Generator(window_spec())
    generator.fit({"window": sine_windows(320)}, verbose=0)
    run_dir = tmp_path_factory.mktemp("runs") / "unconditional"
    generator.save(run_dir)
    return generator, run_dir


def test_a_spec_without_inputs_plans_an_unconditional_generator():
    from fusegen.models.planner import plan_model

    plan = plan_model(window_spec()).to_dict()
    assert plan["unconditional"] is True
    assert plan["inputs"] == {}
    assert plan["output"]["shape"] == [STEPS, CHANNELS]


def test_a_spec_without_inputs_needs_a_stochastic_objective():
    with pytest.raises(SpecError, match="unconditional generator.*regression"):
        window_spec(objective="regression")


def test_unconditional_generator_learns_and_samples_whole_windows(unconditional):
    generator, _ = unconditional
    losses = generator.history_["loss"]
    assert losses[-1] < losses[0] * 0.6, losses
    # A denoiser generates from a weight average by default (ema_momentum: auto), and the run
    # records the momentum it used.
    momentum = generator.spec.training.ema_momentum
    assert isinstance(momentum, float) and 0.9 <= momentum < 1.0
    assert generator.model_.optimizer.use_ema
    samples = generator.sample(num_samples=64, seed=3)
    assert samples.shape == (64, STEPS, CHANNELS)
    # Smooth like fresh real windows, unlike noise of the data's mean and spread (a few hundred
    # steps of training leave the spread too wide; benchmarks/timeseries.py measures quality).
    real = sine_windows(64, seed=1)
    noise = np.random.default_rng(0).normal(real.mean(), real.std(), real.shape)
    learned, baseline = sequence_distances(real, samples), sequence_distances(real, noise)
    assert learned["autocorrelation"] < 0.5 * baseline["autocorrelation"], (learned, baseline)
    assert abs(samples.mean() - real.mean()) < 0.15
    np.testing.assert_array_equal(samples, generator.sample(num_samples=64, seed=3))


def test_sequence_outputs_stay_in_the_training_range_unless_told_otherwise(unconditional):
    generator, _ = unconditional
    real = sine_windows(320)
    samples = generator.sample(num_samples=200, seed=5)
    assert samples.min() >= real.min(axis=(0, 1)).min() - 1e-6
    assert np.all(samples.max(axis=(0, 1)) <= real.max(axis=(0, 1)) + 1e-6)
    state = generator.preprocessor_.output.get_state()
    np.testing.assert_allclose(state["low"], real.min(axis=(0, 1)), rtol=1e-6)


def test_unconditional_generator_reloads_and_samples_identically(unconditional):
    generator, run_dir = unconditional
    loaded = fusegen.load(run_dir)
    np.testing.assert_array_equal(
        loaded.sample(num_samples=10, seed=1), generator.sample(num_samples=10, seed=1)
    )


def test_conditions_on_an_unconditional_generator_are_refused(unconditional):
    generator, _ = unconditional
    with pytest.raises(fusegen.errors.DataError, match="no such input"):
        generator.sample({"activity": ["walking"]})


def test_evaluation_of_sequences_reports_timegan_scores(unconditional, tmp_path):
    generator, _ = unconditional
    real = tmp_path / "real.npz"
    np.savez(real, window=sine_windows(320))
    results = evaluate_run(generator, real, tmp_path / "evaluation", timegan_iterations=(200, 200))
    timegan = results["timegan"]
    assert timegan["windows"] == 320
    assert 0.0 <= timegan["discriminative"] <= 0.5
    # TimeGAN's protocol: the mean of several discriminators, each on its own split (evaluation.discriminative_fits).
    fits = timegan["discriminative_fits"]
    assert len(fits) == 5
    assert timegan["discriminative"] == pytest.approx(np.mean(fits))
    assert timegan["discriminative_spread"] == pytest.approx(np.std(fits))
    # Beside it, the same classifiers on the two sets shuffled together (evaluation.discriminative_floor).
    assert len(timegan["discriminative_floor_fits"]) == 5
    assert timegan["discriminative_floor"] == pytest.approx(np.mean(timegan["discriminative_floor_fits"]))
    assert 0.0 <= timegan["discriminative_floor"] < 0.1  # 320 windows a side: 64 + 64 test windows
    assert 0.0 <= timegan["predictive"] < 0.5
    assert "errors" not in results  # unpaired: no per-row errors for unconditional samples
    assert any(
        line.startswith("TimeGAN scores") and "(mean of 5 fits, spread" in line and "its floor" in line
        for line in summary_lines(results)
    )
    saved = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert saved["timegan"]["discriminative"] == timegan["discriminative"]
    assert (tmp_path / "evaluation" / "embedding.png").exists()


def test_class_conditional_windows_follow_their_class():
    rng = np.random.default_rng(0)
    count = 320
    labels = np.where(rng.random(count) < 0.5, "rising", "falling")
    ramp = np.linspace(0, 1, STEPS)[None, :, None]
    windows = np.where((labels == "rising")[:, None, None], ramp, 1 - ramp) + rng.normal(
        0, 0.05, (count, STEPS, 1)
    )
    windows = np.repeat(windows, CHANNELS, axis=2).astype("float32")
    trend = {"kind": "categorical", "encoder": {"type": "embedding", "embedding_dim": 4}}
    spec = window_spec({"trend": trend}, epochs=50, guidance_scale=2.0)  # guidance sharpens the class
    generator = fusegen.Generator(spec)
    generator.fit({"trend": labels, "window": windows}, verbose=0)
    samples = generator.sample({"trend": ["rising", "falling"]}, num_samples=16, seed=0)
    assert samples.shape == (32, STEPS, CHANNELS)
    slopes = samples[:, -3:].mean(axis=(1, 2)) - samples[:, :3].mean(axis=(1, 2))
    assert np.all(slopes[:16] > 0.5), slopes[:16]  # the real slope is about +-0.8
    assert np.all(slopes[16:] < -0.5), slopes[16:]
    assert samples[:16].std(axis=0).mean() > 0.01  # sampled, not one mean window
