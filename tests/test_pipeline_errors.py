"""Bad data never crashes with a raw traceback and never silently vanishes.

Each case raises a `DataError` that names the input, the file, row or column,
what was expected and what was received. Cases already covered in
``test_data.py`` (a missing column seen by the preprocessor, text in a
numeric column of a frame, NaN under the default policy, unseen categories,
image arrays with the wrong channel count) are not repeated here.
"""

import io
import re
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fusegen.data.adapters import check_model_batch, dataset_from_batches, table_from_batches
from fusegen.data.pipeline import make_dataset, prepare_data
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.sources import Table, load_table, table_from_frame
from fusegen.errors import DataError, FusegenError
from fusegen.spec import load_spec

SPEC = {
    "data": {"source": "data.csv"},
    "inputs": {
        "size": {"kind": "numeric", "columns": ["a", "b"]},
        "label": {"kind": "categorical"},
        "note": {"kind": "text", "sequence_length": 4},
    },
    "output": {"kind": "vector", "size": 1, "name": "target", "column": "y"},
}


def frame(rows=12):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "label": rng.choice(["p", "q"], rows),
            "note": rng.choice(["a small one", "a big one"], rows),
            "y": rng.normal(size=rows),
        }
    )


def prepare_csv(tmp_path, data, spec=SPEC, **data_options):
    data.to_csv(tmp_path / "data.csv", index=False)
    spec = load_spec({**spec, "data": {**spec["data"], **data_options}})
    return prepare_data(spec, load_table(spec.data, base_dir=tmp_path))


def message(raised) -> str:
    return str(raised.value)


# --------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------


def test_every_missing_column_is_listed_at_once_with_its_input(tmp_path):
    with pytest.raises(DataError) as raised:
        prepare_csv(tmp_path, frame().drop(columns=["b", "note"]))
    text = message(raised)
    assert "Input 'size' (numeric) reads column 'b', which is not there" in text
    assert "Input 'note' (text) reads column 'note'" in text
    assert "Available columns: a, label, y." in text and "data.csv" in text


def test_strict_mode_rejects_an_unknown_extra_column(tmp_path):
    data = frame().assign(lable=1.0)  # a misspelt column nothing reads
    prepare_csv(tmp_path, data)  # accepted without strict mode
    with pytest.raises(DataError) as raised:
        prepare_csv(tmp_path, data, strict=True)
    assert "unknown extra column(s) ['lable'], which no input or output reads (data.strict: true)" in message(
        raised
    )
    assert "set data.strict: false" in message(raised)


def test_text_in_a_numeric_column_names_the_file_and_its_row_after_the_split(tmp_path):
    data = frame()
    data["b"] = data["b"].astype(object)
    data.loc[9, "b"] = "n/a kg"
    with pytest.raises(DataError) as raised:
        prepare_csv(tmp_path, data)
    assert (
        f"Column 'b' of input 'size' (numeric): expected numbers, received 'n/a kg' in row 9 of '{tmp_path}"
        in (message(raised))
    )


# --------------------------------------------------------------------------
# Missing and non-finite values
# --------------------------------------------------------------------------


def test_infinity_is_an_error_even_when_imputing(tmp_path):
    data = frame()
    data.loc[[3, 4], "a"] = np.inf
    with pytest.raises(DataError) as raised:
        prepare_csv(tmp_path, data)
    assert "2 row(s) have missing values (NaN, None, empty) or infinity" in message(raised)
    assert "Input 'size' (numeric), column 'a': first rows [3, 4] of" in message(raised)
    imputing = {**SPEC, "inputs": {**SPEC["inputs"], "size": {**SPEC["inputs"]["size"], "missing": "impute"}}}
    with pytest.raises(DataError, match=r"column 'a': first rows \[3, 4\]"):
        prepare_csv(tmp_path, data, spec=imputing)
    assert prepare_csv(tmp_path, data, missing="drop_rows").dropped_rows.tolist() == [3, 4]


