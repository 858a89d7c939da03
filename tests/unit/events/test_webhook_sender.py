"""The httpx sender against a real local server: statuses as they come, no redirects followed,
and failures (timeout, refused connection) returned as results, never raised."""

from __future__ import annotations

import asyncio
import socket

from adapters.webhooks.sender import HttpxWebhookSender
from tests.webhook_support import Receiver


def post(url: str, timeout: float = 5.0):
    async def main():
        sender = HttpxWebhookSender()
        try:
            return await sender.post(url, b'{"id":"e1"}', {"webhook-id": "e1", "content-type": "application/json"},
                                     timeout)
        finally:
            await sender.close()

    return asyncio.run(main())


def test_statuses_are_returned_and_redirects_not_followed() -> None:
    with Receiver() as receiver:
        receiver.respond = lambda path, n: {"/ok": 204, "/moved": 301, "/broken": 500}[path]
        assert [post(receiver.url + p).status_code for p in ("/ok", "/moved", "/broken")] == [204, 301, 500]
        assert [r.path for r in receiver.requests] == ["/ok", "/moved", "/broken"]
        assert receiver.requests[0].body == b'{"id":"e1"}' and receiver.requests[0].headers["webhook-id"] == "e1"


def test_no_answer_within_the_timeout_is_a_failure_result() -> None:
    with Receiver() as receiver:
        receiver.hold.clear()  # never answers while the sender waits
        result = post(receiver.url + "/slow", timeout=0.2)
        assert (result.status_code, result.error) == (None, "no response within 0.2 s")


def test_a_refused_connection_is_a_failure_result() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = post(f"http://127.0.0.1:{port}/hooks")
    assert result.status_code is None and result.error and result.error.startswith("ConnectError")
