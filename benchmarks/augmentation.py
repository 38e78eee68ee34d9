"""Benchmark: minority-class augmentation on imbalanced tables, fusegen against SMOTE-NC, TabularARGN and CTGAN.

For each imbalanced classification table of the tabular suite
(``suite_tables.imbalanced_tables()``: a minority class of at most 20%) and
each seed, the rows are split 80/20, stratified by the target. A fixed
classifier (scikit-learn's HistGradientBoostingClassifier, its defaults and
``random_state=seed``; string columns are categorical features) is trained

  real:          on the real training rows, and
  real + GEN:    on the real training rows plus minority-class rows from GEN,

and each is scored by the macro F1 on the real test rows. A generator's lift
is F1(real + GEN) - F1(real), in the same split and seed.

How many rows are added: every class but the largest is raised to the largest
class's count in the training rows (imbalanced-learn's default
``sampling_strategy="auto"``), and every generator adds exactly those counts
per class. Every generator is fitted on all the training rows (the
conditional ones learn the minority class beside the others), then asked for
rows of each minority class:

  fusegen:      the spec ``fusegen init --condition TARGET`` infers from the
                training rows written to CSV (the class to rebalance is the
                first designated condition; the benchmark only sets the seed
                and no validation split, as it holds out its own rows), trained, then
                rebalanced to the class, as docs/guide-records.md's augmentation
                recipe does (``sample(None, num_samples=n, rebalance={target:
                {label: 1.0}})``): each row is conditioned on the label, and its
                default label check draws again each row whose label the model
                does not impute back from its other cells (``fusegen.rebalancing``).
  smote_nc:     imbalanced-learn's SMOTENC at its defaults (k_neighbors=5),
                ``sampling_strategy`` the same counts; SMOTE where a table has
                no string feature, SMOTEN where it has only string features.
                SMOTE needs complete rows: for it alone, missing numbers are
                filled with the column's median and missing strings are a label.
  tabularargn:  mostlyai-engine's TabularARGN at its defaults (max_epochs=100,
                early stopping on its own validation split, value protection)
                on the CPU but for max_training_time, capped at 5 minutes a
                fit (1 with --quick; its default is 10 days), sampled with
                ``rebalancing={"column": target, "probabilities": {label:
                1.0}}``, once per minority class.
  ctgan:        SDV 2.0's CTGANSynthesizer at its defaults (300 epochs, batch
                500) on the CPU, string columns categorical, sampled with
                ``sample_from_conditions([Condition({target: label}, num_rows=n)])``
                (SDV's reject sampling, default tries).

The full run uses 3 seeds (--repeats; seed s splits the rows, seeds the
classifier and every generator) and at most 2,000 training rows per table
(--max-train-rows; a stratified subsample of the 80%, the test rows are all
kept): on 2 busy CPU cores the four generators, three seeds and four tables
take 75 minutes. --quick (9 minutes) uses 1 seed, at most 1,000 training rows
and a fifth of every generator's default epochs (fusegen's, CTGAN's 300,
TabularARGN's max_epochs 100). Tables run smallest first.

Scores per table and generator, over the seeds: the median macro F1 and lift,
the lift's spread (min and max over the seeds), fit seconds, and diagnostics of
the added rows against the real minority rows: ``label_ok`` (share of added rows
carrying the class they were asked for), ``recognised`` (share of added rows
that the real-only classifier assigns to their class; the same share for the
real minority test rows is ``recognised_real``) and ``discriminator_auc`` (a
classifier telling real minority training rows from added ones, 3-fold
cross-validated ROC AUC: 0.5 when they cannot be told apart). A generator that
fails on a table is reported with its error and left out of that table's
numbers; the run goes on.

The readable table goes to stdout, progress to stderr, and the last line of
stdout is one JSON object with a ``targets`` section.

    python benchmarks/augmentation.py --quick     # 1 seed, small tables, short training
    python benchmarks/augmentation.py             # 3 seeds

Needs the bench extra: ``pip install -e ".[cpu,dev,bench]"`` (sdv 2.0, mostlyai-engine,
imbalanced-learn, torch CPU build).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# See benchmarks/tabular.py: torch's spinning OpenMP threads slow CTGAN down badly on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# mostlyai-engine before TensorFlow: the other order loads two copies of LLVM's options into the process
# ("Option 'bitcode-mdindex-threshold' registered more than once") and aborts it.
import mostlyai.engine  # noqa: E402, F401, I001
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from machine import describe_machine  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.metrics import f1_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split  # noqa: E402

import fusegen  # noqa: E402
from fusegen.data.inference import infer_record_spec  # noqa: E402
from fusegen.spec import load_spec  # noqa: E402

SEED = 0
TEST_SHARE = 0.2
GENERATORS = ["fusegen", "smote_nc", "tabularargn", "ctgan"]

# TabularARGN trains until its validation loss stops falling (up to max_epochs=100) or its
# max_training_time (minutes; 10 days by default) is spent: on the 86 columns of caravan that is
# about 20 s an epoch on 2 busy CPU cores, so the run caps its time. The cap is TabularARGN's own
# knob; no other generator here has one, and none needs one.
SETTINGS = {
    "quick": {"repeats": 1, "max_train_rows": 1_000, "epoch_scale": 0.2, "tabularargn_minutes": 1.0},
    "full": {"repeats": 3, "max_train_rows": 2_000, "epoch_scale": 1.0, "tabularargn_minutes": 5.0},
}

# Documented defaults of the competitors, scaled alike by --quick.
CTGAN_EPOCHS = 300
TABULARARGN_MAX_EPOCHS = 100

# The real-vs-added discriminator sees at most this many rows of each side.
DISCRIMINATOR_ROWS = 2_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Tables and splits
# --------------------------------------------------------------------------


def load_tables(names: list[str] | None) -> dict[str, dict]:
    """The suite's imbalanced classification tables: {name: {"frame", "target", "provenance"}}."""
    from suite_tables import TABLES, imbalanced_tables

    names = names or list(imbalanced_tables())
    tables = {}
    for name in names:
        frame, target, task, provenance = TABLES[name]()
        if task != "classification":
            raise ValueError(
                f"table '{name}' is a {task} table; the augmentation benchmark needs classification"
            )
        frame = frame[frame[target].notna()].reset_index(drop=True)
        # A class label is a category, whatever it is written as: every generator gets it as a string.
        frame[target] = frame[target].astype(str)
        tables[name] = {"frame": frame, "target": target, "provenance": provenance}
    # The smallest first (by cells), so that a run cut short has the most tables.
    return dict(sorted(tables.items(), key=lambda item: item[1]["frame"].size))


