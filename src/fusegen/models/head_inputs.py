"""What a head takes besides the fused conditions: U-Net skips, and known-future steps.

- **Skips**: an image head may reuse the maps an image input's encoder made
  at each size (`plan_skips`).
- **Known-future steps**: a sequence input marked ``known_future`` holds one
  value per *output* step (tomorrow's temperature, the calendar). Pooled
  into the fused vector, the step each value belongs to would be lost, so
  the decoder also joins these steps to the generated series step by step
  (`step_join_layers`): each output step sees the head's value there, the
  known-future values at that step and the fused conditions (with the
  latent), and a residual correction is added. The head itself stays the
  same; the join follows it.
"""

from __future__ import annotations

import keras

from fusegen.spec import GeneratorSpec

#: Width of the step join's convolutions: the same small width as the sequence encoders' first stage.
STEP_JOIN_WIDTH = 64


def plan_skips(spec: GeneratorSpec, branches: dict) -> str | None:
    """Choose the image input whose encoder maps feed the head's skips, and mark those layers.

    A skip is the last encoder output at each size the encoder reaches (the
    input itself at full size when no layer keeps it), so every resolution
    of the decoder can reuse the detail the encoder saw there.
    """
    output = spec.output
    requested = output.head.skips_from
    if requested == "none":
        return None
    if requested is None:
        same_size = [
            name
            for name, input_spec in spec.inputs.items()
            if input_spec.kind == "image"
            and (input_spec.height, input_spec.width) == (output.height, output.width)
        ]
        if not same_size:
            return None
        requested = same_size[0]
    branch = branches[requested]
    last_at_size: dict[tuple[int, int], int] = {branch.input_shape[:2]: -1}
    for index, shape in enumerate(branch.encoder.shapes):
        if len(shape) == 3:
            last_at_size[shape[:2]] = index
    branch.skip_layers = [last_at_size[size] for size in sorted(last_at_size)]
    return requested


def step_channels(spec: GeneratorSpec) -> int:
    """Channels of the known-future steps the decoder receives (0 without known-future inputs)."""
    return sum(spec.inputs[name].model_shape()[-1] for name in spec.known_future_inputs())


def step_join_layers(spec: GeneratorSpec, head_input_width: int) -> tuple[list, list[tuple[int, ...]]]:
    """The step join's layers, and the shapes of its extra inputs (the steps, the repeated conditions).

    Its first layer concatenates, per output step, the head's output, the
    known-future steps and the fused conditions repeated over the steps; two
    convolutions (kernel 3, so a step also sees its neighbours) then give a
    correction per output channel, which the builder adds to the head's output.
    """
    steps, channels = spec.output.steps, spec.output.channels
    layers = [
        keras.layers.Concatenate(name="step_join_concat"),
        keras.layers.Conv1D(STEP_JOIN_WIDTH, 3, padding="same", activation="relu", name="step_join_conv_0"),
        keras.layers.Conv1D(STEP_JOIN_WIDTH, 3, padding="same", activation="relu", name="step_join_conv_1"),
        keras.layers.Conv1D(channels, 1, name="step_join_to_channels"),
    ]
    return layers, [(steps, step_channels(spec)), (steps, head_input_width)]
