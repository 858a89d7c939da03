"""Key operations: generate on the HSM, move through the life cycle, use by state.

:class:`KeyManager` is the only place that turns a ``(purpose, version)`` into
an HSM key handle, and it checks the version's state first: protecting new
data or signing needs ``active``; opening existing data needs ``active`` or
``decrypt_only``. Life-cycle changes (generate, activate, retire, destroy,
restore) are run by key ceremonies (:mod:`vault.ceremony`), never directly by
an API route.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from pkcs11 import Mechanism
from pkcs11.exceptions import PKCS11Error
from pkcs11.mechanisms import GCMParams

from hsm import eddsa
from hsm.backup import restore_backup, wrap_for_backup
from hsm.keys import (
    KeyKind,
    destroy_keys,
    find_key,
    generate_aes_key,
    generate_ed25519_keypair,
    generate_hmac_key,
    kcv,
    key_attributes,
    seal,
)
from hsm.session import Hsm
from vault.audit import checkpoint as notes
from vault.errors import IntegrityError, KeyStateError
from vault.keys.model import (
    OPENS,
    POLICIES,
    KeyAlgorithm,
    KeyPurpose,
    KeyRecord,
    KeyState,
    label_of,
)
from vault.keys.store import PostgresKeyStore

_SECRET_KIND = {KeyAlgorithm.AES_256: KeyKind.AES, KeyAlgorithm.HMAC_SHA256: KeyKind.HMAC}


class GeneratedKey(msgspec.Struct, frozen=True, kw_only=True):
    record: KeyRecord
    wrapped: bytes | None  # the backup, when generated backup-capable


class KeyManager:
    def __init__(
        self,
        hsm: Hsm,
        store: PostgresKeyStore,
        now: Callable[[], datetime],
        *,
        audit_origin: str,
        label_prefix: str = "bursar",
    ) -> None:
        self.hsm = hsm
        self.store = store
        self._now = now
        self._audit_origin = audit_origin
        self._label_prefix = label_prefix
        self.hsm_calls = 0  # HSM operations on the hot paths (wrap, unwrap, derive), for metrics
        self.generation = 0  # bumped by every life-cycle change made here, so caches can notice

    # -- inventory --------------------------------------------------------------------

    async def active(self, purpose: KeyPurpose) -> KeyRecord:
        record = await self.store.active(purpose)
        if record is None:
            raise KeyStateError(f"there is no active {purpose} key: run a key ceremony to generate one")
        return record

    async def active_kek(self) -> KeyRecord:
        return await self.active(KeyPurpose.KEK)

    async def usable(self, purpose: KeyPurpose, version: int, use: str) -> KeyRecord:
        """The record of ``(purpose, version)`` if its state allows opening existing data."""
        record = await self.store.get(purpose, version)
        record.require(OPENS, use)
        return record

    # -- life cycle (run by ceremonies) ------------------------------------------------

    async def generate(
        self, purpose: KeyPurpose, ceremony_id: str, *, transport_key: bytes | None = None
    ) -> GeneratedKey:
        """A new ``pre_active`` version of ``purpose``, generated on the HSM.

        With ``transport_key`` the key is generated backup-capable, wrapped once
        under it, then sealed (non-extractable for good) before this returns.
        """
        policy = POLICIES[purpose]
        if transport_key is not None and not policy.backup_allowed:
            raise KeyStateError(f"{purpose} keys are never backed up: rotate them instead")
        version = await self.store.next_version(purpose)
        label = label_of(self._label_prefix, purpose, version)
        generated = await asyncio.to_thread(self._generate_on_token, policy.algorithm, label, transport_key)
        facts, wrapped = generated
        now = self._now()
        record = KeyRecord(
            purpose=purpose,
            version=version,
            state=KeyState.PRE_ACTIVE,
            label=label,
            algorithm=policy.algorithm,
            ceremony_id=ceremony_id,
            created_at=now,
            cryptoperiod_ends_at=now + policy.cryptoperiod,
            **facts,
        )
        try:
            await self.store.insert(record)
        except BaseException:
            await asyncio.to_thread(self._destroy_on_token, label)
            raise
        self.generation += 1
        return GeneratedKey(record=record, wrapped=wrapped)

    async def activate(self, purpose: KeyPurpose, version: int) -> list[tuple[KeyRecord, KeyRecord]]:
        """Make ``version`` the active one; the previous active version becomes ``decrypt_only``.

        Returns ``(before, after)`` for every record that changed.
        """
        now = self._now()
        target = await self.store.get(purpose, version)
        changes = [(target, target.moved_to(KeyState.ACTIVE, now))]
        current = await self.store.active(purpose)
        if current is not None:
            changes.append((current, current.moved_to(KeyState.DECRYPT_ONLY, now)))
        await self.store.save_states([after for _, after in changes])
        self.generation += 1
        return changes

    async def retire(self, purpose: KeyPurpose, version: int) -> tuple[KeyRecord, KeyRecord]:
        before = await self.store.get(purpose, version)
        after = before.moved_to(KeyState.RETIRED, self._now())
        await self.store.save_states([after])
        self.generation += 1
        return before, after

    async def destroy(self, purpose: KeyPurpose, version: int) -> tuple[KeyRecord, KeyRecord]:
        """Remove a retired version from the HSM for good (what it protected becomes unreadable)."""
        before = await self.store.get(purpose, version)
        after = before.moved_to(KeyState.DESTROYED, self._now())
        await asyncio.to_thread(self._destroy_on_token, before.label)
        await self.store.save_states([after])
        self.generation += 1
        return before, after

    async def restore(self, purpose: KeyPurpose, version: int, wrapped: bytes, transport_key: bytes) -> KeyRecord:
        """Put a backed-up version back on the HSM; its KCV must equal the recorded one."""
        record = await self.store.get(purpose, version)
        if record.state == KeyState.DESTROYED:
            raise KeyStateError(f"{record.label} was destroyed on purpose: it is not restored")
        kind = _SECRET_KIND[record.algorithm]
        attributes = await asyncio.to_thread(
            self._restore_on_token, record, kind, wrapped, transport_key
        )
        restored = msgspec.structs.replace(record, attributes=attributes)
        await self.store.save_attributes(restored)
        self.generation += 1
        return restored

    # -- use ------------------------------------------------------------------------

    async def sign(self, purpose: KeyPurpose, data: bytes) -> tuple[KeyRecord, bytes]:
        """Sign ``data`` with the active version of an Ed25519 ``purpose``."""
        record = await self.active(purpose)
        signature = await asyncio.to_thread(self._sign_on_token, record.label, data)
        return record, signature

    async def sign_note(self, checkpoint: notes.Checkpoint) -> tuple[int, str]:
        """A checkpoint note signed by the active audit key (see :class:`vault.audit.log.CheckpointSigner`)."""
        record = await self.active(KeyPurpose.AUDIT_SIGNING)
        assert record.public_key is not None

        def signer(body: bytes) -> bytes:
            return self._sign_on_token(record.label, body)

        note = await asyncio.to_thread(
            notes.sign, checkpoint, self._audit_origin, record.public_key, signer
        )
        return record.version, note

    async def verifier_keys(self) -> list[notes.VerifierKey]:
        """The note verifier keys of every audit key version ever generated, oldest first."""
        records = await self.store.of_purpose(KeyPurpose.AUDIT_SIGNING)
        return [notes.verifier_key(self._audit_origin, r.public_key) for r in records if r.public_key]

    async def wrap_data_key(self, value: bytes, aad: Callable[[int], bytes]) -> tuple[int, bytes]:
        """Wrap a data key under the active KEK: ``(KEK version, nonce || ciphertext || tag)``.

        AES-256-GCM on the HSM; ``aad(version)`` binds the wrapped key to its id and KEK version.
        """
        record = await self.active(KeyPurpose.KEK)
        nonce = secrets.token_bytes(12)
        sealed = await asyncio.to_thread(
            self._gcm_on_token, record.label, "encrypt", nonce, value, aad(record.version)
        )
        return record.version, nonce + sealed

    async def unwrap_data_key(self, kek_version: int, wrapped: bytes, aad: bytes) -> bytes:
        """Open a wrapped data key with KEK ``kek_version`` (active or decrypt_only)."""
        record = await self.usable(KeyPurpose.KEK, kek_version, "unwrap")
        try:
            return await asyncio.to_thread(
                self._gcm_on_token, record.label, "decrypt", wrapped[:12], wrapped[12:], aad
            )
        except PKCS11Error:  # GCM tag mismatch: altered wrapped key or AAD
            raise IntegrityError("a wrapped data key failed its integrity check") from None

    async def derive_working_key(self, purpose: KeyPurpose, version: int) -> bytes:
        """A 256-bit working key for in-process HMACs: HMAC-SHA256(HSM key, label), computed on the HSM.

        The HSM key never leaves the token; the working key lives only in memory (see
        ``vault.crypto.working_keys``, which uses only the active version for new data).
        """
        record = await self.usable(purpose, version, "derive a working key")
        label = f"bursar-working-key/v1:{purpose.value}:{version}".encode()
        return await asyncio.to_thread(self._hmac_on_token, record.label, label)

    # -- on the token (called in a worker thread) --------------------------------------

    def _gcm_on_token(self, label: str, direction: str, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        self.hsm_calls += 1
        with self.hsm.session() as session:
            key = find_key(session, label, KeyKind.AES)
            operation = key.encrypt if direction == "encrypt" else key.decrypt
            return bytes(operation(data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad)))

    def _hmac_on_token(self, label: str, data: bytes) -> bytes:
        self.hsm_calls += 1
        with self.hsm.session() as session:
            return bytes(find_key(session, label, KeyKind.HMAC).sign(data, mechanism=Mechanism.SHA256_HMAC))

    def _generate_on_token(
        self, algorithm: KeyAlgorithm, label: str, transport_key: bytes | None
    ) -> tuple[dict[str, Any], bytes | None]:
        with self.hsm.session() as session:
            if algorithm == KeyAlgorithm.ED25519:
                public, private = generate_ed25519_keypair(session, label)
                facts = {
                    "kcv": None,
                    "kcv_algorithm": None,
                    "public_key": eddsa.public_key_bytes(public),
                    "attributes": _jsonable(key_attributes(private)),
                }
                return facts, None
            backup = transport_key is not None
            if algorithm == KeyAlgorithm.AES_256:
                key = generate_aes_key(session, label, backup=backup)
            else:
                key = generate_hmac_key(session, label, backup=backup)
            wrapped = None
            if transport_key is not None:
                wrapped = wrap_for_backup(session, key, transport_key)
                seal(key)
            check = kcv(key)
            facts = {
                "kcv": check.value,
                "kcv_algorithm": check.algorithm,
                "public_key": None,
                "attributes": _jsonable(key_attributes(key)),
            }
            return facts, wrapped

    def _restore_on_token(
        self, record: KeyRecord, kind: KeyKind, wrapped: bytes, transport_key: bytes
    ) -> dict[str, Any]:
        with self.hsm.session() as session:
            key = restore_backup(session, wrapped, transport_key, kind, record.label)
            check = kcv(key)
            if check.value != record.kcv:
                destroy_keys(session, record.label)
                raise KeyStateError(
                    f"the restored key's check value {check.value} is not {record.label}'s {record.kcv}"
                )
            return _jsonable(key_attributes(key))

    def _destroy_on_token(self, label: str) -> None:
        with self.hsm.session() as session:
            destroy_keys(session, label)

    def _sign_on_token(self, label: str, data: bytes) -> bytes:
        with self.hsm.session() as session:
            return eddsa.sign(find_key(session, label, KeyKind.ED25519_PRIVATE), data)


def _jsonable(attributes: dict[str, Any]) -> dict[str, Any]:
    return {name: value if isinstance(value, bool | int | str) or value is None else str(value)
            for name, value in attributes.items()}
