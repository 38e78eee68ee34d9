"""A new fusion method, encoder, objective and input kind, each added from this one file through the public API.

`register_parts` defines the parts (config class + implementation + one
registration each; the input kind is its config and converter, registered
together, and its encoder, registered like any other) and touches no other
file. The test then runs the
registry-driven conformance suite (tests/test_conformance.py), unchanged, in
a fresh process where these parts are registered: it picks them up from the
registries and plans, trains, round-trips and reloads each, like fusegen's
own parts. A separate process keeps them out of this session's registries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar, Literal

import pytest

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
NEW_PARTS = ("max_example", "bottleneck_example", "median_example", "angle_example")


def register_parts() -> None:
    import keras
    import numpy as np
    from pydantic import Field, PositiveInt

    from fusegen.data import register_input_kind
    from fusegen.models.registry import ENCODERS, FUSIONS
    from fusegen.objectives import ObjectiveModel, register_objective
    from fusegen.objectives.base import compile_options, make_optimizer, per_replica
    from fusegen.spec import Component, FusionConfig, InputConfig, ObjectiveConfig

    class MaxFusion(FusionConfig):
        """The elementwise maximum of the branches, each projected to ``width``."""

        method: Literal["max_example"] = "max_example"

    @FUSIONS.register("any", MaxFusion, needs_common_width=True)
    def max_fusion(config, num_branches, prefix):
        return keras.layers.Maximum(name=f"{prefix}_max")

    class BottleneckEncoder(Component):
        """A wide layer, then a narrow tanh layer: features squeezed into ``units``."""

        type: Literal["bottleneck_example"] = "bottleneck_example"
        units: PositiveInt = 8

    @ENCODERS.register("numeric", BottleneckEncoder)
    def bottleneck_encoder(config, input_spec, prefix, vocabulary_size=None):
        return [
            keras.layers.Dense(4 * config.units, activation="relu", name=f"{prefix}_wide"),
            keras.layers.Dense(config.units, activation="tanh", name=f"{prefix}_narrow"),
        ]

    class AngleEncoder(Component):
        """One dense layer over each angle's (sin, cos)."""

        type: Literal["angle_example"] = "angle_example"
        units: PositiveInt = 8

    class AngleInput(InputConfig):
        """Angles in degrees: 359 and 1 are neighbours, so the model sees each as (sin, cos)."""

        kind: Literal["angle_example"]
        columns: list[str] = Field(min_length=1)
        encoder: AngleEncoder = Field(default_factory=AngleEncoder)

        examples: ClassVar[tuple[dict, ...]] = ({"kind": "angle_example", "columns": ["heading"]},)

        def model_shape(self, vocabulary_sizes=None) -> tuple[int, ...]:
            return (2 * len(self.columns),)

    class AngleConverter:
        """Degrees -> (sin, cos) per column; nothing to fit."""

        tf_resources = ()

        def __init__(self, name, spec):
            self.name, self.spec = name, spec

        def fit(self, table, column):
            return self

        def get_state(self):
            return {}

        def transform(self, table, column, **options):
            where = f"Input '{self.name}' (angle)"
            radians = np.radians(np.stack([table.column(col, where) for col in self.spec.columns], 1))
            return np.concatenate([np.sin(radians), np.cos(radians)], axis=-1).astype("float32")

        def tf_input_spec(self):
            import tensorflow as tf

            return tf.TensorSpec((None, len(self.spec.columns)), tf.float32, name=self.name)

        def tf_transform(self, degrees):
            import tensorflow as tf

            radians = tf.cast(degrees, tf.float32) * (np.pi / 180)
            return tf.concat([tf.sin(radians), tf.cos(radians)], axis=-1)

        @staticmethod
        def example_values(spec, rows, rng):
            # An input reading several columns gives a mapping of them.
            return {column: rng.uniform(0, 360, rows) for column in spec.columns}

    register_input_kind(AngleInput, AngleConverter)

    @ENCODERS.register("angle_example", AngleEncoder)
    def angle_encoder(config, input_spec, prefix, vocabulary_size=None):
        return [keras.layers.Dense(config.units, activation="relu", name=f"{prefix}_dense")]

    class MedianRegressionConfig(ObjectiveConfig):
        """Regress the median: absolute error on numbers, cross-entropy on categories."""

        type: Literal["median_example"] = "median_example"

        is_generative: ClassVar[bool] = False  # one output per condition

    @register_objective(MedianRegressionConfig)
    class MedianRegression(ObjectiveModel):
        def compile_for_training(self, distributed: bool = False):
            self.compile(
                optimizer=make_optimizer(self.spec.training),
                **compile_options(self.spec.training, distributed),
            )

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return per_replica(self.reconstruction_loss(y, self.decode(y_pred, training=training), "mae"))

        def generate(self, inputs, present, seed_generator, temperature=1.0):
            outputs = self.decode(self.conditions(inputs, present))
            return self.sample_categories(outputs, seed_generator, 0.0)


def test_the_conformance_suite_exercises_parts_added_in_one_file():
    # The parts are registered before the suite is collected, as a user's plugin would be, and the
    # suite runs in this one process (-n 0): worker processes would not have them registered.
    program = (
        "import sys, pytest; sys.path.insert(0, sys.argv[1]); import test_new_parts; "
        "test_new_parts.register_parts(); "
        "sys.exit(pytest.main(['-q', '-n', '0', '-p', 'no:cacheprovider', sys.argv[2], '-k', sys.argv[3]]))"
    )
    selection = " or ".join(NEW_PARTS)
    result = subprocess.run(
        [sys.executable, "-c", program, str(TESTS), str(TESTS / "test_conformance.py"), selection],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=900,
        cwd=TESTS.parent,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    # The fusion method and both encoders once each, the objective on each of the four output kinds.
    assert summary.startswith("7 passed"), result.stdout[-2000:]


def test_registered_configs_join_the_spec_and_its_schema():
    """In this process nothing is registered: the spec refuses the names, listing what it accepts."""
    from fusegen.errors import SpecError
    from fusegen.spec import load_spec

    with pytest.raises(SpecError, match=r"fusion: unknown method 'max_example'; expected one of 'concat'"):
        load_spec(
            {
                "inputs": {"a": {"kind": "numeric", "size": 2}},
                "fusion": {"method": "max_example"},
                "output": {"kind": "vector", "size": 1},
            }
        )
