"""Ledger throughput on real PostgreSQL (fsync on), at the use-case level and over HTTP.

    python -m bench.ledger [--quick]      (or: bursar bench ledger)

Scenarios: batches of 100 / 1,000 / 8,190 transfers per request over 10 and 10,000 accounts;
one hot account on one side of every transfer; one transfer per request from 16 concurrent
clients (over HTTP driven by wrk, which the Debian package ``wrk`` provides). Prints a table and
writes bench/results/ledger.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
import uuid

import httpx
import psycopg

from adapters.postgres.database import Database
from adapters.postgres.unit_of_work import PostgresTransactions
from adapters.system import SystemClock
from application.ledger.post_transfers import CoalescingPostTransfers, PostTransfers
from bench.common import bench_database, report, run_wrk, served_core
from domain.ledger import CreateTransfer

CLIENTS = 16
WORKERS = 1
_ids = itertools.count()


def seed_accounts(admin_url: str, prefix: str, n: int) -> list[str]:
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    with psycopg.connect(admin_url) as conn:
        conn.execute(
            "INSERT INTO core.ledger_accounts (id, currency, name, created_at) "
            "SELECT unnest(%s::text[]), 'USD', 'bench', now()", (ids,))
    return ids


def make_batch(rng: random.Random, accounts: list[str], size: int, hot: str | None = None) -> list[CreateTransfer]:
    batch = []
    for _ in range(size):
        if hot:
            debit, credit = hot, rng.choice(accounts)
        else:
            debit, credit = rng.sample(accounts, 2)
        batch.append(CreateTransfer(id=f"b{next(_ids)}-{uuid.uuid4().hex[:6]}", debit_account_id=debit,
                                    credit_account_id=credit, amount=rng.randint(1, 10_000), currency="USD"))
    return batch


def as_json(batch: list[CreateTransfer]) -> dict:
    return {"transfers": [{"id": t.id, "debit_account_id": t.debit_account_id, "credit_account_id": t.credit_account_id,
                           "amount": t.amount, "currency": t.currency} for t in batch]}


async def run_use_case_batches(post: PostTransfers, batches: list[list[CreateTransfer]], concurrency: int) -> float:
    queue = list(batches)
    started = time.perf_counter()

    async def client():
        while queue:
            results = await post(queue.pop())
            assert all(r.status == "created" for r in results), {r.code for r in results}

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started


async def run_http_batches(url: str, token: str, batches: list[list[CreateTransfer]], concurrency: int) -> float:
    bodies = [as_json(b) for b in batches]
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        started = time.perf_counter()

        async def client():
            while bodies:
                response = await http.post("/v1/ledger/transfers", json=bodies.pop())
                response.raise_for_status()
                assert all(r["status"] == "created" for r in response.json()["results"])

        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - started


WRK_SCRIPT = """
local counter = 0
local accounts = {%(accounts)s}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local tag = "%(tag)s"
function request()
  counter = counter + 1
  local d = math.random(1, #accounts)
  local c = (d %% #accounts) + 1
  local body = string.format(
    '{"transfers":[{"id":"w%%s-%%d","debit_account_id":"%%s","credit_account_id":"%%s","amount":%%d,"currency":"USD"}]}',
    tag, counter, accounts[d], accounts[c], math.random(1, 10000))
  return wrk.format(nil, "/v1/ledger/transfers", nil, body)
end
"""


def http_singles_with_wrk(url: str, token: str, admin_url: str, accounts: list[str], seconds: int) -> dict:
    """One transfer per request from CLIENTS connections, driven by wrk (a Python client tops
    out far below the server). Counts what the database actually holds afterwards."""
    name = f"1 per request, {CLIENTS} clients"
    script = WRK_SCRIPT % {"accounts": ", ".join(f'"{a}"' for a in accounts), "token": token,
                           "tag": uuid.uuid4().hex[:8]}  # fresh ids on every run
    with psycopg.connect(admin_url) as conn:
        before = conn.execute("SELECT count(*) FROM core.ledger_transfers WHERE id LIKE 'w%%'").fetchone()[0]
        out = run_wrk(url, script, seconds, CLIENTS)
        after = conn.execute("SELECT count(*) FROM core.ledger_transfers WHERE id LIKE 'w%%'").fetchone()[0]
    if out is None:
        return {"level": "HTTP", "scenario": name, "transfers": "-", "seconds": "-", "transfers/s": "needs wrk (apt-get install wrk)"}
    created = after - before
    return {"level": "HTTP", "scenario": name, "transfers": created, "seconds": seconds,
            "transfers/s": round(created / seconds), "p99": out["p99"], "errors": out["errors"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer transfers per scenario (a smoke run)")
    parser.add_argument("--level", choices=["all", "use-case", "http"], default="all", help="which levels to measure")
    parser.add_argument("--workers", type=int, default=WORKERS, help="uvicorn worker processes of the served core")
    args = parser.parse_args(argv)
    total = 20_000 if args.quick else 100_000
    singles = 1_000 if args.quick else 5_000
    rng = random.Random(1)
    rows: list[dict] = []

    with bench_database() as (admin_url, core_url):
        prefix = uuid.uuid4().hex[:4]
        few = seed_accounts(admin_url, f"{prefix}f", 10)
        many = seed_accounts(admin_url, f"{prefix}m", 10_000)
        hot = seed_accounts(admin_url, f"{prefix}h", 1)[0]

        scenarios = [
            ("batch 100", 100, few, None),
            ("batch 1,000", 1000, few, None),
            ("batch 8,190", 8190, few, None),
            ("batch 8,190, 10k accounts", 8190, many, None),
            ("batch 1,000, 10k accounts", 1000, many, None),
            ("batch 8,190, hot account", 8190, few, hot),
        ]

        async def use_case_level():
            db = Database(core_url, min_size=4, max_size=CLIENTS)
            await db.open()
            post = CoalescingPostTransfers(PostTransfers(PostgresTransactions(db.pool, attempts=50), SystemClock()))
            for name, size, accounts, hot_account in scenarios:
                batches = [make_batch(rng, accounts, size, hot_account) for _ in range(max(2, total // size))]
                elapsed = await run_use_case_batches(post, batches, concurrency=2)
                n = sum(len(b) for b in batches)
                rows.append({"level": "use case", "scenario": name, "transfers": n, "seconds": round(elapsed, 2),
                             "transfers/s": round(n / elapsed)})
            batches = [make_batch(rng, few, 1) for _ in range(singles)]
            elapsed = await run_use_case_batches(post, batches, concurrency=CLIENTS)
            rows.append({"level": "use case", "scenario": f"1 per call, {CLIENTS} clients", "transfers": singles,
                         "seconds": round(elapsed, 2), "transfers/s": round(singles / elapsed)})
            await db.close()

        if args.level in ("all", "use-case"):
            asyncio.run(use_case_level())
        if args.level == "use-case":
            report("ledger", rows, ["level", "scenario", "transfers", "seconds", "transfers/s", "p99", "errors"])
            return

        from entrypoints.runtime.bootstrap import KeyAdmin
        from entrypoints.settings import Settings

        token = asyncio.run(KeyAdmin(Settings.from_env({"DATABASE_URL": admin_url})).create("core", "app", "bench")).token
        with served_core(admin_url, args.workers) as url:
            for name, size, accounts, hot_account in scenarios:
                batches = [make_batch(rng, accounts, size, hot_account) for _ in range(max(2, total // size))]
                elapsed = asyncio.run(run_http_batches(url, token, batches, concurrency=2))
                n = sum(len(b) for b in batches)
                rows.append({"level": "HTTP", "scenario": name, "transfers": n, "seconds": round(elapsed, 2),
                             "transfers/s": round(n / elapsed)})
            rows.append(http_singles_with_wrk(url, token, admin_url, few, seconds=5 if args.quick else 15))

    report("ledger", rows, ["level", "scenario", "transfers", "seconds", "transfers/s", "p99", "errors"])


if __name__ == "__main__":
    main()
