"""Benchmark: filling missing cells for a downstream model, fusegen against mean/mode, IterativeImputer and TabularARGN.

For each table of the tabular suite (``benchmarks/suite_tables.py``; flights,
at 40,000 training rows, only when asked for with ``--tables``) and each
seed, the rows are split 80/20 as ``benchmarks/tabular.py`` splits them. In
the training rows, 20% of the cells of every column but the target and the
dates are hidden at random (seeded, independently per cell). Each method
fills them; a HistGradientBoosting model (scikit-learn's defaults,
``random_state=seed``, labels as categorical features) is trained on the
filled training rows and scored on the real holdout rows: macro F1 for a
classification target, R^2 for a regression target, exactly as
``tabular.py``'s ML efficacy. On the hidden cells themselves it also reports
each method's error: for numbers the RMSE over the column's standard
deviation (averaged over the columns), for labels the share filled with the
true label.

The methods:

  complete      the training rows before any cell was hidden (the ceiling).
  histgb_nan    no filling: HistGradientBoosting's own handling of missing
                values (a reference, not an imputer).
  mean_mode     scikit-learn's SimpleImputer: each number's mean, each
                label column's most frequent label.
  iterative     scikit-learn's IterativeImputer at its defaults (BayesianRidge,
                10 rounds, ``random_state=seed``) on the numbers and the label
                columns' ordinal codes, each code rounded back to the nearest
                label.
  fusegen       the spec ``fusegen init`` infers from the training rows with
                their hidden cells, written to CSV (every column is then
                nullable and any column can condition), trained, then
                ``Generator.impute(rows)``: one draw per missing cell, given
                the row's observed cells.
  fusegen_expected  the same trained generator (fitted once for both),
                ``Generator.impute(rows, strategy="expected")``: each
                missing number the mean of 20 draws, each label the most
                frequent of 20.
  tabular_argn  mostlyai-engine's TabularARGN at its defaults on the CPU
                (max_epochs 100 with early stopping; ``max_training_time``
                capped at 4 minutes, 1 with ``--quick``) fitted on the same
                rows, then ``impute(rows)``: one draw, its default.

Prints a table per table as it goes and one JSON line last.

Usage::

    python benchmarks/imputation.py --quick   # 1 seed, at most 1,500 rows a table, a tenth of every default's epochs
    python benchmarks/imputation.py           # seeds 0, 1, 2; the suite's tables but flights

Needs the bench extra: ``pip install -e ".[cpu,dev,bench]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/tabular_ctgan.py
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parent))

# mostlyai-engine before TensorFlow: the other order aborts the process (see benchmarks/tabular.py).
import mostlyai.engine  # noqa: E402, F401, I001
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from machine import describe_machine  # noqa: E402
from suite_tables import TABLES  # noqa: E402
from tabular import ARGN_DEFAULT_MAX_EPOCHS, SETTINGS, conform, load_split, ml_efficacy  # noqa: E402

import fusegen  # noqa: E402
from fusegen.data.inference import infer_record_spec  # noqa: E402
from fusegen.spec import load_spec  # noqa: E402

#: Share of the cells hidden in every column but the target and the dates.
MASK_SHARE = 0.2
METHODS = ("complete", "histgb_nan", "mean_mode", "iterative", "fusegen", "fusegen_expected", "tabular_argn")
#: fusegen's ways of filling a cell, each its own method in the tables.
FUSEGEN_STRATEGIES = {"fusegen": "draw", "fusegen_expected": "expected"}
DEFAULT_TABLES = [name for name in TABLES if name != "flights"]


def hide_cells(train: pd.DataFrame, columns: list[str], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``train`` with a ``MASK_SHARE`` of the cells of ``columns`` hidden, and where (True: hidden)."""
    rng = np.random.default_rng(seed)
    hidden = pd.DataFrame(False, index=train.index, columns=train.columns)
    for column in columns:
        hidden[column] = rng.random(len(train)) < MASK_SHARE
    return train.mask(hidden), hidden & train.notna()  # a cell already missing was not hidden by us


def mean_mode(masked: pd.DataFrame, numbers: list[str], labels: list[str], seed: int) -> pd.DataFrame:
    from sklearn.impute import SimpleImputer

    filled = masked.copy()
    if numbers:
        filled[numbers] = SimpleImputer(strategy="mean").fit_transform(masked[numbers])
    for column in labels:
        filled[column] = masked[column].fillna(masked[column].mode().iloc[0])
    return filled


