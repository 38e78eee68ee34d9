"""The typed configs a spec accepts in each slot, and how a new part adds its own.

A *slot* is a spec key that holds one of several typed configs, chosen by a
discriminator: ``objective`` (by ``type``), ``fusion`` (by ``method``), the
``encoder`` of each input kind and the ``head`` of each output kind (by
``type``). Each slot starts with fusegen's own configs; `ConfigSlot.register`
adds another, and the spec then validates it, reports its errors and lists
it in the JSON Schema exactly like the built-in ones. A new part is
therefore one file: its config class, registered here through the
registration decorator of its implementation (``fusegen.models.registry``
for encoders, fusion methods and heads, ``fusegen.objectives`` for
objectives), which calls `ConfigSlot.register` for it.

See docs/adding-a-part.md for a worked example.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, BeforeValidator, Field
from pydantic.fields import FieldInfo


class ConfigSlot:
    """The configs one spec key accepts, keyed by the value of their discriminator field.

    Args:
        key: the key as a user writes it, for messages (``fusion``, ``inputs.*.encoder (image)``).
        discriminator: the field naming the config (``type`` or ``method``).
        members: the built-in config classes.
        base: the class every member must subclass.
        default: the discriminator value assumed when a mapping leaves it out.
    """

    def __init__(
        self,
        key: str,
        discriminator: str,
        members: list[type[BaseModel]],
        base: type[BaseModel],
        default: str | None = None,
    ):
        self.key = key
        self.discriminator = discriminator
        self.base = base
        self.default = default
        self._members: list[type[BaseModel]] = []
        self._owners: list[tuple[type[BaseModel], str, bool, bool]] = []
        for member in members:
            self._add(member)

    # -- what the slot holds -------------------------------------------

    def names(self) -> list[str]:
        """Every discriminator value the slot accepts, e.g. ``['add', 'attention', 'concat', 'gated']``."""
        return sorted(name for member in self._members for name in self.names_of(member))

    def config(self, name: str) -> type[BaseModel]:
        """The config class registered for ``name``."""
        for member in self._members:
            if name in self.names_of(member):
                return member
        raise KeyError(f"{self.key}: no config named '{name}'; registered: {self.names()}")

    def names_of(self, config: type[BaseModel]) -> tuple[str, ...]:
        """The discriminator values ``config`` answers to (a ``Literal`` may name several)."""
        field = config.model_fields.get(self.discriminator)
        names = typing.get_args(field.annotation) if field is not None else ()
        if not names or not all(isinstance(name, str) for name in names):
            raise TypeError(
                f"{config.__name__} needs a field '{self.discriminator}' typed as a Literal of its name(s), "
                f"e.g. {self.discriminator}: Literal['my_part'] = 'my_part'"
            )
        return names

    def annotation(self, optional: bool = False) -> Any:
        """The type of the slot's field: a discriminated union of every member."""
        union = Union[tuple(self._members)] if len(self._members) > 1 else self._members[0]
        annotated = Annotated[
            union, Field(discriminator=self.discriminator), BeforeValidator(self._with_default)
        ]
        return Union[annotated, None] if optional else annotated

    def attach(
        self, owner: type[BaseModel], field: str, optional: bool = False, mapping: bool = False
    ) -> None:
        """Note that ``owner.field`` is this slot, so a registration rebuilds it.

        With ``mapping``, the field is a ``dict[str, ...]`` of slot values (the spec's ``inputs``).
        """
        self._owners.append((owner, field, optional, mapping))

    # -- registering ---------------------------------------------------

    def register(self, config: type[BaseModel]) -> type[BaseModel]:
        """Accept ``config`` in this slot from now on; returns it (usable as a decorator)."""
        if config in self._members:
            return config
        self._add(config)
        for owner, field, optional, mapping in self._owners:
            previous = owner.model_fields[field]
            keep = {"description": previous.description}
            if previous.default_factory is not None:
                keep["default_factory"] = previous.default_factory
            else:
                keep["default"] = previous.default
            annotation = self.annotation(optional)
            owner.model_fields[field] = FieldInfo.from_annotated_attribute(
                dict[str, annotation] if mapping else annotation, Field(**keep)
            )
            owner.model_rebuild(force=True)
        _rebuild_spec()
        return config

    def _add(self, config: type[BaseModel]) -> None:
        if not (isinstance(config, type) and issubclass(config, self.base)):
            raise TypeError(
                f"a config for {self.key} must subclass {self.base.__name__}, received {config!r}"
            )
        taken = set(self.names()) & set(self.names_of(config))
        if taken:
            raise ValueError(f"{self.key}: {sorted(taken)} already registered")
        self._members.append(config)

    def _with_default(self, value):
        if self.default is not None and isinstance(value, dict) and self.discriminator not in value:
            return {self.discriminator: self.default, **value}
        return value


def _rebuild_spec() -> None:
    # The top-level spec compiles its inputs' and output's schemas into its own.
    from fusegen.spec.generator_spec import GeneratorSpec

    GeneratorSpec.model_rebuild(force=True)
