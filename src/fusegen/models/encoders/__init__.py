"""Per-modality encoders. Each returns the Keras layers of one branch, applied in order."""

from fusegen.models.encoders import categorical, image, numeric, sequence, text  # noqa: F401
