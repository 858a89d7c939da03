"""Keys that live and die on the token.

Every key generated here is a token object (``CKA_TOKEN``) that is private,
sensitive and non-extractable, with only the usage flags its job needs:

* AES-256 (KEKs, data keys): encrypt, decrypt, wrap, unwrap.
* HMAC (generic secret, 256 bit): sign, verify.
* Ed25519 key pair: the private key signs, the public key verifies.

A secret key may be generated *backup-capable* (``backup=True``): extractable,
so that a key ceremony can wrap it once under a transport key and then
:func:`seal` it (``CKA_EXTRACTABLE`` false for good). Such a key is still
local and sensitive but honestly reports ``never_extractable`` false.

Keys are addressed by label (e.g. ``"kek:v1"``) and kind; ``CKA_ID`` defaults
to the label's UTF-8 bytes. Each label is used by one key (or key pair) only.

All functions take a python-pkcs11 ``Session`` (from :meth:`hsm.Hsm.session`)
or a key obtained from one, and must run inside that ``with`` block.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, Session
from pkcs11.types import Key, PrivateKey, PublicKey, SecretKey

from hsm.eddsa import ED25519_PARAMS
from hsm.errors import DuplicateKey, KeyNotFound, KeyUsageError


class KeyKind(enum.Enum):
    """The kinds of key Bursar keeps on the token: (object class, key type)."""

    AES = (ObjectClass.SECRET_KEY, KeyType.AES)
    HMAC = (ObjectClass.SECRET_KEY, KeyType.GENERIC_SECRET)
    ED25519_PRIVATE = (ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS)
    ED25519_PUBLIC = (ObjectClass.PUBLIC_KEY, KeyType.EC_EDWARDS)


AES_USAGE = (
    MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT | MechanismFlag.WRAP | MechanismFlag.UNWRAP
)
MAC_USAGE = MechanismFlag.SIGN | MechanismFlag.VERIFY
_USAGE_ATTRIBUTES = {
    Attribute.ENCRYPT: MechanismFlag.ENCRYPT,
    Attribute.DECRYPT: MechanismFlag.DECRYPT,
    Attribute.WRAP: MechanismFlag.WRAP,
    Attribute.UNWRAP: MechanismFlag.UNWRAP,
    Attribute.SIGN: MechanismFlag.SIGN,
    Attribute.VERIFY: MechanismFlag.VERIFY,
    Attribute.DERIVE: MechanismFlag.DERIVE,
}
PROTECTED = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
}
_BACKUP_CAPABLE = {**PROTECTED, Attribute.EXTRACTABLE: True}
_PUBLIC = {Attribute.TOKEN: True, Attribute.PRIVATE: True}

_COMMON_ATTRIBUTES = (
    Attribute.CLASS, Attribute.KEY_TYPE, Attribute.LABEL, Attribute.ID,
    Attribute.TOKEN, Attribute.PRIVATE, Attribute.LOCAL,
)
_PROTECTION_ATTRIBUTES = (
    Attribute.SENSITIVE, Attribute.ALWAYS_SENSITIVE,
    Attribute.EXTRACTABLE, Attribute.NEVER_EXTRACTABLE,
)
_USAGE_BY_CLASS = {
    ObjectClass.SECRET_KEY: tuple(_USAGE_ATTRIBUTES),
    ObjectClass.PRIVATE_KEY: (
        Attribute.DECRYPT, Attribute.UNWRAP, Attribute.SIGN, Attribute.DERIVE,
    ),
    ObjectClass.PUBLIC_KEY: (Attribute.ENCRYPT, Attribute.WRAP, Attribute.VERIFY),
}


# -- generation -------------------------------------------------------------


def generate_aes_key(
    session: Session,
    label: str,
    key_id: bytes | str | None = None,
    *,
    bits: int = 256,
    backup: bool = False,
) -> SecretKey:
    """Generate an AES key (default 256 bit) for encrypt/decrypt/wrap/unwrap."""
    return _generate_secret(session, KeyType.AES, Mechanism.AES_KEY_GEN, AES_USAGE, label, key_id, bits, backup)


def generate_hmac_key(
    session: Session,
    label: str,
    key_id: bytes | str | None = None,
    *,
    bits: int = 256,
    backup: bool = False,
) -> SecretKey:
    """Generate a generic secret (default 256 bit) for HMAC sign/verify."""
    return _generate_secret(
        session, KeyType.GENERIC_SECRET, Mechanism.GENERIC_SECRET_KEY_GEN, MAC_USAGE, label, key_id, bits, backup
    )


def _generate_secret(
    session: Session,
    key_type: KeyType,
    mechanism: Mechanism,
    usage: MechanismFlag,
    label: str,
    key_id: bytes | str | None,
    bits: int,
    backup: bool,
) -> SecretKey:
    ensure_label_free(session, label)
    return session.generate_key(
        key_type,
        bits,
        label=label,
        id=key_id_bytes(label, key_id),
        store=True,
        capabilities=usage,
        mechanism=mechanism,
        template=_BACKUP_CAPABLE if backup else PROTECTED,
    )


def generate_ed25519_keypair(
    session: Session, label: str, key_id: bytes | str | None = None
) -> tuple[PublicKey, PrivateKey]:
    """Generate an Ed25519 pair: ``(public key, private key)``, both labelled ``label``."""
    ensure_label_free(session, label)
    return session.generate_keypair(
        KeyType.EC_EDWARDS,
        mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
        label=label,
        id=key_id_bytes(label, key_id),
        store=True,
        capabilities=MAC_USAGE,
        public_template={**_PUBLIC, Attribute.EC_PARAMS: ED25519_PARAMS},
        private_template=PROTECTED,
    )


def seal(key: SecretKey) -> None:
    """Make a backup-capable key non-extractable, irreversibly (PKCS#11 allows true -> false only)."""
    key[Attribute.EXTRACTABLE] = False


def destroy_keys(session: Session, label: str) -> int:
    """Destroy every object labelled ``label`` on the token; how many were destroyed."""
    objects = list(session.get_objects({Attribute.LABEL: label}))
    for item in objects:
        item.destroy()
    return len(objects)


# -- lookup and inspection --------------------------------------------------


def find_key(session: Session, label: str, kind: KeyKind) -> Any:
    """The one key of ``kind`` labelled ``label``; :class:`KeyNotFound` or :class:`DuplicateKey`."""
    object_class, key_type = kind.value
    matches = list(
        session.get_objects(
            {Attribute.CLASS: object_class, Attribute.KEY_TYPE: key_type, Attribute.LABEL: label}
        )
    )
    if not matches:
        raise KeyNotFound(f"no {kind.name} key labelled {label!r} on the token")
    if len(matches) > 1:
        raise DuplicateKey(f"{len(matches)} {kind.name} keys are labelled {label!r}")
    return matches[0]


def key_attributes(key: Key) -> dict[str, Any]:
    """Security-relevant attributes of a key, for audits and tests (never its value).

    Keys: ``class``, ``key_type``, ``label``, ``id`` (hex), ``token``, ``private``,
    ``local``, ``bits``, the usage flags that apply to the class (``encrypt``,
    ``sign``, ...), ``curve`` for EC keys, and for secret and private keys
    ``sensitive``, ``always_sensitive``, ``extractable``, ``never_extractable``.
    """
    object_class = key[Attribute.CLASS]
    wanted = [*_COMMON_ATTRIBUTES, *_USAGE_BY_CLASS[object_class]]
    if object_class != ObjectClass.PUBLIC_KEY:
        wanted += _PROTECTION_ATTRIBUTES
    values = key.get_attributes(wanted)
    result: dict[str, Any] = {attribute.name.lower(): values[attribute] for attribute in wanted}
    result["class"] = object_class.name
    result["key_type"] = values[Attribute.KEY_TYPE].name
    result["id"] = values[Attribute.ID].hex()
    result.update(_size_of(key, values[Attribute.KEY_TYPE]))
    return result


def _size_of(key: Key, key_type: KeyType) -> dict[str, Any]:
    if key_type == KeyType.EC_EDWARDS:
        return {"curve": "Ed25519", "bits": 256}
    return {"bits": key[Attribute.VALUE_LEN] * 8}


# -- key check values ---------------------------------------------------------


ZERO_BLOCK = bytes(16)
KCV_LENGTH = 3  # bytes


class Kcv(NamedTuple):
    """A key check value: uppercase hex of the first 3 bytes, and how it was computed."""

    value: str
    algorithm: str  # "AES-ECB-ZERO-BLOCK", "AES-CMAC" or "HMAC-SHA256-ZERO-BLOCK"


def kcv(key: SecretKey) -> Kcv:
    """Key check value, computed on the token over 16 zero bytes.

    AES keys that may encrypt: AES-ECB of the zero block. AES keys that may
    only sign: AES-CMAC of the zero block. HMAC keys: HMAC-SHA256 of the
    zero block. The first 3 bytes identify the key without revealing it.
    """
    key_type = key[Attribute.KEY_TYPE]
    if key_type == KeyType.AES and key[Attribute.ENCRYPT]:
        block = key.encrypt(ZERO_BLOCK, mechanism=Mechanism.AES_ECB)
        return _kcv(block, "AES-ECB-ZERO-BLOCK")
    if key_type == KeyType.AES and key[Attribute.SIGN]:
        return _kcv(key.sign(ZERO_BLOCK, mechanism=Mechanism.AES_CMAC), "AES-CMAC")
    if key_type == KeyType.GENERIC_SECRET and key[Attribute.SIGN]:
        mac = key.sign(ZERO_BLOCK, mechanism=Mechanism.SHA256_HMAC)
        return _kcv(mac, "HMAC-SHA256-ZERO-BLOCK")
    raise KeyUsageError(f"no key check value for a {key_type.name} key without encrypt/sign use")


def _kcv(output: bytes, algorithm: str) -> Kcv:
    return Kcv(output[:KCV_LENGTH].hex().upper(), algorithm)


# -- test support -------------------------------------------------------------


def import_aes_key_for_test(session: Session, value: bytes, label: str) -> SecretKey:
    """TESTING ONLY: import a known AES key as a session object (gone with the session).

    Production keys are generated on the token; this exists so tests can
    compare token results (KCVs, ciphertexts) with ``cryptography``.
    """
    return _import_secret_for_test(session, KeyType.AES, value, label, AES_USAGE)


def import_hmac_key_for_test(session: Session, value: bytes, label: str) -> SecretKey:
    """TESTING ONLY: import a known HMAC key as a session object (gone with the session)."""
    return _import_secret_for_test(session, KeyType.GENERIC_SECRET, value, label, MAC_USAGE)


def _import_secret_for_test(
    session: Session, key_type: KeyType, value: bytes, label: str, usage: MechanismFlag
) -> SecretKey:
    template = {
        **PROTECTED,
        Attribute.TOKEN: False,
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: key_type,
        Attribute.LABEL: label,
        Attribute.ID: label.encode("utf-8"),
        Attribute.VALUE: value,
        **{attr: bool(usage & flag) for attr, flag in _USAGE_ATTRIBUTES.items()},
    }
    return session.create_object(template)


# -- helpers ------------------------------------------------------------------


def key_id_bytes(label: str, key_id: bytes | str | None) -> bytes:
    if key_id is None:
        key_id = label
    return key_id.encode("utf-8") if isinstance(key_id, str) else key_id


def ensure_label_free(session: Session, label: str) -> None:
    if list(session.get_objects({Attribute.LABEL: label})):
        raise DuplicateKey(f"a key labelled {label!r} already exists on the token")
