"""Context anchors: a forecast's head sees where each continued channel stands and its last cycle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusegen
from fusegen.models import plan_model
from fusegen.models.head_inputs import ContinuationAnchors
from fusegen.spec import load_spec

CONTEXT, HORIZON = 12, 4


def continuation_spec(output_steps=(CONTEXT, CONTEXT + HORIZON), objective="regression", **output):
    return load_spec(
        {
            "inputs": {
                "history": {
                    "kind": "sequence",
                    "steps": CONTEXT,
                    "channels": 1,
                    "column": "series",
                    "select": {"steps": [0, CONTEXT]},
                },
            },  # fmt: skip
            "output": {
                "name": "ahead",
                "kind": "sequence",
                "steps": HORIZON,
                "channels": 1,
                "column": "series",
                "select": {"steps": list(output_steps)},
                **output,
            },
            "objective": {"type": objective},
            "training": {"epochs": 12, "batch_size": 32, "learning_rate": 0.003, "tensorboard": False},
        }
    )


def test_an_output_reading_the_steps_after_an_input_continues_it():
    assert continuation_spec().continued_channels() == [(0, "history", 0)]
    plan = plan_model(continuation_spec()).to_dict()
    assert plan["head"]["continues"] == {"ahead[0]": "history[0]"}
    # Per output step: the head's value, the value one horizon earlier and the last value, the conditions.
    assert plan["head"]["step_join"][0]["shape"][1] == 1 + 2 + plan["head"]["input_shape"][-1]


def test_several_inputs_and_columns_map_channel_by_channel():
    spec = load_spec(
        {
            "data": {"windows": {"length": 10}},
            "inputs": {
                "accelerometer": {
                    "kind": "sequence",
                    "steps": 8,
                    "channels": 2,
                    "columns": ["ax", "ay"],
                    "select": {"steps": [0, 8]},
                },
                "weather": {
                    "kind": "sequence",
                    "steps": 8,
                    "channels": 1,
                    "columns": ["temp"],
                    "select": {"steps": [0, 8]},
                },
            },  # fmt: skip
            "output": {
                "name": "y",
                "kind": "sequence",
                "steps": 2,
                "channels": 2,
                "columns": ["temp", "ay"],
                "select": {"steps": [8, 10]},
            },  # fmt: skip
            "objective": {"type": "cvae"},
        }
    )
    assert spec.continued_channels() == [(0, "weather", 0), (1, "accelerometer", 1)]


@pytest.mark.parametrize(
    "spec",
    [
        continuation_spec(output_steps=(CONTEXT + 1, CONTEXT + HORIZON + 1)),  # a gap: not a continuation
        continuation_spec(objective="diffusion"),  # no head to show them to
    ],
)
def test_no_continuation_without_adjacent_steps_or_a_head(spec):
    assert spec.continued_channels() == []
    head = plan_model(spec).to_dict()["head"]
    assert head["step_join"] == [] and not head.get("context_scaling")


def test_anchors_and_scaling_turn_off_one_by_one():
    spec = continuation_spec(context_anchors=False)
    head = plan_model(spec).to_dict()["head"]
    assert spec.continued_channels() and head["step_join"] == [] and head["context_scaling"]
    head = plan_model(continuation_spec(context_scaling=False)).to_dict()["head"]
    assert head["step_join"] and head["context_anchors"] and not head["context_scaling"]


@settings(max_examples=25, deadline=None)
@given(length=st.integers(1, 12), steps=st.integers(1, 8), channels=st.integers(1, 3))
def test_anchors_are_the_last_value_and_the_values_one_horizon_earlier(length, steps, channels):
    context = np.arange(2 * length * channels, dtype="float32").reshape(2, length, channels)
    sources = [(0, channel) for channel in range(channels)]
    layer = ContinuationAnchors(["history"], sources, [length], steps)
    anchors = np.asarray(layer([context]))
    earlier = channels if length >= steps else 0
    assert anchors.shape == (2, steps, layer.channels) == (2, steps, earlier + channels)
    for channel in range(channels):
        np.testing.assert_array_equal(
            anchors[:, :, earlier + channel], np.repeat(context[:, -1:, channel], steps, 1)
        )
        if earlier:
            np.testing.assert_array_equal(anchors[:, :, channel], context[:, length - steps :, channel])
    restored = ContinuationAnchors.from_config(layer.get_config())
    np.testing.assert_array_equal(np.asarray(restored([context])), anchors)


def levels(count, seed=0):
    """Each window wanders at its own level; the horizon stays near the last value."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 3, (count, 1, 1))
    walk = np.cumsum(rng.normal(0, 0.3, (count, CONTEXT + HORIZON, 1)), axis=1)
    series = level + walk
    series[:, CONTEXT:] = series[:, CONTEXT - 1 : CONTEXT] + rng.normal(0, 0.05, (count, HORIZON, 1))
    return {"series": series.astype("float32")}


def test_a_head_with_anchors_continues_from_where_the_context_ends():
    data, test = levels(512), levels(128, seed=1)
    errors = {}
    for anchors in (True, False):
        spec = continuation_spec(context_anchors=anchors, context_scaling=False)  # anchors alone
        generator = fusegen.Generator(spec).fit(data, verbose=0)
        predicted = np.asarray(generator.sample(test, seed=0))
        errors[anchors] = float(np.mean(np.abs(predicted - test["series"][:, CONTEXT:])))
    # The last value is the forecast; 12 epochs of a pooled encoder alone do not find it as well.
    assert errors[True] < 0.5 * errors[False], errors


def drifting(count, seed=0, level=0.0):
    """Windows at their own level and swing; the horizon repeats the context's last four steps."""
    rng = np.random.default_rng(seed)
    pattern = rng.normal(size=(count, HORIZON, 1))
    series = np.concatenate([pattern] * ((CONTEXT + HORIZON) // HORIZON), axis=1)
    scale = rng.uniform(0.5, 2.0, (count, 1, 1))
    return {"series": (level + rng.normal(0, 3, (count, 1, 1)) + scale * series).astype("float32")}


def test_context_scaling_forecasts_levels_never_seen_in_training():
    data, shifted = drifting(512), drifting(128, seed=1, level=15.0)  # 5 training spreads above
    errors = {}
    for scaling in (True, False):
        spec = continuation_spec(context_scaling=scaling, context_anchors=False)
        generator = fusegen.Generator(spec).fit(data, verbose=0)
        predicted = np.asarray(generator.sample(shifted, seed=0))
        errors[scaling] = float(np.mean(np.abs(predicted - shifted["series"][:, CONTEXT:])))
    # Without it the head meets inputs far outside what it learned on, and its output is clipped to the
    # training range.
    assert errors[True] < 0.3 * errors[False], errors


def test_runs_from_before_anchors_load_without_them(tmp_path):
    from fusegen.artifacts import _as_written

    spec = continuation_spec()
    older = plan_model(_as_written(spec, {"versions": {"fusegen": "0.1.0"}})).to_dict()["head"]
    assert older["step_join"] == [] and not older["context_scaling"]
    current = plan_model(_as_written(spec, {"versions": {"fusegen": fusegen.__version__}})).to_dict()["head"]
    assert current["step_join"] and current["context_scaling"]
