"""Benchmark: peak memory of sampling records, streamed to a file against gathered in memory.

A record generator (the penguins example, trained for a few epochs: memory
does not depend on how good it is) samples 10,000 and 1,000,000 rows two
ways, each in a fresh process so peak resident memory (ru_maxrss) is that
process's alone:

  streamed:  `fusegen sample RUN -n N --out samples.parquet`, which writes
             each batch as it is generated (Generator.iter_samples and
             fusegen.writers.write_output_stream);
  gathered:  Generator.sample(num_samples=N), the whole DataFrame in memory,
             then DataFrame.to_parquet: what a hand-written loop does.

Bounded memory means the streamed peak for 1,000,000 rows stays within a few
MB of the peak for 10,000. The last line of stdout is one JSON object.

    python benchmarks/sampling_memory.py --quick   # 100,000 rows instead of 1,000,000
    python benchmarks/sampling_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import resource, sys, time
started = time.perf_counter()
mode, run_dir, rows, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode == "streamed":
    from fusegen.cli import run
    sys.argv = ["fusegen", "sample", run_dir, "-n", str(rows), "--out", out, "--batch-size", "4096"]
    try:
        run()
    except SystemExit as exit:
        if exit.code:
            raise
else:
    import fusegen
    generator = fusegen.load(run_dir)
    generator.sample(num_samples=rows, batch_size=4096).to_parquet(out, index=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - started)
"""


def train(run_dir: Path) -> None:
    import yaml

    import fusegen
    from fusegen.spec import load_spec

    examples = Path(fusegen.__file__).parent / "examples"
    raw = yaml.safe_load((examples / "tabular_augment.yaml").read_text())
    raw["training"] = {**raw["training"], "epochs": 2, "tensorboard": False}
    generator = fusegen.Generator(load_spec(raw), base_dir=examples)
    generator.fit(verbose=0)
    generator.save(run_dir)


def measure(mode: str, run_dir: Path, rows: int, out: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(run_dir), str(rows), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} sampling of {rows} rows failed:\n{result.stderr[-3000:]}")
    peak_kib, seconds = result.stdout.strip().splitlines()[-1].split()
    import pyarrow.parquet as pq

    written = pq.ParquetFile(out).metadata.num_rows
    if written != rows:
        raise SystemExit(f"{mode}: asked for {rows} rows, the file has {written}.")
    return {"peak_rss_mb": round(int(peak_kib) / 1024, 1), "seconds": round(float(seconds), 1)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows instead of 1,000,000.")
    args = parser.parse_args(argv)
    large = 100_000 if args.quick else 1_000_000
    sizes = [10_000, large]
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    results: dict = {"streamed": {}, "gathered": {}}
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        log("training the penguins generator (2 epochs)")
        train(run_dir)
        for rows in sizes:
            for mode in ("streamed", "gathered"):
                results[mode][rows] = measure(mode, run_dir, rows, Path(folder) / f"{mode}_{rows}.parquet")
                log(f"  {mode:>8}, {rows:>9,} rows: {results[mode][rows]}")
    print(
        f"\nPeak resident memory of a fresh process sampling penguin records to Parquet ({platform.machine()})\n"
    )
    print("| rows | streamed (fusegen sample) | gathered (sample() then to_parquet) |")
    print("|---|---|---|")
    for rows in sizes:
        streamed, gathered = results["streamed"][rows], results["gathered"][rows]
        print(
            f"| {rows:,} | {streamed['peak_rss_mb']} MB, {streamed['seconds']} s "
            f"| {gathered['peak_rss_mb']} MB, {gathered['seconds']} s |"
        )
    small, big = results["streamed"][sizes[0]]["peak_rss_mb"], results["streamed"][large]["peak_rss_mb"]
    summary = {
        "benchmark": "sampling_memory",
        "rows": sizes,
        "results": {
            mode: {str(rows): value for rows, value in by_rows.items()} for mode, by_rows in results.items()
        },
        "streamed_growth_mb": round(big - small, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
