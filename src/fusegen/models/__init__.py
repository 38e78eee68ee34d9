"""Model parts: encoders, fusion, heads, the shape planner and the model builder."""

from fusegen.models.builder import Networks, build_from_spec, build_model, build_networks, parameter_counts
from fusegen.models.planner import ShapePlan, plan_model

__all__ = [
    "Networks",
    "ShapePlan",
    "build_from_spec",
    "build_model",
    "build_networks",
    "parameter_counts",
    "plan_model",
]
