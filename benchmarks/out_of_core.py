"""Benchmark: training a record generator from Parquet shards streamed, against the table in memory.

It writes a seeded table of 20 mixed columns (an id, 8 numeric and 3
categorical inputs; a record of 5 numeric and 3 categorical columns) as 40
Parquet shards in a temporary folder, then runs, each in a fresh process so
that peak resident memory (ru_maxrss) is that run's alone:

  streamed:           one epoch over every row, data.stream: true;
  streamed, subset:   one epoch over the first 1,000,000 rows' shards, streamed;
  in memory, subset:  the same shards and spec with data.stream: false.

Each reports peak RSS, the seconds until preprocessing was fitted (reading
included), and training samples per second (training rows over the epoch's
seconds, from Keras's epoch callbacks). The two subset runs split by the
same key, so their fitted preprocessing can be compared: the largest
difference of a mean or scale relative to its size, and of a quantile
relative to its column's range (at 101 levels, and at each of the 1,000
saved ones). Targets (docs/distributed.md, issue 20):
peak RSS at most 2 GB streamed over 20M rows, streamed throughput at least
0.9x in memory, preprocessing within 1%. The last line of stdout is one JSON
object.

    python benchmarks/out_of_core.py --quick   # 400,000 rows, 100,000 in the subset: about a minute
    python benchmarks/out_of_core.py           # 20,000,000 rows, 1,000,000 in the subset
    python benchmarks/out_of_core.py --subset-only   # the subset's two runs alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = {
    "full": {"rows": 20_000_000, "subset_rows": 1_000_000},
    "quick": {"rows": 400_000, "subset_rows": 100_000},
}
NUM_SHARDS = 40
BATCH_SIZE = 512
SEED = 0
LABELS = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"], dtype=object)

CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
import keras
import fusegen
from fusegen.spec import load_spec

spec_json, out = sys.argv[1], sys.argv[2]
marks = {}

def log(message):
    if "training on" in message and "fitted" not in marks:
        marks["fitted"] = time.perf_counter() - started
        marks["rows"] = int(message.split()[2])

class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.begun = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        marks["epoch_seconds"] = time.perf_counter() - self.begun

generator = fusegen.Generator(load_spec(json.loads(spec_json)))
generator.fit(verbose=0, log=log, callbacks=[EpochTimer()])
with open(out, "w") as file:
    json.dump(generator.preprocessor_.get_state(), file)
print(json.dumps({
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "fit_seconds": marks["fitted"],
    "train_rows": marks["rows"],
    "epoch_seconds": marks["epoch_seconds"],
    "samples_per_second": marks["rows"] / marks["epoch_seconds"],
    "loss": generator.history_["loss"][-1],
    "seconds": time.perf_counter() - started,
}))
"""


def write_shards(folder: Path, rows: int, num_files: int = NUM_SHARDS) -> list[Path]:
    """``rows`` rows in `NUM_SHARDS` Parquet files, generated a shard at a time (seeded); the first ``num_files``."""
    import pandas as pd

    rng = np.random.default_rng(SEED)
    per_shard = rows // NUM_SHARDS
    weights = rng.normal(size=(8, 5))
    paths = []
    for index in range(num_files):
        columns = {"id": np.arange(per_shard, dtype="int64") + index * per_shard}
        numbers = rng.normal(size=(per_shard, 8))
        codes = rng.integers(0, len(LABELS), size=(per_shard, 3))
        for feature in range(8):
            columns[f"x{feature}"] = numbers[:, feature]
        for feature in range(3):
            columns[f"c{feature}"] = LABELS[codes[:, feature]]
        targets = numbers @ weights + codes[:, :1] + rng.normal(0, 0.3, size=(per_shard, 5))
        for feature in range(5):
            columns[f"y{feature}"] = np.round(targets[:, feature], 3)
        for feature in range(3):
            columns[f"k{feature}"] = LABELS[(codes[:, feature] + (numbers[:, feature] > 0)) % len(LABELS)]
        path = folder / f"part-{index:03d}.parquet"
        pd.DataFrame(columns).to_parquet(path, index=False)
        paths.append(path)
    return paths


