"""The typed spec of a generator: the single source the data pipeline and the model read.

The spec imports nothing else of fusegen and knows no layer and no file format
beyond YAML.
"""

from fusegen.spec.components import (
    ENCODER_SLOTS,
    FUSION_SLOT,
    HEAD_SLOTS,
    AddFusion,
    AttentionFusion,
    Component,
    ConcatFusion,
    FusionConfig,
    FusionSpec,
    GatedFusion,
)
from fusegen.spec.generator_spec import (
    ConditioningSpec,
    DataSpec,
    EvaluationSpec,
    GeneratorSpec,
    PrivacySpec,
    TrainingSpec,
    WindowSpec,
)
from fusegen.spec.inputs import INPUT_SLOT, InputConfig
from fusegen.spec.loading import load_spec, spec_json_schema, spec_to_yaml
from fusegen.spec.modalities import (
    CategoricalInput,
    ImageInput,
    ImageOutput,
    NumericInput,
    RecordOutput,
    SequenceInput,
    SequenceOutput,
    TextInput,
    VectorOutput,
)
from fusegen.spec.objectives import (
    OBJECTIVE_SLOT,
    CGANObjective,
    CVAEObjective,
    DiffusionObjective,
    ObjectiveConfig,
    RegressionObjective,
)

__all__ = [
    "ENCODER_SLOTS",
    "FUSION_SLOT",
    "HEAD_SLOTS",
    "INPUT_SLOT",
    "OBJECTIVE_SLOT",
    "AddFusion",
    "AttentionFusion",
    "Component",
    "ConcatFusion",
    "FusionConfig",
    "GatedFusion",
    "ObjectiveConfig",
    "CGANObjective",
    "CVAEObjective",
    "ConditioningSpec",
    "PrivacySpec",
    "DiffusionObjective",
    "CategoricalInput",
    "DataSpec",
    "EvaluationSpec",
    "FusionSpec",
    "GeneratorSpec",
    "ImageInput",
    "ImageOutput",
    "InputConfig",
    "NumericInput",
    "RecordOutput",
    "RegressionObjective",
    "SequenceInput",
    "SequenceOutput",
    "TextInput",
    "TrainingSpec",
    "VectorOutput",
    "WindowSpec",
    "load_spec",
    "spec_json_schema",
    "spec_to_yaml",
]
