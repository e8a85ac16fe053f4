"""YAML documents checked against a closed schema, with line numbers in every error.

The plan and the catalog are files people write by hand; an error must say
which key, on which line, is wrong, and a misspelt key is an error rather than
something silently ignored.

Every YAML document Atalaia reads comes through `load`, and may come from
anyone allowed to validate a plan: it is read within limits. YAML aliases
(`*name`) repeat an anchored value without repeating its text, so 439 bytes of
nested aliases expand to hundreds of millions of values; the expansion is
therefore counted and stopped, as are the size, the depth and the number of
aliases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

# Far larger than any plan, catalog, runbook or monitor file written by hand.
MAX_CHARACTERS = 1_000_000
# Deep enough for every schema of ours; far from Python's recursion limit for the
# parser and the checkers, which recurse once per level.
MAX_DEPTH = 50
# Anchors and aliases are allowed (they save repetition), within small bounds.
MAX_ALIASES = 100
MAX_ALIAS_COPIES = 10_000  # values produced by aliases beyond the document's own


class DocumentError(ValueError):
    """A document that does not follow its schema: every problem, each with its line."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class LimitError(DocumentError):
    """A document refused for its size, depth or aliases, before being read whole:
    an HTTP answer to it is 413, since no schema problem was looked for."""


