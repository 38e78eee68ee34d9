"""The model builder: wires a `ShapePlan`'s layers into Keras functional models.

Two networks come out of a plan, so objectives can combine them:

- the **condition model**: a dict of named inputs (plus ``_present``, the
  presence flag of each input, when inputs may be left out) -> the fused
  representation; for a head with U-Net skips, a dict of it (``_fused``)
  and the skip maps of one image input (``_skip_0``, smallest first);
- the **decoder**: the fused representation (plus ``_latent`` for cvae and
  cgan) -> the output: one tensor, or for a record a dict with one entry per
  part (``numeric`` and each categorical column's logits). Diffusion has no
  decoder; it builds a denoiser instead (`fusegen.models.denoisers`).

`build_model` composes them into one model for regression and for ``inspect``.
"""

from __future__ import annotations

import dataclasses

import keras

from fusegen.errors import ShapeError
from fusegen.models.head_inputs import (
    UnscaleOutput,
    context_scalers,
    context_statistics,
    continuation_anchors,
    step_channels,
    uses_anchors,
    uses_context_scaling,
    window_units_layers,
)
from fusegen.models.planner import ShapePlan, Stage, plan_model
from fusegen.models.registry import FUSIONS
from fusegen.spec import GeneratorSpec
from fusegen.spec.names import CONTEXT_SCALE, FUSED, LATENT, PRESENT, STEPS

#: Prefix of the skip maps the condition model passes to a U-Net head: ``_skip_0``, ``_skip_1``, ...
SKIP = "_skip_"


@dataclasses.dataclass
class Networks:
    condition: keras.Model
    decoder: keras.Model | None


def build_networks(plan: ShapePlan) -> Networks:
    """Build the condition model and the decoder of a plan, checking every shape against it."""
    return Networks(condition=_build_condition(plan), decoder=_build_decoder(plan))


def build_model(plan: ShapePlan) -> keras.Model:
    """One model from the inputs (and ``_present`` / ``_latent`` where used) to the output."""
    networks = build_networks(plan)
    inputs = {name: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name) for name, t in
              _named_inputs(networks.condition).items()}  # fmt: skip
    fused = networks.condition(inputs)
    if networks.decoder is None:
        return keras.Model(inputs, fused, name=plan.spec.name)
    decoder_inputs = dict(fused) if isinstance(fused, dict) else {FUSED: fused}
    if plan.latent_dim:
        inputs[LATENT] = keras.Input(shape=(plan.latent_dim,), name=LATENT)
        decoder_inputs[LATENT] = inputs[LATENT]
    return keras.Model(inputs, networks.decoder(decoder_inputs), name=plan.spec.name)


def build_from_spec(spec: GeneratorSpec, vocabulary_sizes=None) -> tuple[ShapePlan, keras.Model]:
    """Plan and build the composed model in one call."""
    plan = plan_model(spec, vocabulary_sizes)
    return plan, build_model(plan)


def parameter_counts(*models: keras.Model) -> dict[str, int]:
    """Parameters per layer name, looking inside nested models."""
    counts = {}
    for model in models:
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                counts.update(parameter_counts(layer))
            elif layer.built:
                counts[layer.name] = int(layer.count_params())
    return counts


def _named_inputs(model: keras.Model) -> dict:
    return {tensor.name.split(":")[0]: tensor for tensor in model.inputs}


