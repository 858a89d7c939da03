"""Vault throughput over HTTP on SoftHSM2 and real PostgreSQL (fsync on), with HSM calls and CPU
counted.

    python -m bench.vault [--seconds N] [--workers N] [--pool N]

Starts a throwaway database, a throwaway SoftHSM2 token with keys made by the development key
ceremony, and the vault under uvicorn; then drives it with wrk (Debian package ``wrk``), 32
connections:

- tokenize: ``POST /v1/tokens`` with a new random Luhn-valid PAN per request (blind index,
  encrypt, insert, audit entry);
- issue: ``POST /v1/pans`` in one BIN (generate a PAN, the same writes);
- reveal: ``POST /v1/reveal`` with a fresh single-use grant per request (verify the Ed25519 grant,
  consume its nonce, decrypt, derive the CVV2, durable audit entry);
- and ``GET /healthz``, which does nothing: what the HTTP stack alone costs.

Operations are counted in the database afterwards (cards stored, ``card.revealed`` entries), so
they are right with several workers; reveals answered (wrk's 2xx) are checked against the audit
log. HSM calls per operation come from the vault's ``/metrics`` (a per-process counter: reported
over HTTP with one worker only) and from the in-process runs below. CPU per operation is read from /proc for the vault's processes, for this
database's PostgreSQL backends with the WAL writer, and for wrk.

Then the same tokenizations and reveals through the vault's services in this process (32
concurrent callers, no HTTP): what the vault's own work costs. Prints a table and writes
bench/results/vault.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import tempfile
import time
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
from vault.audit.entry import Actor, Origin
from vault.cards.pan import generate_pan

CONNECTIONS = 32
CARDS = 1000
GRANTS_PER_SECOND = 4000  # pre-signed per second of the reveal run; past the end, requests are replays
COLUMNS = ["scenario", "ok", "errors", "ops/s", "p50", "p99", "hsm calls/op",
           "vault cpu us/op", "postgres cpu us/op", "wrk cpu us/op"]

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

ISSUE_SCRIPT = r"""
wrk.method = "POST"
wrk.path = "/v1/pans"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"bin":"45678901","exp_month":12,"exp_year":2031}'
"""

HEALTHZ_SCRIPT = 'wrk.path = "/healthz"'

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


# -- counting ---------------------------------------------------------------------------------


def _pids(match) -> list[int]:
    """Processes whose ``/proc/<pid>/<file>`` satisfies ``match`` (Linux)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if match(int(entry)):
                    found.append(int(entry))
            except OSError:  # gone, or not ours to read
                pass
    return found


def _read(pid: int, name: str) -> bytes:
    with open(f"/proc/{pid}/{name}", "rb") as fh:
        return fh.read()


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = _read(pid, "stat").rsplit(b")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by the vault's processes, this database's PostgreSQL backends (and the WAL
    writer), and the children this process waited for (wrk)."""

    def __init__(self, port: int, database: str) -> None:
        marker = f"BURSAR_VAULT_PORT={port}\0".encode()
        self.vault = _pids(lambda pid: marker in _read(pid, "environ"))
        self._postgres = lambda: _pids(lambda pid: re.match(
            rb"postgres: (\S+ " + database.encode() + rb" |walwriter)", _read(pid, "cmdline")) is not None)

    def snapshot(self) -> tuple[float, float, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return _cpu_seconds(self.vault), _cpu_seconds(self._postgres()), children.ru_utime + children.ru_stime


def metric(url: str, token: str, name: str, labels: str = "") -> float:
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
    found = re.search(rf"^{name}_total{re.escape(labels)} (\S+)$", text, re.M)
    return float(found[1]) if found else 0.0


def count(admin_url: str) -> dict[str, int]:
    with psycopg.connect(admin_url) as conn:
        cards = dict(conn.execute("SELECT origin, count(*) FROM vault.cards GROUP BY origin").fetchall())
        revealed = conn.execute("SELECT count(*) FROM vault.audit_log WHERE action = 'card.revealed'").fetchone()[0]
    return {"imported": cards.get("imported", 0), "issued": cards.get("issued", 0), "revealed": revealed}


def http_scenario(name: str, url: str, script: str, seconds: int, admin_url: str, what: str | None,
                  meter: CpuMeter, auditor: str, workers: int) -> dict:
    """One wrk run; operations are counted in the database (``what``), or are wrk's 2xx answers."""
    load = os.getloadavg()[0]
    hsm_before, counted, cpu = metric(url, auditor, "bursar_vault_hsm_calls"), count(admin_url), meter.snapshot()
    result = run_wrk(url, script, seconds, CONNECTIONS)
    if result is None:
        return {"scenario": name, "ops/s": "needs wrk (apt-get install wrk)"}
    cpu = [after - before for after, before in zip(meter.snapshot(), cpu, strict=True)]
    answered = result["requests"] - result["errors"]
    ops = count(admin_url)[what] - counted[what] if what else answered
    hsm = metric(url, auditor, "bursar_vault_hsm_calls") - hsm_before
    row = {
        "scenario": name,
        "ok": ops,
        "errors": result["errors"],
        "ops/s": round(ops / seconds),
        "p50": result["p50"],
        "p99": result["p99"],
        "hsm calls/op": f"{hsm / max(ops, 1):.4f}" if workers == 1 else "n/a (per worker)",
        "vault cpu us/op": round(cpu[0] / max(ops, 1) * 1e6),
        "postgres cpu us/op": round(cpu[1] / max(ops, 1) * 1e6),
        "wrk cpu us/op": round(cpu[2] / max(ops, 1) * 1e6),
        "answered": answered,
        "load average before/after": f"{load:.2f}/{os.getloadavg()[0]:.2f}",
    }
    return row


