"""Time ``execute_batch`` on one 8,190-item batch (not collected by pytest).

Run from the repository root:
    .venv/bin/python -m bench.ledger_engine
"""

from __future__ import annotations

import gc
import statistics
import time
from datetime import UTC, datetime

from domain.ledger import (
    AccountFlags,
    Balances,
    CreateTransfer,
    LedgerSnapshot,
    ResolvePending,
    execute_batch,
)
from domain.ledger.model import Account

BATCH = 8_190
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def accounts(count: int) -> dict[str, Account]:
    """Half customer accounts with funds and a debit limit, half unconstrained."""
    result = {}
    for n in range(count):
        limited = n % 2 == 0
        result[f"a{n}"] = Account(
            id=f"a{n}",
            currency="USD",
            name=f"account {n}",
            flags=AccountFlags(debits_must_not_exceed_credits=limited),
            created_at=NOW,
            balances=Balances(credits_posted=10**12 if limited else 0),
        )
    return result


def singles(count: int, *, linked_every: int = 0) -> list[CreateTransfer]:
    return [
        CreateTransfer(
            id=f"t{n}",
            debit_account_id=f"a{(2 * n) % count}",
            credit_account_id=f"a{(2 * n + 1) % count}",
            amount=100 + n % 7,
            currency="USD",
            code="purchase",
            linked=bool(linked_every) and n % linked_every != linked_every - 1,
        )
        for n in range(BATCH)
    ]


def two_phase(count: int) -> list[CreateTransfer | ResolvePending]:
    items: list[CreateTransfer | ResolvePending] = []
    for n in range(BATCH // 2):
        items.append(
            CreateTransfer(
                id=f"p{n}",
                debit_account_id=f"a{(2 * n) % count}",
                credit_account_id=f"a{(2 * n + 1) % count}",
                amount=100,
                currency="USD",
                pending=True,
                timeout_seconds=60,
            )
        )
        items.append(ResolvePending(id=f"r{n}", pending_id=f"p{n}", action="post", amount=60))
    return items


def measure(label: str, items: list, snapshot: LedgerSnapshot, rounds: int = 15) -> None:
    timings = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        outcome = execute_batch(items, snapshot, NOW)
        timings.append((time.perf_counter() - start) * 1000)
    assert all(r.status == "created" for r in outcome.results), label
    print(f"{label:<44} median {statistics.median(timings):6.1f} ms   min {min(timings):6.1f} ms")


def main() -> None:
    for count in (10, 10_000):
        snapshot = LedgerSnapshot(accounts=accounts(count))
        measure(f"{count:>6} accounts, single transfers", singles(count), snapshot)
        measure(f"{count:>6} accounts, linked pairs", singles(count, linked_every=2), snapshot)
        measure(f"{count:>6} accounts, pending + partial post", two_phase(count), snapshot)


if __name__ == "__main__":
    main()
