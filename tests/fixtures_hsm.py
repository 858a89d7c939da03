"""Pytest plugin: a throw-away SoftHSM token for each test session.

Register with ``pytest_plugins = ["tests.fixtures_hsm"]`` (or ``-p tests.fixtures_hsm``).

SoftHSM reads ``SOFTHSM2_CONF`` only when the module is first initialised in a
process, and python-pkcs11 keeps the module loaded for the life of the
process. So the variable is pointed at a private temporary store in
``pytest_configure`` -- before any test can load SoftHSM -- and restored at
the end. The token itself is created on first use of ``softhsm_token``.

SoftHSM is a hard requirement: if it is missing the fixtures FAIL (with the
Debian package to install), they never skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm.config import MODULE_ENV, HsmConfig, default_module_path
from hsm.errors import HsmConfigError, HsmError, SoftHsmError
from hsm.session import Hsm
from hsm.softhsm import init_softhsm_token

TEST_TOKEN_LABEL = "bursar-test"

_store_key = pytest.StashKey[Path]()
_previous_conf_key = pytest.StashKey[str | None]()


def pytest_configure(config: pytest.Config) -> None:
    store = Path(tempfile.mkdtemp(prefix="bursar-softhsm-"))
    config.stash[_store_key] = store
    config.stash[_previous_conf_key] = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(store / "softhsm2.conf")


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_previous_conf_key, None)
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
    store = config.stash.get(_store_key, None)
    if store is not None:
        shutil.rmtree(store, ignore_errors=True)


@pytest.fixture(scope="session")
def softhsm_token(pytestconfig: pytest.Config) -> HsmConfig:
    """A fresh SoftHSM token (random PINs) in this session's private store."""
    store = pytestconfig.stash[_store_key]
    user_pin = secrets.token_urlsafe(18)
    try:
        module = os.environ.get(MODULE_ENV) or default_module_path()
        conf = init_softhsm_token(store, TEST_TOKEN_LABEL, secrets.token_urlsafe(18), user_pin)
    except (SoftHsmError, HsmConfigError) as exc:
        problem = str(exc)
    else:
        problem = None
    if problem is not None:
        pytest.fail(f"SoftHSM is required for the HSM tests: {problem}", pytrace=False)
    if os.environ.get("SOFTHSM2_CONF") != str(conf):
        pytest.fail(
            f"SOFTHSM2_CONF was changed during the session; it must stay {conf}", pytrace=False
        )
    return HsmConfig(module_path=module, token_label=TEST_TOKEN_LABEL, pin=user_pin)


@pytest.fixture(scope="session")
def hsm(softhsm_token: HsmConfig) -> Iterator[Hsm]:
    """The session's opened (logged-in) :class:`Hsm` on the test token."""
    handle = Hsm(softhsm_token)
    try:
        handle.open()
    except HsmError as exc:
        problem = str(exc)
    else:
        problem = None
    if problem is not None:
        pytest.fail(f"cannot open the SoftHSM test token: {problem}", pytrace=False)
    yield handle
    handle.close()


@pytest.fixture
def hsm_label() -> str:
    """A key label no other test uses (token objects outlive a test)."""
    return f"test:{uuid.uuid4().hex[:12]}"
