"""Networks that read the target: the cvae posterior's and the cgan critic's encoders.

They see the output in model space: images in [0, 1], standardised
sequences and vectors, and records as numeric columns followed by one
(possibly soft) one-hot block per categorical column.
"""

from __future__ import annotations

import keras

from fusegen.models.heads.base import ceil_div


def build_target_encoder(target_shape: tuple[int, ...], units: int, name: str) -> keras.Model:
    """Target (image, sequence or vector) -> a vector of ``units``, downsampling maps first."""
    target = keras.Input(shape=target_shape, name="target")
    x = target
    if len(target_shape) == 3:
        for index, filters in enumerate((32, 64, 128)):
            if min(x.shape[1], x.shape[2]) < 2:
                break
            x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=f"conv_{index}")(x)
            x = keras.layers.LeakyReLU(0.2)(x)
    elif len(target_shape) == 2:
        for index, filters in enumerate((32, 64)):
            if x.shape[1] < 2:
                break
            x = keras.layers.Conv1D(filters, 4, strides=2, padding="same", name=f"conv_{index}")(x)
            x = keras.layers.LeakyReLU(0.2)(x)
    if len(x.shape) > 2:
        x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(units, name="project")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    return keras.Model(target, x, name=name)


def build_posterior(target_shape, fused_shape, units: list[int], latent_dim: int) -> keras.Model:
    """q(z | target, conditions): the mean and log-variance of the latent."""
    target = keras.Input(shape=target_shape, name="target")
    fused = keras.Input(shape=fused_shape, name="fused")
    x = keras.layers.Concatenate()(
        [build_target_encoder(target_shape, units[0], "posterior_target")(target), _as_vector(fused)]
    )
    for index, width in enumerate(units):
        x = keras.layers.Dense(width, activation="relu", name=f"dense_{index}")(x)
    mean = keras.layers.Dense(latent_dim, name="mean")(x)
    log_variance = keras.layers.Dense(latent_dim, kernel_initializer="zeros", name="log_variance")(x)
    return keras.Model({"target": target, "fused": fused}, [mean, log_variance], name="posterior")


def build_conditional_prior(fused_shape, units: list[int], latent_dim: int) -> keras.Model:
    """p(z | conditions): the mean and log-variance of the latent, given the fused conditions alone.

    Its outputs start at zero: training begins from the standard normal prior.
    """
    fused = keras.Input(shape=fused_shape, name="fused")
    x = _as_vector(fused)
    for index, width in enumerate(units):
        x = keras.layers.Dense(width, activation="relu", name=f"dense_{index}")(x)
    mean = keras.layers.Dense(latent_dim, kernel_initializer="zeros", name="mean")(x)
    log_variance = keras.layers.Dense(latent_dim, kernel_initializer="zeros", name="log_variance")(x)
    return keras.Model(fused, [mean, log_variance], name="prior")


def build_critic(target_shape, fused_shape, units: list[int]) -> keras.Model:
    """The cgan critic: target and encoded conditions, concatenated -> one score."""
    target = keras.Input(shape=target_shape, name="target")
    fused = keras.Input(shape=fused_shape, name="fused")
    x = keras.layers.Concatenate()(
        [build_target_encoder(target_shape, units[0], "critic_target")(target), _as_vector(fused)]
    )
    for index, width in enumerate(units):
        x = keras.layers.Dense(width, name=f"dense_{index}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    score = keras.layers.Dense(1, name="score")(x)
    return keras.Model({"target": target, "fused": fused}, score, name="critic")


def _as_vector(fused):
    if len(fused.shape) == 4:
        return keras.layers.GlobalAveragePooling2D()(fused)
    if len(fused.shape) == 3:
        return keras.layers.GlobalAveragePooling1D()(fused)
    return fused


def padded(size: int, levels: int) -> int:
    return ceil_div(size, 2**levels) * 2**levels


def record_condition_width(spec) -> int:
    """Width of the encoded masked record the decoder takes beside the fused inputs; 0 without
    ``conditioning.any_column``. It is one more branch, so it gets the fusion's common width."""
    return spec.fusion.width if spec.conditions_on_any_column() else 0


def build_record_condition(representation_width: int, num_features: int, width: int) -> keras.Model:
    """The visible cells of a record (model-space values, zero where hidden) and their flags -> a vector.

    The flags say which cells are hidden, which a zero value alone cannot (0 is a value).
    """
    values = keras.Input(shape=(representation_width,), name="values")
    visible = keras.Input(shape=(num_features,), name="visible")
    x = keras.layers.Concatenate()([values, visible])
    for index in range(2):
        x = keras.layers.Dense(width, activation="relu", name=f"dense_{index}")(x)
    encoded = keras.layers.Dense(width, name="project")(x)
    return keras.Model({"values": values, "visible": visible}, encoded, name="record_condition")
