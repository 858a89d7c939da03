"""Hsm: one logged-in session per process, shared safely between threads."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from pkcs11 import Mechanism

from hsm.errors import HsmLoginError, HsmUnavailable, TokenNotFound
from hsm.keys import generate_hmac_key
from hsm.session import Hsm


def test_ping(hsm):
    assert hsm.ping() is True
    assert hsm.owns_login


def test_repr_names_token_but_not_pin(hsm, softhsm_token):
    assert "bursar-test" in repr(hsm) and softhsm_token.pin not in repr(hsm)


def test_second_handle_shares_the_login(hsm, softhsm_token):
    """A second login in one process is UserAlreadyLoggedIn: the handle shares instead."""
    assert hsm.ping() and hsm.owns_login
    second = Hsm(softhsm_token).open()
    assert second.ping() and not second.owns_login
    second.close()
    assert hsm.ping() and hsm.owns_login  # closing the sharer did not log the owner out


def test_sharer_logs_in_itself_once_the_owner_closed(hsm, softhsm_token):
    assert hsm.ping()
    sharer = Hsm(softhsm_token).open()
    hsm.close()  # logs the whole process out
    with pytest.raises(HsmUnavailable, match="UserNotLoggedIn"):
        sharer.ping()
    assert sharer.ping() and sharer.owns_login
    sharer.close()
    assert hsm.ping() and hsm.owns_login


def test_threads_share_the_session(hsm, hsm_label):
    with hsm.session() as session:
        generate_hmac_key(session, hsm_label)

    def mac(i: int) -> bytes:
        with hsm.session() as session:
            key = session.get_key(label=hsm_label)
            return key.sign(b"%d" % (i % 7), mechanism=Mechanism.SHA256_HMAC)

    with ThreadPoolExecutor(max_workers=8) as pool:
        macs = list(pool.map(mac, range(400)))
    assert len(set(macs)) == 7 and macs[:7] == macs[7:14]


def test_session_is_reentrant(hsm):
    with hsm.session() as outer, hsm.session() as inner:
        assert outer is inner


def test_unknown_token_lists_available_ones(softhsm_token):
    config = dataclasses.replace(softhsm_token, token_label="no-such-token")
    with pytest.raises(TokenNotFound) as error:
        Hsm(config).open()
    assert "'no-such-token'" in str(error.value) and "'bursar-test'" in str(error.value)
    assert softhsm_token.pin not in str(error.value)


def test_missing_module_is_unavailable(softhsm_token, tmp_path):
    config = dataclasses.replace(softhsm_token, module_path=str(tmp_path / "libnothing.so"))
    with pytest.raises(HsmUnavailable, match="libnothing.so"):
        Hsm(config).ping()


def test_closed_handle_reconnects_on_next_use(hsm):
    hsm.close()
    assert "idle" in repr(hsm) and not hsm.owns_login
    with hsm.session() as session:
        assert len(session.generate_random(64)) == 8
    assert hsm.owns_login and "open" in repr(hsm)


def test_dead_session_is_replaced_after_failed_ping(hsm, softhsm_token):
    handle = Hsm(softhsm_token).open()  # shares the login: closing its session keeps it
    with handle.session() as session:
        session.close()  # behind the handle's back: its session handle is now invalid
    with pytest.raises(HsmUnavailable, match="SessionHandleInvalid"):
        handle.ping()
    assert handle.ping()  # reconnected
    handle.close()
    assert hsm.ping()


WRONG_PIN_SCRIPT = textwrap.dedent("""
    import sys
    from hsm import Hsm, HsmConfig
    config = HsmConfig(module_path=sys.argv[1], token_label=sys.argv[2], pin=sys.stdin.read())
    try:
        Hsm(config).open()
    except Exception as exc:
        print(type(exc).__name__, exc)
""")


def test_wrong_pin_is_a_login_error_without_the_pin(softhsm_token):
    """Run in a fresh process: this one is logged in already, so login would be skipped."""
    wrong_pin = "wrong-" + softhsm_token.pin
    result = subprocess.run(
        [sys.executable, "-c", WRONG_PIN_SCRIPT,
         softhsm_token.module_path, softhsm_token.token_label],
        input=wrong_pin, capture_output=True, text=True, timeout=60, check=True,
    )
    assert result.stdout.startswith(HsmLoginError.__name__), result.stdout + result.stderr
    assert "PinIncorrect" in result.stdout
    assert wrong_pin not in result.stdout + result.stderr


def test_no_pin_in_log_lines(softhsm_token, caplog):
    caplog.set_level(logging.DEBUG)
    handle = Hsm(softhsm_token)
    handle.open()
    handle.ping()
    handle.close()
    Hsm(dataclasses.replace(softhsm_token, token_label="absent")).close()
    assert caplog.records and softhsm_token.pin not in caplog.text
