"""Where the HSM lives and how to log in to it.

Environment variables read by :meth:`HsmConfig.from_env`:

``BURSAR_HSM_MODULE``
    Path of the PKCS#11 module (shared library). Defaults to the first
    SoftHSM module found in :data:`SOFTHSM_MODULE_CANDIDATES`.
``BURSAR_HSM_TOKEN_LABEL``
    Label of the token holding Bursar's keys. Defaults to ``"bursar"``.
``BURSAR_HSM_PIN`` / ``BURSAR_HSM_PIN_FILE``
    The user PIN, given directly or as a file whose stripped contents are the
    PIN. Exactly one of the two must be set; prefer the file.

SoftHSM itself reads ``SOFTHSM2_CONF`` (path of its configuration file, which
names the token directory) from the process environment, and only when the
module is initialised -- i.e. on the first :meth:`hsm.Hsm.open` in a process.
Set it before the process starts; changing it later has no effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hsm.errors import HsmConfigError

MODULE_ENV = "BURSAR_HSM_MODULE"
TOKEN_LABEL_ENV = "BURSAR_HSM_TOKEN_LABEL"
PIN_ENV = "BURSAR_HSM_PIN"
PIN_FILE_ENV = "BURSAR_HSM_PIN_FILE"

DEFAULT_TOKEN_LABEL = "bursar"
SOFTHSM_MODULE_CANDIDATES: tuple[str, ...] = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
MAX_TOKEN_LABEL_BYTES = 32  # CK_TOKEN_INFO.label is 32 bytes, blank padded


@dataclass(frozen=True, slots=True)
class HsmConfig:
    """Connection settings for one PKCS#11 token. The PIN never shows in ``repr``."""

    module_path: str
    token_label: str
    pin: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.module_path:
            raise HsmConfigError("HSM module path is empty")
        label_bytes = len(self.token_label.encode("utf-8"))
        if not 0 < label_bytes <= MAX_TOKEN_LABEL_BYTES:
            raise HsmConfigError(
                f"HSM token label must be 1-{MAX_TOKEN_LABEL_BYTES} bytes of UTF-8,"
                f" got {label_bytes}"
            )
        if not self.pin:
            raise HsmConfigError("HSM PIN is empty")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> HsmConfig:
        """Build the configuration from ``BURSAR_HSM_*`` variables (see module docs)."""
        return cls(
            module_path=environ.get(MODULE_ENV) or default_module_path(),
            token_label=environ.get(TOKEN_LABEL_ENV) or DEFAULT_TOKEN_LABEL,
            pin=_pin_from_env(environ),
        )


def default_module_path() -> str:
    """The first SoftHSM module installed here, or :class:`HsmConfigError`."""
    for candidate in SOFTHSM_MODULE_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    raise HsmConfigError(
        f"no PKCS#11 module configured: set {MODULE_ENV}, or install SoftHSM"
        f" (Debian package 'softhsm2'); looked for {', '.join(SOFTHSM_MODULE_CANDIDATES)}"
    )


def _pin_from_env(environ: Mapping[str, str]) -> str:
    pin = environ.get(PIN_ENV)
    pin_file = environ.get(PIN_FILE_ENV)
    if pin is not None and pin_file is not None:
        raise HsmConfigError(f"set only one of {PIN_ENV} and {PIN_FILE_ENV}, not both")
    if pin is None and pin_file is None:
        raise HsmConfigError(f"no HSM PIN configured: set {PIN_FILE_ENV} (preferred) or {PIN_ENV}")
    if pin is not None:
        if not pin:
            raise HsmConfigError(f"{PIN_ENV} is set but empty")
        return pin
    if not pin_file:
        raise HsmConfigError(f"{PIN_FILE_ENV} is set but empty")
    return _read_pin_file(Path(pin_file))


def _read_pin_file(path: Path) -> str:
    try:
        pin = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        # Only the path and the error class: never the file's contents.
        raise HsmConfigError(
            f"cannot read {PIN_FILE_ENV} {str(path)!r}: {type(exc).__name__}"
        ) from None
    if not pin:
        raise HsmConfigError(f"{PIN_FILE_ENV} {str(path)!r} is empty")
    return pin
