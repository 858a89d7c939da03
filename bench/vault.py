"""Vault throughput over HTTP on SoftHSM2 and real PostgreSQL (fsync on), with HSM calls counted.

    python -m bench.vault [--seconds N]      (or: bursar bench vault)

Starts a throwaway database, a throwaway SoftHSM2 token with keys made by the development key
ceremony, and the vault under uvicorn; then drives it with wrk (Debian package ``wrk``):

- tokenize: ``POST /v1/tokens`` with a new random Luhn-valid PAN per request (encrypt, blind
  index, insert, audit entry);
- reveal: ``POST /v1/reveal`` with a fresh single-use grant per request (verify the Ed25519 grant,
  consume its nonce, decrypt, derive the CVV2, durable audit entry).

HSM calls per operation come from the vault's own ``/metrics`` (round trips to the token), read
before and after each scenario. Reveals are checked against the audit log afterwards. Prints a
table and writes bench/results/vault.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
from pathlib import Path

import httpx
import psycopg

from adapters.reveal_grants.jwt_signer import JwtRevealGrantSigner, generate_signing_key
from adapters.system import SystemClock, SystemSecrets
from application.cards.issue_reveal_grant import IssueRevealGrant
from bench.common import bench_database, report, run_wrk, served
from domain.access.model import parse_token
from entrypoints.runtime.bootstrap import KeyAdmin
from entrypoints.runtime.dev_ceremony import ensure_dev_keys
from entrypoints.runtime.vault_session import open_vault
from entrypoints.settings import Settings
from hsm.softhsm import ensure_dev_token

CONNECTIONS = 32
CARDS = 1000

TOKENIZE_SCRIPT = r"""
local token = "%(token)s"
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
math.randomseed(os.time())

local function luhn(body)
  local sum, len = 0, #body
  for i = len, 1, -1 do
    local d = tonumber(body:sub(i, i))
    if (len - i) %% 2 == 0 then d = d * 2; if d > 9 then d = d - 9 end end
    sum = sum + d
  end
  return body .. tostring((10 - sum %% 10) %% 10)
end

function request()
  local body = "9"
  for _ = 1, 14 do body = body .. tostring(math.random(0, 9)) end
  return wrk.format(nil, "/v1/tokens", nil,
    string.format('{"pan":"%%s","exp_month":12,"exp_year":2031}', luhn(body)))
end
"""

REVEAL_SCRIPT = r"""
local token = "%(token)s"
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
local grants, n = {}, 0
for line in io.lines("%(grants)s") do grants[#grants + 1] = line end

function request()
  n = n + 1
  local grant = grants[n] or grants[1]  -- past the end: a replay, refused (counted as an error)
  return wrk.format(nil, "/v1/reveal", nil, '{"grant":"' .. grant .. '"}')
end
"""


def metric(url: str, token: str, name: str, labels: str = "") -> float:
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
    found = re.search(rf"^{name}_total{re.escape(labels)} (\S+)$", text, re.M)
    return float(found[1]) if found else 0.0


async def issue_cards(url: str, token: str, n: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        semaphore = asyncio.Semaphore(16)

        async def one() -> str:
            async with semaphore:
                response = await client.post("/v1/pans", json={"bin": "45678901", "exp_month": 12, "exp_year": 2031})
                response.raise_for_status()
                return response.json()["token"]

        return list(await asyncio.gather(*(one() for _ in range(n))))


def scenario_row(name: str, result: dict | None, seconds: int, hsm_calls: float, ops: int) -> dict:
    if result is None:
        return {"scenario": name, "requests/s": "needs wrk (apt-get install wrk)"}
    return {
        "scenario": name,
        "ok": ops,
        "errors": result["errors"],
        "requests/s": round(ops / seconds),
        "p50": result["p50"],
        "p99": result["p99"],
        "hsm calls": int(hsm_calls),
        "hsm calls/op": f"{hsm_calls / max(ops, 1):.4f}",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--workers", type=int, default=2, help="vault worker processes")
    args = parser.parse_args(argv)
    with bench_database() as (admin_url, _), tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        conf, pin_file = ensure_dev_token(scratch_dir / "hsm", label="bench")
        private, public = generate_signing_key()
        (scratch_dir / "grant-public.pem").write_bytes(public)
        env = {
            "DATABASE_URL": admin_url,
            "SOFTHSM2_CONF": str(conf),
            "BURSAR_HSM_PIN_FILE": str(pin_file),
            "BURSAR_HSM_TOKEN_LABEL": "bench",
            "BURSAR_REVEAL_GRANT_PUBLIC_KEYS_FILE": str(scratch_dir / "grant-public.pem"),
            "BURSAR_REVEAL_LIMIT_PER_CARD": "1000000/minute",
            "BURSAR_REVEAL_LIMIT_PER_CREDENTIAL": "10000000/minute",
            "BURSAR_DB_POOL_MAX": "16",
        }
        os.environ.update(env)  # the key ceremony below reads the HSM settings from the environment
        settings = Settings.from_env()

        async def prepare() -> dict[str, str]:
            async with open_vault(settings) as vault:
                await ensure_dev_keys(vault, scratch_dir / "custodians")
            admin = KeyAdmin(settings)
            return {role: (await admin.create("vault", role, f"bench {role}")).token
                    for role in ("core", "reveal", "auditor")}

        tokens = asyncio.run(prepare())
        rows = []
        with served("vault", env, workers=args.workers) as url:
            auditor = tokens["auditor"]
            before = metric(url, auditor, "bursar_vault_hsm_calls")
            result = run_wrk(url, TOKENIZE_SCRIPT % {"token": tokens["core"]}, args.seconds, CONNECTIONS)
            hsm = metric(url, auditor, "bursar_vault_hsm_calls") - before
            ops = result["requests"] - result["errors"] if result else 0
            rows.append(scenario_row("tokenize (new PAN each)", result, args.seconds, hsm, ops))

            cards = asyncio.run(issue_cards(url, tokens["core"], CARDS))
            redeemer = parse_token(tokens["reveal"])[0]
            issue = IssueRevealGrant(JwtRevealGrantSigner(private), SystemClock(), SystemSecrets(), ttl_seconds=60)
            grants_file = scratch_dir / "grants.txt"
            with grants_file.open("w") as fh:
                for i in range(6000 * args.seconds):
                    fh.write(issue(cards[i % len(cards)], "bench-core", redeemer).grant + "\n")
            before = metric(url, auditor, "bursar_vault_hsm_calls")
            revealed_before = metric(url, auditor, "bursar_vault_reveals", '{outcome="revealed"}')
            result = run_wrk(url, REVEAL_SCRIPT % {"token": tokens["reveal"], "grants": grants_file}, args.seconds,
                             CONNECTIONS)
            hsm = metric(url, auditor, "bursar_vault_hsm_calls") - before
            revealed = int(metric(url, auditor, "bursar_vault_reveals", '{outcome="revealed"}') - revealed_before)
            rows.append(scenario_row("reveal (fresh grant each)", result, args.seconds, hsm, revealed))
        with psycopg.connect(admin_url) as conn:
            audited = conn.execute("SELECT count(*) FROM vault.audit_log WHERE action = 'card.revealed'").fetchone()[0]
        print(f"reveals answered: {revealed}; card.revealed entries in the audit log: {audited}\n")
        report("vault", rows, ["scenario", "ok", "errors", "requests/s", "p50", "p99", "hsm calls", "hsm calls/op"])


if __name__ == "__main__":
    main()
