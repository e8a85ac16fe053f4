"""Runbook files: a closed schema with line numbers in errors, typed parameters, and
commands built by quoting every parameter (never by pasting text into a shell).

    slug: disk-space
    name: Disk space
    service: database            # optional
    steps:
      - name: Free space
        kind: diagnostic         # or change (needs approval before it runs)
        command: "df -h {path}"
        timeout: 20              # seconds, default 30
        params:
          path: {type: path, default: /}

A file holds one runbook, or several under `runbooks:`. Parameter types: `string`
(optional `pattern`, `max_length`), `integer` (`min`, `max`), `choice` (`choices`) and
`path` (an absolute path). Every `{name}` in a command is a declared parameter.
"""

from __future__ import annotations

import re
import shlex
import string
from typing import Any

from django.db import transaction

from atalaia.accounts.models import User
from atalaia.catalog.models import Service
from atalaia.lib import yamldoc as y
from atalaia.lib.yamldoc import DocumentError
from atalaia.remote.models import Runbook, RunbookVersion

PARAM = y.mapping({
    "type": (y.one_of("string", "integer", "choice", "path"), True),
    "description": (y.string(500), False),
    "default": (y.any_value(), False),
    "pattern": (y.string(200), False),
    "max_length": (y.integer(1, 10_000), False),
    "min": (y.integer(), False),
    "max": (y.integer(), False),
    "choices": (y.list_of(y.string(200), min_items=1), False),
})
STEP = y.mapping({
    "name": (y.string(200), True),
    "kind": (y.one_of("diagnostic", "change"), True),
    "command": (y.string(5000), True),
    "description": (y.string(2000), False),
    "timeout": (y.integer(1, 3600), False),
    "params": (y.mapping_of(PARAM), False),
}, defaults={"timeout": 30, "params": {}})
RUNBOOK = y.mapping({
    "slug": (y.string(63, pattern=r"[a-z0-9][a-z0-9-]{0,62}"), True),
    "name": (y.string(200), True),
    "service": (y.string(63), False),
    "description": (y.string(5000), False),
    "steps": (y.list_of(STEP, min_items=1), True),
})


class ParamError(ValueError):
    """A parameter value a step cannot take; the message names it."""


def parse(text: str) -> list[dict]:
    """The runbooks of a file, checked. Raises DocumentError with every problem."""
    data, lines = y.load(text)
    checker = y.Checker(lines)
    base: tuple[str, ...]
    if isinstance(data, dict) and "runbooks" in data:
        books = y.mapping({"runbooks": (y.list_of(RUNBOOK, min_items=1), True)})(
            data, (), checker) or {"runbooks": []}
        found, base = books["runbooks"], ("runbooks",)
    else:
        found, base = [RUNBOOK(data if data is not None else {}, (), checker)], ()
    checker.raise_if_any()
    for i, book in enumerate(found):
        where: tuple = base + (i,) if base else ()
        _check_steps(book, where, checker)
        if book.get("service") and not Service.objects.filter(slug=book["service"]).exists():
            checker.error(where + ("service",), f"unknown service {book['service']!r}")
    checker.raise_if_any()
    return found


def _check_steps(book: dict, where: tuple, checker: y.Checker) -> None:
    names = set()
    for j, step in enumerate(book["steps"]):
        path = where + ("steps", j)
        if step["name"] in names:
            checker.error(path + ("name",), f"two steps are called {step['name']!r}")
        names.add(step["name"])
        fields = template_fields(step["command"])
        if fields is None:
            checker.error(path + ("command",), "a command uses {name} placeholders only "
                                               "(write {{ and }} for braces)")
            continue
        for name in fields - set(step["params"]):
            checker.error(path + ("command",), f"{{{name}}} is not a declared parameter")
        for name, param in step["params"].items():
            if param["type"] == "choice" and not param.get("choices"):
                checker.error(path + ("params", name), "a choice parameter lists its choices")
            if "default" in param:
                try:
                    check_value(name, param, param["default"])
                except ParamError as exc:
                    checker.error(path + ("params", name, "default"), str(exc))


def template_fields(command: str) -> set[str] | None:
    """The placeholders of a command, or None when it uses format specs or indexing."""
    fields = set()
    try:
        for _text, name, spec, conversion in string.Formatter().parse(command):
            if name is None:
                continue
            if spec or conversion or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                return None
            fields.add(name)
    except ValueError:
        return None
    return fields


def check_value(name: str, param: dict, value: Any) -> str:
    """The value as text, once it fits the parameter's type."""
    kind = param["type"]
    if kind == "integer":
        if isinstance(value, bool):
            raise ParamError(f"{name}: a whole number")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ParamError(f"{name}: a whole number") from None
        if ("min" in param and number < param["min"]) or ("max" in param and
                                                          number > param["max"]):
            raise ParamError(f"{name}: from {param.get('min', '…')} to {param.get('max', '…')}")
        return str(number)
    text = str(value if value is not None else "")
    if "\x00" in text or "\n" in text:
        raise ParamError(f"{name}: one line of text")
    if kind == "choice" and text not in param.get("choices", []):
        raise ParamError(f"{name}: one of {', '.join(param.get('choices', []))}")
    if kind == "path" and not text.startswith("/"):
        raise ParamError(f"{name}: an absolute path")
    if len(text) > param.get("max_length", 1000):
        raise ParamError(f"{name}: at most {param.get('max_length', 1000)} characters")
    if param.get("pattern") and not re.fullmatch(param["pattern"], text):
        raise ParamError(f"{name}: does not match {param['pattern']}")
    return text


def render(step: dict, values: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The command with every parameter checked and shell-quoted, and the values used."""
    unknown = set(values) - set(step["params"])
    if unknown:
        raise ParamError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    used = {}
    for name, param in step["params"].items():
        if name in values and values[name] not in ("", None):
            used[name] = check_value(name, param, values[name])
        elif "default" in param:
            used[name] = check_value(name, param, param["default"])
        else:
            raise ParamError(f"{name}: required")
    command = step["command"].format(**{k: shlex.quote(v) for k, v in used.items()})
    return command, used


def find_step(runbook: Runbook, name: str) -> dict:
    for step in runbook.steps:
        if step["name"] == name:
            return step
    raise ParamError(f"the runbook {runbook.slug} has no step {name!r}")


@transaction.atomic
def import_runbooks(text: str, actor: User | None = None) -> list[Runbook]:
    """Create or update the runbooks of a file: a changed runbook gets a new version."""
    saved = []
    for book in parse(text):
        service = Service.objects.filter(slug=book.get("service") or "").first()
        runbook = Runbook.objects.filter(slug=book["slug"]).first()
        if runbook is not None and runbook.steps == book["steps"] and \
                runbook.name == book["name"] and runbook.service == service:
            saved.append(runbook)
            continue
        if runbook is None:
            runbook = Runbook(slug=book["slug"], version=0)
        runbook.name, runbook.service, runbook.steps = book["name"], service, book["steps"]
        runbook.version += 1
        runbook.source = text
        runbook.save()
        RunbookVersion.objects.create(runbook=runbook, number=runbook.version, source=text,
                                      steps=book["steps"], created_by=actor)
        saved.append(runbook)
    return saved


__all__ = ["DocumentError", "ParamError", "import_runbooks", "parse", "render"]
