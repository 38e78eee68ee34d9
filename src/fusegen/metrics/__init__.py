"""Evaluation of real against synthetic data.

Metrics take real and synthetic data and nothing else, so they score any
generator's output, a competitor's included. Nothing here imports Keras,
TensorFlow or fusegen's model code.
"""

from fusegen.metrics.plots import plot_record_comparison
from fusegen.metrics.tabular import (
    distance_to_closest_record,
    evaluate_records,
    infer_column_kinds,
    ml_efficacy,
    quality_scores,
)

__all__ = [
    "distance_to_closest_record",
    "evaluate_records",
    "infer_column_kinds",
    "ml_efficacy",
    "plot_record_comparison",
    "quality_scores",
]
