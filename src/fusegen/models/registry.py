"""Registries of model parts by name.

An implementation registers under the ``type`` name its config uses in the
spec, e.g. ``@ENCODERS.register("image", "conv")``. The planner looks parts
up here, so adding one is a config class in ``fusegen.spec.components`` plus
one file here that registers it.
"""

from __future__ import annotations

from collections.abc import Callable

from fusegen.errors import SpecError


class Registry:
    """A mapping from ``(kind, name)`` to a builder function."""

    def __init__(self, role: str):
        self.role = role
        self._entries: dict[tuple[str, str], Callable] = {}

    def register(self, kind: str, name: str):
        def decorate(function):
            key = (kind, name)
            if key in self._entries:
                raise ValueError(f"{self.role} '{name}' for kind '{kind}' is already registered")
            self._entries[key] = function
            return function

        return decorate

    def get(self, kind: str, name: str, key_path: str) -> Callable:
        try:
            return self._entries[(kind, name)]
        except KeyError:
            known = sorted(entry for entry_kind, entry in self._entries if entry_kind == kind)
            raise SpecError(
                [f"{key_path}: no {self.role} '{name}' is registered for kind '{kind}'; registered: {known}"]
            ) from None

    def names(self, kind: str) -> list[str]:
        return sorted(name for entry_kind, name in self._entries if entry_kind == kind)


ENCODERS = Registry("encoder")
HEADS = Registry("head")
FUSIONS = Registry("fusion method")
