"""Read a YAML config, apply ``--set`` overrides, validate it into ``EdgeinferConfig``.

Every failure is a ``ConfigError`` with one line per problem, e.g.::

    device-configs/demo.yaml:14: mqtt.port: 70000 is not valid: Input should be less
    than or equal to 65535 — fix: set mqtt.port to a whole number between 1 and 65535

(on one line). For a value that came from an override, the place is ``--set k=v``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgeinfer.config._explain import KeyPath, explain_errors, format_key, is_secret
from edgeinfer.config.root import EdgeinferConfig
from edgeinfer.errors import ConfigError


def load_config(path: Path, overrides: Sequence[str] = ()) -> EdgeinferConfig:
    """Load ``path``, apply ``KEY=VALUE`` overrides and validate the result.

    Relative paths inside the file resolve against the file's directory.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found — fix: check the path "
            "(example profiles are in device-configs/)"
        ) from None
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot read config file: {err.strerror} — fix: pass a readable "
            "YAML file"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: not UTF-8 text — fix: save the file as UTF-8"
        ) from None
    return parse_config(text, str(path), overrides, base_dir=path.absolute().parent)


def parse_config(
    text: str,
    source: str,
    overrides: Sequence[str] = (),
    base_dir: Path | None = None,
) -> EdgeinferConfig:
    """Validate YAML ``text`` named ``source`` in messages, after ``overrides``.

    Relative paths resolve against ``base_dir``; with None they stay relative.
    """
    data, where = _read_yaml(text, source)
    return _validate(data, where, source, overrides, base_dir)


def validate_data(
    data: dict[str, Any],
    source: str,
    overrides: Sequence[str] = (),
    base_dir: Path | None = None,
) -> EdgeinferConfig:
    """Validate already parsed config ``data`` (e.g. a file with a patch merged in)
    the way ``parse_config`` validates a file; ``data`` itself is not changed."""
    return _validate(copy.deepcopy(data), {}, source, overrides, base_dir)


def _validate(
    data: dict[str, Any],
    where: dict[KeyPath, str],
    source: str,
    overrides: Sequence[str],
    base_dir: Path | None,
) -> EdgeinferConfig:
    for override in overrides:
        _apply_override(data, where, override)
    try:
        return EdgeinferConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as err:
        raise ConfigError(explain_errors(err, data, where, source)) from None


def dump_config(config: EdgeinferConfig) -> dict[str, Any]:
    """The config as JSON-safe data, with every secret masked."""
    return config.model_dump(mode="json")


def _read_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[KeyPath, str]]:
    """The parsed mapping, and ``source:line`` for every key and list item in it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        place = f"{source}:{mark.line + 1}" if mark else source
        problem = err.problem or err.context or "syntax error"
        raise ConfigError(
            f"{place}: not valid YAML: {problem} — fix: check the indentation, "
            "colons and quotes on that line"
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(
            f"{source}: not valid YAML: {' '.join(str(err).split())}"
        ) from None
    finally:
        loader.dispose()
    if node is None:
        raise ConfigError(
            f"{source}: config file is empty — fix: start from a profile in "
            "device-configs/"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}:1: the top level is a {type(data).__name__}, not a mapping "
            "— fix: start from keys such as device:, models:, mqtt:"
        )
    where: dict[KeyPath, str] = {}
    _record_lines(node, (), source, where)
    return data, where


def _record_lines(
    node: yaml.Node, path: KeyPath, source: str, where: dict[KeyPath, str]
) -> None:
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in first_line:  # PyYAML would silently keep the last one
                raise ConfigError(
                    f"{source}:{line}: {format_key((*path, key))}: duplicate key "
                    f"(also on line {first_line[key]}) — fix: keep only one"
                )
            first_line[key] = line
            where[(*path, key)] = f"{source}:{line}"
            _record_lines(value_node, (*path, key), source, where)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            where[(*path, index)] = f"{source}:{item.start_mark.line + 1}"
            _record_lines(item, (*path, index), source, where)


def _apply_override(data: dict[str, Any], where: dict[KeyPath, str], text: str) -> None:
    """Set ``a.b.0.c=value`` in ``data``; the value is YAML (``1884``, ``[a, b]``)."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError(
            f"--set {text}: expected KEY=VALUE — fix: write it like "
            "--set mqtt.port=1884"
        )
    place = f"--set {key.strip()}=***" if is_secret(tuple(parts)) else f"--set {text}"
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(
            f"{place}: the value is not valid YAML — fix: quote it, "
            f"e.g. --set '{key.strip()}=\"...\"'"
        ) from None
    node: Any = data
    path: KeyPath = ()
    for part in parts[:-1]:
        path = _add_slot(node, path, part, place, where)
        if node[path[-1]] is None:
            node[path[-1]] = {}
        node = node[path[-1]]
    path = _add_slot(node, path, parts[-1], place, where)
    node[path[-1]] = value
    for known in [k for k in where if len(k) > len(path) and k[: len(path)] == path]:
        del where[known]  # the override replaced what the file had below this key
    where[path] = place


def _add_slot(
    node: Any, path: KeyPath, part: str, place: str, where: dict[KeyPath, str]
) -> KeyPath:
    """Make sure ``node`` (at ``path``) has a ``part`` entry; return its key path."""
    if isinstance(node, dict):
        step: str | int = part
    elif isinstance(node, list) and part.isdigit() and int(part) <= len(node):
        step = int(part)
    elif isinstance(node, list):
        raise ConfigError(
            f"{place}: {format_key(path)} has {len(node)} items — fix: use an "
            f"index from 0 to {len(node)} (the last one appends)"
        )
    else:
        raise ConfigError(
            f"{place}: {format_key(path)} holds a single value, not a mapping "
            f"— fix: set {format_key(path)} itself"
        )
    if isinstance(node, list) and step == len(node):
        node.append(None)
    elif isinstance(node, dict) and step not in node:
        node[step] = None
    else:
        return (*path, step)
    where[(*path, step)] = place  # errors inside a new entry point at the override
    return (*path, step)