def split(frame: pd.DataFrame, target: str, seed: int, max_train_rows: int | None):
    """A stratified 80/20 split; the training rows are subsampled (stratified) to ``max_train_rows``."""
    train, test = train_test_split(frame, test_size=TEST_SHARE, stratify=frame[target], random_state=seed)
    notes = []
    if max_train_rows and len(train) > max_train_rows:
        notes.append(f"training rows subsampled (stratified) from {len(train):,} to {max_train_rows:,}")
        train, _ = train_test_split(
            train, train_size=max_train_rows, stratify=train[target], random_state=seed
        )
    return train.reset_index(drop=True), test.reset_index(drop=True), notes


def rows_to_add(train: pd.DataFrame, target: str) -> dict[str, int]:
    """Rows to add per class: every class but the largest raised to the largest's count."""
    counts = train[target].value_counts()
    largest = counts.max()
    return {str(label): int(largest - count) for label, count in counts.items() if count < largest}


def string_columns(frame: pd.DataFrame, target: str) -> list[str]:
    """The feature columns that are not numbers (strings, booleans, categories)."""
    return [column for column in frame.columns if column != target and frame[column].dtype.kind not in "iuf"]


# --------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------


class Features:
    """The classifier's view of a table: numbers as floats, strings as categories fixed on the real rows."""

    def __init__(self, real: pd.DataFrame, target: str):
        self.target = target
        self.columns = [column for column in real.columns if column != target]
        self.categories = {
            column: sorted(real[column].dropna().astype(str).unique())
            for column in string_columns(real, target)
        }

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        features = {}
        for column in self.columns:
            values = frame[column]
            if column in self.categories:
                labels = values.where(values.isna(), values.astype(str))
                categories = self.categories[column]
                if len(categories) > 250:
                    # More labels than the classifier's bins: their index as a number.
                    index = {label: position for position, label in enumerate(categories)}
                    features[column] = labels.map(index).astype(float)
                else:
                    features[column] = pd.Categorical(labels, categories=categories)
            else:
                features[column] = pd.to_numeric(values, errors="coerce").astype(float)
        return pd.DataFrame(features, index=frame.index)


