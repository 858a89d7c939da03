"""An open-loop HTTP/1.1 load generator for a fixed offered load.

Requests leave on a fixed schedule (``rate`` per second) whatever the server's latency, and each
latency is measured from the request's *scheduled* time, not from when a connection happened to
be free: a server that falls behind shows it in the percentiles instead of slowing the client down
(no coordinated omission). wrk (Debian's, without wrk2's ``-R``) is closed-loop, so it measures
saturation; this measures latency at a given rate.

Plain asyncio streams with pre-built requests: it costs about a tenth of a core at 500 requests/s,
where a general HTTP client (httpx) would saturate a core at about 600.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    offered_rate: float
    seconds: float
    sent: int = 0
    ok: int = 0
    errors: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # what the errors were: "HTTP 503", "ConnectionResetError"
    latencies: list[float] = field(default_factory=list)  # seconds, from the scheduled time
    elapsed: float = 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def achieved_rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def constant_rate(url: str, rate: float, seconds: float, request: Callable[[int], bytes],
                        connections: int = 256) -> LoadResult:
    """Send ``rate`` requests per second for ``seconds``; ``request(i)`` is the i-th raw request
    (see :func:`raw_post`). Connections are opened as needed, up to ``connections``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    result = LoadResult(offered_rate=rate, seconds=seconds)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(connections)
    tasks: set[asyncio.Task] = set()

    def failed(what: str) -> None:
        result.errors += 1
        result.failures[what] = result.failures.get(what, 0) + 1

    async def one(i: int, scheduled: float) -> None:
        async with slots:
            reused = bool(idle)
            conn = idle.pop() if idle else await asyncio.open_connection(host, port)
            try:
                try:
                    conn[1].write(request(i))
                    status = await _read_response(conn[0])
                except (OSError, asyncio.IncompleteReadError) as exc:
                    if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                        raise
                    # A kept-alive connection the server had closed meanwhile (uvicorn closes idle
                    # ones after 5 s) before any answer: send again on a new one, as HTTP clients do.
                    conn[1].close()
                    conn = await asyncio.open_connection(host, port)
                    conn[1].write(request(i))
                    status = await _read_response(conn[0])
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                failed(type(exc).__name__)
                conn[1].close()
                return
            result.latencies.append(time.perf_counter() - scheduled)
            if 200 <= status < 300:
                result.ok += 1
            else:
                failed(f"HTTP {status}")
            idle.append(conn)

    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        result.sent += 1
    if tasks:
        await asyncio.wait(tasks)
    result.elapsed = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    return result


def raw_post(url: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    host = urlsplit(url).netloc
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
