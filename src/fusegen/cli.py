"""The ``fusegen`` command line: a thin layer over the facade.

Keras and TensorFlow are imported inside the commands that need them, so
``fusegen --help``, ``fusegen schema`` and spec errors answer at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import typer

from fusegen.cli_impute import impute
from fusegen.cli_options import (
    CONDITION_OPTION,
    EXTRAPOLATION_OPTION,
    REBALANCE_OPTION,
    parse_quantiles,
    parse_ranges,
    parse_rebalance,
)
from fusegen.errors import FusegenError

_python_show_warning = warnings.showwarning

app = typer.Typer(
    name="fusegen",
    help="Multi-input generators for Keras 3: one spec builds the data pipeline and the model.\n\n"
    "Start with `fusegen demo`, then `fusegen inspect examples/tabular_augment.yaml`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"verbose": False}


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and TensorFlow logs."),
):
    _state["verbose"] = verbose
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _require_file(path: Path | None, option: str, what: str) -> None:
    """Refuse a missing file given on the command line before TensorFlow loads, naming the option
    (not data.source: a trained run's spec is not what to fix)."""
    if path is not None and not path.exists():
        from fusegen.errors import DataError

        raise DataError(f"{option} '{path}' does not exist.", hint=f"check the path to {what}.")


def _progress(quiet: bool):
    """Keras's verbosity: none with --quiet; a bar on a terminal; one line an epoch into a file or a
    pipe, where a bar's redraws had filled a 260 KB log for one fit."""
    if quiet:
        return 0
    return "auto" if sys.stdout.isatty() else 2


def _load_tensorflow() -> None:
    """Import TensorFlow with its logs hidden, unless --verbose.

    The C++ start-up chatter goes to a closed stderr while importing; the
    Python-side warnings, such as "N out of the last M calls ... triggered
    tf.function retracing" (which a long run that builds many models, like the
    demo, sets off with nothing wrong), are raised to errors only.
    """
    if _state["verbose"]:
        return
    import logging

    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, indent=2))


UNTRUSTED_OPTION = typer.Option(
    False,
    "--untrusted",
    help="Treat the spec as someone else's (data.trusted: false): refuse python: sources before "
    "importing anything, and any path outside the spec's folder.",
)
ALLOW_CODE_OPTION = typer.Option(
    False,
    "--allow-code",
    help="Run the python: data source named in the run directory's spec (it runs code named in the run "
    "directory: only for runs whose author you trust). Without it, pass --real DATA.",
)


def _generator(spec_path: Path, untrusted: bool):
    """The facade for a spec file; with --untrusted its data section is marked as someone else's."""
    from fusegen.generator import Generator
    from fusegen.spec import load_spec

    spec = load_spec(spec_path)
    if untrusted and spec.data is not None:
        spec = spec.model_copy(update={"data": spec.data.model_copy(update={"trusted": False})})
    return Generator(spec, base_dir=spec_path.parent)


@app.command()
def schema(
    markdown: bool = typer.Option(False, "--markdown", help="Print the spec reference as Markdown instead."),
):
    """Print the spec's JSON Schema (or, with --markdown, the spec reference)."""
    if markdown:
        from fusegen.spec.reference import spec_reference_markdown

        typer.echo(spec_reference_markdown(), nl=False)
        return
    from fusegen.spec import spec_json_schema

    _echo_json(spec_json_schema())


@app.command()
def inspect(
    spec: Path = typer.Argument(..., help="A YAML spec, or a run directory (its trained plan)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    no_data: bool = typer.Option(
        False, "--no-data", help="Plan from the spec alone, without fitting vocabularies on its data."
    ),
    untrusted: bool = UNTRUSTED_OPTION,
):
    """Print the shape plan: each branch's layers and shapes, the alignment, fusion, head, parameters."""
    _load_tensorflow()
    if spec.is_dir():
        from fusegen.generator import load

        # A run's plan as it trained, its sizes from its own preprocessing: its spec.yaml names the
        # data relative to the spec it was trained from, so read alone it would not find it.
        generator, reading = load(spec), None
    else:
        generator = _generator(spec, untrusted)
        generator.build(None if no_data else generator.fitted_sizes())
        reading = generator.reading_plan() if generator.spec.data is not None else None
    plan = generator.describe()
    if as_json:
        _echo_json({**plan, "data": reading} if reading else plan)
    else:
        from fusegen.console import print_plan

        print_plan(plan)
        if reading:
            typer.echo(f"data: {reading}")