def classifier(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)


def macro_f1(train: pd.DataFrame, test: pd.DataFrame, features: Features, seed: int):
    model = classifier(seed).fit(features(train), train[features.target])
    predicted = model.predict(features(test))
    return float(f1_score(test[features.target], predicted, average="macro")), model


# --------------------------------------------------------------------------
# Generators: each returns the added rows, {label: count} of them, in the training rows' columns
# --------------------------------------------------------------------------


def fusegen_rows(train, target, counts, seed, settings):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.csv"
        train.to_csv(path, index=False)
        spec, _ = infer_record_spec(path, conditions=[target])
    spec["data"]["validation_split"] = 0.0  # the benchmark holds out its own rows
    spec["training"]["seed"] = seed
    spec["training"]["epochs"] = max(1, round(spec["training"]["epochs"] * settings["epoch_scale"]))
    info = {
        "epochs": spec["training"]["epochs"],
        "target_kind": "categorical" if target in spec["output"]["categorical"] else "numeric",
        "target_is_input": any(part.get("column") == target for part in spec["inputs"].values()),
    }
    started = time.perf_counter()
    generator = fusegen.Generator(load_spec(spec)).fit(train, verbose=0)
    fit_seconds = time.perf_counter() - started
    parts, checked = [], {}
    for index, (label, count) in enumerate(counts.items()):
        rows = generator.sample(None, num_samples=count, seed=seed + index, rebalance={target: {label: 1.0}})
        parts.append(rows)
        checked[str(label)] = generator.label_check_counts_
    return pd.concat(parts, ignore_index=True), fit_seconds, {**info, "label_check": checked}


def smote_rows(train, target, counts, seed, settings):
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    strings = string_columns(train, target)
    features = train.drop(columns=target).copy()
    for column in features.columns:
        if column in strings:
            features[column] = features[column].astype(str).where(features[column].notna(), "(missing)")
        else:
            features[column] = pd.to_numeric(features[column], errors="coerce")
            features[column] = features[column].fillna(features[column].median())
    labels = train[target].to_numpy()
    strategy = {label: int((labels == label).sum()) + count for label, count in counts.items()}
    if not strings:
        sampler, kind = SMOTE(sampling_strategy=strategy, random_state=seed), "SMOTE"
    elif len(strings) == features.shape[1]:
        sampler, kind = SMOTEN(sampling_strategy=strategy, random_state=seed), "SMOTEN"
    else:
        categorical = [features.columns.get_loc(column) for column in strings]
        sampler = SMOTENC(categorical_features=categorical, sampling_strategy=strategy, random_state=seed)
        kind = "SMOTENC"
    started = time.perf_counter()
    resampled, resampled_labels = sampler.fit_resample(features, labels)
    fit_seconds = time.perf_counter() - started
    # imbalanced-learn appends the new rows after the original ones.
    added = pd.DataFrame(resampled).iloc[len(features) :].reset_index(drop=True)
    added[target] = np.asarray(resampled_labels)[len(features) :]
    for column in strings:
        added[column] = added[column].where(added[column] != "(missing)", np.nan)
    return added[list(train.columns)], fit_seconds, {"sampler": kind}


