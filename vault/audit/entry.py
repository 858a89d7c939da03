"""Audit entries and the hash chain that links them.

An entry records who (``actor``: credential id and role) did what
(``action``) to which resource (a token id, key id or ceremony id -- never a
PAN), with what ``outcome`` and why (``reason``), from where (``origin``: ip
and request id), with a few extra ``details``.

Entry ``seq`` (1, 2, 3, ...) is chained to entry ``seq - 1``::

    hash(seq) = SHA-256(hash(seq - 1) || canonical(entry))

where ``hash(0)`` is 32 zero bytes and ``canonical(entry)`` is the RFC 8785
form of :meth:`AuditEntry.body` -- every field except ``prev_hash`` and
``hash``. Editing, removing, inserting or reordering an entry therefore breaks
the chain from that point on, and a signed checkpoint (size, head hash) pins
the whole prefix.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec

from vault.canonical import canonical_json, parse_timestamp, timestamp

GENESIS = bytes(32)
DetailValue = str | int | bool | None

OUTCOMES = ("success", "denied", "failure")


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # credential id, custodian id or "system"
    role: str  # API key role, "custodian", "operator" or "system"


SYSTEM = Actor(id="vault", role="system")


class Resource(msgspec.Struct, frozen=True, kw_only=True):
    type: str  # "token", "key", "ceremony", "custodian", "api_key", "audit_log", "service"
    id: str


class Origin(msgspec.Struct, frozen=True, kw_only=True):
    ip: str | None = None
    request_id: str | None = None


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something to record; the log gives it a ``seq``, a time and its place in the chain."""

    action: str  # dotted, e.g. "reveal", "key.generated", "ceremony.executed", "auth.failed"
    actor: Actor
    resource: Resource
    outcome: str = "success"
    reason: str | None = None
    origin: Origin = Origin()
    details: dict[str, DetailValue] = {}

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: datetime
    event: AuditEvent
    prev_hash: bytes
    hash: bytes

    def body(self) -> dict[str, Any]:
        """The hashed fields, as plain JSON values."""
        return entry_body(self.seq, self.at, self.event)

    def to_json(self) -> dict[str, Any]:
        """The export form: the body plus ``prev_hash`` and ``hash`` in hex."""
        return {**self.body(), "prev_hash": self.prev_hash.hex(), "hash": self.hash.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditEntry:
        event = msgspec.convert(
            {k: data[k] for k in ("action", "actor", "resource", "outcome", "reason", "origin", "details")},
            AuditEvent,
        )
        return cls(
            seq=data["seq"],
            at=parse_timestamp(data["at"]),
            event=event,
            prev_hash=bytes.fromhex(data["prev_hash"]),
            hash=bytes.fromhex(data["hash"]),
        )


def entry_body(seq: int, at: datetime, event: AuditEvent) -> dict[str, Any]:
    return _body(seq, timestamp(at), event)


def _body(seq: int, stamp: str, event: AuditEvent) -> dict[str, Any]:
    return {"seq": seq, "at": stamp, **msgspec.to_builtins(event)}


def chain_hash(prev_hash: bytes, body: dict[str, Any]) -> bytes:
    """``SHA-256(prev_hash || canonical(body))``."""
    return hashlib.sha256(prev_hash + canonical_json(body)).digest()


def chain(events: list[AuditEvent], *, after_seq: int, after_hash: bytes, at: datetime) -> list[AuditEntry]:
    """Entries for ``events``, continuing the chain whose head is (``after_seq``, ``after_hash``)."""
    entries = []
    prev = after_hash
    stamp = timestamp(at)  # one time for the whole batch
    for offset, event in enumerate(events, start=1):
        seq = after_seq + offset
        digest = chain_hash(prev, _body(seq, stamp, event))
        entries.append(AuditEntry(seq=seq, at=at, event=event, prev_hash=prev, hash=digest))
        prev = digest
    return entries
