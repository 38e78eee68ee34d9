"""Benchmark suite: fusegen against SDV 2.0 and TabularARGN on eight public tables (issue 19).

Tables: `suite_tables.TABLES` (flights, weather, caravan, default, gapminder,
titanic, hmda, penguins; provenance in docs/data.md). Between them: missing
values, datetimes, categoricals of 100+ labels, 86 columns, 50,000 rows and
three imbalanced classification targets (four with penguins' 19.8% Chinstrap). Each table is used as published
(R's rownames dropped); a table longer than the mode's row limit is
subsampled (seeded) and the run says so. Each table gets one seeded 80/20
train/holdout split that every model shares.

Models, each on the same training rows:

  fusegen         the spec that `fusegen init` infers from the training rows
                  written to CSV (`infer_record_spec`, all its defaults;
                  only training.seed is set), trained from that CSV; it
                  keeps its inferred validation_split (10%) of those rows.
  sdv_copula,     SDV 2.0's GaussianCopulaSynthesizer, CTGANSynthesizer and
  sdv_ctgan,      TVAESynthesizer with the metadata SDV detects itself
  sdv_tvae        (`Metadata.detect_from_dataframes({name: df})`), fit on
                  the raw table (dates stay ISO 8601 strings), on the CPU.
                  SDV 2.0's `fit` takes ``{name: df}`` and `sample` returns
                  ``{name: rows}``.
  tabular_argn    mostlyai-engine's `TabularARGN` at its defaults (the
                  MOSTLY_AI/Medium model, up to 100 epochs with early
                  stopping on its own validation rows), on the CPU. Its
                  column kinds come from the dtypes, so its datetime columns
                  are parsed to datetime64 first (as strings they would be
                  categories).

Budget: on 2 shared CPU cores the anchors cannot all run at their default
lengths on every table in one sitting, so each mode states what it shortens:

  --quick   at most 1,500 rows per table; every model's default epochs
            scaled by 0.1 (fusegen's inferred epochs, CTGAN's and TVAE's 300
            -> 30, TabularARGN's max_epochs 100 -> 10), and every anchor's
            fit ends at 60 s. About 10 minutes on a quiet machine (26 at a
            load average of 10-15 on the 2 cores).
  full      at most 50,000 rows per table (flights: 50,000 of 336,776);
            every model at its default epochs; CTGAN, TVAE and TabularARGN
            stop at 4 minutes of fitting if not done by then (TabularARGN
            through its own max_training_time; CTGAN and TVAE through their
            epoch loop, as benchmarks/tabular_ctgan.py's budget regime does,
            counted from the start of fit). fusegen and GaussianCopula are
            not limited. A stopped anchor reports ``epochs_run`` and
            ``stopped_by_budget``, and ``fit_seconds_default_epochs``
            estimates its fit at 300 epochs (SDV's preprocessing plus 300
            times its measured seconds per epoch).

Scores, per table and model, on as many synthetic rows as training rows:

  quality        SDMetrics' single-table QualityReport (sdmetrics 0.32, the
                 reference implementation) against the training rows, with
                 the SDV-detected metadata for every model (at most 10,000
                 rows of each side, seeded).
  ml_efficacy    scikit-learn's HistGradientBoosting classifier or regressor
                 fit on the synthetic rows, scored on the real holdout:
                 macro F1 for a classification target, R^2 for regression;
                 ``ml_efficacy_real`` is the same model fit on the real
                 training rows. Rows whose target is missing are left out.
  dcr_share      fusegen.metrics.distance_to_closest_record's
                 share_closer_than_holdout_p05: the share of synthetic rows
                 closer to a training row than the holdout's 5th percentile
                 (about 0.05 for a generator that does not copy); on at
                 most 2,000 synthetic and 2,000 holdout rows against every
                 training row, seeded.
  fit_seconds, sample_seconds   wall clock (cpu seconds of this process
                 too: the machine is shared, so wall clock is noisy).

A model that fails, or whose fit and sampling run past the mode's limit per
model (10 or 30 minutes), is reported with its error and the suite goes on.
Readable tables go to stdout, progress to stderr, and the last line of stdout
is one JSON object with every number and a ``targets`` section.

    python benchmarks/tabular.py --quick                 # about 10 minutes on 2 CPU cores
    python benchmarks/tabular.py                         # the full suite, 1-2 hours
    python benchmarks/tabular.py --quick --tables default,penguins --models fusegen,sdv_tvae

The ctgan-package comparison on penguins and diamonds is benchmarks/tabular_ctgan.py.
Needs the bench extra: ``pip install -e ".[cpu,dev,bench]"``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# torch's OpenMP threads spin while they wait for each other. When other jobs
# share the two cores, a descheduled thread leaves the other spinning for whole
# time slices: CTGAN ran 10 to 20 times slower with two threads under a load
# of 4-5 (the same with one thread, or with this policy). Passive threads sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# mostlyai-engine imports triton, whose LLVM registers command-line options that
# TensorFlow's LLVM registers too: imported after TensorFlow, the process aborts
# ("Option 'bitcode-mdindex-threshold' registered more than once"); before it, both load.
import mostlyai.engine  # noqa: E402, F401, I001

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402
from suite_tables import CLASSIFICATION, TABLES, datetime_columns, minority_share  # noqa: E402
from tabular_ctgan import DeadlineEpochs, _epoch_loop  # noqa: E402

import fusegen  # noqa: E402
from fusegen.data.inference import infer_record_spec  # noqa: E402
from fusegen.metrics import distance_to_closest_record  # noqa: E402
from fusegen.spec import load_spec  # noqa: E402

SEED = 0
HOLDOUT_SHARE = 0.2
QUALITY_ROWS = 10_000
DCR_ROWS = 2_000
COPYING_SHARE_LIMIT = 0.10
MODELS = ["fusegen", "sdv_copula", "sdv_ctgan", "sdv_tvae", "tabular_argn"]
ANCHORS = MODELS[1:]
SDV_DEFAULT_EPOCHS = 300
ARGN_DEFAULT_MAX_EPOCHS = 100

SETTINGS = {
    "quick": {
        "max_rows": 1_500,
        "epoch_scale": 0.1,
        "anchor_budget_seconds": 60,
        "model_timeout_seconds": 600,
    },
    "full": {
        "max_rows": 50_000,
        "epoch_scale": 1.0,
        "anchor_budget_seconds": 240,
        "model_timeout_seconds": 1_800,
    },
}


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


@dataclass
class SuiteSplit:
    name: str
    train: pd.DataFrame
    holdout: pd.DataFrame
    target: str
    task: str
    dates: list[str]
    metadata: dict
    notes: list[str] = field(default_factory=list)


def load_split(name: str, max_rows: int, seed: int) -> SuiteSplit:
    """One table, subsampled to ``max_rows``, split once into training and holdout rows."""
    from sdv.metadata import Metadata

    table = TABLES[name]()
    frame, notes = table.frame, []
    if len(frame) > max_rows:
        notes.append(f"subsampled to {max_rows:,} of {len(frame):,} rows (seeded)")
        frame = frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(frame))
    num_holdout = int(round(HOLDOUT_SHARE * len(frame)))
    holdout = frame.iloc[order[:num_holdout]].reset_index(drop=True)
    train = frame.iloc[order[num_holdout:]].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata = Metadata.detect_from_dataframes({name: train})
    if table.task == CLASSIFICATION:
        notes.append(f"rarest {table.target} class {minority_share(frame, table.target):.1%}")
    return SuiteSplit(
        name, train, holdout, table.target, table.task, datetime_columns(frame), metadata.to_dict(), notes
    )


def sdtypes(split: SuiteSplit) -> dict[str, str]:
    return {
        column: spec["sdtype"] for column, spec in split.metadata["tables"][split.name]["columns"].items()
    }


def sdv_metadata(split: SuiteSplit):
    from sdv.metadata import Metadata

    return Metadata.load_from_dict(split.metadata)


def conform(frame: pd.DataFrame, split: SuiteSplit) -> pd.DataFrame:
    """Any model's rows in the real table's columns and kinds: numbers as floats, dates as datetime64, labels as str."""
    real = split.train
    columns = {}
    for column in real.columns:
        values = frame[column] if column in frame.columns else pd.Series(np.nan, index=frame.index)
        if column in split.dates:
            parsed = pd.to_datetime(values.astype(object), errors="coerce", utc=True, format="mixed")
            columns[column] = parsed.dt.tz_convert(None)
        elif pd.api.types.is_numeric_dtype(real[column]) and not pd.api.types.is_bool_dtype(real[column]):
            columns[column] = pd.to_numeric(values.astype(object), errors="coerce").astype(float)
        else:
            columns[column] = values.astype(str).astype(object).where(values.notna(), np.nan)
    return pd.DataFrame(columns).reset_index(drop=True)


# --------------------------------------------------------------------------
# Models: fit(split, settings) -> self; sample(num_rows) -> DataFrame; epochs
# --------------------------------------------------------------------------


class FusegenModel:
    """fusegen through `fusegen init`'s defaults on the training rows as a CSV file."""

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, split: SuiteSplit, settings: dict):
        self.folder = tempfile.TemporaryDirectory(prefix="fusegen-suite-")
        path = Path(self.folder.name) / f"{split.name}.csv"
        split.train.to_csv(path, index=False)
        spec, self.notes = infer_record_spec(path)
        spec["training"]["seed"] = self.seed
        self.epochs = max(1, round(spec["training"]["epochs"] * settings["epoch_scale"]))
        spec["training"]["epochs"] = self.epochs
        self.spec = spec
        generator = fusegen.Generator(load_spec(spec), base_dir=self.folder.name)
        self.generator = generator.fit(verbose=0)
        return self

    def sample(self, num_rows: int) -> pd.DataFrame:
        return self.generator.sample(None, num_samples=num_rows, seed=self.seed)

    def describe(self) -> dict:
        output = self.spec["output"]
        return {
            "epochs": self.epochs,
            "steps_per_epoch": self.spec["training"].get("steps_per_epoch"),
            "batch_size": self.spec["training"]["batch_size"],
            "categorical": output["categorical"],
            "datetime": output["datetime"],
            "left_out": [note for note in self.notes if note.startswith("left out")],
        }


