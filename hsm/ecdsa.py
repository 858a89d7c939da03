"""ECDSA-SHA256 with keys on the token, and export of EC public keys.

SoftHSM 2.6.1 lacks ``CKM_ECDSA_SHA256``, so the SHA-256 digest is computed
on the host and signed with raw ``CKM_ECDSA`` -- which every PKCS#11 token
with EC support offers, and which gives the same signatures. PKCS#11 returns
signatures as ``r || s``; here they are DER-encoded (``ECDSA-Sig-Value``), the
form X.509, JOSE-with-DER and ``cryptography`` expect.

Call these inside :meth:`hsm.Hsm.session`.
"""

from __future__ import annotations

import hashlib

from asn1crypto.core import OctetString
from asn1crypto.keys import ECDomainParameters, PublicKeyInfo
from pkcs11 import Attribute, Mechanism
from pkcs11.exceptions import SignatureInvalid, SignatureLenRange
from pkcs11.types import PrivateKey, PublicKey
from pkcs11.util.ec import decode_ecdsa_signature, encode_ecdsa_signature

_CURVES = {"secp256r1": ("P-256", 256), "secp384r1": ("P-384", 384), "secp521r1": ("P-521", 521)}


def sign_sha256(private_key: PrivateKey, data: bytes) -> bytes:
    """DER-encoded ECDSA signature over SHA-256(``data``)."""
    digest = hashlib.sha256(data).digest()
    return encode_ecdsa_signature(private_key.sign(digest, mechanism=Mechanism.ECDSA))


def verify_sha256(public_key: PublicKey, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (DER) is a valid ECDSA signature over SHA-256(``data``)."""
    digest = hashlib.sha256(data).digest()
    try:
        raw = decode_ecdsa_signature(signature)
    except ValueError:
        return False
    try:
        return public_key.verify(digest, raw, mechanism=Mechanism.ECDSA)
    except (SignatureInvalid, SignatureLenRange):
        return False


def curve_of(key: PublicKey | PrivateKey) -> tuple[str, int | None]:
    """``(name, bits)`` of an EC key's curve, e.g. ``("P-256", 256)``."""
    named = ECDomainParameters.load(key[Attribute.EC_PARAMS]).chosen.native
    return _CURVES.get(named, (str(named), None))


def public_point(public_key: PublicKey) -> bytes:
    """The public point, uncompressed (``04 || X || Y``).

    ``CKA_EC_POINT`` is a DER OCTET STRING per PKCS#11 (SoftHSM does this);
    some tokens return the bare point, which is accepted as well.
    """
    value = public_key[Attribute.EC_POINT]
    _, bits = curve_of(public_key)
    if bits is not None and len(value) == 1 + 2 * ((bits + 7) // 8):
        return value  # already the bare point
    return bytes(OctetString.load(value))


def public_key_der(public_key: PublicKey) -> bytes:
    """DER ``SubjectPublicKeyInfo`` of an EC public key, as OpenSSL writes it."""
    return PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": ECDomainParameters.load(public_key[Attribute.EC_PARAMS]),
            },
            "public_key": public_point(public_key),
        }
    ).dump()
