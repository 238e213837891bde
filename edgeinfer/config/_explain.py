"""Turn pydantic validation errors into lines: where, which key, why, and a fix."""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from edgeinfer.config.root import EdgeinferConfig

KeyPath = tuple[str | int, ...]

_WANTED = {
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text (quote it if YAML reads it as a number or boolean)",
    "list_type": "a list, e.g. [a, b]",
    "dict_type": "a mapping of keys",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "path_type": "a file path",
}
_NUMBER_ERRORS = {
    "int_parsing",
    "int_type",
    "int_from_float",
    "float_parsing",
    "float_type",
    "finite_number",
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
}
_BOUND_WORDS = {
    "ge": "at least",
    "gt": "greater than",
    "le": "at most",
    "lt": "less than",
}


def format_key(path: KeyPath) -> str:
    """A key path as typed after ``--set``, e.g. ``accelerators.1.hint``."""
    return ".".join(str(part) for part in path)


def explain_errors(
    err: ValidationError, data: Any, where: Mapping[KeyPath, str], source: str
) -> str:
    """One line per problem; several problems get a summary line first."""
    lines: list[str] = []
    seen: set[KeyPath] = set()
    for error in err.errors():
        path = _data_path(error, data)
        if path in seen:  # a union reports every branch; the first one says enough
            continue
        seen.add(path)
        lines.append(f"{_locate(path, where, source)}: {_explain(error, path)}")
    if len(lines) == 1:
        return lines[0]
    return "\n  ".join([f"{source}: {len(lines)} problems", *lines])


def is_secret(path: KeyPath) -> bool:
    """True when the key at ``path`` holds a secret that must never be printed."""
    _, field = _field_at(path)
    return field is not None and SecretStr in (
        field.annotation,
        *get_args(field.annotation),
    )


def _data_path(error: ErrorDetails, data: Any) -> KeyPath:
    # Follow pydantic's location through the input, dropping the union branch names
    # it inserts (e.g. 'openvino' in accelerators.1.openvino.hint).
    path: list[str | int] = []
    node = data
    for key in error["loc"]:
        children = dict(enumerate(node)) if isinstance(node, list) else node
        if isinstance(children, dict) and key in children:
            path.append(key)
            node = children[key]
    if error["type"] == "missing":
        path.append(error["loc"][-1])
    return tuple(path)


def _locate(path: KeyPath, where: Mapping[KeyPath, str], source: str) -> str:
    for end in range(len(path), 0, -1):
        if path[:end] in where:
            return where[path[:end]]
    return source


def _explain(error: ErrorDetails, path: KeyPath) -> str:
    key = format_key(path) or "(top level)"
    owner, field = _field_at(error["loc"])
    if error["type"] == "extra_forbidden":
        names = list(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(path[-1]), names, n=1)
        if close:
            return f"{key}: unknown key — did you mean {close[0]!r}?"
        return (
            f"{key}: unknown key — fix: remove it; valid keys here: {', '.join(names)}"
        )
    if error["type"] == "missing":
        return f"{key}: required key is missing — fix: add {key}"
    value = "'***'" if is_secret(error["loc"]) else _short_repr(error["input"])
    fix = _fix(error, key, field)
    return f"{key}: {value} is not valid: {error['msg']} — fix: {fix}"


def _fix(error: ErrorDetails, key: str, field: FieldInfo | None) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if "fix" in ctx:
        return str(ctx["fix"])
    if kind == "union_tag_invalid":
        return f"set {key}.kind to one of {ctx['expected_tags']}"
    if kind == "too_short":
        return f"give {key} at least {ctx['min_length']} item(s)"
    if wanted := _wanted(kind, ctx, field):
        return f"set {key} to {wanted}"
    if field is not None and field.description:
        return f"{key} is: {field.description}"
    return f"correct {key}"


def _wanted(kind: str, ctx: dict[str, Any], field: FieldInfo | None) -> str | None:
    if kind == "literal_error":
        return f"one of {ctx['expected']}"
    if kind in _NUMBER_ERRORS:
        annotation = field.annotation if field else None
        whole = kind.startswith("int") or int in (annotation, *get_args(annotation))
        noun = "a whole number" if whole else "a number"
        return f"{noun} {_bounds(field)}".strip()
    return _WANTED.get(kind)


def _bounds(field: FieldInfo | None) -> str:
    limits: dict[str, Any] = {}
    for item in field.metadata if field else ():
        for name in _BOUND_WORDS:
            if getattr(item, name, None) is not None:
                limits[name] = getattr(item, name)
    if "ge" in limits and "le" in limits:
        return f"between {limits['ge']} and {limits['le']}"
    return " and ".join(f"{_BOUND_WORDS[name]} {v}" for name, v in limits.items())


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_at(
    loc: tuple[str | int, ...],
) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model holding the last key of ``loc``, and that key's field, if known."""
    owner: Any = EdgeinferConfig
    for key in loc[:-1]:
        owner = _step(owner, key)
    owner = _strip_annotated(owner)
    if not loc or not (isinstance(owner, type) and issubclass(owner, BaseModel)):
        return None, None
    return owner, owner.model_fields.get(str(loc[-1]))


def _step(tp: Any, key: str | int) -> Any:
    """The type one step inside ``tp`` along a pydantic error location, or None."""
    tp = _strip_annotated(tp)
    origin = get_origin(tp)
    if origin in (list, dict):
        return get_args(tp)[-1]
    if origin in (Union, types.UnionType):
        branches = [arg for arg in get_args(tp) if arg is not type(None)]
        for branch in branches:  # a discriminated union names the branch by its tag
            kind = getattr(branch, "model_fields", {}).get("kind")
            if kind is not None and kind.default == key:
                return branch
        return _step(branches[0], key) if len(branches) == 1 else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(key))
        return field.annotation if field else None
    return None


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp
