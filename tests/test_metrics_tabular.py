"""The tabular metrics tell good synthetic records from bad, and agree with SDMetrics."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from palmerpenguins import load_penguins

from fusegen.errors import DataError
from fusegen.metrics import (
    distance_to_closest_record,
    evaluate_records,
    infer_column_kinds,
    ml_efficacy,
    plot_record_comparison,
    quality_scores,
)

NUMERIC_PENGUIN_COLUMNS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return load_penguins()


@pytest.fixture(scope="module")
def penguin_split(penguins) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = penguins.sample(frac=0.7, random_state=0)
    return train.reset_index(drop=True), penguins.drop(train.index).reset_index(drop=True)


def bootstrap(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """A good sample: rows drawn from the real ones, so every trend survives."""
    return frame.sample(len(frame), replace=True, random_state=seed).reset_index(drop=True)


def shuffle_each_column(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Right marginals, no dependence between columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({name: rng.permutation(frame[name].to_numpy()) for name in frame.columns})


def uniform_noise(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """Values in each column's range (numbers) or vocabulary (categories), drawn uniformly."""
    rng = np.random.default_rng(seed)
    columns = {}
    for name in frame.columns:
        values = frame[name].dropna()
        if pd.api.types.is_numeric_dtype(values):
            columns[name] = rng.uniform(values.min(), values.max(), len(frame))
        else:
            columns[name] = rng.choice(values.unique(), len(frame))
    return pd.DataFrame(columns)


def perturbed_penguins(penguins: pd.DataFrame) -> pd.DataFrame:
    """A plausible but imperfect synthetic table: noisy numbers, some wrong islands, more gaps."""
    rng = np.random.default_rng(1)
    synthetic = bootstrap(penguins, seed=2)
    for name in NUMERIC_PENGUIN_COLUMNS:
        synthetic[name] += rng.normal(0.0, 0.3 * synthetic[name].std(), len(synthetic))
    wrong_island = rng.random(len(synthetic)) < 0.15
    synthetic.loc[wrong_island, "island"] = rng.choice(["Biscoe", "Dream", "Torgersen"], wrong_island.sum())
    synthetic.loc[rng.random(len(synthetic)) < 0.05, "sex"] = np.nan
    return synthetic


def mixed_table(num_rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Numbers, a datetime, a boolean, integer codes and a category, with missing values."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=num_rows)
    frame = pd.DataFrame(
        {
            "x": base + shift,
            "y": 2.0 * base + rng.normal(size=num_rows),
            "when": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 400, num_rows) + (60 * base).astype(int), unit="D"),
            "flag": base + rng.normal(size=num_rows) > 0,
            "code": rng.integers(0, 4, num_rows),
            "grade": np.where(base > 0.5, "high", np.where(base < -0.5, "low", "mid")).astype(object),
        }
    )
    frame.loc[rng.random(num_rows) < 0.1, "y"] = np.nan
    frame.loc[rng.random(num_rows) < 0.1, "grade"] = None
    frame.loc[rng.random(num_rows) < 0.05, "when"] = pd.NaT
    return frame


def fresh_records(num_rows: int, seed: int) -> pd.DataFrame:
    """Independent draws from one fixed distribution: real, holdout and an honest generator."""
    rng = np.random.default_rng(seed)
    size = rng.normal(size=num_rows)
    return pd.DataFrame(
        {
            "size": size,
            "weight": 1.5 * size + rng.normal(scale=0.5, size=num_rows),
            "grade": np.where(size + rng.normal(scale=0.5, size=num_rows) > 0, "a", "b"),
        }
    )


