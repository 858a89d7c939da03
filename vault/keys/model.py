"""The vault's key inventory: purposes, versions, states and what each state allows.

Every key is identified by ``(purpose, version)`` and lives on the HSM under
the label ``<prefix>/<purpose>/v<version>`` (prefix ``bursar`` unless several
vaults share one token). Its life::

    pre_active --activate--> active --(a newer version activates)--> decrypt_only
        |                                                               |
        +--------------------------> retired <--------retire-----------+
                                        |
                                     destroy --> destroyed (gone from the HSM)

* ``active``: the one version per purpose that encrypts, wraps, signs and
  computes new blind indexes or CVV2s.
* ``decrypt_only``: still unwraps, verifies and recomputes for existing data,
  never protects new data.
* ``retired``: kept on the HSM but refused for any use; the step before destroy.
* ``destroyed``: removed from the HSM (crypto-shredding of what it protected).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

import msgspec

from vault.errors import KeyStateError


class KeyPurpose(enum.StrEnum):
    KEK = "kek"  # AES-256: wraps the vault's data-encryption keys
    BLIND_INDEX = "blind_index"  # HMAC-SHA256: PAN -> lookup index
    CVV = "cvv"  # HMAC-SHA256: derives CVV2 on demand
    AUDIT_SIGNING = "audit_signing"  # Ed25519: signs audit checkpoints and ceremony transcripts


class KeyState(enum.StrEnum):
    PRE_ACTIVE = "pre_active"
    ACTIVE = "active"
    DECRYPT_ONLY = "decrypt_only"
    RETIRED = "retired"
    DESTROYED = "destroyed"


class KeyAlgorithm(enum.StrEnum):
    AES_256 = "AES-256"
    HMAC_SHA256 = "HMAC-SHA256"
    ED25519 = "Ed25519"


class KeyPolicy(msgspec.Struct, frozen=True, kw_only=True):
    algorithm: KeyAlgorithm
    cryptoperiod: timedelta
    backup_allowed: bool  # may be generated backup-capable (wrapped once under a transport key)


POLICIES: dict[KeyPurpose, KeyPolicy] = {
    KeyPurpose.KEK: KeyPolicy(
        algorithm=KeyAlgorithm.AES_256, cryptoperiod=timedelta(days=365), backup_allowed=True
    ),
    KeyPurpose.BLIND_INDEX: KeyPolicy(
        algorithm=KeyAlgorithm.HMAC_SHA256, cryptoperiod=timedelta(days=3 * 365), backup_allowed=True
    ),
    KeyPurpose.CVV: KeyPolicy(
        algorithm=KeyAlgorithm.HMAC_SHA256, cryptoperiod=timedelta(days=3 * 365), backup_allowed=True
    ),
    KeyPurpose.AUDIT_SIGNING: KeyPolicy(
        algorithm=KeyAlgorithm.ED25519, cryptoperiod=timedelta(days=2 * 365), backup_allowed=False
    ),
}

_TRANSITIONS: dict[KeyState, frozenset[KeyState]] = {
    KeyState.PRE_ACTIVE: frozenset({KeyState.ACTIVE, KeyState.RETIRED}),
    KeyState.ACTIVE: frozenset({KeyState.DECRYPT_ONLY}),
    KeyState.DECRYPT_ONLY: frozenset({KeyState.RETIRED}),
    KeyState.RETIRED: frozenset({KeyState.DESTROYED}),
    KeyState.DESTROYED: frozenset(),
}
PROTECTS = frozenset({KeyState.ACTIVE})  # encrypt, wrap, sign, new indexes
OPENS = frozenset({KeyState.ACTIVE, KeyState.DECRYPT_ONLY})  # decrypt, unwrap, verify, look up


def label_of(prefix: str, purpose: KeyPurpose, version: int) -> str:
    return f"{prefix}/{purpose.value}/v{version}"


class KeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    purpose: KeyPurpose
    version: int
    state: KeyState
    label: str
    algorithm: KeyAlgorithm
    kcv: str | None  # secret keys: first 3 bytes, hex (see kcv_algorithm)
    kcv_algorithm: str | None
    public_key: bytes | None  # Ed25519 keys: the raw 32-byte public key
    attributes: dict[str, Any]  # PKCS#11 attributes read back from the token (never the value)
    ceremony_id: str
    created_at: datetime
    cryptoperiod_ends_at: datetime
    backup_id: str | None = None
    activated_at: datetime | None = None
    deactivated_at: datetime | None = None
    retired_at: datetime | None = None
    destroyed_at: datetime | None = None

    def require(self, allowed: frozenset[KeyState], use: str) -> None:
        """Raise :class:`KeyStateError` unless this version's state allows ``use``."""
        if self.state not in allowed:
            raise KeyStateError(f"{self.label} is {self.state}: it may not {use}")

    def moved_to(self, state: KeyState, at: datetime) -> KeyRecord:
        """This record in ``state``; refuses a transition the life cycle does not allow."""
        if state not in _TRANSITIONS[self.state]:
            raise KeyStateError(f"{self.label} is {self.state}: it cannot become {state}")
        stamp = {
            KeyState.ACTIVE: "activated_at",
            KeyState.DECRYPT_ONLY: "deactivated_at",
            KeyState.RETIRED: "retired_at",
            KeyState.DESTROYED: "destroyed_at",
        }[state]
        return msgspec.structs.replace(self, state=state, **{stamp: at})

    def past_cryptoperiod(self, now: datetime) -> bool:
        return now >= self.cryptoperiod_ends_at
