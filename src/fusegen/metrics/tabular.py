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

import itertools
import math
import sys
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, pearsonr
from scipy.stats.contingency import association
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from fusegen.errors import DataError

NUMERIC = "numeric"
DATETIME = "datetime"
CATEGORICAL = "categorical"

# SDMetrics' defaults (sdmetrics >= 0.28.1): a pair only counts towards Column
# Pair Trends when the real data shows a trend worth reproducing.
DEFAULT_REAL_CORRELATION_THRESHOLD = 0.5
DEFAULT_REAL_ASSOCIATION_THRESHOLD = 0.3

# SDMetrics rounds to 14 decimals before the KS test, so float noise from a
# round trip through a file does not count as a difference.
_KS_DECIMALS = sys.float_info.dig - 1
# SDMetrics subsamples both tables to this many rows for ContingencySimilarity.
_CONTINGENCY_MAX_ROWS = 50_000
# Missing categories form one category of their own in contingency tables,
# in ML features and in distances; this label cannot clash with a user's.
_MISSING = "<missing value>"


def infer_column_kinds(frame: pd.DataFrame, categorical: Sequence[str] | None = None) -> dict[str, str]:
    """The kind of each column: ``"numeric"``, ``"datetime"`` or ``"categorical"``.

    Numeric dtypes are numeric unless listed in ``categorical``; datetimes
    are datetime (scored like numbers, as SDMetrics does); object, string,
    category and boolean dtypes are categorical.

    Args:
        frame: the real table.
        categorical: columns to treat as categorical whatever their dtype,
            e.g. integer codes.

    Returns:
        A dict from column name to kind, in the frame's column order.

    Raises:
        DataError: a column in ``categorical`` is not in the frame.

    Example:

    >>> frame = pd.DataFrame({"age": [30, 41], "zip": [1000, 2000], "city": ["x", "y"]})
    >>> infer_column_kinds(frame, categorical=["zip"])
    {'age': 'numeric', 'zip': 'categorical', 'city': 'categorical'}
    """
    listed = [categorical] if isinstance(categorical, str) else list(categorical or [])
    unknown = [name for name in listed if name not in frame.columns]
    if unknown:
        raise DataError(
            f"categorical= names columns that are not in the real data: {unknown}. "
            f"Received columns: {list(frame.columns)}."
        )
    kinds = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        if name in listed or pd.api.types.is_bool_dtype(dtype):
            kinds[name] = CATEGORICAL
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kinds[name] = DATETIME
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[name] = NUMERIC
        else:
            kinds[name] = CATEGORICAL
    return kinds


def evaluate_records(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    categorical: Sequence[str] | None = None,
    seed: int = 0,
    real_correlation_threshold: float = DEFAULT_REAL_CORRELATION_THRESHOLD,
    real_association_threshold: float = DEFAULT_REAL_ASSOCIATION_THRESHOLD,
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
        real_correlation_threshold: a numeric pair counts towards Column Pair
            Trends when the real |Pearson r| exceeds this (SDMetrics: 0.5; 0
            counts every pair).
        real_association_threshold: a pair with a categorical column counts
            when the real Cramér's V exceeds this (SDMetrics: 0.3).

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
            real_correlation_threshold=real_correlation_threshold,
            real_association_threshold=real_association_threshold,
        ),
    }
    if holdout is not None and target is not None:
        report["ml_efficacy"] = ml_efficacy(
            real, synthetic, holdout, target, categorical=categorical, seed=seed
        )
    if holdout is not None:
        report["privacy"] = distance_to_closest_record(real, synthetic, holdout, categorical=categorical)
    return report


# --------------------------------------------------------------------------- quality


