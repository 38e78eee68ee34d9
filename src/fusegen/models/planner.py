"""The shape planner: every shape of the model, known and checked before any weight exists.

From a spec (and the vocabulary sizes fitted on data, where the spec leaves
them open), the planner chooses each part's Keras layers and pushes shapes
through them with ``compute_output_shape``, which creates no weights. It
inserts the alignment fusion needs (pool or flatten maps and sequences,
tile vectors over a grid, project to a common width) and designs the head
from the requested output shape. The builder then wires exactly these layers,
so the plan and the model cannot disagree.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from fusegen.errors import ShapeError
from fusegen.models import encoders as _encoders  # noqa: F401  (registers the encoders)
from fusegen.models import fusion as _fusion  # noqa: F401
from fusegen.models import heads as _heads  # noqa: F401
from fusegen.models.head_inputs import (
    joins_steps,
    plan_skips,
    step_join_layers,
    uses_anchors,
    uses_autoregression,
    uses_context_scaling,
)
from fusegen.models.layers import TileToGrid
from fusegen.models.registry import ENCODERS, FUSIONS, HEADS, layer_name
from fusegen.models.target_networks import record_condition_width
from fusegen.spec import GeneratorSpec
from fusegen.spec.names import CONSTANT_INPUT

#: Feature maps with at most this many values are flattened under pooling 'auto'.
FLATTEN_LIMIT = 4096

Shape = tuple[int, ...]


@dataclasses.dataclass
class Stage:
    """Layers applied in order, and the shape after each (without the batch axis)."""

    name: str
    layers: list[keras.layers.Layer]
    shapes: list[Shape]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def output_shape(self) -> Shape | None:
        return self.shapes[-1] if self.shapes else None

    def to_dict(self, parameters: dict[str, int] | None = None) -> dict[str, Any]:
        rows = []
        for layer, shape in zip(self.layers, self.shapes, strict=True):
            row = {"layer": layer.name, "type": type(layer).__name__, "shape": list(shape)}
            if parameters is not None:
                row["parameters"] = parameters.get(layer.name, 0)
            rows.append(row)
        return {"layers": rows, "notes": self.notes}


@dataclasses.dataclass
class BranchPlan:
    name: str
    kind: str
    input_shape: Shape
    input_dtype: str
    encoder: Stage
    alignment: Stage
    presence: keras.layers.Layer | None = None
    #: Encoder layers whose outputs feed the image head's skips (-1: the input itself).
    skip_layers: list[int] = dataclasses.field(default_factory=list)

    @property
    def skip_shapes(self) -> list[Shape]:
        return [self.input_shape if index < 0 else self.encoder.shapes[index] for index in self.skip_layers]

    @property
    def output_shape(self) -> Shape:
        return self.alignment.output_shape or self.encoder.output_shape or self.input_shape


@dataclasses.dataclass
class ShapePlan:
    """Every stage of the model: branches, fusion, head; built by `build_model`."""

    spec: GeneratorSpec
    branches: dict[str, BranchPlan]
    layout: str
    fusion: Stage
    head_trunk: Stage
    head_parts: dict[str, Stage]
    output_shape: Shape
    latent_dim: int = 0
    latent_stage: Stage | None = None
    head_input_shape: Shape | None = None
    #: The input whose encoder maps the head takes as skip connections, if any.
    skip_source: str | None = None
    #: Every vocabulary size the plan used: fitted, fixed by the spec, or the pre-fitting bound.
    vocabulary_sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Joins known-future steps to the head's output step by step (`fusegen.models.head_inputs`).
    step_join: Stage | None = None
    #: Width of the masked record the decoder also takes (``conditioning.any_column``); 0 for none.
    record_condition_width: int = 0
    #: Per output channel whose context scale follows its level (``output.level_scaling``): the
    #: channel's training spread over its mean, fitted on the data (`Preprocessor.context_levels`).
    context_levels: dict[int, float] = dataclasses.field(default_factory=dict)
    #: Per pair of a record's categorical parts, the label ids (rows of ``[id_a, id_b]``) the training
    #: rows rule out (``output.unseen_label_pairs``, `Preprocessor.unseen_label_pairs`).
    unseen_label_pairs: dict[tuple[str, str], Any] = dataclasses.field(default_factory=dict)

    @property
    def skip_shapes(self) -> list[Shape]:
        return self.branches[self.skip_source].skip_shapes if self.skip_source else []

    @property
    def fused_shape(self) -> Shape:
        if self.fusion.output_shape:
            return self.fusion.output_shape
        return next(iter(self.branches.values())).output_shape

    @property
    def joined_shape(self) -> Shape:
        """The conditions as the decoder (and a posterior) take them: fused, with the masked record joined."""
        return self.fused_shape[:-1] + (self.fused_shape[-1] + self.record_condition_width,)

    @property
    def uses_presence(self) -> bool:
        return any(branch.presence is not None for branch in self.branches.values())

    @property
    def part_shapes(self) -> dict[str, Shape]:
        return {name: stage.output_shape for name, stage in self.head_parts.items()}

    def to_dict(self, parameters: dict[str, int] | None = None) -> dict[str, Any]:
        """The plan as JSON-ready data; ``parameters`` maps layer names to counts."""
        output = self.spec.output
        result = {
            "name": self.spec.name,
            "inputs": {
                name: {
                    "kind": branch.kind,
                    "shape": list(branch.input_shape),
                    "dtype": branch.input_dtype,
                    "encoder": self.spec.inputs[name].encoder.type,
                    "encoder_layers": branch.encoder.to_dict(parameters)["layers"],
                    "alignment": branch.alignment.to_dict(parameters)["layers"],
                    "alignment_notes": branch.alignment.notes,
                    "branch_shape": list(branch.output_shape),
                    "known_future": name in self.spec.known_future_inputs(),
                    "window_units": list(getattr(self.spec.inputs[name], "window_units", [])),
                }
                for name, branch in self.branches.items()
                if name in self.spec.inputs
            },
            "unconditional": not self.spec.inputs,
            "fusion": {
                "method": self.spec.fusion.method,
                "layout": self.layout,
                "layers": self.fusion.to_dict(parameters)["layers"],
                "shape": list(self.fused_shape),
                "presence_flags": self.uses_presence,
            },
            "latent_dim": self.latent_dim,
            "head": {
                "type": output.head.type if self.head_parts else f"{self.spec.objective.type} denoiser",
                "input_shape": list(self.head_input_shape or self.fused_shape),
                "skips": {"from": self.skip_source, "shapes": [list(shape) for shape in self.skip_shapes]}
                if self.skip_source
                else None,
                "trunk": self.head_trunk.to_dict(parameters)["layers"],
                "parts": {
                    name: stage.to_dict(parameters)["layers"] for name, stage in self.head_parts.items()
                },
                "known_future": self.spec.known_future_inputs(),
                "continues": {
                    f"{output.name}[{channel}]": f"{name}[{source}]"
                    for channel, name, source in self.spec.continued_channels()
                },
                "context_anchors": uses_anchors(self.spec),
                "context_cycles": uses_anchors(self.spec) and self.spec.output.context_cycles,
                "context_autoregression": uses_autoregression(self.spec),
                "context_scaling": uses_context_scaling(self.spec),
                "step_join": self.step_join.to_dict(parameters)["layers"] if self.step_join else [],
            },
            "output": {
                "name": output.name,
                "kind": output.kind,
                "shape": list(self.output_shape),
                "parts": {name: list(shape) for name, shape in self.part_shapes.items()}
                or {output.name: list(self.output_shape)},
            },
        }
        if parameters is not None:
            result["num_parameters"] = int(sum(parameters.values()))
        return result


def plan_model(spec: GeneratorSpec, vocabulary_sizes: dict[str, int] | None = None) -> ShapePlan:
    """Plan every layer and shape of the model a spec describes.

    Args:
        spec: the generator spec.
        vocabulary_sizes: fitted sizes, keyed by input name (text and
            categorical inputs, the out-of-vocabulary id included) and by
            ``output.COLUMN`` (record categorical columns). Sizes the spec
            fixes itself need not be given.

    Raises:
        ShapeError: when a requested shape cannot be met, naming the inputs
            and shapes involved and what to change.
    """
    sizes = _resolve_vocabulary_sizes(spec, dict(vocabulary_sizes or {}))
    branches = {}
    for name, input_spec in spec.inputs.items():
        shape = tuple(input_spec.model_shape())
        dtype = "int32" if input_spec.takes_ids else "float32"
        builder = ENCODERS.get(input_spec.kind, input_spec.encoder.type, f"inputs.{name}.encoder.type")
        layers = builder(input_spec.encoder, input_spec, layer_name(name, "encoder"), sizes.get(name))
        encoder = _push(f"{name} encoder", layers, shape)
        branches[name] = BranchPlan(name, input_spec.kind, shape, dtype, encoder, Stage("", [], []))
    if not branches:
        empty = Stage("", [], [])
        branches[CONSTANT_INPUT] = BranchPlan(CONSTANT_INPUT, "constant", (1,), "float32", empty, empty)
        return _plan_head(spec, sizes, branches, "vector", Stage("fusion", [], []), (1,))

    layout = _choose_layout(spec, branches)
    fusion_builder = FUSIONS.get("any", spec.fusion.method, "fusion.method")
    grid = _grid_shape(spec, branches) if layout == "grid" else None
    for index, (name, branch) in enumerate(branches.items()):
        branch.alignment = _align(spec, name, branch, fusion_builder, grid)
        if uses_presence_flags(spec):
            from fusegen.models.layers import NullableBranch

            branch.presence = NullableBranch(index, name=layer_name(name, "presence"))

    branch_shapes = [branch.output_shape for branch in branches.values()]
    _check_fusable(spec, branches, fusion_builder, tokens=fusion_builder.needs_tokens and grid is None)
    fusion_layers = [fusion_builder(spec.fusion, len(branches), "fusion")]
    if len(branches) == 1 and not fusion_builder.fuses_one_branch:
        fusion_layers = []  # one branch: nothing to fuse
    fused_shape = branch_shapes[0]
    fusion_shapes = []
    if fusion_layers:
        fused_shape = _shape_of(fusion_layers[0], [(None, *shape) for shape in branch_shapes], "fusion")
        fusion_shapes.append(fused_shape)
    if spec.fusion.dropout_rate and not fusion_builder.applies_dropout:
        fusion_layers.append(keras.layers.Dropout(spec.fusion.dropout_rate, name="fusion_dropout"))
        fusion_shapes.append(fused_shape)
    fusion = Stage("fusion", fusion_layers, fusion_shapes)
    return _plan_head(spec, sizes, branches, layout, fusion, fused_shape)


def _plan_head(spec, sizes, branches, layout, fusion, fused_shape) -> ShapePlan:
    output = spec.output
    output_shape = tuple(output.model_shape())
    latent_dim = latent_size(spec)
    record_width = record_condition_width(spec)
    head_input_shape = fused_shape[:-1] + (fused_shape[-1] + record_width,)
    latent_stage = None
    if latent_dim:
        # The latent (or noise) vector joins the fused conditions: tiled over
        # the grid when the fusion keeps one, concatenated on features.
        tile = (
            [TileToGrid(fused_shape[0], fused_shape[1], name="latent_tile")] if len(fused_shape) == 3 else []
        )
        latent_stage = _push("latent", tile, (latent_dim,))
        head_input_shape = head_input_shape[:-1] + (head_input_shape[-1] + latent_dim,)
    if not spec.objective.plans_head:
        # The objective generates with its own network (diffusion: a denoiser
        # at the output's own shape); there is no head to plan.
        empty = Stage("head", [], [])
        return ShapePlan(
            spec,
            branches,
            layout,
            fusion,
            empty,
            {},
            output_shape,
            0,
            None,
            fused_shape,
            vocabulary_sizes=sizes,
        )

    head_builder = HEADS.get(output.kind, output.head.type, "output.head.type")
    head = head_builder(output.head, output, head_input_shape, sizes, layer_name("head"))
    skip_source = plan_skips(spec, branches) if head.takes_skips else None
    skip_shapes = branches[skip_source].skip_shapes if skip_source else []
    trunk = _push("head trunk", head.trunk, head_input_shape)
    trunk_shape = trunk.output_shape or head_input_shape
    parts = {
        part: _push(f"head part {part}", layers, trunk_shape, extra_shapes=skip_shapes)
        for part, layers in head.parts.items()
    }
    for part, stage in parts.items():
        expected = _expected_part_shape(spec, part, sizes)
        if stage.output_shape != expected:
            raise ShapeError(
                f"head '{output.head.type}' produces {list(stage.output_shape)} for output part "
                f"'{part}' but {list(expected)} was requested.",
                hint="this is a bug in the head; please report it with the spec.",
            )
    step_join = None
    if joins_steps(spec):
        layers, extra_shapes = step_join_layers(spec, head_input_shape[-1])
        step_join = _push("step join", layers, output_shape, extra_shapes=extra_shapes)
    return ShapePlan(
        spec, branches, layout, fusion, trunk, parts, output_shape, latent_dim, latent_stage, head_input_shape,
        skip_source, vocabulary_sizes=sizes, step_join=step_join, record_condition_width=record_width,
    )  # fmt: skip


def latent_size(spec: GeneratorSpec) -> int:
    """Width of the latent or noise vector the head receives (the objective says); 0 for none."""
    return spec.objective.latent_width


def uses_presence_flags(spec: GeneratorSpec) -> bool:
    """Whether inputs can be absent: modality dropout, or an objective that drops conditions."""
    if not spec.inputs:
        return False
    return spec.conditioning.modality_dropout > 0 or spec.objective.drops_conditions


# --------------------------------------------------------------------------
# Planning steps
# --------------------------------------------------------------------------


def _resolve_vocabulary_sizes(spec: GeneratorSpec, sizes: dict[str, int]) -> dict[str, int]:
    missing = []
    for name, input_spec in spec.inputs.items():
        if input_spec.takes_ids and name not in sizes:
            if input_spec.vocabulary_size_before_fitting is None:
                missing.append(f"inputs.{name}")
            else:
                sizes[name] = input_spec.vocabulary_size_before_fitting
    output = spec.output
    if output.kind == "record":
        for part in output.missing_parts():
            sizes[f"output.{part}"] = 2  # present, missing
        for column in output.categorical:
            key = f"output.{column}"
            if key not in sizes:
                if column in output.vocabularies:
                    sizes[key] = len(output.vocabularies[column])
                else:
                    missing.append(f"output.categorical '{column}'")
    if missing:
        raise ShapeError(
            f"the vocabularies of {', '.join(missing)} are fitted on data, and no data was given.",
            hint="give 'vocabulary' (or output.vocabularies) in the spec, or a data source to fit them.",
        )
    return sizes


def _push(name: str, layers: list, shape: Shape, extra_shapes: list[Shape] = ()) -> Stage:
    """Push a shape through layers; ``extra_shapes`` are further inputs of the first layer (skips)."""
    shapes = []
    current = shape
    for index, layer in enumerate(layers):
        if index == 0 and extra_shapes:
            current = _shape_of(layer, [(None, *current)] + [(None, *extra) for extra in extra_shapes], name)
        else:
            current = _shape_of(layer, (None, *current), name)
        shapes.append(current)
    return Stage(name, list(layers), shapes)


def _shape_of(layer, input_shape, where: str) -> Shape:
    try:
        result = layer.compute_output_shape(input_shape)
    except Exception as error:  # Keras raises ValueError and others for impossible shapes
        raise ShapeError(
            f"{where}: layer '{layer.name}' ({type(layer).__name__}) cannot take input shape "
            f"{_describe(input_shape)}: {error}"
        ) from None
    result = tuple(result)[1:]
    if any(size is not None and size <= 0 for size in result):
        raise ShapeError(f"{where}: layer '{layer.name}' would produce an empty shape {list(result)}.")
    return result


def _describe(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(str(list(item[1:])) for item in shape) + "]"
    return str(list(shape[1:]))


def _choose_layout(spec: GeneratorSpec, branches) -> str:
    if spec.fusion.layout != "auto":
        return spec.fusion.layout
    return "vector"


def _grid_shape(spec: GeneratorSpec, branches) -> tuple[int, int]:
    maps = [branch.encoder.output_shape for branch in branches.values() if branch.kind == "image"]
    largest = max(maps, key=lambda shape: shape[0] * shape[1])
    return largest[0], largest[1]


def _pooling_choice(encoder_config, shape: Shape) -> str:
    pooling = getattr(encoder_config, "pooling", "average")
    if pooling == "auto":
        size = 1
        for dimension in shape:
            size *= dimension
        return "flatten" if size <= FLATTEN_LIMIT else "average"
    return pooling


def _to_vector(name: str, config, shape: Shape, width: int) -> tuple[list, list[str]]:
    """Layers that turn a map or sequence into a vector, and a note saying what was done."""
    if len(shape) == 1:
        return [], []
    rank_name = "map" if len(shape) == 3 else "sequence"
    pooling = _pooling_choice(config, shape)
    prefix = layer_name(name, "align")
    if pooling == "flatten":
        # A projection right after Flatten keeps the flattened width from
        # multiplying into the head's first layer.
        return (
            [
                keras.layers.Flatten(name=f"{prefix}_flatten"),
                keras.layers.Dense(width, activation="relu", name=f"{prefix}_project_flat"),
            ],
            [f"flatten the {rank_name} {list(shape)} and project it to {width}"],
        )
    pool_class = {
        (3, "average"): keras.layers.GlobalAveragePooling2D,
        (3, "max"): keras.layers.GlobalMaxPooling2D,
        (2, "average"): keras.layers.GlobalAveragePooling1D,
        (2, "max"): keras.layers.GlobalMaxPooling1D,
    }[(len(shape), pooling)]
    return [pool_class(name=f"{prefix}_{pooling}_pool")], [
        f"{pooling}-pool the {rank_name} {list(shape)} to a vector"
    ]


def _align(spec, name, branch: BranchPlan, fusion_builder, grid) -> Stage:
    config = spec.inputs[name].encoder
    shape = branch.encoder.output_shape or branch.input_shape
    width = spec.fusion.width
    prefix = layer_name(name, "align")
    layers, notes = [], []
    is_grid_branch = grid is not None and len(shape) == 3 and shape[:2] == grid

    if fusion_builder.needs_tokens and grid is None:
        # Attention over tokens: pixels and steps stay separate tokens.
        if len(shape) == 3:
            layers.append(keras.layers.Reshape((shape[0] * shape[1], shape[2]), name=f"{prefix}_tokens"))
            notes.append(f"treat the {shape[0]}x{shape[1]} map as {shape[0] * shape[1]} tokens")
        elif len(shape) == 1:
            layers.append(keras.layers.Reshape((1, shape[0]), name=f"{prefix}_token"))
            notes.append("treat the vector as one token")
    elif not is_grid_branch:
        pooled, pooled_notes = _to_vector(name, config, shape, width)
        layers += pooled
        notes += pooled_notes
        if grid is not None:
            layers.append(TileToGrid(grid[0], grid[1], name=f"{prefix}_tile"))
            notes.append(f"tile the vector over the {grid[0]}x{grid[1]} grid")

    already_projected = bool(layers) and layers[-1].name.endswith("project_flat")
    if fusion_builder.needs_common_width and not already_projected:
        layers.append(keras.layers.Dense(width, name=f"{prefix}_project"))
        notes.append(f"project to the common width {width}")
    if fusion_builder.needs_tokens and grid is not None:
        # On a grid, each branch is one token per pixel.
        layers.append(keras.layers.Reshape((grid[0], grid[1], 1, width), name=f"{prefix}_pixel_token"))
        notes.append("one token per pixel")
    stage = _push(f"{name} alignment", layers, shape)
    stage.notes = notes
    return stage


def _check_fusable(spec, branches, fusion_builder, tokens: bool) -> None:
    shapes = {name: branch.output_shape for name, branch in branches.items()}
    # Token sets may differ in their number of tokens; everything else must line up.
    leading = {name: shape[:-2] if tokens else shape[:-1] for name, shape in shapes.items()}
    if len(set(leading.values())) > 1:
        detail = ", ".join(f"'{name}' {list(shape)}" for name, shape in shapes.items())
        raise ShapeError(
            f"fusion '{spec.fusion.method}' cannot combine branches of shapes {detail}.",
            hint="use fusion.layout 'vector', or make the image inputs' encoders reach the same grid.",
        )
    if fusion_builder.needs_common_width and len({shape[-1] for shape in shapes.values()}) > 1:
        detail = ", ".join(f"'{name}' {list(shape)}" for name, shape in shapes.items())
        raise ShapeError(f"fusion '{spec.fusion.method}' needs one width, received {detail}.")


def _expected_part_shape(spec: GeneratorSpec, part: str, sizes: dict[str, int]) -> Shape:
    output = spec.output
    if output.kind == "record":
        if part == "numeric":
            return (len(output.numeric),)
        return (sizes[f"output.{part}"],)
    return tuple(output.model_shape())
