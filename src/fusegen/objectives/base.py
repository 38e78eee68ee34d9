"""What every objective shares: the registry, the optimizer, presence flags, target encoding.

An objective is a `keras.Model` subclass over the planned networks. Its
``call`` encodes the conditions (with random presence flags in training, for
modality dropout); its ``compute_loss`` (or, for the GAN, ``train_step``)
trains; its ``generate`` turns model-space conditions into model-space
outputs. Randomness comes from a `keras.random.SeedGenerator` attribute in
training and from a fresh one per `generate` call, so sampling is
reproducible.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fusegen.errors import FusegenError
from fusegen.models import parameter_counts
from fusegen.models.builder import FUSED, LATENT, PRESENT
from fusegen.objectives.unseen_pairs import UnseenPairs

OBJECTIVES: dict[str, type] = {}

#: A label whose logit is above this is allowed; `fusegen.data.record_cells.EXCLUDED_LOGIT` (-1e9)
#: added to a logit rules its label out.
ALLOWED_LOGIT = -1e8


def register_objective(config):
    """Register an `ObjectiveModel` subclass for the spec's ``objective: {type: NAME}``.

    Args:
        config: the objective's config class, a subclass of
            `fusegen.spec.ObjectiveConfig` whose ``type`` is ``Literal["NAME"]``;
            it joins the spec's objective slot, so the spec validates it
            like a built-in objective. It declares the objective's
            capabilities (``latent_width``, ``plans_head``, ...); the model
            class declares its hooks (`ObjectiveModel.training_callbacks`,
            `ObjectiveModel.optimizers_and_variables`, ``supports_distribution``).

    A new objective is one file: its config, its model, this registration
    (docs/adding-a-part.md has a worked example).
    """
    from fusegen.spec import OBJECTIVE_SLOT

    names = OBJECTIVE_SLOT.names_of(OBJECTIVE_SLOT.register(config))

    def decorate(cls):
        for name in names:
            known = OBJECTIVES.get(name)
            if known is not None and known is not cls:
                raise ValueError(f"objective '{name}' is already registered ({known.__name__})")
            OBJECTIVES[name] = cls
        return cls

    return decorate


class _FusedAdamUpdate:
    """Keras's Adam update, computed by TensorFlow's one-kernel ``ResourceApplyAdam`` per variable.

    Keras 3 writes Adam's update as about 20 graph ops per variable (casts,
    powers, the moment updates, the step), so on a small network the
    optimizer is half the train step's graph, and much of the time spent
    tracing and optimising that graph before the first step (0.4 of 1.3 CPU
    seconds on the penguins table; the steps themselves take as long either
    way). TensorFlow's ``ResourceApplyAdam`` kernel
    computes the same rule (``m += (g - m)(1 - b1)``, ``v += (g^2 - v)(1 - b2)``,
    ``w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)``) in one op,
    and the step's scalars are computed once rather than once per variable.
    The weights follow Keras's Adam up to float rounding. Sparse (embedding)
    gradients keep Keras's own update, whose rule differs for repeated rows.

    Only on the TensorFlow backend, outside tf.distribute and without
    amsgrad; otherwise Keras's own update runs. Clipping, weight decay
    (AdamW), EMA and the iteration count stay Keras's.
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not self._fusable(trainable_variables):
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import tensorflow as tf

        scalars = {}
        for grad, variable in zip(grads, trainable_variables, strict=True):
            if isinstance(grad, tf.IndexedSlices):
                # Keras updates the moments row by row from a sparse (embedding) gradient, adding
                # repeated rows' squares separately; its own update keeps that rule exactly.
                self.update_step(grad, _unwrap(variable), learning_rate)
                continue
            dtype = variable.dtype
            if dtype not in scalars:
                step = ops.cast(self.iterations + 1, dtype)
                beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
                scalars[dtype] = {
                    "beta1_power": ops.power(beta_1, step),
                    "beta2_power": ops.power(beta_2, step),
                    "lr": ops.cast(learning_rate, dtype),
                    "beta1": beta_1,
                    "beta2": beta_2,
                    "epsilon": ops.cast(self.epsilon, dtype),
                }
            index = self._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=_unwrap(variable).handle,
                m=_unwrap(self._momentums[index]).handle,
                v=_unwrap(self._velocities[index]).handle,
                grad=ops.cast(grad, dtype),
                **scalars[dtype],
            )

    def _fusable(self, variables) -> bool:
        if keras.backend.backend() != "tensorflow" or self.amsgrad:
            return False
        import tensorflow as tf

        if tf.distribute.has_strategy():
            return False
        return all(variable.dtype in ("float16", "bfloat16", "float32", "float64") for variable in variables)


