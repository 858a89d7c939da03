"""Signed checkpoints of the audit log, as C2SP signed notes.

A checkpoint states "the log had ``size`` entries and its head hash was
``head``" and is signed with the vault's audit key (Ed25519, on the HSM). It
uses the text format of C2SP ``tlog-checkpoint`` inside a C2SP ``signed-note``
(https://c2sp.org/tlog-checkpoint, https://c2sp.org/signed-note)::

    bursar.dev/vault/audit-log             <- origin (also the key name)
    1204                                    <- size: number of entries
    q1X3...base64 of the 32-byte head hash  <- hash of entry ``size`` (32 zero bytes if 0)
    time 2026-11-20T10:00:00.000000Z        <- extension line: when it was made
                                            <- blank line
    — bursar.dev/vault/audit-log AbCd...    <- em dash, key name, base64(key id || signature)

The one difference from a transparency-log checkpoint: the third line is the
head of a hash chain (see :mod:`vault.audit.entry`), not a Merkle tree root.
The signature is Ed25519 over the body (every line up to and including the
``time`` line's newline); the key id is the first 4 bytes of
``SHA-256(key name || 0x0A || 0x01 || public key)``. Verifier keys are
distributed as ``<name>+<hex key id>+<base64(0x01 || public key)>``, the
format Go's ``golang.org/x/mod/sumdb/note`` reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vault.canonical import parse_timestamp, timestamp

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash, space


class NoteError(ValueError):
    """A checkpoint note is malformed or its signature does not verify."""


class VerifierKey(msgspec.Struct, frozen=True):
    name: str
    key_id: bytes
    public_key: bytes  # raw 32-byte Ed25519 key

    def encode(self) -> str:
        blob = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    origin: str
    size: int
    head: bytes
    at: datetime


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> VerifierKey:
    return VerifierKey(name, key_id(name, public_key), public_key)


def parse_verifier_key(text: str) -> VerifierKey:
    try:
        name, hex_id, blob = text.strip().split("+", 2)
        raw = base64.b64decode(blob, validate=True)
        identifier = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error):
        raise NoteError("a verifier key reads <name>+<hex key id>+<base64 key>") from None
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
    key = verifier_key(name, raw[1:])
    if key.key_id != identifier:
        raise NoteError(f"verifier key {name!r}: key id does not match the key")
    return key


def body(checkpoint: Checkpoint) -> str:
    head = base64.b64encode(checkpoint.head).decode()
    return f"{checkpoint.origin}\n{checkpoint.size}\n{head}\ntime {timestamp(checkpoint.at)}\n"


def sign(checkpoint: Checkpoint, name: str, public_key: bytes, signer: Callable[[bytes], bytes]) -> str:
    """The signed note for ``checkpoint``; ``signer`` returns an Ed25519 signature (the HSM's)."""
    text = body(checkpoint)
    signature = signer(text.encode())
    blob = base64.b64encode(key_id(name, public_key) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {blob}\n"


def open_note(note: str, verifiers: Iterable[VerifierKey]) -> tuple[Checkpoint, VerifierKey]:
    """Parse a signed checkpoint and verify it with one of ``verifiers``.

    Raises :class:`NoteError` naming the problem: malformed text, no signature
    from a known key, or a signature that does not verify.
    """
    text, signatures = _split(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    for name, identifier, signature in signatures:
        verifier = known.get((name, identifier))
        if verifier is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public_key).verify(signature, text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature by {name}+{identifier.hex()} does not verify") from None
        return _parse_body(text), verifier
    raise NoteError("no signature from a known audit key")


def _split(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("a signed note needs a blank line before its signatures")
    text, lines = note[: cut + 1], note[cut + 2 :].splitlines()
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("malformed signature line")
        try:
            name, blob = line[len(SIGNATURE_PREFIX) :].split(" ")
            raw = base64.b64decode(blob, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("malformed signature line") from None
        if len(raw) < 5:
            raise NoteError("malformed signature line")
        signatures.append((name, raw[:4], raw[4:]))
    return text, signatures


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]
    try:
        origin, size, head, extension = lines
        if not extension.startswith("time ") or not size.isdigit():
            raise ValueError
        return Checkpoint(
            origin=origin,
            size=int(size),
            head=base64.b64decode(head, validate=True),
            at=parse_timestamp(extension[len("time ") :]),
        )
    except (ValueError, binascii.Error):
        raise NoteError("the checkpoint body is malformed") from None
