"""Quality, ML efficacy and privacy of synthetic records against real ones.

Three views of one synthetic table:

- **quality**: SDMetrics' single-table QualityReport, computed here on the
  same definitions (column shapes and column pair trends), so fusegen's
  scores and SDMetrics' agree without SDMetrics installed;
- **ML efficacy**: models trained on synthetic rows and tested on a real
  holdout, against the same models trained on the real rows;
- **privacy**: the distance from each synthetic row to its closest real
  training row, against the same distance for the real holdout rows.

Every function takes plain DataFrames: real and synthetic data and nothing
else. `docs/evaluation.md` gives the formulas.

The three live in `fusegen.metrics.quality`, `fusegen.metrics.ml_efficacy`
and `fusegen.metrics.privacy`, and what they share in
`fusegen.metrics.columns`; `evaluate_records` runs them together.

Example:

>>> import numpy as np
>>> import pandas as pd
>>> rng = np.random.default_rng(0)
>>> real = pd.DataFrame({"size": rng.normal(size=200), "grade": rng.choice(["a", "b"], 200)})
>>> report = evaluate_records(real, real.sample(frac=1.0, replace=True, random_state=0))
>>> sorted(report)
['columns', 'quality']
>>> report["quality"]["score"] > 0.8
True
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from fusegen.errors import DataError
from fusegen.metrics.columns import (
    CATEGORICAL,
    DATETIME,
    NUMERIC,
    _check_not_empty,
    _check_target,
    _label_missing,
    _prepare_frames,
    infer_column_kinds,
)
from fusegen.metrics.ml_efficacy import ml_efficacy
from fusegen.metrics.privacy import distance_to_closest_record
from fusegen.metrics.quality import (
    DEFAULT_REAL_ASSOCIATION_THRESHOLD,
    DEFAULT_REAL_CORRELATION_THRESHOLD,
    quality_scores,
)

__all__ = [
    "CATEGORICAL",
    "DATETIME",
    "DEFAULT_REAL_ASSOCIATION_THRESHOLD",
    "DEFAULT_REAL_CORRELATION_THRESHOLD",
    "NUMERIC",
    "distance_to_closest_record",
    "evaluate_records",
    "infer_column_kinds",
    "ml_efficacy",
    "quality_scores",
    # For the record plots, which read the data as the scores do.
    "_label_missing",
    "_prepare_frames",
]


def evaluate_records(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    categorical: Sequence[str] | None = None,
    seed: int = 0,
    **quality_options,
) -> dict:
    """Score synthetic records against the real records they imitate.

    Args:
        real: the real rows the generator was trained on.
        synthetic: the generated rows, with the same columns.
        holdout: real rows the generator never saw, with the same columns.
            Enables ``"privacy"``, and ``"ml_efficacy"`` together with ``target``.
        target: the column that ML efficacy predicts from the others; needs ``holdout``.
        categorical: columns to treat as categorical whatever their dtype.
        seed: seeds the models and the subsampling of tables over 50,000 rows.
        **quality_options: passed on to `quality_scores`: the real-pair
            thresholds ``real_correlation_threshold`` (SDMetrics: 0.5) and
            ``real_association_threshold`` (SDMetrics: 0.3).

    Returns:
        A JSON-serialisable dict with ``"columns"`` (each column's kind),
        ``"quality"`` (see `quality_scores`) and, when asked for,
        ``"ml_efficacy"`` (see `ml_efficacy`) and ``"privacy"`` (see
        `distance_to_closest_record`). Undefined numbers are ``None``.

    Raises:
        DataError: a frame is empty, the columns differ, a column cannot be
            read as its kind, or ``target`` is not a column.
    """
    if target is not None and holdout is None:
        raise DataError(
            f"target={target!r} asks for ML efficacy, which tests on real rows the generator "
            "never saw. Received holdout=None.",
            hint="pass holdout=<a real DataFrame kept out of training>.",
        )
    kinds = infer_column_kinds(_check_not_empty(real, "real"), categorical)
    if target is not None:
        _check_target(target, kinds)
    report = {
        "columns": kinds,
        "quality": quality_scores(
            real,
            synthetic,
            categorical=categorical,
            seed=seed,
            **quality_options,
        ),
    }
    if holdout is not None and target is not None:
        report["ml_efficacy"] = ml_efficacy(
            real, synthetic, holdout, target, categorical=categorical, seed=seed
        )
    if holdout is not None:
        report["privacy"] = distance_to_closest_record(real, synthetic, holdout, categorical=categorical)
    return report