def quality_scores(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    categorical: Sequence[str] | None = None,
    seed: int = 0,
    real_correlation_threshold: float = DEFAULT_REAL_CORRELATION_THRESHOLD,
    real_association_threshold: float = DEFAULT_REAL_ASSOCIATION_THRESHOLD,
) -> dict:
    """SDMetrics' single-table QualityReport: column shapes and column pair trends.

    Args:
        real: the real rows.
        synthetic: the synthetic rows, with the same columns.
        categorical: columns to treat as categorical whatever their dtype.
        seed: seeds the subsampling of tables over 50,000 rows for contingency tables.
        real_correlation_threshold: see `evaluate_records`.
        real_association_threshold: see `evaluate_records`.

    Returns:
        ``{"score", "column_shapes", "column_pair_trends"}``. ``score`` is the
        mean of the two property scores. ``column_shapes`` holds ``score``
        and ``columns`` (``{name: {"metric", "score"}}``);
        ``column_pair_trends`` holds ``score``, ``score_all_pairs`` (every
        pair counted, as SDMetrics did before 0.28.1), the two thresholds, and
        ``pairs``: one dict per pair with ``columns``, ``metric``, ``score``,
        ``real_correlation``, ``synthetic_correlation``, ``real_association``
        and ``meets_threshold``.

    Raises:
        DataError: see `evaluate_records`.
    """
    for name, threshold in [
        ("real_correlation_threshold", real_correlation_threshold),
        ("real_association_threshold", real_association_threshold),
    ]:
        if not 0 <= threshold <= 1:
            raise DataError(f"{name} must be between 0 and 1. Received: {name}={threshold}")
    kinds, (real, synthetic) = _prepare_frames(real, {"synthetic": synthetic}, categorical)
    column_shapes = _column_shapes(real, synthetic, kinds)
    pair_trends = _column_pair_trends(
        real,
        synthetic,
        kinds,
        np.random.default_rng(seed),
        real_correlation_threshold,
        real_association_threshold,
    )
    property_scores = [column_shapes["score"], pair_trends["score"]]
    defined = [score for score in property_scores if score is not None]
    return {
        "score": float(np.mean(defined)) if defined else None,
        "column_shapes": column_shapes,
        "column_pair_trends": pair_trends,
    }


def _column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]) -> dict:
    columns = {}
    for name, kind in kinds.items():
        if kind == CATEGORICAL:
            columns[name] = {"metric": "TVComplement", "score": _tv_complement(real[name], synthetic[name])}
        else:
            columns[name] = {"metric": "KSComplement", "score": _ks_complement(real[name], synthetic[name])}
    return {"score": _mean([column["score"] for column in columns.values()]), "columns": columns}


def _ks_complement(real: pd.Series, synthetic: pd.Series) -> float | None:
    """1 - the two-sample Kolmogorov-Smirnov statistic, missing values dropped."""
    real = real.dropna().round(_KS_DECIMALS)
    synthetic = synthetic.dropna().round(_KS_DECIMALS)
    if real.empty or synthetic.empty:
        return None
    return _number(1.0 - ks_2samp(real, synthetic).statistic)


def _tv_complement(real: pd.Series, synthetic: pd.Series) -> float | None:
    """1 - the total variation distance of the two frequency tables, missing values dropped."""
    real_frequencies = real.value_counts(normalize=True, dropna=True)
    synthetic_frequencies = synthetic.value_counts(normalize=True, dropna=True)
    if real_frequencies.empty or synthetic_frequencies.empty:
        return None
    return _number(1.0 - _total_variation(real_frequencies, synthetic_frequencies))


def _total_variation(real_frequencies: pd.Series, synthetic_frequencies: pd.Series) -> float:
    categories = real_frequencies.index.union(synthetic_frequencies.index, sort=False)
    difference = real_frequencies.reindex(categories, fill_value=0.0) - synthetic_frequencies.reindex(
        categories, fill_value=0.0
    )
    return 0.5 * float(difference.abs().sum())


