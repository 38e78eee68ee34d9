"""The conditional GAN objective: Wasserstein with a gradient penalty (default) or hinge loss.

The generator is the planned condition model and decoder, with a noise
vector joined to the fused conditions. The critic reads the output (records
as numeric columns + Gumbel-softmax category blocks, so real one-hot and
generated blocks look alike) and its own encoding of the conditions,
concatenated. It takes ``critic_steps`` optimizer steps per generator step.

The training step uses `tf.GradientTape` (two optimizers, two losses), so
this objective runs on the TensorFlow backend; the others also run on JAX.
"""

from __future__ import annotations

import keras
from keras import ops

from fusegen.models import build_networks, plan_model
from fusegen.models.target_networks import build_critic
from fusegen.objectives.base import (
    ObjectiveModel,
    compile_options,
    make_optimizer,
    per_replica,
    register_objective,
    step_logs,
)
from fusegen.spec.objectives import CGANObjective

GUMBEL_TEMPERATURE = 0.2


@register_objective(CGANObjective)
class ConditionalGAN(ObjectiveModel):
    def add_parts(self, objective):
        self.noise_dim = objective.noise_dim
        # The critic encodes the conditions with its own copy of the branches and fusion.
        self.critic_condition = build_networks(plan_model(self.spec, self.vocabulary_sizes)).condition
        self.critic = build_critic(self.representation_shape(), self.plan.fused_shape, objective.critic_units)
        self.critic_optimizer = make_optimizer(self.spec.training, objective.critic_learning_rate, gan=True)
        self.critic_tracker = keras.metrics.Mean(name="critic_loss")
        self.generator_tracker = keras.metrics.Mean(name="generator_loss")

    def compile_for_training(self, distributed: bool = False):
        self.compile(
            optimizer=make_optimizer(self.spec.training, gan=True), **compile_options(self.spec.training)
        )
        self.critic_optimizer.build(self._critic_variables())

    def _critic_variables(self):
        return self.critic.trainable_variables + self.critic_condition.trainable_variables

    def _generator_variables(self):
        return self.condition_model.trainable_variables + self.decoder.trainable_variables

    def _critic_conditions(self, inputs, present, training):
        model_inputs = {name: inputs[name] for name in self.input_names}
        if self.plan.uses_presence:
            model_inputs["_present"] = present
        return self.fused_tensor(self.critic_condition(model_inputs, training=training))

    def _fake(self, inputs, present, training):
        fused = self.conditions(inputs, present, training=training)
        batch = ops.shape(self.fused_tensor(fused))[0]
        noise = keras.random.normal((batch, self.noise_dim), seed=self.seed_generator)
        outputs = self.decode(fused, noise, training=training)
        return self._soft_representation(outputs)

    def _soft_representation(self, outputs):
        if self.spec.output.kind != "record":
            return outputs
        parts = [outputs["numeric"]] if self.record_numeric else []
        for column, _ in self.record_categories:
            uniform = keras.random.uniform(
                ops.shape(outputs[column]), 1e-6, 1.0 - 1e-6, seed=self.seed_generator
            )
            gumbel = -ops.log(-ops.log(uniform))
            parts.append(ops.softmax((outputs[column] + gumbel) / GUMBEL_TEMPERATURE, axis=-1))
        return ops.concatenate(parts, axis=-1)

    def train_step(self, data):
        import tensorflow as tf

        inputs, targets = data
        real = self.target_representation(targets)
        batch = ops.shape(real)[0]
        present = self.training_presence(batch) if self.plan.uses_presence else None
        objective = self.spec.objective
        critic_variables = self._critic_variables()
        for _ in range(objective.critic_steps):
            with tf.GradientTape() as tape:
                fake = ops.stop_gradient(self._fake(inputs, present, training=True))
                conditions = self._critic_conditions(inputs, present, training=True)
                real_score = self.critic({"target": real, "fused": conditions}, training=True)
                fake_score = self.critic({"target": fake, "fused": conditions}, training=True)
                if objective.loss == "hinge":
                    critic_loss = ops.mean(ops.relu(1.0 - real_score)) + ops.mean(ops.relu(1.0 + fake_score))
                else:
                    critic_loss = ops.mean(fake_score) - ops.mean(real_score)
                    if objective.gradient_penalty_weight:
                        critic_loss += objective.gradient_penalty_weight * self._gradient_penalty(
                            real, fake, conditions
                        )
                # Inside the tape: under a strategy this divides by the replicas, and the
                # tape must record that division for the gradient to reach the variables.
                replica_loss = per_replica(critic_loss)
            gradients = tape.gradient(replica_loss, critic_variables)
            self.critic_optimizer.apply(gradients, critic_variables)
        generator_variables = self._generator_variables()
        with tf.GradientTape() as tape:
            fake = self._fake(inputs, present, training=True)
            conditions = self._critic_conditions(inputs, present, training=False)
            generator_loss = -ops.mean(self.critic({"target": fake, "fused": conditions}, training=False))
            replica_loss = per_replica(generator_loss)
        gradients = tape.gradient(replica_loss, generator_variables)
        self.optimizer.apply(gradients, generator_variables)
        self.critic_tracker.update_state(critic_loss)
        self.generator_tracker.update_state(generator_loss)
        self._loss_tracker.update_state(critic_loss)
        return step_logs({metric.name: metric.result() for metric in self.metrics})

    def _gradient_penalty(self, real, fake, conditions):
        import tensorflow as tf

        shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
        mix = keras.random.uniform(shape, seed=self.seed_generator)
        interpolated = mix * real + (1.0 - mix) * fake
        with tf.GradientTape() as tape:
            tape.watch(interpolated)
            score = self.critic({"target": interpolated, "fused": conditions}, training=True)
        gradient = tape.gradient(score, interpolated)
        norm = ops.sqrt(
            ops.sum(ops.reshape(ops.square(gradient), (ops.shape(gradient)[0], -1)), axis=-1) + 1e-12
        )
        # One-sided (Lipschitz) penalty of Petzka et al. (2018): only slopes
        # above 1 are penalised. The two-sided penalty puts a barrier at zero
        # slope that can trap a critic of a low-dimensional target with the
        # wrong sign, rewarding fake samples.
        return ops.mean(ops.square(ops.relu(norm - 1.0)))

    def test_step(self, data):
        inputs, targets = data
        real = self.target_representation(targets)
        fake = self._fake(inputs, None, training=False)
        conditions = self._critic_conditions(inputs, self._all_present(inputs), training=False)
        gap = ops.mean(self.critic({"target": real, "fused": conditions})) - ops.mean(
            self.critic({"target": fake, "fused": conditions})
        )
        # The critic's estimate of the Wasserstein distance: lower is better.
        self._loss_tracker.update_state(gap)
        return {"loss": self._loss_tracker.result()}

    def _all_present(self, inputs):
        if not self.plan.uses_presence:
            return None
        return ops.ones((ops.shape(inputs[self.input_names[0]])[0], len(self.input_names)))

    def generate(self, inputs, present, seed_generator, temperature=1.0):
        fused = self.conditions(inputs, present)
        batch = ops.shape(self.fused_tensor(fused))[0]
        noise = temperature * keras.random.normal((batch, self.noise_dim), seed=seed_generator)
        return self.sample_categories(self.decode(fused, noise), seed_generator, temperature)

    # Its own train_step (two optimizers) fails inside TensorFlow under MirroredStrategy
    # ("You must feed a value for placeholder tensor ... int32").
    supports_distribution = False

    def optimizers_and_variables(self):
        # The generator's optimizer is built on every variable, as Keras builds it: with a
        # weight average, fit() ends by finalising all of the model's variables through it.
        return {
            "optimizer": (self.optimizer, self.trainable_variables),
            "critic_optimizer": (self.critic_optimizer, self._critic_variables()),
        }

    def networks(self):
        return {**super().networks(), "critic": self.critic, "critic_condition": self.critic_condition}
