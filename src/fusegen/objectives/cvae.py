"""The conditional VAE objective.

Training: the posterior q(z | target, conditions) gives a mean and a
log-variance; a latent drawn from it (reparameterised) and the fused
conditions are decoded; the loss is the reconstruction (summed over each
example's elements) plus ``kl_weight`` times the KL divergence to the
standard normal prior, the weight rising linearly over
``kl_warmup_epochs``. Sampling draws the latent from the prior, scaled by
the temperature; with ``observation_noise``, Gaussian noise at the
training error's scale is added to the decoded numbers, so that a sample is
drawn from the likelihood and not only its mean.
"""

from __future__ import annotations

import keras
from keras import ops

from fusegen.models.target_networks import build_posterior
from fusegen.objectives.base import (
    ObjectiveModel,
    compile_options,
    make_optimizer,
    per_replica,
    register_objective,
)
from fusegen.spec.objectives import CVAEObjective


@register_objective(CVAEObjective)
class ConditionalVAE(ObjectiveModel):
    # Runs from before observation noise have no noise network: a zero scale samples as they did.
    optional_networks = frozenset({"noise"})
    # Its loss is a negative log-likelihood bound: lower on held-out rows means a better model of them.
    validation_tracks_quality = True

    def add_parts(self, objective):
        self.latent_dim = objective.latent_dim
        self.posterior = build_posterior(
            self.representation_shape(), self.plan.fused_shape, objective.posterior_units, self.latent_dim
        )
        # Scales the KL term; the KL warm-up callback raises it from 0 to 1.
        self.kl_scale = self.add_weight(
            shape=(), initializer="ones" if objective.kl_warmup_epochs == 0 else "zeros",
            trainable=False, name="kl_scale",
        )  # fmt: skip
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.noise = None
        if adds_observation_noise(self.spec):
            # The noise scale is a one-weight network, so the run directory saves and loads it
            # with the other networks; `NoiseScale` sets it from each epoch's squared error.
            self.noise = keras.Sequential(
                [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros",
                                                       trainable=False, name="noise_scale")],
                name="noise",
            )  # fmt: skip
            self.squared_error_tracker = keras.metrics.Mean(name="squared_error")

    def compile_for_training(self, distributed: bool = False):
        self.compile(
            optimizer=make_optimizer(self.spec.training), **compile_options(self.spec.training, distributed)
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        fused = y_pred
        mean, log_variance = self.posterior(
            {"target": self.target_representation(y), "fused": self.fused_tensor(fused)}, training=training
        )
        noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        latent = mean + ops.exp(0.5 * log_variance) * noise
        outputs = self.decode(fused, latent, training=training)
        reconstruction = self.calibrated_reconstruction(y, outputs)
        if self.noise is not None:
            # The forecast error of the prior's centre (latent 0), not the posterior's reconstruction
            # error, which has seen the target: that is the spread a sample must carry.
            centre = self.decode(fused, ops.zeros_like(latent), training=training)
            self.squared_error_tracker.update_state(ops.mean(ops.square(centre - ops.cast(y, "float32"))))
        kl = ops.mean(-0.5 * ops.sum(1.0 + log_variance - ops.square(mean) - ops.exp(log_variance), axis=-1))
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return per_replica(reconstruction + self.spec.objective.kl_weight * self.kl_scale * kl)

    def calibrated_reconstruction(self, y, outputs):
        """Negative log-likelihood per example, with the numeric noise scale set to its optimum.

        A fixed unit-variance Gaussian makes a precise reconstruction cheap
        next to the KL term, and the posterior collapses to the mean (the
        "sigma-VAE" observation of Rybkin et al., 2021). With the variance at
        its maximum-likelihood value, the batch's mean squared error, the
        numeric NLL is D/2 * log(MSE) for D numeric elements per example
        (D * log(MAE) for the Laplace likelihood of ``numeric_loss: mae``).
        """
        output = self.spec.output
        weights = self.spec.loss_weights
        if output.kind != "record":
            numeric = {output.name: (y, outputs)}
        else:
            numeric = {"numeric": (y["numeric"], outputs["numeric"])} if self.record_numeric else {}
        total = 0.0
        for part, (target, prediction) in numeric.items():
            error = prediction - ops.cast(target, "float32")
            elements = 1
            for size in error.shape[1:]:
                elements *= size
            if self.spec.objective.numeric_loss == "mae":
                nll = elements * ops.log(ops.mean(ops.abs(error)) + 1e-6)
            else:
                nll = 0.5 * elements * ops.log(ops.mean(ops.square(error)) + 1e-6)
            total = total + weights.get(part, 1.0) * nll
        for column, _ in self.record_categories:
            cross_entropy = keras.losses.sparse_categorical_crossentropy(
                ops.cast(y[column], "int32"), outputs[column], from_logits=True
            )
            total = total + weights.get(column, 1.0) * ops.mean(cross_entropy)
        return total

    def generate(self, inputs, present, seed_generator, temperature=1.0):
        fused = self.conditions(inputs, present)
        batch = ops.shape(self.fused_tensor(fused))[0]
        latent = temperature * keras.random.normal((batch, self.latent_dim), seed=seed_generator)
        outputs = self.decode(fused, latent)
        if self.noise is not None:
            scale = self.noise.get_layer("noise_scale").kernel[0, 0]
            outputs = outputs + temperature * scale * keras.random.normal(
                ops.shape(outputs), seed=seed_generator
            )
        return self.sample_categories(outputs, seed_generator, temperature)

    def training_callbacks(self):
        # Without the warm-up the posterior tends to collapse before the decoder learns to use it.
        warmup = self.spec.objective.kl_warmup_epochs
        return ([KLWarmup(warmup)] if warmup else []) + ([NoiseScale()] if self.noise is not None else [])

    def networks(self):
        return {**super().networks(), "posterior": self.posterior, "noise": self.noise}


def adds_observation_noise(spec) -> bool:
    """Whether samples get the likelihood's noise: the objective's setting, or its 'auto' rule."""
    setting = spec.objective.observation_noise
    if setting == "auto":
        return spec.output.kind == "sequence" and bool(spec.inputs)
    return bool(setting) and spec.output.kind != "record"


class NoiseScale(keras.callbacks.Callback):
    """Set the cvae's noise scale to the root of the epoch's mean squared error (model space).

    The error is that of decoding the prior's centre, so the noise alone
    would give the spread of the forecast errors; the latent adds its own
    spread on top, which keeps the intervals on the wide side of calibrated.
    """

    def on_epoch_end(self, epoch, logs=None):
        error = float(self.model.squared_error_tracker.result())
        self.model.noise.get_layer("noise_scale").kernel.assign([[error**0.5]])


class KLWarmup(keras.callbacks.Callback):
    """Raise the cvae's KL weight linearly from 0 to 1 over the first epochs."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_scale.assign(min(1.0, epoch / self.epochs) if self.epochs else 1.0)
