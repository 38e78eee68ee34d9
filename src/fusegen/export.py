"""``fusegen export``: the sampler as a TensorFlow SavedModel with a serving signature.

The exported ``serving_default`` signature takes the inputs in the user's
own terms (numbers, category and text strings, images, sensor windows) and
a ``seed``; it applies the fitted preprocessing, generates, and returns the
output in the user's terms too: a record's numeric columns (inverse
quantile or standard transform, rounded as in training) and its categorical
labels as strings, images in their value range, sequences and vectors in
their units. A numeric or sequence input with ``missing: impute`` or
``mask`` has its NaN filled with the fitted values (and, under ``mask``,
marked) as in training; other missing values are not imputed by the
SavedModel. The temperature is fixed at export time.

Example (after ``fusegen export runs/penguins --out penguins_savedmodel``):

>>> import tensorflow as tf                                          # doctest: +SKIP
>>> sampler = tf.saved_model.load("penguins_savedmodel")             # doctest: +SKIP
>>> sampler.signatures["serving_default"](                          # doctest: +SKIP
...     species=tf.constant(["Gentoo"]), bill=tf.constant([[46.0, 15.0]]), seed=tf.constant(3))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusegen.errors import FusegenError


def export_savedmodel(generator, path: str | Path, temperature: float = 1.0) -> Path:
    """Write ``generator``'s sampler to ``path`` as a SavedModel; returns the path."""
    import tensorflow as tf

    if not generator.plan_ or generator.preprocessor_ is None:
        raise FusegenError("export a trained generator: train it, or load its run directory.")
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise FusegenError(f"'{path}' exists and is not empty.", hint="choose a new --out folder.")
    module = _Sampler(generator, temperature)
    signature = module.sample.get_concrete_function()
    tf.saved_model.save(module, str(path), signatures={"serving_default": signature})
    return path


