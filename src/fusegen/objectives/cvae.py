"""The conditional VAE objective.

Training: the posterior q(z | target, conditions) gives a mean and a
log-variance; a latent drawn from it (reparameterised) and the fused
conditions are decoded; the loss is the reconstruction (summed over each
example's elements) plus ``kl_weight`` times the KL divergence to the
prior, the weight rising linearly over ``kl_warmup_epochs`` (the validation
loss always weighs the KL fully, so epochs compare). The prior is the
standard normal, or with ``prior: conditional`` a normal computed from the
fused conditions. Sampling draws the latent from the prior, scaled by the
temperature; with ``observation_noise``, Gaussian noise at the
training error's scale is added to the decoded numbers, so that a sample is
drawn from the likelihood and not only its mean. For a sequence the noise
has each channel's held-out error's autocorrelation over the steps (a
stationary Gaussian process): a model's error at one step persists or
oscillates into the next as the series does, and white noise would make
every path rougher than the series it continues.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from fusegen.data.record_cells import EXCLUDED_LOGIT
from fusegen.models.target_networks import build_conditional_prior, build_posterior
from fusegen.objectives.base import (
    ObjectiveModel,
    compile_options,
    make_optimizer,
    per_replica,
    register_objective,
)
from fusegen.objectives.interval_calibration import (
    CALIBRATION_PATHS,
    CALIBRATION_ROWS,
    calibrate_noise_scale,
)
from fusegen.objectives.linear_blend import LinearBlend, blends_linear_prediction
from fusegen.objectives.marginal_calibration import CALIBRATION_ROWS as MARGINAL_ROWS
from fusegen.objectives.marginal_calibration import MarginalCalibration
from fusegen.objectives.noise_shape import FIT_BUDGET, MIN_ROWS, NoiseShape, shapes_noise
from fusegen.objectives.pair_calibration import PairCalibration
from fusegen.objectives.record_conditioning import RecordConditioning
from fusegen.spec.names import CONTEXT_SCALE
from fusegen.spec.objectives import CVAEObjective

#: Rows per decoder call while the marginal maps are measured (see `_measure_marginals`).
MARGINAL_BATCH = 2048

#: A standard Gaussian's 0.9 quantile: its central 80% interval is +-1.2816.
CENTRAL_80_HALF_WIDTH = 1.2815516


@register_objective(CVAEObjective)
class ConditionalVAE(ObjectiveModel):
    # Runs from before observation noise have no noise network: a zero scale samples as they did.
    # (and runs from before correlated noise have no correlation network: white noise, as they did).
    # (and runs from before marginal calibration have no marginals network: the identity, as they did).
    # (and runs from before the conditional prior have no prior network: the standard normal).
    # (and runs from before the blend with the linear prediction have no linear_blend: weight 0).
    # (and runs from before per-step noise have no noise_shape: every step's scale 1).
    optional_networks = frozenset(
        {"noise", "noise_correlation", "noise_shape", "marginals", "label_pairs", "prior", "linear_blend"}
    )
    # Its loss is a negative log-likelihood bound: lower on held-out rows means a better model of them.
    validation_tracks_quality = True

    def add_parts(self, objective):
        self.latent_dim = objective.latent_dim
        self.posterior = build_posterior(
            self.representation_shape(), self.plan.joined_shape, objective.posterior_units, self.latent_dim
        )
        self.prior = None
        if objective.prior in ("conditional", "given_cells", "given_cells_fitted"):
            self.prior = build_conditional_prior(
                self.plan.joined_shape, objective.posterior_units, self.latent_dim
            )
        self.record_conditioning = None
        self.record_condition = None
        # Read when sampling is traced; a sampler may set another (rebalancing's 0, `TracedSampler`).
        self.given_cell_rounds = objective.given_cell_rounds
        if self.plan.record_condition_width:
            self.record_conditioning = RecordConditioning(
                self.record_numeric,
                self.record_categories,
                self.plan.record_condition_width,
                self.seed_generator,
            )
            self.record_condition = self.record_conditioning.network  # tracked, so it trains and saves
        # Scales the KL term; the KL warm-up callback raises it from 0 to 1.
        self.kl_scale = self.add_weight(
            shape=(), initializer="ones" if objective.kl_warmup_epochs == 0 else "zeros",
            trainable=False, name="kl_scale",
        )  # fmt: skip
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.prior_scale = sampling_prior_scale(self.spec)
        self.marginal_calibration = self.marginals = None
        numbers = objective.marginals == "all" and self.record_numeric > 0
        if self.spec.output.kind == "record" and (
            numbers or objective.marginals != "none" and self.record_categories
        ):
            self.marginal_calibration = MarginalCalibration(
                self.record_numeric, self.record_categories, numbers
            )
            self.marginals = self.marginal_calibration.network  # tracked, so it saves and loads
        self.pair_calibration = self.label_pairs = None
        if self.marginal_calibration is not None and objective.label_pairs == "calibrate":
            order = self.unseen_pairs.draw_order(self.record_categories, sequential=True)
            calibration = PairCalibration(dict(self.record_categories), order)
            if calibration:
                self.pair_calibration, self.label_pairs = calibration, calibration.network
        self.noise = None
        if adds_observation_noise(self.spec):
            # The noise scale is a one-weight network, so the run directory saves and loads it
            # with the other networks; `after_training` measures it.
            self.noise = keras.Sequential(
                [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros",
                                                       trainable=False, name="noise_scale")],
                name="noise",
            )  # fmt: skip
        self.noise_correlation = None
        if self.noise is not None and self.spec.output.kind == "sequence" and self.spec.output.steps > 1:
            # Each channel's error autocorrelation at lags 1 .. steps-1, measured with the scale
            # (all zero, as initialised or in a run from before it: white noise).
            lags = self.spec.output.channels * (self.spec.output.steps - 1)
            self.noise_correlation = keras.Sequential(
                [keras.Input((1,)), keras.layers.Dense(lags, use_bias=False, kernel_initializer="zeros",
                                                       trainable=False, name="autocorrelation")],
                name="noise_correlation",
            )  # fmt: skip
        self.step_noise = self.noise_shape = None
        if self.noise is not None and shapes_noise(self.spec):
            # Each step's scale relative to the mean, fitted after training (fusegen.objectives.noise_shape).
            self.step_noise = NoiseShape(self.spec)
            self.noise_shape = self.step_noise.network  # tracked, so it saves and loads
        self.blend = self.linear_blend = None
        if self.noise is not None and blends_linear_prediction(self.spec):
            # A forecast's centre leans on each window's linear prediction by a measured weight.
            self.blend = LinearBlend(self.spec)
            self.linear_blend = self.blend.network  # tracked, so it saves and loads

    def compile_for_training(self, distributed: bool = False):
        self.compile(
            optimizer=make_optimizer(self.spec.training), **compile_options(self.spec.training, distributed)
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        fused = y_pred
        target = self.target_representation(y)
        visible = None
        if self.record_conditioning is not None:
            # The batch trains the unconditional model as it is, and the conditionals as a copy that
            # shows a random subset of each row's own cells; only hidden cells are scored.
            fused, target, y, visible = self.record_conditioning.with_masked_copy(
                self.fused_tensor(fused), target, y
            )
            fused = self.with_record_cells(fused, target, visible)
        mean, log_variance = self.posterior(
            {"target": target, "fused": self.fused_tensor(fused)}, training=training
        )
        noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        latent = mean + ops.exp(0.5 * log_variance) * noise
        outputs = self.decode(fused, latent, training=training)
        reconstruction = self.calibrated_reconstruction(y, outputs, visible)
        gate = self._prior_gate(visible)
        kl = ops.mean(self._kl_to_prior(mean, log_variance, fused, training, gate))
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        # Held out, the loss is the whole bound at every epoch, so that early stopping compares like
        # with like: the warm-up's lighter KL weight would flatter the first epochs' validation loss
        # and keep weights whose posterior is still far from the prior that sampling draws from.
        kl_scale = self.kl_scale if training else 1.0
        loss = reconstruction + self.spec.objective.kl_weight * kl_scale * kl
        if self._fits_prior_beside() and training:
            loss = loss + self._prior_fit(mean, log_variance, fused, gate)
        return per_replica(loss)

    def _fits_prior_beside(self) -> bool:
        """Whether the prior network learns beside the model, which trains under N(0, I) (``given_cells_fitted``)."""
        return self.spec.objective.prior == "given_cells_fitted" and self.prior is not None

    def _prior_fit(self, mean, log_variance, fused, gate):
        """``given_cells_fitted``: KL(q(z | row, cells) || p(z | cells)) over the rows given some cells.

        Every input is held still, so the gradient reaches the prior network alone: the posterior,
        the decoder and the cells' encoder train exactly as under the standard prior. The prior
        network learns the Gaussian nearest the posterior's latents of rows that show those cells,
        which the decoder learned to read beside them.
        """
        held = ops.stop_gradient
        prior_mean, prior_log_variance = self.prior(held(self.fused_tensor(fused)), training=True)
        divergence = 0.5 * ops.sum(
            prior_log_variance
            - held(log_variance)
            + (ops.exp(held(log_variance)) + ops.square(held(mean) - prior_mean))
            / ops.exp(prior_log_variance)
            - 1.0,
            axis=-1,
        )
        weights = ops.squeeze(gate, axis=-1)
        return ops.sum(divergence * weights) / (ops.sum(weights) + 1e-6)

    def _prior_gate(self, visible):
        """Under ``prior: given_cells``, 1 for each row given at least one record cell and 0 for the rest,
        whose prior is then the standard normal; None (the prior as it is) under the other priors."""
        if self.spec.objective.prior not in ("given_cells", "given_cells_fitted") or visible is None:
            return None
        return ops.max(ops.cast(visible, "float32"), axis=-1, keepdims=True)

    def _prior(self, fused, training=False, gate=None):
        """The prior's mean and log-variance per row; rows with ``gate`` 0 get the standard normal's."""
        mean, log_variance = self.prior(self.fused_tensor(fused), training=training)
        if gate is not None:
            mean, log_variance = mean * gate, log_variance * gate
        return mean, log_variance

    def _kl_to_prior(self, mean, log_variance, fused, training=False, gate=None):
        """KL(q(z | target, conditions) || p(z)) per example, summed over the latent's dimensions."""
        if self.prior is None or self._fits_prior_beside():
            return -0.5 * ops.sum(1.0 + log_variance - ops.square(mean) - ops.exp(log_variance), axis=-1)
        prior_mean, prior_log_variance = self._prior(fused, training, gate)
        return 0.5 * ops.sum(
            prior_log_variance
            - log_variance
            + (ops.exp(log_variance) + ops.square(mean - prior_mean)) / ops.exp(prior_log_variance)
            - 1.0,
            axis=-1,
        )

    def prior_latent(self, fused, spread, gate=None):
        """Latents drawn from the prior for the conditions: ``spread`` (batch, latent_dim: 0 for its
        centre, a unit normal times the draw's scale for a draw) at the prior's own mean and scale
        (the standard normal's for rows whose ``gate``, from `_prior_gate`, is 0)."""
        if self.prior is None:
            return spread
        mean, log_variance = self._prior(fused, gate=gate)
        return mean + ops.exp(0.5 * log_variance) * spread

    def with_record_cells(self, fused, representation, visible):
        """The fused inputs joined with the encoded visible cells of the record (``conditioning.any_column``)."""
        cells = self.record_conditioning.encode(representation, visible)
        return ops.concatenate([self.fused_tensor(fused), cells], axis=-1)

    def calibrated_reconstruction(self, y, outputs, visible=None):
        """Negative log-likelihood per example, with the numeric noise scale set to its optimum.

        A fixed unit-variance Gaussian makes a precise reconstruction cheap
        next to the KL term, and the posterior collapses to the mean (the
        "sigma-VAE" observation of Rybkin et al., 2021). With the variance at
        its maximum-likelihood value, the batch's mean squared error, the
        numeric NLL is D/2 * log(MSE) for D numeric elements per example
        (D * log(MAE) for the Laplace likelihood of ``numeric_loss: mae``).

        A record's numeric columns each have a scale of their own by default
        (``objective.numeric_scale``: ``pooled``, halfway between the
        column's error and all columns'; ``per_column``, the column's own),
        and the NLL is the sum of each column's (1/2) log(scale): a column
        that the rest of the row predicts closely (a flight's arrival delay
        from its departure delay) is then priced nearer its own error than
        at the vague columns' rate (docs/objectives.md).

        With ``visible`` (the record cells shown as conditions), only the
        hidden cells count: D is the mean count of hidden numeric cells per
        example, and the scale their mean error. A missing cell of a nullable
        number never counts: its value is a filler (the column's median) that
        sampling throws away, and fitting it would spend the latent on
        repeating that filler and shrink the column's scale to the filler's
        exactness, the more so the more cells are missing.
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
            if output.kind == "record":
                present = self._present_numbers(y)
                total = total + weights.get(part, 1.0) * self._record_numeric_nll(error, visible, present)
                continue
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
            if visible is not None:
                cross_entropy = cross_entropy * self.record_conditioning.hidden_part(visible, column)
            total = total + weights.get(column, 1.0) * ops.mean(cross_entropy)
        return total

    def _record_numeric_nll(self, error, visible=None, present=None):
        """The NLL of a record's numeric columns (``error``: batch x columns) at the maximum-likelihood
        scale: shared, per column, or each column's pooled with the shared one; with ``visible``, of
        the hidden cells only; with ``present``, of the cells that hold a value only."""
        mae = self.spec.objective.numeric_loss == "mae"
        deviation = ops.abs(error) if mae else ops.square(error)
        if visible is None:
            counted = ops.ones_like(deviation)
        else:
            counted = self.record_conditioning.hidden_numeric(visible)
        if present is not None:
            counted = counted * present
        rows = ops.cast(ops.shape(counted)[0], "float32")
        count = ops.sum(counted, axis=0)  # per column
        total = ops.sum(counted * deviation, axis=0)
        shared = ops.sum(total) / (ops.sum(count) + 1e-6)
        mode = self.spec.objective.numeric_scale
        if mode == "shared":
            scale, cells = shared, ops.sum(count) / rows
        else:
            scale, cells = total / (count + 1e-6), count / rows
            if mode == "pooled":
                # Halfway to the shared scale: no column's weight passes twice the shared one's.
                scale = 0.5 * (scale + shared)
        return (1.0 if mae else 0.5) * ops.sum(cells * ops.log(scale + 1e-6))

    def generate(self, inputs, present, seed_generator, temperature=1.0):
        fused = self.conditions(inputs, present)
        batch = ops.shape(self.fused_tensor(fused))[0]
        gate = None
        if self.record_conditioning is not None:
            cells, visible = self.record_conditioning.given(inputs, batch)
            fused, gate = self.with_record_cells(fused, cells, visible), self._prior_gate(visible)
        spread = (
            temperature
            * self.prior_scale
            * keras.random.normal((batch, self.latent_dim), seed=seed_generator)
        )
        outputs = self.decode(fused, self.prior_latent(fused, spread, gate))
        if self.record_conditioning is not None and self.given_cell_rounds:
            outputs = self._redraw_given_rows(
                fused, outputs, cells, visible, inputs, seed_generator, temperature
            )
        # The centre (latent 0) costs a second decoder call, made only where the blend has a weight
        # (most forecasts measure 0) or the noise's shape reads it; otherwise nothing does.
        needs_centre = self.blend is not None and self.blend.weight > 0
        if self.step_noise is not None:
            needs_centre = ops.logical_or(needs_centre, self.step_noise.reads_centre())
        centre = outputs
        if self.blend is not None or self.step_noise is not None:
            centre = ops.cond(needs_centre, lambda: self._centre(fused), lambda: outputs)
        if self.blend is not None:
            outputs = outputs + ops.cond(
                self.blend.weight > 0,
                lambda: self._blend_shift(fused, centre),
                lambda: ops.zeros_like(outputs),
            )
        if self.noise is not None:
            scale = self.noise.get_layer("noise_scale").kernel[0, 0]
            noise = keras.random.normal(ops.shape(outputs), seed=seed_generator)
            if self.noise_correlation is not None:
                noise = self._correlated_over_steps(noise)
            units = self._window_units(fused)
            if self.step_noise is not None:
                units = units * self.step_noise.scale(fused, centre, units)
            outputs = outputs + temperature * scale * units * noise
        if self.marginal_calibration is not None:
            outputs = self.marginal_calibration.apply(outputs)
        if self.record_conditioning is not None:
            outputs = self.record_conditioning.exclude_labels(outputs, inputs)
        return self.sample_categories(outputs, seed_generator, temperature)

    def _redraw_given_rows(self, fused, outputs, cells, visible, inputs, seed_generator, temperature):
        """Pseudo-Gibbs sampling (Rezende, Mohamed and Wierstra, 2014) of the labels of rows given some
        cells, beside the numbers of their first draw.

        A first draw decodes a prior latent beside the given cells, and a decoder trained mostly on
        posterior latents reads a row's columns from the latent more than from the cells: given a
        maker (mfr_name), epa2012's first draws had one of its own divisions in 35% of rows. Each
        round shows the drawn row, its given cells as given, to the posterior, and draws the labels
        again from the latent that comes back: the latent moves to where rows with those cells put
        it. The numbers stay the first draw's, and the posterior sees them in every round, so the
        labels come to fit them too. A number decoded from the posterior's latent is a
        reconstruction, narrower than a draw: fed back round after round, hotel_rates' lead times
        given a market segment shrank from a median of 34 days (39 in the data) to 1; and numbers
        decoded beside every label lean on the labels and lose the latent's spread (penguins' body
        masses given a species: KS 0.12 from the first draw, 0.19 so).

        Rows given no cell keep their first draw, and a batch with none runs no round: unconditional
        samples are unchanged.
        """
        given = ops.max(ops.cast(visible, "float32"), axis=-1, keepdims=True) > 0
        conditioning = self.record_conditioning

        def one_round(_, row):
            redrawn = self._redraw_from_posterior(
                fused, row, cells, visible, inputs, seed_generator, temperature
            )
            drawn = self.sample_categories(
                conditioning.exclude_labels(redrawn, inputs), seed_generator, temperature
            )
            return {**drawn, **({"numeric": row["numeric"]} if self.record_numeric else {})}

        def rounds():
            first = self.sample_categories(
                conditioning.exclude_labels(outputs, inputs), seed_generator, temperature
            )
            # A loop, not the rounds unrolled: the traced graph holds one round's calls for all of them.
            drawn = ops.fori_loop(0, self.given_cell_rounds, one_round, first)
            result = dict(outputs)
            for part, size in self.record_categories:
                # The label the rounds settled on, as logits that draw it again.
                result[part] = (1.0 - ops.one_hot(ops.cast(drawn[part], "int32"), size)) * EXCLUDED_LOGIT
            return {name: ops.where(given, result[name], value) for name, value in outputs.items()}

        return ops.cond(ops.any(given), rounds, lambda: dict(outputs))

    def _redraw_from_posterior(self, fused, row, cells, visible, inputs, seed_generator, temperature):
        """The decoder's outputs at a latent the posterior draws for ``row`` (a drawn row: numbers and
        label ids) with its given cells as given."""
        row = self.record_conditioning.with_given_cells(self.target_representation(row), cells, visible)
        mean, log_variance = self.posterior({"target": row, "fused": self.fused_tensor(fused)})
        noise = keras.random.normal(ops.shape(mean), seed=seed_generator)
        return self.decode(fused, mean + temperature * ops.exp(0.5 * log_variance) * noise)

    def _centre(self, fused):
        """The decoder's output at the prior's centre: each row's forecast without the latent's spread."""
        shape = (ops.shape(self.fused_tensor(fused))[0], self.latent_dim)
        return self.decode(fused, self.prior_latent(fused, ops.zeros(shape)))

    def _blend_shift(self, fused, centre=None):
        """What each row's paths move by toward its linear prediction (`fusegen.objectives.linear_blend`)."""
        centre = self._centre(fused) if centre is None else centre
        return self.blend.shift(fused, centre, self.decoder.get_layer("unscale_output"))

    def _measure_blend(self, validation) -> None:
        """Set the blend weight from up to `CALIBRATION_ROWS` held-out rows, in each window's units."""
        unscale = self.decoder.get_layer("unscale_output")
        centres, predictions, targets, rows = [], [], [], 0
        for inputs, batch_targets in validation:
            fused = self.conditions(inputs)
            units = self._window_units(fused)
            centres.append(ops.convert_to_numpy(self._centre(fused) / units))
            predictions.append(ops.convert_to_numpy(self.blend.predictions(fused, unscale) / units))
            targets.append(ops.convert_to_numpy(ops.cast(batch_targets, "float32") / units))
            rows += len(centres[-1])
            if rows >= CALIBRATION_ROWS:
                break
        self.blend.measure(np.concatenate(centres), np.concatenate(predictions), np.concatenate(targets))

    def _window_units(self, fused):
        """What one unit of noise is worth in each window: 1, or for a channel generated in its
        context's units (``output.context_scaling``), that window's scale (times the learned gain).

        A forecast's error grows with the swing of the series it continues, so the noise is
        measured and drawn in those units: a quiet window gets narrow intervals, a wild one wide.
        """
        if not isinstance(fused, dict) or CONTEXT_SCALE not in fused:
            return 1.0
        gain = ops.abs(self.decoder.get_layer("unscale_output").gain)
        return fused[CONTEXT_SCALE][:, 1:2, :] * gain

    def _correlated_over_steps(self, white):
        """``white`` (batch, steps, channels) given each channel's measured autocorrelation over the steps.

        The covariance over the steps is the Toeplitz matrix of the
        autocorrelation (ones on the diagonal, so each step keeps unit
        variance); its Cholesky factor mixes the white noise.
        """
        steps, channels = self.spec.output.steps, self.spec.output.channels
        lags = ops.reshape(self.noise_correlation.get_layer("autocorrelation").kernel, (channels, steps - 1))
        correlation = ops.concatenate([ops.ones((channels, 1)), lags], axis=1)  # lags 0 .. steps-1
        index = ops.arange(steps)
        distance = ops.abs(index[:, None] - index[None, :])  # (steps, steps)
        covariance = ops.take(correlation, distance, axis=1)  # (channels, steps, steps), Toeplitz
        jitter = 1e-4 * ops.eye(steps)[None]  # keeps the factorisation stable for a near-singular one
        mixing = ops.cholesky((covariance + jitter) / (1.0 + 1e-4))
        return ops.einsum("cts,bsc->btc", mixing, white)

    def training_callbacks(self):
        # Without the warm-up the posterior tends to collapse before the decoder learns to use it.
        warmup = self.spec.objective.kl_warmup_epochs
        return [KLWarmup(warmup)] if warmup else []

    def after_training(self, train, validation) -> None:
        """Measure the noise scale on held-out rows (the training rows when there are none).

        A sample's spread around the prior's centre (its mean) is the
        latent's plus the noise's, and it should match the centre's error on
        rows the model did not fit, so the noise's variance is that error's
        less the latent's own spread (never below 0), in model space.

        The error's scale is the one at which a Gaussian's central 80%
        interval holds 80% of the held-out errors: ``q0.8(|error|) / 1.2816``.
        For Gaussian errors that is their RMS; where a few errors are huge
        (a forecast across a public holiday), the RMS would widen every
        interval for the sake of those few, and the 80% intervals of
        ordinary days would hold 90% or more. For a sequence output with
        held-out rows, that scale is then only the first guess of
        `calibrate_noise_scale`, which draws the paths and keeps the scale at
        which their 80% interval holds 80% of the held-out values.
        """
        if self.marginal_calibration is not None:
            self._measure_marginals(train)
        if self.noise is None:
            return
        if self.blend is not None and validation is not None:
            # First, so that the noise is measured and calibrated around the blended centre.
            self._measure_blend(validation)
        held_out = validation if validation is not None else train
        if self.step_noise is not None:
            # Before the scale: the scale and the correlation are measured in units of each step's own.
            self._measure_noise_shape(held_out)
        seed = keras.random.SeedGenerator(0)
        errors, spread, count = [], 0.0, 0.0
        products = squares = 0.0  # per channel: sums of e_t e_(t+k) for each lag k, and of e_t^2
        for inputs, targets in held_out:
            fused = self.conditions(inputs)
            shape = (ops.shape(self.fused_tensor(fused))[0], self.latent_dim)
            centre = self._centre(fused)
            drawn = self.decode(fused, self.prior_latent(fused, keras.random.normal(shape, seed=seed)))
            units = self._window_units(fused)
            if self.step_noise is not None:
                units = units * self.step_noise.scale(fused, centre, units)
            if self.blend is not None:
                shift = self._blend_shift(fused, centre)
                centre, drawn = centre + shift, drawn + shift
            residual = (ops.cast(targets, "float32") - centre) / units
            errors.append(np.abs(ops.convert_to_numpy(residual)).ravel())
            spread += float(ops.sum(ops.square((drawn - centre) / units)))
            count += float(ops.size(centre))
            if self.noise_correlation is not None:
                steps = self.spec.output.steps
                lagged = [
                    ops.sum(residual[:, lag:] * residual[:, : steps - lag], axis=(0, 1))
                    for lag in range(1, steps)
                ]
                products = products + ops.stack(lagged, axis=1)  # (channels, steps - 1)
                squares = squares + ops.sum(ops.square(residual), axis=(0, 1))
        error = float(np.quantile(np.concatenate(errors), 0.8)) / CENTRAL_80_HALF_WIDTH if errors else 0.0
        scale = max(error**2 - spread / max(count, 1.0), 0.0) ** 0.5
        self.noise.get_layer("noise_scale").kernel.assign([[scale]])
        if self.noise_correlation is not None:
            # The biased estimator (every lag over all the steps' squares) keeps the Toeplitz
            # covariance positive semi-definite, as a sample autocorrelation must be.
            correlation = products / (squares[:, None] + 1e-12)
            self.noise_correlation.get_layer("autocorrelation").kernel.assign(
                ops.reshape(correlation, (1, -1))
            )
        if self.spec.output.kind == "sequence" and validation is not None:
            # The sum of two spreads is only a first guess: draw the paths and match their coverage.
            scale = calibrate_noise_scale(*self._held_out_paths(validation), initial=scale)
            self.noise.get_layer("noise_scale").kernel.assign([[scale]])

    def _measure_marginals(self, train):
        """Draw `MARGINAL_ROWS` records as unconditional sampling does (every input absent where the
        model was trained to do without, no record cell given), one beside each training row (the
        training batches repeated as often as that takes), and measure the maps that take the
        draws' column distributions to the rows' (``objective.marginals``)."""
        seed, rng = keras.random.SeedGenerator(2), np.random.default_rng(2)
        generated, data, generated_present, data_present, rows = [], [], [], [], 0
        # The logits of the parts whose pairs are calibrated, for `_measure_label_pairs`.
        pairs = self.pair_calibration
        paired = sorted(set(pairs.earlier) | pairs.parts_read) if pairs is not None else []
        logits = []
        # As many draws for a small table as for a large one: the draws' quantiles are estimates,
        # and from 3,000 draws a map's noise moved a conditional share by 0.04 between seeds. Eagerly,
        # a decoder call costs its ops' dispatch whatever its batch, so the draws go in large ones.
        for inputs, targets in train.repeat().rebatch(MARGINAL_BATCH):
            batch = int(ops.shape(targets[next(iter(targets))])[0])
            present = ops.zeros((batch, len(self.input_names))) if self.plan.uses_presence else None
            fused = self.conditions(inputs, present)
            gate = None
            if self.record_conditioning is not None:
                cells, visible = self.record_conditioning.given({}, batch)
                fused, gate = self.with_record_cells(fused, cells, visible), self._prior_gate(visible)
            # Drawn at the sampling prior's scale, so the maps fit the draws that sampling makes.
            spread = self.prior_scale * keras.random.normal((batch, self.latent_dim), seed=seed)
            decoded = self.decode(fused, self.prior_latent(fused, spread, gate))
            parts = {part: ops.convert_to_numpy(value) for part, value in decoded.items()}
            logits.append({part: parts[part] for part in paired})
            if self.unseen_pairs:
                # The shares of the labels as drawn: one part after another, pairs ruled out.
                parts.update(self.unseen_pairs.draw_probabilities(parts, self.record_categories, rng))
            else:
                for part, size in self.record_categories:
                    # A column of one label (a constant) has probability 1; Keras warns of a softmax over one.
                    probabilities = (
                        ops.softmax(decoded[part], axis=-1) if size > 1 else ops.ones_like(decoded[part])
                    )
                    parts[part] = ops.convert_to_numpy(probabilities)
            generated.append(parts)
            data.append({part: np.asarray(value) for part, value in targets.items()})
            flags = [f"{name}_is_missing" for name in self.spec.output.numeric]
            if self.record_numeric:
                # A nullable number counts where it is there: in a draw, where its flag is drawn so.
                generated_present.append(np.stack([
                    rng.random(batch) >= parts[flag][:, 1] if flag in parts else np.ones(batch, bool)
                    for flag in flags
                ], axis=1))  # fmt: skip
                data_present.append(np.stack([
                    data[-1][flag] == 0 if flag in parts else np.ones(batch, bool) for flag in flags
                ], axis=1))  # fmt: skip
            rows += batch
            if rows >= MARGINAL_ROWS:
                break

        def joined(batches):
            return {part: np.concatenate([batch[part] for batch in batches]) for part in batches[0]}

        self.marginal_calibration.measure(
            joined(generated),
            joined(data),
            np.concatenate(generated_present) if generated_present else None,
            np.concatenate(data_present) if data_present else None,
        )
        if paired:
            data = joined(data)
            self._measure_label_pairs(joined(logits), {part: data[part] for part in paired}, rng)

    def _measure_label_pairs(self, logits_of: dict, data_ids: dict, rng) -> None:
        """Fit the label pairs' tables (`fusegen.objectives.pair_calibration`) on the draws that
        measured the label shift, their logits shifted as sampling shifts them and their labels drawn
        in sampling's order, pairs ruled out."""
        shifts = self.marginal_calibration.label_shifts()
        order = [
            part
            for part in self.unseen_pairs.draw_order(self.record_categories, sequential=True)
            if part in logits_of
        ]
        uniforms = rng.random((len(next(iter(logits_of.values()))), len(order)))

        def logits_for(part, known):
            return self.unseen_pairs.ruled_out(part, logits_of[part] + shifts[part], known)

        self.pair_calibration.measure(
            order, logits_for, data_ids, uniforms, self.training_rows or len(uniforms)
        )

    def _measure_noise_shape(self, held_out) -> None:
        """Fit each step's noise scale (`fusegen.objectives.noise_shape`) to the held-out errors of the
        (blended) centre, in window units, on as many rows as `FIT_BUDGET` features allow."""
        budget = max(MIN_ROWS, FIT_BUDGET // (self.spec.output.steps * self.step_noise.width))
        levels, values, errors, rows = [], [], [], 0
        for inputs, targets in held_out:
            fused = self.conditions(inputs)
            centre = self._centre(fused)
            units = self._window_units(fused)
            level, step_values = self.step_noise.features(fused, centre, units)
            levels.append(ops.convert_to_numpy(level))
            if step_values is not None:
                values.append(ops.convert_to_numpy(step_values))
            if self.blend is not None:
                centre = centre + self._blend_shift(fused, centre)
            errors.append(ops.convert_to_numpy((ops.cast(targets, "float32") - centre) / units))
            rows += len(errors[-1])
            if rows >= budget:
                break
        self.step_noise.fit(
            np.concatenate(levels)[:budget],
            np.concatenate(values)[:budget] if values else None,
            np.concatenate(errors)[:budget],
        )

    def _held_out_paths(self, validation):
        """For up to `CALIBRATION_ROWS` held-out rows: each path's decoded centre and its unit noise
        (each ``(rows, paths, steps, channels)``) and the targets, for `calibrate_noise_scale`."""
        seed = keras.random.SeedGenerator(1)
        centres, noises, targets, rows = [], [], [], 0
        for inputs, batch_targets in validation:
            fused = self.conditions(inputs)
            batch = int(ops.shape(self.fused_tensor(fused))[0])
            # Every row repeated once per path, so that one decoder call draws all its paths.
            repeated = keras.tree.map_structure(
                lambda tensor: ops.repeat(tensor, CALIBRATION_PATHS, 0), fused
            )
            spread = keras.random.normal((batch * CALIBRATION_PATHS, self.latent_dim), seed=seed)
            drawn = self.decode(repeated, self.prior_latent(repeated, spread))
            centre = self._centre(fused) if self.blend is not None or self.step_noise is not None else None
            if self.blend is not None:
                drawn = drawn + ops.repeat(self._blend_shift(fused, centre), CALIBRATION_PATHS, 0)
            noise = keras.random.normal(ops.shape(drawn), seed=seed)
            if self.noise_correlation is not None:
                noise = self._correlated_over_steps(noise)
            if self.step_noise is not None:
                row_shape = self.step_noise.scale(fused, centre, self._window_units(fused))
                noise = noise * ops.repeat(row_shape, CALIBRATION_PATHS, 0)
            noise = noise * self._window_units(repeated)
            shape = (batch, CALIBRATION_PATHS, *ops.shape(drawn)[1:])
            centres.append(ops.convert_to_numpy(ops.reshape(drawn, shape)))
            noises.append(ops.convert_to_numpy(ops.reshape(noise, shape)))
            targets.append(np.asarray(ops.convert_to_numpy(batch_targets), "float32"))
            rows += batch
            if rows >= CALIBRATION_ROWS:
                break
        return np.concatenate(centres), np.concatenate(noises), np.concatenate(targets)

    def describe(self) -> dict:
        described = super().describe()
        if self.blend is not None:
            # Measured after training (0 until then): how far the forecast's centre leans on the prediction.
            described["objective"]["linear_blend_weight"] = round(float(self.blend.weight), 4)
        return described

    def networks(self):
        return {
            **super().networks(),
            "posterior": self.posterior,
            "prior": self.prior,
            "record_condition": self.record_condition,
            "noise": self.noise,
            "noise_correlation": self.noise_correlation,
            "noise_shape": self.noise_shape,
            "marginals": self.marginals,
            "label_pairs": self.label_pairs,
            "linear_blend": self.linear_blend,
        }


#: The latent draws' scale for a record output under ``prior_scale: auto``. On ten tables (seven of
#: the tabular suite's eight and three more; docs/objectives.md) 1.1 raised SDMetrics quality on every
#: one against 1.0, and 1.2-1.25 lowered it on some (titanic, default).
RECORD_PRIOR_SCALE = 1.1


def sampling_prior_scale(spec) -> float:
    """The latent draws' standard deviation at temperature 1: the objective's setting, or its 'auto' rule."""
    setting = spec.objective.prior_scale
    if setting == "auto":
        return RECORD_PRIOR_SCALE if spec.output.kind == "record" else 1.0
    return float(setting)


def adds_observation_noise(spec) -> bool:
    """Whether samples get the likelihood's noise: the objective's setting, or its 'auto' rule."""
    setting = spec.objective.observation_noise
    if setting == "auto":
        return spec.output.kind == "sequence" and bool(spec.inputs)
    return bool(setting) and spec.output.kind != "record"


class KLWarmup(keras.callbacks.Callback):
    """Raise the cvae's KL weight linearly from 0 to 1 over the first epochs."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_scale.assign(min(1.0, epoch / self.epochs) if self.epochs else 1.0)
