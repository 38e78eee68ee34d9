"""TimeGAN's post-hoc scores for sets of time-series windows (N, T, C).

Both scores follow the public code of Yoon, Jarrett and van der Schaar,
"Time-series Generative Adversarial Networks" (NeurIPS 2019),
github.com/jsyoon0823/TimeGAN, files ``metrics/discriminative_metrics.py`` and
``metrics/predictive_metrics.py``, rewritten for Keras 3. Lower is better for
both.

``discriminative_score``: each set is shuffled (seeded) and split 80/20 into
train and test windows. A one-layer GRU (``max(1, C // 2)`` units, tanh) whose
final state feeds ``Dense(1)`` is trained with Adam (Keras defaults) to tell
real (label 1) from synthetic (label 0): each iteration draws ``batch_size``
real and ``batch_size`` synthetic training windows at random (without
replacement within the batch, as TimeGAN does) and takes one step on the
sigmoid cross-entropy. The score is ``|accuracy - 0.5|`` on the concatenated
test sets with threshold 0.5 on the sigmoid, so it lies in [0, 0.5]: 0 when
the classifier cannot tell the sets apart, 0.5 when it always can (or always
gets them backwards). As in TimeGAN, the test set is not balanced when N and
M differ, so a classifier that always answers the larger set scores
``|N / (N + M) - 0.5|``: give sets of equal size for the usual meaning.

``discriminative_floor``: the same score for the two sets pooled and dealt
back at random into two like mixtures, which no classifier can tell apart:
the score's chance level at these set sizes (TimeGAN reports none; its
benchmarks have thousands of windows, where it is near 0).

``predictive_score`` ("train on synthetic, test on real"): a one-layer GRU
(``max(1, C // 2)`` units, tanh) returning sequences, then ``Dense(1,
sigmoid)`` per step, learns to predict the last channel one step ahead from
the other channels: input channels ``0..C-2`` at steps ``0..T-2``, target
channel ``C-1`` at steps ``1..T-1``. It is trained with Adam on the mean
absolute error over ``iterations`` batches of ``batch_size`` synthetic windows
and scored by the mean absolute error on every real window (the mean over
windows of each window's MAE, which for equal-length windows is the mean over
all predicted values). It needs ``C >= 2`` and ``T >= 2``. The output is a
sigmoid, as in TimeGAN, whose data are min-max scaled to [0, 1]: give this
score windows scaled to [0, 1] (with the same scaling for real and synthetic),
or the target lies partly out of reach and the score means little. Its range
is [0, 1] for such data; it has no fixed floor, so compare it with the score
of a model trained on real data.

Differences from TimeGAN's code, none of which changes the protocol: real and
synthetic windows share one batch (loss averaged over 2 * batch_size windows
rather than the sum of two means, which Adam's scale invariance makes
immaterial); all windows must have the same length (TimeGAN's variable-length
support is not needed for fixed windows); the split, the batches and the initial
weights are seeded (without touching global random state), so the same seed
gives the same score on one machine and set of library versions.

Keras and TensorFlow are imported when a score is computed, not when
``fusegen.metrics`` is imported.
"""

from __future__ import annotations

import functools

import numpy as np

from fusegen.errors import DataError

TRAIN_FRACTION = 0.8
# Training steps per compiled call: thousands of tiny steps would otherwise be dominated by
# Python overhead between steps.
STEPS_PER_EXECUTION = 100
# Runs of at least this many steps compile with XLA on CPU (see _jit_compile).
XLA_FROM_ITERATIONS = 1000


def discriminative_score(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 2000,
    batch_size: int = 128,
    seed: int = 0,
) -> float:
    """How well a post-hoc GRU classifier tells real from synthetic windows: ``|accuracy - 0.5|``.

    Args:
        real: real windows (N, T, C).
        synthetic: synthetic windows (M, T, C); M may differ from N.
        iterations: training steps (TimeGAN: 2000).
        batch_size: real windows, and as many synthetic ones, per step (TimeGAN: 128).
        seed: seeds the split, the batches and the classifier's initial weights.

    Returns:
        A score in [0, 0.5]; lower is better.

    Raises:
        DataError: if the arrays are not 3-D, differ in T or C, are empty, hold
            NaN or infinity, or have fewer than 2 windows.
    """
    return discriminative_scores(real, synthetic, [seed], iterations, batch_size)[0]


