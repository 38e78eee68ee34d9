"""The similarity filter: no sampled record lies closer to a training record than training records lie to each other."""

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.data.records import RecordConverter
from fusegen.data.table import Table
from fusegen.metrics import distance_to_closest_record
from fusegen.privacy import MOST_REDRAWN, REFERENCE_FILE, SimilarityFilter
from fusegen.spec import GeneratorSpec
from tests.conftest import cli


def _converter(frame: pd.DataFrame, numeric, categorical, nullable=()):
    spec = GeneratorSpec.model_validate(
        {
            "output": {
                "kind": "record",
                "numeric": numeric,
                "categorical": categorical,
                "nullable": list(nullable),
            },
            "objective": {"type": "cvae"},
        }
    )
    return RecordConverter(spec.output).fit(_table(frame))


def _table(frame: pd.DataFrame) -> Table:
    return Table({column: frame[column].to_numpy() for column in frame.columns}, origin="test")


def _brute_distances(converter, reference: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Each row's distance to its nearest reference row, written out the slow, obvious way."""
    result = []
    for _, row in rows.iterrows():
        best = math.inf
        for _, other in reference.iterrows():
            squared = 0.0
            for name in converter.spec.numeric:
                state = converter.numeric_state[name]
                squared += ((row[name] - other[name]) / ((state["high"] - state["low"]) or 1.0)) ** 2
            squared += sum(row[name] != other[name] for name in converter.spec.categorical)
            best = min(best, math.sqrt(squared))
        result.append(best)
    return np.array(result)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    rows=st.integers(3, 25),
    labels=st.integers(1, 4),
    threshold=st.sampled_from([0.05, 0.3, 0.99, 1.0, 1.2, 1.8]),
)
def test_too_close_agrees_with_the_distance_written_out(seed, rows, labels, threshold):
    # Both searches (ids times 2 below a threshold of 1, one-hot above it) against the plain definition.
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(
        {
            "x": rng.normal(size=rows).round(1),
            "y": rng.uniform(0, 5, rows).round(1),
            "a": rng.choice([f"a{i}" for i in range(labels)], rows),
            "b": rng.choice(["u", "v"], rows),
        }
    )
    # Candidates near the reference rows: some a category off, some a small step off.
    candidates = reference.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    candidates["x"] += rng.choice([0.0, 0.05, 0.5], rows)
    flip = rng.random(rows) < 0.3
    candidates.loc[flip, "b"] = np.where(candidates.loc[flip, "b"] == "u", "v", "u")
    converter = _converter(pd.concat([reference, candidates]), ["x", "y"], ["a", "b"])
    codes = converter.distance_codes(_table(reference))
    sizes = [len(converter.vocabularies[name]) for name in ("a", "b")]
    similarity = SimilarityFilter(**codes, vocabulary_sizes=sizes, threshold=threshold)
    expected = _brute_distances(converter, reference, candidates) < threshold
    np.testing.assert_array_equal(similarity.too_close(converter, _table(candidates)), expected)


def test_the_threshold_is_the_training_rows_own_neighbour_distance():
    # Rows 0.1 apart on a line of 11 (range 1): every row's nearest neighbour is 0.1 away.
    line = pd.DataFrame({"x": np.linspace(0.0, 1.0, 11), "g": ["a"] * 11})
    converter = _converter(line, ["x"], ["g"])
    similarity = SimilarityFilter.fit(converter, _table(line), quantile=0.05)
    assert similarity.threshold == pytest.approx(0.1) and not similarity.one_hot
    between = pd.DataFrame({"x": [1.15, 0.02, 0.5], "g": ["a"] * 3})  # 0.15 beyond the line; on it
    np.testing.assert_array_equal(similarity.too_close(converter, _table(between)), [False, True, True])

    # Rows that repeat each other give a threshold of 0: nothing is ever redrawn, copies included.
    repeated = pd.DataFrame({"x": [1.0, 1.0, 2.0, 2.0] * 5, "g": ["a", "a", "b", "b"] * 5})
    converter = _converter(repeated, ["x"], ["g"])
    similarity = SimilarityFilter.fit(converter, _table(repeated), quantile=0.05)
    assert similarity.threshold == 0.0
    assert not similarity.too_close(converter, _table(repeated)).any()
    # Training says so in words (ggplot2's mpg), not as "samples closer than 0 ... are redrawn".
    from types import SimpleNamespace

    from fusegen.training import _similarity_filter

    spec = GeneratorSpec.model_validate(
        {"output": {"kind": "record", "numeric": ["x"], "categorical": ["g"]}, "objective": {"type": "cvae"}}
    )
    lines = []
    prepared = SimpleNamespace(table=_table(repeated), preprocessor=SimpleNamespace(output=converter))
    assert _similarity_filter(spec, prepared, lines.append).threshold == 0.0
    assert lines == [
        "similarity filter: redraws nothing; at least 5% of the training records have an identical record "
        "among them, so their nearest-neighbour distance at that quantile is 0"
    ]


