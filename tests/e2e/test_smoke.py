"""Both apps as real processes (uvicorn), talking to each other, PostgreSQL and SoftHSM."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.common import free_port
from entrypoints.runtime.bootstrap import KeyAdmin, ensure_service_keys
from entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def running_stack(vault_bootstrapped, tmp_path_factory):
    stack_env = vault_bootstrapped
    core_port, vault_port = free_port(), free_port()
    env = {**os.environ, **stack_env, "BURSAR_CORE_PORT": str(core_port), "BURSAR_VAULT_PORT": str(vault_port),
           "BURSAR_LOG_LEVEL": "INFO"}
    settings = Settings.from_env(env)
    for name, path in asyncio.run(ensure_service_keys(settings, tmp_path_factory.mktemp("secrets"))).items():
        env[f"{name}_FILE"] = str(path)
    logs = tmp_path_factory.mktemp("logs")
    procs = {
        app: subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli.main", "serve", app],
            cwd=ROOT, env=env, stdout=open(logs / f"{app}.out", "wb"), stderr=open(logs / f"{app}.log", "wb"),
        )
        for app in ("vault", "core")
    }
    urls = {"core": f"http://127.0.0.1:{core_port}", "vault": f"http://127.0.0.1:{vault_port}"}
    try:
        deadline = time.monotonic() + 30
        for app, url in urls.items():
            while True:
                assert procs[app].poll() is None, (logs / f"{app}.log").read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{app} not ready: " + (logs / f"{app}.log").read_text()[-3000:]
                time.sleep(0.1)
        yield urls, settings, logs
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=15)


def test_both_apps_ready(running_stack):
    urls, _, _ = running_stack
    core = httpx.get(f"{urls['core']}/readyz").json()
    vault = httpx.get(f"{urls['vault']}/readyz").json()
    assert core == {"status": "ready", "checks": {"database": "ok", "vault": "ok"}}
    assert vault == {"status": "ready", "checks": {"database": "ok", "hsm": "ok", "keys": "ok"}}


def test_authenticated_call_and_openapi(running_stack):
    urls, settings, _ = running_stack
    token = asyncio.run(KeyAdmin(settings).create("core", "admin", "smoke")).token
    listed = httpx.get(f"{urls['core']}/v1/admin/api-keys", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and any(k["name"] == "smoke" for k in listed.json()["data"])
    schema = httpx.get(f"{urls['vault']}/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.1")


def test_logs_are_json_with_request_ids(running_stack):
    urls, _, logs = running_stack
    httpx.get(f"{urls['core']}/healthz", headers={"X-Request-Id": "smoke-1"})
    time.sleep(0.3)
    import json

    records = [json.loads(line) for line in (logs / "core.log").read_text().splitlines() if line.startswith("{")]
    assert any(r.get("request_id") == "smoke-1" and r.get("path") == "/healthz" for r in records)
