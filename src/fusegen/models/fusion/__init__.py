"""Fusion methods. Each returns the layer that merges the aligned branches.

The planner aligns branches first (pooling, tiling, projection to a common
width), so a fusion layer only sees branches it can combine.
"""

from fusegen.models.fusion import add, attention, concat, gated  # noqa: F401
