"""Test doubles for webhooks: a controllable clock, a scripted sender, a real local HTTP receiver
that checks every signature by hand, and a fresh database with the events tables emptied."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

from application.ports.events import SendResult
from entrypoints.runtime import embedded_postgres
from entrypoints.settings import CORE_DB_ROLE, role_url


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class Sent:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout: float


@dataclass
class FakeSender:
    """Answers each URL from a script of statuses (None: no response), then 200."""

    script: dict[str, list[int | None]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> SendResult:
        self.sent.append(Sent(url, body, dict(headers), timeout))
        queue = self.script.get(url, [])
        status = queue.pop(0) if queue else 200
        return SendResult(status_code=status, error=None if status else "no response within 10 s")


def hand_verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """The Standard Webhooks check written out: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the
    base64-decoded secret, compared in constant time with each ``v1`` signature of the header."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(signature, expected)
        for version, _, signature in (part.partition(",") for part in headers["webhook-signature"].split())
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool


class Receiver:
    """A real HTTP server on a free local port. ``respond(path, received_so_far)`` gives each
    request's status (default 200) and ``reply(path, n)`` its body (default ``ok``); ``hold`` blocks requests until it is set; ``secret`` (when
    set) is used to check every signature by hand."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.respond: Callable[[str, int], int] = lambda path, n: 200
        self.reply: Callable[[str, int], bytes] = lambda path, n: b"ok"
        self.hold = threading.Event()
        self.hold.set()
        self.hold_timeout = 60.0
        self.secrets: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                secret = receiver.secrets.get(self.path)
                received = Received(self.path, headers, body, bool(secret) and hand_verify(secret, headers, body))
                with receiver.arrived:
                    receiver.requests.append(received)
                    n = sum(1 for r in receiver.requests if r.path == self.path)
                    receiver.arrived.notify_all()
                receiver.hold.wait(receiver.hold_timeout)
                status, reply = receiver.respond(self.path, n), receiver.reply(self.path, n)
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except ConnectionError:  # the sender is gone (a killed dispatcher)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        """Block until at least ``count`` requests arrived; False if they did not within ``timeout``."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def body_of(received: Received) -> dict:
    return json.loads(received.body)


@dataclass(frozen=True)
class EventsDatabase:
    admin_url: str
    core_url: str

    def clear(self) -> None:
        """Empty the events tables, so a dispatcher sees only what the current test wrote."""
        with psycopg.connect(self.admin_url) as conn:
            conn.execute("TRUNCATE core.webhook_delivery_attempts, core.webhook_deliveries, "
                         "core.webhook_subscriptions, core.events")


@contextmanager
def events_database(postgres_server_uri: str, prefix: str) -> Iterator[EventsDatabase]:
    """A fresh database with every migration: dispatchers claim whatever is due, so tests of the
    dispatcher must not share a database with other tests (or with a running core app)."""
    from entrypoints.runtime.bootstrap import migrate_schemas

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = embedded_postgres.ensure_database(postgres_server_uri, name)
    try:
        migrate_schemas(admin)
        yield EventsDatabase(admin_url=admin, core_url=role_url(admin, CORE_DB_ROLE, None))
    finally:
        embedded_postgres.drop_database(postgres_server_uri, name)
