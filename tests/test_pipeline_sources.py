"""Every source kind reaches the model as the spec says: globs, image folders and paths, windows, generators."""

import io
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fusegen.data.adapters import dataset_from_batches, table_from_batches
from fusegen.data.images import ImageColumn
from fusegen.data.pipeline import make_dataset, prepare_data
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.sources import Table, load_table, table_from_frame
from fusegen.data.windows import window_table
from fusegen.errors import DataError, FusegenWarning
from fusegen.spec import load_spec


def write_png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def png_bytes(pixels, image_format="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def random_pixels(seed, shape=(8, 8, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def spec_for(data, inputs, output):
    return load_spec({"data": data, "inputs": inputs, "output": output, "training": {"batch_size": 4}})


# --------------------------------------------------------------------------
# Tables: CSV globs
# --------------------------------------------------------------------------


def test_glob_reads_every_part_in_order_and_remembers_each_rows_file(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}).to_csv(parts / "p1.csv", index=False)
    pd.DataFrame({"a": [3.0, 4.0, 5.0], "b": ["x", "z", "y"]}).to_csv(parts / "p2.csv", index=False)
    spec = spec_for({"source": "parts/*.csv"}, {"a": {"kind": "numeric", "columns": ["a"]}}, _vector("b"))
    table = load_table(spec.data, base_dir=tmp_path)
    assert table.columns["a"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert table.row_label(3) == f"row 1 of '{parts / 'p2.csv'}'"
    assert table.take(np.array([4, 0])).rows_label([0, 1]) == (
        f"first rows [2] of '{parts / 'p2.csv'}', [0] of '{parts / 'p1.csv'}'"
    )


def test_parquet_glob(tmp_path):
    for index in range(3):
        pd.DataFrame({"a": [float(index)] * 2}).to_parquet(tmp_path / f"part-{index}.parquet")
    spec = spec_for({"source": "part-*.parquet"}, {"a": {"kind": "numeric", "columns": ["a"]}}, _vector("a"))
    assert load_table(spec.data, base_dir=tmp_path).columns["a"].tolist() == [0, 0, 1, 1, 2, 2]


def _vector(column):
    return {"kind": "vector", "size": 1, "name": "target", "column": column}


# --------------------------------------------------------------------------
# Images: folders, path columns, bytes, arrays
# --------------------------------------------------------------------------


def test_image_folder_with_class_subfolders_feeds_a_label_to_image_generator(tmp_path):
    originals = {}
    for index, label in enumerate(["cat", "cat", "dog", "owl"]):
        originals[(label, index)] = write_png(
            tmp_path / "photos" / label / f"{index}.png", random_pixels(index)
        )
    (tmp_path / "photos" / "cat" / "notes.txt").write_text("not an image")
    spec = spec_for(
        {"source": "photos", "validation_split": 0.0},
        {"label": {"kind": "categorical"}},
        {"kind": "image", "name": "photo", "column": "image", "height": 8, "width": 8},
    )
    table = load_table(spec.data, base_dir=tmp_path)
    assert sorted(table.columns) == ["image", "label"]
    assert table.columns["label"].tolist() == ["cat", "cat", "dog", "owl"]
    prepared = prepare_data(spec, table)
    targets = prepared.train_targets
    assert isinstance(targets, ImageColumn) and targets.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(np.asarray(targets)[2], random_pixels(2) / 255.0, atol=1e-6)


def test_flat_image_folder_gives_only_an_image_column(tmp_path):
    for index in range(3):
        write_png(tmp_path / "flat" / f"{index}.png", random_pixels(index))
    spec = spec_for(
        {"source": "flat"}, {"image": {"kind": "image", "height": 8, "width": 8}}, _vector("image")
    )
    table = load_table(spec.data, base_dir=tmp_path)
    assert list(table.columns) == ["image"] and len(table) == 3


def test_image_paths_relative_to_the_csv_decode_resize_and_batch(tmp_path):
    data = tmp_path / "data"
    write_png(data / "img" / "a.png", random_pixels(0))
    write_png(data / "img" / "b.png", random_pixels(1, (16, 12, 3)))  # resized to 8x8
    smooth = np.broadcast_to(np.linspace(0, 240, 8, dtype=np.uint8)[None, :, None], (8, 8, 3)).copy()
    Image.fromarray(smooth).save(data / "img" / "c.jpg", quality=95)
    pd.DataFrame(
        {
            "photo": ["img/a.png", "img/b.png", "img/c.jpg"] * 4,
            "caption": ["a red cat", "a blue dog", "an owl at night"] * 4,
            "price": np.arange(12.0),
            "y": np.arange(12.0),
        }
    ).to_csv(data / "items.csv", index=False)
    spec = spec_for(
        {"source": "data/items.csv", "validation_split": 0.0},
        {
            "photo": {"kind": "image", "height": 8, "width": 8},
            "caption": {"kind": "text", "sequence_length": 4},
            "price": {"kind": "numeric", "columns": ["price"]},
        },
        _vector("y"),
    )
    prepared = prepare_data(spec, load_table(spec.data, base_dir=tmp_path))
    photos = prepared.train_inputs["photo"]
    assert photos.shape == (12, 8, 8, 3) and photos.pixels.dtype == np.uint8
    np.testing.assert_array_equal(photos.pixels[0], random_pixels(0))  # PNG is lossless
    assert np.abs(photos.pixels[2].astype(int) - smooth).max() <= 8  # JPEG is lossy
    inputs, targets = next(iter(make_dataset(prepared.train_inputs, prepared.train_targets, batch_size=5)))
    assert inputs["photo"].dtype == "float32" and tuple(inputs["photo"].shape) == (5, 8, 8, 3)
    assert float(np.max(inputs["photo"])) <= 1.0 and inputs["caption"].dtype == "int32"
    assert tuple(targets.shape) == (5, 1)


def test_encoded_bytes_in_parquet_and_grey_images_converted_on_request(tmp_path):
    grey = random_pixels(3, (8, 8))
    frame = pd.DataFrame({"photo": [png_bytes(grey), png_bytes(random_pixels(4))], "y": [0.0, 1.0]})
    frame.to_parquet(tmp_path / "photos.parquet")
    spec = spec_for(
        {"source": "photos.parquet"},
        {"photo": {"kind": "image", "height": 8, "width": 8, "convert_channels": True}},
        _vector("y"),
    )
    table = load_table(spec.data, base_dir=tmp_path)
    pre = Preprocessor(spec).fit(table)
    photos = pre.transform_inputs(table)["photo"]
    assert photos.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(photos[0], np.repeat(grey[..., None], 3, axis=-1) / 255.0, atol=1e-6)


def test_uint8_arrays_stay_compact_and_the_pipeline_maps_them_to_floats():
    images = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    spec = spec_for(
        {"source": "unused.npz", "validation_split": 0.0},
        {"photo": {"kind": "image", "height": 4, "width": 4}},
        _vector("y"),
    )
    prepared = prepare_data(spec, Table({"photo": images, "y": np.arange(10.0)}, "arrays"))
    assert (
        prepared.train_inputs["photo"].pixels is images
        or prepared.train_inputs["photo"].pixels.dtype == np.uint8
    )
    batches = list(make_dataset(prepared.train_inputs, prepared.train_targets, batch_size=4))
    got = np.concatenate([inputs["photo"].numpy() for inputs, _ in batches])
    np.testing.assert_allclose(got, images / 255.0, atol=1e-7)


def test_decoded_images_stay_fusegens_own_through_the_split_and_batch_exactly(tmp_path):
    # Decoded pixels, and the rows each split takes from them, are fusegen's aligned arrays, which
    # the pipeline reads in place instead of copying; the batches are still exactly pixels / 255.
    from fusegen.data.memory import is_owned

    images = [random_pixels(index) for index in range(20)]
    frame = pd.DataFrame({"photo": [png_bytes(image) for image in images], "y": np.arange(20.0)})
    spec = spec_for(
        {"source": "frame", "validation_split": 0.25},
        {"photo": {"kind": "image", "height": 8, "width": 8}},
        _vector("y"),
    )
    prepared = prepare_data(spec, table_from_frame(frame, "frame"))
    for inputs, rows in (
        (prepared.train_inputs, prepared.train_rows),
        (prepared.validation_inputs, prepared.validation_rows),
    ):
        assert is_owned(inputs["photo"].pixels)
        batches = list(make_dataset(inputs, None, batch_size=4))
        got = np.concatenate([batch["photo"].numpy() for batch in batches])
        np.testing.assert_allclose(got, np.stack([images[row] for row in rows]) / 255.0, atol=1e-7)


def test_images_that_do_not_fit_are_decoded_every_epoch_with_the_same_result(tmp_path):
    for index in range(6):
        write_png(tmp_path / "imgs" / f"{index}.png", random_pixels(index))
    frame = pd.DataFrame({"photo": [f"imgs/{i}.png" for i in range(6)], "y": np.arange(6.0)})
    frame.to_csv(tmp_path / "d.csv", index=False)
    batches = {}
    for cache in (True, False):
        spec = spec_for(
            {"source": "d.csv", "cache": cache, "validation_split": 0.0},
            {"photo": {"kind": "image", "height": 8, "width": 8}},
            _vector("y"),
        )
        prepared = prepare_data(spec, load_table(spec.data, base_dir=tmp_path))
        assert (prepared.train_inputs["photo"].pixels is None) == (not cache)
        dataset = make_dataset(
            prepared.train_inputs, prepared.train_targets, batch_size=4, shuffle=True, seed=3
        )
        batches[cache] = [inputs["photo"].numpy() for inputs, _ in dataset]
    for cached, streamed in zip(batches[True], batches[False], strict=True):
        np.testing.assert_array_equal(cached, streamed)


#: Images as a column may hold them: the spec's shape, or one that needs converting or resizing.
IMAGE_SHAPES = [(8, 8, 3), (8, 8), (8, 8, 4), (5, 11, 3), (16, 16)]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, len(IMAGE_SHAPES) - 1), min_size=1, max_size=12), st.integers(0, 2**16))
def test_a_mixed_column_decodes_as_each_image_would_alone(shapes, seed):
    # decode_all keeps images of the spec's shape from a first pass and converts the rest in a second;
    # whichever pass an image takes, its pixels are those of decoding it alone.
    from fusegen.data.images import ImageDecoder

    images = [random_pixels(seed + index, IMAGE_SHAPES[shape]) for index, shape in enumerate(shapes)]
    sources = np.array([png_bytes(image) for image in images], dtype=object)
    decoder = ImageDecoder(8, 8, 3, resize=True, convert_channels=True, where="Input 'photo' (image)")
    pixels = decoder.decode_all(sources)
    assert pixels.shape == (len(images), 8, 8, 3) and pixels.dtype == np.uint8
    for row, source in enumerate(sources):
        alone, native = decoder.decode_one(source, False, "bytes")
        np.testing.assert_array_equal(pixels[row], alone.numpy())
        assert list(native.numpy()) == list(images[row].shape) + [1] * (images[row].ndim == 2)
        if images[row].shape == (8, 8, 3):
            np.testing.assert_array_equal(pixels[row], images[row])


