"""Shared benchmark plumbing: a throwaway migrated database, a served app, a results table."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx

from entrypoints.runtime import embedded_postgres
from entrypoints.runtime.bootstrap import migrate_schemas
from entrypoints.settings import CORE_DB_ROLE, role_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("BURSAR_BENCH_RESULTS", ROOT / "bench" / "results"))
"""Where ``report`` writes its JSON (``BURSAR_BENCH_RESULTS``: elsewhere, as the smoke tests do)."""


@contextmanager
def bench_database():
    """A fresh, migrated database on DATABASE_URL or the embedded server; dropped afterwards."""
    server = None
    uri = os.environ.get("DATABASE_URL")
    if not uri:
        server = embedded_postgres.start(ROOT / ".data" / "pg")
        uri = server.get_uri()
    name = f"bursar_bench_{uuid.uuid4().hex[:8]}"
    admin = embedded_postgres.ensure_database(uri, name)
    migrate_schemas(admin)
    try:
        yield admin, role_url(admin, CORE_DB_ROLE, None)
    finally:
        embedded_postgres.drop_database(uri, name)
        if server is not None:
            server.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_core(admin_url: str, workers: int = 1):
    """The core app alone (no vault) under uvicorn in its own process, ready once ``/healthz``
    answers; yields its base URL."""
    with served("core", {"DATABASE_URL": admin_url, "BURSAR_DB_POOL_MAX": "16"}, workers=workers,
                ready_path="/healthz") as url:
        yield url


@contextmanager
def served(app: str, env: dict[str, str], workers: int = 1, ready_path: str = "/readyz"):
    """``app`` ("core" or "vault") under uvicorn in its own process with ``env`` added; yields its URL
    once ``ready_path`` answers 200 (``/healthz`` for a core served without a vault)."""
    port = free_port()
    env = {**os.environ, "BURSAR_LOG_LEVEL": "WARNING", **env, f"BURSAR_{app.upper()}_PORT": str(port)}
    log = tempfile.TemporaryFile()  # not a pipe: a full pipe would block the server
    proc = subprocess.Popen([sys.executable, "-m", "entrypoints.cli.main", "serve", app, "--workers", str(workers)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}{ready_path}", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            raise RuntimeError(f"{app} did not start: " + log.read().decode()[-2000:])
        time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def run_wrk(url: str, script: str, seconds: int, connections: int) -> dict:
    """Drive ``url`` with wrk and a Lua ``script``; requests, non-2xx count and latency percentiles.
    ``None`` when wrk is missing (Debian package ``wrk``)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", fh.name, url],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(fh.name)
    requests = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = {p: re.search(rf"^\s*{p}%\s+(\S+)", out, re.M) for p in ("50", "99")}  # the distribution lines
    return {
        "requests": int(requests[1]) if requests else 0,
        "errors": int(errors[1]) if errors else 0,
        "p50": latency["50"][1] if latency["50"] else "",
        "p99": latency["99"][1] if latency["99"] else "",
    }


def report(name: str, rows: list[dict], columns: list[str]) -> Path:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "results": rows,
    }, indent=2))
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path
