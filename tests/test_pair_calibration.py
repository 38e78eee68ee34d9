"""How a record's labels go together matches the training data's (``objective.label_pairs``).

The table: a rare label of ``plan`` (6% of rows) is almost always beside
``outcome = yes``, which is rare elsewhere; a short fit draws that relation
weakened, as the decoder's one latent carries it loosely. Calibrated, the
drawn conditional shares come back to the data's.
"""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.fileio import sha256
from fusegen.objectives.pair_calibration import SHRINK_ROWS, PairCalibration
from fusegen.objectives.unseen_pairs import UnseenPairs
from fusegen.spec import load_spec

#: P(outcome = yes | plan) in the table.
YES_GIVEN = {"basic": 0.1, "plus": 0.2, "rare": 0.95}


def table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(list(YES_GIVEN), rows, p=[0.64, 0.3, 0.06])
    outcome = np.where(rng.random(rows) < np.vectorize(YES_GIVEN.get)(plan), "yes", "no")
    size = rng.normal(10, 2, rows) + (outcome == "yes")
    return pd.DataFrame({"size": size, "plan": plan, "outcome": outcome})


def spec(pairs: str) -> dict:
    return {
        "output": {"kind": "record", "numeric": ["size"], "categorical": ["plan", "outcome"],
                   "head": {"type": "mlp", "units": [16]}},
        "objective": {"type": "cvae", "latent_dim": 2, "label_pairs": pairs},
        "conditioning": {"any_column": True},  # as fusegen init writes it
        # Short on purpose: the decoder has not learned the rare label's relation yet.
        "training": {"batch_size": 64, "epochs": 2, "steps_per_epoch": 15, "seed": 0},
    }  # fmt: skip


@pytest.fixture(scope="module")
def fitted():
    data = table(3000, seed=0)
    return {
        pairs: fusegen.Generator(load_spec(spec(pairs))).fit(data, verbose=0)
        for pairs in ("off", "calibrate")
    }


def yes_given_rare(frame: pd.DataFrame) -> float:
    return float((frame.loc[frame["plan"] == "rare", "outcome"] == "yes").mean())


def test_a_rare_label_s_strong_relation_comes_back_calibrated(fitted):
    off = fitted["off"].sample(None, num_samples=6000, seed=1)
    calibrated = fitted["calibrate"].sample(None, num_samples=6000, seed=1)
    truth = YES_GIVEN["rare"]
    assert abs(yes_given_rare(calibrated) - truth) < 0.08
    assert abs(yes_given_rare(calibrated) - truth) < abs(yes_given_rare(off) - truth)
    # Each column's own shares stay the data's.
    for column, share in (("plan", 0.06), ("outcome", 0.64 * 0.1 + 0.3 * 0.2 + 0.06 * 0.95)):
        label = "rare" if column == "plan" else "yes"
        assert abs((calibrated[column] == label).mean() - share) < 0.03