def test_metrics_load_without_keras_or_tensorflow():
    # Metrics must score any generator's output, so they stay out of the model stack.
    code = (
        "import sys, fusegen.metrics; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- quality


def test_identical_tables_score_one(penguins):
    quality = quality_scores(penguins, penguins.copy())

    assert quality["score"] == pytest.approx(1.0)
    assert quality["column_shapes"]["score"] == pytest.approx(1.0)
    assert quality["column_pair_trends"]["score"] == pytest.approx(1.0)
    assert quality["column_pair_trends"]["score_all_pairs"] == pytest.approx(1.0)


def test_column_order_and_dtype_of_synthetic_do_not_matter(penguins):
    synthetic = penguins[list(reversed(penguins.columns))].astype({"year": "float64"})

    assert quality_scores(penguins, synthetic)["score"] == pytest.approx(1.0)


def test_noise_scores_clearly_lower_than_a_resample(penguins):
    resample = quality_scores(penguins, bootstrap(penguins))
    noise = quality_scores(penguins, uniform_noise(penguins))

    assert resample["column_shapes"]["score"] > 0.9
    assert resample["column_shapes"]["score"] - noise["column_shapes"]["score"] > 0.1
    assert resample["score"] - noise["score"] > 0.15


def test_pair_trends_tell_a_resample_from_independent_shuffles(penguins):
    resample = quality_scores(penguins, bootstrap(penguins))
    shuffled = quality_scores(penguins, shuffle_each_column(penguins))

    # Shuffling keeps every marginal, so only the pair trends can tell them apart.
    assert shuffled["column_shapes"]["score"] == pytest.approx(1.0)
    assert resample["column_pair_trends"]["score"] > 0.9
    assert resample["column_pair_trends"]["score"] - shuffled["column_pair_trends"]["score"] > 0.2


def test_pairs_use_the_metric_of_their_kinds(penguins):
    pairs = {
        tuple(pair["columns"]): pair
        for pair in quality_scores(penguins, penguins)["column_pair_trends"]["pairs"]
    }

    assert len(pairs) == 8 * 7 // 2
    assert pairs[("flipper_length_mm", "body_mass_g")]["metric"] == "CorrelationSimilarity"
    assert pairs[("flipper_length_mm", "body_mass_g")]["real_correlation"] == pytest.approx(0.871, abs=1e-3)
    assert pairs[("species", "island")]["metric"] == "ContingencySimilarity"
    assert pairs[("species", "bill_length_mm")]["metric"] == "ContingencySimilarity"
    assert pairs[("species", "island")]["meets_threshold"]
    # Body mass hardly moves with the year, so that pair does not count.
    assert not pairs[("body_mass_g", "year")]["meets_threshold"]


def _sdmetrics_report(real, synthetic, sdtypes, correlation_threshold, association_threshold):
    with warnings.catch_warnings():
        # The single-table report class is deprecated in favour of a unified one; same numbers.
        warnings.simplefilter("ignore", FutureWarning)
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        report.real_correlation_threshold = correlation_threshold
        report.real_association_threshold = association_threshold
        metadata = {"columns": {name: {"sdtype": sdtype} for name, sdtype in sdtypes.items()}}
        report.generate(real, synthetic, metadata, verbose=False)
    return report


def _assert_agrees_with_sdmetrics(real, synthetic, sdtypes, categorical=None):
    for correlation_threshold, association_threshold in [(0.5, 0.3), (0.0, 0.0)]:
        report = _sdmetrics_report(real, synthetic, sdtypes, correlation_threshold, association_threshold)
        ours = quality_scores(
            real,
            synthetic,
            categorical=categorical,
            real_correlation_threshold=correlation_threshold,
            real_association_threshold=association_threshold,
        )
        properties = report.get_properties().set_index("Property")["Score"]

        assert ours["score"] == pytest.approx(report.get_score(), abs=0.01)
        assert ours["column_shapes"]["score"] == pytest.approx(properties["Column Shapes"], abs=0.01)
        assert ours["column_pair_trends"]["score"] == pytest.approx(
            properties["Column Pair Trends"], abs=0.01
        )
        shapes = report.get_details("Column Shapes").set_index("Column")["Score"]
        for name, column in ours["column_shapes"]["columns"].items():
            assert column["score"] == pytest.approx(shapes[name], abs=0.01), name
        expected_pairs = report.get_details("Column Pair Trends")
        for pair, (_, expected) in zip(
            ours["column_pair_trends"]["pairs"], expected_pairs.iterrows(), strict=True
        ):
            assert pair["columns"] == [expected["Column 1"], expected["Column 2"]]
            assert pair["metric"] == expected["Metric"]
            if pair["meets_threshold"]:
                assert pair["score"] == pytest.approx(expected["Score"], abs=0.01), pair["columns"]
    return ours, report


def test_quality_agrees_with_sdmetrics_on_penguins(penguins):
    synthetic = perturbed_penguins(penguins)
    sdtypes = {
        name: "numerical" if name in [*NUMERIC_PENGUIN_COLUMNS, "year"] else "categorical"
        for name in penguins
    }

    ours, report = _assert_agrees_with_sdmetrics(penguins, synthetic, sdtypes)

    # The perturbation is visible: far from 1, far from noise.
    assert 0.8 < ours["score"] < 0.97


def test_quality_agrees_with_sdmetrics_on_datetimes_booleans_codes_and_gaps():
    real = mixed_table(400, seed=0)
    synthetic = mixed_table(500, seed=5, shift=0.3)
    synthetic.loc[:10, "grade"] = "unseen"
    synthetic.loc[0, "x"] = 40.0  # one outlier moves the synthetic table's own bins
    sdtypes = {
        "x": "numerical",
        "y": "numerical",
        "when": "datetime",
        "flag": "boolean",
        "code": "categorical",
        "grade": "categorical",
    }

    _assert_agrees_with_sdmetrics(real, synthetic, sdtypes, categorical=["code"])


def test_column_kinds():
    kinds = infer_column_kinds(mixed_table(10, seed=0), categorical=["code"])

    assert kinds == {
        "x": "numeric",
        "y": "numeric",
        "when": "datetime",
        "flag": "categorical",
        "code": "categorical",
        "grade": "categorical",
    }


# --------------------------------------------------------------------------- ML efficacy


def test_ml_efficacy_tells_a_resample_from_shuffled_labels(penguin_split):
    train, holdout = penguin_split
    resample = bootstrap(train)
    shuffled_labels = resample.assign(species=np.random.default_rng(0).permutation(resample["species"]))

    good = ml_efficacy(train, resample, holdout, "species")
    bad = ml_efficacy(train, shuffled_labels, holdout, "species")

    assert good["task"] == "classification" and good["metric"] == "macro_f1"
    assert set(good["models"]) == {"random_forest", "logistic_regression"}
    for model in good["models"].values():
        assert model["real"]["macro_f1"] > 0.9
        assert set(model["real"]) == {"macro_f1", "accuracy"}
    assert good["ratio"] > 0.9
    assert bad["ratio"] < 0.6
    assert good["ratio"] - bad["ratio"] > 0.4


def test_ml_efficacy_of_a_numeric_target_is_r2(penguin_split):
    train, holdout = penguin_split

    result = ml_efficacy(train, bootstrap(train), holdout, "body_mass_g")

    assert result["task"] == "regression" and result["metric"] == "r2"
    assert set(result["models"]) == {"random_forest", "ridge_regression"}
    # Rows without a body mass are left out of training and testing.
    assert result["num_rows"]["real"] == train["body_mass_g"].notna().sum()
    assert result["models"]["ridge_regression"]["real"]["r2"] > 0.7
    assert result["ratio"] > 0.9


def test_whole_number_labels_with_gaps_match_their_integer_samples(penguin_split):
    # A column of whole numbers with gaps reads as floats (2007.0) where samples hold Int64 (2007).
    train, holdout = penguin_split
    train, holdout = (frame.assign(year=frame["year"].astype("float64")) for frame in (train, holdout))
    train.loc[train.index[:5], "year"] = np.nan
    synthetic = bootstrap(train.dropna(subset=["year"])).astype({"year": "Int64"})

    result = ml_efficacy(train, synthetic, holdout, "year", categorical=["year"])

    for model in result["models"].values():
        assert model["synthetic"]["accuracy"] > 0.5 * model["real"]["accuracy"] > 0


def test_a_synthetic_table_with_one_class_scores_low_instead_of_failing(penguin_split):
    train, holdout = penguin_split
    collapsed = train[train["species"] == "Adelie"]

    result = ml_efficacy(train, collapsed, holdout, "species")

    assert result["ratio"] < 0.5


def test_a_target_the_real_rows_cannot_predict_has_no_ratio_and_the_summary_says_so():
    """mtcars' car names as the target: every holdout car is a class never seen, so the real score is
    0 and the ratio undefined; `fusegen evaluate` printed a TypeError there."""
    from fusegen.evaluation import summary_lines

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"name": [f"car {index}" for index in range(40)], "mpg": rng.normal(20, 4, 40)})
    results = evaluate_records(
        frame[:30], frame[:30], holdout=frame[30:], target="name", categorical=["name"]
    )
    assert results["ml_efficacy"]["ratio"] is None
    results["samples"] = {"count": 30, "mode": "unconditional"}  # as evaluate_run adds it
    line = next(line for line in summary_lines(results) if line.startswith("ML efficacy"))
    assert line == (
        "ML efficacy for 'name' (macro_f1): synthetic/real = n/a (real rows score 0.000, chance 0.100, "
        "nothing to keep)"
    )


