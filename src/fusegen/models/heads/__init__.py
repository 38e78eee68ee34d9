"""Output heads, designed from the target shape so the output is always exactly it."""

from fusegen.models.heads import image, sequence, vector  # noqa: F401
from fusegen.models.heads.base import HeadLayers

__all__ = ["HeadLayers"]
