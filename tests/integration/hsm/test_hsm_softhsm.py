"""SoftHSM provisioning for development and tests."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import textwrap

import pytest

from hsm import softhsm
from hsm.errors import SoftHsmError, SoftHsmNotInstalled
from hsm.softhsm import ensure_dev_token, init_softhsm_token, token_labels


def test_dev_token_is_created_once_with_private_pin_files(tmp_path):
    data_dir = tmp_path / "data"
    conf, pin_file = ensure_dev_token(data_dir, label="dev")

    assert conf == data_dir.resolve() / "softhsm2.conf"
    assert f"directories.tokendir = {data_dir.resolve() / 'tokens'}" in conf.read_text()
    assert "objectstore.backend = file" in conf.read_text()
    assert token_labels(conf) == ["dev"]
    for pin in (pin_file, data_dir / softhsm.SO_PIN_FILE):
        assert stat.S_IMODE(pin.stat().st_mode) == 0o600
        assert len(pin.read_text().strip()) >= 16
    first_pin = pin_file.read_text()

    assert ensure_dev_token(data_dir, label="dev") == (conf, pin_file)
    assert pin_file.read_text() == first_pin
    assert token_labels(conf) == ["dev"]


def test_token_without_pin_files_is_refused(tmp_path):
    conf, pin_file = ensure_dev_token(tmp_path, label="dev")
    pin_file.unlink()
    with pytest.raises(SoftHsmError, match="PIN files are missing"):
        ensure_dev_token(tmp_path, label="dev")


def test_init_is_idempotent_and_keeps_tokens_apart(tmp_path):
    so_pin, user_pin = secrets.token_hex(8), secrets.token_hex(8)
    conf = init_softhsm_token(tmp_path, "first", so_pin, user_pin)
    assert init_softhsm_token(tmp_path, "first", so_pin, user_pin) == conf
    init_softhsm_token(tmp_path, "second", so_pin, user_pin)
    assert sorted(token_labels(conf)) == ["first", "second"]


def test_pins_never_reach_the_command_line(tmp_path, monkeypatch):
    so_pin, user_pin = secrets.token_hex(8), secrets.token_hex(8)
    commands: list[list[str]] = []
    real_popen = subprocess.Popen

    def spy(argv, *args, **kwargs):
        commands.append(list(argv))
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    init_softhsm_token(tmp_path, "spied", so_pin, user_pin)

    assert any("--init-token" in argv for argv in commands)
    assert not any(pin in arg for argv in commands for arg in argv for pin in (so_pin, user_pin))


def test_bad_pin_is_refused_without_echoing_it(tmp_path):
    short_pin, good_pin = secrets.token_hex(8)[:3], secrets.token_hex(8)
    with pytest.raises(SoftHsmError, match="4-255") as error:
        init_softhsm_token(tmp_path, "short", short_pin, good_pin)
    assert short_pin not in str(error.value)


def test_missing_softhsm_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SoftHsmNotInstalled, match="Debian package 'softhsm2'"):
        init_softhsm_token(tmp_path, "x", secrets.token_hex(8), secrets.token_hex(8))


OPEN_FROM_ENV_SCRIPT = textwrap.dedent("""
    from hsm import Hsm, HsmConfig
    print(Hsm(HsmConfig.from_env()).open().ping())
""")


def test_dev_token_opens_from_the_environment(tmp_path):
    """End to end in a fresh process: SoftHSM reads SOFTHSM2_CONF at initialisation."""
    conf, pin_file = ensure_dev_token(tmp_path, label="bursar")
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("BURSAR_HSM_")
    }
    env.update(SOFTHSM2_CONF=str(conf), BURSAR_HSM_PIN_FILE=str(pin_file))
    result = subprocess.run(
        [sys.executable, "-c", OPEN_FROM_ENV_SCRIPT],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
