"""``fusegen demo``: train the four reference generators on bundled data, sample, evaluate, report.

The two image examples train on less data for fewer epochs than their specs
say, text -> image with a narrower denoiser, and the sensors example is scored
with fewer post-hoc discriminators (`DEMO_SETTINGS`), so the demo finishes in
under 10 minutes on 2 CPU cores; ``fusegen train examples/NAME.yaml`` trains
them in full.

It writes ``OUT/NAME/`` (a run directory with ``samples``, ``evaluation/``
and ``report.html``) for each example, and ``OUT/summary.json``:
``{"seconds", "examples": {NAME: {"run_dir", "output_kind", "output_shape", "metrics", "report",
"seconds"}}}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from fusegen.artifacts import atomic_write_json

#: The reference examples, in the order the demo trains them.
EXAMPLES = ("tabular_augment", "sensors_to_series", "image_text_to_image", "text_to_image")

#: What the demo changes in the examples' specs, merged key by key into the spec: less data, fewer
#: epochs, a narrower denoiser, fewer post-hoc fits, so that all four finish in under 10 minutes on
#: 2 CPU cores. Its few text -> image steps are too few for the example's weight average
#: (ema_momentum). Measured, one at a time on 2 cores (session 20): image + text -> image with 120
#: emoji, 253 s and 22.1 dB (80: 180 s, 20.8 dB); text -> image with 300 captions per class, 398 s
#: (a denoiser 48 wide: 313 s, and conditional accuracy 0.53 against 0.48). The sensors example's
#: TimeGAN scores run on its 100-step windows (context and continuation) since 0.6.1: its demo took
#: 92 s with the discriminative floor and 68 s without, against 50 s before (session 23, a faster
#: machine), so the demo leaves the floor to `fusegen evaluate`.
DEMO_SETTINGS = {
    "sensors_to_series": {"evaluation": {"discriminative_fits": 2, "discriminative_floor": False}},
    "image_text_to_image": {"data": {"options": {"num_images": 80}}, "training": {"epochs": 8}},
    "text_to_image": {
        "data": {"options": {"per_class": 200}},
        "objective": {"denoiser_width": 48},
        "training": {"epochs": 6, "ema_momentum": None},
        "evaluation": {"classifier_epochs": 10},
    },
}


def example_spec_path(name: str) -> Path:
    """Path of a bundled example spec (``examples/NAME.yaml`` in the repository)."""
    return Path(str(resources.files("fusegen.examples").joinpath(f"{name}.yaml")))


def run_demo(
    out: str | Path,
    epochs: int | None = None,
    log: Callable[[str], None] = print,
    examples=EXAMPLES,
    verbose: int | str = "auto",
) -> Path:
    """Train, sample, evaluate and report each reference example; write ``out/summary.json``."""
    from fusegen.evaluation import evaluate_run
    from fusegen.generator import Generator
    from fusegen.report import write_report
    from fusegen.writers import write_outputs

    out = Path(out)
    summary = {"examples": {}}
    demo_started = time.perf_counter()
    for index, name in enumerate(examples, start=1):
        started = time.perf_counter()
        generator = Generator(_demo_spec(name), base_dir=example_spec_path(name).parent)
        spec = generator.spec
        log(f"[{index}/{len(examples)}] {name}: {spec.description}")
        run_dir = out / name
        generator.fit(epochs=epochs, verbose=verbose, log=lambda message, name=name: log(f"  {message}"),
                      run_dir=run_dir)  # fmt: skip
        generator.save(run_dir)
        fit_seconds = time.perf_counter() - started
        samples_path = run_dir / "samples" / _samples_name(spec.output)
        if spec.output.kind == "record":
            _write_record_samples(generator, samples_path, write_outputs)
            results = evaluate_run(generator, None, run_dir / "evaluation")
        else:
            # The evaluation draws one sample per held-out row; the samples file keeps the first rows' draws.
            def keep_first(rows, generated, path=samples_path, name=spec.output.name):
                write_outputs(generated[:SAMPLE_ROWS], path, name=name)

            results = evaluate_run(generator, None, run_dir / "evaluation", on_generated=keep_first)
        # The report shows the evaluation just made, of the generator just saved.
        report = write_report(run_dir, results, generator.spec, generator.history_)
        metrics = {
            **_headline_metrics(results),
            "train_loss_first": generator.history_["loss"][0],
            "train_loss_last": generator.history_["loss"][-1],
            "validation_loss": generator.history_.get("val_loss", [None])[-1],
            "fit_seconds": round(fit_seconds, 2),
        }
        summary["examples"][name] = {
            "run_dir": str(run_dir),
            "output_kind": spec.output.kind,
            "output_shape": list(spec.output.model_shape()),
            "objective": spec.objective.type,
            "metrics": metrics,
            "samples": str(samples_path),
            "report": str(report),
        }
        shown = ", ".join(f"{key} {value:.3g}" for key, value in metrics.items() if isinstance(value, float))
        log(f"  done in {time.perf_counter() - started:.0f}s: {shown}")
        log(f"  report: {report}")
        summary["examples"][name]["seconds"] = round(time.perf_counter() - started, 1)
    summary["seconds"] = round(time.perf_counter() - demo_started, 1)
    log(f"demo done in {summary['seconds']:.0f}s")
    path = out / "summary.json"
    atomic_write_json(path, summary)
    return path


def _demo_spec(name: str):
    from fusegen.spec import load_spec

    spec = load_spec(example_spec_path(name))
    settings = DEMO_SETTINGS.get(name)
    if not settings:
        return spec
    return load_spec(_merged(spec.model_dump(mode="json", exclude_unset=True), settings))


def _merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` merged into it, section by section."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


#: How many held-out rows the demo's samples file is drawn for.
SAMPLE_ROWS = 64


def _samples_name(output) -> str:
    return f"{output.name}{'.csv' if output.kind == 'record' else '.npz'}"


def _write_record_samples(generator, path: Path, write_outputs) -> None:
    """Records conditioned on the first `SAMPLE_ROWS` held-out rows (the evaluation's samples are unconditional)."""
    table = generator.validation_table_ if generator.validation_table_ is not None else generator.load_table()
    if len(table) > SAMPLE_ROWS:
        table = table.take(np.arange(SAMPLE_ROWS))
    output = generator.spec.output
    write_outputs(
        generator.predict(table, seed=0), path, name=output.name, datetime_formats=output.datetime_formats
    )


def _headline_metrics(results: dict) -> dict:
    """The few numbers that say how good the samples are, per output kind."""
    if "quality" in results:
        headline = {"quality": results["quality"]["score"]}
        if results.get("ml_efficacy"):
            headline["ml_efficacy"] = results["ml_efficacy"]["ratio"]
        if results.get("privacy"):
            headline["dcr_median"] = results["privacy"]["synthetic"]["median"]
        return headline
    headline = {}
    for group in ("image", "errors", "distances"):
        for key, value in results.get(group, {}).items():
            headline[f"{group}_{key}"] = value
    if "identity_baseline" in results:
        headline["identity_baseline_psnr"] = results["identity_baseline"]["psnr"]
    phrasing = results.get("groups", {}).get("phrasing", {})
    for key in ("seen", "unseen"):
        if key in phrasing:
            headline[f"psnr_{key}_phrasing"] = phrasing[key]["psnr"]
    sampled = results.get("sampled")
    if sampled:
        headline["conditional_accuracy"] = sampled["conditional_accuracy"]
        headline["judge_accuracy_on_real"] = sampled["judge_accuracy_on_real"]
        headline["feature_frechet"] = sampled["feature_frechet"]
    for score in ("discriminative", "discriminative_floor", "predictive"):
        if score in results.get("timegan", {}):
            headline[f"timegan_{score}"] = results["timegan"][score]
    return headline
