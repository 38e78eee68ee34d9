"""Typed configs of the inputs and the output, one class per kind.

The inputs live in `fusegen.spec.inputs`, the outputs in `fusegen.spec.outputs`
and what they share in `fusegen.spec.modality_base`; this module gathers them.

Each input and the output know their shape as the model sees it (without the
batch axis) through ``model_shape``; that is all the shape planner needs from
the spec. Vocabulary sizes that are fitted on data are passed in as
``vocabulary_sizes`` by the caller that fitted them.
"""

from fusegen.spec.components import ConvSequenceHead
from fusegen.spec.inputs import (
    CategoricalInput,
    ImageInput,
    InputSpec,
    NumericInput,
    SequenceInput,
    TextInput,
)
from fusegen.spec.modality_base import InputMissingPolicy, MissingPolicy, StepsAndChannels
from fusegen.spec.outputs import (
    ImageOutput,
    OutputSpec,
    RecordOutput,
    SequenceOutput,
    VectorOutput,
)

__all__ = [
    "CategoricalInput",
    "ImageInput",
    "ImageOutput",
    "InputMissingPolicy",
    "InputSpec",
    "MissingPolicy",
    "NumericInput",
    "OutputSpec",
    "RecordOutput",
    "SequenceInput",
    "SequenceOutput",
    "StepsAndChannels",
    "TextInput",
    "VectorOutput",
    "ConvSequenceHead",
]
