"""Canonical JSON (RFC 8785, JCS) and the hashes built on it.

Everything the vault signs or chains -- audit entries, ceremony steps,
transcripts, custodian acknowledgements -- is hashed over its RFC 8785 form:
keys sorted, no insignificant whitespace, UTF-8. Values are restricted to
strings, integers (|n| < 2**53), booleans, null, lists and objects, so any
JSON implementation re-creates the exact bytes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import rfc8785


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON-compatible value."""
    return rfc8785.dumps(value)


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
