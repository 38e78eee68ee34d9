"""The shape planner: the built model's output shape always equals the requested one."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusegen.errors import ShapeError
from fusegen.models import build_from_spec, parameter_counts, plan_model
from fusegen.models.registry import FUSIONS
from fusegen.spec import load_spec

#: Every registered fusion method.
METHODS = FUSIONS.names("any")


def batch_for(plan, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, branch in plan.branches.items():
        shape = (batch, *branch.input_shape)
        if branch.input_dtype == "int32":
            inputs[name] = rng.integers(0, 3, size=shape).astype("int32")
        else:
            inputs[name] = rng.random(shape).astype("float32")
    return inputs


def output_shapes(model, plan):
    outputs = model(batch_for(plan))
    if isinstance(outputs, dict):
        return {name: tuple(value.shape[1:]) for name, value in outputs.items()}
    return tuple(outputs.shape[1:])


@pytest.mark.parametrize("method", METHODS)
def test_odd_image_from_image_text_and_numeric(method):
    spec = load_spec(
        {
            "inputs": {
                "photo": {"kind": "image", "height": 20, "width": 30, "channels": 3},
                "caption": {"kind": "text", "max_tokens": 50, "sequence_length": 8},
                "amount": {"kind": "numeric", "size": 3},
            },
            "output": {"kind": "image", "height": 37, "width": 53, "channels": 1},
            "fusion": {"method": method, "width": 32},
        }
    )
    plan, model = build_from_spec(spec)
    assert model.output_shape == (None, 37, 53, 1)
    assert output_shapes(model, plan) == (37, 53, 1)


@pytest.mark.parametrize("method", METHODS)
def test_short_sequence_from_two_sensors_of_different_lengths(method):
    spec = load_spec(
        {
            "inputs": {
                "fast": {"kind": "sequence", "steps": 100, "channels": 3},
                "slow": {
                    "kind": "sequence",
                    "steps": 50,
                    "channels": 1,
                    "encoder": {"type": "lstm", "units": [8]},
                },
            },
            "output": {"kind": "sequence", "steps": 7, "channels": 2},
            "fusion": {"method": method, "width": 16},
        }
    )
    plan, model = build_from_spec(spec)
    assert model.output_shape == (None, 7, 2)
    assert output_shapes(model, plan) == (7, 2)


@pytest.mark.parametrize("method", METHODS)
def test_grid_layout_keeps_the_image_map(method):
    spec = load_spec(
        {
            "inputs": {
                "photo": {"kind": "image", "height": 24, "width": 40, "channels": 3},
                "words": {"kind": "text", "embedding_size": 12},
            },
            "output": {"kind": "image", "height": 24, "width": 40, "channels": 3},
            "fusion": {"method": method, "width": 16, "layout": "grid"},
        }
    )
    plan, model = build_from_spec(spec)
    assert plan.layout == "grid"
    assert plan.fusion.output_shape[:2] == (3, 5)
    assert output_shapes(model, plan) == (24, 40, 3)


def test_example_image_text_to_image_outputs_64x64x3(examples_dir):
    spec = load_spec(examples_dir / "image_text_to_image.yaml")
    plan, model = build_from_spec(spec)
    assert plan.to_dict()["output"]["shape"] == [64, 64, 3]
    assert output_shapes(model, plan) == (64, 64, 3)


def test_record_parts_and_parameter_counts():
    spec = load_spec(
        {
            "inputs": {
                "size": {"kind": "numeric", "columns": ["a", "b"]},
                "kind": {"kind": "categorical", "vocabulary": ["x", "y", "z"]},
            },
            "output": {
                "kind": "record",
                "numeric": ["p", "q"],
                "categorical": ["colour"],
                "vocabularies": {"colour": ["red", "green"]},
            },
        }
    )
    plan, model = build_from_spec(spec)
    assert output_shapes(model, plan) == {"numeric": (2,), "colour": (2,)}
    described = plan.to_dict(parameter_counts(model))
    assert described["num_parameters"] == model.count_params()
    # The categorical input has 3 labels plus the out-of-vocabulary row.
    embedding = described["inputs"]["kind"]["encoder_layers"][0]
    assert embedding["parameters"] == 4 * 16


def test_fitted_vocabularies_without_data_are_a_shape_error():
    spec = load_spec(
        {
            "inputs": {"label": {"kind": "categorical"}},
            "output": {"kind": "vector", "size": 2},
        }
    )
    with pytest.raises(ShapeError, match="inputs.label"):
        plan_model(spec)
    plan = plan_model(spec, {"label": 5})
    assert plan.branches["label"].encoder.layers[0].input_dim == 5


def test_flatten_is_projected_so_the_head_stays_small():
    # The hand-written version of this model puts most of its parameters in the
    # Dense after Flatten; the planner projects the flattened map right away.
    spec = load_spec(
        {
            "inputs": {
                "photo": {"kind": "image", "height": 64, "width": 64, "encoder": {"filters": [32]}},
                "words": {"kind": "text", "embedding_size": 100},
            },
            "output": {"kind": "image", "height": 64, "width": 64},
        }
    )
    plan = plan_model(spec)
    notes = plan.branches["photo"].alignment.notes
    assert notes and "average-pool" in notes[0]  # 32x32x32 is past the flatten limit


image_sizes = st.integers(min_value=1, max_value=70)
seq_steps = st.integers(min_value=1, max_value=120)


@st.composite
def specs(draw):
    inputs = {}
    kinds = draw(
        st.lists(
            st.sampled_from(["image", "text", "numeric", "categorical", "sequence", "embedding"]),
            min_size=1,
            max_size=4,
        )
    )
    for index, kind in enumerate(kinds):
        name = f"{kind}_{index}"
        if kind == "image":
            inputs[name] = {
                "kind": "image",
                "height": draw(image_sizes),
                "width": draw(image_sizes),
                "channels": draw(st.sampled_from([1, 3])),
                "encoder": {
                    "type": draw(st.sampled_from(["conv", "residual"])),
                    "filters": [4, 8],
                    "pooling": draw(st.sampled_from(["auto", "average", "max", "flatten"])),
                },
            }
        elif kind == "text":
            inputs[name] = {
                "kind": "text",
                "max_tokens": 30,
                "sequence_length": draw(st.integers(1, 12)),
                "encoder": {"type": "embedding_pool", "embedding_dim": 8},
            }
        elif kind == "embedding":
            inputs[name] = {
                "kind": "text",
                "embedding_size": draw(st.integers(1, 20)),
                "encoder": {"type": "dense", "units": [8]},
            }
        elif kind == "numeric":
            inputs[name] = {"kind": "numeric", "size": draw(st.integers(1, 6)), "encoder": {"units": [8]}}
        elif kind == "categorical":
            inputs[name] = {"kind": "categorical", "vocabulary": ["a", "b"], "encoder": {"embedding_dim": 4}}
        else:
            encoder = draw(
                st.sampled_from([{"type": "conv1d", "filters": [8, 8]}, {"type": "gru", "units": [8]}])
            )
            inputs[name] = {
                "kind": "sequence",
                "steps": draw(seq_steps),
                "channels": draw(st.integers(1, 4)),
                "encoder": encoder,
            }
    output_kind = draw(st.sampled_from(["image", "sequence", "record", "vector"]))
    if output_kind == "image":
        output = {
            "kind": "image",
            "height": draw(image_sizes),
            "width": draw(image_sizes),
            "channels": draw(st.sampled_from([1, 3, 4])),
            "head": {"base_filters": 8, "min_filters": 4, "max_stages": draw(st.integers(1, 5))},
        }
    elif output_kind == "sequence":
        head = draw(st.sampled_from([{"type": "conv1d", "base_filters": 8}, {"type": "gru", "units": 8}]))
        output = {
            "kind": "sequence",
            "steps": draw(seq_steps),
            "channels": draw(st.integers(1, 5)),
            "head": head,
        }
    elif output_kind == "record":
        output = {
            "kind": "record",
            "numeric": ["x"],
            "categorical": ["c"],
            "vocabularies": {"c": ["p", "q", "r"]},
            "head": {"units": [8]},
        }
    else:
        output = {"kind": "vector", "size": draw(st.integers(1, 9)), "head": {"units": [8]}}
    layout = "vector"
    if output_kind == "image" and any(k == "image" for k in kinds) and draw(st.booleans()):
        layout = "grid"
    fusion = {"method": draw(st.sampled_from(METHODS)), "width": 8, "layout": layout}
    if fusion["method"] == "attention":
        fusion["num_heads"] = 2  # a key of attention's own config
    return {"inputs": inputs, "output": output, "fusion": fusion}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_built_output_shape_always_equals_requested(raw):
    spec = load_spec(raw)
    try:
        plan, model = build_from_spec(spec)
    except ShapeError as error:
        # Only a grid whose image branches reach different map sizes may be refused.
        assert raw["fusion"]["layout"] == "grid", str(error)
        return
    got = output_shapes(model, plan)
    if spec.output.kind == "record":
        assert got == {"numeric": (1,), "c": (3,)}
    else:
        assert got == tuple(spec.output.model_shape())
