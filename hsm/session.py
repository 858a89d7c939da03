"""The one logged-in PKCS#11 session of a process.

SoftHSM (as driven by python-pkcs11) tolerates exactly one pattern: one
logged-in session per process, used by one thread at a time. :class:`Hsm`
owns that session; :meth:`Hsm.session` lends it out while holding the
process-wide lock of the module, so callers can simply write::

    hsm = Hsm(HsmConfig.from_env()).open()
    with hsm.session() as session:
        key = find_key(session, "kek:v1", KeyKind.AES)
        ciphertext = key.encrypt(...)

Objects obtained from the session (keys, search results) are only valid while
the ``with`` block runs: use them inside it, never keep them.

After ``fork()`` the child re-initialises the module and logs in again the
first time it uses the HSM; it never touches the parent's handles.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType

import pkcs11
from pkcs11 import Attribute, ObjectClass, TokenFlag
from pkcs11.exceptions import PKCS11Error, UserAlreadyLoggedIn

from hsm import _library
from hsm.config import HsmConfig
from hsm.errors import HsmError, HsmLoginError, HsmUnavailable, TokenNotFound
from hsm.mechanisms import REQUIRED_MECHANISMS, require_mechanisms

log = logging.getLogger(__name__)

_DEAD_SESSION_ERRORS = (
    pkcs11.exceptions.SessionHandleInvalid,
    pkcs11.exceptions.SessionClosed,
    pkcs11.exceptions.DeviceRemoved,
    pkcs11.exceptions.TokenNotPresent,
    pkcs11.exceptions.UserNotLoggedIn,  # e.g. the handle whose login we shared closed
)
_PING_OBJECT = {
    Attribute.CLASS: ObjectClass.DATA,
    Attribute.TOKEN: False,
    Attribute.PRIVATE: True,  # only a logged-in session may create it
    Attribute.LABEL: "bursar:ping",
}
_LOGIN_ERRORS = (
    pkcs11.exceptions.PinIncorrect,
    pkcs11.exceptions.PinInvalid,
    pkcs11.exceptions.PinLenRange,
    pkcs11.exceptions.PinExpired,
    pkcs11.exceptions.PinLocked,
    pkcs11.exceptions.UserPinNotInitialized,
    pkcs11.exceptions.AnotherUserAlreadyLoggedIn,
)


class Hsm:
    """A lazily (re)connecting handle on one token; share one per process.

    Connection happens on :meth:`open` or on first use, and again after
    :meth:`close`, after ``fork()`` (in the child) and after a session was
    found dead. Login state belongs to the process: if the token is already
    logged in here, a plain session shares that login (:attr:`owns_login` is
    then false) -- and closing the handle that does own it logs out both.
    """

    def __init__(
        self,
        config: HsmConfig,
        *,
        required_mechanisms: Iterable[pkcs11.Mechanism] = REQUIRED_MECHANISMS,
    ) -> None:
        self._config = config
        self._required = tuple(required_mechanisms)
        self._session: pkcs11.Session | None = None
        self._pid = 0  # process that opened self._session
        self._owns_login = False
        self.calls = 0  # sessions lent out: each is at least one round trip to the token (metrics)

    @property
    def token_label(self) -> str:
        """Label of the token this handle logs in to."""
        return self._config.token_label

    @property
    def owns_login(self) -> bool:
        """Whether this handle logged in itself (rather than sharing a login)."""
        return self._owns_login and self._is_live()

    def __repr__(self) -> str:
        state = "open" if self._is_live() else "idle"
        return (
            f"Hsm(module={self._config.module_path!r},"
            f" token={self._config.token_label!r}, {state})"
        )

    def __enter__(self) -> Hsm:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> Hsm:
        """Connect and log in now (idempotent); call at start-up to fail fast.

        Raises :class:`HsmUnavailable` (module, token or login problem) or
        :class:`hsm.errors.MissingMechanism`.
        """
        with self._lock():
            self._connected()
        return self

    @contextmanager
    def session(self) -> Iterator[pkcs11.Session]:
        """Lend out the logged-in session while holding the module lock.

        If the session turns out to be dead (handle invalid, device removed),
        it is dropped so that the next use reconnects; the error propagates.
        """
        with self._lock():
            self.calls += 1
            try:
                yield self._connected()
            except _DEAD_SESSION_ERRORS:
                self._discard_session()
                raise

    def token_info(self) -> dict[str, str]:
        """What the token says it is (for ceremony transcripts): label, maker, model, serial, firmware."""
        with self.session() as session:
            token = session.token
            return {
                "label": token.label,
                "manufacturer": token.manufacturer_id,
                "model": token.model,
                "serial": token.serial.decode() if isinstance(token.serial, bytes) else str(token.serial),
                "firmware": ".".join(str(part) for part in token.firmware_version),
                "module": self._config.module_path,
            }

    def ping(self) -> bool:
        """Readiness check: ``True``, or :class:`HsmUnavailable` with the reason.

        Reads the token info, then creates and destroys a private session
        object -- which fails if the session handle went stale or the session
        is no longer logged in. After a failure the next use reconnects.
        """
        with self._lock():
            try:
                session = self._connected()
            except HsmUnavailable:
                raise
            except HsmError as exc:  # e.g. MissingMechanism
                raise HsmUnavailable(str(exc)) from exc
            try:
                session.token.slot.get_token()
                session.create_object(_PING_OBJECT).destroy()
            except PKCS11Error as exc:
                self._discard_session()
                raise HsmUnavailable(
                    f"HSM token {self.token_label!r} failed its ping: {type(exc).__name__}"
                ) from exc
        return True

    def close(self) -> None:
        """Close the session, logging out if this handle logged in.

        The handle stays usable: the next :meth:`session`, :meth:`ping` or
        :meth:`open` reconnects (so an app may close on shutdown and open
        again on the next start-up, even with a shared handle).
        """
        with self._lock():
            self._discard_session()

    # -- internals (the module lock is held by the caller) -----------------

    def _lock(self) -> threading.RLock:
        return _library.module_lock(self._config.module_path)

    def _is_live(self) -> bool:
        return self._session is not None and self._pid == os.getpid()

    def _discard_session(self) -> None:
        """Close our session if this process opened it; forget it in any case.

        After fork the handle belongs to the parent, so the child only drops
        the Python object (python-pkcs11 sessions have no finaliser that would
        close the handle behind our back).
        """
        session, self._session = self._session, None
        owned_here = session is not None and self._pid == os.getpid()
        self._owns_login = False
        if owned_here:
            try:
                session.close()  # python-pkcs11 logs out first if it logged in
            except PKCS11Error as exc:
                log.warning("closing the HSM session failed: %s", type(exc).__name__)

    def _connected(self) -> pkcs11.Session:
        if not self._is_live():
            self._discard_session()
            self._session = self._connect()
            self._pid = os.getpid()
        assert self._session is not None
        return self._session

    def _connect(self) -> pkcs11.Session:
        try:
            lib = _library.load_module(self._config.module_path)
        except PKCS11Error as exc:
            raise HsmUnavailable(
                f"cannot load PKCS#11 module {self._config.module_path!r}: {exc}"
            ) from exc
        token = self._find_token(lib)
        require_mechanisms(token, self._required)
        session = self._login(token)
        log.info("HSM session opened on token %r (pid %d)", token.label, os.getpid())
        return session

    def _find_token(self, lib: pkcs11.lib) -> pkcs11.Token:
        label = self.token_label
        try:
            tokens = [slot.get_token() for slot in lib.get_slots(token_present=True)]
        except PKCS11Error as exc:
            raise HsmUnavailable(f"cannot list HSM tokens: {type(exc).__name__}") from exc
        initialised = [t for t in tokens if t.flags & TokenFlag.TOKEN_INITIALIZED]
        matches = [t for t in initialised if t.label == label]
        if not matches:
            raise TokenNotFound(label, [t.label for t in initialised])
        if len(matches) > 1:
            raise HsmUnavailable(f"{len(matches)} HSM tokens are labelled {label!r}")
        return matches[0]

    def _login(self, token: pkcs11.Token) -> pkcs11.Session:
        try:
            session = token.open(rw=True, user_pin=self._config.pin)
            self._owns_login = True
            return session
        except UserAlreadyLoggedIn:
            # Login state is per process, not per session: someone else in
            # this process is logged in already. A plain session shares that
            # login. (python-pkcs11 leaks the session it opened for the failed
            # login attempt; SoftHSM reclaims it at C_Finalize.)
            log.warning(
                "token %r already logged in within this process; sharing that login",
                token.label,
            )
            return self._open_plain(token)
        except _LOGIN_ERRORS as exc:
            raise HsmLoginError(
                f"login to HSM token {token.label!r} failed: {type(exc).__name__}"
            ) from None
        except PKCS11Error as exc:
            raise HsmUnavailable(
                f"cannot open a session on HSM token {token.label!r}: {type(exc).__name__}"
            ) from exc

    def _open_plain(self, token: pkcs11.Token) -> pkcs11.Session:
        try:
            return token.open(rw=True)
        except PKCS11Error as exc:
            raise HsmUnavailable(
                f"cannot open a session on HSM token {token.label!r}: {type(exc).__name__}"
            ) from exc
