"""HsmConfig.from_env: one PIN source, clear errors, the PIN never shown."""

from __future__ import annotations

import secrets

import pytest

from hsm import config as config_module
from hsm.config import HsmConfig
from hsm.errors import HsmConfigError

MODULE = "/opt/hsm/libvendor.so"


@pytest.fixture
def pin() -> str:
    return secrets.token_urlsafe(12)


def test_reads_module_label_and_pin(pin):
    config = HsmConfig.from_env({
        "BURSAR_HSM_MODULE": MODULE,
        "BURSAR_HSM_TOKEN_LABEL": "issuing",
        "BURSAR_HSM_PIN": pin,
    })
    assert config == HsmConfig(module_path=MODULE, token_label="issuing", pin=pin)


def test_pin_file_contents_are_stripped(tmp_path, pin):
    pin_file = tmp_path / "pin"
    pin_file.write_text(f"  {pin}\n")
    config = HsmConfig.from_env({"BURSAR_HSM_MODULE": MODULE, "BURSAR_HSM_PIN_FILE": str(pin_file)})
    assert config.pin == pin


def test_defaults_label_and_finds_softhsm(monkeypatch, tmp_path, pin):
    module = tmp_path / "libsofthsm2.so"
    module.touch()
    monkeypatch.setattr(
        config_module, "SOFTHSM_MODULE_CANDIDATES", (str(tmp_path / "absent.so"), str(module))
    )
    config = HsmConfig.from_env({"BURSAR_HSM_PIN": pin})
    assert config.module_path == str(module) and config.token_label == "bursar"


def test_no_module_anywhere_is_an_error(monkeypatch, tmp_path, pin):
    monkeypatch.setattr(config_module, "SOFTHSM_MODULE_CANDIDATES", (str(tmp_path / "absent.so"),))
    with pytest.raises(HsmConfigError, match="BURSAR_HSM_MODULE.*softhsm2"):
        HsmConfig.from_env({"BURSAR_HSM_PIN": pin})


def test_missing_pin_names_both_variables():
    with pytest.raises(HsmConfigError) as error:
        HsmConfig.from_env({"BURSAR_HSM_MODULE": MODULE})
    assert "BURSAR_HSM_PIN" in str(error.value) and "BURSAR_HSM_PIN_FILE" in str(error.value)


def test_both_pin_sources_is_an_error(tmp_path, pin):
    pin_file = tmp_path / "pin"
    pin_file.write_text(pin)
    both = "only one of BURSAR_HSM_PIN and BURSAR_HSM_PIN_FILE"
    with pytest.raises(HsmConfigError, match=both) as error:
        HsmConfig.from_env({
            "BURSAR_HSM_MODULE": MODULE, "BURSAR_HSM_PIN": pin, "BURSAR_HSM_PIN_FILE": str(pin_file)
        })
    assert pin not in str(error.value)


@pytest.mark.parametrize("contents", ["", "  \n"])
def test_empty_pin_file_is_an_error(tmp_path, contents):
    pin_file = tmp_path / "pin"
    pin_file.write_text(contents)
    with pytest.raises(HsmConfigError, match="empty"):
        HsmConfig.from_env({"BURSAR_HSM_MODULE": MODULE, "BURSAR_HSM_PIN_FILE": str(pin_file)})


def test_unreadable_pin_file_names_the_path(tmp_path):
    missing = tmp_path / "no-such-pin"
    with pytest.raises(HsmConfigError, match="no-such-pin.*FileNotFoundError") as error:
        HsmConfig.from_env({"BURSAR_HSM_MODULE": MODULE, "BURSAR_HSM_PIN_FILE": str(missing)})
    assert error.value.__suppress_context__  # raised "from None": no chained OS error


def test_empty_pin_variable_is_an_error():
    with pytest.raises(HsmConfigError, match="BURSAR_HSM_PIN is set but empty"):
        HsmConfig.from_env({"BURSAR_HSM_MODULE": MODULE, "BURSAR_HSM_PIN": ""})


def test_token_label_must_fit_pkcs11(pin):
    with pytest.raises(HsmConfigError, match="label"):
        HsmConfig(module_path=MODULE, token_label="x" * 33, pin=pin)


def test_pin_is_not_in_repr_or_str(pin):
    config = HsmConfig(module_path=MODULE, token_label="bursar", pin=pin)
    assert pin not in repr(config) and pin not in str(config)
    assert "bursar" in repr(config)
