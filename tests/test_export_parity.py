"""The exported SavedModel samples exactly what ``Generator.sample`` samples, for every output kind.

Both run the converters' own TensorFlow functions (``tf_transform`` for the
inputs, ``tf_inverse`` for the output), from the same random state for the
same seed; each case trains a tiny generator for one epoch, exports it, and
compares the two on conditions that exercise the conversions: imputed,
masked and selected inputs, unseen and empty labels, integer, nullable,
datetime and decimal columns, clipped sequences, image value ranges.
"""

import numpy as np
import pandas as pd
import pytest

import fusegen
from fusegen.data.preprocessing import SequenceConverter
from fusegen.export import export_savedmodel
from fusegen.spec import load_spec

pytestmark = pytest.mark.slow

TRAINING = {"epochs": 1, "batch_size": 16, "tensorboard": False}
CVAE = {"type": "cvae", "latent_dim": 4}
ROWS = 48


def exported_sampler(generator, path, temperature=1.0):
    import tensorflow as tf

    export_savedmodel(generator, path, temperature=temperature)
    return tf.saved_model.load(str(path)).signatures["serving_default"]


def fitted(spec, data):
    return fusegen.Generator(load_spec({**spec, "training": TRAINING})).fit(data, verbose=0)


def labels_of(tensor):
    return [label.decode() for label in tensor.numpy()]


@pytest.mark.parametrize("numeric_transform", ["quantile", "standard"])
def test_records_match_sample(tmp_path, numeric_transform):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=ROWS),
            "b": rng.normal(size=ROWS),
            "shop": rng.choice(["north", "south", "east"], ROWS).astype(object),
            "price": np.round(rng.gamma(2.0, 10.0, ROWS), 2),
            "count": rng.integers(0, 30, ROWS),
            "weight": np.where(rng.random(ROWS) < 0.3, np.nan, rng.normal(50.0, 5.0, ROWS)),
            "sold": pd.date_range("2021-03-01", periods=ROWS, freq="D").astype(str),
            "grade": rng.choice(["low", "high"], ROWS).astype(object),
            "colour": np.where(rng.random(ROWS) < 0.3, None, rng.choice(["red", "blue"], ROWS)).astype(
                object
            ),
        }
    )
    frame.loc[[1, 5], "a"] = np.nan
    frame.loc[[2, 9], "shop"] = ""
    spec = {
        "inputs": {
            "size": {"kind": "numeric", "columns": ["a", "b"], "missing": "mask", "encoder": {"units": [8]}},
            "shop": {"kind": "categorical", "missing": "impute", "encoder": {"embedding_dim": 4}},
        },
        "output": {
            "kind": "record",
            "numeric": ["price", "count", "weight", "sold"],
            "categorical": ["grade", "colour"],
            "integer": ["count"],
            "datetime": ["sold"],
            "nullable": ["weight", "colour"],
            "numeric_transform": numeric_transform,
            "head": {"type": "mlp", "units": [16]},
        },
        "objective": CVAE,
    }
    generator = fitted(spec, frame)
    sampler = exported_sampler(generator, tmp_path / "model", temperature=2.0)
    # A missing number (filled and marked), an empty label (imputed) and an unseen one (out of vocabulary).
    conditions = pd.DataFrame(
        {
            "a": [0.1, np.nan, 1.0, -1.0, 0.5, 0.0, 2.0, -0.3],
            "b": [0.3, 0.2, -0.5, 1.5, 0.0, -1.0, 0.4, 0.9],
            "shop": ["north", "south", "", "west", "east", "north", "south", "east"],
        }
    )
    exported = sampler(
        size=tf.constant(conditions[["a", "b"]].to_numpy("float32")),
        shop=tf.constant(conditions["shop"].to_numpy().astype(str)),
        seed=tf.constant(11, tf.int64),
    )
    expected = generator.sample(conditions, seed=11, temperature=2.0, strict=False)

    assert labels_of(exported["grade"]) == expected["grade"].tolist()
    # A missing label of a nullable column: None in the DataFrame, an empty string in the SavedModel.
    assert labels_of(exported["colour"]) == [label or "" for label in expected["colour"]]
    for column in ("price", "count", "weight"):
        np.testing.assert_allclose(
            exported[column].numpy(), expected[column].astype("float64"), rtol=0, atol=1e-5
        )
    assert expected["count"].dtype == "int64"
    seconds = expected["sold"].astype("int64").to_numpy() / 1e9
    np.testing.assert_allclose(exported["sold"].numpy(), seconds, rtol=0, atol=1e-5)


