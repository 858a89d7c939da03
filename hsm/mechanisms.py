"""Check at start-up that a token supports every mechanism Bursar uses.

Bursar talks to any PKCS#11 token (SoftHSM in development, a real HSM in
production) through configuration alone, so the mechanisms it relies on are
probed once when the session opens and a missing one fails loudly, naming it,
instead of surfacing later as an obscure ``MechanismInvalid``.

:data:`REQUIRED_MECHANISMS` is the set the rest of ``hsm`` needs; every one of
them is supported by SoftHSM 2.6.1. Signatures are Ed25519
(``CKM_EDDSA``, PKCS#11 3.0), which SoftHSM 2.6.1 built against OpenSSL 1.1.1+
offers. Only the presence of a mechanism is checked, not
its ``CK_MECHANISM_INFO`` flags -- SoftHSM 2.6.1 reports garbage flag bits for
some mechanisms (e.g. ``CKM_AES_GCM``).
"""

from __future__ import annotations

from collections.abc import Iterable

from pkcs11 import Mechanism, Slot, Token

from hsm.errors import MissingMechanism

REQUIRED_MECHANISMS: tuple[Mechanism, ...] = (
    Mechanism.AES_KEY_GEN,  # AES-256 keys (KEKs, data-encryption keys)
    Mechanism.AES_GCM,  # authenticated encryption of data
    Mechanism.AES_KEY_WRAP_PAD,  # RFC 5649 wrapping of data keys under a KEK
    Mechanism.AES_ECB,  # key check values of AES keys (zero block)
    Mechanism.GENERIC_SECRET_KEY_GEN,  # HMAC keys
    Mechanism.SHA256_HMAC,  # blind indexes, MACs
    Mechanism.EC_EDWARDS_KEY_PAIR_GEN,  # Ed25519 signing keys (audit checkpoints, transcripts)
    Mechanism.EDDSA,  # Ed25519 signatures
)


def mechanism_name(mechanism: Mechanism | int) -> str:
    """``CKM_*`` name of a mechanism, or its hex value for vendor mechanisms."""
    if isinstance(mechanism, Mechanism):
        return f"CKM_{mechanism.name}"
    return f"0x{int(mechanism):08x}"


def supported_mechanisms(slot_or_token: Slot | Token) -> frozenset[Mechanism | int]:
    """Every mechanism the token in this slot advertises."""
    slot = slot_or_token.slot if isinstance(slot_or_token, Token) else slot_or_token
    return frozenset(slot.get_mechanisms())


def require_mechanisms(
    slot_or_token: Slot | Token,
    required: Iterable[Mechanism] = REQUIRED_MECHANISMS,
) -> frozenset[Mechanism | int]:
    """Return the supported mechanisms, or raise :class:`MissingMechanism`.

    The error names each missing mechanism (``CKM_...``) and the token label.
    The caller must hold the module lock (see :meth:`hsm.Hsm.session`).
    """
    supported = supported_mechanisms(slot_or_token)
    missing = [mechanism_name(m) for m in required if m not in supported]
    if missing:
        raise MissingMechanism(_label_of(slot_or_token), missing)
    return supported


def _label_of(slot_or_token: Slot | Token) -> str:
    token = slot_or_token if isinstance(slot_or_token, Token) else slot_or_token.get_token()
    return token.label
