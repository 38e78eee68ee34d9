"""Label pairs the training rows rule out are never sampled (``output.unseen_label_pairs``).

The table: Gentoo penguins live only on Biscoe, Chinstraps only on Dream,
Adelies on all three islands; a bill length follows the species, and a
nullable weight is missing only beside Adelies. A short fit draws some
rows on pairs no training row has when each label is drawn on its own; with
the pairs ruled out, none.
"""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.data.label_pairs import MIN_EXPECTED_ROWS, fit_unseen_pairs, unseen_pair_ids
from fusegen.fileio import sha256
from fusegen.spec import load_spec

ISLANDS = {"Gentoo": ["Biscoe"], "Chinstrap": ["Dream"], "Adelie": ["Biscoe", "Dream", "Torgersen"]}
RULED_OUT = {
    ("Gentoo", "Dream"),
    ("Gentoo", "Torgersen"),
    ("Chinstrap", "Biscoe"),
    ("Chinstrap", "Torgersen"),
}


def penguins(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    species = rng.choice(list(ISLANDS), rows, p=[0.35, 0.25, 0.4])
    island = np.array([rng.choice(ISLANDS[kind]) for kind in species])
    bill = np.select([species == "Gentoo", species == "Chinstrap"], [47.0, 49.0], 39.0) + rng.normal(
        0, 2, rows
    )
    weight = np.where((species == "Adelie") & (rng.random(rows) < 0.5), np.nan, rng.normal(4000, 300, rows))
    return pd.DataFrame({"bill": bill, "weight": weight, "species": species, "island": island})


def spec(pairs: str = "rule_out") -> dict:
    return {
        "output": {
            "kind": "record", "numeric": ["bill", "weight"], "categorical": ["species", "island"],
            "nullable": ["weight"], "unseen_label_pairs": pairs, "head": {"type": "mlp", "units": [32]},
        },
        "objective": {"type": "cvae", "latent_dim": 2},
        # Short on purpose: drawn on their own, this model's labels land on unseen pairs often.
        "training": {"batch_size": 64, "epochs": 3, "steps_per_epoch": 20, "seed": 0},
    }  # fmt: skip


def unseen_share(frame: pd.DataFrame) -> float:
    return float(np.mean([pair in RULED_OUT for pair in zip(frame["species"], frame["island"], strict=True)]))


@pytest.fixture(scope="module")
def fitted():
    data = penguins(1200, seed=0)
    return {
        pairs: fusegen.Generator(load_spec(spec(pairs))).fit(data, verbose=0)
        for pairs in ("rule_out", "allow")
    }


def test_the_pairs_no_row_has_where_chance_would_have_shown_them_are_found():
    data = penguins(1200, seed=0)
    missing = data["weight"].isna().astype(int).to_numpy()
    found = fit_unseen_pairs(
        {"species": data["species"], "island": data["island"], "weight_is_missing": missing}
    )
    by_parts = {(first, second): {tuple(pair) for pair in pairs} for first, second, pairs in found}
    assert by_parts[("species", "island")] == RULED_OUT
    # Gentoos and Chinstraps are always weighed: their missing flag is never 1.
    assert by_parts[("species", "weight_is_missing")] == {("Gentoo", "1"), ("Chinstrap", "1")}
    assert ("island", "weight_is_missing") not in by_parts  # every island has Adelies without a weight
    ids = unseen_pair_ids(
        found, {"species": ["Adelie", "Gentoo", "Chinstrap"], "island": ["Biscoe", "Dream", "Torgersen"]}
    )
    assert sorted(map(tuple, ids[("species", "weight_is_missing")].tolist())) == [(1, 1), (2, 1)]


def test_a_pair_chance_could_have_missed_is_not_ruled_out():
    # 10 rows of a, 40 of b among 100: independence puts 4 rows on (a, b), and none has probability
    # 1.7%; so an unseen (a, b) stays possible. At 12 rows of a (4.8 expected) it is ruled out.
    for rows_of_a, ruled_out in ((10, False), (12, True)):
        first = np.array(["a"] * rows_of_a + ["c"] * (100 - rows_of_a))
        second = np.array(["x"] * rows_of_a + ["b"] * 40 + ["x"] * (60 - rows_of_a))
        found = fit_unseen_pairs({"first": first, "second": second})
        assert (["a", "b"] in (found[0][2] if found else [])) is ruled_out


@settings(max_examples=40, deadline=None)
@given(
    st.integers(20, 400),
    st.lists(st.floats(0.05, 1.0), min_size=2, max_size=5),
    st.lists(st.floats(0.05, 1.0), min_size=2, max_size=5),
    st.integers(0, 10_000),
)
def test_no_pair_a_row_has_is_ever_ruled_out(rows, shares_a, shares_b, seed):
    rng = np.random.default_rng(seed)
    first = rng.choice(len(shares_a), rows, p=np.array(shares_a) / sum(shares_a)).astype(str)
    second = rng.choice(len(shares_b), rows, p=np.array(shares_b) / sum(shares_b)).astype(str)
    seen = set(zip(first, second, strict=True))
    for _, _, pairs in fit_unseen_pairs({"first": first, "second": second}):
        for a, b in pairs:
            assert (a, b) not in seen
            assert (first == a).sum() * (second == b).sum() / rows >= MIN_EXPECTED_ROWS


def test_sampled_rows_never_hold_a_pair_the_training_rows_rule_out(fitted):
    allowed = fitted["allow"].sample(None, num_samples=2000, seed=1)
    assert unseen_share(allowed) > 0.02  # the short fit's own labels, drawn on their own
    ruled_out = fitted["rule_out"].sample(None, num_samples=2000, seed=1)
    assert unseen_share(ruled_out) == 0.0
    assert unseen_share(fitted["rule_out"].sample(None, num_samples=500, seed=2, temperature=0.0)) == 0.0
    # A weight is drawn missing beside Adelies only, as in the data, and the species shares hold.
    assert ruled_out.loc[ruled_out["species"] != "Adelie", "weight"].notna().all()
    assert ruled_out["weight"].isna().any()
    shares = ruled_out["species"].value_counts(normalize=True)
    assert abs(shares["Gentoo"] - 0.35) < 0.1 and abs(shares["Adelie"] - 0.4) < 0.1


def test_a_given_label_rules_out_the_other_columns_labels_whatever_their_order(fitted):
    generator = fitted["rule_out"]
    # island comes after species in the model, so Dream must rule Gentoo out before it is drawn.
    on_dream = generator.sample({"island": ["Dream"]}, num_samples=400, seed=3)
    assert (on_dream["island"] == "Dream").all() and set(on_dream["species"]) <= {"Adelie", "Chinstrap"}
    gentoo = generator.sample({"species": ["Gentoo"]}, num_samples=400, seed=4)
    assert (gentoo["island"] == "Biscoe").all() and gentoo["weight"].notna().all()
    # Cells given together come back as given even where the training rows never paired them.
    both = generator.sample({"species": ["Gentoo"], "island": ["Dream"]}, num_samples=50, seed=5)
    assert (both["species"] == "Gentoo").all() and (both["island"] == "Dream").all()
    holes = pd.DataFrame({"bill": [np.nan] * 4, "weight": [4000.0] * 4, "species": [None] * 4,
                          "island": ["Biscoe", "Dream", "Torgersen", "Torgersen"]})  # fmt: skip
    filled = generator.impute(holes, seed=6, num_imputations=50)
    assert unseen_share(filled) == 0.0 and filled["species"].notna().all()


def test_a_saved_run_keeps_its_pairs_and_a_run_from_before_them_samples_as_it_did(fitted, tmp_path):
    generator = fitted["rule_out"]
    run = generator.save(tmp_path / "run")
    state = json.loads((run / "preprocessing.json").read_text())
    assert [first for first, _, _ in state["output"]["unseen_pairs"]] == ["species", "species"]
    loaded = fusegen.load(run)
    pd.testing.assert_frame_equal(
        loaded.sample(None, num_samples=300, seed=7), generator.sample(None, num_samples=300, seed=7)
    )
    # Written before 0.23.0: no pairs in the state, so each label is drawn on its own.
    del state["output"]["unseen_pairs"]
    (run / "preprocessing.json").write_text(json.dumps(state))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["files"] = {name: sha256(run / name) for name in manifest["files"]}
    (run / "manifest.json").write_text(json.dumps(manifest))
    older = fusegen.load(run).sample(None, num_samples=2000, seed=1)
    assert unseen_share(older) > 0.0


def test_evaluate_counts_the_samples_holding_a_pair_the_training_rows_rule_out(fitted, tmp_path):
    from fusegen.evaluation import evaluate_run, summary_lines

    path = tmp_path / "penguins.csv"
    penguins(1200, seed=0).to_csv(path, index=False)
    allowed = evaluate_run(fitted["allow"], path, seed=1)
    ruled_out = evaluate_run(fitted["rule_out"], path, seed=1)
    assert allowed["label_pairs"]["synthetic_rows_holding_any"] > 0.02
    assert allowed["label_pairs"]["worst"][0]["columns"] == ["species", "island"]
    assert ruled_out["label_pairs"]["synthetic_rows_holding_any"] == 0.0
    # Real rows the generator never saw hold none: the pairs are the data's, not chance's.
    assert ruled_out["label_pairs"]["holdout_rows_holding_any"] == 0.0
    line = next(line for line in summary_lines(allowed) if line.startswith("label pairs"))
    assert "most species:island" in line and "output.unseen_label_pairs: rule_out keeps them out" in line


def test_a_column_looked_up_from_another_takes_part_in_no_pair():
    """Its drawn label is replaced by the lookup, so a pair ruled out beside the drawn one would steer the
    row by a label it does not keep; the determining column's own pairs carry the rule."""
    data = penguins(600, seed=3)
    data["code"] = data["species"].map({"Gentoo": "G", "Chinstrap": "C", "Adelie": "A"})
    config = spec()
    config["output"] = {**config["output"], "categorical": ["species", "island", "code"],
                        "determined_by": {"code": "species"}}  # fmt: skip
    config["training"] = {**config["training"], "epochs": 1, "steps_per_epoch": 2}
    converter = fusegen.Generator(load_spec(config)).fit(data, verbose=0).preprocessor_.output
    parts = {part for first, second, _ in converter.unseen_pairs for part in (first, second)}
    assert "code" not in parts and {"species", "island"} <= parts


def test_two_columns_that_each_fix_a_looked_up_one_rule_out_their_disagreeing_pairs_however_rare():
    """openintro's cpu: the socket fixes the maker (looked up from it), and so does the codename. Rare
    codenames made no pair that chance would have shown, and 8.7% of sampled rows paired a codename
    with the other maker; a codename and a socket of different makers are now ruled out."""
    rng = np.random.default_rng(0)
    sockets = {"AM4": "AMD", "AM5": "AMD", "LGA1700": "Intel", "LGA1200": "Intel"}
    codenames = {f"c{i}": ("AMD" if i % 2 else "Intel") for i in range(40)}  # 2-10 rows each
    maker = rng.choice(["AMD", "Intel"], 400)
    socket = np.array([rng.choice([s for s, m in sockets.items() if m == who]) for who in maker])
    codename = np.array([rng.choice([c for c, m in codenames.items() if m == who]) for who in maker])
    found = fit_unseen_pairs({"codename": codename, "socket": socket}, looked_up={"maker": maker})
    ruled_out = {tuple(pair) for _, _, pairs in found for pair in pairs}
    disagreeing = {(c, s) for c in set(codename) for s in sockets if codenames[c] != sockets[s]}
    assert disagreeing <= ruled_out and len(disagreeing) == 80
    assert not ruled_out & set(zip(codename, socket, strict=True))  # no pair a row has
    # Without the looked-up column only chance speaks: rare codenames' pairs are not ruled out.
    assert len({tuple(p) for _, _, pairs in fit_unseen_pairs({"codename": codename, "socket": socket})
                for p in pairs}) < 10  # fmt: skip
    # A label over fewer than MIN_ROWS_PER_DETERMINING_LABEL rows on average fixes nothing by itself.
    unique = np.array([f"u{i}" for i in range(400)])
    found = fit_unseen_pairs({"unique": unique, "socket": socket}, looked_up={"maker": maker})
    assert not found


def test_a_cell_whose_gaps_follow_a_column_exactly_is_present_beside_its_other_labels_however_rare():
    """dragracer's rpdr_contep: `eliminated` is empty exactly where `outcome` is (a week not competed).
    Disqualifications are too rare for chance to rule out (DISQ, empty), and 40% of rows rebalanced
    to rare outcomes came back with `eliminated` empty."""
    rng = np.random.default_rng(0)
    rows = 900
    outcome = rng.choice(["SAFE", "LOW", "WIN"], rows, p=[0.6, 0.25, 0.15]).astype(object)
    outcome[:300] = None  # not competing that week
    outcome[300:304] = "DISQ"
    eliminated = np.where(pd.isna(outcome), None, rng.choice(["0", "1"], rows, p=[0.9, 0.1])).astype(object)
    frame = pd.DataFrame({"outcome": outcome, "eliminated": eliminated, "score": rng.normal(size=rows)})
    config = spec()
    config["output"] = {"kind": "record", "numeric": ["score"], "categorical": ["outcome", "eliminated"],
                        "nullable": ["outcome", "eliminated"], "gaps_follow": {"eliminated": "outcome"},
                        "head": {"type": "mlp", "units": [32]}}  # fmt: skip
    config["conditioning"] = {"any_column": True}
    generator = fusegen.Generator(load_spec(config)).fit(frame, verbose=0)
    converter = generator.preprocessor_.output
    assert converter.present_beside == [["outcome", "eliminated", "[MISSING]", ["[MISSING]"]]]
    ids = generator.preprocessor_.unseen_label_pairs()[("outcome", "eliminated")]
    outcomes, eliminated = (
        list(map(str, converter.vocabularies["outcome"])),
        converter.vocabularies["eliminated"],
    )
    pairs = {(outcomes[a], str(eliminated[b])) for a, b in ids}
    assert {("DISQ", "[MISSING]"), ("SAFE", "[MISSING]")} <= pairs and ("[MISSING]", "[MISSING]") not in pairs
    disqualified = generator.sample({"outcome": ["DISQ"]}, num_samples=200, seed=0)
    assert disqualified["eliminated"].notna().all()
    assert generator.sample(num_samples=500, seed=1).query("outcome.isna()")["eliminated"].isna().all()


def test_the_label_shares_calibration_measures_are_those_of_the_draws_with_pairs_ruled_out():
    """`objective.marginals` corrects the shares sampling gives: measured on labels drawn each on its
    own, caravan's column shapes fell 0.992 -> 0.985 once pairs were ruled out; on the draws as made,
    0.989 (docs/benchmarks.md)."""
    from fusegen.objectives.unseen_pairs import UnseenPairs

    pairs = UnseenPairs({("a", "b"): np.array([[0, 0]])}, {"a": 2, "b": 2})
    rows = 20_000
    uniform = {"a": np.zeros((rows, 2)), "b": np.zeros((rows, 2))}
    chances = pairs.draw_probabilities(uniform, [("a", 2), ("b", 2)], np.random.default_rng(0))
    # b's first label is ruled out beside a's first: half the rows draw that, so b's share is 1/4.
    assert abs(chances["b"][:, 0].mean() - 0.25) < 0.01 and abs(chances["a"][:, 0].mean() - 0.5) < 1e-9
    assert set(np.round(chances["b"][:, 0], 6)) == {0.0, 0.5}


def test_the_pairs_kept_fit_the_tables_budget_smallest_grids_first(monkeypatch):
    """A table of several wide columns of thousands of labels would hold a grid per pair of them in
    every sampling graph; past the budget, the largest grids are the ones left out."""
    import fusegen.data.label_pairs as label_pairs

    data = penguins(1200, seed=0)
    many = np.array([f"{kind}{index % 20}" for index, kind in enumerate(data["species"])])  # 60 labels
    parts = {"species": data["species"], "island": data["island"], "code": many}
    everything = {(first, second) for first, second, _ in fit_unseen_pairs(parts)}
    assert ("species", "island") in everything and ("island", "code") in everything
    monkeypatch.setattr(label_pairs, "MAX_TABLE_ENTRIES", 2 * 3 * 3 + 6)  # room for the 3 x 3 grid alone
    assert [(first, second) for first, second, _ in fit_unseen_pairs(parts)] == [("species", "island")]
