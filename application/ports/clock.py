from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """The current time, always timezone-aware UTC. Injected so tests control time."""

    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    """Time-ordered unique ids (UUIDv7 text) for records the system names itself."""

    def new_id(self) -> str: ...


class SecretGenerator(Protocol):
    """Unpredictable tokens for credentials and nonces."""

    def token(self, nbytes: int = 32) -> str: ...
