"""Reading, checking and converting data: sources, windows, converters and the tf.data pipeline.

`register_input_kind` adds an input kind with its converter (see docs/adding-a-part.md).
"""

from fusegen.data.preprocessing import INPUT_CONVERTERS, register_input_kind

__all__ = ["INPUT_CONVERTERS", "register_input_kind"]