def tabularargn_rows(train, target, counts, seed, settings):
    from mostlyai.engine import TabularARGN

    max_epochs = max(1, round(TABULARARGN_MAX_EPOCHS * settings["epoch_scale"]))
    minutes = settings["tabularargn_minutes"]
    with tempfile.TemporaryDirectory() as folder:
        model = TabularARGN(
            max_epochs=max_epochs,
            max_training_time=minutes,
            device="cpu",
            workspace_dir=folder,
            random_state=seed,
        )
        started = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - started
        parts = [
            model.sample(n_samples=count, rebalancing={"column": target, "probabilities": {label: 1.0}})
            for label, count in counts.items()
        ]
    return (
        pd.concat(parts, ignore_index=True),
        fit_seconds,
        {"max_epochs": max_epochs, "max_training_minutes": minutes},
    )


def ctgan_rows(train, target, counts, seed, settings):
    from sdv.metadata import Metadata
    from sdv.sampling import Condition
    from sdv.single_table import CTGANSynthesizer

    strings = set(string_columns(train, target)) | {target}
    columns = {
        column: {"sdtype": "categorical" if column in strings else "numerical"} for column in train.columns
    }
    metadata = Metadata.load_from_dict({"tables": {"table": {"columns": columns}}})
    epochs = max(1, round(CTGAN_EPOCHS * settings["epoch_scale"]))
    synthesizer = CTGANSynthesizer(metadata, epochs=epochs, enable_gpu=False)
    started = time.perf_counter()
    synthesizer.fit({"table": train})  # SDV 2.0 takes {table name: rows}, a single table too
    fit_seconds = time.perf_counter() - started
    conditions = [Condition({target: label}, num_rows=count) for label, count in counts.items()]
    sampled = synthesizer.sample_from_conditions(conditions)
    if isinstance(sampled, dict):  # SDV 2.0 returns {table name: rows}
        sampled = next(iter(sampled.values()))
    return sampled.reset_index(drop=True), fit_seconds, {"epochs": epochs}


GENERATOR_FUNCTIONS = {
    "fusegen": fusegen_rows,
    "smote_nc": smote_rows,
    "tabularargn": tabularargn_rows,
    "ctgan": ctgan_rows,
}


# --------------------------------------------------------------------------
# One table, one seed
# --------------------------------------------------------------------------


def diagnostics(added, train, test, target, counts, features, baseline_model, seed) -> dict:
    """How the added rows compare with the real minority rows."""
    returned = added[target].astype(str).value_counts()
    label_ok = sum(min(int(returned.get(label, 0)), count) for label, count in counts.items()) / sum(
        counts.values()
    )
    recognised = float((baseline_model.predict(features(added)) == added[target].astype(str)).mean())
    real_minority = test[test[target].isin(list(counts))]
    recognised_real = float((baseline_model.predict(features(real_minority)) == real_minority[target]).mean())
    # Real minority training rows against added rows of the same classes.
    real_rows = train[train[target].isin(list(counts))]
    real_rows = real_rows.sample(n=min(len(real_rows), DISCRIMINATOR_ROWS), random_state=seed)
    fake_rows = added.sample(n=min(len(added), len(real_rows)), random_state=seed)
    both = pd.concat([real_rows, fake_rows], ignore_index=True)
    both[target] = both[target].astype(str)
    origin = np.r_[np.zeros(len(real_rows)), np.ones(len(fake_rows))]
    auc = None
    if min(len(real_rows), len(fake_rows)) >= 6:
        columns = features.columns + [target]
        view = Features(pd.concat([train, added], ignore_index=True)[columns], "__none__")
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        scores = cross_val_predict(
            classifier(seed), view(both[columns]), origin, cv=folds, method="predict_proba"
        )[:, 1]
        auc = float(roc_auc_score(origin, scores))
    return {
        "label_ok": round(label_ok, 4),
        "recognised": round(recognised, 4),
        "recognised_real": round(recognised_real, 4),
        "discriminator_auc": None if auc is None else round(auc, 4),
    }