def _grid(countries: int = 12, years: int = 10, seed: int = 0) -> pd.DataFrame:
    """One row per country and year, values smooth in the year: a panel, as gapminder is."""
    rng = np.random.default_rng(seed)
    rows = []
    for country in range(countries):
        level, slope = rng.uniform(30, 70), rng.uniform(0.2, 0.8)
        for year in range(years):
            rows.append(
                {"country": f"c{country:02d}", "year": 1950 + 5 * year, "life": level + slope * 5 * year}
            )
    return pd.DataFrame(rows)


def test_on_a_grid_the_threshold_crosses_a_category_and_copies_are_caught():
    grid = _grid()
    converter = _converter(grid, ["life"], ["country", "year"])
    similarity = SimilarityFilter.fit(converter, _table(grid), quantile=0.05)
    # Each row's nearest neighbour is the same country one step away: one mismatch plus a small step.
    assert similarity.one_hot and 1.0 < similarity.threshold < 1.1
    near_copies = grid.head(20).assign(life=lambda frame: frame["life"] + 0.5)
    assert similarity.too_close(converter, _table(near_copies)).all()
    # A row many times the range away from every row is kept.
    far = grid.head(20).assign(life=1000.0)
    assert not similarity.too_close(converter, _table(far)).any()


@pytest.mark.slow
def test_a_generator_on_a_panel_samples_no_record_closer_than_the_threshold(tmp_path):
    grid = _grid(countries=20, years=10)
    holdout = grid.sample(frac=0.2, random_state=0)
    train = grid.drop(holdout.index)
    train.to_csv(tmp_path / "panel.csv", index=False)
    spec = {
        "data": {"source": "panel.csv", "validation_split": 0.0},
        "output": {"kind": "record", "numeric": ["life"], "categorical": ["country", "year"]},
        "objective": {"type": "cvae", "latent_dim": 4},
        "conditioning": {"any_column": True},
        "training": {"epochs": 60, "batch_size": 16, "learning_rate": 0.003, "seed": 0},
    }
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    generator = fusegen.Generator(tmp_path / "spec.yaml").fit(verbose=0)
    similarity = generator.similarity_filter_
    assert similarity is not None and similarity.one_hot

    unfiltered = generator.sample(None, num_samples=400, seed=1, similarity_filter=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filtered = generator.sample(None, num_samples=400, seed=1)
    converter = generator.preprocessor_.output
    close_before = similarity.too_close(converter, _table(unfiltered)).mean()
    assert close_before > 0.2  # the model has learnt the panel well enough to sit on its rows
    counts = similarity.last_counts
    # Here 9 draws in 10 sit on a training row, so a last record may go `PATIENCE` rounds without a
    # free draw (0.9^25: 7% a record) and be kept; then it is counted, and the user warned.
    assert counts["sampled"] == 400 and counts["kept_close"] <= 2
    assert similarity.too_close(converter, _table(filtered)).sum() == counts["kept_close"]
    kept_warnings = [w for w in caught if "stayed closer" in str(w.message)]
    assert len(kept_warnings) == (1 if counts["kept_close"] else 0)
    if kept_warnings:  # unconditional: no condition pins them, so the message does not blame one
        assert "the generator rarely draws anything else" in str(kept_warnings[0].message)
    # Most draws were drawn again, and the user is told what that does to the sample.
    assert counts["redrawn"] > MOST_REDRAWN * 400
    majority = [w for w in caught if "the similarity filter drew" in str(w.message)]
    assert len(majority) == 1 and f"drew {counts['redrawn']} of 400 sampled records again" in str(
        majority[0].message
    )
    # Redraws move the random state, so later chunks' first draws differ from the unfiltered call's.
    assert counts["redrawn"] > 0.2 * 400
    assert len(filtered) == 400 and list(filtered.columns) == list(unfiltered.columns)
    # The reference implementation of the score agrees: far fewer rows inside the holdout's 5th percentile.
    scored = {
        name: distance_to_closest_record(train, frame, holdout, categorical=["country", "year"])
        for name, frame in (("before", unfiltered), ("after", filtered))
    }
    assert scored["after"]["share_closer_than_holdout_p05"] <= 0.10
    assert (
        scored["after"]["share_closer_than_holdout_p05"] < scored["before"]["share_closer_than_holdout_p05"]
    )

    # The run directory keeps the filter, checksummed, and a loaded run samples exactly as the fitted one.
    generator.save(tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert REFERENCE_FILE in manifest["files"]
    loaded = fusegen.load(tmp_path / "run")
    assert loaded.similarity_filter_.threshold == pytest.approx(similarity.threshold)
    pd.testing.assert_frame_equal(loaded.sample(None, num_samples=400, seed=1), filtered)
    # The CLI says how much the filter did, in one line.
    # (In this process, tests.conftest.cli: it has TensorFlow loaded, where a new one costs seconds.)
    code, out, err = cli(
        "sample", tmp_path / "run", "-n", "400", "--seed", "1", "--out", tmp_path / "samples.csv"
    )
    assert code == 0, err
    assert f"similarity filter: drew {counts['redrawn']} of 400 again" in out
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "samples.csv"), filtered, check_dtype=False)
    # evaluate says what the filter did to the samples it scores, beside the privacy score.
    from fusegen.evaluation import evaluate_run, summary_lines

    results = evaluate_run(loaded, tmp_path / "panel.csv", num_samples=200)
    assert results["samples"]["similarity_filter"]["sampled"] == 200
    filtered_counts = results["samples"]["similarity_filter"]
    assert filtered_counts["redrawn"] > MOST_REDRAWN * 200
    # With most of the sample drawn again, the unfiltered draws' quality is scored beside it.
    without = filtered_counts["quality_without"]
    assert 0.0 < without <= 1.0
    lines = "\n".join(summary_lines(results))
    assert "similarity filter: " in lines and "of 200 samples drawn again" in lines
    assert f"quality without the filter {without:.4f}" in lines
    # Imputation fills the user's own rows: an observed cell is never redrawn.
    imputed = loaded.impute(train.head(5).assign(life=np.nan))
    pd.testing.assert_frame_equal(
        imputed[["country", "year"]], train.head(5)[["country", "year"]].reset_index(drop=True)
    )

    # Off in the spec: no training rows in the run directory, and sampling is the first draw.
    spec["privacy"] = {"similarity_filter": False}
    spec["training"]["epochs"] = 2
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    plain = fusegen.Generator(tmp_path / "spec.yaml").fit(verbose=0)
    assert plain.similarity_filter_ is None
    plain.save(tmp_path / "plain")
    assert not (tmp_path / "plain" / REFERENCE_FILE).exists()