def iterative(masked: pd.DataFrame, numbers: list[str], labels: list[str], seed: int) -> pd.DataFrame:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    codes = {column: pd.Categorical(masked[column]) for column in labels}
    matrix = pd.DataFrame({column: masked[column] for column in numbers})
    for column, categorical in codes.items():
        matrix[column] = np.where(categorical.codes < 0, np.nan, categorical.codes).astype(float)
    result = IterativeImputer(random_state=seed).fit_transform(matrix)
    filled = masked.copy()
    for index, column in enumerate(matrix.columns):
        values = result[:, index]
        if column in codes:
            categories = codes[column].categories
            values = np.asarray(categories)[np.clip(np.round(values), 0, len(categories) - 1).astype(int)]
        filled[column] = values
    return filled


#: The generator fitted for a (table, seed), shared by fusegen's strategies: they differ only in
#: how the trained model fills a cell, so one fit serves both (its seconds go to the first).
_fitted: dict = {}


def fusegen_impute(
    masked: pd.DataFrame, split, settings: dict, seed: int, strategy: str
) -> tuple[pd.DataFrame, dict]:
    key = (split.name, seed)
    if key not in _fitted:
        _fitted.clear()  # one table's generator at a time
        with tempfile.TemporaryDirectory(prefix="fusegen-impute-") as folder:
            path = Path(folder) / f"{split.name}.csv"
            masked.to_csv(path, index=False)
            spec, _ = infer_record_spec(path)
            spec["training"]["seed"] = seed
            spec["training"]["epochs"] = max(1, round(spec["training"]["epochs"] * settings["epoch_scale"]))
            _fitted[key] = fusegen.Generator(load_spec(spec), base_dir=folder).fit(verbose=0)
    generator = _fitted[key]
    filled = generator.impute(masked, seed=seed, strategy=strategy)
    return filled, {"epochs": generator.spec.training.epochs, "strategy": strategy}


def argn_impute(masked: pd.DataFrame, split, settings: dict, seed: int) -> tuple[pd.DataFrame, dict]:
    from mostlyai.engine import TabularARGN

    frame = masked.copy()
    for column in split.dates:
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(None)
    max_epochs = ARGN_DEFAULT_MAX_EPOCHS * settings["epoch_scale"]
    minutes = settings["anchor_budget_seconds"] / 60
    model = TabularARGN(
        max_epochs=max_epochs, max_training_time=minutes, device="cpu", random_state=seed, verbose=0
    )
    model.fit(frame)
    return model.impute(frame), {"max_epochs": max_epochs, "max_training_minutes": minutes}


def cell_errors(filled: pd.DataFrame, truth: pd.DataFrame, hidden: pd.DataFrame, numbers, labels) -> dict:
    """On the hidden cells: numbers' RMSE over each column's std (mean over columns); labels' accuracy."""
    scaled, correct = [], []
    for column in numbers:
        rows = hidden[column].to_numpy()
        if rows.any():
            error = filled[column].to_numpy(float)[rows] - truth[column].to_numpy(float)[rows]
            scale = truth[column].std() or 1.0
            scaled.append(float(np.sqrt(np.nanmean(error**2))) / scale)
    for column in labels:
        rows = hidden[column].to_numpy()
        if rows.any():
            correct.append(
                float((filled[column][rows].astype(str) == truth[column][rows].astype(str)).mean())
            )
    return {
        "numeric_nrmse": round(float(np.mean(scaled)), 4) if scaled else None,
        "label_accuracy": round(float(np.mean(correct)), 4) if correct else None,
        "still_missing": int(
            filled.loc[:, hidden.any()].isna().to_numpy()[hidden.loc[:, hidden.any()]].sum()
        ),
    }