class SdvModel:
    """One of SDV 2.0's single-table synthesizers with SDV's own detected metadata, on the CPU."""

    def __init__(self, kind: str, seed: int):
        self.kind = kind
        self.seed = seed

    def fit(self, split: SuiteSplit, settings: dict):
        import ctgan.synthesizers.ctgan
        import ctgan.synthesizers.tvae
        from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

        metadata = sdv_metadata(split)
        started = time.perf_counter()
        self.epochs, self.counter = None, None
        if self.kind == "copula":
            self.model = GaussianCopulaSynthesizer(metadata)
        else:
            self.epochs = max(1, round(SDV_DEFAULT_EPOCHS * settings["epoch_scale"]))
            synthesizer = CTGANSynthesizer if self.kind == "ctgan" else TVAESynthesizer
            self.model = synthesizer(metadata, epochs=self.epochs, enable_gpu=False)
            self.counter = TimedDeadlineEpochs(started + settings["anchor_budget_seconds"])
        module = ctgan.synthesizers.ctgan if self.kind == "ctgan" else ctgan.synthesizers.tvae
        with warnings.catch_warnings(), _epoch_loop(module, self.counter) if self.counter else nullcontext():
            warnings.simplefilter("ignore")
            # SDV 2.0's single-table synthesizers take and return {table name: DataFrame}.
            self.model.fit({split.name: split.train})
        self.fit_seconds = time.perf_counter() - started
        return self

    def sample(self, num_rows: int) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (rows,) = self.model.sample(num_rows=num_rows).values()
        return rows

    def describe(self) -> dict:
        if self.counter is None:
            return {}
        counter = self.counter
        loop_seconds = self.fit_seconds - (counter.loop_started - (counter.deadline - counter.budget))
        epoch_seconds = loop_seconds / max(counter.epochs_run, 1)
        return {
            "epochs": self.epochs,
            "epochs_run": counter.epochs_run,
            "stopped_by_budget": counter.epochs_run < self.epochs,
            # SDV's preprocessing plus the default 300 epochs at the measured seconds per epoch.
            "fit_seconds_default_epochs": round(
                self.fit_seconds - loop_seconds + SDV_DEFAULT_EPOCHS * epoch_seconds, 1
            ),
        }