@pytest.mark.parametrize("channels", [1, 3])
def test_transparent_pixels_are_laid_on_white_in_files_and_arrays_alike(channels):
    # A transparent pixel holding black (what most PNG writers leave there) is white once alpha is
    # dropped, and a half-transparent one is halfway; a file and an array of the same pixels agree.
    from fusegen.data.images import ImageDecoder, convert_pixels

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4, :, :3], rgba[:4, :, 3] = 200, 255  # opaque grey-ish top half
    rgba[4:6, :, 3] = 0  # transparent black
    rgba[6:, :, 3] = 128  # half-transparent black
    decoder = ImageDecoder(8, 8, channels, resize=True, convert_channels=True, where="Input 'photo' (image)")
    from_file = decoder.decode_all(np.array([png_bytes(rgba)], dtype=object))[0]
    from_array = convert_pixels(rgba[None], channels)[0]
    np.testing.assert_array_equal(from_file, from_array)
    assert from_file.shape == (8, 8, channels)
    assert (from_file[:4] == 200).all() and (from_file[4:6] == 255).all()
    assert (np.abs(from_file[6:].astype(int) - 127) <= 1).all()
    # Keeping four channels keeps alpha as it is.
    np.testing.assert_array_equal(convert_pixels(rgba[None], 4)[0], rgba)
    grey_alpha = np.stack([np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)], -1)
    assert (convert_pixels(grey_alpha[None], channels) == 255).all()