def load(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML into plain Python objects plus the line number of every path."""
    if len(text) > MAX_CHARACTERS:
        raise LimitError([f"the document is longer than {MAX_CHARACTERS} characters"])
    try:
        node, nodes = _compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentError([f"{where}not valid YAML: {problem}"]) from None
    lines: dict[Path, int] = {}
    if node is None:
        return None, lines
    budget = _Budget(nodes + MAX_ALIAS_COPIES)
    return _convert(node, (), lines, budget), lines


def _compose(text: str) -> tuple[yaml.Node | None, int]:
    """The node graph and its number of nodes (the reader checks the text first)."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node(), loader.nodes
    finally:
        loader.dispose()


class _BoundedLoader(yaml.SafeLoader):
    """Composes the node graph (aliases stay shared, so this is cheap) while
    counting nodes and aliases and refusing too deep a nesting."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.nodes = self.aliases = self.depth = 0

    def compose_node(self, parent, index):
        line = self.peek_event().start_mark.line + 1
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise LimitError([f"line {line}: more than {MAX_ALIASES} aliases (*name)"])
            return super().compose_node(parent, index)
        self.nodes += 1
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LimitError([f"line {line}: nested more than {MAX_DEPTH} levels deep"])
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Budget:
    """How many more values the conversion may produce: the document's own nodes
    plus a bounded number of copies made by aliases."""

    def __init__(self, values: int) -> None:
        self.left = values
        self.scalars = yaml.SafeLoader("")

    def spend(self, node: yaml.Node, path: Path) -> None:
        self.left -= 1
        if self.left < 0:
            raise LimitError([f"line {node.start_mark.line + 1}: aliases expand to more than "
                              f"{MAX_ALIAS_COPIES} values"])
        if len(path) > MAX_DEPTH:  # an alias inside its own anchor repeats forever
            raise LimitError([f"line {node.start_mark.line + 1}: {_dotted(path[:3])}…: "
                              f"nested more than {MAX_DEPTH} levels deep"])


def _convert(node: yaml.Node, path: Path, lines: dict[Path, int], budget: _Budget) -> Any:
    budget.spend(node, path)
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in result:
                raise DocumentError([f"line {key_node.start_mark.line + 1}: "
                                     f"{_dotted(path + (key,))}: key appears twice"])
            result[key] = _convert(value_node, path + (key,), lines, budget)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, path + (i,), lines, budget) for i, item in enumerate(node.value)]
    return budget.scalars.construct_object(node, deep=True)


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (("." if text else "") + str(part))
    return text or "(document)"


@dataclass
class Checker:
    """Collects problems while walking a document."""

    lines: dict[Path, int]
    problems: list[str] = field(default_factory=list)

    def error(self, path: Path, message: str) -> None:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        prefix = f"line {line}: " if line else ""
        self.problems.append(f"{prefix}{_dotted(path)}: {message}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise DocumentError(self.problems)


# -- a small closed-schema language ------------------------------------------------

Validator = Callable[[Any, Path, Checker], Any]


def mapping(fields: dict[str, tuple[Validator, bool]], defaults: dict | None = None) -> Validator:
    """A mapping with exactly these keys: {name: (validator, required)}."""

    def check(value, path, checker):
        if not isinstance(value, dict):
            checker.error(path, f"expected a mapping, got {_kind(value)}")
            return None
        out = dict(defaults or {})
        for key in value:
            if key not in fields:
                known = ", ".join(sorted(fields))
                checker.error(path + (str(key),), f"unknown key {key!r} (allowed: {known})")
        for name, (validator, required) in fields.items():
            if name in value:
                out[name] = validator(value[name], path + (name,), checker)
            elif required:
                checker.error(path, f"missing required key {name!r}")
        return out

    return check


def mapping_of(value: Validator, key_pattern: str = r"[A-Za-z_][A-Za-z0-9_]*") -> Validator:
    """A mapping whose keys are names (matching key_pattern) and whose values all
    follow one validator."""
    import re

    compiled = re.compile(key_pattern)

    def check(data, path, checker):
        if not isinstance(data, dict):
            checker.error(path, f"expected a mapping, got {_kind(data)}")
            return {}
        out = {}
        for key, item in data.items():
            if not isinstance(key, str) or not compiled.fullmatch(key):
                checker.error(path + (str(key),), f"{key!r} is not a valid name")
                continue
            out[key] = value(item, path + (key,), checker)
        return out

    return check


def list_of(item: Validator, min_items: int = 0) -> Validator:
    def check(value, path, checker):
        if not isinstance(value, list):
            checker.error(path, f"expected a list, got {_kind(value)}")
            return []
        if len(value) < min_items:
            checker.error(path, f"needs at least {min_items} item(s)")
        return [item(v, path + (i,), checker) for i, v in enumerate(value)]

    return check


def string(max_length: int = 10_000, pattern: str | None = None, allow_empty=False) -> Validator:
    import re

    compiled = re.compile(pattern) if pattern else None

    def check(value, path, checker):
        if not isinstance(value, str):
            checker.error(path, f"expected text, got {_kind(value)}")
            return ""
        if not allow_empty and not value.strip():
            checker.error(path, "must not be empty")
        elif len(value) > max_length:
            checker.error(path, f"longer than {max_length} characters")
        elif compiled and not compiled.fullmatch(value):
            checker.error(path, f"{value!r} does not match {pattern}")
        return value

    return check


def integer(minimum: int | None = None, maximum: int | None = None) -> Validator:
    def check(value, path, checker):
        if isinstance(value, bool) or not isinstance(value, int):
            checker.error(path, f"expected a whole number, got {_kind(value)}")
            return 0
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            checker.error(path, f"{value} is outside {minimum}..{maximum}")
        return value

    return check


def number(minimum: float | None = None, maximum: float | None = None) -> Validator:
    def check(value, path, checker):
        if isinstance(value, bool) or not isinstance(value, int | float):
            checker.error(path, f"expected a number, got {_kind(value)}")
            return 0
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            checker.error(path, f"{value} is outside {minimum}..{maximum}")
        return value

    return check


def boolean() -> Validator:
    def check(value, path, checker):
        if not isinstance(value, bool):
            checker.error(path, f"expected true or false, got {_kind(value)}")
            return False
        return value

    return check


def one_of(*choices: str) -> Validator:
    def check(value, path, checker):
        if value not in choices:
            checker.error(path, f"{value!r} is not one of {', '.join(choices)}")
        return value

    return check


def any_value() -> Validator:
    return lambda value, path, checker: value


def text_or_localized(max_length: int = 10_000) -> Validator:
    """Plain text, or text in both product languages."""
    plain, both = string(max_length), localized()
    return lambda value, path, checker: (both if isinstance(value, dict) else plain)(
        value, path, checker)


def localized() -> Validator:
    """Text in both product languages: {en: ..., pt-BR: ...}."""
    return mapping({"en": (string(), True), "pt-BR": (string(), True)})


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
