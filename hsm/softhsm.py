"""Provision SoftHSM tokens for development and tests. Never for production.

Each token store is a private directory holding ``softhsm2.conf`` and
``tokens/``; the system token directory (``/var/lib/softhsm/tokens``) is never
touched. Point ``SOFTHSM2_CONF`` at the returned conf file before the first
:meth:`hsm.Hsm.open` of the process -- SoftHSM reads it at initialisation only.

PINs are not passed on the command line (where ``ps`` would show them):
``softhsm2-util`` only reads PINs from a terminal, so it runs on a private
pseudo-terminal with echo off and the PINs are typed into it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import subprocess
import termios
from pathlib import Path

from hsm.errors import SoftHsmError, SoftHsmNotInstalled

log = logging.getLogger(__name__)

SOFTHSM_UTIL = "softhsm2-util"
CONF_NAME = "softhsm2.conf"
TOKENS_DIR = "tokens"
SO_PIN_FILE = "softhsm-so.pin"
USER_PIN_FILE = "softhsm-user.pin"
_MIN_PIN, _MAX_PIN = 4, 255  # SoftHSM's limits
_TIMEOUT_SECONDS = 60
_CONF_TEMPLATE = """\
# SoftHSM token store for Bursar development/tests (written by hsm.softhsm).
directories.tokendir = {tokendir}
objectstore.backend = file
log.level = ERROR
"""


def init_softhsm_token(directory: Path, label: str, so_pin: str, user_pin: str) -> Path:
    """Create the token ``label`` under ``directory`` unless it exists; return the conf path.

    Writes ``<directory>/softhsm2.conf`` and ``<directory>/tokens/``. Idempotent:
    an existing token with that label is left alone (its PINs are not checked).
    """
    util = _softhsm_util()
    for pin in (so_pin, user_pin):
        _check_pin(pin)
    conf = write_softhsm_conf(directory)
    if label in token_labels(conf):
        return conf
    answers = [so_pin, so_pin, user_pin, user_pin]  # "enter" and "re-enter", SO then user
    _run_on_terminal(
        [util, "--init-token", "--free", "--label", label], conf, answers, hidden=answers
    )
    if label not in token_labels(conf):
        raise SoftHsmError(f"softhsm2-util reported success but no token {label!r} exists")
    log.info("initialised SoftHSM token %r in %s", label, conf.parent)
    return conf


def ensure_dev_token(data_dir: Path, label: str = "bursar") -> tuple[Path, Path]:
    """A development token under ``data_dir``: ``(conf path, user PIN file)``.

    On first run, random SO and user PINs are generated and stored in
    ``data_dir`` with mode 0600; later runs reuse them and the token.
    Use with ``SOFTHSM2_CONF=<conf path>`` and ``BURSAR_HSM_PIN_FILE=<pin file>``.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    so_file, user_file = data_dir / SO_PIN_FILE, data_dir / USER_PIN_FILE
    if not (so_file.exists() and user_file.exists()):
        if label in token_labels(write_softhsm_conf(data_dir)):
            raise SoftHsmError(
                f"token {label!r} exists in {data_dir} but its PIN files are missing;"
                f" delete {data_dir / TOKENS_DIR} to start afresh"
            )
    conf = init_softhsm_token(data_dir, label, _pin_file(so_file), _pin_file(user_file))
    return conf, user_file


def write_softhsm_conf(directory: Path) -> Path:
    """Write ``<directory>/softhsm2.conf`` pointing at ``<directory>/tokens``."""
    directory = directory.resolve()
    tokens = directory / TOKENS_DIR
    tokens.mkdir(mode=0o700, parents=True, exist_ok=True)
    conf = directory / CONF_NAME
    text = _CONF_TEMPLATE.format(tokendir=tokens)
    if not conf.exists() or conf.read_text(encoding="utf-8") != text:
        conf.write_text(text, encoding="utf-8")
    return conf


def token_labels(conf: Path) -> list[str]:
    """Labels of the initialised tokens in the store that ``conf`` describes."""
    result = _run([_softhsm_util(), "--show-slots"], conf)
    labels, initialised = [], False
    for line in result.stdout.splitlines():
        if match := re.match(r"\s*Initialized:\s*(\w+)", line):
            initialised = match.group(1) == "yes"
        elif (match := re.match(r"\s*Label:(.*)$", line)) and initialised:
            labels.append(match.group(1).strip())
    return labels


# -- running softhsm2-util ----------------------------------------------------


def _softhsm_util() -> str:
    path = shutil.which(SOFTHSM_UTIL)
    if path is None:
        raise SoftHsmNotInstalled(
            f"{SOFTHSM_UTIL} not found on PATH: install the Debian package 'softhsm2'"
            " (apt-get install softhsm2)"
        )
    return path


def _env(conf: Path) -> dict[str, str]:
    return {**os.environ, "SOFTHSM2_CONF": str(conf)}


def _run(argv: list[str], conf: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, env=_env(conf), capture_output=True, text=True, timeout=_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL, check=False,
    )
    if result.returncode != 0:
        raise SoftHsmError(f"{' '.join(argv[1:])} failed: {result.stderr.strip()}")
    return result


def _run_on_terminal(argv: list[str], conf: Path, answers: list[str], hidden: list[str]) -> None:
    """Run ``argv`` with a pseudo-terminal as stdin, typing ``answers`` into it.

    Echo and line editing are off, so nothing typed comes back on stdout, and
    ``hidden`` strings are scrubbed from any output quoted in an error.
    """
    controller, terminal = os.openpty()
    try:
        _quiet(terminal)
        process = subprocess.Popen(
            argv, env=_env(conf), stdin=terminal, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
    finally:
        os.close(terminal)
    try:
        os.write(controller, "".join(f"{answer}\n" for answer in answers).encode("utf-8"))
        stdout, stderr = process.communicate(timeout=_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise SoftHsmError(f"{' '.join(argv[1:])} timed out") from None
    finally:
        os.close(controller)
    if process.returncode != 0:
        output = _scrub(f"{stderr.strip()} {stdout.strip()}", hidden)
        raise SoftHsmError(f"{' '.join(argv[1:])} failed: {output}")


def _quiet(terminal: int) -> None:
    """No echo, no line editing, no signal keys: input reaches the program verbatim."""
    attrs = termios.tcgetattr(terminal)
    attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    termios.tcsetattr(terminal, termios.TCSANOW, attrs)


def _scrub(text: str, hidden: list[str]) -> str:
    for secret in hidden:
        text = text.replace(secret, "***")
    return text


# -- PINs -----------------------------------------------------------------------


def _check_pin(pin: str) -> None:
    if not _MIN_PIN <= len(pin.encode("utf-8")) <= _MAX_PIN:
        raise SoftHsmError(f"SoftHSM PINs must be {_MIN_PIN}-{_MAX_PIN} bytes long")
    if not pin.isprintable():
        raise SoftHsmError("SoftHSM PINs must not contain control characters")


def _pin_file(path: Path) -> str:
    """Read the PIN stored at ``path``, creating a random one (mode 0600) if absent."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pin = path.read_text(encoding="utf-8").strip()
        if not pin:
            raise SoftHsmError(f"PIN file {str(path)!r} is empty") from None
        return pin
    pin = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(pin + "\n")
    return pin
