"""``bursar demo`` against real running processes: every step prints, it exits 0, it never prints
a whole PAN, and the keys it made for itself are revoked afterwards."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from entrypoints.runtime.bootstrap import KeyAdmin

ROOT = Path(__file__).resolve().parents[2]


def test_bursar_demo_runs_the_card_flow_against_the_running_stack(running_stack, vault_bootstrapped):
    urls, settings, _ = running_stack
    env = {**os.environ, **vault_bootstrapped, "BURSAR_CORE_URL": urls["core"], "BURSAR_VAULT_URL": urls["vault"]}
    done = subprocess.run([sys.executable, "-m", "entrypoints.cli.main", "demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for step in ("program", "cardholder", "KYC", "card", "funded", "revealed", "authorized", "cleared", "refunded",
                 "balance", "audit"):
        assert re.search(rf"^\s*\d+\. {step}\b", out, re.M), f"no {step} step in:\n{out}"
    assert "grant_replayed" in out and "verified offline" in out
    assert not re.search(r"\d{13,19}", out), "the demo printed a whole card number"
    assert re.search(r"457173\*{6}\d{4}", out)

    async def demo_keys():
        admin = KeyAdmin(settings)
        return [k for app in ("core", "vault") for k in await admin.list(app) if k.name.startswith("bursar demo")]

    keys = asyncio.run(demo_keys())
    assert keys and all(k.revoked_at is not None for k in keys)


def test_bursar_demo_says_clearly_when_bursar_is_not_running(vault_bootstrapped):
    env = {**os.environ, **vault_bootstrapped, "BURSAR_CORE_URL": "http://127.0.0.1:9", "BURSAR_VAULT_URL":
           "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-m", "entrypoints.cli.main", "demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "is Bursar running (make run)?" in done.stderr and "Traceback" not in done.stderr
