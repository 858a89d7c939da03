"""Encrypted key backups: wrap a backup-capable secret key under a transport key, and restore it.

The transport key is a 256-bit AES value that exists outside the token only as
custodians' secret shares (see ``vault.ceremony.backup``); it is imported as a
*session* object for the one wrap or unwrap and destroyed straight after.
Wrapping uses ``CKM_AES_KEY_WRAP_PAD`` (RFC 5649), so a backup can also be
opened with any RFC 5649 implementation given the transport key.

A restored key is sensitive and non-extractable, but ``CKA_LOCAL`` is false and
``CKA_ALWAYS_SENSITIVE`` false: the token reports, truthfully, that it did not
generate it. Ceremony transcripts record those attributes.

Call these inside :meth:`hsm.Hsm.session`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, Session
from pkcs11.exceptions import PKCS11Error
from pkcs11.types import SecretKey

from hsm.errors import BackupInvalid, KeyUsageError
from hsm.keys import AES_USAGE, MAC_USAGE, PROTECTED, KeyKind, ensure_label_free, key_id_bytes

TRANSPORT_KEY_LENGTH = 32
WRAP_MECHANISM = Mechanism.AES_KEY_WRAP_PAD
_USAGE = {KeyKind.AES: AES_USAGE, KeyKind.HMAC: MAC_USAGE}


def wrap_for_backup(session: Session, key: SecretKey, transport_key: bytes) -> bytes:
    """``key`` wrapped under ``transport_key`` (RFC 5649). The key must still be extractable."""
    if not key[Attribute.EXTRACTABLE]:
        raise KeyUsageError("the key is not extractable: only a backup-capable key can be backed up")
    with _transport(session, transport_key) as transport:
        return bytes(transport.wrap_key(key, mechanism=WRAP_MECHANISM))


def restore_backup(
    session: Session,
    wrapped: bytes,
    transport_key: bytes,
    kind: KeyKind,
    label: str,
    key_id: bytes | str | None = None,
) -> SecretKey:
    """Unwrap a backup onto the token as a sensitive, non-extractable ``kind`` key labelled ``label``."""
    if kind not in _USAGE:
        raise KeyUsageError(f"backups hold secret keys (AES or HMAC), not {kind.name}")
    ensure_label_free(session, label)
    _, key_type = kind.value
    with _transport(session, transport_key) as transport:
        try:
            return transport.unwrap_key(
                ObjectClass.SECRET_KEY,
                key_type,
                wrapped,
                label=label,
                id=key_id_bytes(label, key_id),
                store=True,
                mechanism=WRAP_MECHANISM,
                capabilities=_USAGE[kind],
                template=PROTECTED,
            )
        except PKCS11Error as exc:  # RFC 5649 integrity check failed: wrong key or altered blob
            raise BackupInvalid(
                f"the backup does not open with this transport key ({type(exc).__name__})"
            ) from None


@contextmanager
def _transport(session: Session, value: bytes) -> Iterator[SecretKey]:
    if len(value) != TRANSPORT_KEY_LENGTH:
        raise KeyUsageError(f"a transport key is {TRANSPORT_KEY_LENGTH} bytes")
    transport = session.create_object({
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE: value,
        Attribute.TOKEN: False,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
        Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False,
    })
    try:
        yield transport
    finally:
        transport.destroy()