def test_a_corrupt_image_among_good_ones_is_reported_whichever_pass_it_fails(tmp_path):
    from fusegen.data.images import ImageDecoder

    good, grey = png_bytes(random_pixels(0)), png_bytes(random_pixels(1, (8, 8)))
    sources = np.array([good, good[:50], grey, b"not an image", good], dtype=object)
    decoder = ImageDecoder(8, 8, 3, resize=True, convert_channels=True, where="Input 'photo' (image)")
    with pytest.raises(DataError, match=r"2 image\(s\) cannot be decoded as PNG, JPEG or BMP"):
        decoder.decode_all(sources)
    # Without conversion the grey image is named too, by its channel count.
    strict = ImageDecoder(8, 8, 3, resize=True, convert_channels=False, where="Input 'photo' (image)")
    with pytest.raises(DataError, match=r"another channel count: expected 3, received 1"):
        strict.decode_all(sources[[0, 2, 4]])


# --------------------------------------------------------------------------
# Sensors: long tables cut into windows
# --------------------------------------------------------------------------


def long_table(rows_per_group=(7, 5, 2)):
    groups, times, readings = [], [], []
    for group, count in enumerate(rows_per_group):
        order = np.random.default_rng(group).permutation(count)  # rows out of time order
        groups += [f"s{group}"] * count
        times += order.tolist()
        readings += (group * 100 + order).tolist()
    return pd.DataFrame(
        {
            "subject": groups,
            "t": times,
            "ax": np.array(readings, float),
            "ay": -np.array(readings, float),
            "activity": [f"activity of {group}" for group in groups],
        }
    )


