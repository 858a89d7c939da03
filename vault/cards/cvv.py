"""CVV2, derived on demand and never stored.

``CVV2 = decimalise(HMAC-SHA256(W_cvv, "bursar-cvv2/v1:" PAN ":" YYMM))``, where
``W_cvv`` is the CVV key version's working key (see
``vault.crypto.working_keys``): the first three decimal digits of the MAC
read as a big integer, i.e. ``int(mac) mod 1000``, zero-padded. It is stable
for a card and key version, differs between cards and expiries, and changes
when the CVV key is rotated (cards issued before keep their version).

This is Bursar's own derivation, not the card schemes' 3DES CVV algorithm: a
production issuer would compute CVV2 in a payment HSM with its scheme keys.
"""

from __future__ import annotations

from vault.crypto.working_keys import WorkingKeys
from vault.keys.model import KeyPurpose


def cvv_message(pan: str, exp_month: int, exp_year: int) -> bytes:
    return f"bursar-cvv2/v1:{pan}:{exp_year % 100:02d}{exp_month:02d}".encode()


def decimalise(mac: bytes) -> str:
    return f"{int.from_bytes(mac, 'big') % 1000:03d}"


async def derive_cvv2(working_keys: WorkingKeys, version: int, pan: str, exp_month: int, exp_year: int) -> str:
    mac = await working_keys.mac_with(KeyPurpose.CVV, version, cvv_message(pan, exp_month, exp_year))
    return decimalise(mac)
