"""Data larger than memory: the bounded fitting pass, the split without the table, the streamed pipeline."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest

import fusegen
from fusegen.data.pipeline import prepare_data
from fusegen.data.shards import files_for_worker, shard_set, stream_decision, validation_by_key
from fusegen.data.sources import load_table
from fusegen.data.streaming import fit_streaming, stream_dataset, validation_dataset, worker_steps
from fusegen.errors import DataError, SpecError
from fusegen.spec import load_spec

LABELS = np.array(["red", "green", "blue", "grey"], dtype=object)


def write_shards(folder, num_files, rows_per_file, seed=0, suffix="parquet"):
    """Shards of a record table: two numeric inputs, a group, and a record of two numbers and a label."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(num_files):
        x1 = rng.normal(3.0, 2.0, rows_per_file)
        x2 = rng.exponential(1.0, rows_per_file)
        group = rng.integers(0, 4, rows_per_file)
        frame = pd.DataFrame(
            {
                "id": np.arange(rows_per_file) + index * rows_per_file,
                "x1": x1,
                "x2": x2,
                "group": LABELS[group],
                "y": np.round(2.0 * x1 - x2 + rng.normal(0, 0.1, rows_per_file), 2),
                "count": rng.poisson(3 + group),
                "label": LABELS[(group + (x1 > 3)) % 4],
            }
        )
        path = folder / f"part-{index:03d}.{suffix}"
        frame.to_parquet(path) if suffix == "parquet" else frame.to_csv(path, index=False)
    return str(folder / f"part-*.{suffix}")


def record_spec(source, stream=True, **data):
    return load_spec(
        {
            "data": {"source": source, "stream": stream, **data},
            "inputs": {
                "size": {"kind": "numeric", "columns": ["x1", "x2"]},
                "group": {"kind": "categorical"},
            },
            "output": {"kind": "record", "numeric": ["y", "count"], "categorical": ["label"]},
            "training": {"epochs": 3, "batch_size": 64, "learning_rate": 0.003},
        }
    )


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), num_files=4, rows_per_file=1500)


def in_memory_fit(spec, sample_rows=None):
    """The in-memory path's preprocessing on the same data and split."""
    in_memory = spec.model_copy(update={"data": spec.data.model_copy(update={"stream": False})})
    return prepare_data(in_memory, load_table(in_memory.data))


def test_streamed_fit_matches_the_in_memory_fit_on_the_same_rows(shards):
    spec = record_spec(shards, split_key="id")
    # A sample far smaller than the data: exact statistics must not depend on it.
    streamed = fit_streaming(spec, shard_set(spec.data), sample_rows=2000, batch_rows=700)
    prepared = in_memory_fit(spec)
    assert streamed.num_train == prepared.num_train
    assert streamed.num_validation == len(prepared.validation_rows)
    assert streamed.fitted_rows == {
        "size": 6000 - streamed.num_validation,
        "group": 6000,
        "record": streamed.num_train,
    }
    assert streamed.sample_rows == 2000

    got, want = streamed.preprocessor.get_state(), prepared.preprocessor.get_state()
    assert got.keys() == want.keys()  # the same JSON: fusegen.load reads it unchanged
    size_got, size_want = got["inputs"]["size"], want["inputs"]["size"]
    for key in ("mean", "std", "low", "high"):
        np.testing.assert_allclose(size_got[key], size_want[key], rtol=1e-5)
    assert got["inputs"]["group"] == want["inputs"]["group"]
    assert got["output"]["vocabularies"] == want["output"]["vocabularies"]
    for column in ("y", "count"):
        numbers_got, numbers_want = got["output"]["numeric"][column], want["output"]["numeric"][column]
        assert numbers_got.keys() == numbers_want.keys()
        for key in ("low", "high", "integer", "decimals", "step"):
            assert numbers_got[key] == numbers_want[key], (column, key)
        # Quantiles come from the 2,000-row sample and the exact tails: within 1% of the range.
        assert quantile_gap(numbers_got, numbers_want) < 0.01, column


