"""Argument checks shared by fusegen's layers."""

from __future__ import annotations


def check_positive(**values) -> None:
    """Raise a ValueError naming the first argument that is not a positive integer.

    Example:

    >>> check_positive(height=3, width=5)
    >>> check_positive(height=0)
    Traceback (most recent call last):
    ...
    ValueError: `height` must be a positive integer. Received: height=0
    """
    for name, value in values.items():
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
