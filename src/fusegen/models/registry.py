"""Registries of model parts by name.

An implementation registers under the name its config uses in the spec,
e.g. ``@ENCODERS.register("image", "conv")`` for a built-in config, or
``@ENCODERS.register("image", MyEncoderConfig)`` for a new part: the config
class then also joins the spec (its slot in ``fusegen.spec.registry``), so
a new part is one file and one registration. A part declares what it can
do in the same call (``needs_tokens=True``); the planner asks these
capabilities and never checks a name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fusegen.errors import SpecError
from fusegen.spec import ENCODER_SLOTS, FUSION_SLOT, HEAD_SLOTS


class Registry:
    """A mapping from ``(kind, name)`` to a builder function, with each part's capabilities.

    Args:
        role: what the parts are, for messages (``encoder``).
        slots: the spec's config slot per kind, which a new config joins.
        capabilities: every capability a part of this role may declare, with
            its default; a builder carries each as an attribute.
    """

    def __init__(self, role: str, slots: dict, capabilities: dict[str, bool] | None = None):
        self.role = role
        self.slots = slots
        self.capabilities = dict(capabilities or {})
        self._entries: dict[tuple[str, str], Callable] = {}

    def register(self, kind: str, name_or_config, **capabilities):
        """Register a builder for ``kind`` under a config's name (or a built-in config's name).

        Args:
            kind: the input or output kind (``image``), or ``any`` for fusion.
            name_or_config: the name a built-in config uses, or a new config
                class (a subclass of the slot's base) that the spec then accepts.
            **capabilities: what the part can do, from this registry's
                ``capabilities`` (the defaults fill the rest).
        """
        unknown = sorted(set(capabilities) - set(self.capabilities))
        if unknown:
            raise ValueError(
                f"{self.role}: unknown capabilities {unknown}; declare any of {sorted(self.capabilities)}"
            )
        if isinstance(name_or_config, str):
            names = (name_or_config,)
        else:
            slot = self.slots[kind]
            names = slot.names_of(slot.register(name_or_config))

        def decorate(function):
            for name in names:
                key = (kind, name)
                if key in self._entries and self._entries[key] is not function:
                    raise ValueError(f"{self.role} '{name}' for kind '{kind}' is already registered")
                self._entries[key] = function
            for capability, default in self.capabilities.items():
                setattr(function, capability, capabilities.get(capability, default))
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

    def entries(self) -> list[tuple[str, str]]:
        """Every registered ``(kind, name)`` pair, sorted; the conformance tests run one case per pair."""
        return sorted(self._entries)


ENCODERS = Registry("encoder", ENCODER_SLOTS)
HEADS = Registry("head", HEAD_SLOTS)
FUSIONS = Registry(
    "fusion method",
    {"any": FUSION_SLOT},
    capabilities={
        # Branches must share one width (projected to fusion.width) before fusing.
        "needs_common_width": False,
        # Branches arrive as token sets (..., tokens, width) rather than vectors.
        "needs_tokens": False,
        # It also runs on a single branch (attention over its tokens); others are skipped then.
        "fuses_one_branch": False,
        # It applies fusion.dropout_rate itself, so no Dropout layer follows it.
        "applies_dropout": False,
    },
)


def layer_name(*parts: str) -> str:
    """A Keras-safe layer name from user names (column names may hold any character)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))