class TimedDeadlineEpochs(DeadlineEpochs):
    """ctgan's epoch loop, ended at a deadline, that also notes when the loop began (after SDV's preprocessing)."""

    def __init__(self, deadline: float):
        super().__init__(deadline)
        self.budget = deadline - time.perf_counter()
        self.loop_started = None

    def __iter__(self):
        self.loop_started = time.perf_counter()
        yield from super().__iter__()


class ArgnModel:
    """mostlyai-engine's TabularARGN at its defaults, on the CPU; datetime columns parsed first."""

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, split: SuiteSplit, settings: dict):
        from mostlyai.engine import TabularARGN

        self.max_epochs = ARGN_DEFAULT_MAX_EPOCHS * settings["epoch_scale"]
        self.max_training_minutes = settings["anchor_budget_seconds"] / 60
        self.model = TabularARGN(
            max_epochs=self.max_epochs,
            max_training_time=self.max_training_minutes,
            device="cpu",
            random_state=self.seed,
            verbose=0,
        )
        frame = split.train.copy()
        for column in split.dates:
            frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(None)
        self.model.fit(frame)
        return self

    def sample(self, num_rows: int) -> pd.DataFrame:
        return self.model.sample(n_samples=num_rows)

    def describe(self) -> dict:
        return {"max_epochs": self.max_epochs, "max_training_minutes": self.max_training_minutes}