def _column_pair_trends(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    kinds: dict[str, str],
    rng: np.random.Generator,
    real_correlation_threshold: float,
    real_association_threshold: float,
) -> dict:
    continuous = [name for name, kind in kinds.items() if kind != CATEGORICAL]
    # SDMetrics bins each table on its own edges (ten equal-width bins over
    # that table's range), so we do the same to report the same numbers.
    real_binned = {name: _bin(real[name]) for name in continuous}
    synthetic_binned = {name: _bin(synthetic[name]) for name in continuous}

    pairs = []
    for first, second in itertools.combinations(kinds, 2):
        if kinds[first] != CATEGORICAL and kinds[second] != CATEGORICAL:
            pair = {
                "metric": "CorrelationSimilarity",
                **_correlation_similarity(real[[first, second]], synthetic[[first, second]]),
                "real_association": None,
            }
            meets_threshold = real_correlation_threshold <= 0 or (
                pair["real_correlation"] is not None
                and abs(pair["real_correlation"]) > real_correlation_threshold
            )
        else:
            pair = {
                "metric": "ContingencySimilarity",
                "score": None,
                "real_correlation": None,
                "synthetic_correlation": None,
                "real_association": None,
            }
            real_pair = _discrete_pair(real, real_binned, first, second)
            synthetic_pair = _discrete_pair(synthetic, synthetic_binned, first, second)
            if real_pair is not None and synthetic_pair is not None:
                pair.update(_contingency_similarity(*_subsample(real_pair, synthetic_pair, rng)))
            meets_threshold = real_association_threshold <= 0 or (
                pair["real_association"] is not None and pair["real_association"] > real_association_threshold
            )
        # An undefined pair (a constant column, say) counts nowhere, as in SDMetrics.
        meets_threshold = pair["score"] is not None and meets_threshold
        pairs.append({"columns": [first, second], **pair, "meets_threshold": bool(meets_threshold)})
    return {
        "score": _mean([pair["score"] for pair in pairs if pair["meets_threshold"]]),
        "score_all_pairs": _mean([pair["score"] for pair in pairs]),
        "real_correlation_threshold": real_correlation_threshold,
        "real_association_threshold": real_association_threshold,
        "pairs": pairs,
    }


def _bin(values: pd.Series) -> np.ndarray | None:
    """SDMetrics' binning: `np.digitize` on ten equal-width bins of this column's range.

    As in SDMetrics, a missing value lands in the bin past the last edge,
    which it shares with the column's maximum. ``None`` when the range is
    not finite; the pairs with this column are then undefined.
    """
    try:
        edges = np.histogram_bin_edges(values.dropna())
    except ValueError:
        return None
    return np.digitize(values, bins=edges)


def _discrete_pair(
    frame: pd.DataFrame, binned: dict[str, np.ndarray | None], first: str, second: str
) -> pd.DataFrame | None:
    columns = {}
    for name in (first, second):
        if name in binned:
            if binned[name] is None:
                return None
            columns[name] = binned[name]
        else:
            columns[name] = _label_missing(frame[name], _MISSING).to_numpy()
    return pd.DataFrame(columns)


