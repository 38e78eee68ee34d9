"""fusegen export: a SavedModel that reloads with tf.saved_model.load and samples like the generator."""

import numpy as np
import pandas as pd
import pytest
import yaml

import fusegen
from fusegen.errors import FusegenError
from fusegen.export import export_savedmodel
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow


def trained(examples_dir, name, **training):
    raw = yaml.safe_load((examples_dir / f"{name}.yaml").read_text())
    raw["training"].update(training)
    if name == "image_text_to_image":
        raw["data"]["options"]["num_images"] = 10
    return fusegen.Generator(load_spec(raw)).fit(verbose=0)


def test_record_sampler_matches_the_generator(examples_dir, tmp_path):
    import tensorflow as tf

    generator = trained(examples_dir, "tabular_augment", epochs=5)
    export_savedmodel(generator, tmp_path / "model")
    sampler = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    conditions = pd.DataFrame(
        {"bill_length_mm": [46.0, 39.0], "bill_depth_mm": [15.0, 18.5], "species": ["Gentoo", "Adelie"]}
    )
    exported = sampler(
        species=tf.constant(conditions["species"].to_numpy().astype(str)),
        bill=tf.constant(conditions[["bill_length_mm", "bill_depth_mm"]].to_numpy("float32")),
        seed=tf.constant(4, tf.int64),
    )
    expected = generator.sample(conditions, seed=4)
    for column in ("sex", "island"):
        assert [label.decode() for label in exported[column].numpy()] == expected[column].tolist()
    for column in ("flipper_length_mm", "body_mass_g"):
        np.testing.assert_allclose(
            exported[column].numpy(), expected[column].astype(float), rtol=0, atol=1e-5
        )


def test_image_and_sequence_samplers_reload_with_exact_shapes(examples_dir, tmp_path):
    import tensorflow as tf

    images = trained(examples_dir, "image_text_to_image", epochs=1, steps_per_epoch=1)
    export_savedmodel(images, tmp_path / "images")
    sampler = tf.saved_model.load(str(tmp_path / "images")).signatures["serving_default"]
    result = sampler(
        image=tf.zeros((3, 64, 64, 3)), instruction=tf.constant(["flip it horizontally"] * 3),
        seed=tf.constant(0, tf.int64),
    )  # fmt: skip
    assert result["edited"].shape == (3, 64, 64, 3) and result["edited"].dtype == tf.uint8

    sensors = trained(examples_dir, "sensors_to_series", epochs=1, ensemble=1)  # ensembles: test_ensemble.py
    export_savedmodel(sensors, tmp_path / "sensors")
    sampler = tf.saved_model.load(str(tmp_path / "sensors")).signatures["serving_default"]
    result = sampler(
        # The windows as the data holds them (100 steps, 6 channels); each input selects its own, as in training.
        accelerometer=tf.zeros((2, 100, 6)), gyroscope=tf.zeros((2, 100, 6)),
        activity=tf.constant(["Walking", "Running"]), seed=tf.constant(1, tf.int64),
    )  # fmt: skip
    assert result["continuation"].shape == (2, 25, 6)
    with pytest.raises(FusegenError, match="not empty"):
        export_savedmodel(sensors, tmp_path / "sensors")


def test_a_masked_numeric_input_is_filled_and_marked_inside_the_savedmodel(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40), "y": rng.normal(size=40)})
    frame.loc[[3, 7, 11], "a"] = np.nan
    spec = load_spec(
        {
            "inputs": {"size": {"kind": "numeric", "columns": ["a", "b"], "missing": "mask"}},
            "output": {"kind": "vector", "size": 1, "column": "y"},
            "training": {"epochs": 1, "batch_size": 8, "tensorboard": False},
        }
    )
    generator = fusegen.Generator(spec).fit(frame, verbose=0)
    export_savedmodel(generator, tmp_path / "model")
    sampler = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    conditions = pd.DataFrame({"a": [np.nan, 0.5], "b": [0.1, np.nan]})
    # The user's two columns go in; the SavedModel fills them and adds the two indicators itself.
    exported = sampler(size=tf.constant(conditions.to_numpy("float32")), seed=tf.constant(0, tf.int64))
    np.testing.assert_allclose(exported["output"].numpy(), generator.sample(conditions), rtol=0, atol=1e-5)
