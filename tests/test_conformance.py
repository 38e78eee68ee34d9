"""Conformance: every registered part and every fusegen layer passes the same checks.

The cases come from the registries when the tests are collected, so a part
registered in ``fusegen.models.registry`` (encoders, fusion methods, heads) or
``fusegen.objectives.OBJECTIVES``, and a Keras layer defined in any fusegen
module, is tested here with no edit to this file.

A part is tested in the smallest spec that holds it: its config is only
``{type: NAME}`` (``{method: NAME}`` for fusion) with its defaults, placed on
a minimal template of its kind. Each case plans, round-trips the spec
through YAML and every network through ``get_config`` / ``from_config``,
trains one step on a batch of random rows, and saves and reloads to the same
samples. A layer declares its own small ``example`` (the arguments of Keras's
``run_layer_test``) and passes that test.

The templates meet what the parts of a kind may require:

- text comes as raw strings or as precomputed embeddings, and each text
  encoder takes one of the two forms, so a part takes the first form whose
  spec validates;
- an image output has an image input of its own size (a U-Net head's skips);
- fusion cases have an image, a sequence and a numeric input, so each
  method meets a map, a sequence and a vector together (attention needs its
  width divisible by its number of heads, which the defaults are);
- objectives run on every output kind, as each may build its own network
  per output rank (the diffusion denoiser).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import pkgutil

import keras
import numpy as np
import pandas as pd
import pytest
from keras.src.testing import TestCase

import fusegen
from fusegen.data import INPUT_CONVERTERS
from fusegen.errors import SpecError
from fusegen.models import plan_model
from fusegen.models.registry import ENCODERS, FUSIONS, HEADS
from fusegen.objectives import OBJECTIVES
from fusegen.spec import INPUT_SLOT, InputConfig, load_spec, spec_to_yaml

pytestmark = pytest.mark.slow

#: One batch: one training step.
ROWS = 8
WORDS = ["red", "green", "blue", "small", "large", "round", "square", "dark"]

#: A minimal input of each registered kind, in each form it takes (its config's ``examples``).
INPUT_TEMPLATES = {kind: list(INPUT_SLOT.config(kind).examples) for kind in INPUT_SLOT.names()}

#: The default conditions: one vector-like and one categorical input.
CONDITIONS = {"amount": INPUT_TEMPLATES["numeric"][0], "label": INPUT_TEMPLATES["categorical"][0]}

#: A minimal output of each kind, with the inputs every head of that kind may need.
OUTPUT_TEMPLATES = {
    "record": (
        {"kind": "record", "numeric": ["height", "weight"], "categorical": ["grade"],
         "vocabularies": {"grade": ["low", "high"]}},
        CONDITIONS,
    ),
    "vector": ({"kind": "vector", "size": 3}, CONDITIONS),
    "sequence": ({"kind": "sequence", "steps": 8, "channels": 2}, CONDITIONS),
    "image": (
        {"kind": "image", "height": 8, "width": 8, "channels": 3},
        {"photo": INPUT_TEMPLATES["image"][0], **CONDITIONS},
    ),
}  # fmt: skip

#: One epoch of one batch; no validation split, which would trace a second (test) step.
TRAINING = {"epochs": 1, "batch_size": 8, "steps_per_execution": 1, "tensorboard": False}
DATA = {"validation_split": 0.0}


def part_cases() -> list:
    """One case per registered part: (role, kind, name), read from the registries now."""
    cases = [("encoder", kind, name) for kind, name in ENCODERS.entries()]
    cases += [("fusion", kind, name) for kind, name in FUSIONS.entries()]
    cases += [("head", kind, name) for kind, name in HEADS.entries()]
    # The head cases already run the default objective on every output kind.
    default = load_spec({"inputs": CONDITIONS, "output": OUTPUT_TEMPLATES["vector"][0]}).objective.type
    cases += [
        ("objective", kind, name)
        for name in sorted(OBJECTIVES)
        if name != default
        for kind in OUTPUT_TEMPLATES
    ]
    return [pytest.param(case, id="-".join(case)) for case in cases]


def candidate_specs(role: str, kind: str, name: str) -> list[dict]:
    """The raw specs that could hold the part, in order of preference."""
    base = {"data": DATA, "training": TRAINING}
    if role == "encoder":
        return [
            {**base, "inputs": {"subject": {**template, "encoder": {"type": name}}},
             "output": OUTPUT_TEMPLATES["record"][0]}
            for template in INPUT_TEMPLATES[kind]
        ]  # fmt: skip
    if role == "fusion":
        # A map, a sequence and a vector: every rank a branch can reach fusion with.
        inputs = {kind: INPUT_TEMPLATES[kind][0] for kind in ("image", "sequence", "numeric")}
        return [
            {**base, "inputs": inputs, "fusion": {"method": name}, "output": OUTPUT_TEMPLATES["record"][0]}
        ]
    output, inputs = OUTPUT_TEMPLATES[kind]
    if role == "head":
        return [{**base, "inputs": inputs, "output": {**output, "head": {"type": name}}}]
    return [{**base, "inputs": inputs, "output": output, "objective": {"type": name}}]


def spec_for(role: str, kind: str, name: str):
    """The first candidate spec that validates; every candidate's problems when none does."""
    problems = []
    for raw in candidate_specs(role, kind, name):
        try:
            return load_spec(raw)
        except SpecError as error:
            problems.append(str(error))
    pytest.fail(f"{role} '{name}' ({kind}) cannot be planned from its defaults: " + " | ".join(problems))