def spec(source: str, stream: bool) -> dict:
    return {
        "name": "out_of_core",
        "data": {"source": source, "stream": stream, "split_key": "id", "validation_split": 0.05},
        "inputs": {
            "numbers": {"kind": "numeric", "columns": [f"x{feature}" for feature in range(8)]},
            **{f"c{feature}": {"kind": "categorical"} for feature in range(3)},
        },
        "output": {
            "name": "record",
            "kind": "record",
            "numeric": [f"y{feature}" for feature in range(5)],
            "categorical": [f"k{feature}" for feature in range(3)],
            "head": {"type": "mlp", "units": [128, 128]},
        },
        "objective": {"type": "cvae", "latent_dim": 8},
        "training": {
            "epochs": 1,
            "batch_size": BATCH_SIZE,
            "seed": SEED,
            "tensorboard": False,
            "ema_momentum": None,
        },
    }


def run_child(spec_dict: dict, state_path: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec_dict), str(state_path)],
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        raise RuntimeError(f"the run failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def preprocessing_difference(streamed: dict, in_memory: dict) -> dict:
    """The largest relative differences between two preprocessing states of the same spec."""
    scales = []
    for name, state in in_memory["inputs"].items():
        for key in ("mean", "std"):
            if key in state:
                want, got = np.asarray(state[key]), np.asarray(streamed["inputs"][name][key])
                scales.append(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-9)))
    quantiles, every_level = [], []
    for column, state in in_memory["output"]["numeric"].items():
        width = state["high"] - state["low"]
        got = np.asarray(streamed["output"]["numeric"][column]["quantiles"])
        want = np.asarray(state["quantiles"])
        levels = np.linspace(0, 1, 101)
        quantiles.append(np.max(np.abs(np.quantile(got, levels) - np.quantile(want, levels))) / width)
        # Stricter: each of the saved levels (1,000 of them), where the tails are finest.
        levels = np.linspace(0, 1, max(len(got), len(want)))
        every_level.append(np.max(np.abs(np.quantile(got, levels) - np.quantile(want, levels))) / width)
    vocabularies_equal = streamed["output"]["vocabularies"] == in_memory["output"]["vocabularies"] and all(
        streamed["inputs"][name].get("vocabulary") == state.get("vocabulary")
        for name, state in in_memory["inputs"].items()
    )
    return {
        "max_relative_mean_or_scale": float(max(scales)),
        "max_quantile_over_range": float(max(quantiles)),
        "max_quantile_over_range_every_level": float(max(every_level)),
        "vocabularies_equal": bool(vocabularies_equal),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="400,000 rows instead of 20,000,000.")
    parser.add_argument(
        "--subset-only",
        action="store_true",
        help="Only the two subset runs (the subset's shards alone are written, the same rows): "
        "throughput and preprocessing again, without the run over every row.",
    )
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    with tempfile.TemporaryDirectory(prefix="fusegen-out-of-core-") as folder:
        folder = Path(folder)
        subset_files = settings["subset_rows"] * NUM_SHARDS // settings["rows"]
        started = time.perf_counter()
        shards = write_shards(folder, settings["rows"], subset_files if args.subset_only else NUM_SHARDS)
        written = time.perf_counter() - started
        # The subset: the first shards, linked into their own folder so that one glob reads them.
        subset = folder / "subset"
        subset.mkdir()
        for path in shards[:subset_files]:
            (subset / path.name).symlink_to(path)
        runs = {}
        for label, source, stream in (
            *([] if args.subset_only else [("streamed", folder / "part-*.parquet", True)]),
            ("streamed_subset", subset / "part-*.parquet", True),
            ("in_memory_subset", subset / "part-*.parquet", False),
        ):
            runs[label] = run_child(spec(str(source), stream), folder / f"{label}.json")
            print(label, json.dumps(runs[label]), flush=True)
        states = {label: json.loads((folder / f"{label}.json").read_text()) for label in runs}
    result = {
        "benchmark": "out_of_core",
        "rows": settings["rows"],
        "subset_rows": settings["subset_rows"],
        "columns": 20,
        "shards": NUM_SHARDS,
        "batch_size": BATCH_SIZE,
        "quick": args.quick,
        "subset_only": args.subset_only,
        "write_seconds": written,
        "runs": runs,
        "throughput_streamed_over_in_memory": runs["streamed_subset"]["samples_per_second"]
        / runs["in_memory_subset"]["samples_per_second"],
        "preprocessing_difference": preprocessing_difference(
            states["streamed_subset"], states["in_memory_subset"]
        ),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
