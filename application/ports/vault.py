from __future__ import annotations

from typing import Protocol


class VaultClient(Protocol):
    """The core's only way into the PCI zone: the vault's HTTP API. Never carries a PAN back."""

    async def ping(self) -> None:
        """Raises unless the vault answers."""
        ...
