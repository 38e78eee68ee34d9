"""Each objective generates: on a known conditional two-mode mixture, cvae, cgan and diffusion
cover both modes and follow the condition, while regression collapses to the mean."""

import numpy as np
import pandas as pd
import pytest
import yaml

import fusegen
from fusegen.errors import DataError, FusegenError
from fusegen.objectives import OBJECTIVES
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow

#: Enough training for each objective to find both modes, and no more; a registered objective
#: not listed here trains with its own defaults for UNTUNED epochs.
TUNING = {
    "regression": ({"type": "regression"}, 15, 2e-3),
    "cvae": ({"type": "cvae", "latent_dim": 2, "posterior_units": [64], "kl_warmup_epochs": 8}, 20, 2e-3),
    "cgan": ({"type": "cgan", "noise_dim": 8, "critic_units": [64, 64]}, 40, 5e-4),
    "diffusion": ({"type": "diffusion", "timesteps": 200, "sampling_steps": 30, "denoiser_width": 64,
                   "denoiser_depth": 2}, 80, 2e-3),
}  # fmt: skip
UNTUNED = (40, 2e-3)


def mixture(rows=2000, seed=0):
    """y = 3x + 2s + noise, s = +-1 with equal chance: two modes 4 apart that move with x."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, rows)
    y = 3 * x + 2 * rng.choice([-1, 1], rows) + rng.normal(0, 0.15, rows)
    return pd.DataFrame({"x": x, "y": y})


def mixture_spec(name, **extra):
    objective, epochs, learning_rate = TUNING.get(name, ({"type": name}, *UNTUNED))
    return load_spec(
        {
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "record", "numeric": ["y"]},
            "objective": objective,
            "training": {"epochs": epochs, "batch_size": 64, "learning_rate": learning_rate},
            **extra,
        }
    )


#: Every registered objective, and those that sample many outputs per condition.
NAMES = sorted(OBJECTIVES)
GENERATIVE = [name for name in NAMES if mixture_spec(name).objective.is_generative]


@pytest.fixture(scope="module")
def fitted():
    data = mixture()
    return {name: fusegen.Generator(mixture_spec(name)).fit(data, verbose=0) for name in NAMES}


def mode_shares(samples, x):
    upper, lower, mean = 3 * x + 2, 3 * x - 2, 3 * x
    near = lambda centre: float(np.mean(np.abs(samples - centre) < 0.6))  # noqa: E731
    return near(upper), near(lower), near(mean)


@pytest.mark.parametrize("name", GENERATIVE)
@pytest.mark.parametrize("x", [-0.5, 0.5])
def test_generative_objectives_cover_both_modes_and_follow_the_condition(fitted, name, x):
    samples = fitted[name].sample(pd.DataFrame({"x": [x]}), num_samples=400, seed=1)["y"].to_numpy()
    upper, lower, middle = mode_shares(samples, x)
    assert upper > 0.1 and lower > 0.1, (upper, lower)
    assert upper + lower > 0.75, (upper, lower)
    assert middle < 0.15, middle


def test_regression_collapses_to_the_mean(fitted):
    samples = fitted["regression"].sample(pd.DataFrame({"x": [0.5]}), num_samples=50, seed=1)["y"].to_numpy()
    upper, lower, middle = mode_shares(samples, 0.5)
    assert middle == 1.0 and upper == lower == 0.0
    assert np.ptp(samples) < 1e-4  # one output per condition


@pytest.mark.parametrize("name", NAMES)
def test_seeds_make_sampling_reproducible(fitted, name):
    conditions = pd.DataFrame({"x": [0.2, -0.3]})
    first = fitted[name].sample(conditions, num_samples=5, seed=7)
    again = fitted[name].sample(conditions, num_samples=5, seed=7)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 10
    if name in GENERATIVE:
        other = fitted[name].sample(conditions, num_samples=5, seed=8)
        assert not np.allclose(first["y"], other["y"])


@pytest.mark.parametrize("name", GENERATIVE)
def test_sampling_reuses_one_trace_and_keeps_each_calls_seed(fitted, name):
    generator = fitted[name]
    conditions = pd.DataFrame({"x": [0.2, -0.3, 0.4]})
    expected = generator.sample(conditions, num_samples=2, seed=11, batch_size=2)
    traced = generator._samplers[1.0, None]._traced
    assert len(traced) == 1
    graph = next(iter(traced.values()))
    traces = graph.experimental_get_tracing_count()
    for seed, batch_size in ((12, 2), (13, 5), (11, 2)):
        latest = generator.sample(conditions, num_samples=2, seed=seed, batch_size=batch_size)
    pd.testing.assert_frame_equal(latest, expected)  # bit for bit, after other batch sizes too
    assert graph.experimental_get_tracing_count() == traces  # one graph for every call and batch size

    # Two interleaved iterators share the trace but not their random state.
    first = generator.iter_samples(conditions, num_samples=2, seed=11, batch_size=2)
    second = generator.iter_samples(conditions, num_samples=2, seed=11, batch_size=2)
    chunks = [(next(first), next(second)) for _ in range(3)]
    for one, other in chunks:
        pd.testing.assert_frame_equal(one, other)
    pd.testing.assert_frame_equal(pd.concat([one for one, _ in chunks], ignore_index=True), expected)


def test_modality_dropout_allows_sampling_without_inputs():
    rng = np.random.default_rng(0)
    rows = 600
    label = rng.choice(["low", "high"], rows)
    level = rng.uniform(0, 1, rows)
    y = np.where(label == "high", 5.0, -5.0) + level + rng.normal(0, 0.1, rows)
    data = pd.DataFrame({"label": label, "level": level, "y": y})
    spec = load_spec(
        {
            "inputs": {"label": {"kind": "categorical"}, "level": {"kind": "numeric", "columns": ["level"]}},
            "output": {"kind": "record", "numeric": ["y"]},
            "objective": {"type": "cvae", "latent_dim": 2, "kl_warmup_epochs": 5},
            "conditioning": {"modality_dropout": 0.3},
            "training": {"epochs": 25, "batch_size": 32, "learning_rate": 3e-3},
        }
    )
    generator = fusegen.Generator(spec).fit(data, verbose=0)
    given_label = generator.sample(pd.DataFrame({"label": ["high"]}), num_samples=200, seed=0)["y"]
    assert given_label.between(3.5, 7.0).mean() > 0.8
    unconditional = generator.sample(None, num_samples=400, seed=0)["y"]
    assert (unconditional > 0).mean() > 0.2 and (unconditional < 0).mean() > 0.2


def test_leaving_out_an_input_without_modality_dropout_is_an_error(fitted):
    with pytest.raises(DataError, match=r"no input 'x' \(column 'x'\).*modality_dropout"):
        fitted["cvae"].sample(None, num_samples=3)
    with pytest.raises(DataError, match=r"conditions name \['z'\].*no such input"):
        fitted["cvae"].sample(pd.DataFrame({"x": [0.1], "z": [1]}))


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    data = mixture(600)
    raw = yaml.safe_load(fusegen.spec.spec_to_yaml(mixture_spec("regression")))
    raw["training"].update(epochs=6, checkpoint_every=1, tensorboard=False)
    raw["output"]["numeric_transform"] = "standard"
    spec = load_spec(raw)
    whole = fusegen.Generator(spec).fit(data, verbose=0, run_dir=tmp_path / "whole")
    fusegen.Generator(spec).fit(data, epochs=3, verbose=0, run_dir=tmp_path / "split")
    resumed = fusegen.Generator(spec).fit(data, verbose=0, run_dir=tmp_path / "split", resume=True)
    assert len(resumed.history_["loss"]) == 6
    assert resumed.history_["loss"][:3] == pytest.approx(whole.history_["loss"][:3], rel=1e-5)
    # The optimizer state came back: the same number of steps, and the same end point
    # up to the order in which the resumed epochs shuffle the rows.
    assert int(resumed.model_.optimizer.iterations) == int(whole.model_.optimizer.iterations)
    # Epoch-to-epoch noise of this validation loss is about +-0.03.
    assert resumed.history_["val_loss"][-1] == pytest.approx(whole.history_["val_loss"][-1], abs=0.05)
    checkpoints = sorted(path.name for path in (tmp_path / "split" / "checkpoints").glob("epoch_*"))
    assert checkpoints == ["epoch_0005", "epoch_0006"]


def test_resume_without_a_checkpoint_is_an_error(tmp_path):
    from fusegen.errors import RunError

    with pytest.raises(RunError, match="no complete checkpoint"):
        fusegen.Generator(mixture_spec("regression")).fit(mixture(100), run_dir=tmp_path, resume=True)


def test_non_finite_loss_stops_with_a_clear_message():
    spec = load_spec(
        {
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "record", "numeric": ["y"]},
            "training": {"epochs": 3, "optimizer": "sgd", "learning_rate": 1e8},
        }
    )
    with pytest.raises(FusegenError, match="became (nan|inf)"):
        fusegen.Generator(spec).fit(mixture(200), verbose=0)


def test_early_stopping_ends_training_when_validation_stops_improving():
    raw = yaml.safe_load(fusegen.spec.spec_to_yaml(mixture_spec("regression")))
    raw["training"].update(epochs=60, early_stopping_patience=2, learning_rate=0.05)
    generator = fusegen.Generator(load_spec(raw)).fit(mixture(400), verbose=0)
    assert len(generator.history_["loss"]) < 60


def test_ema_momentum_trains_with_averaged_weights():
    spec = mixture_spec("regression", training={"epochs": 2, "batch_size": 64, "ema_momentum": 0.9})
    generator = fusegen.Generator(spec).fit(mixture(rows=256), verbose=0)
    optimizer = generator.model_.optimizer
    assert optimizer.use_ema and optimizer.ema_momentum == 0.9
    # Keras swaps the averages into the weights when fit ends.
    pairs = list(zip(optimizer._trainable_variables, optimizer._model_variables_moving_average, strict=True))
    assert pairs and all(np.allclose(weight.numpy(), average.numpy()) for weight, average in pairs)
    assert generator.history_["loss"][-1] < generator.history_["loss"][0]


def test_a_weight_average_too_slow_for_the_fit_is_announced():
    messages = []
    # 256 rows at batch 64 for 2 epochs: 8 steps, far fewer than 0.999's ~1,000-step horizon.
    spec = mixture_spec("regression", training={"epochs": 2, "batch_size": 64, "ema_momentum": 0.999})
    fusegen.Generator(spec).fit(mixture(rows=256), verbose=0, log=messages.append)
    warning = [message for message in messages if "ema_momentum" in message]
    assert len(warning) == 1 and "about 1,000 steps" in warning[0] and "runs 8" in warning[0]

    messages.clear()
    spec = mixture_spec("regression", training={"epochs": 2, "batch_size": 64, "ema_momentum": 0.5})
    fusegen.Generator(spec).fit(mixture(rows=256), verbose=0, log=messages.append)
    assert not [message for message in messages if "ema_momentum" in message]


def test_the_demo_trains_text_to_image_without_a_weight_average_its_few_steps_cannot_warm():
    from fusegen.demo import _demo_spec, example_spec_path

    full, demo = load_spec(example_spec_path("text_to_image")), _demo_spec("text_to_image")
    assert full.training.ema_momentum and demo.training.ema_momentum is None
    assert demo.training.epochs < full.training.epochs
    assert demo.evaluation.classifier_epochs < full.evaluation.classifier_epochs
    assert demo.evaluation.label_column == full.evaluation.label_column == "animal"
    # The demo's settings merge key by key: what they do not name stays as the example says.
    full, demo = load_spec(example_spec_path("image_text_to_image")), _demo_spec("image_text_to_image")
    assert demo.data.options["num_images"] < full.data.options["num_images"]
    assert demo.data.options["size"] == full.data.options["size"] == 64
    assert demo.output.head == full.output.head and demo.data.split_column == full.data.split_column


@pytest.mark.parametrize(
    "options",
    [{}, {"use_ema": True, "ema_momentum": 0.9}, {"clipnorm": 0.1}, {"weight_decay": 0.1}, {"amsgrad": True}],
)
def test_fused_adam_follows_keras_adam(options):
    """fusegen's Adam (one TensorFlow kernel per variable) takes Keras's Adam steps, sparse ones included."""
    import keras
    import tensorflow as tf

    from fusegen.objectives.base import Adam, AdamW

    def train(adam):
        keras.utils.set_random_seed(0)
        ids = keras.Input((), dtype="int32")
        model = keras.Model(ids, keras.layers.Dense(4)(keras.layers.Embedding(5, 3)(ids)))
        optimizer = adam(learning_rate=0.01, **options)
        optimizer.build(model.trainable_variables)

        @tf.function
        def step(target):
            with tf.GradientTape() as tape:
                # Repeated ids: the embedding's gradient is sparse, with a repeated row.
                loss = tf.reduce_mean(tf.square(model(tf.constant([1, 2, 2, 4])) - target))
            optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)

        for target in range(20):
            step(tf.constant(float(target)))
        return [variable.numpy() for variable in [*model.trainable_variables, *optimizer.variables]], step

    reference = keras.optimizers.AdamW if "weight_decay" in options else keras.optimizers.Adam
    ours = AdamW if "weight_decay" in options else Adam
    expected, _ = train(reference)
    weights, step = train(ours)
    for value, wanted in zip(weights, expected, strict=True):
        np.testing.assert_allclose(value, wanted, rtol=1e-5, atol=1e-5)
    # Outside amsgrad, the dense variables are updated by TensorFlow's Adam kernel.
    graph = step.get_concrete_function(tf.TensorSpec((), tf.float32)).graph
    fused = [op for function in graph._functions.values() for op in function.graph.get_operations()]
    fused = [op for op in [*graph.get_operations(), *fused] if op.type == "ResourceApplyAdam"]
    assert len(fused) == (0 if options.get("amsgrad") else 2)


def test_training_uses_the_fused_adam():
    spec = mixture_spec("regression", training={"epochs": 1, "batch_size": 64})
    generator = fusegen.Generator(spec).fit(mixture(rows=128), verbose=0)
    from fusegen.objectives.base import Adam

    assert isinstance(generator.model_.optimizer, Adam)
