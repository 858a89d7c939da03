"""Card authorizations over HTTP on real PostgreSQL (fsync on): latency at a fixed offered load, and
throughput at saturation.

    python -m bench.authorization [--seconds N] [--saturation-seconds N] [--rates 500,1000] [--cards N] [--quick]
    (or: bursar bench authorization)

Sets up a throwaway database with one USD program and ``--cards`` cards (default 10,000), each with
its own verified cardholder and a funded balance (issued through the use cases with an in-memory
vault: the authorization path never calls the vault). Enough cards that each one's traffic stays
within reason: at 2,500/s, 1,000 cards would each authorize 150 times a minute, their limit and
monitoring windows filling with every second of the run (docs/performance.md). The core is served under uvicorn and receives
``POST /v1/network/authorizations`` with a network key: 4 in 5 in USD, 1 in 5 in EUR (priced with
the program's markup), random amounts, random cards.

- fixed load: an open-loop generator (bench/loadgen.py) sends exactly ``rate`` requests per second
  and measures each latency from its scheduled time (no coordinated omission);
- saturation: wrk (Debian package ``wrk``) with ``--connections`` (default 128) keeps the server
  busy for ``--saturation-seconds`` (default 30: what it sustains, not a burst). Authorizations
  are decided in batches of what is queued, so a server is only saturated when enough requests
  are in flight: with 32 connections it decided about 16 per batch and a third of the machine's
  CPU stayed idle (docs/performance.md).

Every authorization is decided in full: card and cardholder locked, controls and tier limits
counted, monitoring rules checked, the hold written to the ledger with the authorization record
and its outbox event in one transaction. The shipped monitoring rules apply, except that the
"burst" rule (more than 5 authorizations per card per minute) is raised so that the benchmark's
own traffic does not turn into cheap declines. Before the first measured request the set-up's
rows are vacuumed and analyzed and a checkpoint writes them out. Afterwards the ledger is checked
to balance and the authorizations stored are counted. Prints a table and writes bench/results/authorization.json.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import uuid

import msgspec
import psycopg
from dependency_injector import providers

from adapters.memory.vault import InMemoryVault
from application.access.manage_api_keys import CreateApiKey
from application.cards.cardholders import NewCardholder
from application.cards.cards import Funding, NewCard
from application.cards.programs import NewProgram
from bench.common import bench_database, report, run_wrk, served_core
from bench.loadgen import constant_rate, raw_post
from domain.compliance.monitoring import RuleSet
from entrypoints.containers import CoreContainer
from entrypoints.settings import Settings

MERCHANT = {"name": "Bench Groceries", "mcc": "5411", "country": "US"}
BALANCE = 10_000_000_00  # plenty: declines for funds would measure a cheaper path
COLUMNS = ["scenario", "offered/s", "authorizations", "seconds", "authorizations/s", "p50 ms", "p99 ms",
           "errors"]


async def _setup(admin_url: str, cards: int, shards: int) -> tuple[list[str], str]:
    """``cards`` funded cards (one cardholder each) and a network API key."""
    container = CoreContainer()
    container.settings.override(providers.Object(Settings.from_env({"DATABASE_URL": admin_url})))
    container.vault_client.override(providers.Object(InMemoryVault()))
    await container.database().open()
    try:
        program, _ = await container.cards_create_program()(NewProgram(
            id="prog_bench", name="Bench", bin="456789", currency="USD", fx_markup_bps=100,
            settlement_shards=shards))
        rules = container.compliance_rules()
        current = (await rules.current()).rules
        relaxed = RuleSet(rules=tuple(msgspec.structs.replace(r, max_count=1_000_000) if r.id == "burst" else r
                                      for r in current.rules))
        await rules.replace(relaxed, actor="bench", reason="benchmark: many authorizations per card and minute")
        tokens: list[str] = []
        slots = asyncio.Semaphore(8)

        async def one(i: int) -> None:
            async with slots:
                holder = await container.cards_create_cardholder()(
                    NewCardholder(name=f"Bench Holder {i}", country="US", id=f"ch_bench_{i}"), actor="bench")
                await container.cards_decide_kyc()(holder.cardholder.id, "verified", "premium")
                card, _ = await container.cards_issue()(NewCard(cardholder_id=holder.cardholder.id,
                                                                program_id=program.id), f"card_bench_{i}")
                await container.cards_fund()(card.id, Funding(id=f"fund-bench-{i}", amount=BALANCE, currency="USD"))
                tokens.append(card.token)

        await asyncio.gather(*(one(i) for i in range(cards)))
        key = await container.api_keys().create(CreateApiKey(role="network", name="bench"))
        await container.compliance_alerts_soon().drain()
        while await container.compliance_monitor().evaluate_awaiting():  # the fundings' alerts, before measuring
            pass
        return tokens, key.token
    finally:
        await container.database().close()


def _body(message_id: str, token: str, rng: random.Random) -> bytes:
    currency = "EUR" if rng.random() < 0.2 else "USD"
    return msgspec.json.encode({"message_id": message_id, "card_token": token, "amount": rng.randint(100, 20_000),
                                "currency": currency, "merchant": MERCHANT})


def _fixed_load(url: str, key: str, tokens: list[str], rate: int, seconds: int, run: str) -> dict:
    rng = random.Random(rate)
    headers = {"Authorization": f"Bearer {key}"}

    def request(i: int) -> bytes:
        return raw_post(url, "/v1/network/authorizations", headers,
                        _body(f"{run}-{i}", rng.choice(tokens), rng))

    result = asyncio.run(constant_rate(url, rate, seconds, request))
    return {"scenario": f"fixed load, {rate}/s offered", "offered/s": rate, "authorizations": result.ok,
            "seconds": round(result.elapsed, 1), "authorizations/s": round(result.achieved_rate),
            "p50 ms": round(result.percentile(50) * 1000, 2), "p99 ms": round(result.percentile(99) * 1000, 2),
            "errors": result.errors if not result.failures else
            f"{result.errors} ({', '.join(f'{what}: {n}' for what, n in sorted(result.failures.items()))})"}


WRK_SCRIPT = """
local counter = 0
local tokens = {%(tokens)s}
local tag = "%(tag)s"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
function request()
  counter = counter + 1
  local currency = "USD"
  if counter %% 5 == 0 then currency = "EUR" end
  local body = string.format(
    '{"message_id":"%%s-%%d","card_token":"%%s","amount":%%d,"currency":"%%s","merchant":%(merchant)s}',
    tag, counter, tokens[math.random(1, #tokens)], math.random(100, 20000), currency)
  return wrk.format(nil, "/v1/network/authorizations", nil, body)
end
"""


def _saturation(url: str, key: str, tokens: list[str], seconds: int, connections: int) -> dict:
    script = WRK_SCRIPT % {"tokens": ", ".join(f'"{t}"' for t in tokens), "key": key,
                           "tag": f"w{uuid.uuid4().hex[:6]}", "merchant": msgspec.json.encode(MERCHANT).decode()}
    name = f"saturation, wrk {connections} connections"
    out = run_wrk(url, script, seconds, connections)
    if out is None:
        return {"scenario": name, "authorizations/s": "needs wrk (apt-get install wrk)"}
    return {"scenario": name, "offered/s": "-", "authorizations": out["requests"], "seconds": seconds,
            "authorizations/s": round(out["requests"] / seconds), "p50 ms": out["p50"], "p99 ms": out["p99"],
            "errors": out["errors"]}


def _settle(admin_url: str) -> None:
    """Measure the service, not the aftermath of setting it up: the set-up's rows analyzed and
    vacuumed, its dirty pages written, before the first measured request (as pgbench vacuums)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def _check_ledger(admin_url: str) -> tuple[int, int]:
    """(approved, declined) stored; raises if the ledger does not balance per currency."""
    with psycopg.connect(admin_url) as conn:
        unbalanced = conn.execute(
            "SELECT currency, sum(debits_posted + debits_pending) - sum(credits_posted + credits_pending) "
            "FROM core.ledger_accounts GROUP BY currency HAVING sum(debits_posted + debits_pending) "
            "<> sum(credits_posted + credits_pending)").fetchall()
        if unbalanced:
            raise SystemExit(f"the ledger does not balance: {unbalanced}")
        approved, declined = conn.execute(
            "SELECT count(*) FILTER (WHERE approved), count(*) FILTER (WHERE NOT approved) "
            "FROM core.card_authorizations").fetchone()
    return approved, declined


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rates", default="50,500", help="fixed offered loads, comma-separated")
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--saturation-seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=128, help="wrk connections at saturation")
    parser.add_argument("--shards", type=int, default=16, help="the program's settlement_shards")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 cards, 5 s per scenario")
    args = parser.parse_args(argv)
    seconds, saturation, cards = (5, 5, 200) if args.quick else (args.seconds, args.saturation_seconds, args.cards)
    rows: list[dict] = []
    with bench_database() as (admin_url, _):
        print(f"setting up {cards} cards ...", flush=True)
        tokens, key = asyncio.run(_setup(admin_url, cards, args.shards))
        _settle(admin_url)
        with served_core(admin_url, args.workers) as url:
            _fixed_load(url, key, tokens, 200, 3, "warmup")
            for rate in (int(r) for r in args.rates.split(",")):
                rows.append(_fixed_load(url, key, tokens, rate, seconds, f"r{rate}-{uuid.uuid4().hex[:6]}"))
            rows.append(_saturation(url, key, tokens, saturation, args.connections))
        approved, declined = _check_ledger(admin_url)
    report("authorization", rows, COLUMNS)
    print(f"ledger balances per currency; {approved:,} authorizations approved, {declined:,} declined "
          f"({cards} cards, {args.shards} settlement shards, {args.workers} worker(s))")


if __name__ == "__main__":
    main()
