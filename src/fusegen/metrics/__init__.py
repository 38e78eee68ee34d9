"""Evaluation of real against synthetic data.

Metrics take real and synthetic data and nothing else, so they score any
generator's output, a competitor's included. Nothing here imports Keras,
TensorFlow or fusegen's model code.
"""

from fusegen.metrics.paired import image_similarity, paired_errors, sequence_distances
from fusegen.metrics.plots import plot_record_comparison, plot_sequence_comparison, save_image_grid
from fusegen.metrics.tabular import (
    distance_to_closest_record,
    evaluate_records,
    infer_column_kinds,
    ml_efficacy,
    quality_scores,
)

__all__ = [
    "image_similarity",
    "paired_errors",
    "plot_sequence_comparison",
    "save_image_grid",
    "sequence_distances",
    "distance_to_closest_record",
    "evaluate_records",
    "infer_column_kinds",
    "ml_efficacy",
    "plot_record_comparison",
    "quality_scores",
]