def test_record_columns_given_as_inputs_steer_the_row_as_in_sample(tmp_path):
    """With ``conditioning.any_column``, an input's record columns are given cells in the SavedModel too.

    They come back as given and steer the rest of the row through the same
    given cells sample() shows the model (the surveys table of session 42:
    given month 7, the SavedModel had returned month 7 in 23% of rows).
    """
    import tensorflow as tf

    rng = np.random.default_rng(5)
    rows = 400
    maker = rng.choice(["ford", "fiat", "audi", "kia"], rows).astype(object)
    brand = {"ford": "us", "fiat": "it", "audi": "de", "kia": "kr"}
    frame = pd.DataFrame(
        {
            "maker": maker,
            "country": [brand[name] for name in maker],  # a lookup: a model given the maker must follow
            "size": rng.normal(size=rows),
            "price": np.round(rng.gamma(2.0, 10.0, rows), 2),
            "doors": rng.choice([3, 5], rows),
            "weight": np.where(rng.random(rows) < 0.2, np.nan, rng.normal(50.0, 5.0, rows)),
        }
    )
    frame["price"] += 20.0 * (frame["maker"] == "audi")
    spec = {
        "inputs": {
            "maker": {"kind": "categorical", "encoder": {"embedding_dim": 4}},
            "size": {"kind": "numeric", "columns": ["size", "weight"], "missing": "impute"},
        },
        "conditioning": {"any_column": True, "modality_dropout": 0.9},
        "output": {
            "kind": "record",
            "numeric": ["size", "price", "weight"],
            "categorical": ["maker", "country", "doors"],
            "nullable": ["weight"],
            "head": {"type": "mlp", "units": [32]},
        },
        "privacy": {"similarity_filter": False},
        "objective": CVAE,
    }
    generator = fusegen.Generator(
        load_spec({**spec, "training": {**TRAINING, "epochs": 30, "batch_size": 32}})
    ).fit(frame, verbose=0)
    sampler = exported_sampler(generator, tmp_path / "model")
    conditions = pd.DataFrame(
        {
            "maker": ["kia", "audi", "fiat", "ford"] * 50,
            "size": np.tile([0.5, -1.0, 1.5, 0.0], 50),
            "weight": np.tile([48.0, np.nan, 55.5, 51.0], 50),
        }
    )
    exported = sampler(
        maker=tf.constant(conditions["maker"].to_numpy().astype(str)),
        size=tf.constant(conditions[["size", "weight"]].to_numpy("float32")),
        seed=tf.constant(4, tf.int64),
    )
    expected = generator.sample(conditions, seed=4)

    assert labels_of(exported["maker"]) == conditions["maker"].tolist() == expected["maker"].tolist()
    np.testing.assert_allclose(exported["size"].numpy(), conditions["size"], rtol=0, atol=1e-6)
    given_weight = conditions["weight"].notna().to_numpy()
    np.testing.assert_allclose(exported["weight"].numpy()[given_weight], conditions["weight"][given_weight])
    # The rest of the row is drawn given those cells, exactly as sample() draws it.
    assert labels_of(exported["country"]) == expected["country"].tolist()
    assert labels_of(exported["doors"]) == [str(value) for value in expected["doors"]]
    np.testing.assert_allclose(
        exported["price"].numpy(), expected["price"].astype("float64"), rtol=0, atol=1e-5
    )
    # The lookup is followed: the given maker's own country in most rows.
    countries = labels_of(exported["country"])
    followed = np.mean(
        [brand[name] == country for name, country in zip(conditions["maker"], countries, strict=True)]
    )
    assert followed > 0.8
    # A label training never saw is refused, as sample() refuses it, not swapped for a known one.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"column maker of input maker holds labels never "
                       r"seen in training .*tesla"):  # fmt: skip
        sampler(maker=tf.constant(["kia", "tesla"]), size=tf.constant([[0.5, 48.0], [0.1, 50.0]]),
                seed=tf.constant(4, tf.int64))  # fmt: skip
    # An empty cell is generated.
    drawn = sampler(maker=tf.constant(["", "kia"]), size=tf.constant([[0.5, 48.0], [0.1, 50.0]]),
                    seed=tf.constant(4, tf.int64))  # fmt: skip
    assert labels_of(drawn["maker"])[1] == "kia" and labels_of(drawn["maker"])[0] in brand


