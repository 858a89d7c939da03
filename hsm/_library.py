"""Process-wide access to PKCS#11 modules: one lock per module, fork-aware loading.

Two facts shape this module:

* python-pkcs11 initialises a module with ``C_Initialize(NULL)``, which tells
  SoftHSM that the application will not call it from several threads at
  once -- SoftHSM then runs without its own mutexes. Every call into a module
  must therefore be serialised: :func:`module_lock` hands out one re-entrant
  lock per module path, shared by everything in the process.
* python-pkcs11 caches one ``pkcs11.lib`` per path per process. After
  ``fork()`` the child inherits the parent's initialised library (sessions,
  login state, file handles). PKCS#11 says a child must call ``C_Initialize``
  again before using it, so :func:`load_module` re-initialises the library the
  first time it is used in a new process.

Around ``fork()`` the module locks are taken, so that the child never inherits
a library caught in the middle of a call, and the child gets fresh locks.
"""

from __future__ import annotations

import os
import threading

import pkcs11

# How long fork() waits for in-flight HSM calls before going ahead regardless.
_FORK_WAIT_SECONDS = 10.0

_guard = threading.Lock()
_locks: dict[str, threading.RLock] = {}
_initialised_in: dict[str, int] = {}  # module path -> pid that (re)initialised it
_held_over_fork: list[threading.RLock] = []


def module_lock(module_path: str) -> threading.RLock:
    """The lock serialising every call into the module at ``module_path``."""
    with _guard:
        return _locks.setdefault(module_path, threading.RLock())


def load_module(module_path: str) -> pkcs11.lib:
    """Load (or re-initialise after fork) a PKCS#11 module.

    The caller must hold :func:`module_lock` for ``module_path``. Raises
    python-pkcs11's ``PKCS11Error`` if the module cannot be loaded.
    """
    lib = pkcs11.lib(module_path)
    pid = os.getpid()
    if _initialised_in.setdefault(module_path, pid) != pid:
        # Inherited from the parent process: drop its state, start afresh.
        lib.reinitialize()
        _initialised_in[module_path] = pid
    return lib


def _before_fork() -> None:
    with _guard:
        locks = list(_locks.values())
    for lock in locks:
        if lock.acquire(timeout=_FORK_WAIT_SECONDS):
            _held_over_fork.append(lock)


def _after_fork_in_parent() -> None:
    while _held_over_fork:
        _held_over_fork.pop().release()


def _after_fork_in_child() -> None:
    global _guard
    _guard = threading.Lock()
    for path in _locks:
        _locks[path] = threading.RLock()
    _held_over_fork.clear()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
