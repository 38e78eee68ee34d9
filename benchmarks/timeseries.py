"""Benchmark: fusegen's unconditional time-series generator on TimeGAN's sines and stocks.

Datasets, both with windows of 24 steps, as in TimeGAN's public code
(jsyoon0823/TimeGAN, data_loading.py):

  sines:   10,000 windows of 5 channels; each channel of each window is
           sin(f * t + p) with f and p drawn uniformly in [0, 0.1], scaled
           to [0, 1] by (x + 1) / 2. Seeded, so every run draws the same set.
  stocks:  benchmarks/data/stock_data.csv (TimeGAN's Google daily prices,
           Apache-2.0; see benchmarks/data/README.md): the rows reversed as
           TimeGAN's code reverses them, each column min-max scaled to
           [0, 1], then every sliding window of 24 rows (3,661 windows of 6
           channels).

fusegen trains the generator a spec with no inputs describes (below): a
diffusion model whose denoiser is a stack of dilated residual 1-D
convolutions, predicting velocity, with an exponential moving average of the
weights. It then samples as many windows as the dataset has, clipped per
channel to the training range (the sequence output's default, as TimeGAN's
sigmoid output bounds its samples). Nothing is tuned per dataset; both get
the same spec and training length.

Scores (fusegen.metrics.timeseries, TimeGAN's post-hoc protocol; lower is better):

  discriminative:  |accuracy - 0.5| of a one-layer GRU trained to tell real
                   from synthetic windows (2,000 iterations).
  predictive:      MAE on the real windows of a one-layer GRU trained on the
                   synthetic ones to predict the last channel one step ahead
                   (5,000 iterations).

Each metric is computed ``--repetitions`` times on the same samples (TimeGAN
reports the mean over repetitions of its metrics), giving mean and std.
As the floor of each metric, the same protocol scores real data against
real data: for sines, a fresh draw of 10,000 windows; for stocks, the
windows against themselves shuffled (the predictive floor is the GRU
trained on the real windows).

The readable table goes to stdout, progress to stderr, and the last line of
stdout is one JSON object.

    python benchmarks/timeseries.py --quick   # under five minutes on 2 CPU cores
    python benchmarks/timeseries.py           # 5 repetitions, ~15 min per dataset
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

import fusegen  # noqa: E402
from fusegen.metrics.timeseries import discriminative_score, predictive_score  # noqa: E402
from fusegen.spec import GeneratorSpec  # noqa: E402

WINDOW = 24
STOCKS = Path(__file__).parent / "data" / "stock_data.csv"

# Published scores (lower is better): TimeGAN (Yoon et al., NeurIPS 2019, Table 2),
# TimeVAE (Desai et al., 2021) and Diffusion-TS (Yuan & Qiao, ICLR 2024, Table 1).
PUBLISHED = {
    "TimeGAN": {"sines": (0.011, 0.093), "stocks": (0.102, 0.038)},
    "TimeVAE": {"sines": (0.041, None), "stocks": (0.145, None)},
    "Diffusion-TS": {"sines": (0.006, 0.093), "stocks": (0.067, 0.036)},
}

SETTINGS = {
    "quick": {
        "epochs": 8,
        "repetitions": 1,
        "sines_windows": 2_000,
        "disc_iterations": 500,
        "pred_iterations": 1000,
    },
    "full": {
        "epochs": 60,
        "repetitions": 5,
        "sines_windows": 10_000,
        "disc_iterations": 2000,
        "pred_iterations": 5000,
    },
}


def sine_windows(count: int, channels: int = 5, seed: int = 0) -> np.ndarray:
    """TimeGAN's sines: per window and channel, sin(f t + p) with f, p ~ U(0, 0.1), scaled to [0, 1]."""
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(0, 0.1, (count, 1, channels))
    phase = rng.uniform(0, 0.1, (count, 1, channels))
    steps = np.arange(WINDOW)[None, :, None]
    return ((np.sin(frequency * steps + phase) + 1) / 2).astype("float32")


def stock_windows() -> np.ndarray:
    """TimeGAN's stocks: reversed rows, min-max scaled columns, every sliding window of 24."""
    prices = np.loadtxt(STOCKS, delimiter=",", skiprows=1)[::-1]
    low, high = prices.min(axis=0), prices.max(axis=0)
    scaled = (prices - low) / (high - low + 1e-7)  # the 1e-7 is TimeGAN's
    windows = np.stack([scaled[start : start + WINDOW] for start in range(len(scaled) - WINDOW)])
    return windows.astype("float32")


def generator_spec(channels: int, epochs: int, seed: int) -> GeneratorSpec:
    """The unconditional spec fusegen trains: one sequence output and no inputs."""
    return GeneratorSpec.model_validate(
        {
            "name": "timeseries_benchmark",
            "data": {"validation_split": 0.0},
            "output": {"name": "window", "kind": "sequence", "steps": WINDOW, "channels": channels},
            "objective": {
                "type": "diffusion",
                "timesteps": 500,
                "sampling_steps": 100,
                "denoiser_width": 64,
                "denoiser_depth": 4,
            },
            "training": {
                "batch_size": 64,
                "epochs": epochs,
                "learning_rate": 1e-3,
                # The usual weight average of diffusion models; it averages over ~1,000 steps,
                # so the quick run's few hundred steps train without it.
                "ema_momentum": 0.999 if epochs >= 30 else None,
                "seed": seed,
                "tensorboard": False,
            },
        }
    )