def test_a_saved_calibrated_run_samples_the_same_and_an_older_run_samples_as_it_did(fitted, tmp_path):
    generator = fitted["calibrate"]
    run = generator.save(tmp_path / "run")
    assert (run / "label_pairs.keras").exists()
    loaded = fusegen.load(run)
    pd.testing.assert_frame_equal(
        loaded.sample(None, num_samples=300, seed=7), generator.sample(None, num_samples=300, seed=7)
    )
    # Written before 0.26.0: no tables, so the labels are drawn as they were (in the model's order).
    (run / "label_pairs.keras").unlink()
    # Deleted from a run whose manifest lists it: an incomplete copy, said with the fix.
    with pytest.raises(
        fusegen.errors.RunError, match=r"label_pairs.keras is missing, though the run's manifest"
    ):
        fusegen.load(run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = {name: sha256(run / name) for name in manifest["files"] if (run / name).exists()}
    (run / "manifest.json").write_text(json.dumps(manifest))
    older = fusegen.load(run)
    assert older.model_.pair_calibration is None
    assert len(older.sample(None, num_samples=50, seed=1)) == 50


def test_a_given_label_of_a_part_drawn_first_steers_the_next_as_the_data_does(fitted):
    """outcome (2 labels) is drawn before plan (3), so a given outcome reads plan's table. (A given
    plan does not steer outcome through the tables: only the any-column conditioning does.)"""
    data = table(3000, seed=0)
    truth = (data.loc[data["outcome"] == "yes", "plan"] == "rare").mean()
    shares = {}
    for pairs, generator in fitted.items():
        given = generator.sample({"outcome": ["yes"]}, num_samples=2000, seed=2)
        assert (given["outcome"] == "yes").all()
        shares[pairs] = (given["plan"] == "rare").mean()
    assert abs(shares["calibrate"] - truth) < 0.1
    assert abs(shares["calibrate"] - truth) < abs(shares["off"] - truth)


def draw_with(calibration: PairCalibration, logits: dict, order: list[str], uniforms: np.ndarray) -> dict:
    """Labels drawn part after part as sampling draws them, with the calibration's tables."""
    tables = calibration.tables()

    def shift_of(own, known):
        if own not in tables:
            return 0.0
        start, total = 0, 0.0
        for other in calibration.earlier[own]:
            total = total + tables[own][start + known[other]]
            start += calibration.sizes[other]
        return total

    pairs = UnseenPairs({}, calibration.sizes)
    return pairs.draw(logits, order, lambda position, _: uniforms[:, position : position + 1], shift_of)[1]


def measured(sizes: dict, logits: dict, data: dict, rows: int, seed: int = 0) -> PairCalibration:
    calibration = PairCalibration(sizes, list(sizes))
    uniforms = np.random.default_rng(seed).random((len(next(iter(logits.values()))), len(sizes)))
    calibration.measure(list(sizes), lambda part, known: logits[part], data, uniforms, rows)
    return calibration


@settings(max_examples=10, deadline=None)
@given(
    st.lists(st.floats(0.05, 0.95), min_size=3, max_size=3),
    st.lists(st.floats(0.05, 0.95), min_size=2, max_size=2),
    st.integers(0, 2**16),
)
def test_fitted_tables_give_the_data_s_pairs_from_independent_draws(b_given_a, c_given_b, seed):
    """From logits that know nothing of the pairs, the tables alone give each label of ``a`` the data's
    share of ``b``, and of ``c`` beside both (its two tables fitted together), within the drawing
    noise and the shrinkage toward the draws."""
    rng = np.random.default_rng(seed)
    rows = 20_000
    a = rng.choice(3, rows, p=[0.5, 0.3, 0.2])
    b = (rng.random(rows) < np.asarray(b_given_a)[a]).astype(int)
    c = (rng.random(rows) < np.asarray(c_given_b)[b]).astype(int)
    shares_a = np.bincount(a, minlength=3) / rows
    logits = {"a": np.tile(np.log(shares_a), (rows, 1)), "b": np.zeros((rows, 2)), "c": np.zeros((rows, 2))}
    calibration = measured({"a": 3, "b": 2, "c": 2}, logits, {"a": a, "b": b, "c": c}, rows, seed)
    drawn = draw_with(calibration, logits, ["a", "b", "c"], rng.random((rows, 3)))
    for first, second in (("a", "b"), ("a", "c"), ("b", "c")):
        data, sampled = {"a": a, "b": b, "c": c}, drawn
        for label in np.unique(data[first]):
            data_share = data[second][data[first] == label].mean()
            drawn_share = sampled[second][sampled[first] == label].mean()
            assert abs(drawn_share - data_share) < 0.04, (first, second, label, data_share, drawn_share)


@pytest.mark.parametrize("rare_rows", [2, 12])
def test_a_label_of_a_few_rows_is_not_pinned_to_its_rows_partners(rare_rows):
    """A few training rows of label 2, all beside b = 1: copying them would pin it. Two rows are no
    evidence against the decoder's even odds (the G-test), so nothing moves; twelve are, and the
    shares they give are shrunk toward the decoder's by SHRINK_ROWS rows, so it moves only that far."""
    rows = 4000
    a = np.r_[np.zeros(rows - rare_rows, int), [2] * rare_rows]
    b = np.r_[np.arange(rows - rare_rows) % 2, [1] * rare_rows]
    logits = {"a": np.zeros((rows, 3)), "b": np.zeros((rows, 2))}
    table = measured({"a": 3, "b": 2}, logits, {"a": a, "b": b}, rows).tables()["b"]
    odds = np.exp(table[2, 1] - table[2, 0])
    if rare_rows == 2:
        assert odds == 1.0 and not table.any()
    else:
        wanted = (rare_rows + SHRINK_ROWS * 0.5) / (SHRINK_ROWS * 0.5)  # the shrunk share's odds
        assert 1.0 < odds <= wanted * 1.05


def test_only_pairs_the_decoder_clearly_misses_are_fitted():
    """Draws that already follow the data (b copies a's parity, in the logits) leave the table at zero;
    the rows' noise is not fitted."""
    rng = np.random.default_rng(3)
    rows = 20_000
    a = rng.choice(4, rows)
    b = np.where(rng.random(rows) < 0.8, a % 2, 1 - a % 2)
    # Each draw's a is the row's (its logits all but certain), and b's logits know a's parity.
    logits = {"a": 50.0 * np.eye(4)[a], "b": np.log(np.where(np.eye(2)[a % 2] > 0, 0.8, 0.2))}
    assert not measured({"a": 4, "b": 2}, logits, {"a": a, "b": b}, rows).tables()["b"].any()


def test_pairs_of_wide_columns_are_left_out_and_the_order_reads_earlier_parts_only():
    calibration = PairCalibration({"small": 2, "mid": 5, "wide": 3000}, ["small", "mid", "wide"])
    assert calibration.earlier == {"mid": ["small"]}
    assert calibration.entries == 2 * 5
    assert not PairCalibration({"only": 4}, ["only"])