def make_model(name: str, seed: int):
    if name == "fusegen":
        return FusegenModel(seed)
    if name == "tabular_argn":
        return ArgnModel(seed)
    return SdvModel(name.removeprefix("sdv_"), seed)


# --------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------


def quality(split: SuiteSplit, real: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> dict:
    """SDMetrics' QualityReport with the SDV-detected metadata (dates given as datetime64, so no format)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

        columns = {}
        for column, spec in split.metadata["tables"][split.name]["columns"].items():
            columns[column] = {key: value for key, value in spec.items() if key != "datetime_format"}
        metadata = {"columns": columns}
        report = QualityReport()
        report.generate(
            _head(real, QUALITY_ROWS, seed), _head(synthetic, QUALITY_ROWS, seed), metadata, verbose=False
        )
        properties = report.get_properties().set_index("Property")["Score"]
        details = report.get_details("Column Shapes")
        pairs = report.get_details("Column Pair Trends")
    return {
        "quality": _round(report.get_score()),
        "column_shapes": _round(properties["Column Shapes"]),
        "column_pair_trends": _round(properties["Column Pair Trends"]),
        # The worst-shaped columns, to show where a model falls short.
        "worst_columns": {
            row["Column"]: _round(row["Score"])
            for _, row in details.dropna(subset=["Score"]).nsmallest(3, "Score").iterrows()
        },
        "column_shape_scores": {row["Column"]: _round(row["Score"]) for _, row in details.iterrows()},
        "worst_pairs": {
            f"{row['Column 1']} / {row['Column 2']}": _round(row["Score"])
            for _, row in _scored_pairs(pairs).nsmallest(5, "Score").iterrows()
        },
    }


def _scored_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    # Since SDMetrics 0.28.1 the score counts only the pairs with a real trend.
    if "Meets Threshold?" in pairs:
        pairs = pairs[pairs["Meets Threshold?"].astype("boolean").fillna(False).astype(bool)]
    return pairs.dropna(subset=["Score"])


def ml_efficacy(split: SuiteSplit, train: pd.DataFrame, holdout: pd.DataFrame, seed: int) -> float | None:
    """HistGradientBoosting fit on ``train``, scored on the real holdout: macro F1 or R^2."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import f1_score, r2_score

    train = train[train[split.target].notna()]
    holdout = holdout[holdout[split.target].notna()]
    if len(train) == 0:
        return None
    features_train, features_holdout = _features(split, train, holdout)
    labels = train[split.target]
    truth = holdout[split.target]
    if split.task == CLASSIFICATION:
        if labels.nunique() < 2:
            predictions = np.full(len(truth), labels.iloc[0], dtype=object)
        else:
            model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
            predictions = model.fit(features_train, labels.astype(str)).predict(features_holdout)
        return _round(f1_score(truth.astype(str), predictions, average="macro"))
    model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=seed)
    return _round(r2_score(truth, model.fit(features_train, labels).predict(features_holdout)))


def _features(split: SuiteSplit, train: pd.DataFrame, holdout: pd.DataFrame):
    """Numbers and dates as floats; labels as pandas categories from the training side (255 at most, else codes)."""
    train_columns, holdout_columns = {}, {}
    for column in split.train.columns.drop(split.target):
        left, right = train[column], holdout[column]
        if column in split.dates:
            left, right = _seconds(left), _seconds(right)
        elif left.dtype == object:
            labels = left.dropna().value_counts().index
            left = pd.Categorical(left, categories=labels)
            right = pd.Categorical(right, categories=labels)
            if len(labels) > 255:  # HistGradientBoosting's limit for a categorical feature
                left, right = left.codes.astype(float), right.codes.astype(float)
                left[left < 0], right[right < 0] = np.nan, np.nan
        train_columns[column], holdout_columns[column] = left, right
    return pd.DataFrame(train_columns), pd.DataFrame(holdout_columns)


