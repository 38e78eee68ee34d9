"""A dry run of the data pipeline: what ``fusegen validate`` reports, input by input.

`validate_data` goes through every stage training would, but on a sample and
without stopping at the first problem: the columns each input reads, the
windows, missing values on every row, preprocessing fitted and applied on a
sample, one batch from the tf.data pipeline checked against the model's
inputs as the spec defines them. `ValidationReport.check_model` then compares
that batch with a built model. Every problem is kept, with the input it
belongs to, so one run lists them all.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from fusegen.data.images import ImageColumn
from fusegen.data.pipeline import compare_with_model, make_dataset
from fusegen.data.preprocessing import Preprocessor, columns_of_parts, missing_values
from fusegen.data.signature import compare, model_input_signature, model_target_signature
from fusegen.data.sources import Table
from fusegen.data.windows import window_table
from fusegen.errors import FusegenError
from fusegen.spec import GeneratorSpec
from fusegen.spec.names import CONSTANT_INPUT


@dataclasses.dataclass
class PartReport:
    """One input or the output: what the model gets, an example, and any problems."""

    name: str
    role: str  # "input" or "output"
    kind: str
    columns: list[str]
    dtype: str = ""
    shape: list[Any] = dataclasses.field(default_factory=list)
    example: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ValidationReport:
    """The result of a dry run; ``ok`` when no part and no stage has a problem."""

    origin: str
    num_rows: int
    sample_rows: int = 0
    parts: dict[str, PartReport] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    vocabulary_sizes: dict[str, int] | None = None
    batch_inputs: dict[str, Any] | None = None
    # Streamed data's fitting pass, when run: per part, each statistic and the rows it read.
    fitted_parts: dict[str, list[str]] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not any(part.problems for part in self.parts.values())

    def check_model(self, build_model) -> None:
        """Compare the batch with the model ``build_model()`` returns; a failed build is a problem."""
        if self.batch_inputs is None:
            return
        try:
            model = build_model()
        except FusegenError as error:
            self.problems.append(f"the model cannot be built: {error}")
            return
        for name, problems in compare_with_model(self.batch_inputs, model).items():
            target = self.parts.get(name)
            for problem in problems:
                if target is not None:
                    target.problems.append(f"model: {problem}")
                else:
                    self.problems.append(f"model input '{name}': {problem}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.origin,
            "num_rows": self.num_rows,
            "sample_rows": self.sample_rows,
            "problems": self.problems,
            "notes": self.notes,
            **({"fitted_parts": self.fitted_parts} if self.fitted_parts is not None else {}),
            "parts": {
                name: {key: value for key, value in dataclasses.asdict(part).items() if key != "name"}
                for name, part in self.parts.items()
            },
        }


def validate_data(
    spec: GeneratorSpec, table: Table, sample_size: int | None = 1000, batch_size: int | None = None
) -> ValidationReport:
    """Dry-run the pipeline on ``table``: every problem, per input, without raising.

    Args:
        spec: the spec whose pipeline to run.
        table: the data, as loaded from the spec's source.
        sample_size: rows to fit preprocessing on and transform (a seeded
            random sample); all rows when None.
        batch_size: the batch to build; ``training.batch_size`` when None.
    """
    report = ValidationReport(origin=table.origin, num_rows=len(table))
    parts = _parts(spec, report)
    if not _check_columns(spec, table, report):
        return report
    try:
        table = window_table(table, spec, training=True)
    except FusegenError as error:
        report.problems.append(str(error))
        return report
    if table.windowed:
        report.notes.append(f"cut into {len(table)} windows")
    table = _check_missing(spec, table, report)
    if table is None:
        return report

    rows = np.arange(len(table))
    if sample_size is not None and len(rows) > sample_size:
        rows = np.sort(np.random.default_rng(spec.training.seed).choice(rows, sample_size, replace=False))
    sample = table.take(rows)
    report.sample_rows = len(sample)

    preprocessor = Preprocessor(spec)
    inputs, targets = {}, None
    for name, converter in preprocessor.inputs.items():
        column = spec.input_column(name)
        try:
            converter.fit(sample, column)
            inputs[name] = converter.transform(sample, column, compact=True, cache=_cache(spec))
        except FusegenError as error:
            parts[name].problems.append(_without_part(str(error)))
            continue
        _describe(parts[name], sample, inputs[name], spec.inputs[name])
    output_name = spec.output.name
    try:
        preprocessor.output.fit(sample, spec.output_column())
        targets = preprocessor.output.transform(
            sample, spec.output_column(), compact=True, cache=_cache(spec)
        )
        _describe(parts[output_name], sample, targets, spec.output)
    except FusegenError as error:
        # A record's columns are read one after another, and the first problem stops the fit: each
        # is read on its own here, so that one run lists every column to fix.
        listed = getattr(preprocessor.output, "column_problems", lambda _: [])(sample) or [str(error)]
        parts[output_name].problems += [_without_part(problem) for problem in listed]
    if len(inputs) != len(spec.inputs) or targets is None:
        return report
    report.vocabulary_sizes = preprocessor.vocabulary_sizes()
    if not spec.inputs:
        # Whole-window synthesis: the model's one input is a constant, as training feeds it.
        inputs = {CONSTANT_INPUT: np.zeros((len(sample), 1), "float32")}
    _check_batch(spec, inputs, targets, batch_size or spec.training.batch_size, report)
    return report


def _parts(spec: GeneratorSpec, report: ValidationReport) -> dict[str, PartReport]:
    for (label, (columns, _)), name in zip(
        columns_of_parts(spec).items(), [*spec.inputs, spec.output.name], strict=True
    ):
        role = "output" if label.startswith("Output") else "input"
        kind = spec.inputs[name].kind if role == "input" else spec.output.kind
        report.parts[name] = PartReport(name=name, role=role, kind=kind, columns=columns)
    return report.parts


def _check_columns(spec: GeneratorSpec, table: Table, report: ValidationReport) -> bool:
    """Absent columns go to their part; extra ones in strict mode to the report. False stops the run."""
    read = set()
    for part in report.parts.values():
        read.update(part.columns)
        absent = [column for column in part.columns if column not in table.columns]
        if absent:
            part.problems.append(
                f"column(s) {absent} are not in the data; available: {', '.join(table.columns)}"
            )
    windows = spec.data.windows if spec.data else None
    for column in (windows.group_column, windows.time_column, *windows.one_hot) if windows else ():
        if column:
            read.add(column)
            if column not in table.columns:
                report.problems.append(f"data.windows names column '{column}', which is not in the data")
    if windows:
        read.update(windows.derived_columns())
    if spec.data is not None and spec.data.strict:
        extra = [column for column in table.columns if column not in read]
        if extra:
            report.problems.append(
                f"unknown extra column(s) {extra}, which no input or output reads (strict)"
            )
    return report.ok


def _check_missing(spec: GeneratorSpec, table: Table, report: ValidationReport) -> Table | None:
    """Missing values on every row: errors go to their parts, dropped rows to the notes."""
    names = dict(zip(columns_of_parts(spec), report.parts, strict=True))
    drop = np.zeros(len(table), dtype=bool)
    flagged = set()
    for part, column, policy, rows in missing_values(table, spec):
        if policy != "drop_rows":  # under impute only infinity is found, and it is not imputed
            report.parts[names[part]].problems.append(
                f"column '{column}': {len(rows)} row(s) with missing values or infinity, {table.rows_label(rows)} "
                "(set missing: drop_rows or impute)"
            )
            flagged.add(column)
        else:
            drop[rows] = True
    if not report.ok:
        # Nothing is fitted past missing cells; a record's other columns are still read, each on its
        # own, so that their problems are listed in the same run.
        converter = Preprocessor(spec).output
        if hasattr(converter, "column_problems"):
            problems = converter.column_problems(table, skip=flagged)
            report.parts[spec.output.name].problems += [_without_part(problem) for problem in problems]
        return None
    if drop.any():
        noun = "windows" if table.windowed else "rows"
        report.notes.append(f"data.missing: drop_rows drops {int(drop.sum())} of {len(table)} {noun}")
        if drop.all():
            report.problems.append("every row has a missing value; nothing is left to train on")
            return None
        table = table.take(np.flatnonzero(~drop))
    return table


def _check_batch(spec, inputs, targets, batch_size, report: ValidationReport) -> None:
    """One batch from the real pipeline, compared key by key with the spec's model signature."""
    try:
        batch_inputs, batch_targets = next(iter(make_dataset(inputs, targets, batch_size)))
    except FusegenError as error:
        report.problems.append(f"building a batch: {error}")
        return
    report.batch_inputs = {name: value.numpy() for name, value in batch_inputs.items()}
    # The constant input of whole-window synthesis is fusegen's own, not the spec's.
    spec_inputs = {name: value for name, value in report.batch_inputs.items() if name != CONSTANT_INPUT}
    for problem in compare(model_input_signature(spec), spec_inputs, "inputs"):
        name = problem.split("'")[1] if "'" in problem else None
        target = report.parts.get(name)
        (target.problems if target else report.problems).append(f"batch: {problem}")
    signature = model_target_signature(spec)
    if isinstance(signature, dict):
        problems = compare(signature, {key: value.numpy() for key, value in batch_targets.items()}, "targets")
    else:
        problems = compare(
            {spec.output.name: signature}, {spec.output.name: batch_targets.numpy()}, "targets"
        )
    report.parts[spec.output.name].problems += [f"batch: {problem}" for problem in problems]
    # Counted on the targets: a spec with no inputs (whole-window synthesis) has an empty input batch.
    first = next(iter(batch_targets.values())) if isinstance(batch_targets, dict) else batch_targets
    rows = len(first)
    report.notes.append(f"built one batch of {rows} rows")