def _build_condition(plan: ShapePlan) -> keras.Model:
    inputs = {
        name: keras.Input(shape=branch.input_shape, dtype=branch.input_dtype, name=name)
        for name, branch in plan.branches.items()
    }
    if plan.uses_presence:
        inputs[PRESENT] = keras.Input(shape=(len(plan.branches),), name=PRESENT)
    branch_outputs = []
    skips = []
    seen = dict(inputs)  # what the branches read: continued channels in their window's units
    for name, layer in window_units_layers(plan.spec).items():
        seen[name] = layer(inputs[name])
    statistics = None
    if uses_context_scaling(plan.spec):
        measure = context_statistics(plan.spec, plan.context_levels)
        statistics = measure([inputs[name] for name in measure.contexts])
        for name, scale in context_scalers(plan.spec).items():
            seen[name] = scale([seen[name], statistics])
    for name, branch in plan.branches.items():
        encoded = _apply(
            branch.encoder, seen[name], keep=branch.skip_layers if name == plan.skip_source else ()
        )
        if name == plan.skip_source:
            encoded, skips = encoded
        x = _apply(branch.alignment, encoded)
        if branch.presence is not None:
            x = branch.presence([x, inputs[PRESENT]])
        branch_outputs.append(x)
    if plan.fusion.layers:
        first, *rest = plan.fusion.layers
        method = FUSIONS.get("any", plan.spec.fusion.method, "fusion.method")
        many = len(branch_outputs) > 1 or method.fuses_one_branch
        fused = first(branch_outputs if many else branch_outputs[0])
        _check(plan.fusion, first, fused, plan.fusion.shapes[0])
        for layer, shape in zip(rest, plan.fusion.shapes[1:], strict=True):
            fused = layer(fused)
            _check(plan.fusion, layer, fused, shape)
    else:
        fused = branch_outputs[0]
    if skips or plan.step_join is not None or statistics is not None:
        fused = {FUSED: fused, **{f"{SKIP}{index}": skip for index, skip in enumerate(skips)}}
    if statistics is not None:
        fused[CONTEXT_SCALE] = statistics
    if plan.step_join is not None:
        steps = [inputs[name] for name in plan.spec.known_future_inputs()]
        if uses_anchors(plan.spec):
            anchors = continuation_anchors(plan.spec)
            steps.append(anchors([seen[name] for name in anchors.contexts]))
        fused[STEPS] = keras.layers.Concatenate(name="step_values")(steps) if len(steps) > 1 else steps[0]
    return keras.Model(inputs, fused, name="condition")


def _build_decoder(plan: ShapePlan) -> keras.Model | None:
    if not plan.head_parts:
        return None
    inputs = {FUSED: keras.Input(shape=plan.joined_shape, name=FUSED)}
    skips = [keras.Input(shape=shape, name=f"{SKIP}{index}") for index, shape in enumerate(plan.skip_shapes)]
    inputs.update({f"{SKIP}{index}": skip for index, skip in enumerate(skips)})
    x = inputs[FUSED]
    if plan.latent_dim:
        inputs[LATENT] = keras.Input(shape=(plan.latent_dim,), name=LATENT)
        latent = _apply(plan.latent_stage, inputs[LATENT])
        x = keras.layers.Concatenate(name="latent_join")([x, latent])
    trunk = _apply(plan.head_trunk, x)
    parts = {name: _apply(stage, trunk, extra_inputs=skips) for name, stage in plan.head_parts.items()}
    outputs = parts if plan.spec.output.kind == "record" else next(iter(parts.values()))
    if plan.step_join is not None:
        # Known-future steps and anchors join the generated series step by step (fusegen.models.head_inputs).
        inputs[STEPS] = keras.Input(shape=_step_input_shape(plan), name=STEPS)
        repeated = keras.layers.RepeatVector(plan.spec.output.steps, name="step_join_repeat")(x)
        correction = _apply(plan.step_join, outputs, extra_inputs=[inputs[STEPS], repeated])
        outputs = keras.layers.Add(name="step_join_add")([outputs, correction])
    if uses_context_scaling(plan.spec):
        inputs[CONTEXT_SCALE] = keras.Input(shape=(2, plan.spec.output.channels), name=CONTEXT_SCALE)
        unscale = UnscaleOutput(in_window_units=plan.spec.output.level_scaling, name="unscale_output")
        outputs = unscale([outputs, inputs[CONTEXT_SCALE]])
    return keras.Model(inputs, outputs, name="decoder")


def _step_input_shape(plan: ShapePlan) -> tuple[int, int]:
    return (plan.spec.output.steps, step_channels(plan.spec))


def _apply(stage: Stage, x, keep=(), extra_inputs=()):
    """Call a stage's layers in turn, checking each shape against the plan.

    ``keep`` lists layer indices (-1: the input) whose outputs are returned
    too, as ``(x, kept)``; ``extra_inputs`` join the first layer's input.
    """
    kept = {-1: x}
    for index, (layer, shape) in enumerate(zip(stage.layers, stage.shapes, strict=True)):
        x = layer([x, *extra_inputs]) if index == 0 and extra_inputs else layer(x)
        _check(stage, layer, x, shape)
        kept[index] = x
    if keep:
        return x, [kept[index] for index in keep]
    return x


def _check(stage: Stage, layer, tensor, planned) -> None:
    built = tuple(tensor.shape[1:])
    if built != tuple(planned):
        raise ShapeError(
            f"{stage.name}: layer '{layer.name}' built shape {list(built)} but the plan "
            f"said {list(planned)}.",
            hint="this is a bug in fusegen's planner; please report it with the spec.",
        )