def test_a_target_the_real_rows_predict_no_better_than_chance_has_no_ratio():
    """survival's rhdnase: a randomised treatment arm, real macro F1 0.45, synthetic 0.58, reported as
    a ratio of 1.29, as if the synthetic rows taught more than the real ones."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"arm": rng.choice(["a", "b"], 600), "age": rng.normal(40, 9, 600)})
    result = ml_efficacy(frame[:400], frame[:400].sample(frac=1.0, random_state=1), frame[400:], "arm")
    assert result["chance"] == 0.5 and result["ratio"] is None
    # A learnable target keeps its ratio.
    frame["arm"] = np.where(frame["age"] > 40, "a", "b")
    assert ml_efficacy(frame[:400], frame[:400], frame[400:], "arm")["ratio"] == pytest.approx(1.0)


def test_the_default_ml_target_is_a_column_a_classifier_can_learn(penguins):
    """Cars93's first categorical is its 32 manufacturers over 84 cars; the default skips such a
    column for the first of 2-20 labels, and a constant, for the same reason."""
    from fusegen.evaluation import default_ml_target

    frame = penguins.assign(maker=[f"m{index % 60}" for index in range(len(penguins))], planet="earth")
    assert default_ml_target(frame, ["maker", "planet", "island", "sex"]) == "island"
    assert default_ml_target(frame, ["maker"]) == "maker"  # nothing better: the first
    # A designated condition (init --condition sex) comes first, if a classifier can learn it.
    assert default_ml_target(frame, ["maker", "planet", "island", "sex"], preferred=["sex"]) == "sex"
    assert default_ml_target(frame, ["maker", "planet", "island", "sex"], preferred=["maker"]) == "island"
    assert default_ml_target(frame, []) is None
    # planes' type is 99% one label and pm25's parameter a relabelling of another column: every model
    # scores the same on such a target, so the default passes them over where anything else is left.
    frame = frame.assign(kind=["fixed wing"] * (len(frame) - 2) + ["rotor"] * 2, code=frame["island"].str[:3])
    assert default_ml_target(frame, ["kind", "island", "sex"]) == "island"
    assert default_ml_target(frame, ["island", "code", "sex"], determined_by={"code": "island"}) == "sex"
    assert default_ml_target(frame, ["kind"]) == "kind"  # nothing better
    # billboard's chart week 34 holds a rank on 9 of 317 songs: one holdout row to score.
    week = np.where(np.arange(len(frame)) % 30 == 0, frame["island"], None)
    assert default_ml_target(frame.assign(week=week), ["week", "island"]) == "island"


# --------------------------------------------------------------------------- privacy


def test_dcr_flags_copied_training_rows():
    train, holdout = fresh_records(400, seed=0), fresh_records(200, seed=1)
    copies = bootstrap(train)

    privacy = distance_to_closest_record(train, copies, holdout)

    assert privacy["synthetic"]["exact_copies"] == len(copies)
    assert privacy["synthetic"]["exact_copy_share"] == 1.0
    assert privacy["synthetic"]["median"] == 0.0
    assert privacy["synthetic"]["median"] < privacy["holdout"]["median"]
    assert privacy["share_closer_than_holdout_p05"] == 1.0


def test_dcr_of_a_fresh_sample_matches_the_holdout():
    train, holdout = fresh_records(400, seed=0), fresh_records(200, seed=1)
    fresh = fresh_records(400, seed=2)

    privacy = distance_to_closest_record(train, fresh, holdout)

    assert privacy["synthetic"]["exact_copies"] == 0
    assert privacy["holdout"]["exact_copies"] == 0
    assert privacy["synthetic"]["median"] == pytest.approx(privacy["holdout"]["median"], rel=0.3)
    assert privacy["share_closer_than_holdout_p05"] < 0.15
    # The training rows' distances to each other give the same percentile, from every training row.
    assert privacy["training"]["p05"] == pytest.approx(privacy["holdout"]["p05"], rel=0.5)
    assert privacy["share_closer_than_training_p05"] < 0.15
    assert (privacy["training"]["rows"], privacy["holdout"]["rows"]) == (400, 200)


def test_dcr_of_copies_is_inside_the_training_rows_own_5th_percentile():
    train, holdout = fresh_records(400, seed=0), fresh_records(200, seed=1)
    privacy = distance_to_closest_record(train, bootstrap(train), holdout)
    assert privacy["share_closer_than_training_p05"] == 1.0


def test_dcr_counts_a_category_mismatch_as_one():
    train = pd.DataFrame({"size": [0.0, 1.0], "grade": ["a", "b"]})
    synthetic = pd.DataFrame({"size": [0.0], "grade": ["b"]})  # train row 1 differs in size only

    privacy = distance_to_closest_record(train, synthetic, holdout=train)

    assert privacy["synthetic"]["median"] == pytest.approx(1.0)
    assert privacy["holdout"]["exact_copies"] == 2


# --------------------------------------------------------------------------- the whole report


def test_evaluate_records_is_json_and_has_every_part(penguin_split):
    train, holdout = penguin_split

    report = evaluate_records(train, perturbed_penguins(train), holdout=holdout, target="species", seed=3)

    assert set(report) == {"columns", "quality", "ml_efficacy", "privacy"}
    assert report["columns"]["body_mass_g"] == "numeric"
    json.dumps(report, allow_nan=False)


def test_evaluate_records_without_holdout_reports_quality_only(penguins):
    assert set(evaluate_records(penguins, penguins)) == {"columns", "quality"}


def test_wrong_columns_name_the_column(penguins):
    with pytest.raises(DataError, match=r"Missing: \['sex'\]"):
        quality_scores(penguins, penguins.drop(columns="sex"))
    with pytest.raises(DataError, match=r"not in the real data: \['extra'\]"):
        quality_scores(penguins, penguins.assign(extra=1))


def test_bad_input_gets_a_data_error(penguins, penguin_split):
    train, holdout = penguin_split
    with pytest.raises(DataError, match="synthetic data is empty"):
        evaluate_records(penguins, penguins.iloc[:0])
    with pytest.raises(DataError, match="real data is empty"):
        evaluate_records(penguins.iloc[:0], penguins)
    with pytest.raises(DataError, match="target='weight' is not a column"):
        evaluate_records(train, train, holdout=holdout, target="weight")
    with pytest.raises(DataError, match="Received holdout=None"):
        evaluate_records(train, train, target="species")
    with pytest.raises(DataError, match=r"categorical= names columns .*\['colour'\]"):
        evaluate_records(train, train, categorical=["colour"])
    with pytest.raises(DataError, match='Column "body_mass_g" as numeric in the synthetic data'):
        quality_scores(penguins, penguins.assign(body_mass_g="heavy"))


# --------------------------------------------------------------------------- plots


def test_plots_are_written_as_png_files(tmp_path, penguins):
    paths = plot_record_comparison(penguins, perturbed_penguins(penguins), tmp_path / "plots")

    assert set(paths) == {"distributions", "correlations"}
    for path in paths.values():
        assert path.parent == tmp_path / "plots"
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert path.stat().st_size > 10_000
    # Only the finished files remain: the temporary names were renamed into place.
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == [
        "correlations.png",
        "distributions.png",
    ]


def test_free_text_labels_plot_as_short_printable_ticks_without_warnings(tmp_path):
    """HHS breach descriptions (Ecdat): paragraphs, one with a control character, as a category's labels.
    Drawn whole, they collapsed the layout and warned of a glyph no font has."""
    import warnings

    from fusegen.metrics.plots import MAX_TICK_LABEL_CHARS, _tick_label

    paragraph = "A binder holding the records of 1,272 people was stolen from a car. " * 20
    labels = pd.Series([paragraph + "\x1a", paragraph + "x", "\\N", "\\N"] * 25)
    real = pd.DataFrame({"description": labels, "x": np.arange(100.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = plot_record_comparison(real, real.sample(frac=1.0, random_state=0), tmp_path)
    assert paths["distributions"].stat().st_size > 0
    assert _tick_label(paragraph + "\x1a") == paragraph[: MAX_TICK_LABEL_CHARS - 1] + "\u2026"
    assert _tick_label("a\x1ab") == "a b" and _tick_label("short") == "short"


def test_object_labels_that_are_numbers_score_against_typed_ones_without_warnings():
    import warnings

    real = pd.DataFrame({"code": np.array([1, 2, 2, 3] * 25), "x": np.arange(100.0)})
    synthetic = real.astype({"code": object})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = quality_scores(real, synthetic, categorical=["code"])
    assert scores["column_shapes"]["columns"]["code"]["score"] == pytest.approx(1.0)


def test_plots_skip_correlations_with_one_continuous_column(tmp_path):
    table = mixed_table(100, seed=0)[["when", "flag", "grade"]]

    paths = plot_record_comparison(table, mixed_table(100, seed=1)[["when", "flag", "grade"]], tmp_path)

    assert set(paths) == {"distributions"}
    assert paths["distributions"].stat().st_size > 0


def test_the_summary_shows_the_scores_a_ratio_is_of_beside_chance(penguin_split):
    """ratdat's surveys: 'synthetic/real = 0.909' for sex, where the real rows scored 0.624 against
    chance 0.5 and the synthetic 0.529: the ratio alone read as a relation kept."""
    from fusegen.evaluation import summary_lines

    train, holdout = penguin_split
    results = evaluate_records(
        train, train, holdout=holdout, target="species", categorical=["species", "island", "sex"]
    )
    results["samples"] = {"count": len(train), "mode": "unconditional"}
    efficacy = results["ml_efficacy"]
    best = max(efficacy["models"], key=lambda name: efficacy["models"][name]["real"]["macro_f1"])
    scores = efficacy["models"][best]
    line = next(line for line in summary_lines(results) if line.startswith("ML efficacy"))
    assert line == (
        f"ML efficacy for 'species' (macro_f1): synthetic/real = {efficacy['ratio']:.3f} ({best}: synthetic "
        f"{scores['synthetic']['macro_f1']:.3f}, real {scores['real']['macro_f1']:.3f}; chance "
        f"{efficacy['chance']:.3f})"
    )
