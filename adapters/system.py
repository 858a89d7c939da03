"""The real clock, id and secret generators."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import uuid_utils


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class UuidV7Ids:
    def new_id(self) -> str:
        return str(uuid_utils.uuid7())


class SystemSecrets:
    def token(self, nbytes: int = 32) -> str:
        return secrets.token_urlsafe(nbytes)
