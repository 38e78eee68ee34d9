"""Sources and preprocessing: round trips, out-of-vocabulary ids, and clear errors for bad data."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fusegen.data.pipeline import make_dataset, prepare_data, split_rows
from fusegen.data.preprocessing import Preprocessor
from fusegen.data.sources import Table, load_table, read_file, table_from_frame
from fusegen.errors import DataError
from fusegen.spec import load_spec

RECORD_SPEC = {
    "inputs": {"size": {"kind": "numeric", "columns": ["a", "b"]}, "label": {"kind": "categorical"}},
    "output": {"kind": "record", "numeric": ["x"], "categorical": ["colour"]},
    "data": {"source": "table.csv"},
}


def frame(rows=20, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(5, 2, rows),
            "b": rng.normal(-1, 0.5, rows),
            "label": rng.choice(["p", "q", "r"], rows),
            "x": rng.normal(100, 10, rows),
            "colour": rng.choice(["red", "blue"], rows),
        }
    )


def test_csv_source_resolves_relative_to_spec_folder(tmp_path):
    frame().to_csv(tmp_path / "table.csv", index=False)
    spec = load_spec(RECORD_SPEC)
    table = load_table(spec.data, base_dir=tmp_path)
    assert len(table) == 20 and set(table.columns) == {"a", "b", "label", "x", "colour"}


def test_parquet_and_npz_sources(tmp_path):
    frame().to_parquet(tmp_path / "t.parquet")
    assert len(read_file(tmp_path / "t.parquet")) == 20
    np.savez(tmp_path / "t.npz", window=np.zeros((4, 10, 2)), label=np.array(["a", "b", "a", "b"]))
    table = read_file(tmp_path / "t.npz")
    assert table.columns["window"].shape == (4, 10, 2)


def test_record_round_trip_back_to_user_units_and_labels():
    table = table_from_frame(frame())
    spec = load_spec(RECORD_SPEC)
    pre = Preprocessor(spec).fit(table)
    targets = pre.transform_targets(table)
    assert abs(targets["numeric"].mean()) < 1e-5
    back = pre.inverse_outputs(targets)
    np.testing.assert_allclose(back["x"], frame()["x"], rtol=1e-5)
    assert back["colour"].tolist() == frame()["colour"].tolist()


@settings(max_examples=25, deadline=None)
@given(
    share=st.floats(0.3, 0.95),
    at_max=st.booleans(),
    rows=st.integers(20, 3000),
    seed=st.integers(0, 10_000),
)
def test_a_point_mass_on_a_columns_end_is_not_sent_to_the_tails(share, at_max, rows, seed):
    # Capped readings (visibility 10 for 84% of hours) or zero-inflated ones (no rain 93% of the
    # time) put most rows on the column's maximum or minimum. scikit-learn's quantile transform
    # sends those to +-5.2 standard deviations; the mass must sit mid-way through its levels, and
    # the way back must still give every training value exactly.
    rng = np.random.default_rng(seed)
    spread = np.round(rng.uniform(0, 9, rows), 2)
    values = np.where(rng.random(rows) < share, 10.0 if at_max else 0.0, spread if at_max else spread + 1)
    data = frame(rows, seed)
    data["x"] = values
    pre = Preprocessor(load_spec(RECORD_SPEC)).fit(table_from_frame(data))
    scores = pre.transform_targets(table_from_frame(data))["numeric"][:, 0]
    mass = values == (10.0 if at_max else 0.0)
    # The mass covers levels [1 - share, 1] (or [0, share]): its score is the middle's.
    realised = mass.mean()
    middle = 1 - realised / 2 if at_max else realised / 2
    from scipy.stats import norm

    # Levels come on a grid of 1/rows: twenty rows place the mass's middle within a twentieth, which at
    # its score (1.44, three rows of twenty on the maximum) is 0.35 of a standard deviation.
    resolution = 1.0 / (rows * norm.pdf(norm.ppf(middle)))
    np.testing.assert_allclose(scores[mass], norm.ppf(middle), atol=max(0.1, resolution))
    assert np.abs(scores).max() < 3.5
    back = pre.inverse_outputs({"numeric": scores[:, None], "colour": np.zeros(rows, "int32")})
    np.testing.assert_allclose(back["x"], values, atol=1e-6)


def test_a_run_fitted_before_midpoint_scores_keeps_scikit_learns_transform():
    # A saved run's model was trained on its own transform: its state, which has no "scores" key,
    # must keep giving the scores it was trained on (the extremes at +-5.2).
    data = frame(50)
    data["x"] = np.where(np.arange(50) < 40, 10.0, np.linspace(0, 9, 50))
    pre = Preprocessor(load_spec(RECORD_SPEC)).fit(table_from_frame(data))
    state = pre.get_state()
    del state["output"]["numeric"]["x"]["scores"]
    restored = Preprocessor(load_spec(RECORD_SPEC), state)
    scores = restored.transform_targets(table_from_frame(data))["numeric"][:40, 0]
    np.testing.assert_allclose(scores, 5.199, atol=0.01)


def test_preprocessing_state_round_trips_through_json():
    import json

    table = table_from_frame(frame())
    spec = load_spec(RECORD_SPEC)
    pre = Preprocessor(spec).fit(table)
    restored = Preprocessor(spec, json.loads(json.dumps(pre.get_state())))
    for name, values in pre.transform_inputs(table).items():
        np.testing.assert_array_equal(values, restored.transform_inputs(table)[name])


def test_unseen_category_maps_to_out_of_vocabulary_and_is_counted():
    spec = load_spec(RECORD_SPEC)
    pre = Preprocessor(spec).fit(table_from_frame(frame()))
    new = frame(3)
    new["label"] = ["p", "never-seen", "never-seen"]
    ids = pre.transform_inputs(table_from_frame(new))["label"]
    assert ids[1] == ids[2] == 0 and ids[0] > 0
    assert pre.inputs["label"].unseen_counts["never-seen"] == 2


def test_missing_column_names_the_input_and_lists_columns():
    spec = load_spec(RECORD_SPEC)
    data = frame().drop(columns=["b"])
    with pytest.raises(DataError) as caught:
        Preprocessor(spec).fit(table_from_frame(data))
    message = str(caught.value)
    assert "Input 'size' (numeric)" in message and "column 'b'" in message and "available columns" in message
    # An output's column missing: the table is likely the wrong one (evaluate --real of another table).
    with pytest.raises(DataError, match=r"Output 'record'.*column 'x'.*Hint: give a table with the output's"):
        Preprocessor(spec).fit(table_from_frame(frame().drop(columns=["x"])))


def test_text_in_numeric_column_names_the_row():
    data = frame()
    data["a"] = data["a"].astype(object)
    data.loc[7, "a"] = "seven"
    with pytest.raises(DataError, match=r"Column 'a' of input 'size'.*'seven' in row 7"):
        Preprocessor(load_spec(RECORD_SPEC)).fit(table_from_frame(data))


def test_missing_values_error_by_default_and_drop_on_request():
    data = frame()
    data.loc[[2, 5], "x"] = np.nan
    spec = load_spec(RECORD_SPEC)
    with pytest.raises(DataError, match=r"2 row\(s\) have missing values.*\[2, 5\].*drop_rows"):
        prepare_data(spec, table_from_frame(data))
    dropping = load_spec({**RECORD_SPEC, "data": {"source": "t.csv", "missing": "drop_rows"}})
    prepared = prepare_data(dropping, table_from_frame(data))
    assert prepared.dropped_rows.tolist() == [2, 5]
    assert prepared.num_train + len(prepared.validation_rows) == 18


def test_image_with_wrong_channels_and_sequence_with_wrong_steps():
    spec = load_spec(
        {
            "inputs": {
                "photo": {"kind": "image", "height": 4, "width": 4, "channels": 3},
                "motion": {"kind": "sequence", "steps": 10, "channels": 2},
            },
            "output": {"kind": "vector", "size": 1, "column": "y"},
        }
    )
    table = Table(
        {"photo": np.zeros((5, 4, 4, 1), "uint8"), "motion": np.zeros((5, 9, 2)), "y": np.zeros(5)}, "arrays"
    )
    pre = Preprocessor(spec)
    with pytest.raises(
        DataError,
        match=r"Input 'photo' \(image\): expected each example to have shape \[4, 4, 3\], received \[4, 4, 1\]",
    ):
        pre.fit(table)
    pre.inputs["photo"].scale = 255.0
    with pytest.raises(DataError, match=r"Input 'motion' \(sequence\).*\[10, 2\], received \[9, 2\]"):
        pre.transform_inputs(table, ["motion"])


def test_columns_of_different_lengths_and_empty_data():
    with pytest.raises(DataError, match="different row counts"):
        Table({"a": np.zeros(3), "b": np.zeros(4)}, "arrays")
    with pytest.raises(DataError, match="no rows"):
        Table({"a": np.zeros(0)}, "arrays")


def test_missing_file_and_bad_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_file(tmp_path / "nope.csv")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(DataError, match="unsupported extension '.txt'"):
        read_file(tmp_path / "x.txt")


def test_unknown_bundled_dataset_lists_the_known_ones():
    spec = load_spec({**RECORD_SPEC, "data": {"source": "bundled:mnist"}})
    with pytest.raises(
        DataError,
        match="unknown bundled dataset 'mnist'; available: animal_shapes, basic_motions, emoji_edits, penguins",
    ):
        load_table(spec.data)


def test_split_is_seeded_and_disjoint():
    train, validation = split_rows(50, 0.2, seed=3)
    again = split_rows(50, 0.2, seed=3)
    assert np.array_equal(train, again[0]) and len(validation) == 10
    assert not set(train) & set(validation)


def test_dataset_yields_dict_keyed_by_input_names():
    inputs = {"a": np.zeros((10, 3), "float32"), "b": np.zeros((10,), "int32")}
    batch_inputs, batch_targets = next(iter(make_dataset(inputs, np.ones((10, 2), "float32"), batch_size=4)))
    assert set(batch_inputs) == {"a", "b"} and tuple(batch_targets.shape) == (4, 2)


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        "float32",
        st.tuples(st.integers(2, 12), st.integers(1, 5), st.integers(1, 3)),
        elements=st.floats(-1e4, 1e4, width=32),
    )
)
@example(
    np.pad(np.full((1, 1, 1), 1.8046875, "float32"), ((0, 3), (0, 4), (0, 0)))
)  # one reading among zeros
def test_sequence_standardisation_inverts(windows):
    spec = load_spec(
        {
            "inputs": {"w": {"kind": "sequence", "steps": windows.shape[1], "channels": windows.shape[2]}},
            "output": {
                "kind": "sequence",
                "name": "out",
                "column": "w",
                "steps": windows.shape[1],
                "channels": windows.shape[2],
            },
        }
    )
    table = Table({"w": windows}, "arrays")
    pre = Preprocessor(spec).fit(table)
    back = pre.inverse_outputs(pre.transform_targets(table))
    np.testing.assert_allclose(back, windows, rtol=1e-3, atol=1e-2)


def test_bundled_datasets_load():
    from fusegen.data.bundled.basic_motions import load_basic_motions
    from fusegen.data.bundled.emoji_edits import apply_edit, load_emoji_edits

    motions = load_basic_motions()
    assert motions["motion"].shape == (80, 100, 6) and set(motions["activity"]) == {
        "Standing",
        "Running",
        "Walking",
        "Badminton",
    }
    edits = load_emoji_edits(num_images=10, size=16)
    # 9 training emoji x 6 instructions, and the held-out emoji asked each twice.
    assert edits["image"].shape == (66, 16, 16, 3) and edits["image"].dtype == np.uint8
    assert set(edits["phrasing"]) == {"seen", "unseen"}
    held_out = edits["split"] == "validation"
    assert held_out.sum() == 12 and len(set(edits["emoji_name"][held_out])) == 1
    # Unseen phrasings never train, and every instruction is asked both ways on held-out emoji.
    assert set(edits["split"][edits["phrasing"] == "unseen"]) == {"validation"}
    pairs = set(zip(edits["operation"][held_out], edits["phrasing"][held_out], strict=True))
    assert len(pairs) == 12
    from fusegen.data.bundled.animal_shapes import ANIMALS, load_animal_shapes
    from fusegen.data.bundled.emoji_edits import INSTRUCTIONS

    animals = load_animal_shapes(per_class=3)
    assert animals["image"].shape == (30, 28, 28, 1) and animals["image"].dtype == np.uint8
    assert sorted(set(animals["animal"])) == list(ANIMALS)
    assert all(name in caption for name, caption in zip(animals["animal"], animals["caption"], strict=True))
    training_words = set(edits["instruction"][~held_out])
    assert not training_words & {phrasings[-1] for phrasings in INSTRUCTIONS.values()}
    image = edits["image"][0]
    np.testing.assert_array_equal(apply_edit(apply_edit(image, "flip"), "flip"), image)
    np.testing.assert_array_equal(apply_edit(image, "swap_red_blue")[..., 0], image[..., 2])
