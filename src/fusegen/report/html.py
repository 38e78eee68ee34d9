"""``fusegen report``: one HTML file with its images embedded, readable offline and shareable.

The report renders what its caller hands it: the run directory's files, the
spec and training history of the generator, and the evaluation's results. It
loads no generator and evaluates nothing itself; `fusegen.reporting.build_report`
does both and then calls `write_report`.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

from fusegen.fileio import atomic_write_text
from fusegen.spec import GeneratorSpec

#: One line per metric, shown beside its value.
EXPLANATIONS = {
    "quality.score": "SDMetrics-style overall quality: the mean of column shapes and column pair trends (1 is best).",
    "quality.column_shapes.score": "How well each column's distribution matches: 1 - KS statistic (numeric) "
    "or 1 - total variation distance (categorical), averaged.",
    "quality.column_pair_trends.score": "How well relationships between columns match: correlation and "
    "contingency similarity over the pairs with a real trend.",
    "ml_efficacy.ratio": "Models trained on synthetic rows, scored on held-out real rows, relative to models "
    "trained on real rows (1 means as useful as real data).",
    "privacy.synthetic.median": "Median distance from a synthetic row to its closest training row.",
    "privacy.holdout.median": "The same for unseen real rows; synthetic rows much closer than this suggest copying.",
    "privacy.synthetic.exact_copies": "Synthetic rows identical to a training row.",
    "image.psnr": "Peak signal-to-noise ratio against the true image, in dB (higher is better).",
    "image.ssim": "Structural similarity against the true image (1 is identical).",
    "image.mae": "Mean absolute pixel error against the true image.",
    "identity_baseline.psnr": "PSNR of the unedited input against the truth: the generator should beat it.",
    "identity_baseline.ssim": "SSIM of the unedited input against the truth.",
    "identity_baseline.mae": "Pixel error of the unedited input against the truth.",
    "errors.mae": "Mean absolute error against the true output, in the data's units.",
    "errors.rmse": "Root-mean-square error against the true output.",
    "distances.marginal": "Per-channel Kolmogorov-Smirnov distance between real and generated values (0 is best).",
    "distances.autocorrelation": "Mean difference of the channels' autocorrelation at lags 1-10 (0 is best).",
    "forecast.crps": "CRPS as GluonTS's mean weighted quantile loss over the 0.1-0.9 quantiles of the sample "
    "paths (lower is better; compare with the baselines).",
    "forecast.mase": "Mean absolute error of the sampled median, scaled by the seasonal-naive error of the "
    "context (lower is better; compare with the naive baselines' MASE).",
    "forecast.coverage_80": "Share of real values inside the sampled 80% interval (calibrated: near 0.80).",
    "forecast.coverage_95": "Share of real values inside the sampled 95% interval (calibrated: near 0.95).",
    "forecast.energy_score": "Energy score of each window's whole path over all channels, each channel "
    "divided by its spread (lower is better).",
    "forecast.baselines.naive.crps": "CRPS of repeating the context's last value (a point forecast; "
    "with a seasonality above 1).",
    "forecast.baselines.naive.mase": "MASE of repeating the context's last value.",
    "forecast.baselines.seasonal_naive.crps": "CRPS of repeating the context's last season (a point forecast).",
    "forecast.baselines.seasonal_naive.mase": "MASE of repeating the context's last season.",
    "forecast.baselines.context_mean.crps": "CRPS of repeating each channel's context mean (a point forecast).",
    "forecast.baselines.climatology.crps": "CRPS of training windows drawn at random, whatever the inputs.",
    "forecast.baselines.climatology.coverage_80": "80% coverage of those random training windows.",
    "samples.seconds": "Time to generate the evaluated samples.",
}

PLOT_TITLES = {
    "distributions": "Per-column distributions, real against synthetic",
    "correlations": "Correlation heatmaps: real (left) and synthetic (right)",
    "traces": "Sample traces: generated against real, per channel",
    "embedding": "PCA and t-SNE of real and generated windows",
    "grid": "Input, generated output and truth, one example per row",
    "fan_chart": "Fan chart: the real continuation against the sampled median and its 80% and 95% bands, "
    "after the context (grey)",
}


def write_report(
    run_dir: str | Path,
    results: dict[str, Any],
    spec: GeneratorSpec,
    history: dict[str, list[float]],
    out: str | Path | None = None,
) -> Path:
    """Write the HTML report of a saved run to ``out`` (default ``RUN_DIR/report.html``).

    Args:
        run_dir: the run directory; the report reads its ``plan.json``,
            ``manifest.json`` and ``spec.yaml``, and draws the training curves
            into ``RUN_DIR/evaluation``.
        results: the run's evaluation, as `fusegen.evaluation.evaluate_run`
            returns it (metrics, and the paths of its plots).
        spec: the run's spec.
        history: losses per epoch, as ``Generator.history_`` holds them.
        out: the HTML file to write.
    """
    import jinja2
    import yaml

    run_dir = Path(run_dir)
    plan = json.loads((run_dir / "plan.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    plots = [
        {"title": PLOT_TITLES.get(name, name), "data": _encode(Path(path))}
        for name, path in results.get("plots", {}).items()
    ]
    curves = _training_curves(history, run_dir / "evaluation" / "training.png")
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("fusegen.report", "templates"), autoescape=jinja2.select_autoescape()
    )
    html = environment.get_template("report.html.j2").render(
        name=spec.name,
        description=spec.description,
        objective=spec.objective.type,
        output_kind=spec.output.kind,
        output_shape=plan["output"]["shape"],
        num_parameters=f"{plan['num_parameters']:,}",
        written=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        versions=", ".join(f"{name} {version}" for name, version in manifest.get("versions", {}).items()),
        metrics=_metric_rows(results),
        plots=plots,
        training_plots=[{"title": "Training and validation losses per epoch", "data": _encode(curves)}]
        if curves
        else [],
        plan_rows=_plan_rows(plan),
        spec_yaml=yaml.safe_dump(yaml.safe_load((run_dir / "spec.yaml").read_text()), sort_keys=False),
    )
    out = Path(out) if out is not None else run_dir / "report.html"
    atomic_write_text(out, html)
    return out


def _encode(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def _metric_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for key, explanation in EXPLANATIONS.items():
        value: Any = results
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        rows.append({"name": key, "value": shown, "explanation": explanation})
    return rows


def _plan_rows(plan: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []

    def add(stage, layers):
        for layer in layers:
            rows.append({"stage": stage, "layer": layer["layer"], "type": layer["type"],
                         "shape": layer["shape"], "parameters": f"{layer.get('parameters', 0):,}"})  # fmt: skip

    for name, branch in plan["inputs"].items():
        add(
            f"input {name} ({branch['kind']}, {branch['shape']})",
            branch["encoder_layers"] + branch["alignment"],
        )
    add(f"fusion {plan['fusion']['method']}", plan["fusion"]["layers"])
    add("head", plan["head"]["trunk"])
    for part, layers in plan["head"]["parts"].items():
        add(f"head part {part}", layers)
    head = plan["head"]
    if head.get("step_join"):
        # The known-future inputs and context anchors joined step by step with the generated horizon.
        joined = [
            *head.get("known_future", []),
            *(["context anchors"] if head.get("context_anchors") else []),
        ]
        add(f"head step join ({', '.join(joined)})", head["step_join"])
    return rows


def _training_curves(history: dict[str, list[float]], path: Path) -> Path | None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = {name: values for name, values in history.items() if values}
    if not series:
        return None
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.add_subplot(1, 1, 1)
    for name, values in series.items():
        axis.plot(range(1, len(values) + 1), values, label=name, linestyle="--" if "val_" in name else "-")
    axis.set_xlabel("epoch")
    axis.set_ylabel("loss")
    axis.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
