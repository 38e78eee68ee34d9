"""Model parts: encoders, fusion, heads, the shape planner and the model builder."""

from fusegen.models.builder import build_from_spec, build_model, parameter_counts
from fusegen.models.planner import ShapePlan, plan_model

__all__ = ["ShapePlan", "build_from_spec", "build_model", "parameter_counts", "plan_model"]