def _describe(part: PartReport, sample: Table, values, part_spec) -> None:
    """The model-ready dtype and shape, and the first row as stored -> as the model gets it (of a window,
    the steps the part reads)."""
    if isinstance(values, dict):
        part.dtype = ", ".join(f"{key}: {np.dtype(value.dtype)}" for key, value in values.items())
        part.shape = [None, sum(int(np.prod(value.shape[1:], dtype=int)) for value in values.values())]
        first = {key: value[0] for key, value in values.items()}
        part.example = _short(", ".join(f"{key}={_value_text(value)}" for key, value in first.items()))
        return
    part.dtype = str(np.dtype(values.dtype))
    part.shape = [None, *values.shape[1:]]
    columns = part.columns
    raw = sample.columns[columns[0]][0] if len(columns) == 1 and columns[0] in sample.columns else None
    select = getattr(part_spec, "select", None)
    if raw is not None and np.ndim(raw) >= 1 and select is not None and select.steps is not None:
        raw = np.asarray(raw)[select.steps[0] : select.steps[1]]
    if isinstance(values, ImageColumn):
        kept = values.pixels is not None
        first = np.asarray(values.to_float(values.pixels[:1]))[0] if kept else None
        part.notes.append("images kept in memory as uint8" if kept else "images decoded again each epoch")
    else:
        first = values[0]
    shown = _value_text(first) if first is not None else "(decoded per batch)"
    part.example = _short(f"{_value_text(raw)} -> {shown}" if raw is not None else shown)


def _value_text(value) -> str:
    if isinstance(value, (str, bytes)):
        return repr(
            value[:40] + (b"..." if isinstance(value, bytes) else "...") if len(value) > 40 else value
        )
    array = np.asarray(value)
    if array.ndim == 0:
        item = array.item()
        return f"{item:.4g}" if isinstance(item, float) else repr(item)
    if array.ndim >= 2:
        flat = array.reshape(-1).astype("float64")
        return f"array {list(array.shape)} in [{flat.min():.3g}, {flat.max():.3g}]"
    more = ", ..." if array.size > 6 else ""
    return "[" + ", ".join(_value_text(item) for item in array[:6]) + more + "]"


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _without_part(message: str) -> str:
    """The part's name is the table row; drop it from the start of its messages."""
    if message.startswith(("Input '", "Output '")) and ": " in message:
        return message.split(": ", 1)[1]
    return message


def _cache(spec: GeneratorSpec):
    return spec.data.pixel_cache if spec.data else "auto"