def _seconds(values: pd.Series) -> pd.Series:
    return values.astype("int64").where(values.notna()).astype(float) / 1e9


def dcr_share(split: SuiteSplit, real, synthetic, holdout, seed: int) -> dict:
    categorical = [column for column in real.columns if real[column].dtype == object]
    distances = distance_to_closest_record(
        real, _head(synthetic, DCR_ROWS, seed), _head(holdout, DCR_ROWS, seed), categorical=categorical
    )
    return {
        "dcr_share": _round(distances["share_closer_than_holdout_p05"]),
        "exact_copy_share": _round(distances["synthetic"]["exact_copy_share"]),
        "holdout_exact_copy_share": _round(distances["holdout"]["exact_copy_share"]),
    }


def _head(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def _git_commit() -> str | None:
    import subprocess

    try:
        run = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        )
    except OSError:
        return None
    return run.stdout.strip() or None


def _round(value, digits: int = 4):
    # None for a score that could not be computed, so that the JSON line stays valid.
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


# --------------------------------------------------------------------------
# One model on one table
# --------------------------------------------------------------------------


class ModelTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    """Ends a fit that runs past ``seconds`` (the alarm lands when the training loop is back in Python)."""

    def expire(signum, frame):
        raise ModelTimeout(f"ran past the {seconds} s limit per model")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_model(name: str, split: SuiteSplit, scored: dict, settings: dict, seed: int, log) -> dict:
    keras.backend.clear_session()
    gc.collect()
    np.random.seed(seed)
    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)
    model = make_model(name, seed)
    try:
        with time_limit(settings["model_timeout_seconds"]):
            started, cpu_started = time.perf_counter(), time.process_time()
            model.fit(split, settings)
            fit_seconds, fit_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
            started = time.perf_counter()
            synthetic = model.sample(len(split.train))
            sample_seconds = time.perf_counter() - started
    except Exception as error:  # noqa: BLE001 - a model's failure is a result, not the suite's end
        log(f"    {name}: FAILED: {type(error).__name__}: {error}")
        return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=-3)}
    started = time.perf_counter()
    # A column a model leaves out is scored as all missing; SDMetrics then skips its shape (no score), so say so.
    not_generated = [column for column in split.train.columns if column not in synthetic.columns]
    try:
        synthetic = conform(synthetic, split)
        result = {
            **quality(split, scored["train"], synthetic, seed),
            "ml_efficacy": ml_efficacy(split, synthetic, scored["holdout"], seed),
            **dcr_share(split, scored["train"], synthetic, scored["holdout"], seed),
        }
    except Exception as error:  # noqa: BLE001
        log(f"    {name}: scoring FAILED: {type(error).__name__}: {error}")
        return {
            "error": f"scoring: {type(error).__name__}: {error}",
            "traceback": traceback.format_exc(limit=-3),
        }
    result.update(
        columns_not_generated=not_generated,
        fit_seconds=round(fit_seconds, 1),
        fit_cpu_seconds=round(fit_cpu_seconds, 1),
        sample_seconds=round(sample_seconds, 2),
        missing_share={
            "real": _round(scored["train"].isna().mean().mean()),
            "synthetic": _round(synthetic.isna().mean().mean()),
        },
        **model.describe(),
    )
    if split.task == CLASSIFICATION:
        rare = scored["train"][split.target].value_counts(normalize=True).idxmin()
        result["rare_class_share"] = _round((synthetic[split.target] == rare).mean())
    log(
        f"    {name}: fit {fit_seconds:.1f} s, sample {sample_seconds:.1f} s, scored in "
        f"{time.perf_counter() - started:.1f} s: quality {result['quality']}, ML efficacy "
        f"{result['ml_efficacy']}, DCR share {result['dcr_share']} (load {os.getloadavg()[0]:.1f})"
    )
    return result


# --------------------------------------------------------------------------
# Targets and printing
# --------------------------------------------------------------------------