def _input_signature(generator):
    import tensorflow as tf

    specs = {}
    for name, branch in generator.plan_.branches.items():
        input_spec = generator.spec.inputs[name]
        if input_spec.kind == "categorical" or (input_spec.kind == "text" and input_spec.is_raw_text):
            specs[name] = tf.TensorSpec((None,), tf.string, name=name)
        else:
            shape = branch.input_shape
            if getattr(input_spec, "masks_missing", False):
                # The model's second half of features (or channels) is the mask, made from the NaN given.
                shape = (*shape[:-1], shape[-1] // 2)
            specs[name] = tf.TensorSpec((None, *shape), tf.float32, name=name)
    specs["seed"] = tf.TensorSpec((), tf.int64, name="seed")
    return specs


class _Sampler:
    """Builds the tf.Module lazily so importing this file does not import TensorFlow."""

    def __new__(cls, generator, temperature):
        import keras
        import tensorflow as tf

        preprocessor = generator.preprocessor_
        model = generator.model_
        spec = generator.spec
        plan = generator.plan_
        signature = _input_signature(generator)
        converters = {name: _input_transform(spec.inputs[name], preprocessor.inputs[name].get_state())
                      for name in plan.branches}  # fmt: skip
        output_transform = _output_transform(spec.output, preprocessor.output.get_state())

        class Sampler(tf.Module):
            def __init__(self):
                super().__init__(name="fusegen_sampler")
                self.model = model
                self.seed_generator = keras.random.SeedGenerator(0)
                # tf.Module tracks TensorFlow variables, not Keras's seed generator: keep its state visible.
                self.seed_state = self.seed_generator.state
                self.converters = converters
                # Lookup tables live in layers; tracking them exports their tables.
                self.lookups = [convert.layer for convert in converters.values() if hasattr(convert, "layer")]

            @tf.function(input_signature=[signature])
            def sample(self, inputs):
                # A fresh stream per call: the same seed gives the same samples.
                state = self.seed_generator.state
                state.assign(tf.cast(tf.stack([inputs["seed"], tf.constant(0, tf.int64)]), state.dtype))
                model_inputs = {name: self.converters[name](inputs[name]) for name in plan.branches}
                present = None
                if plan.uses_presence:
                    batch = tf.shape(next(iter(model_inputs.values())))[0]
                    present = tf.ones((batch, len(plan.branches)))
                outputs = self.model.generate(model_inputs, present, self.seed_generator, temperature)
                return output_transform(outputs)

        return Sampler()


def _input_transform(input_spec, state):
    """The fitted preprocessing of one input, in TensorFlow."""
    import tensorflow as tf

    kind = input_spec.kind
    if kind in ("numeric", "sequence"):
        mean = tf.constant(np.asarray(state["mean"], "float32"))
        std = tf.constant(np.asarray(state["std"], "float32"))
        if state.get("fill") is None:
            return lambda values: (values - mean) / std
        fill = tf.constant(np.asarray(state["fill"], "float32"))
        masks = input_spec.masks_missing

        def impute(values):
            missing = tf.math.is_nan(values)
            standardised = (tf.where(missing, fill, values) - mean) / std
            return tf.concat([standardised, tf.cast(missing, tf.float32)], axis=-1) if masks else standardised

        return impute
    if kind == "image":
        scale = float(state["scale"])
        return lambda values: values / scale
    if kind == "categorical":
        # The same ids as training: label i of the vocabulary is i + 1, unseen labels 0.
        lookup = tf.keras.layers.StringLookup(vocabulary=list(state["vocabulary"]), num_oov_indices=1)
        transform = lambda values: tf.cast(lookup(values), tf.int32)  # noqa: E731
        transform.layer = lookup
        return transform
    if input_spec.is_raw_text:
        import keras

        layer = keras.layers.TextVectorization(
            max_tokens=input_spec.max_tokens,
            output_sequence_length=input_spec.sequence_length,
            vocabulary=state["vocabulary"],
        )
        transform = lambda values: tf.cast(layer(values), tf.int32)  # noqa: E731
        transform.layer = layer
        return transform
    return lambda values: values


def _output_transform(output, state):
    """Model-space outputs -> the user's terms, in TensorFlow."""
    import tensorflow as tf

    if output.kind == "image":
        low, high = output.value_range

        def image(values):
            images = tf.clip_by_value(values, 0.0, 1.0) * (high - low) + low
            if output.dtype == "uint8":
                return {output.name: tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)}
            return {output.name: images}

        return image
    if output.kind in ("sequence", "vector"):
        mean = tf.constant(np.asarray(state["mean"], "float32"))
        std = tf.constant(np.asarray(state["std"], "float32"))
        return lambda values: {output.name: values * std + mean}

    def record(parts):
        result = {}
        for index, column in enumerate(output.numeric):
            result[column] = _inverse_numeric(parts["numeric"][:, index], state["numeric"][column])
            if column in output.nullable:
                missing = tf.cast(parts[f"{column}_is_missing"], tf.bool)
                result[column] = tf.where(missing, tf.constant(np.nan, tf.float64), result[column])
        for column in output.categorical:
            labels = tf.constant(np.asarray(state["vocabularies"][column], dtype=object).astype(str))
            result[column] = tf.gather(labels, tf.cast(parts[column], tf.int32))
        return result

    return record


def _inverse_numeric(values, state):
    import tensorflow as tf

    values = tf.cast(values, tf.float64)
    if "quantiles" in state:
        quantiles = tf.constant(np.asarray(state["quantiles"], "float64"))
        count = len(state["quantiles"])
        # Normal -> probability -> the training quantiles, interpolated as QuantileTransformer does.
        probability = 0.5 * tf.math.erfc(-values / np.sqrt(2.0))
        position = tf.clip_by_value(probability, 0.0, 1.0) * (count - 1)
        lower = tf.clip_by_value(tf.cast(tf.floor(position), tf.int32), 0, count - 1)
        upper = tf.minimum(lower + 1, count - 1)
        fraction = position - tf.cast(lower, tf.float64)
        restored = tf.gather(quantiles, lower) * (1 - fraction) + tf.gather(quantiles, upper) * fraction
    else:
        restored = values * state["std"] + state["mean"]
    restored = tf.clip_by_value(restored, state["low"], state["high"])
    if state["integer"]:
        return tf.round(restored)
    if state.get("step"):
        return tf.round(restored / state["step"]) * state["step"]
    if state.get("decimals") is not None:
        factor = 10.0 ** state["decimals"]
        return tf.round(restored * factor) / factor
    return restored