def _subsample(
    real_pair: pd.DataFrame, synthetic_pair: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if max(len(real_pair), len(synthetic_pair)) <= _CONTINGENCY_MAX_ROWS:
        return real_pair, synthetic_pair
    return tuple(
        frame.sample(min(_CONTINGENCY_MAX_ROWS, len(frame)), random_state=rng)
        for frame in (real_pair, synthetic_pair)
    )


def _contingency_similarity(real_pair: pd.DataFrame, synthetic_pair: pd.DataFrame) -> dict:
    """1 - the total variation distance of the two joint frequency tables."""
    real_frequencies = real_pair.value_counts(normalize=True, dropna=False)
    synthetic_frequencies = synthetic_pair.value_counts(normalize=True, dropna=False)
    score = 1.0 - _total_variation(real_frequencies, synthetic_frequencies)

    counts = pd.crosstab(real_pair.iloc[:, 0], real_pair.iloc[:, 1])
    real_association = None
    if min(counts.shape) >= 2:
        real_association = _number(association(counts.to_numpy(), method="cramer"))
    return {"score": _number(score), "real_association": real_association}


def _correlation_similarity(real_pair: pd.DataFrame, synthetic_pair: pd.DataFrame) -> dict:
    """1 - |r_real - r_synthetic| / 2 with Pearson's r over the rows where both values exist."""
    real_correlation = _pearson(real_pair)
    synthetic_correlation = _pearson(synthetic_pair)
    score = None
    if real_correlation is not None and synthetic_correlation is not None:
        score = 1.0 - abs(real_correlation - synthetic_correlation) / 2.0
    return {
        "score": score,
        "real_correlation": real_correlation,
        "synthetic_correlation": synthetic_correlation,
    }


def _pearson(pair: pd.DataFrame) -> float | None:
    complete = pair.dropna()
    # Pearson's r is undefined for a constant column; SDMetrics leaves such a pair out.
    if len(complete) < 2 or (complete.nunique() < 2).any():
        return None
    return _number(pearsonr(complete.iloc[:, 0], complete.iloc[:, 1]).statistic)


# --------------------------------------------------------------------------- ML efficacy


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

    models = {}
    for model_name, estimator in _estimators(task, seed).items():
        scores = {
            source: _fit_and_score(estimator, tables[source], test, features, target, kinds, task)
            for source in ("real", "synthetic")
        }
        real_score, synthetic_score = scores["real"][metric], scores["synthetic"][metric]
        # A ratio to a real score at or below zero (R^2 can be) would read backwards.
        ratio = None
        if real_score is not None and synthetic_score is not None and real_score > 0:
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
    encoder = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
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


def _as_features(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Categories as strings with missing values as their own category, for the encoders."""
    frame = frame.copy()
    for name, kind in kinds.items():
        if kind == CATEGORICAL:
            frame[name] = _label_missing(frame[name], _MISSING).astype(str)
    return frame


# --------------------------------------------------------------------------- privacy


def distance_to_closest_record(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    categorical: Sequence[str] | None = None,
) -> dict:
    """Distance to the closest real training record (DCR), synthetic against holdout.

    Rows are encoded so that each column weighs the same: numbers are
    min-max scaled by the real range (missing values take the real median,
    plus a missing-value flag), categories are one-hot encoded and scaled so
    that a mismatch adds exactly 1 to the squared Euclidean distance. Each
    synthetic row and each holdout row gets the Euclidean distance to its
    nearest ``real`` row.

    Synthetic rows should not be systematically closer to the training rows
    than unseen real rows are: ``share_closer_than_holdout_p05`` is about
    0.05 for a generator that does not copy, and far above it for one that
    memorises.

    Args:
        real: the real training rows.
        synthetic: the synthetic rows.
        holdout: real rows the generator never saw.
        categorical: columns to treat as categorical whatever their dtype.

    Returns:
        ``{"synthetic": {...}, "holdout": {...}, "share_closer_than_holdout_p05"}``,
        where ``synthetic`` and ``holdout`` each hold ``median``, ``p05``
        (the 5th percentile), ``exact_copies`` (rows identical to a
        training row in every column) and ``exact_copy_share``.

    Raises:
        DataError: see `evaluate_records`.
    """
    kinds, (real, synthetic, holdout) = _prepare_frames(
        real, {"synthetic": synthetic, "holdout": holdout}, categorical
    )
    frames = {"real": _as_features(real, kinds), "synthetic": _as_features(synthetic, kinds)}
    frames["holdout"] = _as_features(holdout, kinds)

    numeric = [name for name, kind in kinds.items() if kind != CATEGORICAL]
    categorical_columns = [name for name, kind in kinds.items() if kind == CATEGORICAL]
    # The vocabulary comes from all three tables so that an unseen category
    # still counts as a full mismatch instead of an all-zero code.
    vocabularies = [
        sorted(set().union(*(frame[name].unique() for frame in frames.values())))
        for name in categorical_columns
    ]
    encoder = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(SimpleImputer(strategy="median", add_indicator=True), MinMaxScaler()),
                numeric,
            ),
            ("categorical", OneHotEncoder(categories=vocabularies, sparse_output=False), categorical_columns),
        ],
        # One-hot codes differ in two places per mismatch; 1/sqrt(2) makes that count as 1.
        transformer_weights={"numeric": 1.0, "categorical": 1.0 / math.sqrt(2.0)},
    )
    training_codes = encoder.fit_transform(frames["real"])
    neighbours = NearestNeighbors(n_neighbors=1).fit(training_codes)
    training_rows = frames["real"].drop_duplicates()

    distances = {
        name: neighbours.kneighbors(encoder.transform(frames[name]))[0][:, 0]
        for name in ("synthetic", "holdout")
    }
    summary = {}
    for name, row_distances in distances.items():
        # A merge matches missing values to missing values, so a copied row with gaps still counts.
        exact_copies = len(frames[name].merge(training_rows, how="inner", on=list(kinds)))
        summary[name] = {
            "median": _number(np.median(row_distances)),
            "p05": _number(np.quantile(row_distances, 0.05)),
            "exact_copies": int(exact_copies),
            "exact_copy_share": _number(exact_copies / len(row_distances)),
        }
    holdout_p05 = np.quantile(distances["holdout"], 0.05)
    summary["share_closer_than_holdout_p05"] = _number(np.mean(distances["synthetic"] < holdout_p05))
    return summary


# --------------------------------------------------------------------------- validation


def _check_not_empty(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"The {name} data must be a pandas DataFrame. Received: {type(frame).__name__}")
    if frame.empty:
        raise DataError(
            f"The {name} data is empty: there is nothing to compare. Received shape {frame.shape}."
        )
    return frame


def _check_target(target: str, kinds: dict[str, str]) -> None:
    if target not in kinds:
        raise DataError(
            f"target={target!r} is not a column of the data. Expected one of: {list(kinds)}. "
            f"Received: target={target!r}"
        )


def _prepare_frames(
    real: pd.DataFrame, others: dict[str, pd.DataFrame], categorical: Sequence[str] | None
) -> tuple[dict[str, str], list[pd.DataFrame]]:
    """Check the frames against the real one and convert every column to its kind.

    Numbers become float64, datetimes float seconds since the epoch (NaN for
    NaT), categories object values with NaN for missing; the other frames'
    columns are put in the real column order.
    """
    kinds = infer_column_kinds(_check_not_empty(real, "real"), categorical)
    prepared = [_convert(real, kinds, "real")]
    for name, frame in others.items():
        _check_not_empty(frame, name)
        missing = [column for column in real.columns if column not in frame.columns]
        extra = [column for column in frame.columns if column not in real.columns]
        if missing or extra:
            raise DataError(
                f"The {name} data must have the real data's columns. Missing: {missing}; "
                f"not in the real data: {extra}. Expected: {list(real.columns)}. "
                f"Received: {list(frame.columns)}"
            )
        prepared.append(_convert(frame[list(real.columns)], kinds, name))
    return kinds, prepared


def _convert(frame: pd.DataFrame, kinds: dict[str, str], name: str) -> pd.DataFrame:
    columns = {}
    for column, kind in kinds.items():
        values = frame[column]
        try:
            if kind == NUMERIC:
                columns[column] = pd.to_numeric(values).astype("float64")
            elif kind == DATETIME:
                columns[column] = _seconds_since_epoch(values)
            else:
                columns[column] = values.astype(object).where(values.notna(), np.nan)
        except (TypeError, ValueError) as error:
            raise DataError(
                f'Column "{column}" as {kind} in the {name} data: its values cannot be read as '
                f"{kind} like the real column's. Received dtype={values.dtype}: {error}",
                hint="convert the column, or list it in categorical= to compare it as categories.",
            ) from error
    return pd.DataFrame(columns, index=frame.index)


def _label_missing(values: pd.Series, label: str) -> pd.Series:
    """The categories with each missing value replaced by ``label``, as objects.

    Unlike `Series.fillna`, this never converts the result to another dtype.
    """
    return pd.Series(
        np.where(values.isna(), label, values.to_numpy(dtype=object)), index=values.index, dtype=object
    )


def _seconds_since_epoch(values: pd.Series) -> pd.Series:
    moments = pd.to_datetime(values)
    if moments.dt.tz is not None:
        moments = moments.dt.tz_convert("UTC").dt.tz_localize(None)
    # KS, Pearson's r and equal-width bins do not depend on the time unit.
    return (moments - pd.Timestamp(0)) / pd.Timedelta(seconds=1)


# --------------------------------------------------------------------------- numbers


def _number(value) -> float | None:
    """A plain float for JSON, or None where the value is undefined."""
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _mean(values: list[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None
