"""The one door for JSON from outside: depth, size and text no database can store."""

import json

import pytest

from atalaia.lib.jsondoc import MAX_DEPTH, JSONInputError, depth, parse


def refusal(raw: bytes, **limits) -> JSONInputError:
    with pytest.raises(JSONInputError) as caught:
        parse(raw, max_bytes=limits.pop("max_bytes", 10_000_000), **limits)
    return caught.value


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deep_nesting_is_refused_by_name_without_recursion(levels):
    for body in (b"[" * levels + b"]" * levels, b'{"a":' * levels + b"1" + b"}" * levels):
        error = refusal(body)
        assert (error.status, str(error)) == (
            400, f"the JSON is nested more than {MAX_DEPTH} levels deep")


def test_nesting_up_to_the_limit_and_brackets_inside_text_are_fine():
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse(body, max_bytes=1000) is not None
    text = json.dumps({"summary": "[" * 5_000, "details": {"list": [1, 2, [3]]}}).encode()
    assert parse(text, max_bytes=100_000)["summary"] == "[" * 5_000
    escaped = json.dumps({"a": "\\\"" + "[" * 500, "b": [[[]]]}).encode()
    assert depth(escaped) == 4


def test_a_lone_surrogate_is_refused_where_it_is_but_a_pair_is_text():
    error = refusal(b'{"payload": {"summary": "a\\ud800b"}}')
    assert error.status == 400 and str(error).startswith("payload.summary contains a lone")
    assert "lone" in str(refusal(b'{"alerts": [{"x": "\\uDC00"}]}'))
    assert "a key in alerts" in str(refusal(b'{"alerts": {"\\udbff": 1}}'))
    assert parse(b'{"s": "\\ud83d\\ude00"}', max_bytes=100) == {"s": "\N{GRINNING FACE}"}
    assert parse(b'{"s": "\\\\ud800"}', max_bytes=100) == {"s": "\\ud800"}  # a backslash


def test_nul_size_and_syntax_each_say_what_is_wrong():
    assert "NUL" in str(refusal(b'{"title": "a\\u0000b"}'))
    assert parse(b'{"t": "a\\u0000"}', max_bytes=100, allow_nul=True) == {"t": "a\x00"}
    too_big = refusal(b"[" + b"1," * 100 + b"1]", max_bytes=100)
    assert (too_big.status, str(too_big)) == (413, "the body is larger than 100 bytes")
    assert str(refusal(b'{"a": ')) == "the body is not valid JSON"
    assert str(refusal(b"\xff\xfe{")) == "the body is not valid JSON"
