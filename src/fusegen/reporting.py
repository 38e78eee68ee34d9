"""``fusegen report`` from Python: load a run, evaluate it, write its HTML report.

The report itself (`fusegen.report`) only renders; loading the run and scoring
its samples are the facade's work, done here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fusegen.errors import FusegenError, RunError
from fusegen.evaluation import evaluate_run
from fusegen.fileio import sha256
from fusegen.generator import load
from fusegen.report import write_report


def build_report(
    run_dir: str | Path,
    real: str | Path | None = None,
    out: str | Path | None = None,
    allow_code: bool = False,
    saved_evaluation: bool = False,
) -> Path:
    """Evaluate a run and write ``out`` (default ``RUN_DIR/report.html``).

    ``allow_code`` lets a ``python:`` data source named in the run's spec run
    (see `fusegen.Generator.load`); without it, pass ``real``. With
    ``saved_evaluation`` the report shows the evaluation `fusegen evaluate`
    saved in ``RUN_DIR/evaluation`` instead of evaluating again (a sequence
    run's TimeGAN scores take minutes); it is refused if the run changed
    since, or if a plot it names lies outside that folder.
    """
    run_dir = Path(run_dir)
    if saved_evaluation and real is not None:
        raise FusegenError(
            "--saved-evaluation shows the evaluation as it was saved, so --real cannot apply to it.",
            hint="leave out --real (the saved one names its data), or leave out --saved-evaluation.",
        )
    generator = load(run_dir, allow_code=allow_code)
    if saved_evaluation:
        results = read_saved_evaluation(run_dir)
    else:
        results = evaluate_run(generator, real, run_dir / "evaluation")
    return write_report(run_dir, results, generator.spec, generator.history_, out=out)


def read_saved_evaluation(run_dir: Path) -> dict[str, Any]:
    """``RUN_DIR/evaluation/metrics.json``, checked to be this run's own (see `build_report`)."""
    folder = run_dir / "evaluation"
    path = folder / "metrics.json"
    hint = f"run `fusegen evaluate {run_dir}` first, or leave out --saved-evaluation."
    if not path.is_file():
        raise RunError(f"'{run_dir}' has no saved evaluation: '{path}' does not exist.", hint=hint)
    try:
        results = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise RunError(f"'{path}' is not the JSON `fusegen evaluate` writes: {error}.", hint=hint) from None
    evaluated = results.get("evaluated") if isinstance(results, dict) else None
    manifest = sha256(run_dir / "manifest.json")
    if not isinstance(evaluated, dict) or evaluated.get("run_manifest") != manifest:
        raise RunError(
            f"'{path}' is not an evaluation of the run as it is now: it was saved before this version of "
            "fusegen recorded which run it scored, or of the run before it was trained or changed again.",
            hint=hint,
        )
    inside = folder.resolve()
    plots = results.get("plots", {})
    for name, plot in plots.items() if isinstance(plots, dict) else [("plots", plots)]:
        where = Path(str(plot)).resolve()
        if not where.is_relative_to(inside) or not where.is_file():
            raise RunError(
                f"'{path}': plot '{name}' is '{plot}', which is not a file in '{folder}'; a report embeds only "
                "the plots `fusegen evaluate` drew there.",
                hint=hint,
            )
    return results
