"""TensorFlow helpers the converters share, so one conversion serves ``sample()`` and the SavedModel.

A converter writes its way back to the user's terms once, as a TensorFlow
function (``tf_inverse``). The exported SavedModel runs it inside its graph;
``sample()`` runs it through `GraphCache`, as a graph too: eagerly each op
would cost a Python round trip (a record's inverse takes about twenty per
column), and a graph computes as the SavedModel's does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def tf_divide(values, divisor):
    """``values / divisor`` for a nonzero constant divisor, correctly rounded in any graph.

    TensorFlow's graph optimiser turns a division by a constant into a
    multiplication by its reciprocal, which differs in the last bit (and
    makes ``round(x * 100) / 100`` miss the nearest double to the decimal);
    it leaves ``divide_no_nan`` alone, which equals the division for a
    nonzero divisor. So NumPy's ``x / c`` and the graph's agree exactly.
    """
    import tensorflow as tf

    values = tf.convert_to_tensor(values)
    return tf.math.divide_no_nan(values, tf.cast(divisor, values.dtype))


class GraphCache:
    """A TensorFlow function traced once per kind of input, for any batch size, called on NumPy values.

    Args:
        function: takes a tensor (or a dict of tensors) with a leading batch
            axis and returns the same kinds of structure.

    Tracing for any batch size from the start means every chunk runs the
    same graph, whatever its size.
    """

    def __init__(self, function: Callable):
        self.function = function
        self._traced: dict[Any, Any] = {}

    def __call__(self, values):
        import tensorflow as tf

        values = tf.nest.map_structure(np.asarray, values)
        names = tuple(sorted(values)) if isinstance(values, dict) else None
        key = (names, tuple((leaf.dtype.str, leaf.shape[1:]) for leaf in tf.nest.flatten(values)))
        traced = self._traced.get(key)
        if traced is None:
            signature = tf.nest.map_structure(
                lambda leaf: tf.TensorSpec((None, *leaf.shape[1:]), tf.as_dtype(leaf.dtype)), values
            )
            traced = self._traced[key] = tf.function(
                self.function, input_signature=[signature], autograph=False
            )
        return tf.nest.map_structure(np.asarray, traced(values))