def test_sequences_match_sample_and_are_clipped_in_both(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    windows = rng.normal(size=(ROWS, 14, 3)).astype("float32")
    windows[3, 4, 0] = np.nan
    data = {
        "motion": windows,
        "following": np.cumsum(rng.normal(size=(ROWS, 6, 2)), axis=1).astype("float32"),
        "activity": rng.choice(["walk", "run"], ROWS).astype(object),
    }
    spec = {
        "inputs": {
            # The SavedModel takes the windows as the data holds them, and selects as training did.
            "motion": {
                "kind": "sequence", "steps": 12, "channels": 2, "missing": "mask",
                "select": {"steps": [1, 13], "channels": [0, 2]}, "encoder": {"type": "conv1d", "filters": [8]},
            },
            "activity": {"kind": "categorical", "encoder": {"embedding_dim": 4}},
        },
        "output": {
            "kind": "sequence", "name": "following", "steps": 6, "channels": 2,
            "head": {"type": "conv1d", "base_filters": 8},
        },
        "objective": CVAE,
    }  # fmt: skip
    generator = fitted(spec, data)
    temperature = 25.0  # far enough out that unclipped windows leave the training range
    sampler = exported_sampler(generator, tmp_path / "model", temperature)
    conditions = {"motion": windows[:6], "activity": np.array(["walk", "run"] * 3, dtype=object)}
    exported = sampler(
        motion=tf.constant(windows[:6]),
        activity=tf.constant(["walk", "run"] * 3),
        seed=tf.constant(5, tf.int64),
    )["following"].numpy()
    expected = generator.sample(conditions, seed=5, temperature=temperature)
    np.testing.assert_allclose(exported, expected, rtol=0, atol=1e-5)

    converter = generator.preprocessor_.output
    low, high = converter.low, converter.high
    assert ((expected >= low) & (expected <= high)).all() and ((exported >= low) & (exported <= high)).all()
    # The clip mattered: the same draws, turned back without it, leave the range.
    unclipping = SequenceConverter(
        converter.name,
        converter.spec.model_copy(update={"clip": False}),
        kind="Output",
        **converter.get_state(),
    )
    generator.preprocessor_.output = unclipping
    try:
        unclipped = generator.sample(conditions, seed=5, temperature=temperature)
    finally:
        generator.preprocessor_.output = converter
    assert ((unclipped < low) | (unclipped > high)).any()
    np.testing.assert_array_equal(np.clip(unclipped, low, high), expected)


@pytest.mark.parametrize(("dtype", "value_range"), [("uint8", [0, 255]), ("float32", [-1, 1])])
def test_images_match_sample(tmp_path, dtype, value_range):
    import tensorflow as tf

    rng = np.random.default_rng(2)
    photos = rng.integers(0, 256, size=(ROWS, 8, 8, 3)).astype("uint8")
    low, high = value_range
    targets = photos[:, ::-1].astype("float32") / 255 * (high - low) + low
    data = {
        "photo": photos,
        "edited": targets.astype(dtype),
        "caption": rng.choice(["flip it", "make it dark", "turn it", ""], ROWS).astype(object),
    }
    spec = {
        "inputs": {
            "photo": {"kind": "image", "height": 8, "width": 8, "channels": 3, "encoder": {"filters": [8]}},
            "caption": {
                "kind": "text", "max_tokens": 20, "sequence_length": 4, "missing": "impute",
                "encoder": {"type": "embedding_pool", "embedding_dim": 8},
            },
        },
        "output": {
            "kind": "image", "name": "edited", "height": 8, "width": 8, "channels": 3,
            "dtype": dtype, "value_range": value_range, "head": {"base_filters": 16, "min_filters": 8},
        },
        "objective": CVAE,
    }  # fmt: skip
    generator = fitted(spec, data)
    sampler = exported_sampler(generator, tmp_path / "model", temperature=2.0)
    captions = np.array(["flip it", "", "words never seen", "make it dark"], dtype=object)
    exported = sampler(
        photo=tf.constant(photos[:4].astype("float32")),
        caption=tf.constant(captions.astype(str)),
        seed=tf.constant(3, tf.int64),
    )["edited"].numpy()
    expected = generator.sample({"photo": photos[:4], "caption": captions}, seed=3, temperature=2.0)
    assert exported.dtype == expected.dtype == np.dtype(dtype)
    np.testing.assert_allclose(exported.astype("float64"), expected.astype("float64"), rtol=0, atol=1e-5)
    assert expected.min() >= low and expected.max() <= high


def test_vectors_match_sample_with_and_without_inputs(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(3)
    data = {
        "a": rng.normal(size=ROWS),
        "b": rng.normal(size=ROWS),
        "kind": rng.choice(["p", "q", "r"], ROWS).astype(object),
        "y": rng.normal(size=(ROWS, 3)) * 5.0 + 2.0,
    }
    data["a"][[2, 3]] = np.nan
    data["kind"][[4, 7]] = ""
    spec = {
        "inputs": {
            "size": {"kind": "numeric", "columns": ["a", "b"], "missing": "impute", "impute_with": "median"},
            "kind": {"kind": "categorical", "missing": "impute", "impute_with": "most_frequent"},
        },
        "output": {"kind": "vector", "size": 3, "column": "y", "head": {"type": "mlp", "units": [8]}},
        "objective": CVAE,
    }
    generator = fitted(spec, data)
    sampler = exported_sampler(generator, tmp_path / "model")
    conditions = pd.DataFrame({"a": [np.nan, 0.5, 1.0], "b": [0.1, 0.2, 0.3], "kind": ["p", "", "zz"]})
    exported = sampler(
        size=tf.constant(conditions[["a", "b"]].to_numpy("float32")),
        kind=tf.constant(conditions["kind"].to_numpy().astype(str)),
        seed=tf.constant(8, tf.int64),
    )
    expected = generator.sample(conditions, seed=8, strict=False)
    np.testing.assert_allclose(exported["output"].numpy(), expected, rtol=0, atol=1e-5)

    # Without inputs the SavedModel takes the number of samples.
    unconditional = fitted({**spec, "inputs": {}}, {"y": data["y"]})
    sampler = exported_sampler(unconditional, tmp_path / "unconditional")
    exported = sampler(num_samples=tf.constant(5, tf.int64), seed=tf.constant(8, tf.int64))["output"].numpy()
    np.testing.assert_allclose(exported, unconditional.sample(num_samples=5, seed=8), rtol=0, atol=1e-5)