def _unwrap(variable):
    """The backend variable under a Keras variable."""
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="fusegen")
class Adam(_FusedAdamUpdate, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with the one-kernel update of `_FusedAdamUpdate`."""


@keras.saving.register_keras_serializable(package="fusegen")
class AdamW(_FusedAdamUpdate, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with the one-kernel update of `_FusedAdamUpdate`."""


def make_optimizer(
    training, learning_rate: float | None = None, gan: bool = False
) -> keras.optimizers.Optimizer:
    """The optimizer a spec's ``training`` section names (Adam uses beta_1=0.5 for GANs)."""
    rate = learning_rate or training.learning_rate
    # With EMA, Keras swaps the averaged weights in when fit() ends.
    momentum = training.ema_momentum
    if momentum == "auto":
        raise ValueError("training.ema_momentum 'auto' is resolved by the schedule before compiling.")
    ema = {"use_ema": True, "ema_momentum": momentum} if momentum else {}
    if training.optimizer == "adam":
        betas = {"beta_1": 0.5, "beta_2": 0.9} if gan else {}
        return Adam(rate, **betas, **ema)
    optimizers = {
        "adamw": AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[training.optimizer](learning_rate=rate, **ema)


def compile_options(training, distributed: bool = False) -> dict:
    """``compile`` arguments every objective shares.

    Under a tf.distribute strategy every step runs on its own: Keras 3.15's
    multi-step function fails on the strategy's per-replica batches
    ("Attempt to convert a value ({...: PerReplica...}) to a Tensor").
    """
    return {"steps_per_execution": 1 if distributed else training.steps_per_execution}


def per_replica(loss):
    """A replica's share of the loss under tf.distribute, so summed gradients average the replicas.

    Keras's own losses do the same; a ``compute_loss`` that returns a mean
    over its replica's batch must divide by the number of replicas.
    """
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


def step_logs(logs: dict) -> dict:
    """A training step's logs, in a form every tf.distribute strategy can reduce.

    Under MultiWorkerMirroredStrategy, Keras 3 reduces each log across the
    workers with ``strategy.reduce("MEAN", value, axis=0)``, which fails on
    scalars ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388). Inside a replica's step each log gets a
    length-1 axis, which that reduction removes again.
    """
    if keras.backend.backend() != "tensorflow":
        return logs
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return logs
    if not isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    return {name: ops.reshape(value, (1,)) for name, value in logs.items()}


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop with a clear message as soon as a loss becomes NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if "loss" in name and value is not None and not np.isfinite(value):
                self.model.stop_training = True
                raise FusegenError(
                    f"the training {name} became {value} at batch {batch}; the last good "
                    "checkpoint is kept in the run directory.",
                    hint="lower training.learning_rate, or check the data for extreme values.",
                )


class StepProgbar(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, counting only the steps that ran.

    Keras reports each compiled call of ``steps_per_execution`` N as ending at
    step ``begin + N - 1``, even the epoch's last call, which runs only what
    is left; its bar then shows 48/43 and a negative time left. This one
    counts no further than the epoch's length.
    """

    def on_train_batch_end(self, batch, logs=None):
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


class ObjectiveModel(keras.Model):
    """Base of the objectives: conditions, presence flags and the model-space target.

    Args:
        spec: the generator spec.
        plan: its `ShapePlan`.
        networks: the condition model and decoder built from the plan.
        vocabulary_sizes: fitted sizes (record categorical columns as ``output.COLUMN``).
    """

    def __init__(self, spec, plan, networks, vocabulary_sizes, **kwargs):
        super().__init__(name=spec.objective.type, **kwargs)
        self.spec = spec
        self.plan = plan
        self.condition_model = networks.condition
        self.decoder = networks.decoder
        self.input_names = list(plan.branches)
        self.modality_dropout = float(spec.conditioning.modality_dropout)
        self.seed_generator = keras.random.SeedGenerator(spec.training.seed)
        output = spec.output
        self.record_numeric = len(output.numeric) if output.kind == "record" else 0
        self.record_categories = (
            [(column, vocabulary_sizes[f"output.{column}"]) for column in output.categorical_parts()]
            if output.kind == "record"
            else []
        )
        self.vocabulary_sizes = dict(vocabulary_sizes)
        self.unseen_pairs = UnseenPairs(plan.unseen_label_pairs, dict(self.record_categories))
        self.add_parts(spec.objective)

    def add_parts(self, objective) -> None:
        """Create what this objective adds to the planned networks (a posterior, a critic, a
        denoiser) and its own state, from its config ``objective``; nothing by default."""

    # -- building under a strategy --------------------------------------

    #: One local batch ``(inputs, targets)``, set before ``fit`` (see below).
    local_batch = None

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 (TensorFlow trainer) averages the first distributed batch
        # with strategy.reduce to learn its structure; MultiWorkerMirroredStrategy
        # cannot reduce a dict of inputs ("Attempt to convert a value ({...:
        # PerReplica...}) to a Tensor"). A local batch of the same structure
        # serves the same purpose.
        if self.local_batch is not None and iterator is not None and self._distribute_strategy is not None:
            with self.distribute_strategy.scope():
                self._symbolic_build(data_batch=self.local_batch)
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def get_metrics_result(self):
        return step_logs(super().get_metrics_result())

    # -- conditions -----------------------------------------------------

    @staticmethod
    def fused_tensor(fused):
        """The fused representation alone, without the skip maps a U-Net head also takes."""
        return fused[FUSED] if isinstance(fused, dict) else fused

    def conditions(self, inputs, present=None, training=False):
        """The fused representation of (some of) the inputs (a dict with skip maps for a U-Net head)."""
        model_inputs = {name: inputs[name] for name in self.input_names}
        if self.plan.uses_presence:
            if present is None:
                batch = ops.shape(inputs[self.input_names[0]])[0]
                present = ops.ones((batch, len(self.input_names)))
            model_inputs[PRESENT] = present
        return self.condition_model(model_inputs, training=training)

    def training_presence(self, batch_size, drop_all_rate: float = 0.0):
        """Random presence flags: each input kept with probability 1 - modality_dropout,
        and all of them dropped together with probability ``drop_all_rate``."""
        shape = (batch_size, len(self.input_names))
        keep = ops.cast(
            keras.random.uniform(shape, seed=self.seed_generator) >= self.modality_dropout, "float32"
        )
        if drop_all_rate:
            row = ops.cast(
                keras.random.uniform((batch_size, 1), seed=self.seed_generator) >= drop_all_rate, "float32"
            )
            keep = keep * row
        return keep

    def call(self, inputs, training=False):
        present = None
        if training and self.plan.uses_presence:
            present = self.training_presence(ops.shape(inputs[self.input_names[0]])[0], self._drop_all_rate())
        return self.conditions(inputs, present, training=training)

    def _drop_all_rate(self) -> float:
        return 0.0

    # -- the decoder's output and the model-space target -----------------

    def decode(self, fused, latent=None, training=False):
        inputs = dict(fused) if isinstance(fused, dict) else {FUSED: fused}
        if latent is not None:
            inputs[LATENT] = latent
        return self.decoder(inputs, training=training)

    def reconstruction_loss(self, y, outputs, numeric_loss="mse", reduce="mean"):
        """Weighted per-part losses: ``mean`` averages elements; ``sum`` sums them per example. A
        record's missing numeric cells do not count (`_present_numbers`)."""
        output = self.spec.output
        weights = self.spec.loss_weights
        if output.kind != "record":
            return weights.get(output.name, 1.0) * _numeric_loss(y, outputs, numeric_loss, reduce)
        total = 0.0
        if self.record_numeric:
            total = total + weights.get("numeric", 1.0) * _numeric_loss(
                y["numeric"], outputs["numeric"], numeric_loss, reduce, self._present_numbers(y)
            )
        for column, _ in self.record_categories:
            cross_entropy = keras.losses.sparse_categorical_crossentropy(
                ops.cast(y[column], "int32"), outputs[column], from_logits=True
            )
            total = total + weights.get(column, 1.0) * ops.mean(cross_entropy)
        return total

    def _present_numbers(self, y):
        """1 where a record's numeric cell holds a value, 0 where a nullable column's is missing
        (batch x numeric columns), or None when no numeric column is nullable.

        A missing cell is stored as its column's median beside the missing flag, and sampling
        throws the number away where the flag says missing: a loss that fitted that filler would
        spend the model on repeating it (docs/objectives.md).
        """
        output = self.spec.output
        if not any(column in output.nullable for column in output.numeric):
            return None
        rows = ops.shape(y["numeric"])[0]
        columns = [
            1.0 - ops.cast(ops.reshape(y[f"{column}_is_missing"], (-1,)), "float32")
            if column in output.nullable
            else ops.ones((rows,))
            for column in output.numeric
        ]
        return ops.stack(columns, axis=1)

    def target_representation(self, y):
        """The target as one tensor: records become numeric columns + one-hot blocks."""
        if self.spec.output.kind != "record":
            return ops.cast(y, "float32")
        parts = [ops.cast(y["numeric"], "float32")] if self.record_numeric else []
        for column, size in self.record_categories:
            parts.append(ops.one_hot(ops.cast(y[column], "int32"), size))
        return ops.concatenate(parts, axis=-1)

    def representation_shape(self) -> tuple[int, ...]:
        if self.spec.output.kind != "record":
            return tuple(self.plan.output_shape)
        return (self.record_numeric + sum(size for _, size in self.record_categories),)

    def split_representation(self, representation):
        """Inverse of `target_representation` for a record: numeric part and per-column blocks."""
        parts, start = {}, 0
        if self.record_numeric:
            parts["numeric"] = representation[:, : self.record_numeric]
            start = self.record_numeric
        for column, size in self.record_categories:
            parts[column] = representation[:, start : start + size]
            start += size
        return parts

    # -- sampling -------------------------------------------------------

    def sample_categories(self, outputs, seed_generator, temperature):
        """Draw each categorical column of a record from its logits (argmax at temperature 0)."""
        if not self.record_categories:
            return outputs
        outputs = dict(outputs)
        logits_of = {column: outputs[column] for column, _ in self.record_categories}
        # Labels drawn (or given) so far, for the pairs the training rows rule out and the label pairs'
        # calibration (`fusegen.objectives.pair_calibration`), which only a cvae measures.
        pairs = getattr(self, "pair_calibration", None)
        read = self.unseen_pairs.parts_read | (pairs.parts_read if pairs else set())
        known = self.unseen_pairs.pinned(logits_of, read) if read else {}
        one_hots = {}  # the drawn parts' indicators, which the label pairs' tables read
        for column in self.unseen_pairs.draw_order(self.record_categories, sequential=bool(pairs)):
            logits = outputs[column]
            shift = pairs.shift(column, known, one_hots) if pairs else None
            if shift is not None:  # a calibration of the logits, as the label shift before it
                logits = logits + shift
            if temperature > 0:
                logits = logits / temperature
            ruled_out = self.unseen_pairs.penalty(column, known) if self.unseen_pairs else None
            if ruled_out is not None:
                logits = logits + ruled_out
            if temperature <= 0:
                outputs[column] = ops.argmax(logits, axis=-1)
            else:
                drawn = keras.random.categorical(logits, 1, seed=seed_generator)
                outputs[column] = ops.reshape(drawn, (-1,))
            if column in known:
                known[column] = outputs[column]
        for group in getattr(self.spec.output, "missing_together", None) or []:
            # The first column's gap is drawn and the others copy it, where their own (excluded)
            # labels allow: a cell given, or one `impute` must fill, keeps its own.
            leader = outputs[f"{group[0]}_is_missing"]
            for column in group[1:]:
                part = f"{column}_is_missing"
                copied = ops.cast(leader, outputs[part].dtype)
                chosen = ops.take_along_axis(logits_of[part], ops.cast(copied, "int32")[:, None], axis=-1)[
                    :, 0
                ]
                outputs[part] = ops.where(chosen > ALLOWED_LOGIT, copied, outputs[part])
        return outputs

    def networks(self) -> dict[str, keras.Model]:
        """The functional networks that make up this objective, by file name."""
        return {"condition": self.condition_model, "decoder": self.decoder}

    def describe(self) -> dict:
        """The shape plan with each layer's parameters and each network's total, as ``fusegen inspect --json``."""
        networks = {name: network for name, network in self.networks().items() if network is not None}
        described = self.plan.to_dict(parameter_counts(*networks.values()))
        described["objective"] = {
            "type": self.spec.objective.type,
            "networks": {name: int(network.count_params()) for name, network in networks.items()},
        }
        described["num_parameters"] = sum(described["objective"]["networks"].values())
        return described

    # -- hooks the facade calls: each objective says what it needs ------

    #: Whether it trains under a tf.distribute strategy (``training.distribution``).
    supports_distribution: bool = True

    #: Whether its validation loss follows sample quality (a likelihood or an error), so that an
    #: automatic schedule may stop when it stops improving; a GAN's or a denoiser's does not.
    validation_tracks_quality: bool = False

    #: Whether it generates better from an average of its weights than from the last step's,
    #: so that ``training.ema_momentum: auto`` keeps one (a denoiser's last steps are noisy).
    averages_weights: bool = False

    #: Networks a run saved by an earlier fusegen may lack; they load as initialised (neutral).
    optional_networks: frozenset[str] = frozenset()
    #: The training rows (set by `fusegen.training` before `after_training`; the dataset may repeat them).
    training_rows: int | None = None

    def training_callbacks(self) -> list[keras.callbacks.Callback]:
        """Callbacks its training needs beside fusegen's own (e.g. a KL warm-up)."""
        return []

    def after_training(self, train, validation) -> None:
        """Anything it measures once trained, on the training (and validation) datasets; nothing by default."""

    def optimizers_and_variables(self) -> dict[str, tuple[keras.optimizers.Optimizer, list]]:
        """Every optimizer it trains with, by checkpoint name, with the variables each updates.

        A checkpoint saves and restores each optimizer's state under its
        name, and training builds each one's slots up front.
        """
        return {"optimizer": (self.optimizer, self.trainable_variables)}


def _numeric_loss(y, prediction, kind, reduce, counted=None):
    """``kind``'s loss per element, averaged (``mean``) or summed per example (``sum``); with
    ``counted`` (1 or 0 per element), over the counted elements only."""
    y = ops.cast(y, "float32")
    error = prediction - y
    if kind == "mae":
        per_element = ops.abs(error)
    elif kind == "huber":
        absolute = ops.abs(error)
        per_element = ops.where(absolute < 1.0, 0.5 * error**2, absolute - 0.5)
    else:
        per_element = ops.square(error)
    if counted is not None:
        per_element = per_element * counted
    if reduce == "sum":
        return ops.mean(ops.sum(ops.reshape(per_element, (ops.shape(per_element)[0], -1)), axis=-1))
    if counted is not None:
        return ops.sum(per_element) / ops.maximum(ops.sum(counted), 1.0)
    return ops.mean(per_element)
