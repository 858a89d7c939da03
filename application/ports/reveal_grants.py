from __future__ import annotations

from typing import Protocol

from domain.cards.reveal_grant import RevealGrant


class RevealGrantSigner(Protocol):
    """Turns a grant into the signed, compact form the vault verifies (a JWT, see docs/vault.md)."""

    def sign(self, grant: RevealGrant) -> str: ...
