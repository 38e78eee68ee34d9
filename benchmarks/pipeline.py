"""Benchmark: how fast each way of feeding a five-input Keras model delivers, alone and while training.

The workload looks like real data: per example a 64x64x3 image stored as
encoded PNG bytes, a raw text of about 32 words, 8 numeric columns, 4
categorical string columns and a 100x6 sensor window; the target is a vector
of 8 numbers. Every way of feeding turns that raw data into the same
model-ready batches (images in [0, 1], token ids, standardised numbers,
category ids, standardised windows):

  (a) resident:  one preprocessed batch, repeated (the ceiling; training only)
  (b) python_generator:  a plain Python generator (Pillow decode, dict lookups)
  (c) pydataset_1_worker / pydataset_2_workers:  keras.utils.PyDataset, the same code
  (d) from_generator:  tf.data.Dataset.from_generator(b) with output_signature
  (e) numpy_fit:  preprocessed NumPy dicts passed to fit (training only)
  (f) handwritten_tfdata:  a careful tf.data pipeline: parallel decode, cache,
      shuffle, batch, vectorised map, prefetch (and _uncached, without cache)
  (g) fusegen:  fusegen.data from the raw columns and a spec

Producer only (no model): samples per second over several epochs, the first
included; fusegen's count includes fitting its preprocessing and decoding the
images, while the baselines get their fitted vocabularies and scalers for free.

Training: the same ~1M-parameter model, compiled once, fed by each way for a
fixed number of steps. After a warm-up round (the cached pipeline fills its
cache), rounds go through all the feeders in turn, each timing some steps
after a fresh start of its pipeline; the median round counts. The time
lost against (a) is the input-pipeline overhead, the share of step time the
TensorFlow profiler reports as "input-bound". CPU seconds of the process are
reported too: on a machine shared with other work they are steadier.

The last line printed is one JSON object with the results.

    python benchmarks/pipeline.py --quick     # under two minutes on 2 CPU cores
    python benchmarks/pipeline.py             # 20,000 examples
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from fusegen.data.pipeline import make_dataset, prepare_data  # noqa: E402
from fusegen.data.preprocessing import decode_image_files  # noqa: E402
from fusegen.data.sources import Table  # noqa: E402
from fusegen.spec import load_spec  # noqa: E402

# --------------------------------------------------------------------------
# The workload
# --------------------------------------------------------------------------

IMAGE_SIZE = 64
TEXT_WORDS = 32
VOCABULARY_WORDS = 2000
NUM_NUMERIC = 8
CATEGORY_SIZES = (5, 12, 30, 100)
SENSOR_STEPS, SENSOR_CHANNELS = 100, 6
TARGET_SIZE = 8
BATCH_SIZE = 128

NUMERIC = [f"number_{index}" for index in range(NUM_NUMERIC)]
CATEGORIES = [f"category_{index}" for index in range(len(CATEGORY_SIZES))]

SETTINGS = {
    # warmup_steps covers an epoch in quick mode, so the cached pipeline is measured from its cache.
    "quick": {
        "num_examples": 1536,
        "producer_epochs": 5,
        "warmup_steps": 12,
        "rounds": 3,
        "skipped_steps": 2,
        "timed_steps": 12,
    },
    "full": {
        "num_examples": 20000,
        "producer_epochs": 5,
        "warmup_steps": 160,
        "rounds": 3,
        "skipped_steps": 3,
        "timed_steps": 50,
    },
}

SPEC = {
    "name": "pipeline_benchmark",
    "data": {"source": "the benchmark's arrays", "validation_split": 0.0},
    "inputs": {
        "image": {"kind": "image", "height": IMAGE_SIZE, "width": IMAGE_SIZE, "channels": 3},
        "text": {"kind": "text", "max_tokens": VOCABULARY_WORDS + 2, "sequence_length": TEXT_WORDS},
        "numbers": {"kind": "numeric", "columns": NUMERIC},
        **{name: {"kind": "categorical"} for name in CATEGORIES},
        "sensor": {"kind": "sequence", "steps": SENSOR_STEPS, "channels": SENSOR_CHANNELS},
    },
    "output": {"kind": "vector", "size": TARGET_SIZE, "name": "target"},
    "training": {"batch_size": BATCH_SIZE},
}


def make_workload(num_examples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Raw columns as a user has them: PNG bytes, strings, numbers, windows."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, IMAGE_SIZE, dtype="float32")
    images = np.empty(num_examples, dtype=object)
    for index in range(num_examples):
        # A gradient, a rectangle and some noise: compresses like a simple photo, not like static.
        colour = rng.uniform(0, 255, 3)
        pixels = colour * (0.5 + 0.5 * ramp[:, None, None]) * (0.7 + 0.3 * ramp[None, :, None])
        top, left = rng.integers(0, IMAGE_SIZE - 16, 2)
        pixels[top : top + 16, left : left + 16] = rng.uniform(0, 255, 3)
        pixels += rng.normal(0, 4, pixels.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(buffer, format="PNG")
        images[index] = buffer.getvalue()
    words = np.array([f"word{index}" for index in range(VOCABULARY_WORDS)])
    frequencies = 1.0 / np.arange(1, VOCABULARY_WORDS + 1)  # Zipf-like, as in real text
    frequencies /= frequencies.sum()
    lengths = rng.integers(TEXT_WORDS - 8, TEXT_WORDS + 8, num_examples)
    texts = np.array([" ".join(rng.choice(words, length, p=frequencies)) for length in lengths], dtype=object)
    numbers = rng.normal(
        rng.uniform(-5, 5, NUM_NUMERIC), rng.uniform(0.5, 3, NUM_NUMERIC), (num_examples, NUM_NUMERIC)
    )
    columns = {"image": images, "text": texts}
    columns.update({name: numbers[:, index] for index, name in enumerate(NUMERIC)})
    for name, size in zip(CATEGORIES, CATEGORY_SIZES, strict=True):
        columns[name] = np.array(
            [f"{name}_{value}" for value in rng.integers(0, size, num_examples)], dtype=object
        )
    steps = np.arange(SENSOR_STEPS, dtype="float32")[None, :, None]
    phases = rng.uniform(0, 2 * np.pi, (num_examples, 1, SENSOR_CHANNELS))
    columns["sensor"] = (
        np.sin(steps / 7.0 + phases) + rng.normal(0, 0.1, (num_examples, SENSOR_STEPS, SENSOR_CHANNELS))
    ).astype("float32")
    weights = rng.normal(size=(NUM_NUMERIC, TARGET_SIZE))
    columns["target"] = (numbers @ weights + rng.normal(0, 0.1, (num_examples, TARGET_SIZE))).astype(
        "float32"
    )
    return columns


# --------------------------------------------------------------------------
# Fitted state for the baselines (given to them for free)
# --------------------------------------------------------------------------


def fit_baseline_state(raw: dict[str, np.ndarray]) -> dict:
    """Vocabularies and scalers, fitted the way fusegen fits them, so every feeder yields the same batches."""
    vectorizer = keras.layers.TextVectorization(
        max_tokens=VOCABULARY_WORDS + 2, output_sequence_length=TEXT_WORDS
    )
    vectorizer.adapt(raw["text"].astype(str))
    vocabulary = vectorizer.get_vocabulary()
    numbers = np.stack([raw[name] for name in NUMERIC], axis=1).astype("float32")
    state = {
        "vectorizer": vectorizer,
        "words": {word: index for index, word in enumerate(vocabulary)},
        "categories": {},
        "numbers": (numbers.mean(axis=0), numbers.std(axis=0)),
        "sensor": (raw["sensor"].mean(axis=(0, 1)), raw["sensor"].std(axis=(0, 1))),
        "target": (raw["target"].mean(axis=0), raw["target"].std(axis=0)),
    }
    for name in CATEGORIES:
        labels, counts = np.unique(raw[name], return_counts=True)
        ordered = sorted(zip(labels, counts, strict=True), key=lambda item: (-item[1], item[0]))
        state["categories"][name] = {str(label): index + 1 for index, (label, _) in enumerate(ordered)}
    return state


def python_batch(raw: dict, state: dict, rows: np.ndarray):
    """One model-ready batch in plain Python and NumPy: what a hand-written generator does."""
    images = np.stack([np.asarray(Image.open(io.BytesIO(raw["image"][row])).convert("RGB")) for row in rows])
    tokens = np.zeros((len(rows), TEXT_WORDS), dtype="int32")
    words = state["words"]
    for position, row in enumerate(rows):
        ids = [words.get(word, 1) for word in raw["text"][row].lower().split()][:TEXT_WORDS]
        tokens[position, : len(ids)] = ids
    mean, std = state["numbers"]
    numbers = (np.stack([raw[name][rows] for name in NUMERIC], axis=1) - mean) / std
    inputs = {
        "image": images.astype("float32") / 255.0,
        "text": tokens,
        "numbers": numbers.astype("float32"),
        "sensor": ((raw["sensor"][rows] - state["sensor"][0]) / state["sensor"][1]).astype("float32"),
    }
    for name in CATEGORIES:
        lookup = state["categories"][name]
        inputs[name] = np.array([lookup.get(label, 0) for label in raw[name][rows]], dtype="int32")
    targets = ((raw["target"][rows] - state["target"][0]) / state["target"][1]).astype("float32")
    return inputs, targets


def batch_rows(num_examples: int, seed: int):
    order = np.random.default_rng(seed).permutation(num_examples)
    return [order[start : start + BATCH_SIZE] for start in range(0, num_examples, BATCH_SIZE)]


# --------------------------------------------------------------------------
# The ways of feeding
# --------------------------------------------------------------------------


def python_generator(raw, state, epoch: int = 0, endless: bool = False):
    """(b) A plain Python generator over shuffled batches."""
    while True:
        for rows in batch_rows(len(raw["target"]), epoch):
            yield python_batch(raw, state, rows)
        epoch += 1
        if not endless:
            return


class BenchmarkPyDataset(keras.utils.PyDataset):
    """(c) The same batches from a keras.utils.PyDataset, with 1 or more worker threads."""

    def __init__(self, raw, state, workers: int, endless: bool = False):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.raw, self.state, self.endless = raw, state, endless
        self.epoch = 0
        self.batches = batch_rows(len(raw["target"]), self.epoch)

    @property
    def num_batches(self):
        return None if self.endless else len(self.batches)

    def __getitem__(self, index):
        return python_batch(self.raw, self.state, self.batches[index % len(self.batches)])

    def on_epoch_end(self):
        self.epoch += 1
        self.batches = batch_rows(len(self.raw["target"]), self.epoch)


def signature():
    inputs = {
        "image": tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 3), tf.float32),
        "text": tf.TensorSpec((None, TEXT_WORDS), tf.int32),
        "numbers": tf.TensorSpec((None, NUM_NUMERIC), tf.float32),
        "sensor": tf.TensorSpec((None, SENSOR_STEPS, SENSOR_CHANNELS), tf.float32),
        **{name: tf.TensorSpec((None,), tf.int32) for name in CATEGORIES},
    }
    return inputs, tf.TensorSpec((None, TARGET_SIZE), tf.float32)


def from_generator(raw, state, endless: bool = False):
    """(d) tf.data.Dataset.from_generator over (b), with an output_signature."""
    dataset = tf.data.Dataset.from_generator(
        lambda: python_generator(raw, state, endless=endless), output_signature=signature()
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def handwritten_tfdata(raw, state, cache: bool = True, endless: bool = False):
    """(f) A careful tf.data pipeline: parallel per-example decode, cache, shuffle, batch, vectorised map."""
    num_examples = len(raw["target"])
    lookups = {
        name: tf.keras.layers.StringLookup(vocabulary=list(state["categories"][name]), num_oov_indices=1)
        for name in CATEGORIES
    }
    numbers_mean, numbers_std = (tf.constant(value, tf.float32) for value in state["numbers"])
    sensor_mean, sensor_std = (tf.constant(value, tf.float32) for value in state["sensor"])
    target_mean, target_std = (tf.constant(value, tf.float32) for value in state["target"])
    columns = {
        "image": tf.constant(list(raw["image"])),
        "text": tf.constant(raw["text"].astype(str)),
        "numbers": np.stack([raw[name] for name in NUMERIC], axis=1).astype("float32"),
        "sensor": raw["sensor"],
        "target": raw["target"],
        **{name: tf.constant(raw[name].astype(str)) for name in CATEGORIES},
    }
    dataset = tf.data.Dataset.from_tensor_slices(columns)

    def decode(example):
        example = dict(example)
        example["image"] = tf.ensure_shape(
            tf.io.decode_png(example["image"], channels=3), (IMAGE_SIZE, IMAGE_SIZE, 3)
        )
        return example

    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        dataset = dataset.cache()
    dataset = dataset.shuffle(num_examples, seed=0, reshuffle_each_iteration=True)
    if endless:
        dataset = dataset.repeat()

    def to_model(batch):
        inputs = {
            "image": tf.cast(batch["image"], tf.float32) / 255.0,
            "text": tf.cast(state["vectorizer"](batch["text"]), tf.int32),
            "numbers": (batch["numbers"] - numbers_mean) / numbers_std,
            "sensor": (batch["sensor"] - sensor_mean) / sensor_std,
        }
        for name in CATEGORIES:
            # StringLookup puts OOV at 0 and the vocabulary at 1..K, as fusegen does.
            inputs[name] = tf.cast(lookups[name](batch[name]), tf.int32)
        return inputs, (batch["target"] - target_mean) / target_std

    dataset = dataset.batch(BATCH_SIZE).map(to_model, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def fusegen_dataset(raw, endless: bool = False):
    """(g) fusegen: the spec, the raw columns, nothing else."""
    spec = load_spec(SPEC)
    prepared = prepare_data(spec, Table(dict(raw), origin="the benchmark's arrays"))
    dataset = make_dataset(prepared.train_inputs, prepared.train_targets, BATCH_SIZE, shuffle=True, seed=0)
    return dataset.repeat() if endless else dataset


def time_decoding(raw, repeats: int = 3) -> float:
    """Seconds fusegen takes to decode (and check) every PNG once, on its own: the floor of its first epoch.

    The median of a few repeats: a single one moves by half on this kind of machine.
    """
    spec = load_spec(SPEC)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        decode_image_files(Table(dict(raw), origin="the benchmark's arrays"), spec)
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


# --------------------------------------------------------------------------
# Producer only
# --------------------------------------------------------------------------


def count_rows(batch) -> int:
    return int(batch[1].shape[0])


def producers(raw, state) -> dict:
    """Each way of feeding as ``start() -> run_epoch(epoch) -> rows``; start-up counts in the first epoch."""

    def dataset_epochs(make_dataset_):
        dataset = make_dataset_()
        return lambda epoch: sum(count_rows(batch) for batch in dataset)

    return {
        "python_generator": lambda: (
            lambda epoch: sum(count_rows(batch) for batch in python_generator(raw, state, epoch))
        ),
        "pydataset_1_worker": lambda: py_dataset_epochs(raw, state, workers=1),
        "pydataset_2_workers": lambda: py_dataset_epochs(raw, state, workers=2),
        "from_generator": lambda: dataset_epochs(lambda: from_generator(raw, state)),
        "handwritten_tfdata_uncached": lambda: dataset_epochs(
            lambda: handwritten_tfdata(raw, state, cache=False)
        ),
        "handwritten_tfdata": lambda: dataset_epochs(lambda: handwritten_tfdata(raw, state)),
        "fusegen": lambda: dataset_epochs(lambda: fusegen_dataset(raw)),
    }


def py_dataset_epochs(raw, state, workers: int):
    # The adapter Keras's fit uses for a PyDataset on the TensorFlow backend (a private module).
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(BenchmarkPyDataset(raw, state, workers))
    dataset = adapter.get_tf_dataset()

    def run_epoch(epoch):
        adapter.on_epoch_begin()
        rows = sum(count_rows(batch) for batch in dataset)
        adapter.on_epoch_end()
        return rows

    return run_epoch


def measure_producers(raw, state, epochs: int, log) -> tuple[dict, dict, dict]:
    """Samples per second over all epochs (the first, with start-up, included) and over the later ones,
    and the seconds of the first epoch."""
    num_examples = len(raw["target"])
    overall, later, first = {}, {}, {}
    for name, start in producers(raw, state).items():
        started = time.perf_counter()
        run_epoch = start()
        ends = []
        for epoch in range(epochs):
            rows = run_epoch(epoch)
            assert rows == num_examples, (name, epoch, rows)
            ends.append(time.perf_counter())
        overall[name] = epochs * num_examples / (ends[-1] - started)
        later[name] = (epochs - 1) * num_examples / (ends[-1] - ends[0])
        first[name] = ends[0] - started
        log(
            f"  producer {name:<28} {overall[name]:>10,.0f} samples/s over {epochs} epochs "
            f"(first {first[name]:.2f} s, then {later[name]:>9,.0f} samples/s)"
        )
    return overall, later, first


def projected_ratio(epochs: int, num_examples: int, overall: dict, later: dict, first: dict) -> float:
    """fusegen's producer rate over ``epochs`` epochs against the Python generator's, from measured parts.

    fusegen's time is its measured first epoch plus the other epochs at its
    measured later rate; the generator, which does the same work every epoch,
    keeps its measured rate. For runs longer than the measured one.
    """
    seconds = first["fusegen"] + (epochs - 1) * num_examples / later["fusegen"]
    return epochs * num_examples / seconds / overall["python_generator"]


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def build_model() -> keras.Model:
    """About a million parameters over the five kinds of input; the same for every feeder."""
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    text = keras.Input((TEXT_WORDS,), dtype="int32", name="text")
    numbers = keras.Input((NUM_NUMERIC,), name="numbers")
    sensor = keras.Input((SENSOR_STEPS, SENSOR_CHANNELS), name="sensor")
    categories = [keras.Input((), dtype="int32", name=name) for name in CATEGORIES]

    x = image
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    branches = [keras.layers.GlobalAveragePooling2D()(x)]
    branches.append(
        keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(VOCABULARY_WORDS + 2, 64)(text))
    )
    branches.append(keras.layers.Dense(64, activation="relu")(numbers))
    s = keras.layers.Conv1D(64, 5, activation="relu")(sensor)
    s = keras.layers.Conv1D(64, 5, strides=2, activation="relu")(s)
    branches.append(keras.layers.GlobalAveragePooling1D()(s))
    for name, size, category in zip(CATEGORIES, CATEGORY_SIZES, categories, strict=True):
        branches.append(keras.layers.Embedding(size + 1, 16, name=f"{name}_embedding")(category))
    x = keras.layers.Concatenate()(branches)
    for units in (768, 512):
        x = keras.layers.Dense(units, activation="relu")(x)
    output = keras.layers.Dense(TARGET_SIZE, name="target")(x)
    model = keras.Model([image, text, numbers, sensor, *categories], output)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


class StepTimer(keras.callbacks.Callback):
    """Wall time of the ``timed_steps`` steps that follow ``warmup_steps``, counted across epochs."""

    def __init__(self, warmup_steps: int, timed_steps: int):
        super().__init__()
        self.warmup_steps, self.timed_steps = warmup_steps, timed_steps
        self.step = 0
        self.started = self.ended = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.step == self.warmup_steps:
            self.started = time.perf_counter()
            self.cpu_started = time.process_time()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step == self.warmup_steps + self.timed_steps:
            self.ended = time.perf_counter()
            # CPU time of this process (all its threads): what feeding costs, whatever else runs.
            self.cpu_seconds = time.process_time() - self.cpu_started
            self.model.stop_training = True


def measure_training(raw, state, settings: dict, log) -> tuple[dict, dict, int]:
    """Median samples per second of each feeder over interleaved rounds of timed steps.

    The tf.data datasets are built once, so a cache filled in the warm-up round
    serves the later rounds, as it would in the later epochs of a real run;
    each round starts a fresh iterator (an epoch's start) and leaves its first
    steps untimed. Rounds go through all the feeders in turn, so that load
    from other processes falls on them alike.
    """
    model = build_model()
    resident_inputs, resident_targets = python_batch(raw, state, np.arange(BATCH_SIZE))
    resident = tf.data.Dataset.from_tensors((resident_inputs, resident_targets)).repeat()
    model.fit(resident, epochs=1, steps_per_epoch=3, verbose=0)  # traces the train step once

    arrays = python_batch(raw, state, np.arange(len(raw["target"])))
    datasets = {
        "handwritten_tfdata_uncached": handwritten_tfdata(raw, state, cache=False, endless=True),
        "handwritten_tfdata": handwritten_tfdata(raw, state, endless=True),
        "fusegen": fusegen_dataset(raw, endless=True),
    }
    feeders = {
        "resident": lambda: resident,
        "python_generator": lambda: python_generator(raw, state, endless=True),
        "pydataset_1_worker": lambda: BenchmarkPyDataset(raw, state, 1, endless=True),
        "pydataset_2_workers": lambda: BenchmarkPyDataset(raw, state, 2, endless=True),
        "from_generator": lambda: from_generator(raw, state, endless=True),
        "numpy_fit": "arrays",
        **{name: (lambda dataset=dataset: dataset) for name, dataset in datasets.items()},
    }
    log(f"  warm-up: {settings['warmup_steps']} steps per feeder")
    for make in feeders.values():
        fit_steps(model, make, arrays, 0, settings["warmup_steps"])
    walls = {name: [] for name in feeders}
    cpus = {name: [] for name in feeders}
    skipped, timed = settings["skipped_steps"], settings["timed_steps"]
    for round_index in range(settings["rounds"]):
        for name, make in feeders.items():
            wall, cpu = fit_steps(model, make, arrays, skipped, timed)
            walls[name].append(wall)
            cpus[name].append(cpu)
        log(
            f"  round {round_index + 1}: "
            + ", ".join(f"{name} {timed * BATCH_SIZE / walls[name][-1]:,.0f}" for name in feeders)
        )
    seconds = {
        name: {"timed": float(np.median(walls[name])), "timed_cpu": float(np.median(cpus[name]))}
        for name in feeders
    }
    throughput = {name: timed * BATCH_SIZE / seconds[name]["timed"] for name in feeders}
    for name in feeders:
        log(
            f"  training {name:<28} {throughput[name]:>10,.0f} samples/s  (median of "
            f"{settings['rounds']}: {seconds[name]['timed']:.2f} s, {seconds[name]['timed_cpu']:.2f} CPU s "
            f"for {timed} steps)"
        )
    return throughput, seconds, model.count_params()


def fit_steps(model, make, arrays, skipped_steps: int, timed_steps: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``timed_steps`` steps of ``fit``, after ``skipped_steps`` untimed ones."""
    timer = StepTimer(skipped_steps, timed_steps)
    steps = skipped_steps + timed_steps
    if make == "arrays":  # (e) arrays straight into fit; Keras slices and shuffles them each epoch
        inputs, targets = arrays
        batches_per_epoch = -(-len(targets) // BATCH_SIZE)
        model.fit(
            inputs,
            targets,
            batch_size=BATCH_SIZE,
            epochs=-(-steps // batches_per_epoch),
            shuffle=True,
            verbose=0,
            callbacks=[timer],
        )
    else:
        model.fit(make(), epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0, callbacks=[timer])
    if timer.ended is None:
        raise RuntimeError(f"the feeder ended before {steps} steps")
    return timer.ended - timer.started, timer.cpu_seconds


# --------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="A small run: under two minutes on 2 idle CPU cores."
    )
    parser.add_argument("--examples", type=int, help="Override the number of examples.")
    args = parser.parse_args(argv)
    settings = dict(SETTINGS["quick" if args.quick else "full"])
    if args.examples:
        settings["num_examples"] = args.examples
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    # Keras warns that a dataset ignores fit's shuffle and so on; the log is clearer without.
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    load_before = os.getloadavg()[0]

    started = time.perf_counter()
    keras.utils.set_random_seed(0)
    log(f"workload: {settings['num_examples']} examples, batch {BATCH_SIZE}")
    raw = make_workload(settings["num_examples"])
    state = fit_baseline_state(raw)
    encoded = sum(len(image) for image in raw["image"]) / len(raw["image"])
    log(f"  made in {time.perf_counter() - started:.1f} s; PNG images average {encoded / 1024:.1f} KiB")

    prepare_started = time.perf_counter()
    fusegen_dataset(raw)
    prepare_seconds = time.perf_counter() - prepare_started
    decode_seconds = time_decoding(raw)
    log(
        f"  fusegen prepares (fits preprocessing, decodes {len(raw['image'])} PNGs) in {prepare_seconds:.2f} s; "
        f"decoding alone takes {decode_seconds:.2f} s"
    )

    log(f"producer only, {settings['producer_epochs']} epochs:")
    producer_rates, producer_rates_later, first_epoch = measure_producers(
        raw, state, settings["producer_epochs"], log
    )
    log(f"training, {settings['rounds']} rounds of {settings['timed_steps']} timed steps per feeder:")
    training, seconds, parameters = measure_training(raw, state, settings, log)

    result = {
        "benchmark": "pipeline",
        "producer_samples_per_second": {name: round(value, 1) for name, value in producer_rates.items()},
        "training_samples_per_second": {name: round(value, 1) for name, value in training.items()},
        "producer_samples_per_second_after_first_epoch": {
            name: round(value, 1) for name, value in producer_rates_later.items()
        },
        "training_seconds": {
            name: {key: round(value, 2) for key, value in times.items()} for name, times in seconds.items()
        },
        "fusegen_overhead": round(1.0 - seconds["resident"]["timed"] / seconds["fusegen"]["timed"], 4),
        # The same ratio in CPU seconds of this process: less sensitive to other load on the machine.
        "fusegen_overhead_cpu": round(
            1.0 - seconds["resident"]["timed_cpu"] / seconds["fusegen"]["timed_cpu"], 4
        ),
        "fusegen_producer_vs_python_generator": round(
            producer_rates["fusegen"] / producer_rates["python_generator"], 2
        ),
        "fusegen_vs_handwritten_tfdata": round(training["fusegen"] / training["handwritten_tfdata"], 3),
        # Not measured: R1 for longer runs, from fusegen's measured first epoch and later rate.
        "fusegen_producer_vs_python_generator_projected": {
            str(epochs): round(
                projected_ratio(
                    epochs, settings["num_examples"], producer_rates, producer_rates_later, first_epoch
                ),
                2,
            )
            for epochs in (10, 20)
        },
        "producer_first_epoch_seconds": {name: round(value, 3) for name, value in first_epoch.items()},
        "targets": {
            "fusegen_overhead": "< 0.05",
            "fusegen_producer_vs_python_generator": ">= 5",
            "fusegen_vs_handwritten_tfdata": ">= 0.95",
        },
        "settings": {**settings, "batch_size": BATCH_SIZE, "quick": args.quick},
        "fusegen_prepare_seconds": round(prepare_seconds, 2),
        # The part of fusegen's first epoch no in-memory pipeline can skip: each PNG decoded once.
        "fusegen_decode_seconds": round(decode_seconds, 2),
        "parameters": int(parameters),
        "machine": {
            "cpus": os.cpu_count(),
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            # Other processes on the machine slow every feeder; the 1-minute load says how busy it was.
            "load_average_before": round(load_before, 2),
            "load_average_after": round(os.getloadavg()[0], 2),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    sys.stderr.flush()
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
