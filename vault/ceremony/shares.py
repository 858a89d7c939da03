"""Split knowledge of a backup's transport key: SLIP-39 Shamir shares, M of N.

The 256-bit transport key is split with ``shamir-mnemonic`` (SatoshiLabs'
reference implementation of SLIP-0039) into one share per custodian, any M of
which rebuild it; M-1 reveal nothing. Each share is a list of English words a
custodian can keep on paper, with a checksum that catches typos. A key check
value of the transport key (AES-ECB of a zero block, first 3 bytes) lets the
custodians confirm a rebuilt key before it touches the HSM.
"""

from __future__ import annotations

import hashlib

import shamir_mnemonic
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vault.errors import InvalidRequest


def split(secret: bytes, threshold: int, holders: list[str]) -> dict[str, str]:
    """One mnemonic share per holder; any ``threshold`` of them rebuild ``secret``."""
    if not 1 <= threshold <= len(holders) <= 16:
        raise InvalidRequest(f"a {threshold}-of-{len(holders)} split is not possible")
    if threshold == 1:  # SLIP-39 requires 1-of-1 for a threshold of one: every holder gets the same share
        (share,) = shamir_mnemonic.generate_mnemonics(1, [(1, 1)], secret, b"")[0]
        return dict.fromkeys(holders, share)
    (group,) = shamir_mnemonic.generate_mnemonics(1, [(threshold, len(holders))], secret, b"")
    return dict(zip(holders, group, strict=True))


def combine(shares: list[str]) -> bytes:
    """The secret rebuilt from shares; refuses too few, mismatched or mistyped shares."""
    try:
        return shamir_mnemonic.combine_mnemonics([" ".join(s.split()) for s in shares], b"")
    except shamir_mnemonic.MnemonicError as exc:
        raise InvalidRequest(f"the shares do not rebuild the transport key: {exc}", code="shares_invalid") from None


def fingerprint(share: str) -> str:
    return hashlib.sha256(" ".join(share.split()).encode()).hexdigest()


def transport_kcv(secret: bytes) -> str:
    encryptor = Cipher(algorithms.AES(secret), modes.ECB()).encryptor()
    return encryptor.update(bytes(16))[:3].hex().upper()
