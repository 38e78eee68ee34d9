"""What the model expects of each batch, read from the spec, and key-by-key diffs against it.

The spec alone fixes every model input's name, dtype and per-example shape
(token and category ids are int32, everything else float32), so a batch can
be checked before any model exists and before TensorFlow sees it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from fusegen.spec import GeneratorSpec


@dataclasses.dataclass(frozen=True)
class Expected:
    """One model input or target: its dtype and its shape without the batch axis."""

    dtype: str
    shape: tuple[int, ...]

    def describe(self) -> str:
        return f"{self.dtype} {_shape_text(('batch', *self.shape))}"


def model_input_signature(spec: GeneratorSpec) -> dict[str, Expected]:
    """Each model input's dtype and shape, keyed by the input's name."""
    return {
        name: Expected("int32" if input_spec.takes_ids else "float32", input_spec.model_shape())
        for name, input_spec in spec.inputs.items()
    }


def model_target_signature(spec: GeneratorSpec) -> Expected | dict[str, Expected]:
    """The targets: one array, or a dict of parts for a record output."""
    output = spec.output
    if output.kind != "record":
        return Expected("float32", output.model_shape())
    parts = {}
    if output.numeric:
        parts["numeric"] = Expected("float32", (len(output.numeric),))
    # Categorical columns, then each nullable number's 0/1 missing indicator (COLUMN_is_missing).
    for part in output.categorical_parts():
        parts[part] = Expected("int32", ())
    return parts


def describe_value(value: Any) -> str:
    """``uint8 [32, 64, 64]``: a received value's dtype and full shape."""
    if value is None:
        return "None"
    array = value if hasattr(value, "shape") and hasattr(value, "dtype") else np.asarray(value, dtype=object)
    dtype = str(getattr(array.dtype, "name", array.dtype))
    if dtype == "object" and array.size:
        first = array.reshape(-1)[0]
        dtype = f"object of {type(first).__name__}"
    return f"{dtype} {_shape_text(tuple(array.shape))}"


def dtype_fits(expected: str, value: Any) -> bool:
    """Whether ``value`` can be cast to ``expected`` without losing meaning.

    Any number fits float32; only integers fit int32 (ids); text never fits.
    """
    kind = np.dtype(getattr(value, "dtype", np.asarray(value).dtype)).kind
    if expected == "int32":
        return kind in "iub"
    return kind in "iubf"


def compare(expected: dict[str, Expected], received: dict[str, Any], label: str) -> list[str]:
    """One line per key that differs: missing, unexpected, wrong dtype or shape, other row count."""
    problems = []
    rows = {}
    for key in list(expected) + [key for key in received if key not in expected]:
        where = f"{label}['{key}']"
        if key not in received:
            problems.append(f"{where}: expected {expected[key].describe()}, received nothing (missing key)")
            continue
        value = received[key]
        if key not in expected:
            problems.append(f"{where}: not in the spec, received {describe_value(value)}")
            continue
        want = expected[key]
        shape = tuple(np.shape(value))
        wrong = []
        if not dtype_fits(want.dtype, value):
            wrong.append("dtype")
        if shape[1:] != tuple(want.shape):
            wrong.append("shape")
        if wrong:
            problems.append(
                f"{where}: expected {want.describe()}, received {describe_value(value)} ({' and '.join(wrong)})"
            )
        if shape:
            rows[key] = shape[0]
    if len(set(rows.values())) > 1:
        problems.append(f"{label}: keys have different row counts, received {rows}")
    return problems


def _shape_text(shape: tuple) -> str:
    return "[" + ", ".join(str(size) for size in shape) + "]"