def run_table(name: str, seed: int, settings: dict, methods: list[str], log) -> dict:
    split = load_split(name, settings["max_rows"], seed)
    train = conform(split.train, split)
    holdout = conform(split.holdout, split)
    masked_columns = [
        column for column in train.columns if column != split.target and column not in split.dates
    ]
    numbers = [column for column in masked_columns if pd.api.types.is_numeric_dtype(train[column])]
    labels = [column for column in masked_columns if column not in numbers]
    masked, hidden = hide_cells(train, masked_columns, seed)
    log(f"{name} seed {seed}: {len(train):,} training rows, {int(hidden.to_numpy().sum()):,} cells hidden")
    results = {}
    for method in methods:
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        torch.manual_seed(seed)
        started, extra = time.perf_counter(), {}
        try:
            if method == "complete":
                filled = train
            elif method == "histgb_nan":
                filled = masked
            elif method == "mean_mode":
                filled = mean_mode(masked, numbers, labels, seed)
            elif method == "iterative":
                filled = iterative(masked, numbers, labels, seed)
            elif method in FUSEGEN_STRATEGIES:
                filled, extra = fusegen_impute(masked, split, settings, seed, FUSEGEN_STRATEGIES[method])
            else:
                filled, extra = argn_impute(masked, split, settings, seed)
            seconds = time.perf_counter() - started
            filled = conform(filled, split)
            result = {"ml_efficacy": ml_efficacy(split, filled, holdout, seed), "seconds": round(seconds, 1)}
            if method not in ("complete", "histgb_nan"):
                result.update(cell_errors(filled, train, hidden, numbers, labels))
            results[method] = {**result, **extra}
        except Exception as error:  # noqa: BLE001 - a method's failure is a result, not the benchmark's end
            results[method] = {
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(-3),
            }
        shown = {key: value for key, value in results[method].items() if key != "traceback"}
        log(f"    {method}: {shown}")
    return {"task": split.task, "target": split.target, "training_rows": len(train), "methods": results}


def summarise(runs: dict, methods: list[str]) -> dict:
    """Per table and method the median ML efficacy over the seeds, and the targets."""
    tables = {}
    for name, seeds in runs.items():
        tables[name] = {}
        for method in methods:
            scores = [run["methods"][method].get("ml_efficacy") for run in seeds.values()]
            scores = [score for score in scores if score is not None]
            tables[name][method] = round(float(np.median(scores)), 4) if scores else None
    baselines = ("mean_mode", "iterative")
    targets = {}
    for variant in FUSEGEN_STRATEGIES:
        compared = [name for name, row in tables.items() if row.get(variant) is not None]
        if not compared:
            continue
        beats = [name for name in compared if all(row is None or tables[name][variant] >= row
                                                  for row in (tables[name].get(b) for b in baselines))]  # fmt: skip
        gap_to_argn = [
            tables[name][variant] - tables[name]["tabular_argn"]
            for name in compared
            if tables[name].get("tabular_argn") is not None
        ]
        means = {
            method: round(float(np.mean([tables[name][method] for name in compared])), 4)
            for method in (variant, *baselines)
            if all(tables[name].get(method) is not None for name in compared)
        }
        targets[variant] = {
            "tables": len(compared),
            "at_least_mean_mode_and_iterative": len(beats),
            "tables_where_not": sorted(set(compared) - set(beats)),
            "mean_over_tables": means,
            "mean_gap_to_tabular_argn": round(float(np.mean(gap_to_argn)), 4) if gap_to_argn else None,
        }
    return {"median_ml_efficacy": tables, "targets": targets}


def format_table(summary: dict, methods: list[str]) -> str:
    lines = ["| table | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for name, row in summary["median_ml_efficacy"].items():
        cells = ["-" if row[method] is None else f"{row[method]:.3f}" for method in methods]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, at most 1,500 rows, a tenth of the epochs."
    )
    parser.add_argument(
        "--tables", default=",".join(DEFAULT_TABLES), help=f"Comma-separated, of {list(TABLES)}."
    )
    parser.add_argument("--methods", default=",".join(METHODS), help=f"Comma-separated, of {list(METHODS)}.")
    parser.add_argument("--repeats", type=int, default=None, help="Seeds per table (default 3; --quick 1).")
    parser.add_argument("--seed", type=int, default=0, help="The first seed; repeat r uses seed + r.")
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    tables, methods = args.tables.split(","), args.methods.split(",")
    unknown = sorted(set(tables) - set(TABLES)) + sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown tables or methods {unknown}; tables: {list(TABLES)}, methods: {list(METHODS)}")
    repeats = args.repeats or (1 if args.quick else 3)
    warnings.filterwarnings("ignore")
    started, load_before = time.perf_counter(), os.getloadavg()[0]

    def log(message):
        print(message, file=sys.stderr, flush=True)

    runs = {
        name: {str(seed): run_table(name, seed, settings, methods, log) for seed in range(args.seed, args.seed + repeats)}
        for name in tables
    }  # fmt: skip
    summary = summarise(runs, methods)
    print(format_table(summary, methods))
    print(f"targets: {summary['targets']}")
    result = {
        "benchmark": "imputation",
        **summary,
        "settings": {"quick": args.quick, "mask_share": MASK_SHARE, "repeats": repeats, **settings},
        "runs": runs,
        "machine": describe_machine(
            load_before,
            ("torch", "sklearn", "mostlyai.engine", "fusegen"),
        ),  # fmt: skip
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, default=str))
    return result


if __name__ == "__main__":
    main()
