"""Quality of synthetic records: SDMetrics' single-table QualityReport.

Computed here on SDMetrics' definitions (column shapes and column pair
trends), so fusegen's scores and SDMetrics' agree without SDMetrics
installed. `docs/evaluation.md` gives the formulas.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from scipy.stats.contingency import association

from fusegen.errors import DataError
from fusegen.metrics.columns import _MISSING, CATEGORICAL, _label_missing, _mean, _number, _prepare_frames

# SDMetrics' defaults (sdmetrics >= 0.28.1): a pair only counts towards Column
# Pair Trends when the real data shows a trend worth reproducing.
DEFAULT_REAL_CORRELATION_THRESHOLD = 0.5
DEFAULT_REAL_ASSOCIATION_THRESHOLD = 0.3

# SDMetrics rounds to 14 decimals before the KS test, so float noise from a
# round trip through a file does not count as a difference.
_KS_DECIMALS = sys.float_info.dig - 1
# SDMetrics subsamples both tables to this many rows for ContingencySimilarity.
_CONTINGENCY_MAX_ROWS = 50_000


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
    # The statistic alone is read: "asymp" skips the exact p-value, which scipy warns it cannot
    # compute on large samples (a two-line warning on every evaluate of a big table).
    return _number(1.0 - ks_2samp(real, synthetic, method="asymp").statistic)


def _tv_complement(real: pd.Series, synthetic: pd.Series) -> float | None:
    """1 - the total variation distance of the two frequency tables, missing values dropped."""
    # Labels of an object column held as numbers or booleans are counted as those values (as the
    # other side's typed column is), which also spares pandas' warning about inferring them.
    real_frequencies = real.infer_objects().value_counts(normalize=True, dropna=True)
    synthetic_frequencies = synthetic.infer_objects().value_counts(normalize=True, dropna=True)
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
    """1 - the total variation distance of the two joint frequency tables.

    Counted on integer codes (``np.bincount`` of each row's cell), not with
    pandas' ``value_counts`` and ``crosstab`` per pair: a table of 55 columns
    has 1,485 pairs, and those took most of `fusegen evaluate`'s time there.
    """
    first, second = (
        pd.factorize(
            pd.concat([real_pair.iloc[:, index], synthetic_pair.iloc[:, index]]), use_na_sentinel=False
        )[0]
        for index in (0, 1)
    )
    columns = int(second.max()) + 1
    cells = first * columns + second
    size = (int(first.max()) + 1) * columns
    real_counts = np.bincount(cells[: len(real_pair)], minlength=size)
    synthetic_counts = np.bincount(cells[len(real_pair) :], minlength=size)
    distance = 0.5 * np.abs(real_counts / len(real_pair) - synthetic_counts / len(synthetic_pair)).sum()
    score = 1.0 - float(distance)

    # The real pair's contingency table over the labels it holds (as pandas' crosstab builds it).
    counts = real_counts.reshape(-1, columns)
    counts = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    real_association = None
    if min(counts.shape) >= 2:
        real_association = _number(association(counts, method="cramer"))
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
    """Pearson's r over the rows where both values exist (numpy's, as scipy's `pearsonr` computes
    it, without its per-call checks: a table of 34 numbers has 561 pairs to score)."""
    values = pair.to_numpy("float64")
    complete = values[~np.isnan(values).any(axis=1)]
    # Pearson's r is undefined for a constant column; SDMetrics leaves such a pair out.
    if len(complete) < 2 or (np.ptp(complete, axis=0) == 0).any():
        return None
    # Scaled first, as scipy does, so that squares of values past 1e154 stay finite.
    complete = complete / np.abs(complete).max(axis=0)
    centred = complete - complete.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    return _number(np.clip((centred[:, 0] @ centred[:, 1]) / (scale[0] * scale[1]), -1.0, 1.0))
