"""The typed spec of a generator: the single source the data pipeline and the model read.

The spec imports nothing else of fusegen and knows no layer and no file format
beyond YAML.
"""

from fusegen.spec.components import FusionSpec
from fusegen.spec.generator_spec import (
    CGANObjective,
    ConditioningSpec,
    CVAEObjective,
    DataSpec,
    DiffusionObjective,
    EvaluationSpec,
    GeneratorSpec,
    RegressionObjective,
    TrainingSpec,
    WindowSpec,
)
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

__all__ = [
    "CGANObjective",
    "CVAEObjective",
    "ConditioningSpec",
    "DiffusionObjective",
    "CategoricalInput",
    "DataSpec",
    "EvaluationSpec",
    "FusionSpec",
    "GeneratorSpec",
    "ImageInput",
    "ImageOutput",
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
