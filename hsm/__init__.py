"""Bursar's PKCS#11 layer: one logged-in HSM session per process, keys on the token.

A leaf package: it imports nothing from the rest of Bursar. PINs and key
material never appear in its log lines, reprs or exception messages.

Modules: :mod:`hsm.config` (settings from the environment), :mod:`hsm.session`
(:class:`Hsm`), :mod:`hsm.mechanisms` (start-up capability check),
:mod:`hsm.keys` (generation, lookup, attributes, KCVs, destruction), :mod:`hsm.eddsa`
(Ed25519 signatures, public key export), :mod:`hsm.backup` (wrapped key backups), :mod:`hsm.softhsm` (dev/test tokens),
:mod:`hsm.errors`.
"""

from hsm.config import HsmConfig
from hsm.errors import (
    DuplicateKey,
    HsmConfigError,
    HsmError,
    HsmLoginError,
    HsmUnavailable,
    KeyNotFound,
    KeyUsageError,
    MissingMechanism,
    SoftHsmError,
    SoftHsmNotInstalled,
    TokenNotFound,
)
from hsm.keys import (
    Kcv,
    KeyKind,
    find_key,
    generate_aes_key,
    destroy_keys,
    generate_ed25519_keypair,
    generate_hmac_key,
    kcv,
    key_attributes,
    seal,
)
from hsm.mechanisms import REQUIRED_MECHANISMS, require_mechanisms
from hsm.session import Hsm

__all__ = [
    "REQUIRED_MECHANISMS",
    "DuplicateKey",
    "Hsm",
    "HsmConfig",
    "HsmConfigError",
    "HsmError",
    "HsmLoginError",
    "HsmUnavailable",
    "Kcv",
    "KeyKind",
    "KeyNotFound",
    "KeyUsageError",
    "MissingMechanism",
    "SoftHsmError",
    "SoftHsmNotInstalled",
    "TokenNotFound",
    "find_key",
    "generate_aes_key",
    "destroy_keys",
    "generate_ed25519_keypair",
    "generate_hmac_key",
    "kcv",
    "key_attributes",
    "require_mechanisms",
    "seal",
]
