"""The spec reference in Markdown, generated from the JSON Schema (``fusegen schema --markdown``)."""

from __future__ import annotations

import json
from typing import Any

from fusegen.spec.loading import spec_json_schema

HEADER = """# Spec reference

Generated from the spec's JSON Schema by `fusegen schema --markdown`; do not
edit by hand. Every section is one typed config; unknown keys are errors.
The top level is `GeneratorSpec`.
"""


def spec_reference_markdown() -> str:
    schema = spec_json_schema()
    definitions = schema.get("$defs", {})
    sections = [_section("GeneratorSpec", schema)]
    sections += [_section(name, definition) for name, definition in sorted(definitions.items())]
    return HEADER + "\n" + "\n".join(sections)


def _section(name: str, definition: dict[str, Any]) -> str:
    lines = [f"## {name}", ""]
    if definition.get("description"):
        # Docstring examples belong to the API docs, not the reference.
        text = definition["description"].split("Example:")[0]
        lines += [" ".join(text.split()), ""]
    properties = definition.get("properties", {})
    if not properties:
        return "\n".join(lines)
    required = set(definition.get("required", []))
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    for key, prop in properties.items():
        if key in required:
            default = "required"
        elif "default" in prop:
            default = _cell(json.dumps(prop["default"]))
        else:
            default = "its own defaults"
        description = " ".join(prop.get("description", "").split())
        lines.append(f"| `{key}` | {_cell(_type(prop))} | {default} | {_cell(description)} |")
    return "\n".join(lines) + "\n"


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return _ref(prop["$ref"])
    if "const" in prop:
        return json.dumps(prop["const"])
    if "enum" in prop:
        return " \\| ".join(json.dumps(value) for value in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " or ".join(_type(option) for option in prop[key])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items") or prop.get("prefixItems")
        if isinstance(items, list):
            return "[" + ", ".join(_type(item) for item in items) + "]"
        return f"list of {_type(items or {})}"
    if kind == "object":
        values = prop.get("additionalProperties")
        return f"mapping to {_type(values)}" if isinstance(values, dict) else "mapping"
    bounds = [f"{symbol} {prop[key]}" for key, symbol in
              (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<="))
              if key in prop]  # fmt: skip
    return (kind or "any") + (f" ({', '.join(bounds)})" if bounds else "")


def _ref(reference: str) -> str:
    name = reference.rsplit("/", 1)[-1]
    return f"[{name}](#{name.lower()})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