def test_nan_in_a_sensor_window_names_the_input_and_the_window():
    spec = load_spec(
        {
            "inputs": {"motion": {"kind": "sequence", "steps": 5, "channels": 2}},
            "output": {"kind": "vector", "size": 1, "column": "y"},
        }
    )
    windows = np.zeros((6, 5, 2))
    windows[4, 2, 1] = np.nan
    with pytest.raises(DataError, match=r"Input 'motion' \(sequence\), column 'motion': first rows \[4\]"):
        prepare_data(spec, Table({"motion": windows, "y": np.zeros(6)}, "arrays"))


def test_per_input_drop_rows_overrides_the_data_policy(tmp_path):
    data = frame()
    data.loc[2, "label"] = None
    dropping = {
        **SPEC,
        "inputs": {**SPEC["inputs"], "label": {"kind": "categorical", "missing": "drop_rows"}},
    }
    assert prepare_csv(tmp_path, data, spec=dropping).dropped_rows.tolist() == [2]
    with pytest.raises(DataError, match=r"Input 'label' \(categorical\), column 'label': first rows \[2\]"):
        prepare_csv(tmp_path, data)


def test_empty_text_names_its_rows_and_blank_text_counts_as_empty():
    spec = load_spec(SPEC)
    data = frame()
    data.loc[[1, 6], "note"] = ["", "   "]
    pre = Preprocessor(spec)
    with pytest.raises(DataError) as raised:
        pre.inputs["note"].fit(table_from_frame(data), "note")
    assert "Input 'note' (text): 2 row(s) are empty, first rows [1, 6]." in message(raised)
    assert "missing: impute" in message(raised)


def test_mask_is_refused_where_there_is_nothing_to_mark_with_a_number():
    from fusegen.errors import SpecError

    masked = {
        "photo": {"kind": "image", "height": 8, "width": 8, "missing": "mask"},
        "label": {"kind": "categorical", "missing": "mask"},
        "note": {"kind": "text", "missing": "mask"},
    }
    with pytest.raises(SpecError) as raised:
        load_spec({**SPEC, "inputs": masked})
    text = message(raised)
    assert "The spec has 3 problems" in text
    assert (
        "inputs.photo: an image cannot be imputed; use missing: error or drop_rows, received missing: mask"
        in text
    )
    assert (
        "inputs.label: missing: mask is for numeric and sequence inputs; a categorical input marks a missing "
        "value with a '[MISSING]' category of its own under missing: impute, received missing: mask"
    ) in text
    assert "inputs.note: missing: mask is for numeric and sequence inputs" in text


def test_an_unseen_category_at_prediction_is_out_of_vocabulary_and_counted():
    spec = load_spec(SPEC)
    pre = Preprocessor(spec).fit(table_from_frame(frame()))
    new = frame(4).assign(label=["p", "never", "never", "again"])
    ids = pre.transform_inputs(table_from_frame(new))["label"]
    assert ids.tolist()[1:] == [0, 0, 0] and ids[0] > 0
    assert pre.unseen_counts() == {"label": {"never": 2, "again": 1}}


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------

IMAGE_SPEC = {
    "data": {"source": "data.csv"},
    "inputs": {"photo": {"kind": "image", "height": 8, "width": 8, "channels": 3}},
    "output": {"kind": "vector", "size": 1, "name": "target", "column": "y"},
}


def image_csv(tmp_path, images: dict[str, bytes | None]):
    folder = tmp_path / "img"
    folder.mkdir(exist_ok=True)
    for name, content in images.items():
        if content is not None:
            (folder / name).write_bytes(content)
    data = pd.DataFrame({"photo": [f"img/{name}" for name in images], "y": np.arange(float(len(images)))})
    return data


