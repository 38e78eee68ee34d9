"""Loading a spec from YAML or a dict, reporting every problem at once."""

from __future__ import annotations

import difflib
import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fusegen.errors import SpecError
from fusegen.spec.generator_spec import GeneratorSpec

#: Files that hold data, not a spec: given where a spec is expected, `init` is what was meant.
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".npz")


def load_spec(source: str | Path | dict[str, Any]) -> GeneratorSpec:
    """Load and validate a spec from a YAML file, a YAML string or a dict.

    Every problem is reported at once in one `SpecError`, each with its key
    path, e.g. ``inputs.photo.height: expected an integer greater than 0,
    received -3``.

    Example:

    >>> spec = load_spec('''
    ... inputs:
    ...   reading: {kind: numeric, columns: [a]}
    ... output: {kind: vector, size: 2}
    ... ''')
    >>> spec.inputs["reading"].kind
    'numeric'
    """
    origin = None
    if isinstance(source, dict):
        raw = source
    else:
        text, origin = _read_text(source)
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(error, "problem", None) or str(error)
            raise SpecError([f"{where}not valid YAML ({problem})"], source=origin) from None
    if not isinstance(raw, dict):
        table = origin is not None and Path(origin).suffix.lower() in DATA_SUFFIXES
        raise SpecError(
            [
                f"(top level): expected a mapping with 'inputs' and 'output', received {_short(raw)}"
                + (
                    f" (a data table: `fusegen init {origin} --out spec.yaml` writes a spec from it)"
                    if table
                    else ""
                )
            ],
            source=origin,
        )
    try:
        return GeneratorSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(format_validation_error(error, raw), source=origin) from None


def spec_to_yaml(spec: GeneratorSpec) -> str:
    """The spec as YAML, defaults included, so a run records exactly what it used."""
    data = json.loads(spec.model_dump_json())
    return yaml.safe_dump(data, sort_keys=False)


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec, as printed by ``fusegen schema``."""
    return GeneratorSpec.model_json_schema()


def _read_text(source: str | Path) -> tuple[str, str | None]:
    text = str(source)
    looks_like_path = isinstance(source, Path) or (
        "\n" not in text and text.endswith((".yaml", ".yml", ".json"))
    )
    if not looks_like_path:
        return text, None
    path = Path(source)
    if not path.is_file():
        raise SpecError([f"spec file '{path}' does not exist"], source=None)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([f"cannot read spec file '{path}': {error}"]) from None


#: A cross-check of the whole spec that starts with the key path it is about.
_OWN_KEY_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+: ")


def format_validation_error(error: ValidationError, raw: Any) -> list[str]:
    """Turn pydantic's errors into ``key.path: expected ..., received ...`` lines."""
    problems, expected = [], {}
    for detail in error.errors():
        path = _key_path(detail["loc"], raw)
        described = _describe(detail, raw)
        if not path and _OWN_KEY_PATH.match(described):
            problems.append(described)  # e.g. "data.windows.length: ...", checked against the inputs
            continue
        key = path or "(top level)"
        match = _EXPECTED.match(described)
        if match and key in expected:
            # One per member of a union (epochs: an integer or 'auto'): one line with every form.
            line = expected[key]
            problems[line] = problems[line].replace(", received ", f" or {match['what']}, received ", 1)
            continue
        if match:
            expected[key] = len(problems)
        problems.append(f"{key}: {described}")
    return problems


#: A description of what a key takes: the part a union's members each add to one line.
_EXPECTED = re.compile(r"^expected (?P<what>.+?), received ")


def _key_path(loc: tuple, raw: Any) -> str:
    """Join a pydantic location into a dotted key path.

    Pydantic inserts the discriminator value of a tagged union (``image`` in
    ``inputs.photo.image.height``) into the location; it is not a key the user
    wrote, so it is dropped by walking the raw data alongside the location.
    """
    parts = []
    node = raw
    for position, item in enumerate(loc):
        if position and isinstance(item, str) and node is not None and not isinstance(node, dict | list):
            break  # past the user's value: a union member's name ("constrained-int", "literal['auto']")
        if isinstance(node, dict) and item not in node and isinstance(item, str):
            following = loc[position + 1] if position + 1 < len(loc) else None
            # A tag the user wrote, or one a default filled in (the next key is the user's again).
            inserted = following is not None and following in node
            if item in (node.get("kind"), node.get("type"), node.get("method")) or inserted:
                continue
            if item.startswith("function-"):
                continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            node = node[item]
        else:
            node = None
    return "".join(parts)


def _describe(detail: dict, raw: Any) -> str:
    kind = detail["type"]
    context = detail.get("ctx") or {}
    received = _short(detail.get("input"))
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(detail["loc"][-1]), _spec_keys(), n=1, cutoff=0.8)
        if close:
            return f"unknown key (received {received}); did you mean '{close[0]}'? (`fusegen schema` lists them all)"
        return f"unknown key (received {received}); check its spelling against `fusegen schema`"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {
            "greater_than": ("greater than", "gt"),
            "greater_than_equal": ("at least", "ge"),
            "less_than": ("less than", "lt"),
            "less_than_equal": ("at most", "le"),
        }[kind]
        if kind == "greater_than" and context.get("gt") == 0:
            return f"expected a positive number, received {received}"
        return f"expected a number {bound[0]} {context.get(bound[1])}, received {received}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected an integer, received {received}"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number, received {received}"
    if kind == "union_tag_invalid":
        return (
            f"unknown {context.get('discriminator', 'kind').strip(chr(39))} "
            f"{context.get('tag')!r}; expected one of {context.get('expected_tags')}"
        )
    if kind == "union_tag_not_found":
        return f"missing {context.get('discriminator', 'kind').strip(chr(39))}; expected one of the registered names"
    if kind == "literal_error":
        return f"expected one of {context.get('expected')}, received {received}"
    if kind == "value_error":
        return str(context.get("error", detail["msg"]))
    message = detail["msg"][0].lower() + detail["msg"][1:]
    return f"{message}, received {received}"


@functools.cache
def _spec_keys() -> list[str]:
    """Every key a spec can hold, at any depth: what a misspelt key is matched against."""
    keys: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec_json_schema())
    return sorted(keys)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