def check_targets(results: dict) -> dict:
    """Issue 19's targets for fusegen, against the anchors that ran on each table."""

    def ok(row):
        return row is not None and "error" not in row

    per_table, efficacy_wins, efficacy_means = {}, [], {"fusegen": [], "best_anchor": []}
    for table, models in results["tables"].items():
        ours = models.get("fusegen")
        anchors = {name: row for name, row in models.items() if name in ANCHORS and ok(row)}
        if not ok(ours):
            per_table[table] = {"fusegen_ran": False}
            continue
        check = {"dcr_share_at_most_10_percent": ours["dcr_share"] <= COPYING_SHARE_LIMIT}
        if anchors:
            check["quality_at_least_best_anchor"] = ours["quality"] >= max(
                row["quality"] for row in anchors.values()
            )
            efficacies = [row["ml_efficacy"] for row in anchors.values() if row["ml_efficacy"] is not None]
            if efficacies and ours["ml_efficacy"] is not None:
                won = ours["ml_efficacy"] >= max(efficacies)
                check["ml_efficacy_at_least_best_anchor"] = won
                efficacy_wins.append(won)
                efficacy_means["fusegen"].append(ours["ml_efficacy"])
                efficacy_means["best_anchor"].append(max(efficacies))
        if ok(models.get("tabular_argn")):
            check["fit_at_most_tabular_argn"] = ours["fit_seconds"] <= models["tabular_argn"]["fit_seconds"]
        if ok(models.get("sdv_ctgan")):
            ctgan = models["sdv_ctgan"]
            check["fit_at_most_quarter_of_sdv_ctgan"] = ours["fit_seconds"] <= ctgan["fit_seconds"] / 4
            # CTGAN's fit estimated at its default 300 epochs where the budget stopped it sooner.
            check["fit_at_most_quarter_of_sdv_ctgan_default_epochs"] = (
                ours["fit_seconds"] <= ctgan["fit_seconds_default_epochs"] / 4
            )
        per_table[table] = check

    def on_every_table(key):
        # None where no table could check it (the anchor did not run).
        checked = [check[key] for check in per_table.values() if key in check]
        return all(checked) and len(checked) == len(per_table) if checked else None

    summary = {
        "quality_at_least_best_anchor_on_every_table": on_every_table("quality_at_least_best_anchor"),
        "ml_efficacy_wins": f"{sum(efficacy_wins)} of {len(efficacy_wins)}",
        "ml_efficacy_at_least_best_anchor_on_all_but_one": bool(efficacy_wins)
        and sum(efficacy_wins) >= len(efficacy_wins) - 1,
        "ml_efficacy_mean": {
            key: _round(np.mean(values)) if values else None for key, values in efficacy_means.items()
        },
        "ml_efficacy_mean_at_least_best_anchor_mean": bool(efficacy_means["fusegen"])
        and bool(np.mean(efficacy_means["fusegen"]) >= np.mean(efficacy_means["best_anchor"])),
        "fit_at_most_tabular_argn_on_every_table": on_every_table("fit_at_most_tabular_argn"),
        "fit_at_most_quarter_of_sdv_ctgan_on_every_table": on_every_table("fit_at_most_quarter_of_sdv_ctgan"),
        "fit_at_most_quarter_of_sdv_ctgan_default_epochs_on_every_table": on_every_table(
            "fit_at_most_quarter_of_sdv_ctgan_default_epochs"
        ),
        "dcr_share_at_most_10_percent_on_every_table": on_every_table("dcr_share_at_most_10_percent"),
    }
    return {"summary": summary, "tables": per_table}


