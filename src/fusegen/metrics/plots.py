"""Pictures of real against synthetic records: per-column distributions and correlations.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas,
never through `pyplot`, so plotting touches no global state and needs no
display.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fusegen.metrics.tabular import CATEGORICAL, DATETIME, _label_missing, _prepare_frames

REAL_COLOR = "#1f77b4"
SYNTHETIC_COLOR = "#ff7f0e"
# A bar chart stays legible up to about this many categories; the rest are pooled.
MAX_CATEGORIES_SHOWN = 15
NUM_HISTOGRAM_BINS = 30
GRID_COLUMNS = 3
SECONDS_PER_DAY = 86_400.0


def plot_record_comparison(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    out_dir: str | os.PathLike,
    categorical: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write PNG figures comparing real and synthetic records.

    - ``distributions.png``: one panel per column, overlaid density
      histograms (on the same bins) for numeric and datetime columns,
      grouped bars of category frequencies for categorical ones (the
      ``MAX_CATEGORIES_SHOWN`` most frequent real categories, the rest pooled
      as "other"; missing values as "(missing)").
    - ``correlations.png``: the real and the synthetic Pearson correlation
      matrices of the numeric and datetime columns, side by side on one
      colour scale. Written only when there are at least two such columns.

    Each file is written to a temporary name in ``out_dir`` and renamed, so
    a crash never leaves a half-written PNG.

    Args:
        real: the real rows.
        synthetic: the synthetic rows, with the same columns.
        out_dir: folder to write into; created if missing.
        categorical: columns to treat as categorical whatever their dtype.

    Returns:
        ``{"distributions": path, "correlations": path}`` (the second only when drawn).

    Raises:
        DataError: a frame is empty or the columns differ.

    Example:

    >>> import tempfile
    >>> frame = pd.DataFrame({"size": [1.0, 2.0, 3.5], "weight": [2.0, 1.0, 4.0], "grade": list("aab")})
    >>> paths = plot_record_comparison(frame, frame, tempfile.mkdtemp())
    >>> sorted(paths)
    ['correlations', 'distributions']
    """
    kinds, (real, synthetic) = _prepare_frames(real, {"synthetic": synthetic}, categorical)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    paths = {"distributions": out_dir / "distributions.png"}
    _save(_distributions_figure(real, synthetic, kinds), paths["distributions"])
    continuous = [name for name, kind in kinds.items() if kind != CATEGORICAL]
    if len(continuous) >= 2:
        paths["correlations"] = out_dir / "correlations.png"
        _save(_correlations_figure(real[continuous], synthetic[continuous]), paths["correlations"])
    return paths


def _distributions_figure(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]) -> Figure:
    num_rows = math.ceil(len(kinds) / GRID_COLUMNS)
    figure = Figure(figsize=(5 * GRID_COLUMNS, 3.6 * num_rows), layout="constrained")
    axes = figure.subplots(num_rows, GRID_COLUMNS, squeeze=False).ravel()
    for axis, (name, kind) in zip(axes, kinds.items(), strict=False):
        if kind == CATEGORICAL:
            _category_bars(axis, real[name], synthetic[name])
        elif kind == DATETIME:
            # Matplotlib's date numbers are days since the Unix epoch.
            _histograms(axis, real[name] / SECONDS_PER_DAY, synthetic[name] / SECONDS_PER_DAY)
            axis.xaxis_date()
            axis.tick_params(axis="x", labelrotation=30)
        else:
            _histograms(axis, real[name], synthetic[name])
        axis.set_title(f"{name} ({kind})")
    for axis in axes[len(kinds) :]:
        axis.set_visible(False)
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside upper right")
    figure.suptitle("Real vs synthetic: per-column distributions")
    return figure


def _histograms(axis, real: pd.Series, synthetic: pd.Series) -> None:
    real, synthetic = real.dropna(), synthetic.dropna()
    finite = pd.concat([real, synthetic])
    finite = finite[np.isfinite(finite)]
    if finite.empty:
        axis.text(0.5, 0.5, "no values", ha="center", va="center", transform=axis.transAxes)
        return
    # Shared bins, so the two histograms compare bar by bar; a column of a few
    # whole numbers (a year, a count) gets one bar per number.
    low, high = finite.min(), finite.max()
    if np.all(finite == np.round(finite)) and high - low < NUM_HISTOGRAM_BINS:
        edges = np.arange(low - 0.5, high + 1.0)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        edges = np.histogram_bin_edges(finite, bins=NUM_HISTOGRAM_BINS)
    axis.hist(real, bins=edges, density=True, alpha=0.5, color=REAL_COLOR, label="real")
    axis.hist(synthetic, bins=edges, density=True, alpha=0.5, color=SYNTHETIC_COLOR, label="synthetic")
    axis.set_ylabel("density")


def _category_bars(axis, real: pd.Series, synthetic: pd.Series) -> None:
    real = _label_missing(real, "(missing)").astype(str)
    synthetic = _label_missing(synthetic, "(missing)").astype(str)
    shown = real.value_counts().index[:MAX_CATEGORIES_SHOWN]
    frequencies = pd.DataFrame(
        {
            "real": real.where(real.isin(shown), "other").value_counts(normalize=True),
            "synthetic": synthetic.where(synthetic.isin(shown), "other").value_counts(normalize=True),
        }
    ).fillna(0.0)
    order = [label for label in [*shown, "other"] if label in frequencies.index]
    order += [label for label in frequencies.index if label not in order]
    frequencies = frequencies.loc[order]

    positions = np.arange(len(frequencies))
    width = 0.4
    axis.bar(positions - width / 2, frequencies["real"], width, color=REAL_COLOR, label="real")
    axis.bar(positions + width / 2, frequencies["synthetic"], width, color=SYNTHETIC_COLOR, label="synthetic")
    axis.set_xticks(positions, frequencies.index, rotation=45, ha="right")
    axis.set_ylabel("share of rows")


def _correlations_figure(real: pd.DataFrame, synthetic: pd.DataFrame) -> Figure:
    size = max(4.0, 0.6 * real.shape[1] + 2.0)
    figure = Figure(figsize=(2 * size + 1.5, size), layout="constrained")
    axes = figure.subplots(1, 2)
    for axis, (title, frame) in zip(axes, [("real", real), ("synthetic", synthetic)], strict=True):
        correlations = frame.corr(method="pearson")
        image = axis.imshow(correlations.to_numpy(), cmap="RdBu_r", vmin=-1.0, vmax=1.0)
        ticks = np.arange(len(correlations))
        axis.set_xticks(ticks, correlations.columns, rotation=45, ha="right")
        axis.set_yticks(ticks, correlations.index)
        axis.set_title(f"{title}: Pearson correlation")
        if len(correlations) <= 12:
            for (row, column), value in np.ndenumerate(correlations.to_numpy()):
                if np.isfinite(value):
                    axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes, shrink=0.8)
    return figure


def _save(figure: Figure, path: Path) -> None:
    """Render to a temporary file beside ``path``, then rename it into place."""
    FigureCanvasAgg(figure)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            figure.savefig(file, format="png", dpi=100)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