# -- the same work in process ------------------------------------------------------------------


async def use_cases(settings: Settings, reveal_key: str, grants: list[str], n: int, meter: CpuMeter) -> list[dict]:
    """Tokenizations and reveals through the services, ``CONNECTIONS`` concurrent callers."""
    rows = []
    async with open_vault(settings) as vault:
        cards, reveals = vault.cards(), vault.reveals()
        origin = Origin(ip="127.0.0.1", request_id="0" * 32)
        core, revealer = Actor(id="bench-core", role="core"), Actor(id=parse_token(reveal_key)[0], role="reveal")
        pans = [generate_pan("999999") for _ in range(n)]  # a fresh database: random PANs do
        jobs = {
            "use case: tokenize (in process)": (pans, lambda pan: cards.tokenize(pan, 12, 2031, core, origin)),
            "use case: reveal (in process)": (grants, lambda grant: reveals.reveal(grant, revealer, origin)),
        }
        for name, (items, call) in jobs.items():
            await call(items[0])  # warm: keys, data key, prepared statements
            pending = iter(items[1:])

            async def caller() -> None:
                for item in pending:
                    await call(item)

            hsm, started, cpu, postgres = (vault.hsm().calls, time.perf_counter(), time.process_time(),
                                           meter.snapshot()[1])
            await asyncio.gather(*(caller() for _ in range(CONNECTIONS)))
            wall, cpu, postgres = (time.perf_counter() - started, time.process_time() - cpu,
                                   meter.snapshot()[1] - postgres)
            ops, hsm = len(items) - 1, vault.hsm().calls - hsm
            rows.append({"scenario": name, "ok": ops, "errors": 0, "ops/s": round(ops / wall),
                         "hsm calls/op": f"{hsm / ops:.4f}",
                         "vault cpu us/op": round(cpu / ops * 1e6), "postgres cpu us/op": round(postgres / ops * 1e6)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--workers", type=int, default=2, help="vault worker processes")
    parser.add_argument("--pool", type=int, default=4, help="database connections per worker (at most)")
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
            "BURSAR_DB_POOL_MIN": str(min(2, args.pool)),
            "BURSAR_DB_POOL_MAX": str(args.pool),
        }
        os.environ.update(env)  # the key ceremony below reads the HSM settings from the environment
        settings = Settings.from_env()
        database = psycopg.conninfo.conninfo_to_dict(admin_url)["dbname"]

        async def prepare() -> dict[str, str]:
            async with open_vault(settings) as vault:
                await ensure_dev_keys(vault, scratch_dir / "custodians")
            admin = KeyAdmin(settings)
            return {role: (await admin.create("vault", role, f"bench {role}")).token
                    for role in ("core", "reveal", "auditor")}

        tokens = asyncio.run(prepare())
        issue = IssueRevealGrant(JwtRevealGrantSigner(private), SystemClock(), SystemSecrets(), ttl_seconds=60)
        redeemer = parse_token(tokens["reveal"])[0]
        grants_file = scratch_dir / "grants.txt"
        rows = []
        with served("vault", env, workers=args.workers) as url:
            meter = CpuMeter(int(url.rsplit(":", 1)[1]), database)
            common = {"url": url, "seconds": args.seconds, "admin_url": admin_url, "meter": meter,
                      "auditor": tokens["auditor"], "workers": args.workers}
            rows.append(http_scenario("HTTP: GET /healthz (the floor: no auth, no body)", script=HEALTHZ_SCRIPT,
                                      what=None, **common))
            rows.append(http_scenario("HTTP: tokenize (new PAN each)", script=TOKENIZE_SCRIPT % {"token": tokens["core"]},
                                      what="imported", **common))
            rows.append(http_scenario("HTTP: issue (POST /v1/pans)", script=ISSUE_SCRIPT % {"token": tokens["core"]},
                                      what="issued", **common))
            with psycopg.connect(admin_url) as conn:
                cards = [t for (t,) in conn.execute(
                    "SELECT token FROM vault.cards WHERE origin = 'issued' LIMIT %s", (CARDS,)).fetchall()]
            with grants_file.open("w") as fh:  # grants live 60 s at most: signed just before the run
                for i in range(GRANTS_PER_SECOND * args.seconds):
                    fh.write(issue(cards[i % len(cards)], "bench-core", redeemer).grant + "\n")
            revealed_before = count(admin_url)["revealed"]
            row = http_scenario("HTTP: reveal (fresh grant each)",
                                script=REVEAL_SCRIPT % {"token": tokens["reveal"], "grants": grants_file},
                                what="revealed", **common)
            rows.append(row)
        audited = count(admin_url)["revealed"] - revealed_before
        print(f"reveals answered (2xx): {row.get('answered')}; card.revealed entries written meanwhile: {audited} "
              f"(at most {CONNECTIONS} more: requests still in flight when wrk stopped counting)\n")
        grants = [issue(cards[i % len(cards)], "bench-core", redeemer).grant for i in range(5000)]
        rows.extend(asyncio.run(use_cases(settings, tokens["reveal"], grants, 5000, meter)))
        for row in rows:
            row["workers"], row["pool per worker"] = args.workers, args.pool
        report("vault", rows, COLUMNS)
        print(f"{args.workers} vault worker(s), at most {args.pool} database connections each, "
              f"{CONNECTIONS} wrk connections, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