def conform(added: pd.DataFrame, train: pd.DataFrame, target: str) -> pd.DataFrame:
    """The added rows in the training rows' columns and order; labels as strings."""
    missing = [column for column in train.columns if column not in added.columns]
    if missing:
        raise ValueError(f"the generator's rows lack columns {missing}")
    added = added[list(train.columns)].reset_index(drop=True).copy()
    added[target] = added[target].astype(str)
    return added


def run_seed(name: str, table: dict, seed: int, settings: dict, generators: list[str]) -> dict:
    target = table["target"]
    train, test, notes = split(table["frame"], target, seed, settings["max_train_rows"])
    features = Features(pd.concat([train, test], ignore_index=True), target)
    counts = rows_to_add(train, target)
    real_f1, baseline_model = macro_f1(train, test, features, seed)
    log(
        f"  seed {seed}: {len(train):,} training rows {dict(train[target].value_counts())}, {len(test):,} test "
        f"rows; adding {counts}; real-only macro F1 {real_f1:.4f}"
    )
    result = {
        "seed": seed,
        "train_rows": len(train),
        "test_rows": len(test),
        "class_counts": {str(k): int(v) for k, v in train[target].value_counts().items()},
        "rows_added": counts,
        "notes": notes,
        "real_f1": round(real_f1, 4),
        "generators": {},
    }
    for generator in generators:
        keras.backend.clear_session()
        gc.collect()
        np.random.seed(seed)
        torch.manual_seed(seed)
        keras.utils.set_random_seed(seed)
        started = time.perf_counter()
        try:
            added, fit_seconds, info = GENERATOR_FUNCTIONS[generator](train, target, counts, seed, settings)
            added = conform(added, train, target)
            if len(added) != sum(counts.values()):
                info["rows_returned"] = len(added)
            augmented = pd.concat([train, added], ignore_index=True)
            f1, _ = macro_f1(augmented, test, features, seed)
            entry = {
                "f1": round(f1, 4),
                "lift": round(f1 - real_f1, 4),
                "fit_seconds": round(fit_seconds, 1),
                "seconds": round(time.perf_counter() - started, 1),
                **diagnostics(added, train, test, target, counts, features, baseline_model, seed),
                **info,
            }
            log(
                f"    {generator}: F1 {f1:.4f} (lift {f1 - real_f1:+.4f}), fit {fit_seconds:.1f} s, "
                f"label ok {entry['label_ok']:.2f}, recognised {entry['recognised']:.2f} "
                f"(real {entry['recognised_real']:.2f}), discriminator AUC {entry['discriminator_auc']}"
            )
        except Exception as error:  # a generator's failure is a result, not the end of the run
            entry = {
                "error": f"{type(error).__name__}: {error}"[:500],
                "seconds": round(time.perf_counter() - started, 1),
            }
            log(f"    {generator}: FAILED {entry['error']}")
            log("".join(traceback.format_exception(error))[-2000:])
        result["generators"][generator] = entry
    return result


# --------------------------------------------------------------------------
# Summaries, targets, printing
# --------------------------------------------------------------------------


