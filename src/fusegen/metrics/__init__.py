"""Evaluation of real against synthetic data.

Metrics take real and synthetic data and nothing else, so they score any
generator's output, a competitor's included. Nothing here imports fusegen's
model code, and importing this package loads neither Keras nor TensorFlow: the
time-series scores import them only when called, to train their post-hoc
classifiers.
"""

from fusegen.metrics.forecast import (
    energy_score,
    forecast_metrics,
    interval_coverage,
    mase,
    mean_weighted_quantile_loss,
    quantile_summary,
    weighted_quantile_losses,
)
from fusegen.metrics.images import ImageJudge, frechet_distance, kernel_distance, sample_diversity
from fusegen.metrics.paired import image_similarity, paired_errors, sequence_distances
from fusegen.metrics.plots import (
    plot_fan_chart,
    plot_record_comparison,
    plot_sequence_comparison,
    save_image_grid,
)
from fusegen.metrics.tabular import (
    distance_to_closest_record,
    evaluate_records,
    infer_column_kinds,
    ml_efficacy,
    quality_scores,
)
from fusegen.metrics.timeseries import (
    discriminative_floor,
    discriminative_score,
    discriminative_scores,
    predictive_score,
)

__all__ = [
    "energy_score",
    "forecast_metrics",
    "interval_coverage",
    "mase",
    "mean_weighted_quantile_loss",
    "quantile_summary",
    "weighted_quantile_losses",
    "plot_fan_chart",
    "ImageJudge",
    "frechet_distance",
    "kernel_distance",
    "sample_diversity",
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
    "discriminative_floor",
    "discriminative_score",
    "discriminative_scores",
    "predictive_score",
]