def discriminative_scores(
    real: np.ndarray,
    synthetic: np.ndarray,
    seeds,
    iterations: int = 2000,
    batch_size: int = 128,
    floor: bool = False,
) -> list[float]:
    """`discriminative_score` at each of ``seeds`` (or, with ``floor``, `discriminative_floor`'s),
    the classifiers trained side by side as one model.

    TimeGAN averages several classifiers, each on its own split. Each is small
    (a GRU of ``C // 2`` units), so training them one after another spends
    nearly all its time stepping through the windows, not computing; here
    they share each step. Every classifier keeps its own split, batches and
    initial weights, exactly as `discriminative_score` seeds them, and its
    weights never touch another's (`_side_by_side`).
    """
    real, synthetic = _check_windows(
        real, synthetic, "discriminative_floor" if floor else "discriminative_score"
    )
    seeds = list(seeds)
    if not seeds:
        raise DataError("discriminative_scores needs at least one seed, one classifier each. Received none.")
    for seed in seeds:
        _check_settings(iterations, batch_size, seed)
    for name, windows in (("real", real), ("synthetic", synthetic)):
        if len(windows) < 2:
            raise DataError(
                f"discriminative_score splits each set 80/20 into train and test windows, so it needs at "
                f"least 2 {name} windows. Received: {len(windows)}."
            )
    pairs = [_dealt(real, synthetic, seed) if floor else (real, synthetic) for seed in seeds]
    return _classifier_scores(pairs, seeds, iterations, batch_size)


