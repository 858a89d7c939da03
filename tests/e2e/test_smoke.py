"""Both apps as real processes (uvicorn), talking to each other, PostgreSQL and SoftHSM."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from entrypoints.runtime.bootstrap import KeyAdmin

ROOT = Path(__file__).resolve().parents[2]


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