def summarise(runs: list[dict], generators: list[str]) -> dict:
    """Per generator, over the seeds: median F1 and lift, the lift's min and max, median fit seconds, failures."""
    summary = {"real": {"f1_median": _median([run["real_f1"] for run in runs])}}
    for generator in generators:
        entries = [run["generators"][generator] for run in runs]
        good = [entry for entry in entries if "error" not in entry]
        row = {"runs": len(good), "failures": len(entries) - len(good)}
        if good:
            lifts = [entry["lift"] for entry in good]
            row.update(
                f1_median=_median([entry["f1"] for entry in good]),
                lift_median=_median(lifts),
                lift_min=round(min(lifts), 4),
                lift_max=round(max(lifts), 4),
                fit_seconds_median=_median([entry["fit_seconds"] for entry in good]),
                recognised_median=_median([entry["recognised"] for entry in good]),
                recognised_real_median=_median([entry["recognised_real"] for entry in good]),
                discriminator_auc_median=_median([entry["discriminator_auc"] for entry in good]),
            )
        if len(good) < len(entries):
            row["errors"] = [entry["error"] for entry in entries if "error" in entry]
        summary[generator] = row
    return summary


def mean_lifts(summaries: dict, generators: list[str]) -> dict:
    """Each generator's mean over the tables of its median lift (tables where it failed every seed left out)."""
    means = {}
    for generator in generators:
        lifts = [
            summary[generator]["lift_median"]
            for summary in summaries.values()
            if "lift_median" in summary[generator]
        ]
        means[generator] = {
            "mean_lift": round(float(np.mean(lifts)), 4) if lifts else None,
            "tables": len(lifts),
            "positive_tables": int(sum(lift > 0 for lift in lifts)),
        }
    return means


def check_targets(summaries: dict, means: dict) -> dict:
    ours = means.get("fusegen", {})
    others = [
        value["mean_lift"]
        for name, value in means.items()
        if name != "fusegen" and value["mean_lift"] is not None
    ]
    best = max(others) if others else None
    complete = ours.get("tables") == len(summaries)
    return {
        "fusegen_mean_lift": ours.get("mean_lift"),
        "best_alternative_mean_lift": best,
        "mean_lift_at_least_best_alternative": bool(
            complete and ours.get("mean_lift") is not None and best is not None and ours["mean_lift"] >= best
        ),
        "positive_tables": ours.get("positive_tables"),
        "tables": len(summaries),
        "lift_positive_on_most_tables": bool(complete and ours["positive_tables"] > len(summaries) / 2),
    }


def format_table(name: str, table: dict, summary: dict, runs: list[dict], generators: list[str]) -> str:
    first = runs[0]
    header = (
        f"{'generator':<12} {'runs':>4} {'F1 med':>7} {'lift med':>9} {'lift min':>9} {'lift max':>9} "
        f"{'fit s':>7} {'recog.':>7} {'disc AUC':>8}"
    )
    lines = [
        f"\n{name} ({table['provenance']}): target '{table['target']}', {first['train_rows']:,} training / "
        f"{first['test_rows']:,} test rows, classes {first['class_counts']}, adding {first['rows_added']} "
        f"(seed {first['seed']})" + ("; " + "; ".join(first["notes"]) if first["notes"] else ""),
        header,
        "-" * len(header),
        f"{'real only':<12} {len(runs):>4} {summary['real']['f1_median']:>7.4f}",
    ]
    for generator in generators:
        row = summary[generator]
        if not row["runs"]:
            lines.append(f"{generator:<12} {0:>4} failed: {row['errors'][0][:90]}")
            continue
        auc = row["discriminator_auc_median"]
        lines.append(
            f"{generator:<12} {row['runs']:>4} {row['f1_median']:>7.4f} {row['lift_median']:>+9.4f} "
            f"{row['lift_min']:>+9.4f} {row['lift_max']:>+9.4f} {row['fit_seconds_median']:>7.1f} "
            f"{row['recognised_median']:>7.2f} {'n/a' if auc is None else f'{auc:.3f}':>8}"
            + (f"  ({row['failures']} failed)" if row["failures"] else "")
        )
    recognised_real = [summary[g].get("recognised_real_median") for g in generators if summary[g]["runs"]]
    if recognised_real:
        lines.append(
            f"(real minority test rows recognised by the real-only classifier: {recognised_real[0]:.2f})"
        )
    return "\n".join(lines)