WINDOW_SPEC = {
    "source": "long.csv",
    "windows": {"length": 3, "stride": 2, "group_column": "subject", "time_column": "t"},
    "validation_split": 0.0,
}


def test_long_table_is_cut_into_windows_per_group_in_time_order():
    spec = spec_for(
        WINDOW_SPEC,
        {"motion": {"kind": "sequence", "steps": 3, "channels": 2, "columns": ["ax", "ay"]}},
        _vector("t"),
    )
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "1 group(s) have fewer rows than data.windows.length (3) and make no window: 's2' (2 rows)."
        ),
    ):
        windows = window_table(table_from_frame(long_table(), origin="long.csv"), spec)
    # s0 has 7 rows -> starts 0, 2, 4; s1 has 5 -> starts 0, 2; s2 (2 rows) makes none.
    assert windows.columns["ax"].tolist() == [
        [0, 1, 2],
        [2, 3, 4],
        [4, 5, 6],
        [100, 101, 102],
        [102, 103, 104],
    ]
    assert windows.columns["activity"].tolist() == ["activity of s0"] * 3 + ["activity of s1"] * 2
    assert windows.row_label(1).startswith("window starting at row")
    with pytest.warns(UserWarning, match=r"fewer rows than data.windows.length \(3\)"):
        prepared = prepare_data(spec, table_from_frame(long_table(), origin="long.csv"))
    assert prepared.train_inputs["motion"].shape == (5, 3, 2)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=1, max_size=4),
    st.integers(1, 5),
    st.integers(1, 4),
)
def test_windows_never_cross_groups_and_cover_every_start(group_sizes, length, stride):
    frame = pd.DataFrame(
        {
            "g": np.repeat(np.arange(len(group_sizes)), group_sizes),
            "x": np.concatenate([np.arange(size) + 1000 * g for g, size in enumerate(group_sizes)]).astype(
                float
            ),
        }
    )
    spec = spec_for(
        {"source": "x.csv", "windows": {"length": length, "stride": stride, "group_column": "g"}},
        {"w": {"kind": "sequence", "steps": length, "channels": 1, "columns": ["x"]}},
        _vector("g"),
    )
    expected = sum(len(range(0, size - length + 1, stride)) for size in group_sizes if size >= length)
    if expected == 0:
        with pytest.raises(
            DataError, match=f"data.windows.length {length} is longer than every group's series"
        ):
            window_table(table_from_frame(frame), spec)
        return
    with pytest.warns(UserWarning) if any(size < length for size in group_sizes) else _no_warning():
        windows = window_table(table_from_frame(frame), spec)
    values = windows.columns["x"]
    assert len(values) == expected
    assert (np.diff(values, axis=1) == 1).all()  # consecutive steps of one group
    assert (values[:, 0] // 1000 == windows.columns["g"]).all()


def test_a_window_longer_than_every_group_names_the_key_and_the_longest_group():
    spec = spec_for(
        {**WINDOW_SPEC, "windows": {**WINDOW_SPEC["windows"], "length": 8}},
        {"motion": {"kind": "sequence", "steps": 8, "channels": 2, "columns": ["ax", "ay"]}},
        _vector("t"),
    )
    with pytest.raises(DataError) as raised:
        prepare_data(spec, table_from_frame(long_table(), origin="long.csv"))
    assert str(raised.value) == (
        "long.csv: data.windows.length 8 is longer than every group's series, so no window can be cut: "
        "the longest, group 's0' of data.windows.group_column 'subject', has 7 rows. Hint: set "
        "data.windows.length to at most 7 (and the steps of the sequence inputs and outputs with it), "
        "or check data.windows.group_column."
    )
    one_group = spec_for(
        {"source": "long.csv", "windows": {"length": 20}},
        {"motion": {"kind": "sequence", "steps": 20, "channels": 1, "columns": ["ax"]}},
        _vector("t"),
    )
    whole_table = "the longest, the whole table (one group: no data.windows.group_column), has 14 rows"
    with pytest.raises(DataError, match=re.escape(whole_table)):
        window_table(table_from_frame(long_table(), origin="long.csv"), one_group)
    # Conditions for a trained run cannot change its spec: they must hold a whole window.
    with pytest.raises(DataError, match=re.escape("Hint: give at least 20 rows of each series")):
        window_table(table_from_frame(long_table(), origin="conditions.csv"), one_group, sampling=True)
    # Daily rows with 61 days gone: the windows that span the jump are counted, once, when sampling.
    days = pd.date_range("2020-01-01", periods=200, freq="D")
    frame = pd.DataFrame({"t": days.delete(slice(100, 161)).astype(str), "ax": np.arange(139.0)})
    dated = spec_for(
        {"source": "long.csv", "windows": {"length": 20, "stride": 5, "time_column": "t"}},
        {"motion": {"kind": "sequence", "steps": 20, "channels": 1, "columns": ["ax"]}},
        _vector("ax"),
    )
    with pytest.warns(
        FusegenWarning, match=r"4 of 24 window\(s\) to forecast span a jump in 't' \(the widest 62 "
    ):
        window_table(table_from_frame(frame, origin="gap.csv"), dated, sampling=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        window_table(table_from_frame(frame.iloc[:100], origin="even.csv"), dated, sampling=True)
    # Nor can rows evaluate reads for it (--holdout, --real), where the hint was to change the spec.
    with pytest.raises(DataError, match=re.escape("Hint: give at least 20 rows of each series")):
        window_table(table_from_frame(long_table(), origin="holdout.csv"), one_group, for_run=True)


def test_window_length_checks_in_the_spec_name_their_key_path():
    from fusegen.errors import SpecError

    def problems(length, **sequence):
        inputs = {"m": {"kind": "sequence", "channels": 1, "columns": ["x"], **sequence}}
        with pytest.raises(SpecError) as raised:
            spec_for({"source": "x.csv", "windows": {"length": length}}, inputs, _vector("y"))
        return raised.value.problems

    assert problems(3, steps=4) == [
        "data.windows.length: windows of 3 rows, but sequence input 'm' expects inputs.m.steps 4; "
        "raise data.windows.length to 4 or lower inputs.m.steps to 3"
    ]
    assert problems(5, steps=4)[0].endswith(
        "make them equal, or read part of each window with select: {steps: [0, 4]}"
    )
    assert problems(3, steps=2, select={"steps": [2, 4]}) == [
        "inputs.m.select.steps: sequence input 'm' selects steps up to 4 but each window has "
        "data.windows.length 3 rows, received [2, 4]; keep the steps within [0, 3]"
    ]


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_sequence_columns_of_array_fields_are_stacked_as_channels():
    spec = spec_for(
        {"source": "x.npz"},
        {"motion": {"kind": "sequence", "steps": 4, "channels": 2, "columns": ["left", "right"]}},
        _vector("y"),
    )
    table = Table({"left": np.ones((6, 4)), "right": np.zeros((6, 4)), "y": np.arange(6.0)}, "arrays")
    values = Preprocessor(spec).fit(table).inputs["motion"]._raw(table, "motion")
    assert values.shape == (6, 4, 2) and (values[..., 0] == 1).all() and (values[..., 1] == 0).all()


# --------------------------------------------------------------------------
# Generators of your own
# --------------------------------------------------------------------------


def test_python_source_file_yields_batches_collected_into_a_table(tmp_path):
    (tmp_path / "make.py").write_text(
        "import numpy as np\n"
        "def batches(count=3):\n"
        "    for start in range(count):\n"
        "        yield ({'a': np.full(4, float(start)), 'label': ['x', 'y', 'x', 'z']}, {'y': np.arange(4.0)})\n"
    )
    spec = spec_for(
        {"source": "python:make.py:batches", "options": {"count": 5}},
        {"a": {"kind": "numeric", "columns": ["a"]}, "label": {"kind": "categorical"}},
        _vector("y"),
    )
    table = load_table(spec.data, base_dir=tmp_path)
    assert len(table) == 20 and sorted(table.columns) == ["a", "label", "y"]
    assert prepare_data(spec, table).train_inputs["a"].shape[1:] == (1,)


def test_py_dataset_and_max_rows_stop_an_endless_source():
    import keras

    class Rows(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()

        @property
        def num_batches(self):
            return None  # endless

        def __getitem__(self, index):
            return {"a": np.full(8, float(index))}

    table = table_from_batches(Rows(), max_rows=20)
    assert len(table) == 20 and table.columns["a"][-1] == 2.0


def test_model_ready_generator_is_served_as_a_checked_dataset():
    spec = spec_for(
        {"source": "x.csv"},
        {"a": {"kind": "numeric", "columns": ["p", "q"]}, "label": {"kind": "categorical"}},
        {"kind": "vector", "size": 3},
    )

    def batches():
        for _ in range(3):
            yield {"a": np.zeros((4, 2)), "label": np.ones(4, "int64")}, np.zeros((4, 3))

    dataset = dataset_from_batches(spec, batches)
    seen = [(inputs["a"].dtype, inputs["label"].dtype, targets.shape) for inputs, targets in dataset]
    assert seen == [("float32", "int32", (4, 3))] * 3
    assert len(list(dataset)) == 3  # a generator function starts again each epoch


def test_model_ready_py_dataset_is_served_every_epoch():
    import keras

    spec = spec_for({"source": "x.csv"}, {"a": {"kind": "numeric", "size": 2}}, {"kind": "vector", "size": 1})

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epochs_ended = 0

        @property
        def num_batches(self):
            return 3

        def __getitem__(self, index):
            return {"a": np.full((5, 2), float(index))}, np.zeros((5, 1))

        def on_epoch_end(self):
            self.epochs_ended += 1

    batches = Batches()
    dataset = dataset_from_batches(spec, batches)
    for _ in range(2):
        assert [float(inputs["a"][0, 0]) for inputs, _ in dataset] == [0.0, 1.0, 2.0]
    assert batches.epochs_ended == 2


GENERATOR_SPEC = {
    "data": {"max_rows": 48},
    "inputs": {"size": {"kind": "numeric", "columns": ["a", "b"]}, "colour": {"kind": "categorical"}},
    "output": {"kind": "vector", "size": 1, "column": "y"},
    "training": {"epochs": 1, "batch_size": 8, "tensorboard": False},
}


def _raw_batch(index, rows=8):
    rng = np.random.default_rng(index)
    return {
        "a": rng.normal(size=rows),
        "b": rng.normal(size=rows),
        "colour": rng.choice(["red", "blue"], rows),
        "y": rng.normal(size=rows),
    }


def test_the_facade_fits_on_a_generator_function_up_to_max_rows():
    import fusegen

    def endless_batches():
        index = 0
        while True:  # data.max_rows stops it
            yield _raw_batch(index)
            index += 1

    logged = []
    generator = fusegen.Generator(load_spec(GENERATOR_SPEC)).fit(
        endless_batches, verbose=0, log=logged.append
    )
    assert "training on 43 rows, validating on 5" in logged
    assert generator.preprocessor_.inputs["colour"].vocabulary_size == 3
    assert np.asarray(generator.sample({"a": [0.0], "b": [1.0], "colour": ["red"]})).shape == (1, 1)


def test_the_facade_fits_on_a_py_dataset_of_inputs_and_targets():
    import keras

    import fusegen

    class Rows(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()

        @property
        def num_batches(self):
            return 4

        def __getitem__(self, index):
            batch = _raw_batch(index)
            return {key: batch[key] for key in ("a", "b", "colour")}, {"y": batch["y"]}

    logged = []
    fusegen.Generator(load_spec(GENERATOR_SPEC)).fit(Rows(), verbose=0, log=logged.append)
    assert "training on 29 rows, validating on 3" in logged


# --------------------------------------------------------------------------
# Missing values: imputation fitted on the training split, saved as JSON
# --------------------------------------------------------------------------


def test_imputation_fills_from_the_training_split_and_round_trips_through_json():
    frame = pd.DataFrame(
        {
            "a": [1.0, np.nan, 3.0, 5.0],
            "colour": ["red", None, "red", "blue"],
            "shade": ["dark", "", "light", "light"],
            "note": ["fine", "  ", "good", "fine"],
            "y": [0.0, 1.0, 2.0, 3.0],
        }
    )
    spec = spec_for(
        {"source": "x.csv"},
        {
            "a": {"kind": "numeric", "columns": ["a"], "missing": "impute"},
            "colour": {"kind": "categorical", "missing": "impute"},
            "shade": {"kind": "categorical", "missing": "impute", "impute_with": "most_frequent"},
            "note": {"kind": "text", "missing": "impute", "sequence_length": 3},
        },
        _vector("y"),
    )
    table = table_from_frame(frame)
    pre = Preprocessor(spec).fit(table)
    state = json.loads(json.dumps(pre.get_state()))
    assert state["inputs"]["a"]["fill"] == [3.0]
    assert (
        state["inputs"]["colour"]["fill"] == "[MISSING]"
        and "[MISSING]" in state["inputs"]["colour"]["vocabulary"]
    )
    assert state["inputs"]["shade"]["fill"] == "light"
    restored = Preprocessor(spec, state)
    inputs = restored.transform_inputs(table)
    assert inputs["a"][1, 0] == pytest.approx((3.0 - 3.0) / pre.inputs["a"].scaler.std[0])
    assert inputs["shade"][1] == inputs["shade"][2]  # filled with 'light'
    assert inputs["colour"][1] > 0  # '[MISSING]' is a category of its own, not out-of-vocabulary
    assert "missing" in restored.inputs["note"].vocabulary
    for name, values in pre.transform_inputs(table).items():
        np.testing.assert_array_equal(values, inputs[name])


def test_mask_imputes_and_gives_the_model_a_missing_indicator_per_feature():
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 10.0], "b": [None, 2, 2, 4], "y": [0.0, 1.0, 2.0, 3.0]})
    spec = spec_for(
        {"source": "x.csv", "validation_split": 0.0},
        {"size": {"kind": "numeric", "columns": ["a", "b"], "missing": "mask", "impute_with": "median"}},
        _vector("y"),
    )
    assert spec.inputs["size"].model_shape() == (4,)  # two features, then their two indicators
    prepared = prepare_data(spec, table_from_frame(frame))
    state = json.loads(json.dumps(prepared.preprocessor.get_state()))
    assert state["inputs"]["size"]["fill"] == [3.0, 2.0]  # medians of the training split
    values = prepared.train_inputs["size"]
    assert values.shape == (4, 4) and values.dtype == np.float32
    np.testing.assert_array_equal(values[:, 2:], [[0, 1], [1, 0], [0, 0], [0, 0]])
    assert values[1, 0] == values[2, 0]  # the filled value standardises like a real 3.0
    again = Preprocessor(spec, state).transform_inputs(table_from_frame(frame))["size"]
    np.testing.assert_array_equal(again, values)

    from fusegen.models import plan_model

    assert plan_model(spec).branches["size"].input_shape == (4,)


def test_mask_on_a_sensor_window_adds_one_indicator_channel_per_channel():
    windows = np.arange(24, dtype="float64").reshape(4, 3, 2)
    windows[1, 2, 0] = np.nan
    spec = load_spec(
        {
            "inputs": {"motion": {"kind": "sequence", "steps": 3, "channels": 2, "missing": "mask"}},
            "output": {"kind": "vector", "size": 1, "column": "y"},
            "data": {"validation_split": 0.0},
        }
    )
    assert spec.inputs["motion"].model_shape() == (3, 4)
    motion = prepare_data(spec, Table({"motion": windows, "y": np.zeros(4)}, "arrays")).train_inputs["motion"]
    assert motion.shape == (4, 3, 4) and np.isfinite(motion).all()
    assert motion[..., 2:].sum() == 1 and motion[1, 2, 2] == 1.0


def test_a_generator_trained_with_a_mask_samples_from_conditions_with_missing_values():
    import fusegen

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
    assert generator.describe()["inputs"]["size"]["shape"] == [4]
    samples = generator.sample(pd.DataFrame({"a": [np.nan, 0.5], "b": [0.1, np.nan]}))
    assert np.asarray(samples).shape == (2, 1) and np.isfinite(samples).all()


# --------------------------------------------------------------------------
# The tf.data pipeline
# --------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 40), st.integers(1, 16), st.integers(0, 3))
def test_each_epoch_yields_every_row_once_reshuffled_and_seeded(num_rows, batch_size, seed):
    inputs = {"row": np.arange(num_rows, dtype="int32"), "x": np.arange(num_rows, dtype="float32") * 2}
    dataset = make_dataset(inputs, np.arange(num_rows, dtype="float32"), batch_size, shuffle=True, seed=seed)
    epochs = [[(b["row"].numpy(), b["x"].numpy(), t.numpy()) for b, t in dataset] for _ in range(2)]
    for epoch in epochs:
        rows = np.concatenate([rows for rows, _, _ in epoch])
        assert sorted(rows.tolist()) == list(range(num_rows))
        for rows, x, targets in epoch:  # columns stay aligned row by row
            assert (x == rows * 2).all() and (targets == rows).all()
    again = [
        batch["row"].numpy() for batch in make_dataset(inputs, None, batch_size, shuffle=True, seed=seed)
    ]
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate([r for r, _, _ in epochs[0]]))


def test_in_memory_pipelines_are_not_autotuned_and_streamed_ones_are(tmp_path):
    """tf.data's tuning thread is joined, waiting out its period, whenever an iterator
    ends (seconds at the end of each fit): columns in memory have nothing to tune."""
    inputs = {"x": np.arange(10, dtype="float32")}
    dataset = make_dataset(inputs, np.arange(10, dtype="float32"), 4, shuffle=True, seed=0)
    assert dataset.options().autotune.enabled is False
    assert dataset.repeat().options().autotune.enabled is False  # fit repeats it
    for index in range(2):
        write_png(tmp_path / "imgs" / f"{index}.png", random_pixels(index))
    frame = pd.DataFrame({"photo": ["imgs/0.png", "imgs/1.png"], "y": [0.0, 1.0]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = spec_for(
        {"source": "d.csv", "cache": False, "validation_split": 0.0},
        {"photo": {"kind": "image", "height": 8, "width": 8}},
        _vector("y"),
    )
    prepared = prepare_data(spec, load_table(spec.data, base_dir=tmp_path))
    streamed = make_dataset(prepared.train_inputs, prepared.train_targets, batch_size=2)
    assert streamed.options().autotune.enabled is not False
