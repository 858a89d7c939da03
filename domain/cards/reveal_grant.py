"""Reveal grants: the core's short-lived, single-use permission to see one card's details.

The core never sees a PAN. A PCI-scoped reveal client asks the core for a grant (proving it may
see this card), then presents the grant to the vault, which verifies it and returns the card
details. A grant names the card token, the core credential that asked for it, the vault
credential that may redeem it, a random nonce (the vault refuses a nonce twice) and an expiry
at most :data:`MAX_GRANT_SECONDS` away.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import msgspec

from domain.shared.errors import InvalidInput

MAX_GRANT_SECONDS = 60
_CREDENTIAL_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class RevealGrant(msgspec.Struct, frozen=True, kw_only=True):
    card_token: str
    requested_by: str  # the core API key that asked for the grant
    redeemer: str  # the vault API key that may present it
    nonce: str
    issued_at: datetime
    expires_at: datetime


def new_reveal_grant(
    card_token: str, requested_by: str, redeemer: str, nonce: str, now: datetime, ttl_seconds: int
) -> RevealGrant:
    if not 1 <= ttl_seconds <= MAX_GRANT_SECONDS:
        raise InvalidInput(f"a reveal grant lives 1 to {MAX_GRANT_SECONDS} seconds, not {ttl_seconds}")
    if not _CREDENTIAL_ID.match(redeemer):
        raise InvalidInput("vault_credential_id must be the id of a vault API key (the part after bsk_)")
    issued_at = now.replace(microsecond=0)  # JWT times are whole seconds
    return RevealGrant(
        card_token=card_token,
        requested_by=requested_by,
        redeemer=redeemer,
        nonce=nonce,
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=ttl_seconds),
    )
