"""The model builder: wires a `ShapePlan`'s layers into a Keras functional model.

The model's inputs are a dict keyed by the spec's input names. Its output is
one tensor, or for a record a dict with one entry per part (``numeric`` and
each categorical column's logits).
"""

from __future__ import annotations

import keras

from fusegen.errors import ShapeError
from fusegen.models.planner import ShapePlan, Stage, plan_model
from fusegen.spec import GeneratorSpec


def build_model(plan: ShapePlan) -> keras.Model:
    """Build the functional model of a plan, checking every shape against the plan."""
    inputs = {
        name: keras.Input(shape=branch.input_shape, dtype=branch.input_dtype, name=name)
        for name, branch in plan.branches.items()
    }
    branch_outputs = []
    for name, branch in plan.branches.items():
        x = _apply(branch.encoder, inputs[name])
        branch_outputs.append(_apply(branch.alignment, x))
    if plan.fusion.layers:
        first, *rest = plan.fusion.layers
        fused = first(
            branch_outputs
            if len(branch_outputs) > 1 or plan.spec.fusion.method == "attention"
            else branch_outputs[0]
        )
        _check(plan.fusion, first, fused, plan.fusion.shapes[0])
        for layer, shape in zip(rest, plan.fusion.shapes[1:], strict=True):
            fused = layer(fused)
            _check(plan.fusion, layer, fused, shape)
    else:
        fused = branch_outputs[0]
    trunk = _apply(plan.head_trunk, fused)
    parts = {name: _apply(stage, trunk) for name, stage in plan.head_parts.items()}
    outputs = parts if plan.spec.output.kind == "record" else next(iter(parts.values()))
    return keras.Model(inputs=inputs, outputs=outputs, name=plan.spec.name)


def build_from_spec(spec: GeneratorSpec, vocabulary_sizes=None) -> tuple[ShapePlan, keras.Model]:
    """Plan and build in one call."""
    plan = plan_model(spec, vocabulary_sizes)
    return plan, build_model(plan)


def parameter_counts(model: keras.Model) -> dict[str, int]:
    """Parameters per layer name, for the plan report."""
    return {layer.name: int(layer.count_params()) for layer in model.layers if layer.built}


def _apply(stage: Stage, x):
    for layer, shape in zip(stage.layers, stage.shapes, strict=True):
        x = layer(x)
        _check(stage, layer, x, shape)
    return x


def _check(stage: Stage, layer, tensor, planned) -> None:
    built = tuple(tensor.shape[1:])
    if built != tuple(planned):
        raise ShapeError(
            f"{stage.name}: layer '{layer.name}' built shape {list(built)} but the plan "
            f"said {list(planned)}.",
            hint="this is a bug in fusegen's planner; please report it with the spec.",
        )
