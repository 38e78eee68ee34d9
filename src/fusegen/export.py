"""``fusegen export``: the sampler as a TensorFlow SavedModel with a serving signature.

The exported ``serving_default`` signature takes the inputs in the user's
own terms (numbers, category and text strings, float32 images at the spec's
size in the data's value range, sensor windows as the data holds them, any
``select`` applied inside) and a ``seed`` (int64), and returns the output in
the user's terms. It holds no
conversion of its own: each input goes through its converter's
``tf_transform`` and the output through the output converter's
``tf_inverse`` (`fusegen.data.preprocessing`), the very functions that
``Generator.sample`` runs, so for the same seed it returns ``sample()``'s
outputs (``tests/test_export_parity.py``):

- a record: numeric columns as float64 in the data's units and resolution
  (integer columns whole, datetime columns as seconds since 1970), NaN where
  a nullable column is missing; categorical columns as their labels, an
  empty string where a nullable column is missing;
- images in their value range and dtype; sequences (clipped to the training
  range under the output's ``clip``) and vectors in their units.

Inputs are filled as in training: NaN in a numeric or sequence input with
``missing: impute`` or ``mask`` (and, under ``mask``, marked), an empty
label or text under ``missing: impute``; an unseen label gets the
out-of-vocabulary id, as ``predict()`` gives it. A record generator that
learned to go without inputs (``conditioning.modality_dropout``) goes
without an input in a row that lacks one of its cells, as ``sample()``
does. With ``conditioning.any_column``, an input's columns of the record
are also given cells, as ``sample()`` gives them: they steer the rest of
the row (with the ``given_cell_rounds``) and come back as given; an empty,
NaN cell is generated, and a label training never saw is refused (an
``InvalidArgumentError`` naming the column and the labels), as ``sample()``
refuses it. A sequence input cut from ``data.windows`` takes one window per
row, as the data's windows hold it (or its context alone, where the input
reads a window's first steps); any other length is refused rather than read
from its start. The SavedModel does not check numeric ranges as ``sample()``
does, and takes no record columns beyond the inputs' (sample them with
``fusegen sample``). ``sample()`` draws
``batch_size`` rows at a time, so for more rows than that its draws (and
outputs) differ from one SavedModel call's. A generator without inputs takes
``num_samples`` instead. The temperature is fixed at export time.

Example (after ``fusegen export runs/penguins --out penguins_savedmodel``):

>>> import tensorflow as tf                                          # doctest: +SKIP
>>> sampler = tf.saved_model.load("penguins_savedmodel")             # doctest: +SKIP
>>> sampler.signatures["serving_default"](                          # doctest: +SKIP
...     species=tf.constant(["Gentoo"]), bill=tf.constant([[46.0, 15.0]]), seed=tf.constant(3, tf.int64))
"""

from __future__ import annotations

from pathlib import Path

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


class _Sampler:
    """Builds the tf.Module lazily so importing this file does not import TensorFlow."""

    def __new__(cls, generator, temperature):
        import keras
        import tensorflow as tf

        from fusegen.data.record_cells import tf_given_cells
        from fusegen.objectives.ensemble import generate_in_turn
        from fusegen.spec.names import RECORD_EXCLUDED, RECORD_VALUES, RECORD_VISIBLE

        preprocessor = generator.preprocessor_
        models = generator.ensemble()
        plan = generator.plan_
        output_name = generator.spec.output.name
        # The inputs the user gives; other branches (an unconditional model's constant) get zeros.
        converters = {
            name: preprocessor.inputs[name] for name in plan.branches if name in preprocessor.inputs
        }
        signature = {name: converter.tf_input_spec() for name, converter in converters.items()}
        if not converters:
            signature["num_samples"] = tf.TensorSpec((), tf.int64, name="num_samples")
        signature["seed"] = tf.TensorSpec((), tf.int64, name="seed")
        # As Generator.sample flags them: 1 for each input given, 0 for any other branch.
        present_flags = [[1.0 if name in converters else 0.0 for name in plan.branches]]
        record_cells = _record_cells_of_inputs(generator, converters)
        windows = generator.spec.data.windows if generator.spec.data is not None else None
        window = windows.length if windows is not None else None
        vocabularies = getattr(preprocessor.output, "vocabularies", {})

        class Sampler(tf.Module):
            def __init__(self):
                super().__init__(name="fusegen_sampler")
                self.models = models
                self.seed_generator = keras.random.SeedGenerator(0)
                # tf.Module tracks TensorFlow variables, not Keras's seed generator: keep its state visible.
                self.seed_state = self.seed_generator.state
                # Lookup tables and text layers live in the converters; tracking them exports their tables.
                self.resources = [resource for converter in converters.values()
                                  for resource in converter.tf_resources]  # fmt: skip

            @tf.function(input_signature=[signature])
            def sample(self, inputs):
                # A fresh stream per call, [seed, 0] as Generator.sample starts: the same seed, the same draws.
                state = self.seed_generator.state
                state.assign(tf.cast(tf.stack([inputs["seed"], tf.constant(0, tf.int64)]), state.dtype))
                inputs = dict(inputs)
                for name, converter in converters.items():
                    inputs[name] = _check_window_steps(inputs[name], converter.spec, window, name)
                for column, (name, position) in record_cells.items():
                    if column in vocabularies:
                        _check_known_labels(
                            _column(inputs[name], position), vocabularies[column], column, name
                        )
                model_inputs = {
                    name: converter.tf_transform(inputs[name]) for name, converter in converters.items()
                }
                if model_inputs:
                    batch = tf.shape(next(iter(model_inputs.values())))[0]
                else:
                    batch = tf.cast(inputs["num_samples"], tf.int32)
                for name, branch in plan.branches.items():
                    if name not in model_inputs:
                        model_inputs[name] = tf.zeros((batch, *branch.input_shape), branch.input_dtype)
                present = tf.tile(tf.constant(present_flags), [batch, 1]) if plan.uses_presence else None
                if present is not None and generator.spec.output.kind == "record":
                    # As sample(): a row that lacks one of an input's cells goes without that input.
                    lacking = tf.stack(
                        [_lacks_cells(inputs[name], generator.spec.inputs[name].kind)
                         if name in converters else tf.zeros((batch,), tf.bool) for name in plan.branches],
                        axis=1,
                    )  # fmt: skip
                    present = present * (1.0 - tf.cast(lacking, present.dtype))
                    model_inputs = {name: _without_nan(values) for name, values in model_inputs.items()}
                cells = {column: _column(inputs[name], position)
                         for column, (name, position) in record_cells.items()}  # fmt: skip
                if cells:
                    # As sample() gives them: an input's columns of the record are its given cells too,
                    # which steer the rest of the row, and come back as given.
                    values, visible, excluded, observed = tf_given_cells(preprocessor.output, cells, batch)
                    model_inputs.update(
                        {RECORD_VALUES: values, RECORD_VISIBLE: visible, RECORD_EXCLUDED: excluded}
                    )
                outputs = generate_in_turn(
                    self.models, model_inputs, present, self.seed_generator, temperature
                )
                result = preprocessor.output.tf_inverse(outputs)
                if cells:
                    result = _keep_given_cells(result, cells, observed)
                return result if isinstance(result, dict) else {output_name: result}

        return Sampler()


