"""Ed25519 signatures with keys on the token, and export of the public key.

Ed25519 (``CKM_EDDSA`` over ``CKK_EC_EDWARDS`` keys, PKCS#11 3.0) signs the
audit log's checkpoints and the key-ceremony transcripts. Its signatures are
deterministic, 64 bytes, and verifiable by anyone holding the 32-byte public
key -- with ``cryptography``, Go's ``crypto/ed25519`` or OpenSSL -- which is
what lets an auditor check an export offline.

Call these inside :meth:`hsm.Hsm.session`.
"""

from __future__ import annotations

from asn1crypto.core import OctetString, PrintableString
from pkcs11 import Attribute, Mechanism
from pkcs11.types import PrivateKey, PublicKey

ED25519_PARAMS = PrintableString("edwards25519").dump()  # CKA_EC_PARAMS, RFC 8410 curve name
PUBLIC_KEY_LENGTH = 32
SIGNATURE_LENGTH = 64


def sign(private_key: PrivateKey, data: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``data`` (pure EdDSA: the token hashes)."""
    return bytes(private_key.sign(data, mechanism=Mechanism.EDDSA))


def public_key_bytes(public_key: PublicKey) -> bytes:
    """The raw 32-byte public key.

    ``CKA_EC_POINT`` is a DER OCTET STRING per PKCS#11 (SoftHSM does this);
    tokens that return the bare 32 bytes are accepted as well.
    """
    value = bytes(public_key[Attribute.EC_POINT])
    if len(value) == PUBLIC_KEY_LENGTH:
        return value
    return bytes(OctetString.load(value))
