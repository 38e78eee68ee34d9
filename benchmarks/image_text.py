"""Benchmark: image + text -> image, text-guided editing and text -> image, against a plain Keras loop.

Two tasks, each the example spec in examples/ as it is (the quick mode
shrinks the data and the epochs, and trains text -> image without the weight
average, which needs more steps than quick mode runs; nothing else):

  editing        examples/image_text_to_image.yaml: an emoji (OpenMoji,
                 rendered at 64x64) and an instruction in words -> the edited
                 emoji. Held-out emoji are asked every instruction in a
                 phrasing seen in training and in one never seen; PSNR, SSIM
                 and MAE against the computed ground truth, per instruction
                 and phrasing, beside the identity baseline (output = input).
  text_to_image  examples/text_to_image.yaml: a caption ("a silhouette of a
                 cat") -> a 28x28 animal silhouette (Animal-MNIST), sampled
                 by a diffusion model. A CNN trained on the real training
                 images judges each sample for a held-out row's caption:
                 conditional accuracy, and Frechet and kernel distances on
                 its features (not Inception FID: no pretrained weights can
                 be downloaded here), and the feature diversity of samples
                 per class beside that of real images.

Training throughput: the editing model that fusegen builds, trained by
`Generator.fit` (its tf.data pipeline, objective, checkpoints and logs), and
the same Keras model (the same layers, so the same architecture and
parameter count) compiled with `Adam` and `mse` and trained with a plain
`model.fit` on the preprocessed NumPy arrays, validating on the same held-out
rows every epoch as fusegen does, as one writes by hand.
Both train on the same rows at the same batch size for the same epochs, in
alternating rounds; the median epoch time after the first (tracing) epoch
counts, and the overhead is fusegen's median over the plain loop's, minus 1.
Sampling throughput: `Generator.predict` of the editing model at batch 1 and
at batch 256, after a warm-up call, and the text -> image sampler at 256.

The readable tables go to stdout, progress to stderr, and the last line of
stdout is one JSON object.

    python benchmarks/image_text.py --quick   # a few minutes on 2 CPU cores
    python benchmarks/image_text.py           # the examples as they are
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

import fusegen  # noqa: E402
from fusegen.evaluation import evaluate_run  # noqa: E402
from fusegen.spec import load_spec  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

SETTINGS = {
    "quick": {
        "editing": {"num_images": 60, "epochs": 3},
        # Too few steps for the example's weight average, so quick mode trains without it.
        "text_to_image": {"per_class": 60, "epochs": 3, "classifier_epochs": 3, "ema_momentum": None},
        "overhead_epochs": 2,
        "overhead_rounds": 1,
    },
    "full": {
        "editing": {},
        "text_to_image": {},
        "overhead_epochs": 2,
        "overhead_rounds": 2,
    },
}


#: Settings keys that override the example's `training` section; the others are data options.
TRAINING_KEYS = ("epochs", "ema_momentum")


def example_spec(
    name: str, data_options: dict, training: dict | None = None, classifier_epochs: int | None = None
):
    raw = load_spec(EXAMPLES / f"{name}.yaml").model_dump(mode="json", exclude_unset=True)
    raw["data"]["options"] = {**raw["data"].get("options", {}), **data_options}
    raw["training"].update(training or {})
    if classifier_epochs:
        raw.setdefault("evaluation", {})["classifier_epochs"] = classifier_epochs
    raw["training"]["tensorboard"] = False
    return load_spec(raw)


class EpochTimes:
    """A Keras callback that records each epoch's wall time."""

    def __new__(cls):
        import keras

        class _EpochTimes(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self._started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._started)

        return _EpochTimes()


def train_and_evaluate(name: str, settings: dict, seed: int):
    """Train an example spec (with the settings' data options and epochs) and evaluate it as `fusegen evaluate` does."""
    options = {
        key: value for key, value in settings.items() if key not in (*TRAINING_KEYS, "classifier_epochs")
    }
    training = {key: settings[key] for key in TRAINING_KEYS if key in settings}
    spec = example_spec(name, options, training, settings.get("classifier_epochs"))
    generator = fusegen.Generator(spec, base_dir=EXAMPLES)
    started = time.perf_counter()
    generator.fit(verbose=0)
    fit_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as out_dir:
        results = evaluate_run(generator, out_dir=out_dir, seed=seed)
    return generator, results, fit_seconds