def quantile_gap(got: dict, want: dict) -> float:
    """benchmarks/out_of_core.py's measure: the largest difference of 101 quantiles over the column's range."""
    levels = np.linspace(0, 1, 101)
    difference = np.quantile(got["quantiles"], levels) - np.quantile(want["quantiles"], levels)
    return float(np.max(np.abs(difference)) / (want["high"] - want["low"]))


def test_streamed_quantiles_match_the_in_memory_fit_on_skewed_columns(tmp_path):
    rng = np.random.default_rng(3)
    for index in range(4):
        rows = 15_000
        pd.DataFrame(
            {
                "id": np.arange(rows) + index * rows,
                "x": rng.normal(size=rows),
                "income": np.round(rng.lognormal(3.0, 1.0, rows), 2),
                "wait": rng.gamma(0.5, 2.0, rows),  # most mass by zero, a long exponential tail
            }
        ).to_parquet(tmp_path / f"part-{index}.parquet")
    spec = load_spec(
        {
            "data": {"source": str(tmp_path / "part-*.parquet"), "stream": True, "split_key": "id"},
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "record", "numeric": ["income", "wait"]},
        }
    )
    # A sample of a sixth of the rows: quantiles near the ends would err most, but those are exact.
    streamed = fit_streaming(spec, shard_set(spec.data), sample_rows=10_000)
    assert streamed.num_train > 5 * streamed.sample_rows
    for line in streamed.fitted_parts["record"]:  # too many distinct values to count: the sample's way
        assert line.endswith("the 5,000 smallest and 5,000 largest values exact"), line
    got = streamed.preprocessor.get_state()["output"]["numeric"]
    want = in_memory_fit(spec).preprocessor.get_state()["output"]["numeric"]
    for column in ("income", "wait"):
        assert len(got[column]["quantiles"]) == len(want[column]["quantiles"]) == 1000
        assert got[column]["quantiles"][0] == want[column]["low"] == want[column]["quantiles"][0]
        assert got[column]["quantiles"][-1] == want[column]["high"] == want[column]["quantiles"][-1]
        assert quantile_gap(got[column], want[column]) < 0.01, column
        assert np.all(np.diff(got[column]["quantiles"]) >= 0)


def test_standardised_record_columns_match_exactly(shards):
    spec = record_spec(shards, split_key="id")
    spec = spec.model_copy(
        update={"output": spec.output.model_copy(update={"numeric_transform": "standard"})}
    )
    streamed = fit_streaming(spec, shard_set(spec.data), sample_rows=500, batch_rows=999)
    want = in_memory_fit(spec).preprocessor.get_state()["output"]["numeric"]
    got = streamed.preprocessor.get_state()["output"]["numeric"]
    for column in ("y", "count"):
        assert got[column]["mean"] == pytest.approx(want[column]["mean"], rel=1e-9)
        assert got[column]["std"] == pytest.approx(want[column]["std"], rel=1e-9)


def test_split_by_key_is_reproducible_disjoint_and_the_same_in_memory():
    keys = np.arange(20_000)
    validation = validation_by_key(keys, 0.2)
    np.testing.assert_array_equal(validation, validation_by_key(keys, 0.2))
    assert 0.18 < validation.mean() < 0.22
    # A key's side depends on the key alone: the same in any order, in any batch.
    shuffled = np.random.default_rng(1).permutation(keys)
    np.testing.assert_array_equal(validation_by_key(shuffled, 0.2), validation[shuffled])
    # A larger share only adds rows to validation.
    assert not (validation & ~validation_by_key(keys, 0.3)).any()


def test_streamed_splits_are_disjoint_and_cover_every_row(shards):
    spec = record_spec(shards, split_key="id")
    streamed = fit_streaming(spec, shard_set(spec.data))
    ids = {}
    for split in ("train", "validation"):
        dataset = stream_dataset(streamed, spec, split, batch_size=500)
        # The id is read for the split alone; the record's 'count' stands in for the row here.
        ids[split] = sum(len(targets["label"]) for _, targets in dataset)
    assert ids["train"] == streamed.num_train and ids["validation"] == streamed.num_validation
    assert ids["train"] + ids["validation"] == 6000
    # The sample holds every validation row: validated from memory, the same rows.
    held = validation_dataset(streamed, spec, batch_size=500)
    assert sum(len(targets["label"]) for _, targets in held) == streamed.num_validation


