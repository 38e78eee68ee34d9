"""ML efficacy of synthetic records: train on synthetic, test on real.

Models trained on synthetic rows and tested on a real holdout, against the
same models trained on the real rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fusegen.errors import DataError
from fusegen.metrics.columns import (
    CATEGORICAL,
    _as_features,
    _check_target,
    _mean,
    _number,
    _prepare_frames,
)


def ml_efficacy(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    target: str,
    *,
    categorical: Sequence[str] | None = None,
    seed: int = 0,
) -> dict:
    """Train on synthetic, test on real, against train on real, test on real.

    Two scikit-learn models (a random forest, and a logistic or ridge
    regression; both on standardised numbers and one-hot categories) learn
    ``target`` from the other columns, once from ``real`` and once from
    ``synthetic``; both are scored on ``holdout``. A categorical target is
    scored by macro F1 (accuracy reported too), a numeric one by R^2. Rows
    whose target is missing are left out.

    Args:
        real: the real training rows.
        synthetic: the synthetic rows.
        holdout: real rows that neither the generator nor the real model saw.
        target: the column to predict.
        categorical: columns to treat as categorical whatever their dtype.
        seed: seeds the models.

    Returns:
        ``{"target", "task", "metric", "num_rows", "models", "ratio"}``:
        ``models[name]`` is ``{"real": {metric: score}, "synthetic": {...},
        "ratio"}``, the ratio being synthetic / real on ``metric`` (``None``
        when the real score is not positive); ``ratio`` is the models' mean
        ratio. 1.0 means the synthetic rows teach as much as the real ones.

    Raises:
        DataError: see `evaluate_records`; also no feature column besides the target.
    """
    kinds, (real, synthetic, holdout) = _prepare_frames(
        real, {"synthetic": synthetic, "holdout": holdout}, categorical
    )
    _check_target(target, kinds)
    features = [name for name in kinds if name != target]
    if not features:
        raise DataError(f"ML efficacy needs at least one column besides target={target!r}. Received none.")
    task = "classification" if kinds[target] == CATEGORICAL else "regression"
    metric = "macro_f1" if task == "classification" else "r2"
    tables = {
        name: _as_features(frame.dropna(subset=[target]), kinds)
        for name, frame in {"real": real, "synthetic": synthetic, "holdout": holdout}.items()
    }
    for name, frame in tables.items():
        if frame.empty:
            raise DataError(
                f'Column "{target}" as ML target: every {name} row has it missing. Received 0 rows.'
            )
    test = tables["holdout"]
    # What guessing scores: a macro F1 of one over the classes (guessing in the classes' shares scores
    # each class its share), an R^2 of 0.
    chance = 1.0 / max(test[target].nunique(), 1) if task == "classification" else 0.0
    # Within two standard errors of chance on this many holdout rows, a score is guessing's.
    beyond = (
        chance + 2.0 * np.sqrt(chance * (1.0 - chance) / max(len(test), 1))
        if task == "classification"
        else 0.0
    )

    models = {}
    for model_name, estimator in _estimators(task, seed).items():
        scores = {
            source: _fit_and_score(estimator, tables[source], test, features, target, kinds, task)
            for source in ("real", "synthetic")
        }
        real_score, synthetic_score = scores["real"][metric], scores["synthetic"][metric]
        # A ratio to a real score at or below chance says nothing (survival's rhdnase: a randomised
        # treatment arm, real macro F1 0.45, synthetic 0.58, "1.29"); at or below zero it reads backwards.
        ratio = None
        if real_score is not None and synthetic_score is not None and real_score > beyond:
            ratio = _number(synthetic_score / real_score)
        models[model_name] = {**scores, "ratio": ratio}
    ratios = [model["ratio"] for model in models.values()]
    return {
        "target": target,
        "task": task,
        "metric": metric,
        "num_rows": {name: len(frame) for name, frame in tables.items()},
        "models": models,
        "ratio": _mean(ratios),
        "chance": _number(chance),
    }


def _estimators(task: str, seed: int) -> dict:
    # Random forests run on one thread: no contention on a busy machine, and
    # no thread start-up cost on small tables. Square-root feature sampling
    # keeps the regressor as quick as the classifier on large ones.
    if task == "classification":
        return {
            "random_forest": RandomForestClassifier(min_samples_leaf=2, random_state=seed),
            "logistic_regression": LogisticRegression(max_iter=2000),
        }
    return {
        "random_forest": RandomForestRegressor(max_features="sqrt", min_samples_leaf=2, random_state=seed),
        "ridge_regression": Ridge(),
    }


def _fit_and_score(
    estimator,
    train: pd.DataFrame,
    test: pd.DataFrame,
    features: list[str],
    target: str,
    kinds: dict[str, str],
    task: str,
) -> dict:
    numeric = [name for name in features if kinds[name] != CATEGORICAL]
    categorical = [name for name in features if kinds[name] == CATEGORICAL]
    # The linear models read the one-hot columns sparse: a table with a column of thousands of labels
    # (loans' emp_title, 4,700) made a dense matrix of 9,000 x 4,900 that the logistic regression
    # took a minute over (12 s sparse); the forests split dense columns faster.
    sparse = isinstance(estimator, (LogisticRegression, Ridge))
    encoder = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=sparse), categorical),
        ],
        sparse_threshold=0.3 if sparse else 0.0,
    )
    estimator = clone(estimator)
    if task == "classification" and train[target].nunique() < 2:
        # A table with one class teaches nothing but that class; score it as such
        # instead of failing, since a collapsed generator is a result, not an error.
        estimator = DummyClassifier(strategy="most_frequent")
    model = make_pipeline(encoder, estimator)
    with warnings.catch_warnings():
        # Unseen categories in the test rows are expected (and encoded as zeros).
        warnings.simplefilter("ignore", UserWarning)
        model.fit(train[features], train[target])
        predicted = model.predict(test[features])
    truth = test[target]
    if task == "regression":
        return {"r2": _number(r2_score(truth, predicted))}
    # Macro F1 over the holdout's classes, so every model is scored on the same classes.
    labels = sorted(truth.unique())
    return {
        "macro_f1": _number(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        "accuracy": _number(accuracy_score(truth, predicted)),
    }
