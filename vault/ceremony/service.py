"""Running key ceremonies: register custodians, propose, approve, execute with quorum.

Every call is audited (``custodian.*``, ``ceremony.*``), refusals included.
Execution re-checks everything -- proposal unexpired and still proposed, M
distinct registered and acknowledged custodians whose signatures verify over
this proposal's hash -- then runs the step on the HSM, writes a transcript
(canonical JSON: the proposal, the approvals with their signatures, every key
touched with its KCV and PKCS#11 attributes, software and token versions),
signs it with the HSM audit key and appends its hash to the audit log.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from vault.audit.entry import Actor, AuditEvent, Resource
from vault.audit.log import AuditLog
from vault.canonical import canonical_json, sha256_hex, timestamp
from vault.ceremony import shares
from vault.ceremony.custodian_keys import verify
from vault.ceremony.model import (
    Approval,
    Ceremony,
    CeremonyStatus,
    Custodian,
    KeyBackup,
    Proposal,
    Step,
    StepKind,
    acknowledgement,
    approval_message,
    step_hash,
)
from vault.ceremony.store import PostgresCeremonyStore
from vault.errors import Conflict, Forbidden, InvalidRequest, NotFound, VaultError
from vault.keys.manager import KeyManager
from vault.keys.model import KeyPurpose, KeyRecord, KeyState

TRANSCRIPT_TYPE = "bursar-ceremony-transcript/v1"


class CeremonyPolicy(msgspec.Struct, frozen=True, kw_only=True):
    quorum: int = 2  # M: approvals needed
    custodians: int = 3  # N: custodians that may be registered (and hold backup shares)
    proposal_ttl: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if not 1 <= self.quorum <= self.custodians:
            raise ValueError("the ceremony quorum M must satisfy 1 <= M <= N")


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    ceremony: Ceremony
    shares: dict[str, str] = {}  # custodian name -> secret share, for a step that exported a backup


class Ceremonies:
    def __init__(
        self,
        store: PostgresCeremonyStore,
        keys: KeyManager,
        audit: AuditLog,
        now: Callable[[], datetime],
        new_id: Callable[[], str],
        policy: CeremonyPolicy,
        software: Callable[[], dict[str, Any]],
    ) -> None:
        self.store = store
        self.keys = keys
        self.audit = audit
        self.policy = policy
        self._now = now
        self._new_id = new_id
        self._software = software

    # -- custodians ----------------------------------------------------------------------

    async def register_custodian(self, name: str, public_key: bytes, operator: str) -> Custodian:
        registered = await self.store.custodians()
        if len(registered) >= self.policy.custodians:
            await self._refused("custodian.registered", operator, "custodian", name, "all custodian seats taken")
            raise Conflict(f"all {self.policy.custodians} custodian seats are taken", code="custodians_full")
        if len(public_key) != 32:
            raise InvalidRequest("a custodian's public key is a 32-byte Ed25519 key")
        custodian_id = self._new_id()
        custodian = Custodian(
            id=custodian_id,
            name=name,
            public_key=public_key,
            registered_at=self._now(),
            registered_by=operator,
            acknowledgement=acknowledgement(custodian_id, name, public_key, self.audit.origin),
        )
        await self.store.add_custodian(custodian)
        await self._record("custodian.registered", _operator(operator), "custodian", custodian_id,
                           details={"name": name, "public_key": public_key.hex()})
        return custodian

    async def acknowledge(self, custodian: str, signature: bytes) -> Custodian:
        found = await self.store.custodian(custodian)
        if not verify(found.public_key, signature, found.acknowledgement.encode()):
            await self._refused("custodian.acknowledged", found.id, "custodian", found.id, "bad signature",
                                role="custodian")
            raise Forbidden("the signature does not verify with the custodian's key", code="bad_signature")
        await self.store.acknowledge(found.id, signature, self._now())
        await self._record("custodian.acknowledged", _custodian(found), "custodian", found.id)
        return await self.store.custodian(found.id)

    # -- proposals and approvals -----------------------------------------------------------

    async def propose(self, step: Step, operator: str) -> Ceremony:
        await self._check_preconditions(step)
        now = self._now()
        proposal = Proposal(
            id=self._new_id(),
            vault=self.audit.origin,
            step=step,
            quorum=self.policy.quorum,
            custodians=self.policy.custodians,
            proposed_by=operator,
            proposed_at=now,
            expires_at=now + self.policy.proposal_ttl,
        )
        text = proposal.canonical()
        ceremony = Ceremony(
            id=proposal.id,
            kind=step.kind,
            proposal=text,
            step_hash=step_hash(text),
            proposed_by=operator,
            proposed_at=now,
            expires_at=proposal.expires_at,
            status=CeremonyStatus.PROPOSED,
        )
        await self.store.add_ceremony(ceremony)
        await self._record("ceremony.proposed", _operator(operator), "ceremony", ceremony.id,
                           details={"step": step.kind.value, "purpose": step.purpose.value,
                                    "step_hash": ceremony.step_hash})
        return ceremony

    async def approve(self, ceremony_id: str, custodian: str, signature: bytes) -> Ceremony:
        ceremony = await self.store.ceremony(ceremony_id)
        try:
            found = await self.store.custodian(custodian)
        except NotFound:
            await self._refused("ceremony.approved", custodian, "ceremony", ceremony_id,
                                "not a registered custodian", role="custodian")
            raise
        reason = self._approval_problem(ceremony, found, signature)
        if reason is None and any(a.custodian_id == found.id for a in ceremony.approvals):
            reason = "this custodian has already approved this ceremony"
        if reason is not None:
            await self._refused("ceremony.approved", found.id, "ceremony", ceremony_id, reason, role="custodian")
            raise Forbidden(reason, code="approval_refused")
        await self.store.add_approval(
            Approval(ceremony_id=ceremony_id, custodian_id=found.id, signature=signature, signed_at=self._now())
        )
        await self._record("ceremony.approved", _custodian(found), "ceremony", ceremony_id,
                           details={"step_hash": ceremony.step_hash})
        return await self.store.ceremony(ceremony_id)

    def _approval_problem(self, ceremony: Ceremony, custodian: Custodian, signature: bytes) -> str | None:
        if ceremony.status != CeremonyStatus.PROPOSED:
            return f"the ceremony is {ceremony.status}"
        if self._now() >= ceremony.expires_at:
            return "the proposal has expired"
        if not custodian.acknowledged:
            return "the custodian has not acknowledged the role"
        if not verify(custodian.public_key, signature, approval_message(ceremony.step_hash)):
            return "the signature is not this custodian's signature of this step"
        return None

    # -- execution ---------------------------------------------------------------------

    async def execute(self, ceremony_id: str, operator: str, *, shares_in: list[str] = ()) -> Outcome:
        """Run a proposed step once quorum is met; returns the ceremony and any new backup shares."""
        async with self.store.exclusive(ceremony_id):
            ceremony = await self.store.ceremony(ceremony_id)
            approvers = await self._quorum(ceremony, operator)
            step = ceremony.step()
            await self._check_preconditions(step)
            transport = None
            if step.kind == StepKind.RESTORE_BACKUP:
                try:
                    transport = await self._rebuild_transport(step, list(shares_in))
                except VaultError as exc:  # the proposal stays open: bring the right shares
                    await self._refused("ceremony.executed", operator, "ceremony", ceremony_id, exc.message)
                    raise
            try:
                result, new_shares = await self._run(step, ceremony_id, transport)
            except VaultError as exc:
                await self._fail(ceremony, operator, exc.message)
                raise
            return Outcome(ceremony=await self._finish(ceremony, operator, approvers, result), shares=new_shares)

    async def _quorum(self, ceremony: Ceremony, operator: str) -> list[Custodian]:
        reason = None
        if ceremony.status != CeremonyStatus.PROPOSED:
            reason = f"the ceremony is {ceremony.status}"
        elif self._now() >= ceremony.expires_at:
            reason = "the proposal has expired"
        approvers: dict[str, Custodian] = {}
        for approval in ceremony.approvals:
            custodian = await self.store.custodian(approval.custodian_id)
            if self._approval_problem(ceremony, custodian, approval.signature) is None:
                approvers[custodian.id] = custodian
        if reason is None and len(approvers) < self.policy.quorum:
            reason = f"quorum not met: {len(approvers)} of {self.policy.quorum} required approvals"
        if reason is not None:
            await self._refused("ceremony.executed", operator, "ceremony", ceremony.id, reason)
            raise Forbidden(reason, code="quorum_not_met" if "quorum" in reason else "ceremony_refused")
        return list(approvers.values())

    async def _rebuild_transport(self, step: Step, given: list[str]) -> tuple[KeyBackup, bytes]:
        assert step.backup_id is not None
        backup = await self.store.backup(step.backup_id)
        if len(given) < backup.threshold:
            raise InvalidRequest(
                f"restoring needs {backup.threshold} custodians' shares; {len(given)} given", code="shares_invalid"
            )
        secret = shares.combine(given)
        if shares.transport_kcv(secret) != backup.transport_kcv:
            raise InvalidRequest("the shares rebuild a different transport key", code="shares_invalid")
        return backup, secret

    async def _run(
        self, step: Step, ceremony_id: str, transport: tuple[KeyBackup, bytes] | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        keys = self.keys
        changes: list[tuple[KeyRecord | None, KeyRecord]] = []
        backup_facts = None
        new_shares: dict[str, str] = {}
        if step.kind in (StepKind.GENERATE, StepKind.ROTATE):
            secret = secrets.token_bytes(32) if step.backup else None
            generated = await keys.generate(step.purpose, ceremony_id, transport_key=secret)
            changes.append((None, generated.record))
            if step.kind == StepKind.ROTATE or await keys.store.active(step.purpose) is None:
                activated = await keys.activate(step.purpose, generated.record.version)
                changes = [(None, activated[0][1]), *activated[1:]]
            if secret is not None and generated.wrapped is not None:
                backup_facts, new_shares = await self._store_backup(
                    generated.record, generated.wrapped, secret, ceremony_id
                )
        elif step.kind == StepKind.ACTIVATE:
            changes.extend(await keys.activate(step.purpose, step.version))
        elif step.kind == StepKind.RETIRE:
            changes.append(await keys.retire(step.purpose, step.version))
        elif step.kind == StepKind.DESTROY:
            changes.append(await keys.destroy(step.purpose, step.version))
        elif step.kind == StepKind.RESTORE_BACKUP:
            assert transport is not None
            backup, secret = transport
            before = await keys.store.get(backup.purpose, backup.version)
            changes.append((before, await keys.restore(backup.purpose, backup.version, backup.wrapped, secret)))
            backup_facts = {"id": backup.id, "restored": True, "key_kcv": backup.key_kcv}
        for before, after in changes:
            await self._record("key." + _key_action(step.kind, before, after), _system(), "key", after.label,
                               details={"ceremony_id": ceremony_id, "state": after.state.value,
                                        "kcv": after.kcv})
        result = {"keys": [_key_change(before, after) for before, after in changes], "backup": backup_facts}
        return result, new_shares

    async def _store_backup(
        self, record: KeyRecord, wrapped: bytes, secret: bytes, ceremony_id: str
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Store the wrapped key; split its transport key among the custodians (name -> share)."""
        holders = [c for c in await self.store.custodians() if c.acknowledged]
        split = shares.split(secret, self.policy.quorum, [c.id for c in holders])
        backup = KeyBackup(
            id=self._new_id(),
            purpose=record.purpose,
            version=record.version,
            wrapped=wrapped,
            mechanism="CKM_AES_KEY_WRAP_PAD",
            key_kcv=record.kcv or "",
            transport_kcv=shares.transport_kcv(secret),
            threshold=self.policy.quorum,
            shares=len(holders),
            share_fingerprints={cid: shares.fingerprint(share) for cid, share in split.items()},
            ceremony_id=ceremony_id,
            created_at=self._now(),
        )
        await self.store.add_backup(backup)
        facts = {
            "id": backup.id,
            "mechanism": backup.mechanism,
            "wrapped_sha256": sha256_hex(wrapped),
            "key_kcv": backup.key_kcv,
            "transport_kcv": backup.transport_kcv,
            "threshold": backup.threshold,
            "share_fingerprints": backup.share_fingerprints,
        }
        return facts, {c.name: split[c.id] for c in holders}

    async def _finish(
        self, ceremony: Ceremony, operator: str, approvers: list[Custodian], result: dict[str, Any]
    ) -> Ceremony:
        now = self._now()
        approval_of = {a.custodian_id: a for a in ceremony.approvals}
        transcript: dict[str, Any] = {
            "type": TRANSCRIPT_TYPE,
            "proposal": msgspec.json.decode(ceremony.proposal),
            "step_hash": ceremony.step_hash,
            "approvals": [
                {
                    "custodian_id": c.id,
                    "name": c.name,
                    "public_key": c.public_key.hex(),
                    "signature": approval_of[c.id].signature.hex(),
                    "signed_at": timestamp(approval_of[c.id].signed_at),
                }
                for c in approvers if c.id in approval_of
            ],
            "quorum": {"m": self.policy.quorum, "n": self.policy.custodians},
            "executed_by": operator,
            "executed_at": timestamp(now),
            "result": result,
            "software": await asyncio.to_thread(self._software),
        }
        record = await self.keys.active(KeyPurpose.AUDIT_SIGNING)
        transcript["signing_key"] = {"purpose": record.purpose.value, "version": record.version,
                                     "public_key": (record.public_key or b"").hex()}
        text = canonical_json(transcript)
        _, signature = await self.keys.sign(KeyPurpose.AUDIT_SIGNING, text)
        finished = msgspec.structs.replace(
            ceremony,
            status=CeremonyStatus.EXECUTED,
            executed_by=operator,
            executed_at=now,
            transcript=text.decode(),
            transcript_signature=signature,
            transcript_hash=sha256_hex(text),
        )
        await self.store.finish(finished)
        await self._record("ceremony.executed", _operator(operator), "ceremony", ceremony.id,
                           details={"transcript_sha256": finished.transcript_hash,
                                    "signing_key_version": record.version})
        return await self.store.ceremony(ceremony.id)

    async def _fail(self, ceremony: Ceremony, operator: str, reason: str) -> None:
        failed = msgspec.structs.replace(
            ceremony, status=CeremonyStatus.FAILED, executed_by=operator, executed_at=self._now(), failure=reason
        )
        await self.store.finish(failed)
        await self._record("ceremony.executed", _operator(operator), "ceremony", ceremony.id,
                           outcome="failure", reason=reason)

    async def _check_preconditions(self, step: Step) -> None:
        """Refuse a step the current key states make impossible (before anyone signs it, and again before it runs)."""
        audit_key = await self.keys.store.active(KeyPurpose.AUDIT_SIGNING)
        generates_audit_key = step.purpose == KeyPurpose.AUDIT_SIGNING and step.kind in (StepKind.GENERATE, StepKind.ROTATE)
        if audit_key is None and not generates_audit_key:
            raise Conflict("generate the audit signing key first: it signs every ceremony transcript",
                           code="audit_key_missing")
        if step.version is not None:
            record = await self.keys.store.get(step.purpose, step.version)
            target = {StepKind.ACTIVATE: KeyState.ACTIVE, StepKind.RETIRE: KeyState.RETIRED,
                      StepKind.DESTROY: KeyState.DESTROYED}[step.kind]
            record.moved_to(target, self._now())  # raises KeyStateError when not allowed
        if step.kind == StepKind.RESTORE_BACKUP:
            assert step.backup_id is not None
            await self.store.backup(step.backup_id)

    # -- audit helpers -----------------------------------------------------------------

    async def _record(self, action: str, actor: Actor, kind: str, resource_id: str, *, outcome: str = "success",
                      reason: str | None = None, details: dict[str, Any] | None = None) -> None:
        await self.audit.record(AuditEvent(action=action, actor=actor, resource=Resource(type=kind, id=resource_id),
                                           outcome=outcome, reason=reason, details=details or {}))

    async def _refused(self, action: str, actor_id: str, kind: str, resource_id: str, reason: str,
                       *, role: str = "operator") -> None:
        await self._record(action, Actor(id=actor_id, role=role), kind, resource_id, outcome="denied", reason=reason)


def _operator(name: str) -> Actor:
    return Actor(id=name, role="operator")


def _custodian(custodian: Custodian) -> Actor:
    return Actor(id=custodian.id, role="custodian")


def _system() -> Actor:
    return Actor(id="vault", role="system")


_STATE_ACTIONS = {
    KeyState.ACTIVE: "activated",
    KeyState.DECRYPT_ONLY: "deactivated",
    KeyState.RETIRED: "retired",
    KeyState.DESTROYED: "destroyed",
}


def _key_action(kind: StepKind, before: KeyRecord | None, after: KeyRecord) -> str:
    if before is None:
        return "generated"
    if kind == StepKind.RESTORE_BACKUP:
        return "restored"
    return _STATE_ACTIONS[after.state]


def _key_change(before: KeyRecord | None, after: KeyRecord) -> dict[str, Any]:
    return {
        "purpose": after.purpose.value,
        "version": after.version,
        "label": after.label,
        "algorithm": after.algorithm.value,
        "state_before": before.state.value if before else None,
        "state_after": after.state.value,
        "kcv": after.kcv,
        "kcv_algorithm": after.kcv_algorithm,
        "public_key": after.public_key.hex() if after.public_key else None,
        "attributes": after.attributes,
    }