def test_validation_by_file_holds_out_the_last_files(shards):
    spec = record_spec(shards, validation_files=1)
    streamed = fit_streaming(spec, shard_set(spec.data))
    assert (streamed.num_train, streamed.num_validation) == (4500, 1500)
    assert [path.name for path in streamed.validation_files] == ["part-003.parquet"]
    prepared = in_memory_fit(spec)
    assert (prepared.num_train, len(prepared.validation_rows)) == (4500, 1500)


def test_each_worker_reads_only_its_own_files(shards):
    spec = record_spec(shards, validation_split=0.0)
    streamed = fit_streaming(spec, shard_set(spec.data))
    rows = [
        sum(
            len(targets["label"])
            for _, targets in stream_dataset(
                streamed, spec, batch_size=256, num_workers=2, worker_index=index
            )
        )
        for index in (0, 1)
    ]
    assert rows == [3000, 3000]
    assert files_for_worker(["a", "b", "c", "d"], 2, 0) == ["a", "c"]
    with pytest.raises(DataError, match="cannot be shared out evenly among 3 workers"):
        files_for_worker(["a", "b", "c", "d"], 3, 0)


def test_an_endless_worker_stream_yields_whole_batches_for_the_smallest_workers_steps(shards):
    spec = record_spec(shards, split_key="id")
    streamed = fit_streaming(spec, shard_set(spec.data))
    steps, rows = worker_steps(streamed, num_workers=2, batch_size=128)
    assert sum(rows) == streamed.num_train and steps == min(rows) // 64
    stream = stream_dataset(
        streamed, spec, batch_size=64, shuffle=True, num_workers=2, worker_index=0, repeat=True
    )
    # Three passes and more over the worker's files, its shuffle buffer carried over: never a partial batch.
    assert {len(targets["label"]) for _, targets in stream.take(3 * steps + 5)} == {64}


def test_the_shuffle_buffer_lets_every_row_out_once_in_whole_batches():
    from fusegen.data.shuffle_buffer import ShuffleBuffer

    buffer = ShuffleBuffer(capacity=300, batch_size=64, rng=np.random.default_rng(0))
    blocks = [np.arange(start, start + 250) for start in range(0, 1000, 250)]
    batches = [batch[0] for block in blocks for batch in buffer.add([block])]
    batches += [batch[0] for batch in buffer.flush()]
    assert {len(batch) for batch in batches[:-1]} == {64} and len(batches[-1]) == 1000 % 64
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    assert rows[:64].max() > 200  # the first batch is drawn from the full pool (300 rows), not the first 64


def test_a_bad_value_mid_stream_names_its_file_and_row(tmp_path):
    source = write_shards(tmp_path, num_files=3, rows_per_file=200, suffix="csv")
    bad = tmp_path / "part-002.csv"
    frame = pd.read_csv(bad)
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[137, "x1"] = "n/a?"
    frame.to_csv(bad, index=False)
    spec = record_spec(source)
    with pytest.raises(DataError, match=r"row 137 of '.*part-002\.csv'"):
        fit_streaming(spec, shard_set(spec.data), batch_rows=64)


def test_a_file_changed_after_the_pass_is_checked_again(tmp_path):
    from fusegen.data.adapters import surface_data_errors

    source = write_shards(tmp_path, num_files=2, rows_per_file=200, suffix="csv")
    spec = record_spec(source, validation_split=0.0)
    streamed = fit_streaming(spec, shard_set(spec.data))
    assert sum(len(targets["label"]) for _, targets in stream_dataset(streamed, spec, batch_size=64)) == 400
    changed = tmp_path / "part-001.csv"
    frame = pd.read_csv(changed)
    frame.loc[17, "x1"] = np.nan
    frame.to_csv(changed, index=False)
    with (
        pytest.raises(DataError, match=r"missing values .* rows \[17\] of '.*part-001\.csv'"),
        surface_data_errors(),
    ):
        list(stream_dataset(streamed, spec, batch_size=64))


