"""Pictures of real against synthetic records: per-column distributions and correlations.

Figures are drawn with matplotlib's object-oriented API on the Agg canvas,
never through `pyplot`, so plotting touches no global state and needs no
display.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fusegen.fileio import temporary_beside
from fusegen.metrics.tabular import CATEGORICAL, DATETIME, _label_missing, _prepare_frames

#: matplotlib's first two default colours: real data blue, generated data orange, in every plot.
COLORS = {"real": "#1f77b4", "synthetic": "#ff7f0e"}
# A bar chart stays legible up to about this many categories; the rest are pooled.
MAX_CATEGORIES_SHOWN = 15
NUM_HISTOGRAM_BINS = 30
#: Characters of a category shown under its bar: a label of free text (a paragraph) would otherwise
#: take the whole figure, and the layout collapses the bars to nothing.
MAX_TICK_LABEL_CHARS = 24
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
    axis.hist(real, bins=edges, density=True, alpha=0.5, color=COLORS["real"], label="real")
    axis.hist(synthetic, bins=edges, density=True, alpha=0.5, color=COLORS["synthetic"], label="synthetic")
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
    axis.bar(positions - width / 2, frequencies["real"], width, color=COLORS["real"], label="real")
    axis.bar(
        positions + width / 2, frequencies["synthetic"], width, color=COLORS["synthetic"], label="synthetic"
    )
    axis.set_xticks(positions, [_tick_label(label) for label in frequencies.index], rotation=45, ha="right")
    axis.set_ylabel("share of rows")


def _tick_label(label: str) -> str:
    """``label`` as one short printable line: control characters (which no font draws) become spaces,
    and a long label is cut to `MAX_TICK_LABEL_CHARS` with an ellipsis."""
    text = "".join(character if character.isprintable() else " " for character in label)
    return text if len(text) <= MAX_TICK_LABEL_CHARS else text[: MAX_TICK_LABEL_CHARS - 1] + "\u2026"


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
    handle, temporary = temporary_beside(path)
    try:
        with os.fdopen(handle, "wb") as file:
            figure.savefig(file, format="png", dpi=100)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def plot_sequence_comparison(
    real: np.ndarray, generated: np.ndarray, out_dir, max_traces: int = 4
) -> dict[str, Path]:
    """Sample traces (real against generated) and PCA / t-SNE of the windows; returns the PNG paths.

    ``real`` and ``generated`` are windows (N, T, C); traces pair them row by row.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    real, generated = np.asarray(real, "float64"), np.asarray(generated, "float64")
    rows = min(max_traces, len(real), len(generated))
    channels = real.shape[2]
    figure = Figure(figsize=(3.2 * channels, 2.2 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for row in range(rows):
        for channel in range(channels):
            axis = figure.add_subplot(rows, channels, row * channels + channel + 1)
            axis.plot(real[row, :, channel], color="tab:blue", label="real")
            axis.plot(generated[row, :, channel], color="tab:orange", label="generated")
            if row == 0:
                axis.set_title(f"channel {channel}")
    figure.legend(["real", "generated"], loc="upper right")
    paths = {"traces": out_dir / "traces.png"}
    _save(figure, paths["traces"])

    # Each window flattened to one point; both sets embedded together.
    count = min(len(real), len(generated), 500)
    points = np.concatenate([real[:count].reshape(count, -1), generated[:count].reshape(count, -1)])
    if points.shape[1] < 2:
        # A one-step, one-channel window is already a point on a line: plot it against zero.
        embeddings = {"values": np.concatenate([points, np.zeros_like(points)], axis=1)}
    else:
        embeddings = {"PCA": PCA(n_components=2).fit_transform(points)}
    if len(points) > 10 and points.shape[1] >= 2:
        perplexity = float(min(30, (len(points) - 1) / 3))
        embeddings["t-SNE"] = TSNE(
            n_components=2, perplexity=perplexity, random_state=0, init="pca"
        ).fit_transform(points)
    figure = Figure(figsize=(5 * len(embeddings), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    for index, (name, embedded) in enumerate(embeddings.items()):
        axis = figure.add_subplot(1, len(embeddings), index + 1)
        axis.scatter(*embedded[:count].T, s=10, alpha=0.6, label="real")
        axis.scatter(*embedded[count:].T, s=10, alpha=0.6, label="generated")
        axis.set_title(f"{name} of real and generated windows")
        axis.legend()
    paths["embedding"] = out_dir / "embedding.png"
    _save(figure, paths["embedding"])
    return paths


def save_image_grid(columns: dict[str, np.ndarray], path, captions: Sequence[str] | None = None) -> Path:
    """Images side by side, one example per row: ``columns`` maps a title to (N, H, W, C) uint8 images."""
    titles = list(columns)
    rows = min(len(images) for images in columns.values())
    figure = Figure(
        figsize=(1.6 * len(titles) + (2.6 if captions is not None else 0), 1.6 * rows), layout="constrained"
    )
    FigureCanvasAgg(figure)
    width = len(titles) + (1 if captions is not None else 0)
    for row in range(rows):
        for column, title in enumerate(titles):
            axis = figure.add_subplot(rows, width, row * width + column + 1)
            image = np.asarray(columns[title][row])
            axis.imshow(
                image.squeeze(-1) if image.shape[-1] == 1 else image,
                cmap="gray" if image.shape[-1] == 1 else None,
            )
            axis.set_axis_off()
            if row == 0:
                axis.set_title(title, fontsize=9)
        if captions is not None:
            axis = figure.add_subplot(rows, width, row * width + width)
            axis.set_axis_off()
            axis.text(0, 0.5, str(captions[row]), fontsize=8, va="center", wrap=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(figure, path)
    return path


def plot_fan_chart(
    real: np.ndarray,
    samples: np.ndarray,
    path,
    context: np.ndarray | None = None,
    max_windows: int = 3,
    max_channels: int = 6,
) -> Path:
    """A fan chart per window and channel: the real path against the sampled median and its 80% / 95% bands.

    ``real`` is (windows, steps, channels), ``samples`` (windows, paths,
    steps, channels) and ``context`` (windows, context_steps, channels), drawn
    in grey before step 0 when given. The bands are the samples' 0.1-0.9 and
    0.025-0.975 quantiles at each step (`fusegen.metrics.forecast.quantile_summary`).
    Draws the first ``max_windows`` windows and ``max_channels`` channels.
    """
    from fusegen.metrics.forecast import quantile_summary

    real, samples = np.asarray(real, "float64"), np.asarray(samples, "float64")
    windows, channels = min(max_windows, len(real)), min(max_channels, real.shape[2])
    bands = quantile_summary(samples[:windows], [0.025, 0.1, 0.5, 0.9, 0.975])
    steps = np.arange(real.shape[1])
    figure = Figure(figsize=(3.4 * channels, 2.4 * windows), layout="constrained")
    FigureCanvasAgg(figure)
    for window in range(windows):
        for channel in range(channels):
            axis = figure.add_subplot(windows, channels, window * channels + channel + 1)
            if context is not None:
                history = np.asarray(context[window, :, channel], "float64")
                axis.plot(np.arange(-len(history), 0), history, color="0.5", linewidth=1, label="context")
            low95, low80, median, high80, high95 = bands[window, :, :, channel]
            axis.fill_between(
                steps, low95, high95, color=COLORS["synthetic"], alpha=0.18, linewidth=0, label="95%"
            )
            axis.fill_between(
                steps, low80, high80, color=COLORS["synthetic"], alpha=0.35, linewidth=0, label="80%"
            )
            axis.plot(steps, median, color=COLORS["synthetic"], linewidth=1.5, label="sampled median")
            axis.plot(steps, real[window, :, channel], color=COLORS["real"], linewidth=1.5, label="real")
            if window == 0:
                axis.set_title(f"channel {channel}")
            if channel == 0:
                axis.set_ylabel(f"window {window}")
    figure.legend(*figure.axes[0].get_legend_handles_labels(), loc="outside upper right")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(figure, path)
    return path