def format_table(split: SuiteSplit, models: dict, real_efficacy) -> str:
    metric = "macro F1" if split.task == CLASSIFICATION else "R^2"
    header = (
        f"{'model':<14} {'quality':>8} {'shapes':>7} {'pairs':>7} {'ML eff.':>8} {'DCR sh.':>8} "
        f"{'fit s':>8} {'fit cpu':>8} {'sample s':>9}  worst columns (shape score)"
    )
    lines = [
        f"{split.name}: {len(split.train):,} train / {len(split.holdout):,} holdout rows, "
        f"{split.train.shape[1]} columns; target {split.target} ({metric}; real -> real {real_efficacy}); "
        + "; ".join(split.notes),
        header,
        "-" * len(header),
    ]
    for name, row in models.items():
        if "error" in row:
            lines.append(f"{name:<14} FAILED: {row['error'][:150]}")
            continue
        # SDMetrics leaves a property unscored (None here) where no column or pair of its kind is scored.
        quality_cells = " ".join(
            f"{'n/a' if row[key] is None else format(row[key], '.3f'):>{width}}"
            for key, width in (("quality", 8), ("column_shapes", 7), ("column_pair_trends", 7))
        )
        efficacy = "n/a" if row["ml_efficacy"] is None else f"{row['ml_efficacy']:.3f}"
        worst = ", ".join(f"{column} {score:.2f}" for column, score in row["worst_columns"].items())
        if row.get("columns_not_generated"):
            worst += f"; not generated: {', '.join(row['columns_not_generated'])}"
        lines.append(
            f"{name:<14} {quality_cells} {efficacy:>8} {row['dcr_share']:>8.3f} {row['fit_seconds']:>8.1f} {row['fit_cpu_seconds']:>8.1f} "
            f"{row['sample_seconds']:>9.2f}  {worst}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="About 10 minutes on 2 CPU cores.")
    parser.add_argument("--tables", default=",".join(TABLES), help=f"Comma-separated, of {list(TABLES)}.")
    parser.add_argument("--models", default=",".join(MODELS), help=f"Comma-separated, of {MODELS}.")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--out", type=Path, help="Also write the JSON here, after every model (a long run's partial results)."
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    settings = SETTINGS[mode]
    table_names, model_names = args.tables.split(","), args.models.split(",")
    unknown = [name for name in table_names if name not in TABLES] + [
        name for name in model_names if name not in MODELS
    ]
    if unknown:
        parser.error(
            f"unknown table or model {unknown}; expected tables of {list(TABLES)}, models of {MODELS}"
        )
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(2)  # the machine's cores; see OMP_WAIT_POLICY above
    load_before = os.getloadavg()[0]
    started = time.perf_counter()

    splits, results = {}, {"tables": {}, "real": {}}
    for name in table_names:
        split = load_split(name, settings["max_rows"], args.seed)
        splits[name] = split
        log(
            f"{name}: {len(split.train):,} training rows, {len(split.holdout):,} holdout rows; {'; '.join(split.notes)}"
        )
        scored = {"train": conform(split.train, split), "holdout": conform(split.holdout, split)}
        results["real"][name] = ml_efficacy(split, scored["train"], scored["holdout"], args.seed)
        results["tables"][name] = {}
        for model in model_names:
            results["tables"][name][model] = run_model(model, split, scored, settings, args.seed, log)
            if args.out:
                args.out.write_text(json.dumps({"partial": True, **results}, allow_nan=False, default=str))

    print(f"tabular suite ({mode}), seed {args.seed}, {os.cpu_count()} CPU cores")
    for name, split in splits.items():
        print()
        print(format_table(split, results["tables"][name], results["real"][name]))
    print(
        "\nquality: SDMetrics QualityReport (shapes: Column Shapes, pairs: Column Pair Trends); ML eff.: "
        "HistGradientBoosting trained on synthetic, scored on the real holdout (macro F1 or R^2); DCR sh.: share "
        "of synthetic rows closer to a training row than the holdout's 5th percentile (~0.05 without copying)."
    )

    targets = check_targets(results)
    result = {
        "benchmark": "tabular_suite",
        "tables": results["tables"],
        "ml_efficacy_real": results["real"],
        "targets": targets,
        "settings": {
            "mode": mode,
            **settings,
            "seed": args.seed,
            "holdout_share": HOLDOUT_SHARE,
            "quality_rows": QUALITY_ROWS,
            "dcr_rows": DCR_ROWS,
            "tables": {
                name: {
                    "train_rows": len(split.train),
                    "holdout_rows": len(split.holdout),
                    "columns": split.train.shape[1],
                    "target": split.target,
                    "task": split.task,
                    "datetime_columns": split.dates,
                    "sdv_sdtypes": sdtypes(split),
                    "notes": split.notes,
                }
                for name, split in splits.items()
            },
        },
        "machine": describe_machine(
            load_before,
            ("torch", "sdv", "mostlyai.engine", "sdmetrics", "sklearn", "fusegen"),
            torch_threads=torch.get_num_threads(),
            git_commit=_git_commit(),
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print("\ntargets: " + json.dumps(targets["summary"]))
    sys.stderr.flush()
    line = json.dumps(result, allow_nan=False, default=str)
    if args.out:
        args.out.write_text(line)
    print(line, flush=True)
    return result


if __name__ == "__main__":
    main()