def run_editing(settings: dict, seed: int, log) -> tuple[dict, fusegen.Generator]:
    generator, results, fit_seconds = train_and_evaluate("image_text_to_image", settings, seed)
    spec = generator.spec
    groups = results["groups"]
    by_instruction = {}
    for key, metrics in groups["operation/phrasing"].items():
        operation, phrasing = key.split("/")
        row = by_instruction.setdefault(operation, {"identity_psnr": None})
        row[f"psnr_{phrasing}"] = round(metrics["psnr"], 2)
        row[f"ssim_{phrasing}"] = round(metrics["ssim"], 3)
        if phrasing == "seen":
            row["identity_psnr"] = round(metrics["identity_psnr"], 2)
    phrasing = groups["phrasing"]
    summary = {
        "psnr_seen": round(phrasing["seen"]["psnr"], 2),
        "psnr_unseen": round(phrasing["unseen"]["psnr"], 2),
        "ssim_seen": round(phrasing["seen"]["ssim"], 3),
        "ssim_unseen": round(phrasing["unseen"]["ssim"], 3),
        "identity_psnr": round(results["identity_baseline"]["psnr"], 2),
        "by_instruction": by_instruction,
        "epochs": spec.training.epochs,
        "fit_seconds": round(fit_seconds, 1),
    }
    log(
        f"  editing: trained {spec.training.epochs} epochs in {fit_seconds:.0f} s; PSNR seen "
        f"{summary['psnr_seen']}, unseen {summary['psnr_unseen']} (identity {summary['identity_psnr']})"
    )
    return summary, generator


def run_text_to_image(settings: dict, seed: int, log) -> dict:
    generator, results, fit_seconds = train_and_evaluate("text_to_image", settings, seed)
    spec = generator.spec
    sampled = results["sampled"]
    captions = {"caption": np.array(["a silhouette of a cat"] * 256, dtype=object)}
    generator.predict(captions, batch_size=256, seed=seed)  # warm-up: traces the sampler
    started = time.perf_counter()
    generator.predict(captions, batch_size=256, seed=seed + 1)
    per_second = 256 / (time.perf_counter() - started)
    summary = {
        "conditional_accuracy": round(sampled["conditional_accuracy"], 3),
        "judge_accuracy_on_real": round(sampled["judge_accuracy_on_real"], 3),
        "judge_epochs": sampled["judge"]["epochs"],
        "conditional_accuracy_by_class": {
            label: round(value, 3) for label, value in sampled["conditional_accuracy_by_class"].items()
        },
        "feature_frechet": round(sampled["feature_frechet"], 3),
        "feature_frechet_real_floor": round(sampled["real_floor"]["feature_frechet"], 3),
        "feature_kernel": round(sampled["feature_kernel"], 4),
        "feature_kernel_real_floor": round(sampled["real_floor"]["feature_kernel"], 4),
        "diversity": None if sampled["diversity"] is None else round(sampled["diversity"], 3),
        "real_diversity": None if sampled["real_diversity"] is None else round(sampled["real_diversity"], 3),
        "samples": results["samples"]["count"],
        "epochs": spec.training.epochs,
        "fit_seconds": round(fit_seconds, 1),
        "sample_images_per_second_batch_256": round(per_second, 1),
    }
    log(
        f"  text -> image: trained {spec.training.epochs} epochs in {fit_seconds:.0f} s; conditional accuracy "
        f"{summary['conditional_accuracy']} (judge on real {summary['judge_accuracy_on_real']})"
    )
    return summary


