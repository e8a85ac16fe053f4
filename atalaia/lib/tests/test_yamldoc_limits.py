"""YAML from anyone who may validate a plan: aliases, depth and size within bounds."""

import time

import pytest

from atalaia.lib import yamldoc
from atalaia.lib.yamldoc import MAX_ALIAS_COPIES, MAX_ALIASES, MAX_DEPTH, LimitError


def alias_bomb(levels: int = 9) -> str:
    """Each level repeats the one before nine times: 9**9 values from ~400 bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnop"
    for before, name in zip(names, names[1:levels], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{before}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def problems(text: str) -> list[str]:
    with pytest.raises(LimitError) as caught:
        yamldoc.load(text)
    return caught.value.problems


def test_an_alias_bomb_is_refused_at_once():
    started = time.monotonic()
    assert problems(alias_bomb()) == [
        f"line 1: aliases expand to more than {MAX_ALIAS_COPIES} values"]
    assert time.monotonic() - started < 1  # an upper bound with a wide margin


def test_an_alias_inside_its_own_anchor_and_deep_nesting_are_refused():
    assert problems("a: &a [*a]")[0].endswith(f"nested more than {MAX_DEPTH} levels deep")
    assert problems("[" * 100_000) == [f"line 1: nested more than {MAX_DEPTH} levels deep"]
    nested = "a:\n" + "".join("  " * i + f" k{i}:\n" for i in range(1, 60))
    assert "nested more than" in problems(nested)[0]


def test_too_many_aliases_or_characters_are_refused():
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    assert problems(many) == [f"line 2: more than {MAX_ALIASES} aliases (*name)"]
    assert problems("a: " + "x" * yamldoc.MAX_CHARACTERS) == [
        f"the document is longer than {yamldoc.MAX_CHARACTERS} characters"]


def test_anchors_and_a_few_aliases_still_work_with_their_lines():
    data, lines = yamldoc.load("base: &base {tier: 1, owner: ops}\n"
                               "checkout: *base\npayments: [*base, *base]\n")
    assert data["payments"] == [{"tier": 1, "owner": "ops"}] * 2
    assert data["checkout"] == data["base"]
    assert lines[("payments",)] == 3


def test_characters_yaml_refuses_are_a_document_error():
    with pytest.raises(yamldoc.DocumentError) as caught:
        yamldoc.load("name: \u009f")
    assert caught.value.problems[0].startswith("not valid YAML")