def random_values(part, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Random raw values of one input (from its kind's converter) or output, in the user's own form."""
    if isinstance(part, InputConfig):
        return INPUT_CONVERTERS[part.kind].example_values(part, rows, rng)
    if part.kind == "image":
        return rng.integers(0, 256, (rows, part.height, part.width, part.channels), dtype=np.uint8)
    if part.kind == "sequence":
        return rng.normal(size=(rows, part.steps, part.channels)).astype("float32")
    if part.kind == "vector":
        return rng.normal(size=(rows, part.size)).astype("float32")
    raise AssertionError(f"no random values for output kind '{part.kind}'; add it to random_values")


def random_data(spec, rows: int = ROWS, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    columns = {}
    for name, part in spec.inputs.items():
        values = random_values(part, rows, rng)
        # An input that reads several columns gives a mapping of them.
        columns.update(values if isinstance(values, dict) else {spec.input_column(name): values})
    output = spec.output
    if output.kind == "record":
        columns.update({column: rng.normal(size=rows) for column in output.numeric})
        columns.update({column: rng.choice(output.vocabularies[column], rows).astype(object)
                        for column in output.categorical})  # fmt: skip
    else:
        columns[spec.output_column()] = random_values(output, rows, rng)
    return columns


def spec_input_columns(spec) -> set[str]:
    """The columns the inputs read: each one's column, or its ``columns``."""
    return {
        column
        for name, part in spec.inputs.items()
        for column in (getattr(part, "columns", None) or [spec.input_column(name)])
    }


def assert_same_outputs(before, after):
    """Numbers within 1e-5, labels exactly."""
    if isinstance(before, pd.DataFrame):
        assert list(before.columns) == list(after.columns)
        for column in before.columns:
            if pd.api.types.is_numeric_dtype(before[column]):
                np.testing.assert_allclose(after[column], before[column], rtol=1e-5, atol=1e-5)
            else:
                assert after[column].tolist() == before[column].tolist(), column
        return
    before, after = np.asarray(before), np.asarray(after)
    assert after.shape == before.shape and after.dtype == before.dtype
    np.testing.assert_allclose(after.astype("float64"), before.astype("float64"), rtol=1e-5, atol=1e-5)


class WeightsAtStart(keras.callbacks.Callback):
    """Keeps the weights as training starts, to show a step changed them."""

    def on_train_begin(self, logs=None):
        self.weights = [np.array(weight) for weight in self.model.trainable_weights]


@pytest.mark.parametrize("case", part_cases())
def test_part_plans_round_trips_trains_and_reloads(case, tmp_path):
    role, kind, name = case
    spec = spec_for(role, kind, name)

    # Planned, with the part in the plan.
    plan = plan_model(spec)
    assert plan.output_shape == tuple(spec.output.model_shape())
    described = plan.to_dict()
    if role == "encoder":
        assert described["inputs"]["subject"]["encoder"] == name
    elif role == "fusion":
        assert described["fusion"]["method"] == name
    elif role == "head":
        assert described["head"]["type"] == name

    # The spec round-trips through YAML.
    assert load_spec(spec_to_yaml(spec)) == spec

    # One step on random rows changes the weights and gives a finite loss.
    data = random_data(spec)
    start = WeightsAtStart()
    generator = fusegen.Generator(spec).fit(data, verbose=0, callbacks=[start])
    if role == "objective":
        assert isinstance(generator.model_, OBJECTIVES[name])
    assert all(math.isfinite(value) for value in generator.history_["loss"]), generator.history_
    after = [np.array(weight) for weight in generator.model_.trainable_weights]
    assert any(not np.array_equal(old, new) for old, new in zip(start.weights, after, strict=True))

    # Every network's config round-trips.
    for network in generator.model_.networks().values():
        if network is None:
            continue
        config = network.get_config()
        # from_config consumes its argument; a copy keeps the original to compare with.
        assert type(network).from_config(copy.deepcopy(config)).get_config() == config

    # Saved and reloaded, it samples the same for the same seed.
    conditions = {column: values[:3] for column, values in data.items() if column in spec_input_columns(spec)}
    before = generator.sample(conditions, num_samples=2, seed=0)
    output = spec.output
    if output.kind == "record":
        assert list(before.columns) == output.numeric + output.categorical and len(before) == 6
    else:
        assert before.shape == (6, *output.model_shape())
    generator.save(tmp_path / "run")
    loaded = fusegen.load(tmp_path / "run")
    assert_same_outputs(before, loaded.sample(conditions, num_samples=2, seed=0))


# --------------------------------------------------------------------------
# Layers: every Keras layer fusegen registers passes Keras's own layer test.
# --------------------------------------------------------------------------


def fusegen_layer_classes() -> list[type]:
    """Every Keras layer class defined in a fusegen module (objectives, which are models, aside)."""
    classes = set()
    for module in pkgutil.walk_packages(fusegen.__path__, "fusegen."):
        if module.name.endswith("__main__"):
            continue
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if (
                cls.__module__ == module.name
                and issubclass(cls, keras.layers.Layer)
                and not issubclass(cls, keras.Model)
            ):
                classes.add(cls)
    return sorted(classes, key=lambda cls: (cls.__module__, cls.__name__))


class _KerasLayerTest(TestCase):
    __test__ = False  # a helper for run_layer_test, not a test of its own

    def runTest(self):  # noqa: N802 (unittest's name)
        pass


@pytest.mark.parametrize("layer_class", fusegen_layer_classes(), ids=lambda cls: cls.__name__)
def test_layer_is_registered_and_passes_keras_layer_test(layer_class):
    # Registered under the fusegen package, so a saved model holding it loads in safe mode.
    registered_name = keras.saving.get_registered_name(layer_class)
    assert registered_name == f"fusegen>{layer_class.__name__}", (
        f"{layer_class.__name__} is not registered: decorate it with "
        '@keras.saving.register_keras_serializable(package="fusegen")'
    )
    example = getattr(layer_class, "example", None)
    assert isinstance(example, dict), (
        f"{layer_class.__name__} declares no `example`: give it a class attribute "
        "example = {'init_kwargs': {...}, 'input_shape': (...), 'expected_output_shape': (...)}, "
        "the arguments of keras.src.testing.TestCase.run_layer_test"
    )
    # fusegen computes in float32 only (a spec sets no dtype policy), so Keras's mixed-precision
    # check, which runs each layer under mixed_float16, is left out.
    _KerasLayerTest().run_layer_test(layer_class, **example, run_mixed_precision_check=False)
