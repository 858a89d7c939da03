"""Key ceremonies: steps, proposals, custodians and approvals (PCI DSS 3.6 / 3.7).

A ceremony is one :class:`Step` (generate, rotate, activate, retire, destroy,
restore a backup). It is *proposed*; the proposal is a canonical JSON document
naming the step, the vault, the quorum and an expiry. Each custodian signs the
proposal's hash with their own Ed25519 key, offline. The step runs only once M
distinct registered, acknowledged custodians have signed that exact hash
before it expired.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec

from vault.canonical import canonical_json, sha256_hex, timestamp
from vault.errors import InvalidRequest
from vault.keys.model import POLICIES, KeyPurpose

PROPOSAL_TYPE = "bursar-ceremony-proposal/v1"
ACK_TYPE = "bursar-custodian-acknowledgement/v1"
APPROVAL_PREFIX = b"bursar-ceremony-approval/v1:"
ACK_STATEMENT = (
    "I accept the role of key custodian for this Bursar vault. I will approve only ceremony steps "
    "I have checked, keep my private key and any secret share I receive confidential and under my "
    "sole control, and report at once any suspected compromise."
)


class StepKind(enum.StrEnum):
    GENERATE = "generate"  # a new version: active if the purpose has none, else pre_active
    ROTATE = "rotate"  # a new version that becomes active; the previous one decrypt_only
    ACTIVATE = "activate"  # a pre_active version becomes active; the previous one decrypt_only
    RETIRE = "retire"  # decrypt_only (or pre_active) -> retired: no use at all
    DESTROY = "destroy"  # retired -> destroyed: removed from the HSM
    RESTORE_BACKUP = "restore_backup"  # unwrap a backup onto the HSM with M custodians' shares


_NEEDS_VERSION = {StepKind.ACTIVATE, StepKind.RETIRE, StepKind.DESTROY}
_MAY_BACK_UP = {StepKind.GENERATE, StepKind.ROTATE}


class Step(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kind: StepKind
    purpose: KeyPurpose
    version: int | None = None
    backup: bool = False  # generate/rotate: also export an encrypted backup split among custodians
    backup_id: str | None = None  # restore_backup: which backup

    def __post_init__(self) -> None:
        if (self.kind in _NEEDS_VERSION) != (self.version is not None):
            raise InvalidRequest(f"a {self.kind} step {'needs' if self.kind in _NEEDS_VERSION else 'takes no'} version")
        if self.backup and self.kind not in _MAY_BACK_UP:
            raise InvalidRequest("only generate and rotate steps can export a backup")
        if self.backup and not POLICIES[self.purpose].backup_allowed:
            raise InvalidRequest(f"{self.purpose} keys are never backed up: rotate them instead")
        if (self.kind == StepKind.RESTORE_BACKUP) != (self.backup_id is not None):
            raise InvalidRequest("a restore_backup step, and only it, names a backup_id")


class Proposal(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    vault: str  # the vault's audit origin: a signature for one vault is no good for another
    step: Step
    quorum: int  # M
    custodians: int  # N
    proposed_by: str
    proposed_at: datetime
    expires_at: datetime

    def document(self) -> dict[str, Any]:
        return {
            "type": PROPOSAL_TYPE,
            "id": self.id,
            "vault": self.vault,
            "step": msgspec.to_builtins(self.step),
            "quorum": {"m": self.quorum, "n": self.custodians},
            "proposed_by": self.proposed_by,
            "proposed_at": timestamp(self.proposed_at),
            "expires_at": timestamp(self.expires_at),
        }

    def canonical(self) -> str:
        return canonical_json(self.document()).decode()


def step_hash(proposal_text: str) -> str:
    """What custodians sign: the hex SHA-256 of the canonical proposal."""
    return sha256_hex(proposal_text.encode())


def approval_message(hash_hex: str) -> bytes:
    return APPROVAL_PREFIX + hash_hex.encode()


def acknowledgement(custodian_id: str, name: str, public_key: bytes, vault: str) -> str:
    """The canonical statement a custodian signs to accept the role."""
    return canonical_json({
        "type": ACK_TYPE,
        "custodian_id": custodian_id,
        "name": name,
        "public_key": public_key.hex(),
        "vault": vault,
        "statement": ACK_STATEMENT,
    }).decode()


class Custodian(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    public_key: bytes  # raw Ed25519
    registered_at: datetime
    registered_by: str
    acknowledgement: str
    ack_signature: bytes | None = None
    acknowledged_at: datetime | None = None

    @property
    def acknowledged(self) -> bool:
        return self.ack_signature is not None


class Approval(msgspec.Struct, frozen=True, kw_only=True):
    ceremony_id: str
    custodian_id: str
    signature: bytes
    signed_at: datetime


class CeremonyStatus(enum.StrEnum):
    PROPOSED = "proposed"
    EXECUTED = "executed"
    FAILED = "failed"


class Ceremony(msgspec.Struct, frozen=True, kw_only=True):
    """A proposal as stored, with its approvals and, once run, its signed transcript."""

    id: str
    kind: StepKind
    proposal: str  # canonical JSON (what was signed)
    step_hash: str
    proposed_by: str
    proposed_at: datetime
    expires_at: datetime
    status: CeremonyStatus
    approvals: tuple[Approval, ...] = ()
    executed_by: str | None = None
    executed_at: datetime | None = None
    transcript: str | None = None  # canonical JSON
    transcript_signature: bytes | None = None
    transcript_hash: str | None = None
    failure: str | None = None

    def step(self) -> Step:
        return msgspec.convert(msgspec.json.decode(self.proposal)["step"], Step)


class KeyBackup(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    purpose: KeyPurpose
    version: int
    wrapped: bytes
    mechanism: str
    key_kcv: str
    transport_kcv: str
    threshold: int
    shares: int
    share_fingerprints: dict[str, str]  # custodian id -> SHA-256 of their share
    ceremony_id: str
    created_at: datetime
