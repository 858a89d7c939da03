"""A custodian's own Ed25519 key pair, used offline on the custodian's machine.

The private key never reaches the vault: ``bursar ceremony sign`` loads it
from the custodian's file, signs the proposal hash locally and submits only
the signature. Files are PEM (PKCS#8 private key, optionally passphrase
encrypted; SubjectPublicKeyInfo public key), so OpenSSL can make and read them
too (``openssl genpkey -algorithm ed25519``).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vault.ceremony.model import approval_message, step_hash
from vault.errors import InvalidRequest

_RAW = {"encoding": serialization.Encoding.Raw, "format": serialization.PublicFormat.Raw}


def create_key_files(private_path: Path, public_path: Path, passphrase: bytes | None = None) -> bytes:
    """Write a new key pair (private file 0600); returns the raw public key."""
    key = Ed25519PrivateKey.generate()
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public = key.public_key()
    public_path.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return public.public_bytes(**_RAW)


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"{path} is not a readable Ed25519 private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidRequest(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> bytes:
    """Raw 32-byte public key from a PEM file or a hex/base64 line."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError:
        raise InvalidRequest(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidRequest(f"{path} is not an Ed25519 public key")
    return key.public_bytes(**_RAW)


def public_key_of(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(**_RAW)


def sign_proposal(key: Ed25519PrivateKey, proposal_text: str) -> tuple[str, bytes]:
    """``(step hash, signature)`` approving the canonical proposal ``proposal_text``."""
    digest = step_hash(proposal_text)
    return digest, key.sign(approval_message(digest))


def sign_acknowledgement(key: Ed25519PrivateKey, acknowledgement_text: str) -> bytes:
    return key.sign(acknowledgement_text.encode())


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
