"""Canonical JSON (RFC 8785, JCS) and the hashes built on it.

Everything the vault signs or chains -- audit entries, ceremony steps,
transcripts, custodian acknowledgements -- is hashed over its RFC 8785 form:
keys sorted, no insignificant whitespace, UTF-8. Values are restricted to
strings, integers (|n| < 2**53), booleans, null, lists and objects, so any
JSON implementation re-creates the exact bytes.

For such values with ASCII object keys, RFC 8785 is exactly msgspec's compact encoding with
sorted keys: both write integers in decimal, strings as UTF-8 with the same escapes (every code
point checked in ``tests/integration/vault/test_canonical_json.py``), and ASCII keys sort the same
by UTF-16 code units as by code points. :func:`canonical_json` takes that fast path after a type
check and hands anything else (floats, big integers, non-ASCII keys, tuples, subclasses of str)
to the ``rfc8785`` reference implementation, which either agrees or refuses.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec
import rfc8785

_SORTED = msgspec.json.Encoder(order="sorted")
_INT_MIN, _INT_MAX = -(2**53) + 1, 2**53 - 1  # RFC 8785 (I-JSON): integers exact as doubles


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON-compatible value."""
    if _plain(value):
        try:
            return _SORTED.encode(value)
        except UnicodeEncodeError:  # a lone surrogate: the reference implementation refuses it
            pass
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    """Whether msgspec's sorted compact JSON of ``value`` is its RFC 8785 form."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return _INT_MIN <= value <= _INT_MAX
    if kind is dict:
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_hash(value: Any) -> str:
    """Hex SHA-256 of the canonical form of ``value``."""
    return sha256_hex(canonical_json(value))


def timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds (``2026-11-20T10:00:00.000000Z``): one spelling per instant."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
