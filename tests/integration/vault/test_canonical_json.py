"""vault.canonical's fast path (msgspec, sorted keys) is RFC 8785 for every value it takes, and
everything else goes to the reference implementation: same bytes, or the same refusal."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.audit.entry import Actor, AuditEvent, Origin, Resource, entry_body
from vault.canonical import _plain, canonical_json


def _same(value) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception as refused:  # noqa: BLE001 - the reference refuses: so must we
        with pytest.raises(type(refused)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_every_code_point_is_written_as_rfc8785_writes_it():
    chunk = 512  # escaping is per character: chunks of consecutive code points cover them all
    for start in range(0, sys.maxunicode + 1, chunk):
        text = "".join(chr(cp) for cp in range(start, min(start + chunk, sys.maxunicode + 1))
                       if not 0xD800 <= cp <= 0xDFFF)
        value = {"k": text, "l": [text]}
        assert _plain(value)
        assert canonical_json(value) == rfc8785.dumps(value), hex(start)


@pytest.mark.parametrize("value", [
    2**53 - 1, -(2**53) + 1, 2**53, -(2**53), 10**30,  # the safe-integer boundary
    1.0, 0.5, -0.0, float("nan"), float("inf"),  # floats: the reference's number form, or refusal
    {"é": 1, "e": 2, "\ue000": 3, "\U0001f600": 4},  # non-ASCII keys: UTF-16 order
    ("a", 1), "\ud800", {"s": "\udfff"},  # tuples, lone surrogates
    {"b": [True, False, None, {"z": "", "a": "\u2028\x7f\x00"}]},
])
def test_values_outside_the_fast_path_match_the_reference(value):
    _same(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**60), max_value=2**60) | st.text() | st.floats(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json_value_matches_the_reference(value):
    _same(value)


def test_an_audit_entry_body_takes_the_fast_path():
    event = AuditEvent(
        action="card.revealed", actor=Actor(id="01J0REVEALCLIENT", role="reveal"),
        resource=Resource(type="token", id="tok_" + "a" * 26), origin=Origin(ip="127.0.0.1", request_id="r-1"),
        details={"requested_by": "01J0CORE", "cvv_version": 1, "note": "naïve \"quoted\"\n"},
    )
    body = entry_body(42, datetime(2026, 11, 20, 10, 0, tzinfo=UTC), event)
    assert _plain(body)
    assert canonical_json(body) == rfc8785.dumps(body)