def run_fusegen(windows: np.ndarray, epochs: int, seed: int, log) -> tuple[np.ndarray, dict]:
    generator = fusegen.Generator(generator_spec(windows.shape[2], epochs, seed))
    started = time.perf_counter()
    generator.fit({"window": windows}, verbose=0)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = generator.sample(num_samples=len(windows), seed=seed)
    sample_seconds = time.perf_counter() - started
    losses = generator.history_.get("loss", [])
    log(
        f"    fusegen: {epochs} epochs in {fit_seconds:.0f} s (loss {losses[0]:.3f} -> {losses[-1]:.3f}), "
        f"sampled {len(synthetic):,} windows in {sample_seconds:.0f} s"
    )
    return synthetic, {"fit_seconds": round(fit_seconds, 1), "sample_seconds": round(sample_seconds, 1)}


def score(real: np.ndarray, synthetic: np.ndarray, settings: dict, repetitions: int, seed: int) -> dict:
    discriminative = [
        discriminative_score(real, synthetic, iterations=settings["disc_iterations"], seed=seed + rep)
        for rep in range(repetitions)
    ]
    predictive = [
        predictive_score(real, synthetic, iterations=settings["pred_iterations"], seed=seed + rep)
        for rep in range(repetitions)
    ]
    return {
        "discriminative": round(float(np.mean(discriminative)), 4),
        "discriminative_std": round(float(np.std(discriminative)), 4),
        "predictive": round(float(np.mean(predictive)), 4),
        "predictive_std": round(float(np.std(predictive)), 4),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Under five minutes on 2 CPU cores.")
    parser.add_argument("--datasets", default="sines,stocks", help="Comma-separated: sines, stocks.")
    parser.add_argument(
        "--repetitions", type=int, default=None, help="Metric repetitions (default 5, quick 1)."
    )
    parser.add_argument("--epochs", type=int, default=None, help="Override the training epochs.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = dict(SETTINGS["quick" if args.quick else "full"])
    repetitions = args.repetitions or settings["repetitions"]
    epochs = args.epochs or settings["epochs"]
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()

    results = {}
    for name in args.datasets.split(","):
        if name == "sines":
            real = sine_windows(settings["sines_windows"], seed=args.seed)
            reference = sine_windows(settings["sines_windows"], seed=args.seed + 1)
        elif name == "stocks":
            real = stock_windows()
            reference = np.random.default_rng(args.seed).permutation(real)
        else:
            raise SystemExit(f"unknown dataset '{name}'; choose from sines, stocks.")
        log(f"{name}: {real.shape[0]:,} windows of {real.shape[1]} steps x {real.shape[2]} channels")
        synthetic, timings = run_fusegen(real, epochs, args.seed, log)
        started_scoring = time.perf_counter()
        fusegen_scores = score(real, synthetic, settings, repetitions, args.seed)
        floor = score(real, reference, settings, repetitions, args.seed)
        log(
            f"    scored in {time.perf_counter() - started_scoring:.0f} s: fusegen {fusegen_scores}, real-vs-real {floor}"
        )
        results[name] = {
            **fusegen_scores,
            **timings,
            "epochs": epochs,
            "windows": int(real.shape[0]),
            "synthetic_range": [round(float(synthetic.min()), 3), round(float(synthetic.max()), 3)],
            "real_vs_real": floor,
        }

    print_table(results, repetitions)
    import tensorflow

    summary = {
        "benchmark": "timeseries",
        "mode": "quick" if args.quick else "full",
        "repetitions": repetitions,
        "datasets": results,
        "published": {
            model: {
                data: dict(zip(("discriminative", "predictive"), scores, strict=True))
                for data, scores in rows.items()
            }
            for model, rows in PUBLISHED.items()
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "tensorflow": tensorflow.__version__,
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    return summary


def print_table(results: dict, repetitions: int) -> None:
    print(f"\nTimeGAN's post-hoc scores, mean ± std over {repetitions} repetition(s); lower is better\n")
    print(
        "| model | discriminative, sines | discriminative, stocks | predictive, sines | predictive, stocks |"
    )
    print("|---|---|---|---|---|")

    def cell(dataset, key, source=None):
        row = results.get(dataset)
        if row is None:
            return "–"
        row = row if source is None else row[source]
        return f"{row[key]:.3f} ± {row[key + '_std']:.3f}"

    print(
        f"| fusegen (diffusion) | {cell('sines', 'discriminative')} | {cell('stocks', 'discriminative')} "
        f"| {cell('sines', 'predictive')} | {cell('stocks', 'predictive')} |"
    )
    print(
        f"| real vs real (floor) | {cell('sines', 'discriminative', 'real_vs_real')} "
        f"| {cell('stocks', 'discriminative', 'real_vs_real')} | {cell('sines', 'predictive', 'real_vs_real')} "
        f"| {cell('stocks', 'predictive', 'real_vs_real')} |"
    )
    for model, rows in PUBLISHED.items():
        values = [rows[data][index] for index in (0,) for data in ("sines", "stocks")]
        values += [rows[data][1] for data in ("sines", "stocks")]
        cells = " | ".join("–" if value is None else f"{value:.3f}" for value in values)
        print(f"| {model} (published) | {cells} |")
    for name, row in results.items():
        print(
            f"\n{name}: fit {row['fit_seconds']} s ({row['epochs']} epochs), sampling {row['sample_seconds']} s"
        )


if __name__ == "__main__":
    main()