def test_evaluate_summary_gives_the_share_inside_the_holdouts_5th_percentile():
    from fusegen.evaluation import summary_lines

    distances = {"median": 0.2, "p05": 0.05, "exact_copies": 0, "exact_copy_share": 0.0}
    results = {
        "quality": {"score": 0.9, "column_shapes": {"score": 0.9}, "column_pair_trends": {"score": 0.9}},
        "samples": {"count": 100, "mode": "unconditional", "similarity_filter": {
            "threshold": 0.0123, "sampled": 100, "redrawn": 7, "kept_close": 0}},
        "privacy": {"synthetic": distances, "holdout": distances, "share_closer_than_holdout_p05": 0.031},
    }  # fmt: skip
    lines = summary_lines(results)
    assert lines[-2].endswith(
        "closer than the holdout's 5th percentile 3.1% (about 5% when nothing is copied)"
    )
    assert lines[-1] == (
        "similarity filter: 7 of 100 samples drawn again, closer than 0.0123 to a training record; "
        "0 kept still closer"
    )
    results["privacy"]["share_closer_than_holdout_p05"] = None  # undefined: left out, not an error
    assert summary_lines(results)[-2].endswith("exact copies 0")
    # A small holdout's percentile rests on a few rows: the training rows' own is given beside it.
    results["privacy"].update(
        holdout={**distances, "rows": 91},
        training={"p05": 0.0321, "rows": 817},
        share_closer_than_training_p05=0.041,
    )
    assert summary_lines(results)[-2] == (
        "  that percentile, 0.050, rests on 91 holdout rows; against the training rows' own 5th percentile to "
        "each other, 0.032, 4.1% of samples are closer"
    )
    results["privacy"]["holdout"]["rows"] = 400
    assert "rests on" not in summary_lines(results)[-2]


def test_a_reference_that_does_not_fit_the_run_is_refused_without_unpickling(tmp_path):
    from fusegen.errors import RunError

    grid = _grid()
    converter = _converter(grid, ["life"], ["country", "year"])
    SimilarityFilter.fit(converter, _table(grid), quantile=0.05).save(tmp_path / "good.npz")
    assert SimilarityFilter.load(tmp_path / "good.npz", converter).one_hot
    with np.load(tmp_path / "good.npz") as saved:
        arrays = dict(saved)
    bad = {
        "pickled": {**arrays, "numbers": np.array([object()], dtype=object)},
        "columns": {**arrays, "numbers": np.zeros((len(grid), 3), "float32")},
        "ids": {**arrays, "categories": arrays["categories"] + 50},
        "threshold": {**arrays, "threshold": np.asarray(np.nan)},
    }
    for name, contents in bad.items():
        np.savez(tmp_path / f"{name}.npz", **contents)
        with pytest.raises(RunError, match=f"{name}.npz"):
            SimilarityFilter.load(tmp_path / f"{name}.npz", converter)
