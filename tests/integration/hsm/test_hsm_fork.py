"""After fork() the child re-initialises SoftHSM and logs in on its own."""

from __future__ import annotations

import os
import threading

from pkcs11 import Mechanism

from hsm.keys import KeyKind, find_key, generate_hmac_key


def mac_of(hsm, label: str, data: bytes) -> bytes:
    with hsm.session() as session:
        return find_key(session, label, KeyKind.HMAC).sign(data, mechanism=Mechanism.SHA256_HMAC)


def run_in_child(function) -> tuple[int, bytes]:
    """Fork, run ``function`` in the child, return (exit status, its bytes)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(read_end)
            os.write(write_end, function())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()
    _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status), output


def test_child_uses_the_hsm_and_parent_carries_on(hsm, hsm_label):
    with hsm.session() as session:
        generate_hmac_key(session, hsm_label)  # a token object: visible to the child
    expected = mac_of(hsm, hsm_label, b"before fork")

    status, child_mac = run_in_child(lambda: mac_of(hsm, hsm_label, b"before fork"))

    assert status == 0 and child_mac == expected
    assert hsm.ping() and mac_of(hsm, hsm_label, b"before fork") == expected


def test_several_children_in_turn(hsm, hsm_label):
    with hsm.session() as session:
        generate_hmac_key(session, hsm_label)
    for i in range(3):
        status, child_mac = run_in_child(lambda: mac_of(hsm, hsm_label, b"%d" % i))
        assert status == 0 and child_mac == mac_of(hsm, hsm_label, b"%d" % i)


def test_fork_while_another_thread_uses_the_hsm(hsm, hsm_label):
    """fork() waits for in-flight HSM calls, so the child never inherits a half-done one."""
    with hsm.session() as session:
        generate_hmac_key(session, hsm_label)
    expected = mac_of(hsm, hsm_label, b"busy")
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            assert mac_of(hsm, hsm_label, b"busy") == expected

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        results = [run_in_child(lambda: mac_of(hsm, hsm_label, b"busy")) for _ in range(5)]
    finally:
        stop.set()
        worker.join()
    assert results == [(0, expected)] * 5
