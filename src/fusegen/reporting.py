"""``fusegen report`` from Python: load a run, evaluate it, write its HTML report.

The report itself (`fusegen.report`) only renders; loading the run and scoring
its samples are the facade's work, done here.
"""

from __future__ import annotations

from pathlib import Path

from fusegen.evaluation import evaluate_run
from fusegen.generator import load
from fusegen.report import write_report


def build_report(
    run_dir: str | Path,
    real: str | Path | None = None,
    out: str | Path | None = None,
    allow_code: bool = False,
) -> Path:
    """Evaluate a run and write ``out`` (default ``RUN_DIR/report.html``).

    ``allow_code`` lets a ``python:`` data source named in the run's spec run
    (see `fusegen.Generator.load`); without it, pass ``real``.
    """
    run_dir = Path(run_dir)
    generator = load(run_dir, allow_code=allow_code)
    results = evaluate_run(generator, real, run_dir / "evaluation")
    return write_report(run_dir, results, generator.spec, generator.history_, out=out)
