"""16 concurrent workers on real PostgreSQL: no money created or destroyed, no deadlock errors
surfaced, exactly one effect per id, exactly one reversal per original."""

from __future__ import annotations

import asyncio
import random
import uuid

import psycopg

from adapters.postgres.database import Database
from adapters.postgres.unit_of_work import PostgresTransactions
from adapters.system import SystemClock, UuidV7Ids
from application.ledger.open_account import OpenAccount
from application.ledger.post_transfers import PostTransfers
from domain.ledger import AccountFlags, CreateTransfer, NewAccount, ReverseTransfer

WORKERS = 16


def test_concurrent_workers_keep_the_ledger_whole(database):
    prefix = f"cc-{uuid.uuid4().hex[:8]}-"

    async def main():
        db = Database(database.core_url, min_size=WORKERS, max_size=WORKERS)
        await db.open()
        tx = PostgresTransactions(db.pool, attempts=50)
        post = PostTransfers(tx, SystemClock())
        open_account = OpenAccount(tx, SystemClock(), UuidV7Ids())
        accounts = [f"{prefix}acct{i}" for i in range(6)]
        hot = f"{prefix}hot"
        for account in [*accounts, hot]:
            limited = account != hot and account.endswith(("0", "1"))
            await open_account(NewAccount(id=account, currency="USD", name=account,
                                          flags=AccountFlags(debits_must_not_exceed_credits=limited),
                                          overdraft_limit=None, metadata={}))
        await post([CreateTransfer(id=f"{prefix}seed{i}", debit_account_id=hot, credit_account_id=a, amount=10_000,
                                   currency="USD") for i, a in enumerate(accounts)])

        duplicate_ids = [f"{prefix}dup{i}" for i in range(20)]
        originals = [f"{prefix}orig{i}" for i in range(5)]
        await post([CreateTransfer(id=o, debit_account_id=hot, credit_account_id=accounts[2], amount=5, currency="USD")
                    for o in originals])

        async def worker(n: int) -> list[str]:
            wrng = random.Random(n)
            statuses = []
            for step in range(25):
                batch = []
                for k in range(wrng.randint(1, 20)):
                    x, y = wrng.sample([*accounts, hot, hot], 2)
                    if x == y:
                        continue
                    batch.append(CreateTransfer(id=f"{prefix}w{n}s{step}k{k}", debit_account_id=x, credit_account_id=y,
                                                amount=wrng.randint(1, 500), currency="USD", pending=wrng.random() < 0.2))
                # Opposite directions between the same two accounts, in one batch and across workers.
                batch.append(CreateTransfer(id=f"{prefix}w{n}s{step}ab", debit_account_id=accounts[2], credit_account_id=accounts[3],
                                            amount=3, currency="USD"))
                batch.append(CreateTransfer(id=f"{prefix}w{n}s{step}ba", debit_account_id=accounts[3], credit_account_id=accounts[2],
                                            amount=2, currency="USD"))
                # The same ids from every worker: exactly one effect each.
                dup = duplicate_ids[step % len(duplicate_ids)]
                batch.append(CreateTransfer(id=dup, debit_account_id=hot, credit_account_id=accounts[4], amount=7, currency="USD"))
                # Duplicate reversals of the same originals, with different reversal ids per worker.
                original = originals[step % len(originals)]
                batch.append(ReverseTransfer(id=f"{prefix}rev-{n}-{step}", original_id=original))
                results = await post(batch)
                statuses += [r.status for r in results]
            return statuses

        outcomes = await asyncio.gather(*(worker(n) for n in range(WORKERS)))
        await db.close()
        return outcomes

    outcomes = asyncio.run(main())
    assert all(s in {"created", "exists", "failed"} for statuses in outcomes for s in statuses)

    with psycopg.connect(database.admin_url) as conn:
        like = prefix + "%"
        totals = conn.execute(
            "SELECT sum(debits_posted), sum(credits_posted), sum(debits_pending), sum(credits_pending) "
            "FROM core.ledger_accounts WHERE id LIKE %s", (like,)).fetchone()
        assert totals[0] == totals[1] and totals[2] == totals[3], totals
        folded = conn.execute(
            "SELECT a.id FROM core.ledger_accounts a LEFT JOIN LATERAL ("
            " SELECT sum(d_debits_posted) dp, sum(d_credits_posted) cp, sum(d_debits_pending) dpe, sum(d_credits_pending) cpe, count(*) n"
            " FROM core.ledger_entries e WHERE e.account_id = a.id) f ON true "
            "WHERE a.id LIKE %s AND (coalesce(f.dp, 0), coalesce(f.cp, 0), coalesce(f.dpe, 0), coalesce(f.cpe, 0), f.n) "
            "IS DISTINCT FROM (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, a.entry_count)",
            (like,)).fetchall()
        assert folded == [], f"balances differ from the fold of their entries: {folded}"
        over = conn.execute(
            "SELECT id FROM core.ledger_accounts WHERE id LIKE %s AND debits_must_not_exceed_credits "
            "AND debits_posted + debits_pending > credits_posted + coalesce(overdraft_limit, 0)", (like,)).fetchall()
        assert over == []
        dups = conn.execute("SELECT count(*) FROM core.ledger_transfers WHERE id LIKE %s", (prefix + "dup%",)).fetchone()[0]
        assert dups == 20
        dup_entries = conn.execute("SELECT count(*) FROM core.ledger_entries WHERE transfer_id LIKE %s", (prefix + "dup%",)).fetchone()[0]
        assert dup_entries == 40
        reversals = conn.execute(
            "SELECT reverses_id, count(*) FROM core.ledger_transfers WHERE reverses_id LIKE %s GROUP BY 1", (prefix + "orig%",)).fetchall()
        assert sorted(reversals) == sorted((o, 1) for o in [f"{prefix}orig{i}" for i in range(5)])
