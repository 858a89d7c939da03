"""Errors raised by the ``hsm`` package.

Every message here is safe to log: none ever carries a PIN, a key value or
any other secret. Where a lower-level PKCS#11 error is the cause, only its
class name is quoted (python-pkcs11 messages carry no secrets either, but we
keep the rule simple and visible).
"""

from __future__ import annotations

from collections.abc import Iterable


class HsmError(Exception):
    """Base class of every error raised by the ``hsm`` package."""


class HsmConfigError(HsmError):
    """The HSM configuration (environment, PIN source, module path) is unusable."""


class HsmUnavailable(HsmError):
    """The HSM cannot be reached or used right now (readiness checks fail)."""


class TokenNotFound(HsmUnavailable):
    """No initialised token carries the configured label."""

    def __init__(self, label: str, available: Iterable[str]) -> None:
        self.label = label
        self.available = tuple(available)
        shown = ", ".join(repr(name) for name in self.available) or "none"
        super().__init__(f"no HSM token labelled {label!r}; available tokens: {shown}")


class HsmLoginError(HsmUnavailable):
    """Logging in to the token failed (wrong PIN, locked PIN, ...)."""


class MissingMechanism(HsmError):
    """The token lacks PKCS#11 mechanisms that Bursar needs."""

    def __init__(self, token_label: str, missing: Iterable[str]) -> None:
        self.token_label = token_label
        self.missing = tuple(missing)
        super().__init__(
            f"HSM token {token_label!r} lacks required PKCS#11 mechanisms: "
            + ", ".join(self.missing)
        )


class KeyNotFound(HsmError):
    """No key with the requested label and kind exists on the token."""


class DuplicateKey(HsmError):
    """More than one key matches, or a key with that label already exists."""


class KeyUsageError(HsmError):
    """The key cannot be used for the requested operation (e.g. no KCV possible)."""


class BackupInvalid(HsmError):
    """A key backup does not open: wrong transport key, or the backup was altered."""


class SoftHsmError(HsmError):
    """Provisioning a SoftHSM token (development and tests only) failed."""


class SoftHsmNotInstalled(SoftHsmError):
    """The ``softhsm2-util`` tool or the SoftHSM module is missing."""
