"""Start-up mechanism probe: SoftHSM has what Bursar needs; a gap is named."""

from __future__ import annotations

import pytest
from pkcs11 import Mechanism

from hsm.errors import HsmUnavailable, MissingMechanism
from hsm.mechanisms import REQUIRED_MECHANISMS, require_mechanisms, supported_mechanisms
from hsm.session import Hsm

# SoftHSM 2.6.1 has no combined ECDSA-with-SHA-256 mechanism.
ABSENT_FROM_SOFTHSM = Mechanism.ECDSA_SHA256


def test_softhsm_supports_the_required_set(hsm):
    with hsm.session() as session:
        supported = require_mechanisms(session.token, REQUIRED_MECHANISMS)
        assert supported == supported_mechanisms(session.token.slot)
    assert ABSENT_FROM_SOFTHSM not in supported


def test_missing_mechanism_is_named(hsm):
    with hsm.session() as session, pytest.raises(MissingMechanism) as error:
        require_mechanisms(session.token, [Mechanism.AES_GCM, ABSENT_FROM_SOFTHSM])
    assert error.value.missing == ("CKM_ECDSA_SHA256",)
    assert "CKM_ECDSA_SHA256" in str(error.value) and "CKM_AES_GCM" not in str(error.value)
    assert "'bursar-test'" in str(error.value)


def test_hsm_refuses_a_token_lacking_a_mechanism(hsm, softhsm_token):
    demanding = Hsm(softhsm_token, required_mechanisms=[*REQUIRED_MECHANISMS, ABSENT_FROM_SOFTHSM])
    with pytest.raises(MissingMechanism, match="CKM_ECDSA_SHA256"):
        demanding.open()
    with pytest.raises(HsmUnavailable, match="CKM_ECDSA_SHA256"):
        demanding.ping()
    assert hsm.ping()