def test_streamed_training_learns_and_saves_the_same_preprocessing_json(shards, tmp_path):
    generator = fusegen.Generator(record_spec(shards, split_key="id", shuffle_buffer=1000))
    messages = []
    generator.fit(verbose=0, log=messages.append)
    assert any("streamed (data.stream: true)" in message for message in messages)
    assert any("preprocessing fitted in one pass" in message for message in messages)
    losses = generator.history_["loss"]
    assert losses[-1] < losses[0] * 0.9, losses
    assert "val_loss" in generator.history_
    generator.save(tmp_path / "run")
    loaded = fusegen.load(tmp_path / "run")
    conditions = pd.DataFrame({"x1": [3.0], "x2": [1.0], "group": ["red"]})
    samples = loaded.sample(conditions, num_samples=5)
    assert list(samples.columns) == ["y", "count", "label"]


def test_stream_auto_keeps_small_data_in_memory(shards):
    spec = record_spec(shards, stream="auto")
    found, how = stream_decision(spec.data)
    assert found is None and "in memory (data.stream: auto" in how
    assert stream_decision(record_spec(shards).data)[0] is not None
    with pytest.raises(SpecError, match="give one of data.split_column, data.split_key"):
        record_spec(shards, split_key="id", validation_files=1)


def test_fit_memory_does_not_grow_with_rows(tmp_path):
    """Peak traced memory of the fitting pass: 200,000 against 2,000,000 rows, within 50 MB."""
    peaks = {}
    for rows in (200_000, 2_000_000):
        source = write_shards(tmp_path / str(rows), num_files=4, rows_per_file=rows // 4)
        spec = record_spec(source, split_key="id")
        tracemalloc.start()
        fit_streaming(spec, shard_set(spec.data), sample_rows=5_000, batch_rows=10_000)
        peaks[rows] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[2_000_000] < peaks[200_000] + 50e6, peaks


def test_validate_reads_only_the_first_rows_and_says_it_streams(shards):
    generator = fusegen.Generator(record_spec(shards))
    report = generator.validate(sample_size=500)
    assert report.ok, report.to_dict()
    assert report.num_rows == 500
    assert report.notes[0].startswith("data: streamed (data.stream: true): 4 file(s)")
    assert generator.fitted_sizes() == {"group": 5, "output.label": 4}


def test_validate_of_every_row_says_how_many_rows_fitted_each_part(shards):
    generator = fusegen.Generator(record_spec(shards, split_key="id"))
    report = generator.validate(sample_size=None)  # fusegen validate --sample 0
    assert report.ok, report.to_dict()
    streamed = fit_streaming(generator.spec, shard_set(generator.spec.data))
    train = streamed.num_train
    assert report.to_dict()["fitted_parts"] == streamed.fitted_parts
    assert report.fitted_parts["size"] == [f"mean, scale and range: {train:,} training rows"]
    assert report.fitted_parts["group"] == ["vocabulary (4 labels): counted over 6,000 rows, both splits"]
    y, count, label = report.fitted_parts["record"]
    assert y.startswith(f"y: range and resolution: {train:,} training values; quantiles: ")
    assert count.endswith("quantiles: exact, from its 16 distinct values counted"), count
    assert label == "label: vocabulary (4 labels): counted over 6,000 rows, both splits"
    assert f"fitted: {label}" in report.parts["record"].notes
    assert any(f"{train:,} training and {6000 - train:,} validation rows" in note for note in report.notes)


def test_a_streamed_run_resumed_at_the_epoch_boundary_continues_as_the_uninterrupted_run(shards, tmp_path):
    spec = record_spec(shards, split_key="id")
    uninterrupted = fusegen.Generator(spec).fit(epochs=2, verbose=0)
    fusegen.Generator(spec).fit(epochs=1, verbose=0, run_dir=tmp_path / "run")  # the checkpoint of epoch 1
    messages = []
    resumed = fusegen.Generator(spec).fit(
        epochs=2, verbose=0, run_dir=tmp_path / "run", resume=True, log=messages.append
    )
    assert "resuming from epoch 1 (epoch_0001)" in messages
    # The second epoch reads its files and shuffle as the uninterrupted run's did: the same losses.
    assert resumed.history_["loss"] == pytest.approx(uninterrupted.history_["loss"], rel=1e-5)
    assert resumed.history_["val_loss"] == pytest.approx(uninterrupted.history_["val_loss"], rel=1e-5)


def write_image_shards(folder, num_files=2, rows_per_file=40, seed=0):
    """Shards of rows with a PNG path (relative to the shard's folder), a number, and a record label."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for index in range(num_files):
        paths, brightness = [], rng.uniform(0, 1, rows_per_file)
        for row in range(rows_per_file):
            pixels = (rng.uniform(0, 1, (10, 12, 3)) * 255 * brightness[row]).astype("uint8")
            paths.append(f"images/{index}-{row}.png")
            Image.fromarray(pixels).save(folder / paths[-1])
        frame = pd.DataFrame(
            {"id": np.arange(rows_per_file) + index * rows_per_file, "photo": paths, "x": brightness}
        )
        frame["label"] = np.where(brightness > 0.5, "bright", "dark")
        frame.to_parquet(folder / f"part-{index}.parquet")
    return str(folder / "part-*.parquet")


def image_spec(source):
    return load_spec(
        {
            "data": {"source": source, "stream": True, "split_key": "id", "validation_split": 0.2},
            "inputs": {
                "photo": {"kind": "image", "height": 8, "width": 8, "channels": 3},
                "x": {"kind": "numeric", "columns": ["x"]},
            },
            "output": {"kind": "record", "numeric": [], "categorical": ["label"]},
            "training": {"epochs": 1, "batch_size": 16},
        }
    )


def test_image_paths_stream_undecoded_and_are_decoded_per_batch_as_in_memory(tmp_path, monkeypatch):
    spec = image_spec(write_image_shards(tmp_path))
    streamed = fit_streaming(spec, shard_set(spec.data))
    assert streamed.fitted_parts["photo"] == [
        "every image decoded and checked: 80 rows, both splits; decoded per batch in training"
    ]
    # Streaming never decodes a block's column whole: that path (read_images) is not taken.
    import fusegen.data.image_converters as image_converters

    monkeypatch.setattr(image_converters, "read_images", lambda *args, **kwargs: pytest.fail("decoded whole"))
    batches = list(stream_dataset(streamed, spec, "train", batch_size=16))
    monkeypatch.undo()
    photos = np.concatenate([inputs["photo"].numpy() for inputs, _ in batches])
    numbers = np.concatenate([inputs["x"].numpy() for inputs, _ in batches])[:, 0]
    assert photos.shape == (streamed.num_train, 8, 8, 3) and photos.dtype == np.float32
    # The same floats as the in-memory converters make of the same rows (resized from 12x10).
    table = load_table(spec.data)
    want = streamed.preprocessor.transform_inputs(table)
    order = [int(np.argmin(np.abs(want["x"][:, 0] - number))) for number in numbers]
    np.testing.assert_allclose(photos, want["photo"][order], atol=1e-6)


def test_a_streamed_image_run_trains_and_a_corrupt_image_is_named_before_training(tmp_path):
    source = write_image_shards(tmp_path)
    generator = fusegen.Generator(image_spec(source))
    generator.fit(verbose=0)
    assert np.isfinite(generator.history_["loss"]).all()
    (tmp_path / "images" / "1-7.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"cannot be decoded.*1-7\.png.*row 7 of '.*part-1\.parquet'"):
        fusegen.Generator(image_spec(source)).fit(verbose=0)


def test_an_image_output_streams_from_its_paths(tmp_path):
    spec = load_spec(
        {
            "data": {"source": write_image_shards(tmp_path), "stream": True, "split_key": "id"},
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "image", "name": "photo", "column": "photo", "height": 8, "width": 8},
            "training": {"epochs": 2, "batch_size": 16},
        }
    )
    generator = fusegen.Generator(spec).fit(verbose=0)
    assert np.isfinite(generator.history_["loss"]).all()
    assert generator.sample(pd.DataFrame({"x": [0.2, 0.9]})).shape == (2, 8, 8, 3)


def test_a_nullable_column_whose_few_values_miss_the_sample_is_fitted_from_every_row(tmp_path):
    rng = np.random.default_rng(5)
    for index in range(3):
        rows = 4_000
        rebate = np.full(rows, np.nan)
        rebate[[17, 2_500]] = [12.5, 40.0] if index == 1 else [np.nan, np.nan]  # 2 values in 12,000 rows
        pd.DataFrame(
            {"id": np.arange(rows) + index * rows, "x": rng.normal(size=rows), "rebate": rebate}
        ).to_parquet(tmp_path / f"part-{index}.parquet")
    spec = load_spec(
        {
            "data": {"source": str(tmp_path / "part-*.parquet"), "stream": True, "split_key": "id"},
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "record", "numeric": ["rebate"], "nullable": ["rebate"]},
        }
    )
    # A 500-row sample almost surely holds neither value; the fit still sees them (every row's tails).
    streamed = fit_streaming(spec, shard_set(spec.data), sample_rows=500)
    rebate = streamed.preprocessor.get_state()["output"]["numeric"]["rebate"]
    held = streamed.fitted_rows["record"]
    assert held > 10 * streamed.sample_rows
    want = in_memory_fit(spec).preprocessor.get_state()["output"]["numeric"]["rebate"]
    assert (rebate["low"], rebate["high"]) == (want["low"], want["high"])
    assert rebate["quantiles"] == want["quantiles"] and rebate["fill"] == want["fill"]


def test_a_nullable_column_missing_in_every_row_is_named(tmp_path):
    pd.DataFrame({"x": np.arange(50.0), "rebate": np.full(50, np.nan)}).to_parquet(
        tmp_path / "part-0.parquet"
    )
    spec = load_spec(
        {
            "data": {"source": str(tmp_path / "part-*.parquet"), "stream": True},
            "inputs": {"x": {"kind": "numeric", "columns": ["x"]}},
            "output": {"kind": "record", "numeric": ["rebate"], "nullable": ["rebate"]},
        }
    )
    with pytest.raises(DataError, match=r"Column 'rebate'.*every value is missing"):
        fit_streaming(spec, shard_set(spec.data))


def test_an_image_folder_streams_its_pixels_decoded_per_batch(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    for index in range(24):
        label = "bright" if index % 2 else "dark"
        pixels = (rng.uniform(0, 1, (8, 8, 3)) * (200 if index % 2 else 60)).astype("uint8")
        (tmp_path / "photos" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / "photos" / label / f"{index}.png")
    raw = {
        "data": {"source": "photos", "stream": True, "validation_split": 0.25},
        "inputs": {"label": {"kind": "categorical"}},
        "output": {"kind": "image", "name": "photo", "column": "image", "height": 8, "width": 8},
        "training": {"epochs": 2, "batch_size": 8},
    }
    decision = stream_decision(load_spec(raw).data, tmp_path)
    assert decision == (
        None,
        "streamed (data.stream: true): the image folder's paths in memory, each batch's images decoded",
    )
    generator = fusegen.Generator(load_spec(raw), base_dir=tmp_path)
    prepared = prepare_data(generator.spec, generator.load_table())
    # No pixels are held: each batch decodes its own files, every epoch.
    assert prepared.train_targets.pixels is None and prepared.train_targets.shape == (18, 8, 8, 3)
    generator.fit(verbose=0)
    assert np.isfinite(generator.history_["loss"]).all()
    assert generator.sample(pd.DataFrame({"label": ["bright", "dark"]})).shape == (2, 8, 8, 3)
    with pytest.raises(SpecError, match="data.stream: true never holds decoded images"):
        load_spec({**raw, "data": {**raw["data"], "cache": True}})
    with pytest.raises(
        DataError, match="streams CSV or Parquet files or an image folder, received data.source"
    ):
        stream_decision(
            load_spec({**raw, "data": {"source": "bundled:penguins", "stream": True}}).data, tmp_path
        )