def png(shape, image_format="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(np.full(shape, 90, np.uint8)).save(buffer, format=image_format)
    return buffer.getvalue()


def test_a_missing_image_file_names_the_path_and_the_row(tmp_path):
    data = image_csv(tmp_path, {"ok.png": png((8, 8, 3)), "gone.png": None})
    with pytest.raises(DataError) as raised:
        prepare_csv(tmp_path, data, spec=IMAGE_SPEC)
    assert "Input 'photo' (image): 1 image file(s) do not exist or cannot be read:" in message(raised)
    assert f"'{tmp_path / 'img' / 'gone.png'}' (row 1 of '{tmp_path / 'data.csv'}')" in message(raised)


@pytest.mark.parametrize(
    "content",
    [b"this is not an image", png((8, 8, 3))[:40], png((8, 8, 3), "GIF")[:20]],
    ids=["text", "truncated png", "truncated gif"],
)
def test_a_corrupt_image_file_names_the_file(tmp_path, content):
    data = image_csv(tmp_path, {"a.png": png((8, 8, 3)), "b.png": content, "c.png": png((8, 8, 3))})
    with pytest.raises(DataError) as raised:
        prepare_csv(tmp_path, data, spec=IMAGE_SPEC, validation_split=0.0)
    assert "1 image(s) cannot be decoded as PNG, JPEG or BMP (corrupt, truncated or another format)" in (
        message(raised)
    )
    assert "b.png' (row 1 of" in message(raised)


def test_an_image_file_with_the_wrong_channel_count_or_size(tmp_path):
    data = image_csv(
        tmp_path, {"rgb.png": png((8, 8, 3)), "grey.png": png((8, 8)), "big.png": png((9, 8, 3))}
    )
    with pytest.raises(DataError) as raised:
        prepare_csv(tmp_path, data, spec=IMAGE_SPEC, validation_split=0.0)
    assert "1 image(s) have another channel count: expected 3, received 1 in" in message(raised)
    assert "grey.png' (row 1 of" in message(raised) and "convert_channels: true" in message(raised)
    fixed = {**IMAGE_SPEC, "inputs": {"photo": {**IMAGE_SPEC["inputs"]["photo"], "convert_channels": True}}}
    assert prepare_csv(tmp_path, data, spec=fixed, validation_split=0.0).train_inputs["photo"].shape == (
        3,
        8,
        8,
        3,
    )
    no_resize = {**IMAGE_SPEC, "inputs": {"photo": {**fixed["inputs"]["photo"], "resize": False}}}
    with pytest.raises(DataError, match=r"another size: expected 8x8, received 9x8 in .*big.png' \(row 2 of"):
        prepare_csv(tmp_path, data, spec=no_resize, validation_split=0.0)


def test_image_arrays_of_another_size_without_resize():
    spec = load_spec({**IMAGE_SPEC, "inputs": {"photo": {**IMAGE_SPEC["inputs"]["photo"], "resize": False}}})
    table = Table({"photo": np.zeros((3, 8, 6, 3), "uint8"), "y": np.zeros(3)}, "arrays")
    with pytest.raises(
        DataError, match=r"expected each example to have shape \[8, 8, 3\], received \[8, 6, 3\]"
    ):
        Preprocessor(spec).fit(table)


# --------------------------------------------------------------------------
# Shapes and row counts
# --------------------------------------------------------------------------


def test_sequences_of_unequal_length_name_the_column_and_the_rows():
    windows = [np.zeros((10, 3)), np.zeros((10, 3)), np.zeros((9, 3))]
    with pytest.raises(DataError) as raised:
        Table({"motion": windows, "y": np.zeros(3)}, "the given arrays")
    assert (
        "the given arrays: column 'motion' has entries of different shapes: row 0 has shape [10, 3], "
        "row 2 has shape [9, 3]." in message(raised)
    )
    ragged_frame = pd.DataFrame({"motion": windows, "y": [0.0, 1.0, 2.0]})
    with pytest.raises(DataError, match="column 'motion' has entries of different shapes"):
        table_from_frame(ragged_frame)


def test_inputs_with_different_row_counts():
    with pytest.raises(
        DataError,
        match=r"inputs have different row counts, received inputs\['a'\]: 4, inputs\['b'\]: 3, targets: 4",
    ):
        make_dataset({"a": np.zeros(4), "b": np.zeros(3)}, np.zeros(4))
    with pytest.raises(
        DataError, match=r"batch 1 has columns with different row counts, received \{'a': 2, 'b': 3\}"
    ):
        table_from_batches([{"a": [1, 2], "b": [1, 2]}, {"a": [1, 2], "b": [1, 2, 3]}])


def test_empty_datasets(tmp_path):
    (tmp_path / "data.csv").write_text("a,b,label,note,y\n")
    spec = load_spec(SPEC)
    with pytest.raises(
        DataError,
        match=r"data.csv: the data has no rows \(a header alone, or nothing\)\. Hint: give a file with rows",
    ):
        load_table(spec.data, base_dir=tmp_path)
    (tmp_path / "data.csv").write_text("\n  \n")  # not even a header (pandas: "No columns to parse")
    with pytest.raises(
        DataError, match=r"data file '.*data.csv' is empty: expected a header row of column names"
    ):
        load_table(spec.data, base_dir=tmp_path)
    for source, expected in [
        ("parts/*.csv", r"no files match '.*parts/\*.csv'"),
        (
            "python:nothing.py:batches",
            r"data.source 'python:nothing.py:batches': the generator yielded no batches",
        ),
    ]:
        (tmp_path / "nothing.py").write_text("def batches():\n    return iter([])\n")
        empty = load_spec({**SPEC, "data": {"source": source}})
        with pytest.raises(DataError, match=expected):
            load_table(empty.data, base_dir=tmp_path)
    (tmp_path / "photos").mkdir()
    with pytest.raises(DataError, match=r"folder '.*photos' has no images"):
        load_table(load_spec({**SPEC, "data": {"source": "photos"}}).data, base_dir=tmp_path)
    with pytest.raises(DataError, match="the dataset is empty"):
        make_dataset({"a": np.zeros((0, 2))})


def test_glob_parts_with_other_columns_name_the_file(tmp_path):
    frame().to_csv(tmp_path / "p1.csv", index=False)
    frame().rename(columns={"note": "notes"}).to_csv(tmp_path / "p2.csv", index=False)
    with pytest.raises(DataError) as raised:
        load_table(load_spec({**SPEC, "data": {"source": "p*.csv"}}).data, base_dir=tmp_path)
    assert f"'{tmp_path / 'p2.csv'}' has other columns than '{tmp_path / 'p1.csv'}'" in message(raised)
    assert "(missing ['note']) (extra ['notes'])" in message(raised)


# --------------------------------------------------------------------------
# Generators of your own
# --------------------------------------------------------------------------

MODEL_SPEC = load_spec(
    {
        "inputs": {
            "photo": {"kind": "image", "height": 8, "width": 8},
            "caption": {"kind": "text", "sequence_length": 5},
        },
        "output": {"kind": "vector", "size": 2, "name": "score"},
    }
)


def test_a_model_ready_batch_that_does_not_match_gets_a_key_by_key_diff():
    batch = (
        {"photo": np.zeros((4, 8, 8), "uint8"), "captions": np.zeros((4, 5), "int32")},
        np.zeros((4, 2)),
    )
    with pytest.raises(DataError) as raised:
        check_model_batch(MODEL_SPEC, batch, "my_generator: batch 0")
    text = message(raised)
    assert text.startswith("my_generator: batch 0 does not match the spec, key by key: ")
    assert "inputs['photo']: expected float32 [batch, 8, 8, 3], received uint8 [4, 8, 8] (shape)" in text
    assert "inputs['caption']: expected int32 [batch, 5], received nothing (missing key)" in text
    assert "inputs['captions']: not in the spec, received int32 [4, 5]" in text
    assert "targets['score']" not in text  # the targets match


def test_text_where_the_model_takes_token_ids_is_a_dtype_mismatch():
    batch = ({"photo": np.zeros((2, 8, 8, 3)), "caption": np.array(["a cat", "a dog"])}, np.zeros((2, 3)))
    with pytest.raises(DataError) as raised:
        check_model_batch(MODEL_SPEC, batch)
    assert "inputs['caption']: expected int32 [batch, 5], received str192 [2] (dtype and shape)" in message(
        raised
    ) or "inputs['caption']: expected int32 [batch, 5], received" in message(raised)
    assert "targets['score']: expected float32 [batch, 2], received float64 [2, 3] (shape)" in message(raised)


def test_the_dataset_adapter_checks_the_first_batch_before_training():
    def batches():
        yield [np.zeros((4, 8, 8, 3))], np.zeros((4, 2))  # a list, the Keras habit, not a dict

    with pytest.raises(DataError, match=r"expected the inputs as a dict keyed by the model's input names"):
        dataset_from_batches(MODEL_SPEC, batches)


def test_raw_batches_that_change_structure_name_the_key():
    def batches():
        yield {"a": np.zeros(3), "label": ["x", "y", "z"]}
        yield {"a": np.zeros((3, 2)), "label": ["x", "y", "z"]}

    with pytest.raises(DataError) as raised:
        table_from_batches(batches, origin="python:make:rows")
    assert (
        "python:make:rows: batch 1 differs from batch 0, key by key: 'a': expected number with per-row shape [], "
        in (message(raised))
    )


def test_a_later_model_ready_batch_that_does_not_match_is_a_data_error_too():
    import keras
    import tensorflow as tf

    from fusegen.data.adapters import surface_data_errors

    spec = load_spec(
        {"inputs": {"a": {"kind": "numeric", "size": 2}}, "output": {"kind": "vector", "size": 1}}
    )

    def batches():
        for _ in range(2):
            yield {"a": np.zeros((4, 2))}, np.zeros((4, 1))
        yield {"b": np.zeros((4, 2))}, np.zeros((4, 1))  # batch 2: a misspelt key

    expected = (
        "batches(): batch 2 does not match the spec, key by key: "
        "inputs['a']: expected float32 [batch, 2], received nothing (missing key); "
        "inputs['b']: not in the spec, received float64 [4, 2]."
    )
    dataset = dataset_from_batches(spec, batches)  # batch 0 is fine, so this passes
    with pytest.raises(tf.errors.OpError, match=re.escape(expected)):
        list(dataset)  # TensorFlow's own error, the diff in its message
    with pytest.raises(DataError) as raised, surface_data_errors():
        list(dataset)
    assert raised.value.message == expected and raised.value.hint.startswith("make the generator yield")

    inputs = keras.Input((2,), name="a")
    model = keras.Model({"a": inputs}, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    with pytest.raises(DataError, match=re.escape(expected)), surface_data_errors():
        model.fit(dataset, verbose=0, shuffle=False)

    def broken():
        yield {"a": np.zeros((4, 2))}, np.zeros((4, 1))
        raise RuntimeError("disk gone")

    with pytest.raises(tf.errors.OpError, match="disk gone"), surface_data_errors():
        list(dataset_from_batches(spec, broken))  # not a DataError: passed on unchanged


def test_a_later_raw_batch_given_to_fit_that_differs_names_each_key():
    import fusegen

    def batches():
        for index in range(5):
            batch = frame(4).to_dict("list")
            if index == 3:
                batch["colour"] = batch.pop("label")
                batch["a"] = ["x"] * 4
            yield batch

    with pytest.raises(DataError) as raised:
        fusegen.Generator(load_spec(SPEC)).fit(batches)
    assert message(raised).startswith(
        "batches(): batch 3 differs from batch 0, key by key: "
        "'a': expected number with per-row shape [], received str32 [4]; "
        "'label': expected it as in batch 0, received nothing (missing key); "
        "'colour': not in batch 0, received str32 [4]."
    )


def test_model_ready_batches_given_to_fit_point_to_dataset_from_batches():
    import fusegen

    def model_ready():
        yield {"a": np.zeros((4, 2))}, np.zeros((4, 1))

    with pytest.raises(DataError) as raised:
        fusegen.Generator(load_spec(SPEC)).fit(model_ready)
    text = message(raised)
    assert text.startswith("model_ready(): batch 0 is a tuple, expected a dict of columns")
    assert "batches go to your own Keras model through dataset_from_batches(spec, source)" in text
    with pytest.raises(DataError, match=r"cannot read data of type ndarray; .* keras.utils.PyDataset"):
        fusegen.Generator(load_spec(SPEC)).fit(np.zeros(3))


# --------------------------------------------------------------------------
# Fuzzing: whatever a CSV holds, the answer is a result or a DataError
# --------------------------------------------------------------------------

cell = st.one_of(
    st.text(alphabet=string.printable, max_size=6),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-(10**12), 10**12).map(str),
    st.just(""),
)


HEADER = ["a", "b", "label", "note", "y"]

csv_rows = st.one_of(
    # The right columns with any cells: exercises every conversion and check.
    st.tuples(st.just(HEADER), st.lists(st.lists(cell, min_size=5, max_size=5), max_size=8)),
    # Any header, any ragged rows: exercises reading and column checks.
    st.tuples(
        st.lists(st.sampled_from(HEADER + ["x", ""]), max_size=6),
        st.lists(st.lists(cell, max_size=7), max_size=8),
    ),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    contents=csv_rows,
    raw_tail=st.one_of(st.just(b""), st.binary(max_size=8)),
    policy=st.sampled_from(["error", "drop_rows", "impute", "mask"]),
)
def test_fuzzed_csv_contents_fail_only_with_data_errors(tmp_path, contents, raw_tail, policy):
    header, rows = contents
    text = ",".join(header) + "\n" + "\n".join(",".join(row) for row in rows)
    (tmp_path / "data.csv").write_bytes(text.encode() + raw_tail)
    if policy in ("impute", "mask"):
        inputs = {name: {**part, "missing": "impute"} for name, part in SPEC["inputs"].items()}
        inputs["size"]["missing"] = policy  # mask is for numbers; the others impute
        spec = load_spec({**SPEC, "inputs": inputs})
    else:
        spec = load_spec({**SPEC, "data": {**SPEC["data"], "missing": policy}})
    try:
        table = load_table(spec.data, base_dir=tmp_path)
        prepared = prepare_data(spec, table)
        batch = next(iter(make_dataset(prepared.train_inputs, prepared.train_targets, batch_size=4)))
    except FusegenError as error:
        assert isinstance(error, DataError), f"{type(error).__name__}: {error}"
        return
    assert set(batch[0]) == {"size", "label", "note"}
    assert np.isfinite(batch[0]["size"].numpy()).all()
    assert batch[0]["size"].shape[1] == (4 if policy == "mask" else 2)


def test_a_text_input_with_no_word_in_any_row_is_a_data_error(tmp_path):
    """Hypothesis found a note of ':' alone: Keras left the empty vocabulary's lookup table
    uninitialised, and the pipeline failed with TensorFlow's 'Table not initialized'."""
    (tmp_path / "data.csv").write_text("a,b,label,note,y\n0,0.0,p,:,0.0\n1,2.0,q,!?,1.0\n")
    table = load_table(load_spec(SPEC).data, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"Input 'note' \(text\): no word in any of the 2 training rows"):
        prepare_data(load_spec(SPEC), table)