def training_overhead(
    generator: fusegen.Generator, epochs: int, rounds: int, log
) -> tuple[dict, fusegen.Generator]:
    """The same model trained by fusegen and by a plain `model.fit`, in alternating rounds.

    Returns the timings and the generator fusegen trained last.
    """
    import keras

    from fusegen.data.pipeline import prepare_data
    from fusegen.models import build_model, plan_model

    spec = generator.spec
    training = spec.training
    prepared = prepare_data(spec, generator.load_table())
    rows = prepared.num_train
    inputs = {name: np.asarray(values) for name, values in prepared.train_inputs.items()}
    targets = np.asarray(prepared.train_targets)
    # The same work on both sides: fusegen validates on the held-out rows every epoch, so does the plain loop.
    validation = None
    if prepared.validation_inputs is not None:
        validation = (
            {name: np.asarray(values) for name, values in prepared.validation_inputs.items()},
            np.asarray(prepared.validation_targets),
        )
    fusegen_epochs, keras_epochs = [], []
    parameters = {}
    for round_index in range(rounds):
        timer = EpochTimes()
        fresh = fusegen.Generator(spec, base_dir=EXAMPLES)
        fresh.fit(epochs=epochs + 1, verbose=0, callbacks=[timer])
        fusegen_epochs += timer.seconds[1:]
        parameters["fusegen"] = int(
            sum(network.count_params() for network in fresh.model_.networks().values())
        )

        keras.utils.set_random_seed(training.seed + round_index)
        plan = plan_model(spec, prepared.preprocessor.vocabulary_sizes())
        model = build_model(plan)
        model.compile(optimizer=keras.optimizers.Adam(training.learning_rate), loss="mse")
        timer = EpochTimes()
        model.fit(inputs, targets, batch_size=training.batch_size, epochs=epochs + 1, shuffle=True, verbose=0,
                  validation_data=validation, callbacks=[timer])  # fmt: skip
        keras_epochs += timer.seconds[1:]
        parameters["keras"] = int(model.count_params())
        log(
            f"  round {round_index + 1}: epoch median fusegen {statistics.median(fusegen_epochs):.2f} s, "
            f"plain Keras {statistics.median(keras_epochs):.2f} s"
        )
    fusegen_median, keras_median = statistics.median(fusegen_epochs), statistics.median(keras_epochs)
    return {
        "rows": rows,
        "batch_size": training.batch_size,
        "epoch_seconds_fusegen": round(fusegen_median, 3),
        "epoch_seconds_keras": round(keras_median, 3),
        "images_per_second_fusegen": round(rows / fusegen_median, 1),
        "images_per_second_keras": round(rows / keras_median, 1),
        "overhead": round(fusegen_median / keras_median - 1, 4),
        "parameters": parameters,
        "epochs_timed": len(fusegen_epochs),
    }, fresh


