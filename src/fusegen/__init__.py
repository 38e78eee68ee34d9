"""fusegen: multi-input generators for Keras 3, built from one spec.

Importing fusegen is cheap; Keras and TensorFlow load when a model is built.
"""

import os

__version__ = "0.26.0"

# fusegen runs on Keras's TensorFlow backend; respect an explicit choice.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from fusegen.errors import DataError, FusegenError, RunError, ShapeError, SpecError
from fusegen.spec import GeneratorSpec, load_spec


def __getattr__(name):
    # The facade imports Keras; load it only when asked for.
    if name in ("Generator", "load"):
        from fusegen import generator

        return getattr(generator, name)
    if name == "init_spec":
        from fusegen.scaffold import init_spec

        return init_spec
    raise AttributeError(f"module 'fusegen' has no attribute {name!r}")


__all__ = [
    "DataError",
    "FusegenError",
    "Generator",
    "GeneratorSpec",
    "RunError",
    "ShapeError",
    "SpecError",
    "init_spec",
    "load",
    "load_spec",
]