def _dealt(real: np.ndarray, synthetic: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The two sets pooled, shuffled and dealt back at their sizes: two like mixtures."""
    pooled = np.concatenate([real, synthetic])
    # A seed of its own for the dealing, so the classifier's split and weights stay those of `seed`.
    order = np.random.default_rng([seed, 1]).permutation(len(pooled))
    return pooled[order[: len(real)]], pooled[order[len(real) :]]


def _classifier_scores(pairs, seeds: list[int], iterations: int, batch_size: int) -> list[float]:
    """One classifier per (real, synthetic) pair and seed, trained side by side; each one's score."""
    import keras
    import tensorflow as tf

    count = len(seeds)
    timesteps, channels = pairs[0][0].shape[1:]
    splits = []
    for (real, synthetic), seed in zip(pairs, seeds, strict=True):
        rng = np.random.default_rng(seed)
        splits.append((*_split(real, rng), *_split(synthetic, rng)))
    real_train = tf.constant(np.stack([split[0] for split in splits]))
    synthetic_train = tf.constant(np.stack([split[2] for split in splits]))
    real_size, synthetic_size = int(real_train.shape[1]), int(synthetic_train.shape[1])
    real_take, synthetic_take = min(batch_size, real_size), min(batch_size, synthetic_size)
    labels = np.concatenate([np.ones(real_take), np.zeros(synthetic_take)])
    labels = tf.constant(np.repeat(labels[:, None], count, axis=1), tf.float32)

    def draw(step):
        # Classifier k's batch in channels k*C..(k+1)*C, drawn as its own run would draw it.
        batches = [
            tf.concat(
                [
                    tf.gather(real_train[k], _sample(real_size, real_take, seed, 2 * step)),
                    tf.gather(
                        synthetic_train[k], _sample(synthetic_size, synthetic_take, seed, 2 * step + 1)
                    ),
                ],
                axis=0,
            )
            for k, seed in enumerate(seeds)
        ]
        return tf.concat(batches, axis=-1), labels

    hidden = max(1, channels // 2)
    model = _side_by_side(keras, seeds, timesteps, channels, hidden)
    model.compile(
        optimizer=keras.optimizers.Adam(),
        # Summed over the classifiers, so each one's gradient is its own run's.
        loss=lambda truth, logits: count * keras.losses.binary_crossentropy(truth, logits, from_logits=True),
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=_jit_compile(tf, iterations),
    )
    model.fit(_steps(tf, iterations, draw), epochs=1, shuffle=False, verbose=0)

    test = np.concatenate([np.concatenate([split[1], split[3]]) for split in splits], axis=-1)
    truth = np.concatenate([np.ones(len(splits[0][1])), np.zeros(len(splits[0][3]))])
    logits = _apply(model, test)
    accuracy = np.mean((logits > 0) == (truth[:, None] == 1), axis=0)  # sigmoid(logit) > 0.5
    return [float(abs(value - 0.5)) for value in accuracy]


def _side_by_side(keras, seeds: list[int], timesteps: int, channels: int, hidden: int):
    """Several of TimeGAN's GRU classifiers as one Keras model, none reading another's weights.

    Classifier k reads input channels ``k*C..(k+1)*C``, owns GRU units
    ``k*H..(k+1)*H`` of each gate and output ``k``. The GRU's kernels and the
    dense layer's are block-diagonal (gate by gate): each block starts as the
    classifier's own seeded initialisation, and a constraint keeps every
    weight outside the blocks at zero after each update, so each classifier
    computes, and learns, what it would alone.
    """
    count = len(seeds)
    masked = _masked_constraint()
    gru = keras.layers.GRU(
        count * hidden,
        activation="tanh",
        kernel_constraint=masked(_block_mask(count, channels, hidden, gates=3)),
        recurrent_constraint=masked(_block_mask(count, hidden, hidden, gates=3)),
    )
    dense = keras.layers.Dense(count, kernel_constraint=masked(_block_mask(count, hidden, 1, gates=1)))
    model = keras.Sequential([keras.Input((timesteps, count * channels)), gru, dense])
    own = [_gru_initializers(keras, seed) for seed in seeds]
    gru.cell.kernel.assign(
        _blocks([init["kernel_initializer"]((channels, 3 * hidden)) for init in own], channels, hidden, 3)
    )
    gru.cell.recurrent_kernel.assign(
        _blocks([init["recurrent_initializer"]((hidden, 3 * hidden)) for init in own], hidden, hidden, 3)
    )
    dense.kernel.assign(
        _blocks([keras.initializers.GlorotUniform(seed + 2)((hidden, 1)) for seed in seeds], hidden, 1, 1)
    )
    return model


def _block_mask(count: int, rows: int, units: int, gates: int) -> np.ndarray:
    """1 where classifier k's ``rows`` meet its ``units`` of each of ``gates`` gates (laid out gate by
    gate, as Keras's GRU lays out its kernels), 0 elsewhere."""
    mask = np.zeros((count * rows, gates * count * units), "float32")
    for k in range(count):
        for gate in range(gates):
            first = gate * count * units + k * units
            mask[k * rows : (k + 1) * rows, first : first + units] = 1.0
    return mask


def _blocks(weights, rows: int, units: int, gates: int) -> np.ndarray:
    """Each classifier's own (rows, gates * units) weights placed in its blocks of the shared kernel."""
    count = len(weights)
    shared = np.zeros((count * rows, gates * count * units), "float32")
    for k, own in enumerate(weights):
        own = np.asarray(own)
        for gate in range(gates):
            first = gate * count * units + k * units
            shared[k * rows : (k + 1) * rows, first : first + units] = own[
                :, gate * units : (gate + 1) * units
            ]
    return shared


@functools.cache
def _masked_constraint():
    """The constraint class, made once Keras is imported (this module imports it only to score)."""
    import keras

    class Masked(keras.constraints.Constraint):
        """Zero every weight outside a fixed mask: keeps side-by-side classifiers apart."""

        def __init__(self, mask):
            self.mask = np.asarray(mask, "float32")

        def __call__(self, weights):
            return weights * keras.ops.convert_to_tensor(self.mask, weights.dtype)

    return Masked


def discriminative_floor(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 2000,
    batch_size: int = 128,
    seed: int = 0,
) -> float:
    """`discriminative_score` of the two sets shuffled together: what it gives where they cannot differ.

    The real and synthetic windows are pooled, shuffled (seeded) and dealt
    back into two sets of the original sizes, each a like mixture of both;
    the same classifier is then trained and scored on them. Its score is
    the test accuracy's chance distance from 0.5 at these set sizes, the
    score indistinguishable samples would get: on 80 windows a side (16
    test windows each) it is near 0.1, on thousands near 0. A score is
    only as good as its distance above this floor.

    Args and Raises: as `discriminative_score` (the dealt sets keep the
    given sizes, so its size check is the same).
    """
    return discriminative_scores(real, synthetic, [seed], iterations, batch_size, floor=True)[0]


def predictive_score(
    real: np.ndarray,
    synthetic: np.ndarray,
    iterations: int = 5000,
    batch_size: int = 128,
    seed: int = 0,
) -> float:
    """Train-on-synthetic, test-on-real MAE of a post-hoc GRU predicting the last channel one step ahead.

    Inputs should be scaled to [0, 1] (the predictor ends in a sigmoid, as in TimeGAN).

    Args:
        real: real windows (N, T, C), C >= 2, T >= 2, scaled to [0, 1].
        synthetic: synthetic windows (M, T, C) on the same scale; M may differ from N.
        iterations: training steps on synthetic windows (TimeGAN: 5000).
        batch_size: synthetic windows per step (TimeGAN: 128).
        seed: seeds the batches and the predictor's initial weights.

    Returns:
        The mean absolute error on all real windows; lower is better.

    Raises:
        DataError: if the arrays are not 3-D, differ in T or C, are empty, hold
            NaN or infinity, or have fewer than 2 channels or 2 time steps.
    """
    real, synthetic = _check_windows(real, synthetic, "predictive_score")
    _check_settings(iterations, batch_size, seed)
    timesteps, channels = real.shape[1:]
    if channels < 2:
        raise DataError(
            "predictive_score predicts the last channel from the others, so windows need at least 2 "
            f"channels (N, T, C >= 2). Received: C={channels}."
        )
    if timesteps < 2:
        raise DataError(
            "predictive_score predicts one step ahead, so windows need at least 2 time steps "
            f"(N, T >= 2, C). Received: T={timesteps}."
        )

    import keras
    import tensorflow as tf

    synthetic_inputs = tf.constant(synthetic[:, :-1, :-1])
    synthetic_targets = tf.constant(synthetic[:, 1:, -1:])
    take = min(batch_size, len(synthetic))

    def draw(step):
        pick = _sample(len(synthetic), take, seed, step)
        return tf.gather(synthetic_inputs, pick), tf.gather(synthetic_targets, pick)

    model = keras.Sequential(
        [
            keras.Input((timesteps - 1, channels - 1)),
            keras.layers.GRU(
                max(1, channels // 2),
                activation="tanh",
                return_sequences=True,
                **_gru_initializers(keras, seed),
            ),
            keras.layers.Dense(
                1, activation="sigmoid", kernel_initializer=keras.initializers.GlorotUniform(seed + 2)
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.MeanAbsoluteError(),
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=_jit_compile(tf, iterations),
    )
    model.fit(_steps(tf, iterations, draw), epochs=1, shuffle=False, verbose=0)

    predicted = _apply(model, real[:, :-1, :-1])
    per_window = np.mean(np.abs(predicted - real[:, 1:, -1:]), axis=(1, 2))
    return float(np.mean(per_window))


def _check_windows(real, synthetic, caller: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, windows in (("real", real), ("synthetic", synthetic)):
        try:
            array = np.asarray(windows, dtype="float64")
        except (TypeError, ValueError) as error:
            raise DataError(
                f"{caller}: the {name} windows must be a numeric array (N, T, C). "
                f"Received: {type(windows).__name__} ({error})."
            ) from None
        if array.ndim != 3:
            raise DataError(
                f"{caller}: the {name} windows must be a 3-D array (N windows, T steps, C channels). "
                f"Received shape {list(array.shape)}."
            )
        if 0 in array.shape:
            raise DataError(
                f"{caller}: the {name} windows are empty; expected N, T and C all >= 1. "
                f"Received shape {list(array.shape)}."
            )
        if not np.isfinite(array).all():
            bad = int(np.sum(~np.isfinite(array).all(axis=(1, 2))))
            raise DataError(
                f"{caller}: the {name} windows must be finite. Received NaN or infinity in {bad} of "
                f"{len(array)} windows."
            )
        arrays.append(array)
    real, synthetic = arrays
    if real.shape[1:] != synthetic.shape[1:]:
        raise DataError(
            f"{caller}: real and synthetic windows must have the same T steps and C channels. "
            f"Received real {list(real.shape)} (T={real.shape[1]}, C={real.shape[2]}) and synthetic "
            f"{list(synthetic.shape)} (T={synthetic.shape[1]}, C={synthetic.shape[2]})."
        )
    return real.astype("float32"), synthetic.astype("float32")


def _check_settings(iterations: int, batch_size: int, seed: int) -> None:
    for name, value, low in (("iterations", iterations, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DataError(f"{name} must be an integer >= {low}. Received: {name}={value!r}")


def _split(windows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """TimeGAN's train_test_divide: a shuffled 80/20 split, at least one window on each side."""
    order = rng.permutation(len(windows))
    cut = min(max(int(len(windows) * TRAIN_FRACTION), 1), len(windows) - 1)
    return windows[order[:cut]], windows[order[cut:]]


def _sample(population: int, take: int, seed: int, step):
    """``take`` distinct indices below ``population``, a pure function of (seed, step)."""
    import tensorflow as tf

    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    return tf.argsort(tf.random.stateless_uniform([population], seed=key))[:take]


def _steps(tf, iterations: int, draw):
    return (
        tf.data.Dataset.range(iterations)
        .map(draw, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def _apply(model, windows: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """The model's outputs, called directly: ``predict`` would compile a second function for one pass."""
    return np.concatenate(
        [
            np.asarray(model(windows[start : start + chunk], training=False))
            for start in range(0, len(windows), chunk)
        ]
    )


def _jit_compile(tf, iterations: int):
    """XLA on CPU for long runs; on a GPU, Keras's choice.

    On CPU, XLA cuts the time per step by about a third but costs about 2 s of
    compiling, which pays off from several hundred steps. Keras turns XLA off for
    GRUs that run on cuDNN, which XLA cannot compile.
    """
    if tf.config.list_physical_devices("GPU"):
        return "auto"
    return iterations >= XLA_FROM_ITERATIONS


def _gru_initializers(keras, seed: int) -> dict:
    return {
        "kernel_initializer": keras.initializers.GlorotUniform(seed),
        "recurrent_initializer": keras.initializers.Orthogonal(seed=seed + 1),
    }
