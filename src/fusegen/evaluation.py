"""Evaluating a trained generator against real data: samples, metrics, plots.

The facade draws the samples; `fusegen.metrics` scores them (and scores a
competitor's samples the same way in the benchmarks). Real rows are split
exactly as training split them (the spec's seed and validation split), so
the training rows are the "real" side and the held-out rows are the holdout
for ML efficacy and distance to closest record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fusegen.artifacts import atomic_write_json
from fusegen.data.checks import likely_renames, renames_text
from fusegen.data.inference import MAX_CONDITION_LABELS
from fusegen.data.pipeline import apply_missing_policy, split_table
from fusegen.data.record_cells import record_columns
from fusegen.data.sources import Table
from fusegen.data.windows import window_table
from fusegen.errors import DataError
from fusegen.fileio import sha256
from fusegen.forecast_evaluation import evaluate_forecasts, real_context
from fusegen.forecast_evaluation import summary_line as forecast_summary_line

#: TimeGAN's iterations for its discriminative and predictive scores.
TIMEGAN_ITERATIONS = (2000, 5000)


def evaluate_run(
    generator,
    real: str | Path | None = None,
    out_dir: str | Path | None = None,
    target: str | None = None,
    seed: int = 0,
    num_samples: int | None = None,
    timegan_iterations: tuple[int, int] = TIMEGAN_ITERATIONS,
    on_generated: Callable[[Table, np.ndarray], None] | None = None,
    holdout: str | Path | None = None,
) -> dict[str, Any]:
    """Sample from ``generator`` and score the samples against real data; write plots to ``out_dir``.

    ``timegan_iterations`` sets the training steps of the post-hoc networks
    of the TimeGAN scores for sequence outputs (fewer is faster and noisier).
    ``num_samples`` is the number of samples for records, and the number of
    sample paths per held-out window for the forecasting scores of a
    conditional sequence run (`fusegen.forecast_evaluation`, default 100).
    ``on_generated(rows, generated)``, for images, sequences and vectors, is
    given the rows evaluated and the one sample drawn for each, so a caller
    that also wants those samples (the demo) need not draw them again.
    ``holdout``, a file of real rows the generator never saw (a test set kept
    apart), takes the place of the rows its validation split held out.
    """
    output = generator.spec.output
    if output.kind == "record":
        results = evaluate_records_run(generator, real, out_dir, target, seed, num_samples, holdout)
    else:
        results = evaluate_paired_run(
            generator, real, out_dir, seed, timegan_iterations, num_samples, on_generated, holdout
        )
    if out_dir is not None:
        results["evaluated"] = _what_was_evaluated(generator, real, target, seed, num_samples, holdout)
        atomic_write_json(Path(out_dir) / "metrics.json", results)
    return results


def _what_was_evaluated(generator, real, target, seed, num_samples, holdout=None) -> dict[str, Any]:
    """The run (its manifest's digest; None for an unsaved generator) and the settings of an
    evaluation, saved beside it so that `fusegen report --saved-evaluation` can check it is this run's."""
    run_dir = generator.run_dir_
    return {
        "run_manifest": sha256(Path(run_dir) / "manifest.json") if run_dir is not None else None,
        "real": str(real) if real is not None else None,
        "target": target,
        "seed": seed,
        "num_samples": num_samples,
        **({"holdout": str(holdout)} if holdout is not None else {}),
    }


def real_table(generator, real: str | Path | None) -> Table:
    """Every real row: ``real``, or the spec's data, cut into windows and with the missing-value policy applied.

    The same steps in the same order as training (`fusegen.data.pipeline.prepare_data`), so that
    `real_splits` draws the very windows training held out.
    """
    table = generator.read_file(real) if real is not None else generator.load_table()
    if real is not None and generator.spec.output.kind == "record":
        _require_record_columns(generator.spec, table)
    return apply_missing_policy(
        window_table(table, generator.spec, for_run=real is not None), generator.spec
    )[0]


def _require_record_columns(spec, table: Table) -> None:
    """A file of real records (``--real``, ``--holdout``) holds every column the generator makes."""
    absent = [column for column in record_columns(spec.output) if column not in table.columns]
    if absent:
        unknown = sorted(set(table.columns) - set(record_columns(spec.output)))
        renamed = likely_renames(absent, unknown)
        raise DataError(
            f"{table.origin} lacks the generator's columns {absent}{renames_text(renamed)}: evaluate compares "
            f"each with the samples; its columns are {list(table.columns)}.",
            hint="pass a table with the columns the generator was trained on"
            + (", or rename the misspelt one." if renamed else "."),
        )


def real_splits(
    generator, real: str | Path | None, holdout: str | Path | None = None
) -> tuple[Table, Table | None]:
    """The real rows the generator trained on and the rows it held out, split as training split them;
    with ``holdout``, every row of that file is held out instead."""
    table = real_table(generator, real)
    train_rows, holdout_rows = split_table(table, generator.spec)
    if holdout is not None:
        return table.take(train_rows), real_table(generator, holdout)
    return table.take(train_rows), (table.take(holdout_rows) if len(holdout_rows) else None)


def evaluate_records_run(generator, real, out_dir, target, seed, num_samples, holdout=None) -> dict[str, Any]:
    import pandas as pd

    from fusegen.metrics import evaluate_records, plot_record_comparison, quality_scores
    from fusegen.privacy import MOST_REDRAWN

    output = generator.spec.output
    columns = output.data_columns()
    train, holdout = real_splits(generator, real, holdout)
    real_frame = _record_frame(generator, train)
    holdout_frame = _record_frame(generator, holdout) if holdout is not None else None
    count = num_samples or len(real_frame)
    started = time.perf_counter()
    unconditional = generator.plan_.uses_presence or not generator.spec.inputs
    if unconditional:
        synthetic = generator.sample(None, num_samples=count, seed=seed)
        mode = "unconditional"
    else:
        # Every input is needed: condition on the real training rows' inputs.
        rows = np.resize(np.arange(len(train)), count)
        synthetic = generator.predict(train.take(rows), seed=seed)
        mode = "conditioned on the real rows' inputs"
    sample_seconds = time.perf_counter() - started
    synthetic = pd.DataFrame(synthetic)[columns]
    if target is None:
        # The designated conditions first (`init --condition`): what the user said matters most.
        designated = [
            column
            for name, part in generator.spec.inputs.items()
            for column in (getattr(part, "columns", None) or [generator.spec.input_column(name)])
        ]
        target = default_ml_target(
            real_frame, output.categorical, preferred=designated, determined_by=output.determined_by
        )
    results = evaluate_records(
        real_frame,
        synthetic,
        holdout=holdout_frame,
        target=target if holdout_frame is not None else None,
        categorical=list(output.categorical),
        seed=seed,
    )
    results["samples"] = {"count": len(synthetic), "mode": mode, "seconds": round(sample_seconds, 3)}
    orders = _orders_kept(real_frame, synthetic, output)
    if orders:
        results["orders"] = orders
    label_pairs = _label_pairs_kept(real_frame, synthetic, holdout_frame, output)
    if label_pairs:
        results["label_pairs"] = label_pairs
    similarity = generator.similarity_filter_
    if similarity is not None and unconditional:
        # What the filter did to these samples (predict, the other branch, never redraws).
        counts = dict(similarity.last_counts)
        results["samples"]["similarity_filter"] = {"threshold": similarity.threshold, **counts}
        if counts["redrawn"] > MOST_REDRAWN * counts["sampled"]:
            # The filter reshaped most of the sample: score the draws as the model makes them too,
            # so the report shows what the filter costs here, and the user can choose.
            unfiltered = generator.sample(None, num_samples=count, seed=seed, similarity_filter=False)
            results["samples"]["similarity_filter"]["quality_without"] = quality_scores(
                real_frame, pd.DataFrame(unfiltered)[columns], categorical=list(output.categorical), seed=seed
            )["score"]
    if out_dir is not None:
        out_dir = Path(out_dir)
        plots = plot_record_comparison(real_frame, synthetic, out_dir, categorical=list(output.categorical))
        results["plots"] = {name: str(path) for name, path in plots.items()}
    return results


def _orders_kept(real_frame, synthetic, output) -> dict | None:
    """How often the samples break the orders every real row keeps (`find_orders`: a balance never
    above the amount lent), each pair's share and the rows breaking any; None where the real rows
    keep none. Those in ``output.orders`` are the ones sampling draws again."""
    from fusegen.data.inference import find_orders
    from fusegen.sampling import breaks_orders

    pairs = find_orders(real_frame, output.data_numeric(), output.sums, output.datetime)
    pairs += [pair for pair in output.orders if pair not in pairs]
    if not pairs:
        return None
    broken = breaks_orders(synthetic, pairs, output.datetime)
    return {
        "pairs": [
            {
                "low": low,
                "high": high,
                "synthetic_share": float(share),
                "in_spec": [low, high] in output.orders,
            }
            for (low, high), share in zip(pairs, broken.mean(axis=1), strict=True)
        ],
        "rows_breaking_any": float(broken.any(axis=0).mean()),
    }


def _label_pairs_kept(real_frame, synthetic, holdout_frame, output) -> dict | None:
    """How often the samples hold a pair of labels the training rows rule out (`fit_unseen_pairs`: a
    Gentoo on Dream island), beside how often real rows the generator never saw do; None where the
    training rows rule out none."""
    from fusegen.data.label_pairs import fit_unseen_pairs, frame_part_labels, rows_with_unseen_pairs

    nullable = [column for column in output.data_numeric() if column in output.nullable]
    unseen = fit_unseen_pairs(frame_part_labels(real_frame, list(output.categorical), nullable))
    if not unseen:
        return None
    holding, shares = rows_with_unseen_pairs(
        frame_part_labels(synthetic, list(output.categorical), nullable), unseen
    )
    worst = sorted(shares.items(), key=lambda item: -item[1])[:WORST_LABEL_PAIRS]
    result = {
        "pairs": sum(len(pairs) for _, _, pairs in unseen),
        "column_pairs": len(unseen),
        "synthetic_rows_holding_any": float(holding.mean()),
        "worst": [
            {"columns": list(columns), "synthetic_share": share} for columns, share in worst if share > 0
        ],
        "in_spec": output.unseen_label_pairs == "rule_out",
    }
    if holdout_frame is not None and len(holdout_frame):
        held, _ = rows_with_unseen_pairs(
            frame_part_labels(holdout_frame, list(output.categorical), nullable), unseen
        )
        result["holdout_rows_holding_any"] = float(held.mean())
    return result


#: The column pairs whose ruled-out label pairs the samples hold most that `evaluate` lists.
WORST_LABEL_PAIRS = 5


#: A column missing in more than this share of the training rows is a default ML target only
#: when no other will do.
MAX_MISSING_TARGET_SHARE = 0.5


def default_ml_target(
    frame, categorical: list[str], preferred: list[str] = (), determined_by: dict[str, str] | None = None
) -> str | None:
    """The column ML efficacy predicts when none is named: the first categorical column of 2 to
    `MAX_CONDITION_LABELS` labels in the training rows, looking at those ``preferred`` (the
    designated conditions) first, else the first categorical column.

    A column of dozens of labels over a few rows (Cars93's 32 manufacturers over 84 cars) leaves
    a classifier a row or two per class, and its score, real or synthetic, says nothing. Nor does
    one that another column fixes (``determined_by``: pm25's parameter name, a relabelling of its
    observation count), or one whose commonest label holds over `MAX_MAJORITY_SHARE` of the rows
    (planes' type, 99% fixed wing): every model scores the same there. Nor does one missing in most
    rows (billboard's chart week 34, on 9 of 317 songs, left 1 holdout row). Those come last.
    """
    determined_by = determined_by or {}
    trivial = set(determined_by) | {
        by for column, by in determined_by.items() if frame[column].nunique() == frame[by].nunique()
    }
    ordered = [column for column in preferred if column in categorical] + list(categorical)
    for informative in (True, False):
        for column in ordered:
            if not 2 <= frame[column].nunique() <= MAX_CONDITION_LABELS:
                continue
            majority = frame[column].value_counts(normalize=True, dropna=False).iloc[0]
            sparse = frame[column].isna().mean() > MAX_MISSING_TARGET_SHARE
            if not informative or (column not in trivial and majority <= MAX_MAJORITY_SHARE and not sparse):
                return column
    return categorical[0] if categorical else None


def _record_frame(generator, table: Table):
    """The record columns of ``table`` as sampling returns them (dates as datetimes, not text)."""
    import pandas as pd

    output, converter = generator.spec.output, generator.preprocessor_.output
    frame = {column: converter.read_numbers(table, column) for column in output.data_numeric()}
    frame.update({column: table.columns[column] for column in output.categorical})
    return pd.DataFrame(frame)[output.data_columns()]


def summary_lines(results: dict[str, Any]) -> list[str]:
    """A few readable lines for the terminal."""
    if "quality" not in results:
        lines = [f"{results['samples']['count']} outputs, {results['samples']['mode']}"]
        for key in ("image", "identity_baseline", "errors", "distances"):
            if key in results:
                values = ", ".join(
                    f"{name} {'n/a' if value is None else format(value, '.4g')}"
                    for name, value in results[key].items()
                )
                lines.append(f"{key.replace('_', ' ')}: {values}")
        for column, values in results.get("groups", {}).items():
            if "/" in column:
                continue  # the combinations are in the JSON; one line per value reads better
            for value, metrics in values.items():
                identity = f" (identity {metrics['identity_psnr']:.2f})" if "identity_psnr" in metrics else ""
                lines.append(
                    f"  {column}={value}: PSNR {metrics['psnr']:.2f}{identity}, SSIM {metrics['ssim']:.3f}, "
                    f"{metrics['count']} examples"
                )
        sampled = results.get("sampled")
        if sampled:
            lines.append(
                f"conditional accuracy {sampled['conditional_accuracy']:.3f} (the judge on real images: "
                f"{sampled['judge_accuracy_on_real']:.3f}), feature Frechet {sampled['feature_frechet']:.3g} "
                f"(real floor {sampled['real_floor']['feature_frechet']:.3g}), "
                + (
                    f"diversity {sampled['diversity']:.3g} (real {sampled['real_diversity']:.3g})"
                    if sampled["diversity"] is not None
                    else "no diversity (no class has two held-out images to compare)"
                )
            )
        timegan = results.get("timegan")
        if timegan:
            scores = f"discriminative {timegan['discriminative']:.4f}"
            fits = timegan.get("discriminative_fits", [])
            if len(fits) > 1:
                scores += f" (mean of {len(fits)} fits, spread {timegan['discriminative_spread']:.4f})"
            if "discriminative_floor" in timegan:
                floor = timegan["discriminative_floor"]
                scores += f", its floor {floor:.4f} (the windows shuffled together)"
                if timegan["discriminative"] + timegan.get("discriminative_spread", 0.0) < floor:
                    # Real against real scores higher: the classifier found nothing to learn from so few
                    # windows (fpp3's us_change: 0.0000 in all five fits, against a floor of 0.111).
                    scores += (
                        f"; below its floor, so at {timegan['windows']} windows the classifier tells "
                        "nothing apart and the score says little"
                    )
            if "predictive" in timegan:
                scores += f", predictive {timegan['predictive']:.4f}"
            elif "predictive_skipped" in timegan:
                scores += f"; no predictive score ({timegan['predictive_skipped']})"
            scored_on = f" ({timegan['scored_on']})" if "scored_on" in timegan else ""
            lines.append(
                f"TimeGAN scores (lower is better) on {timegan['windows']} real windows{scored_on}: {scores}"
            )
        if "forecast" in results:
            lines.append(forecast_summary_line(results["forecast"]))
        return lines
    quality = results["quality"]
    trends = quality["column_pair_trends"]
    # No pair of columns related in the real rows (independent columns): the quality is the shapes'.
    pairs = (
        f"column pair trends {trends['score']:.3f}"
        if trends["score"] is not None
        else "no pair of columns related in the real rows"
        + (
            f"; every pair's trend {trends['score_all_pairs']:.3f}"
            if trends.get("score_all_pairs") is not None
            else ""
        )
    )
    lines = [
        f"quality {quality['score']:.3f} (column shapes {quality['column_shapes']['score']:.3f}, {pairs}) on "
        f"{results['samples']['count']} samples, {results['samples']['mode']}"
    ]
    efficacy = results.get("ml_efficacy")
    if efficacy:
        ratio = efficacy["ratio"]
        lines.append(
            f"ML efficacy for '{efficacy['target']}' ({efficacy['metric']}): synthetic/real = "
            + (
                f"{ratio:.3f} ({_scores_beside(efficacy)})"
                if ratio is not None
                # The real rows do not predict the target either: there is no relation to keep.
                else f"n/a (real rows score {_real_score(efficacy):.3f}"
                + (f", chance {chance:.3f}" if (chance := efficacy.get("chance")) else "")
                + ", nothing to keep)"
            )
        )
    privacy = results.get("privacy")
    if privacy:
        lines.append(
            f"distance to closest training record: synthetic median {privacy['synthetic']['median']:.3f}, "
            f"holdout median {privacy['holdout']['median']:.3f}; exact copies {privacy['synthetic']['exact_copies']}"
            + (
                f"; closer than the holdout's 5th percentile {share:.1%} (about 5% when nothing is copied)"
                if (share := privacy.get("share_closer_than_holdout_p05")) is not None
                else ""
            )
        )
        rows = privacy["holdout"].get("rows")
        if rows is not None and rows < FEW_HOLDOUT_ROWS and "training" in privacy:
            lines.append(
                f"  that percentile, {privacy['holdout']['p05']:.3f}, rests on {rows} holdout rows; against the "
                f"training rows' own 5th percentile to each other, {privacy['training']['p05']:.3f}, "
                f"{privacy['share_closer_than_training_p05']:.1%} of samples are closer"
            )
    orders = results.get("orders")
    if orders:
        worst = max(orders["pairs"], key=lambda pair: pair["synthetic_share"])
        lines.append(
            f"orders every real row keeps: {len(orders['pairs'])}; samples breaking one "
            f"{orders['rows_breaking_any']:.1%}"
            + (
                f" (most {worst['low']} <= {worst['high']}, {worst['synthetic_share']:.1%})"
                if worst["synthetic_share"] > 0
                else ""
            )
            + (
                "; output.orders draws such rows again"
                if orders["rows_breaking_any"] > 0 and not any(pair["in_spec"] for pair in orders["pairs"])
                else ""
            )
        )
    label_pairs = results.get("label_pairs")
    if label_pairs:
        held = label_pairs.get("holdout_rows_holding_any")
        worst = label_pairs["worst"][0] if label_pairs["worst"] else None
        lines.append(
            f"label pairs no training row has (where chance would have shown them): {label_pairs['pairs']:,} "
            f"over {label_pairs['column_pairs']} column pairs; samples holding one "
            f"{label_pairs['synthetic_rows_holding_any']:.1%}"
            + (f", holdout rows {held:.1%}" if held is not None else "")
            + (f" (most {':'.join(worst['columns'])}, {worst['synthetic_share']:.1%})" if worst else "")
            + (
                "; output.unseen_label_pairs: rule_out keeps them out"
                if label_pairs["synthetic_rows_holding_any"] > 0 and not label_pairs["in_spec"]
                else ""
            )
        )
    similarity = results["samples"].get("similarity_filter")
    if similarity:
        lines.append(
            f"similarity filter: {similarity['redrawn']} of {similarity['sampled']} samples drawn again, closer "
            f"than {similarity['threshold']:.5g} to a training record; {similarity['kept_close']} kept still closer"
            + (
                f"; quality without the filter {without:.4f} (--no-similarity-filter when sampling keeps those draws)"
                if (without := similarity.get("quality_without")) is not None
                else ""
            )
        )
    return lines


#: Below this many holdout rows their 5th percentile rests on under 20 of them, and `summary_lines`
#: adds the steadier percentile of the training rows' distances to each other.
FEW_HOLDOUT_ROWS = 400

#: A default ML efficacy target whose commonest label holds more of the rows than this says little.
MAX_MAJORITY_SHARE = 0.95


def _scores_beside(efficacy: dict) -> str:
    """The scores a ratio is of, with chance: a ratio of 0.91 between 0.53 and 0.62, where chance is
    0.50 (ratdat's sexes), keeps little of a relation."""
    metric = efficacy["metric"]
    name, model = max(efficacy["models"].items(), key=lambda item: item[1]["real"][metric])
    text = f"{name}: synthetic {model['synthetic'][metric]:.3f}, real {model['real'][metric]:.3f}"
    chance = efficacy.get("chance")
    return text + (f"; chance {chance:.3f}" if chance is not None else "")


def _real_score(efficacy: dict) -> float:
    """The best real-on-real score of an ML efficacy result (its models' best)."""
    return max(model["real"][efficacy["metric"]] for model in efficacy["models"].values())


def evaluate_paired_run(
    generator,
    real,
    out_dir,
    seed,
    timegan_iterations=TIMEGAN_ITERATIONS,
    num_paths=None,
    on_generated=None,
    holdout=None,
) -> dict[str, Any]:
    """Images, sequences and vectors: one output per held-out row, against that row's truth."""
    from fusegen.metrics import (
        image_similarity,
        paired_errors,
        plot_fan_chart,
        plot_sequence_comparison,
        save_image_grid,
        sequence_distances,
    )

    spec = generator.spec
    output = spec.output
    train, holdout = real_splits(generator, real, holdout)
    rows = holdout if holdout is not None else train
    if holdout is None:
        rows_note = "training row (the run kept no holdout)"
    else:
        rows_note = "held-out row"
    if len(rows) == 0:
        raise DataError("there are no real rows to evaluate against.")
    preprocessor = generator.preprocessor_
    truth = preprocessor.inverse_outputs(preprocessor.transform_targets(rows))
    started = time.perf_counter()
    generated = generator.predict(rows, seed=seed)
    seconds = time.perf_counter() - started
    if on_generated is not None:
        on_generated(rows, generated)
    results: dict[str, Any] = {
        "samples": {"count": len(generated), "mode": f"one per {rows_note}", "seconds": round(seconds, 3)}
    }
    plots: dict[str, str] = {}
    out_dir = Path(out_dir) if out_dir is not None else None
    if output.kind == "image":
        low, high = output.value_range
        results["image"] = image_similarity(truth, generated, data_range=high - low)
        same_shape = [
            name
            for name, item in spec.inputs.items()
            if item.kind == "image" and tuple(item.model_shape()) == output.model_shape()
        ]
        # The identity baseline: how far the target already is from the input image, decoded as the
        # target is (a column of file paths, or pixels in the data's range, in the output's units).
        source = (
            preprocessor.inverse_outputs(
                preprocessor.output.transform(rows, spec.input_column(same_shape[0]))
            )
            if same_shape
            else None
        )
        if source is not None:
            results["identity_baseline"] = image_similarity(truth, source, data_range=high - low)
        if spec.evaluation.group_by:
            results["groups"] = _grouped_image_metrics(rows, spec.evaluation.group_by, truth, generated, source,
                                                       high - low)  # fmt: skip
        if spec.evaluation.label_column:
            results["sampled"] = sampled_image_metrics(generator, train, rows, generated, seed)
        if out_dir is not None:
            grid_rows = _grid_rows(rows, spec.evaluation.group_by)
            columns = {"input": source[grid_rows]} if source is not None else {}
            columns["generated"], columns["truth"] = generated[grid_rows], truth[grid_rows]
            captions = _captions(spec, rows, grid_rows)
            plots["grid"] = str(save_image_grid(columns, out_dir / "grid.png", captions))
            if spec.evaluation.label_column:
                plots["samples"] = str(_sample_grid(generator, rows, generated, out_dir / "samples.png"))
    elif output.kind == "sequence":
        forecast = None
        if spec.inputs:  # paired errors mean nothing for unconditional samples
            results["errors"] = paired_errors(truth, generated)
            results["forecast"], forecast = evaluate_forecasts(generator, train, rows, seed, num_paths)
        else:
            results["samples"]["mode"] = "unconditional"
        results["distances"] = sequence_distances(truth, generated)
        results["timegan"] = timegan_scores(generator, real_table(generator, real), seed, timegan_iterations)
        if out_dir is not None:
            plots.update(
                {
                    name: str(path)
                    for name, path in plot_sequence_comparison(truth, generated, out_dir).items()
                }
            )
            if forecast is not None:
                plots["fan_chart"] = str(plot_fan_chart(**forecast, path=out_dir / "fan_chart.png"))
    else:
        results["errors"] = paired_errors(truth, generated)
    if plots:
        results["plots"] = plots
    return results


def timegan_scores(generator, rows: Table, seed: int, iterations=TIMEGAN_ITERATIONS) -> dict[str, Any]:
    """TimeGAN's discriminative and predictive scores on one sample per real window.

    Where the output continues a real context (a forecast whose sequence
    inputs read its channels up to its first step), each window scored is
    that context followed by the real or the generated continuation, so the
    classifiers see whether a continuation follows on from its history;
    otherwise (and where a context value is missing) the output's steps
    alone. ``scored_on`` says which.

    The discriminative score is the mean over ``evaluation.discriminative_fits``
    classifiers, each on its own seeded split, as TimeGAN's protocol averages
    its discriminators; their scores and spread are reported beside it, and
    (``evaluation.discriminative_floor``) the mean score of as many
    classifiers on the real and synthetic windows shuffled together, the
    score's chance level at this many windows (`discriminative_floor`).

    Every real row (training and holdout) is scored: the post-hoc networks
    need more windows than a holdout usually has. Real and synthetic
    windows are min-max scaled per channel by the real windows' range, as
    TimeGAN scales its data, so the predictive score's sigmoid can reach them.
    """
    from fusegen.metrics import discriminative_scores, predictive_score

    preprocessor = generator.preprocessor_
    real = np.asarray(preprocessor.inverse_outputs(preprocessor.transform_targets(rows)), "float64")
    synthetic = np.asarray(generator.predict(rows, seed=seed), "float64")
    context, scored_on = _scored_context(generator.spec, rows)
    if context is not None:
        real, synthetic = (
            np.concatenate([context, real], axis=1),
            np.concatenate([context, synthetic], axis=1),
        )
    low, high = real.min(axis=(0, 1)), real.max(axis=(0, 1))
    scale = np.where(high > low, high - low, 1.0)
    real, synthetic = (real - low) / scale, (synthetic - low) / scale
    discriminative_iterations, predictive_iterations = iterations
    # TimeGAN reports the mean of several discriminators, each on a fresh split (its metric_iteration):
    # on a few dozen windows one fit's test accuracy moves by a tenth or more from split to split.
    seeds = [seed + fit for fit in range(generator.spec.evaluation.discriminative_fits)]
    fits = discriminative_scores(real, synthetic, seeds, iterations=discriminative_iterations)
    results = {
        "windows": len(real),
        "steps": int(real.shape[1]),
        "scored_on": scored_on,
        "discriminative": float(np.mean(fits)),
        "discriminative_fits": fits,
        "discriminative_spread": float(np.std(fits)),
        "iterations": {"discriminative": discriminative_iterations},
    }
    if generator.spec.evaluation.discriminative_floor:
        # The same classifiers on the two sets shuffled together: a few dozen windows leave a score
        # of 0.1 where nothing differs, and a reader needs that beside the score itself.
        floor = discriminative_scores(
            real, synthetic, seeds, iterations=discriminative_iterations, floor=True
        )
        results["discriminative_floor"] = float(np.mean(floor))
        results["discriminative_floor_fits"] = floor
    if real.shape[2] >= 2 and real.shape[1] >= 2:
        results["predictive"] = predictive_score(real, synthetic, iterations=predictive_iterations, seed=seed)
        results["iterations"]["predictive"] = predictive_iterations
    elif real.shape[2] >= 2:
        # A one-step horizon scored without its context (which had gaps) leaves no next step to predict.
        results["predictive_skipped"] = (
            f"the predictive score predicts each next step, and the windows scored have {real.shape[1]}"
        )
    return results


def _scored_context(spec, rows: Table) -> tuple[np.ndarray | None, str]:
    """The real context TimeGAN's scores put before each output window (None: the output alone), and why."""
    steps = spec.output.steps
    if not spec.inputs:
        return None, f"the {steps} generated steps (unconditional: no context)"
    context, note = real_context(spec, rows)
    if context is None:
        return None, f"the {steps} generated steps (no real context: {note})"
    if not np.isfinite(context).all():
        return None, f"the {steps} generated steps (the context has missing values)"
    return context, f"the {context.shape[1]} real context steps and the {steps} generated ones"


def _grouped_image_metrics(rows: Table, group_by, truth, generated, source, data_range) -> dict[str, Any]:
    """PSNR, SSIM and MAE (and the identity baseline's PSNR) per value of each group column, and per combination."""
    from fusegen.metrics import image_similarity

    keys = {column: np.asarray(rows.columns[column]).astype(str) for column in group_by}
    if len(group_by) > 1:
        keys["/".join(group_by)] = np.array(["/".join(values) for values in zip(*keys.values(), strict=True)])
    groups: dict[str, Any] = {}
    for column, values in keys.items():
        groups[column] = {}
        for value in sorted(set(values)):
            members = values == value
            metrics = image_similarity(truth[members], generated[members], data_range=data_range)
            metrics["count"] = int(members.sum())
            if source is not None:
                metrics["identity_psnr"] = image_similarity(
                    truth[members], source[members], data_range=data_range
                )["psnr"]
            groups[column][value] = metrics
    return groups


def sampled_image_metrics(generator, train: Table, rows: Table, generated: np.ndarray, seed: int) -> dict:
    """How well samples show what was asked, judged by a classifier trained on the real training images.

    Conditional accuracy is the share of samples classified as their row's
    label; the Fréchet and kernel distances compare the judge's features of
    the samples and of the real held-out images (``real_floor``: the same
    between real training and held-out images); diversity is the mean
    feature distance between samples of one class, beside the same for real
    images. See `fusegen.metrics.images` for why this is not Inception FID.
    """
    from fusegen.metrics import ImageJudge, frechet_distance, kernel_distance, sample_diversity

    spec = generator.spec
    column = spec.evaluation.label_column
    preprocessor = generator.preprocessor_
    real_train = preprocessor.inverse_outputs(preprocessor.transform_targets(train))
    real_rows = preprocessor.inverse_outputs(preprocessor.transform_targets(rows))
    train_labels = np.asarray(train.columns[column]).astype(str)
    labels = np.asarray(rows.columns[column]).astype(str)
    started = time.perf_counter()
    judge = ImageJudge(sorted(set(train_labels)), epochs=spec.evaluation.classifier_epochs, seed=seed)
    judge.fit(real_train, train_labels)
    real_features, generated_features = judge.features(real_rows), judge.features(generated)
    floor_rows = np.random.default_rng(seed).permutation(len(real_train))[: len(real_rows)]
    train_features = judge.features(real_train[floor_rows])
    predicted = judge.predict(generated)
    return {
        "label_column": column,
        "conditional_accuracy": float(np.mean(predicted == labels)),
        "conditional_accuracy_by_class": {
            label: float(np.mean(predicted[labels == label] == label)) for label in sorted(set(labels))
        },
        "judge_accuracy_on_real": judge.accuracy(real_rows, labels),
        "feature_frechet": frechet_distance(real_features, generated_features),
        "feature_kernel": kernel_distance(real_features, generated_features, seed=seed),
        "real_floor": {
            "feature_frechet": frechet_distance(real_features, train_features),
            "feature_kernel": kernel_distance(real_features, train_features, seed=seed),
        },
        # None where no class has two held-out rows: a pair is what a spread is measured on.
        "diversity": _or_none(sample_diversity, generated_features, labels),
        "real_diversity": _or_none(sample_diversity, real_features, labels),
        "judge": {
            "epochs": judge.epochs_trained,
            "max_epochs": judge.epochs,
            "accuracy_on_its_holdout": judge.holdout_accuracy,
            "classes": judge.classes,
            "seconds": round(time.perf_counter() - started, 2),
        },
    }


def _or_none(metric, *args):
    """``metric(*args)``, or None where the rows cannot give it (a `DataError`)."""
    try:
        return metric(*args)
    except DataError:
        return None


def _grid_rows(rows: Table, group_by, limit: int = 12) -> np.ndarray:
    """The first row of each group (by every group column together), else the first rows."""
    if not group_by:
        return np.arange(min(8, len(rows)))
    keys = [
        "/".join(values)
        for values in zip(*(np.asarray(rows.columns[c]).astype(str) for c in group_by), strict=True)
    ]
    first = {}
    for index, key in enumerate(keys):
        first.setdefault(key, index)
    return np.array(sorted(first.values())[:limit])


def _captions(spec, rows: Table, grid_rows: np.ndarray) -> list[str] | None:
    text_inputs = [name for name, item in spec.inputs.items() if item.kind == "text"]
    if not text_inputs:
        return None
    words = np.asarray(rows.columns[spec.input_column(text_inputs[0])])[grid_rows]
    notes = [
        " ".join(str(np.asarray(rows.columns[column])[index]) for column in spec.evaluation.group_by)
        for index in grid_rows
    ]
    return [f"{text}\n({note})" if note else str(text) for text, note in zip(words, notes, strict=True)]


def _sample_grid(generator, rows: Table, generated: np.ndarray, path: Path, per_class: int = 8) -> Path:
    """One row per class: a real image of it, then samples drawn for held-out rows of that class.

    The samples are the evaluation's own draws (one per row), so nothing is sampled twice; each
    row's caption differs, so the row shows what the class looks like over its phrasings. Every
    class shows as many samples as the class with the fewest rows has, at most ``per_class``.
    """
    from fusegen.metrics import save_image_grid

    spec = generator.spec
    labels = np.asarray(rows.columns[spec.evaluation.label_column]).astype(str)
    members = [np.flatnonzero(labels == label) for label in sorted(set(labels))][:10]
    shown = min(per_class, *(len(indices) for indices in members))
    firsts = np.array([indices[0] for indices in members])
    preprocessor = generator.preprocessor_
    real = preprocessor.inverse_outputs(preprocessor.transform_targets(rows.take(firsts)))
    columns = {"real": real}
    columns.update({f"sample {index + 1}": generated[[indices[index] for indices in members]]
                    for index in range(shown)})  # fmt: skip
    return save_image_grid(columns, path, list(labels[firsts]))