def sampling_speed(generator: fusegen.Generator, seed: int) -> dict:
    table = generator.load_table()
    inputs = {
        name: np.asarray(table.columns[generator.spec.input_column(name)]) for name in generator.spec.inputs
    }
    single = {name: values[:1] for name, values in inputs.items()}
    generator.predict(single, batch_size=1, seed=seed)  # warm-up
    count = 32
    started = time.perf_counter()
    for index in range(count):
        generator.predict({name: values[index : index + 1] for name, values in inputs.items()}, batch_size=1)
    batch_1 = count / (time.perf_counter() - started)
    batch = {name: np.resize(values, (512, *values.shape[1:])) for name, values in inputs.items()}
    generator.predict({name: values[:256] for name, values in batch.items()}, batch_size=256)  # warm-up
    started = time.perf_counter()
    generator.predict(batch, batch_size=256)
    batch_256 = 512 / (time.perf_counter() - started)
    return {"sample_batch_1": round(batch_1, 1), "sample_batch_256": round(batch_256, 1)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="A few minutes on 2 CPU cores.")
    parser.add_argument(
        "--tasks",
        default="editing,text_to_image",
        help="Comma-separated: editing (with the throughput comparison), text_to_image, "
        "overhead (the throughput comparison and sampling speed alone).",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = SETTINGS["quick" if args.quick else "full"]
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    tasks = args.tasks.split(",")

    summary: dict = {"benchmark": "image_text", "mode": "quick" if args.quick else "full"}
    if "overhead" in tasks and "editing" not in tasks:
        # Only the training-throughput comparison, on the editing example (no quality run).
        options = {key: value for key, value in settings["editing"].items() if key != "epochs"}
        generator = fusegen.Generator(example_spec("image_text_to_image", options), base_dir=EXAMPLES)
        overhead, trained = training_overhead(
            generator, settings["overhead_epochs"], settings["overhead_rounds"], log
        )
        summary["training"] = overhead
        summary["train_overhead_vs_keras"] = overhead["overhead"]
        # Sampling speed does not depend on how far the model trained: the last fusegen fit serves.
        summary["images_per_second"] = {"train": overhead["images_per_second_fusegen"],
                                        **sampling_speed(trained, args.seed)}  # fmt: skip
    if "editing" in tasks:
        log("editing")
        editing, generator = run_editing(settings["editing"], args.seed, log)
        summary["editing"] = editing
        log("training throughput: fusegen against a plain Keras loop")
        overhead, _ = training_overhead(
            generator, settings["overhead_epochs"], settings["overhead_rounds"], log
        )
        summary["training"] = overhead
        summary["train_overhead_vs_keras"] = overhead["overhead"]
        summary["images_per_second"] = {"train": overhead["images_per_second_fusegen"],
                                        **sampling_speed(generator, args.seed)}  # fmt: skip
    if "text_to_image" in tasks:
        log("text -> image")
        summary["text_to_image"] = run_text_to_image(settings["text_to_image"], args.seed, log)

    print_tables(summary)
    import tensorflow

    summary["machine"] = {
        "cpus": os.cpu_count(),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
    }
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary))
    return summary


def print_tables(summary: dict) -> None:
    editing = summary.get("editing")
    if editing:
        print("\nEditing: PSNR (dB) on held-out emoji, per instruction\n")
        print("| instruction | seen phrasing | unseen phrasing | identity (output = input) |")
        print("|---|---:|---:|---:|")
        for operation, row in editing["by_instruction"].items():
            print(
                f"| {operation} | {row.get('psnr_seen', '–')} | {row.get('psnr_unseen', '–')} | {row['identity_psnr']} |"
            )
        print(
            f"| **all** | {editing['psnr_seen']} (SSIM {editing['ssim_seen']}) | {editing['psnr_unseen']} "
            f"(SSIM {editing['ssim_unseen']}) | {editing['identity_psnr']} |"
        )
    training = summary.get("training")
    if training:
        print("\nTraining and sampling throughput (editing model, images per second)\n")
        print("| | fusegen | plain Keras `fit` |")
        print("|---|---:|---:|")
        print(
            f"| median epoch, s | {training['epoch_seconds_fusegen']} | {training['epoch_seconds_keras']} |"
        )
        print(
            f"| train images/s | {training['images_per_second_fusegen']} | {training['images_per_second_keras']} |"
        )
        print(f"| parameters | {training['parameters']['fusegen']:,} | {training['parameters']['keras']:,} |")
        speed = summary["images_per_second"]
        print(f"\noverhead {training['overhead']:+.1%}; sampling {speed['sample_batch_1']} images/s at batch 1, "
              f"{speed['sample_batch_256']} at batch 256")  # fmt: skip
    t2i = summary.get("text_to_image")
    if t2i:
        print("\nText -> image (the judge: a CNN trained on the real training images)\n")
        print(
            "| conditional accuracy | judge on real | feature Frechet (real floor) | feature kernel (real floor) | diversity (real) |"
        )
        print("|---:|---:|---:|---:|---:|")
        print(
            f"| {t2i['conditional_accuracy']} | {t2i['judge_accuracy_on_real']} | {t2i['feature_frechet']} "
            f"({t2i['feature_frechet_real_floor']}) | {t2i['feature_kernel']} ({t2i['feature_kernel_real_floor']}) | "
            f"{t2i['diversity']} ({t2i['real_diversity']}) |"
        )


if __name__ == "__main__":
    main()
