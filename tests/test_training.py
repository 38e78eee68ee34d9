"""End to end: each reference example trains (its loss falls), saves, reloads and predicts the same."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

import fusegen
from fusegen.errors import RunError
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow

#: Small but real: fewer images and epochs than the examples, same parts.
QUICK = {
    "tabular_augment": {"training": {"epochs": 8}},
    "sensors_to_series": {
        "training": {"epochs": 6, "ensemble": 1}
    },  # one of its two models (tests/test_ensemble.py)
    "image_text_to_image": {"training": {"epochs": 4}, "data": {"options": {"num_images": 20, "size": 64}}},
}


def quick_spec(examples_dir, name):
    raw = yaml.safe_load((examples_dir / f"{name}.yaml").read_text())
    for section, values in QUICK[name].items():
        raw[section] = {**raw[section], **values}
    return load_spec(raw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests.conftest import EXAMPLES

    runs = {}
    for name in QUICK:
        generator = fusegen.Generator(quick_spec(EXAMPLES, name))
        generator.fit(verbose=0)
        run_dir = tmp_path_factory.mktemp("runs") / name
        generator.save(run_dir)
        runs[name] = (generator, run_dir)
    return runs


@pytest.mark.parametrize("name", list(QUICK))
def test_loss_falls(trained, name):
    generator, _ = trained[name]
    losses = generator.history_["loss"]
    assert losses[-1] < losses[0] * 0.95, losses
    assert "val_loss" in generator.history_


@pytest.mark.parametrize("name", list(QUICK))
def test_reload_predicts_identically_with_exact_shapes(trained, name):
    generator, run_dir = trained[name]
    loaded = fusegen.load(run_dir)
    table = generator.validation_table_
    before, after = generator.predict(table), loaded.predict(table)
    output = generator.spec.output
    if output.kind == "record":
        # The training table's order (a record's columns are the spec's numbers and categories).
        record = set(output.numeric + output.categorical)
        assert list(after.columns) == [column for column in table.columns if column in record]
        pd.testing.assert_frame_equal(before, after)
        assert set(after["sex"]) <= {"male", "female"}
    else:
        assert after.shape == (len(table), *output.model_shape())
        np.testing.assert_array_equal(before, after)
    if output.kind == "image":
        assert after.dtype == np.uint8


def test_run_directory_contents(trained):
    _, run_dir = trained["tabular_augment"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "spec.yaml",
        "condition.keras",
        "decoder.keras",
        "posterior.keras",  # the example is a cvae
        "record_condition.keras",  # ... of records, so it conditions on any column (conditioning.any_column)
        "marginals.keras",  # ... and matches each column's distribution (objective.marginals: all)
        "label_pairs.keras",  # ... and how its labels go together (objective.label_pairs: calibrate)
        "preprocessing.json",
        "plan.json",
        "history.json",
        "privacy_reference.npz",  # ... and redraws samples too close to a training row (privacy)
    }
    assert set(manifest["versions"]) == {"fusegen", "keras", "tensorflow"}
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["output"]["kind"] == "record"


def test_tampered_or_truncated_run_is_refused(trained, tmp_path):
    import shutil

    _, run_dir = trained["tabular_augment"]
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    with open(copy / "decoder.keras", "r+b") as stream:
        stream.truncate(100)
    with pytest.raises(RunError, match="decoder.keras does not match its checksum"):
        fusegen.load(copy)
    with pytest.raises(RunError, match="is not a fusegen run"):
        fusegen.load(tmp_path)


def test_predict_new_rows_from_a_dataframe(trained):
    generator, _ = trained["tabular_augment"]
    rows = pd.DataFrame(
        {"bill_length_mm": [39.1, 48.0], "bill_depth_mm": [18.7, 15.0], "species": ["Adelie", "Gentoo"]}
    )
    records = generator.predict(rows)
    assert len(records) == 2 and records["body_mass_g"].between(2000, 7000).all()
    # Gentoo penguins are heavier than Adelie: the model learned the condition.
    assert records["body_mass_g"][1] > records["body_mass_g"][0]


def test_a_weight_average_survives_early_stopping():
    """With ``ema_momentum`` and a validation-tracked stop, fit() ends on the weight average, not the best raw epoch."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=600), "c": rng.choice(["a", "b"], 600)})
    frame["y"] = 2.0 * frame["x"] + rng.normal(0.0, 0.1, 600)
    spec = load_spec(
        {
            "data": {"validation_split": 0.2},
            "inputs": {"c": {"kind": "categorical"}},
            "output": {"kind": "record", "numeric": ["x", "y"]},
            "objective": {"type": "cvae", "latent_dim": 2, "kl_warmup_epochs": 1},
            "training": {
                "epochs": 4, "steps_per_epoch": 10, "batch_size": 32, "early_stopping_patience": 2,
                "ema_momentum": 0.9,
            },
        }
    )  # fmt: skip
    model = fusegen.Generator(spec).fit(frame, verbose=0).model_
    averages = model.optimizer._model_variables_moving_average
    for variable, average in zip(model.optimizer._trainable_variables, averages, strict=True):
        np.testing.assert_allclose(variable.numpy(), average.numpy(), atol=1e-6)


def test_the_validation_loss_weighs_the_kl_fully_during_the_warm_up():
    """Early stopping compares epochs on one quantity: the held-out bound, not the warm-up's discounted one."""
    rng = np.random.default_rng(0)
    # Two modes the condition does not tell apart, so the latent must carry which (its KL is not ~0);
    # 128 validation rows, whole batches, so Keras's loss and the per-batch trackers average alike.
    modes = rng.choice([-2.0, 2.0], 512) + rng.normal(0.0, 0.1, 512)
    frame = pd.DataFrame({"x": modes, "c": rng.choice(["a", "b"], 512)})
    spec = load_spec(
        {
            "data": {"validation_split": 0.25},
            "inputs": {"c": {"kind": "categorical"}},
            "output": {"kind": "record", "numeric": ["x"]},
            "objective": {"type": "cvae", "latent_dim": 2, "kl_warmup_epochs": 10},
            "training": {"epochs": 1, "steps_per_epoch": 5, "batch_size": 32, "tensorboard": False},
        }
    )
    history = fusegen.Generator(spec).fit(frame, verbose=0).history_
    # The first epoch trains with a KL weight of 0 ...
    assert history["loss"][0] == pytest.approx(history["reconstruction"][0], abs=1e-4)
    # ... and is judged on the whole bound.
    assert history["val_kl"][0] > 0.05
    assert history["val_loss"][0] == pytest.approx(
        history["val_reconstruction"][0] + history["val_kl"][0], abs=1e-4
    )