@app.command()
def validate(
    spec: Path = typer.Argument(..., help="A YAML spec with a data section."),
    sample: int = typer.Option(
        1000,
        help="Rows to fit preprocessing on and transform (a seeded sample); 0 for all (streamed data: "
        "training's fitting pass over every file, with the rows each part was fitted on).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    untrusted: bool = UNTRUSTED_OPTION,
):
    """Dry run: load the data, fit preprocessing on a sample, build one batch, check it against the model.

    Prints one row per input (name, kind, dtype, shape, an example, problems)
    and exits with 1 when there is any problem.
    """
    _load_tensorflow()
    report = _generator(spec, untrusted).validate(sample_size=sample or None)
    if as_json:
        _echo_json(report.to_dict())
    else:
        from fusegen.console import print_validation

        print_validation(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def train(
    spec: Path = typer.Argument(..., help="A YAML spec with a data section."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write."),
    epochs: Optional[int] = typer.Option(None, help="Override training.epochs."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue from the last complete checkpoint in --out."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the run already in --out (its checkpoints, logs and report too)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    untrusted: bool = UNTRUSTED_OPTION,
):
    """Train a generator on its spec's data and write the run directory.

    Checkpoints go to RUN_DIR/checkpoints every training.checkpoint_every
    epochs and TensorBoard logs to RUN_DIR/logs; --resume continues an
    interrupted run with its optimizer state. A folder already holding a
    run is refused unless --overwrite (or --resume) says what to do with it.
    """
    from fusegen.artifacts import check_run_destination, clear_run_files
    from fusegen.training import is_chief

    replacing = check_run_destination(out, resume, overwrite, chief=is_chief())
    _load_tensorflow()
    generator = _generator(spec, untrusted)
    if replacing:  # only once the spec has loaded: a typo in it leaves the old run as it was
        clear_run_files(out)
        typer.echo(f"--overwrite: cleared the run in {out}")
    started = time.perf_counter()
    generator.fit(
        epochs=epochs,
        verbose=_progress(quiet),
        log=lambda message: typer.echo(message),
        run_dir=out,
        resume=resume,
    )
    saved = generator.save(out)
    summary = f"trained '{generator.spec.name}' ({generator.spec.objective.type}) in {time.perf_counter() - started:.1f}s"
    where = f"Run directory: {out}" if saved is not None else "The chief worker writes the run directory"
    typer.echo(f"{summary}{_losses(generator.history_)}. {where}")


def _losses(history: dict) -> str:
    """The training summary's losses: first and last, and the last validation loss (and the best)."""
    losses, text = history.get("loss", []), ""
    if losses:
        text += f"; loss {losses[0]:.4f} -> {losses[-1]:.4f}"
        reconstruction = history.get("reconstruction", [])
        if reconstruction and losses[-1] > losses[0]:
            # A cvae's KL term is weighted up from 0 over its warm-up, so its loss can rise as it learns.
            text += (
                f" (its KL weight rose from 0 in warm-up; reconstruction "
                f"{reconstruction[0]:.4f} -> {reconstruction[-1]:.4f})"
            )
    validation = history.get("val_loss", [])
    if validation:
        text += f", validation loss {validation[-1]:.4f}"
        best = min(range(len(validation)), key=validation.__getitem__)
        if validation[best] < validation[-1]:
            # Early stopping keeps the best epoch's weights (or the weight average): the last is not it.
            text += f" (best {validation[best]:.4f}, epoch {best + 1})"
    return text


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., help="A run directory written by `fusegen train`."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Where to write: .csv/.parquet for records, and for sequences as a long table (a row per "
        "sample and step, beside the time each step forecasts); .npz for arrays; a folder for images.",
    ),
    conditions: Optional[Path] = typer.Option(
        None, "--conditions", "-c", help="CSV/Parquet/NPZ with the input (or record) columns to condition on."
    ),
    num_samples: int = typer.Option(1, "--num-samples", "-n", help="Samples per condition row (or in all)."),
    seed: int = typer.Option(0, "--seed", help="The same seed gives the same samples."),
    temperature: float = typer.Option(1.0, "--temperature", help="Scale of the latent or noise; 0 = mode."),
    batch_size: Optional[int] = typer.Option(None, help="Generate this many at a time."),
    range_: list[str] = typer.Option(
        [],
        "--range",
        help="COLUMN=LOW:HIGH for a numeric column, COLUMN=FIRST..LAST for a datetime one (a last date "
        "without a time covers its whole day): each sample draws it in the range.",
    ),
    allow_extrapolation: bool = EXTRAPOLATION_OPTION,
    rebalance: Optional[str] = REBALANCE_OPTION,
    quantiles: Optional[str] = typer.Option(
        None,
        "--quantiles",
        help="Sequence outputs: also write these per-step quantiles of each condition row's samples, "
        "e.g. 0.1,0.5,0.9, beside OUT (paths.npz -> paths.quantiles.npz, paths.csv -> paths.quantiles.csv).",
    ),
    similarity_filter: bool = typer.Option(
        True,
        "--similarity-filter/--no-similarity-filter",
        help="Records: draw again each sample closer to a training record than the run's privacy threshold "
        "(where the run has one, privacy.similarity_filter).",
    ),
    label_check: Optional[bool] = typer.Option(
        None,
        "--label-check/--no-label-check",
        help="With --rebalance on a record's column: draw again each row whose label the generator does "
        "not impute back from its other cells (the default where it can).",
    ),
    last: bool = typer.Option(
        False,
        "--last",
        help="Runs that cut windows from a long table: forecast each series' last window of --conditions "
        "only, not every window. That window ends on the series' last row, so its horizon is the table's "
        "last rows (a backtest); to forecast past the end, append rows for the steps ahead, with their "
        "times and known-ahead values and the targets empty.",
    ),
):
    """Sample from a trained generator, on conditions for some inputs, all, or none."""
    levels = parse_quantiles(quantiles) if quantiles is not None else None
    _require_file(conditions, "--conditions", "the table of conditions")
    _load_tensorflow()
    from fusegen.data.windows import horizon_held
    from fusegen.generator import load
    from fusegen.sampling import window_steps_of
    from fusegen.writers import (
        TABLE_SUFFIXES,
        check_destination,
        concatenate_chunks,
        keeping,
        quantile_summary_path,
        sequence_frame,
        write_output_stream,
        write_outputs,
        write_quantile_summary,
    )

    generator = load(run_dir)
    output = generator.spec.output
    check_destination(out, output.kind)
    if levels is not None and output.kind != "sequence":
        raise FusegenError(
            f"--quantiles summarises sequence outputs, but this run's output '{output.name}' is a "
            f"{output.kind}; received --quantiles {quantiles}.",
            hint="leave --quantiles out for this run.",
        )
    if last:
        windows = generator.spec.data.windows if generator.spec.data else None
        if windows is None or conditions is None:
            raise FusegenError(
                "--last keeps each series' last window of a long table of conditions, but "
                + ("this run cuts no windows" if windows is None else "no --conditions were given")
                + ".",
                hint="give --conditions with a run trained on data.windows, or leave --last out.",
            )
        from fusegen.data.windows import last_windows

        conditions = last_windows(generator._as_table(conditions), generator.spec)
    # Sequences to CSV or Parquet: a long table, with each window's group and times read first.
    as_table = output.kind == "sequence" and out.suffix.lower() in TABLE_SUFFIXES
    steps = None
    if as_table:
        conditions, steps = window_steps_of(generator, conditions)
    chunks = generator.iter_samples(
        conditions,
        num_samples=num_samples,
        seed=seed,
        temperature=temperature,
        batch_size=batch_size,
        ranges=parse_ranges(range_),
        extrapolate=allow_extrapolation,
        rebalance=parse_rebalance(rebalance),
        similarity_filter=similarity_filter,
        label_check=label_check,
    )
    kept: list = []
    if as_table:  # a long table of paths, each step beside the time it forecasts
        samples = concatenate_chunks(list(chunks))
        kept.append(samples)
        written = write_outputs(sequence_frame(samples, num_samples, output, steps), out, name=output.name)
        count = len(samples)
    else:
        if levels is not None:  # sequences are gathered into one NPZ anyway; keep them for the summary
            chunks = keeping(chunks, kept)
        # Streamed: records and images are written batch by batch, so memory stays bounded.
        written, count = write_output_stream(
            chunks, out, name=output.name, datetime_formats=getattr(output, "datetime_formats", None)
        )
        if output.kind == "image":
            _write_image_conditions(generator, conditions, num_samples, rebalance, seed, written, out)
    files = f" ({len(written)} files)" if len(written) > 1 else ""
    typer.echo(f"wrote {count} {output.kind} sample(s) to {out}{files}")
    if steps is not None and horizon_held(conditions, generator.spec):
        # NOx's daily table: 624 windows written, the newest forecasting a week the table already held.
        typer.echo(
            f"every window forecasts steps the table already holds (the last ends at {steps.times[-1, -1]}): "
            f"a backtest. To forecast past the end, append the next {output.steps} rows of each series with "
            "their times, any inputs known ahead, and empty targets."
        )
    similarity = generator.similarity_filter_ if similarity_filter else None
    if similarity is not None and similarity.last_counts["redrawn"]:
        typer.echo(
            f"similarity filter: drew {similarity.last_counts['redrawn']} of {count} again, closer than "
            f"{similarity.threshold:.5g} to a training record (--no-similarity-filter keeps the first draws)"
        )
    checked = generator.label_check_counts_
    if checked is not None:
        typer.echo(
            f"label check: drew {checked['redrawn']} of {count} again, their label not imputed back from their "
            "other cells (--no-label-check keeps the first draws)"
        )
    if levels is not None:
        samples, summary = concatenate_chunks(kept), quantile_summary_path(out)
        if as_table:
            write_outputs(sequence_frame(samples, num_samples, output, steps, levels), summary)
        else:
            write_quantile_summary(samples, levels, num_samples, summary, name=output.name)
        typer.echo(
            f"wrote quantiles {', '.join(f'{level:g}' for level in levels)} of each of {count // num_samples} "
            f"condition row(s), per step and channel, to {summary}"
        )


@app.command()
def init(
    data: Path = typer.Argument(
        ...,
        help="A CSV or Parquet table (with a column of image paths: those images are generated), "
        "or a folder of images (a subfolder per class).",
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the spec here (default: print it)."),
    objective: str = typer.Option("cvae", help="The objective's type: regression, cvae, cgan, diffusion."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs (default: from the table's size)."),
    target: list[str] = typer.Option(
        [], "--target", help="A long table of readings: forecast this column (repeat for several)."
    ),
    time: Optional[str] = typer.Option(
        None, "--time", help="Forecast: the time column (orders rows, gives the frequency)."
    ),
    known_future: list[str] = typer.Option(
        [], "--known-future", help="Forecast: a column known ahead for the forecast's steps (repeatable)."
    ),
    group: Optional[str] = typer.Option(None, "--group", help="Forecast: the column naming each series."),
    horizon: Optional[int] = typer.Option(None, help="Forecast: steps ahead (default: from the frequency)."),
    context: Optional[int] = typer.Option(
        None, help="Forecast: steps of history (default: from the frequency)."
    ),
    condition: list[str] = CONDITION_OPTION,
):
    """Infer an editable spec: records like a table, images like a folder's, or (--target) a forecast of a long table."""
    from fusegen.scaffold import describe_inferred, init_spec
    from fusegen.spec import OBJECTIVE_SLOT

    if objective not in OBJECTIVE_SLOT.names():
        raise FusegenError(f"--objective must be one of {OBJECTIVE_SLOT.names()}, received '{objective}'.")
    series = dict(targets=target, time_column=time, known_future=known_future, group_column=group,
                  horizon=horizon, context=context)  # fmt: skip
    if not target and any(series.values()):
        raise FusegenError("--time, --known-future, --group, --horizon and --context describe a forecast; "
                           "name the columns to forecast with --target.")  # fmt: skip
    _require_file(data, "the table", "the CSV or Parquet file (or the folder of images) to infer from")
    spec, text = init_spec(data, out, objective=objective, epochs=epochs, series=series if target else None,
                           conditions=condition)  # fmt: skip
    if out is None:
        typer.echo(text, nl=False)
        return
    typer.echo(f"wrote {out}: {describe_inferred(spec)}; conditions {sorted(spec['inputs'])}")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `fusegen train`."),
    real: Optional[Path] = typer.Option(
        None, "--real", help="Real data (default: the spec's data source), split as training split it."
    ),
    holdout: Optional[Path] = typer.Option(
        None,
        "--holdout",
        help="Real rows the run never saw (a test set kept apart), scored in place of the rows its "
        "validation split held out.",
    ),
    target: Optional[str] = typer.Option(
        None, help="Column for ML efficacy (default: the first categorical of 2-20 labels, else the first)."
    ),
    num_samples: Optional[int] = typer.Option(
        None,
        "--num-samples",
        "-n",
        help="Samples (default: as many as real); for a conditional sequence run, the sample paths per "
        "held-out row of its forecasting scores (default: 100).",
    ),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print every metric as JSON."),
    allow_code: bool = ALLOW_CODE_OPTION,
):
    """Score samples against real data: quality, ML efficacy, privacy; plots in RUN_DIR/evaluation."""
    _require_file(real, "--real", "the real data to score against")
    _require_file(holdout, "--holdout", "the held-out rows to score against")
    _load_tensorflow()
    from fusegen.evaluation import evaluate_run, summary_lines
    from fusegen.generator import load

    generator = load(run_dir, allow_code=allow_code)
    results = evaluate_run(
        generator, real, run_dir / "evaluation", target, seed, num_samples, holdout=holdout
    )
    if as_json:
        _echo_json(results)
        return
    for line in summary_lines(results):
        typer.echo(line)
    typer.echo(f"metrics and plots: {run_dir / 'evaluation'}")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by `fusegen train`."),
    real: Optional[Path] = typer.Option(None, "--real", help="Real data (default: the spec's data source)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file (default: RUN_DIR/report.html)."),
    saved_evaluation: bool = typer.Option(
        False,
        "--saved-evaluation",
        help="Show the evaluation `fusegen evaluate` saved in RUN_DIR/evaluation instead of evaluating again "
        "(refused if the run changed since).",
    ),
    allow_code: bool = ALLOW_CODE_OPTION,
):
    """Write one self-contained HTML report: spec, shape plan, training curves, metrics and plots."""
    _require_file(real, "--real", "the real data to score against")
    if out is not None and out.suffix.lower() not in (".html", ".htm"):
        # Checked before the evaluation it would run: a report.txt holding HTML opens as markup.
        raise FusegenError(
            f"--out '{out}' is not an .html file; the report is one self-contained HTML page.",
            hint=f"name it with .html, e.g. --out {out.with_suffix('.html')}.",
        )
    _load_tensorflow()
    from fusegen.reporting import build_report

    path = build_report(run_dir, real, out, allow_code=allow_code, saved_evaluation=saved_evaluation)
    typer.echo(f"wrote {path}")


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="A run directory written by `fusegen train`."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the exported model."),
    format: str = typer.Option("savedmodel", "--format", help="Only 'savedmodel' for now."),
    temperature: float = typer.Option(1.0, "--temperature", help="Fixed in the exported sampler."),
):
    """Export the sampler as a TensorFlow SavedModel with a serving signature (inputs + seed -> outputs)."""
    if format != "savedmodel":
        raise FusegenError(f"--format must be 'savedmodel', received '{format}'.")
    _load_tensorflow()
    from fusegen.export import export_savedmodel
    from fusegen.generator import load

    path = export_savedmodel(load(run_dir), out, temperature=temperature)
    typer.echo(f"wrote SavedModel {path} (signature 'serving_default')")


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A run directory written by `fusegen train`."),
    inputs: Path = typer.Option(..., "--inputs", "-i", help="CSV, Parquet or NPZ with a column per input."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Where to write: .csv/.parquet for records, and for sequences as a long table (a row per "
        "sample and step, beside the time each step forecasts); .npz for arrays; a folder for images.",
    ),
    batch_size: Optional[int] = typer.Option(None, help="Prediction batch size."),
    allow_extrapolation: bool = EXTRAPOLATION_OPTION,
):
    """Run a trained generator on new inputs and write one output per row, in the user's units.

    A generative model's output is one draw, as `sample -n 1`; quantiles: `sample -n 100 --quantiles`.
    """
    _require_file(inputs, "--inputs", "the table of inputs")
    _load_tensorflow()
    from fusegen.generator import load
    from fusegen.sampling import window_steps_of
    from fusegen.writers import TABLE_SUFFIXES, check_destination, sequence_frame

    generator = load(run_dir)
    output = generator.spec.output
    check_destination(out, output.kind)
    as_table = output.kind == "sequence" and out.suffix.lower() in TABLE_SUFFIXES
    steps = None
    if as_table:
        inputs, steps = window_steps_of(generator, inputs)
    outputs = generator.predict(inputs, batch_size=batch_size, extrapolate=allow_extrapolation)
    written = sequence_frame(outputs, 1, output, steps) if as_table else outputs
    _write(written, out, generator, "output(s)", count=len(outputs))


def _write_image_conditions(generator, conditions, num_samples, rebalance, seed, written, out) -> None:
    """What each sampled image was drawn for (its label, a rebalanced one included), which the images
    alone do not say: beside image files, ``conditions.csv`` naming each file; in an NPZ, one array
    per condition column beside the images, row for row."""
    from fusegen.sampling import conditions_of_samples
    from fusegen.writers import add_npz_arrays, write_outputs

    frame = conditions_of_samples(generator, conditions, num_samples, parse_rebalance(rebalance), seed)
    if frame is None:
        return
    if out.suffix.lower() == ".npz":
        names = add_npz_arrays(out, frame, len_of=generator.spec.output.name)
        if names:
            typer.echo(f"what each image was drawn for: the arrays {', '.join(names)} in {out}")
        return
    if len(frame) != len(written):
        return
    frame.insert(0, "file", [path.name for path in written])
    write_outputs(frame, out / "conditions.csv")
    typer.echo(f"what each image was drawn for: {out / 'conditions.csv'}")


@app.command()
def demo(
    out: Path = typer.Option(Path("fusegen-demo"), "--out", "-o", help="Folder for the runs and summary."),
    epochs: Optional[int] = typer.Option(None, help="Override every example's epochs (for a quick look)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Train the four reference generators on bundled data (the image ones shortened), sample, evaluate, report."""
    _load_tensorflow()
    from fusegen.demo import run_demo

    started = time.perf_counter()
    summary = run_demo(out, epochs=epochs, log=typer.echo, verbose=_progress(quiet))
    typer.echo(f"finished in {time.perf_counter() - started:.0f}s. Summary: {summary}")
    typer.echo(f"open the reports: {', '.join(str(path) for path in sorted(out.glob('*/report.html')))}")


app.command()(impute)


def _write(outputs, out: Path, generator, noun: str, count: int | None = None) -> None:
    from fusegen.writers import write_outputs

    output = generator.spec.output
    written = write_outputs(
        outputs, out, name=output.name, datetime_formats=getattr(output, "datetime_formats", None)
    )
    files = f" ({len(written)} files)" if len(written) > 1 else ""
    count = len(outputs) if count is None else count
    typer.echo(f"wrote {count} {generator.spec.output.kind} {noun} to {out}{files}")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """fusegen's own warnings as one line; any other warning as Python shows it."""
    from fusegen.errors import FusegenWarning

    if issubclass(category, FusegenWarning) and not _state["verbose"]:
        typer.echo(f"fusegen: warning: {' '.join(str(message).split())}", err=True)
        return
    _python_show_warning(message, category, filename, lineno, file, line)


class _Stopped(BaseException):
    """Ctrl-C, SIGTERM or SIGHUP, raised so that every partial file is removed on the way out.

    Not a KeyboardInterrupt, which click swallows with a silent exit.
    """


def _stop(signum, frame):
    # Remembered as well as raised: a library that catches the exception where it lands
    # (TensorFlow turns one raised inside a Python op into its own error) would otherwise
    # end the run as an ordinary failure, with exit status 1.
    _state["stopped_by"] = signum
    raise _Stopped(signum)


def run() -> None:
    """Console entry point: every error prints one line; --verbose shows the traceback."""
    import signal

    warnings.showwarning = _show_warning
    # Python's default for these signals exits without unwinding, which would leave
    # the temporary file of a streamed sample (or checkpoint) behind.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)
    try:
        app()
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            _state.setdefault("stopped_by", signal.SIGINT)
        signal_number = _state.get("stopped_by")
        if signal_number is None or (isinstance(error, SystemExit) and not error.code):
            # No signal, or one that came after the work was done.
            if not isinstance(error, Exception) or _state["verbose"]:
                raise  # SystemExit (click's usage errors, a clean exit) and --verbose keep Python's way
            # One line, whatever a wrapped library put in the message (YAML's errors span two).
            message = " ".join(str(error).split())
            if not isinstance(error, FusegenError):
                # Not an error fusegen checked for: name its type, since the message alone may not say
                # what failed, and where the full story is.
                message = (
                    f"unexpected {type(error).__name__}: {message} (fusegen --verbose shows the traceback; "
                    "unless the message points at your data, please report it)"
                )
            typer.echo(f"fusegen: error: {message}", err=True)
            sys.exit(1)
        what = (
            "interrupted"
            if signal_number == signal.SIGINT
            else f"stopped by {signal.Signals(signal_number).name}"
        )
        typer.echo(f"fusegen: {what}; partial files removed", err=True)
        sys.exit(128 + int(signal_number))


if __name__ == "__main__":
    run()