def _median(values):
    values = [value for value in values if value is not None]
    return round(float(np.median(values)), 4) if values else None


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, small tables, a fifth of the epochs.")
    parser.add_argument(
        "--tables", default=None, help="Comma-separated table names (default: the imbalanced ones)."
    )
    parser.add_argument("--generators", default=",".join(GENERATORS), help="Comma-separated generator names.")
    parser.add_argument("--repeats", type=int, default=None, help="Seeds per table (default 3; --quick 1).")
    parser.add_argument("--max-train-rows", type=int, default=None, help="Cap on training rows per table.")
    parser.add_argument("--seed", type=int, default=SEED, help="The first seed; repeat r uses seed + r.")
    args = parser.parse_args(argv)
    settings = dict(SETTINGS["quick" if args.quick else "full"])
    if args.repeats:
        settings["repeats"] = args.repeats
    if args.max_train_rows:
        settings["max_train_rows"] = args.max_train_rows
    generators = args.generators.split(",")
    unknown = sorted(set(generators) - set(GENERATOR_FUNCTIONS))
    if unknown:
        parser.error(f"unknown generators {unknown}; known: {sorted(GENERATOR_FUNCTIONS)}")

    warnings.filterwarnings("ignore")
    for noisy in ("mostlyai", "sdv", "rdt", "SingleTableSynthesizer", "copulas"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    torch.set_num_threads(2)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()

    tables = load_tables(args.tables.split(",") if args.tables else None)
    seeds = [args.seed + repeat for repeat in range(settings["repeats"])]
    runs, summaries = {}, {}
    for name, table in tables.items():
        log(f"{name}: {len(table['frame']):,} rows, target '{table['target']}'")
        runs[name] = [run_seed(name, table, seed, settings, generators) for seed in seeds]
        summaries[name] = summarise(runs[name], generators)
        log(f"  {name} done: {json.dumps(summaries[name])}")
    means = mean_lifts(summaries, generators)
    targets = check_targets(summaries, means)

    print(f"augmentation benchmark ({'quick' if args.quick else 'full'}), seeds {seeds}")
    print(
        "macro F1 on the real test rows; lift = F1(real + added rows) - F1(real only), same split and seed;"
    )
    print(
        "med/min/max over the seeds; recog.: share of added rows the real-only classifier assigns to their class;"
    )
    print("disc AUC: real minority rows vs added rows, 3-fold cross-validated (0.5: indistinguishable)")
    for name, table in tables.items():
        print(format_table(name, table, summaries[name], runs[name], generators))
    print("\nmean over the tables of the median lift:")
    for generator, value in means.items():
        mean = "n/a" if value["mean_lift"] is None else f"{value['mean_lift']:+.4f}"
        print(
            f"  {generator:<12} {mean:>8}  positive on {value['positive_tables']} of {value['tables']} tables"
        )
    print(f"targets: {targets}")

    result = {
        "benchmark": "augmentation",
        "tables": {
            name: {
                "target": tables[name]["target"],
                "provenance": tables[name]["provenance"],
                **summaries[name],
            }
            for name in tables
        },
        "mean_lift": means,
        "targets": targets,
        "runs": runs,
        "settings": {
            "quick": args.quick,
            "seeds": seeds,
            **settings,
            "test_share": TEST_SHARE,
            "rows_added": "every class but the largest raised to the largest class's training count",
            "classifier": "HistGradientBoostingClassifier(categorical_features='from_dtype', random_state=seed)",
            "generators": generators,
        },
        "machine": describe_machine(
            load_before,
            ("torch", "sklearn", "imblearn", "mostlyai.engine", "sdv"),
            torch_threads=torch.get_num_threads(),
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }
    sys.stderr.flush()
    print(json.dumps(result, allow_nan=False), flush=True)
    return result


if __name__ == "__main__":
    main()
