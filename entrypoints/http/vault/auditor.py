"""The auditor API (role ``auditor``, read-only): audit entries, checkpoints, keys, ceremonies.

Never key material: keys are shown by purpose, version, state, KCV and PKCS#11 attributes.
Every read is itself audited (``audit.read``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, Parameter

from entrypoints.http.security import roles
from entrypoints.http.vault.auditing import current_actor, request_origin
from vault.audit.entry import AuditEvent, Resource
from vault.ceremony.model import Ceremony
from vault.keys.model import KeyRecord

Limit = Annotated[int, Parameter(ge=1, le=1000, description="Page size.")]
Cursor = Annotated[str | None, Parameter(description="`next_cursor` of the previous page.")]


class Page(msgspec.Struct, frozen=True):
    data: list[Any]
    next_cursor: str | None = None


class CheckpointView(msgspec.Struct, frozen=True):
    size: int
    head: str  # hex
    at: datetime
    key_version: int
    note: str  # the C2SP signed note


class KeyView(msgspec.Struct, frozen=True):
    id: str  # the HSM label
    purpose: str
    version: int
    state: str
    algorithm: str
    kcv: str | None
    kcv_algorithm: str | None
    public_key: str | None
    attributes: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None
    cryptoperiod_ends_at: datetime
    retired_at: datetime | None
    destroyed_at: datetime | None
    ceremony_id: str
    backup_id: str | None

    @classmethod
    def of(cls, r: KeyRecord) -> KeyView:
        return cls(
            id=r.label, purpose=r.purpose, version=r.version, state=r.state, algorithm=r.algorithm,
            kcv=r.kcv, kcv_algorithm=r.kcv_algorithm, public_key=r.public_key.hex() if r.public_key else None,
            attributes=r.attributes, created_at=r.created_at, activated_at=r.activated_at,
            cryptoperiod_ends_at=r.cryptoperiod_ends_at, retired_at=r.retired_at, destroyed_at=r.destroyed_at,
            ceremony_id=r.ceremony_id, backup_id=r.backup_id,
        )


class KeyInventory(msgspec.Struct, frozen=True):
    data: list[KeyView]
    verifier_keys: list[str]  # audit keys as C2SP note verifier keys, for `bursar audit verify --public-key`


class ApprovalView(msgspec.Struct, frozen=True):
    custodian_id: str
    signature: str
    signed_at: datetime


class CeremonyView(msgspec.Struct, frozen=True):
    id: str
    kind: str
    status: str
    step_hash: str
    proposal: dict[str, Any]
    proposed_by: str
    proposed_at: datetime
    expires_at: datetime
    approvals: list[ApprovalView]
    executed_by: str | None
    executed_at: datetime | None
    failure: str | None
    transcript: dict[str, Any] | None = None
    transcript_canonical: str | None = None  # the exact signed bytes (UTF-8)
    transcript_signature: str | None = None  # Ed25519, hex
    transcript_sha256: str | None = None

    @classmethod
    def of(cls, c: Ceremony, *, full: bool) -> CeremonyView:
        extra = {}
        if full and c.transcript:
            extra = {
                "transcript": json.loads(c.transcript),
                "transcript_canonical": c.transcript,
                "transcript_signature": c.transcript_signature.hex() if c.transcript_signature else None,
                "transcript_sha256": c.transcript_hash,
            }
        return cls(
            id=c.id, kind=c.kind, status=c.status, step_hash=c.step_hash, proposal=json.loads(c.proposal),
            proposed_by=c.proposed_by, proposed_at=c.proposed_at, expires_at=c.expires_at,
            approvals=[ApprovalView(a.custodian_id, a.signature.hex(), a.signed_at) for a in c.approvals],
            executed_by=c.executed_by, executed_at=c.executed_at, failure=c.failure, **extra,
        )


async def _audit_read(state: State, what: str, resource_id: str, **details: Any) -> None:
    await state.container.audit().record(AuditEvent(
        action="audit.read", actor=current_actor(), resource=Resource(type=what, id=resource_id),
        origin=request_origin(), details=details,
    ))


def _int_cursor(cursor: str | None, default: int) -> int:
    return int(cursor) if cursor and cursor.lstrip("-").isdigit() else default


class AuditorController(Controller):
    tags = ["auditor"]
    opt = roles("auditor")

    @get("/v1/audit/entries", summary="Audit entries, oldest first (hash-chained)")
    async def entries(self, state: State, limit: FromQuery[Limit] = 100, cursor: FromQuery[Cursor] = None) -> Page:
        after = _int_cursor(cursor, 0)
        found = await state.container.audit_store().entries(after_seq=after, limit=limit)
        await _audit_read(state, "audit_log", "entries", after=after, count=len(found))
        next_cursor = str(found[-1].seq) if len(found) == limit else None
        return Page([e.to_json() for e in found], next_cursor)

    @get("/v1/audit/checkpoints", summary="Signed checkpoints (C2SP signed notes), oldest first")
    async def checkpoints(self, state: State, limit: FromQuery[Limit] = 100, cursor: FromQuery[Cursor] = None) -> Page:
        after = _int_cursor(cursor, -1)
        found = await state.container.audit_store().checkpoints(after_size=after, limit=limit)
        await _audit_read(state, "audit_log", "checkpoints", after=after, count=len(found))
        views = [CheckpointView(c.size, c.head.hex(), c.at, c.key_version, c.note) for c in found]
        return Page(views, str(found[-1].size) if len(found) == limit else None)

    @get("/v1/keys", summary="The key inventory: purpose, version, state, KCV, attributes, dates")
    async def keys(self, state: State) -> KeyInventory:
        keys = state.container.keys()
        records = await keys.store.all()
        await _audit_read(state, "key", "inventory", count=len(records))
        return KeyInventory([KeyView.of(r) for r in records], [k.encode() for k in await keys.verifier_keys()])

    @get("/v1/ceremonies", summary="Key ceremonies, oldest first")
    async def ceremonies(self, state: State, limit: FromQuery[Limit] = 100, cursor: FromQuery[Cursor] = None) -> Page:
        found = await state.container.ceremony_store().ceremonies(cursor, limit)
        await _audit_read(state, "ceremony", "list", count=len(found))
        return Page([CeremonyView.of(c, full=False) for c in found], found[-1].id if len(found) == limit else None)

    @get("/v1/ceremonies/{ceremony_id:str}", summary="One ceremony with its signed transcript")
    async def ceremony(self, state: State, ceremony_id: FromPath[str]) -> CeremonyView:
        found = await state.container.ceremony_store().ceremony(ceremony_id)
        await _audit_read(state, "ceremony", ceremony_id)
        return CeremonyView.of(found, full=True)