def _record_cells_of_inputs(generator, converters) -> dict[str, tuple[str, int | None]]:
    """Record column -> (the input that gives it, its position among the input's columns, or None for
    an input of one label column), for a generator that conditions on its record's own cells."""
    from fusegen.data.record_cells import record_columns

    spec = generator.spec
    if not spec.conditions_on_any_column():
        return {}
    record = set(record_columns(spec.output))
    cells = {}
    for name in converters:
        part = spec.inputs[name]
        if getattr(part, "columns", None):
            if part.kind == "numeric":
                cells.update({column: (name, index) for index, column in enumerate(part.columns)
                              if column in record})  # fmt: skip
        elif part.kind == "categorical" and spec.input_column(name) in record:
            cells[spec.input_column(name)] = (name, None)
    return cells


def _column(values, position):
    """One column of an input's tensor: all of it for a label input, else the numbers at ``position``."""
    return values if position is None else values[:, position]


def _keep_given_cells(result: dict, cells: dict, observed: dict) -> dict:
    """Each given cell comes back as given, as sample() returns it; the others as generated."""
    import tensorflow as tf

    result = dict(result)
    for column, given in cells.items():
        if column in observed:
            kept = given if result[column].dtype == tf.string else tf.cast(given, result[column].dtype)
            result[column] = tf.where(observed[column], kept, result[column])
    return result


def _check_window_steps(values, part, window: int | None, name: str):
    """Refuse a sequence input that is not one of the data's windows (``data.windows``): its ``select``
    reads steps by their place in the window, so a longer history would be read from its start (a
    stale forecast) and a shorter one from steps it lacks. The context alone is a window too, where
    the input reads a window's first steps.

    Returns ``values``, read only once the check has passed: a shape check further on (the steps the
    input selects) otherwise raced it, and a short history failed with TensorFlow's EnsureShape error
    now and then instead of this one.
    """
    import tensorflow as tf

    select = getattr(part, "select", None)
    if window is None or select is None or select.steps is None:
        return values
    start, stop = select.steps
    steps = tf.shape(values)[1]
    fits = tf.equal(steps, window)
    if start == 0:
        fits = fits | tf.equal(steps, stop)
    alone = f", or its first {stop} steps alone" if start == 0 and stop != window else ""
    check = tf.debugging.Assert(
        fits,
        [
            # No quotes: TensorFlow escapes them in its message.
            f"input {name} takes one window of the data per row: {window} steps (it reads steps "
            f"{start} to {stop - 1}{alone}), not cut to fit; received steps:",
            steps,
        ],
    )
    with tf.control_dependencies([check]):
        return tf.identity(values)


def _check_known_labels(values, vocabulary, column: str, name: str) -> None:
    """Refuse a given label of a record column that training never saw, as ``sample()`` does: the row
    could not condition on it, and would come back with another label in its place."""
    import tensorflow as tf

    from fusegen.data.records import MISSING

    known = tf.constant([str(label) for label in vocabulary if label != MISSING])
    labels = tf.reshape(values, (-1,))
    unseen = tf.logical_not(tf.reduce_any(tf.equal(labels[:, None], known[None, :]), axis=1))
    unseen &= tf.strings.strip(labels) != ""
    tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(unseen)),
        [
            f"column {column} of input {name} holds labels never seen in training (leave a cell empty to "
            "have it generated):",
            tf.boolean_mask(labels, unseen)[:5],
        ],
    )


def _lacks_cells(values, kind: str):
    """Per row, whether the user's values of a numeric or categorical input lack a cell (NaN, empty)."""
    import tensorflow as tf

    if kind == "numeric":
        return tf.reduce_any(tf.math.is_nan(tf.reshape(values, (tf.shape(values)[0], -1))), axis=1)
    if kind == "categorical" and values.dtype == tf.string:
        return tf.equal(tf.strings.strip(values), "")
    return tf.zeros((tf.shape(values)[0],), tf.bool)


def _without_nan(values):
    """A hidden input's cells as zeros: NaN times its presence flag of 0 would still be NaN."""
    import tensorflow as tf

    return (
        tf.where(tf.math.is_nan(values), tf.zeros_like(values), values)
        if values.dtype.is_floating
        else values
    )
