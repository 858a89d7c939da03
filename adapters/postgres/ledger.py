"""The ledger on PostgreSQL: a few set-based statements per batch, whatever its size.

A batch costs two round trips between BEGIN and COMMIT whatever its size: one pipeline that
locks the accounts in ascending id order (those named, those of named transfers, those of due
holds on them) and reads the named transfers, their holds, the due holds and reversals under
those locks; and one pipeline with the writes, each one statement over one JSON parameter
(above 64 entries, transfers and entries go by binary COPY first). The engine in
``domain.ledger`` decides everything in between, in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime

import msgspec
from psycopg import AsyncConnection, pq

from domain.ledger import (
    Account,
    AccountFlags,
    Balances,
    BatchOutcome,
    Entry,
    Hold,
    LedgerItem,
    LedgerSnapshot,
    ResolvePending,
    ReverseTransfer,
    Transfer,
    referenced_ids,
)

_ACCOUNT_COLS = (
    "id, currency, name, debits_must_not_exceed_credits, credits_must_not_exceed_debits, overdraft_limit, "
    "metadata, created_at, debits_posted, credits_posted, debits_pending, credits_pending, entry_count"
)
_TRANSFER_COLS = (
    'id, debit_account_id, credit_account_id, amount, currency, code, metadata, kind, pending_id, reverses_id, '
    'timeout_seconds, expires_at, "timestamp"'
)
_HOLD_COLS = "transfer_id, debit_account_id, credit_account_id, amount, currency, expires_at, state, resolved_by, resolved_at"
_ENTRY_COLS = (
    'account_id, account_seq, transfer_id, event, "timestamp", d_debits_posted, d_credits_posted, '
    "d_debits_pending, d_credits_pending, debits_posted, credits_posted, debits_pending, credits_pending"
)

_TRANSFER_TYPES = ["text", "text", "text", "int8", "text", "text", "jsonb", "text", "text", "text", "int4",
                   "timestamptz", "timestamptz"]
_ENTRY_TYPES = ["text", "int8", "text", "text", "timestamptz", *["int8"] * 8]

_json = msgspec.json.Encoder()


def _account(row) -> Account:
    return Account(
        id=row[0],
        currency=row[1],
        name=row[2],
        flags=AccountFlags(debits_must_not_exceed_credits=row[3], credits_must_not_exceed_debits=row[4]),
        overdraft_limit=row[5],
        metadata=row[6],
        created_at=row[7],
        balances=Balances(debits_posted=row[8], credits_posted=row[9], debits_pending=row[10], credits_pending=row[11]),
        entry_count=row[12],
    )


def _transfer(row) -> Transfer:
    return Transfer(
        id=row[0], debit_account_id=row[1], credit_account_id=row[2], amount=row[3], currency=row[4], code=row[5],
        metadata=row[6], kind=row[7], pending_id=row[8], reverses_id=row[9], timeout_seconds=row[10],
        expires_at=row[11], timestamp=row[12],
    )


def _hold(row) -> Hold:
    return Hold(
        transfer_id=row[0], debit_account_id=row[1], credit_account_id=row[2], amount=row[3], currency=row[4],
        expires_at=row[5], state=row[6], resolved_by=row[7], resolved_at=row[8],
    )


def _entry(row) -> Entry:
    return Entry(
        account_id=row[0], account_seq=row[1], transfer_id=row[2], event=row[3], timestamp=row[4],
        d_debits_posted=row[5], d_credits_posted=row[6], d_debits_pending=row[7], d_credits_pending=row[8],
        balances=Balances(debits_posted=row[9], credits_posted=row[10], debits_pending=row[11], credits_pending=row[12]),
    )


_PIPELINED_ROWS = 64
"""Entries up to which a batch's rows are inserted from JSON in one pipeline instead of by COPY."""


CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
"""Sent first in every ledger write transaction. psycopg prepares a statement after five runs,
and PL/pgSQL prepares the guard triggers' queries; PostgreSQL then settles on a generic plan,
chosen while the tables were small (sequential scans of ledger_transfers and ledger_entries),
and keeps it as they grow: a batch of 200 transfers took 250 ms to lock after 24,000 transfers.
Planning each statement for its actual arguments costs far less."""

_REFERRED_ACCOUNTS = (
    "UNION SELECT unnest(ARRAY[debit_account_id, credit_account_id]) FROM core.ledger_transfers "
    "WHERE id = ANY(%(referred)s::text[]) "
)
_DUE_HOLD_ACCOUNTS = (
    "UNION SELECT unnest(ARRAY[debit_account_id, credit_account_id]) FROM core.ledger_holds "
    "WHERE state = 'pending' AND expires_at <= %(now)s "
    "AND (debit_account_id = ANY(%(accounts)s::text[]) OR credit_account_id = ANY(%(accounts)s::text[])))"
)


def _to_lock(referring: bool) -> str:
    """The accounts a batch locks: those it names, those of the transfers its items refer to (the
    pending transfers they resolve, the transfers they reverse), and both accounts of the due holds
    on the accounts it names (so they can be released first). An item's own id is looked up too,
    for idempotency, but a transfer that exists already changes no balance: its accounts need no
    lock. Without references (new transfers only, as every card hold) the statement leaves that
    part out: each statement is planned on every run (custom plans), and the union cost more to
    plan than to run."""
    return ("WITH to_lock AS (SELECT unnest(%(accounts)s::text[]) AS id "
            + (_REFERRED_ACCOUNTS if referring else "") + _DUE_HOLD_ACCOUNTS)


def _rows(structs: Sequence[msgspec.Struct]) -> str:
    """Domain structs as one JSON array (``json_populate_recordset`` / ``json_to_recordset``)."""
    return _json.encode(structs).decode()


# The writes of a small batch, each one statement over one JSON parameter (see ``save``).
_INSERT_TRANSFERS = (  # a Transfer's fields are the table's columns
    f"INSERT INTO core.ledger_transfers ({_TRANSFER_COLS}) SELECT {_TRANSFER_COLS} "
    "FROM json_populate_recordset(NULL::core.ledger_transfers, %s::json)"
)
_BALANCE_COLUMNS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
_INSERT_ENTRIES = (  # an Entry's running balances are nested under "balances"
    f"INSERT INTO core.ledger_entries ({_ENTRY_COLS}) SELECT account_id, account_seq, transfer_id, event, "
    '"timestamp", d_debits_posted, d_credits_posted, d_debits_pending, d_credits_pending, '
    + ", ".join(f"(balances->>'{c}')::bigint" for c in _BALANCE_COLUMNS)
    + " FROM json_to_recordset(%s::json) AS e(account_id text, account_seq bigint, transfer_id text, event text, "
    '"timestamp" timestamptz, d_debits_posted bigint, d_credits_posted bigint, d_debits_pending bigint, '
    "d_credits_pending bigint, balances jsonb)"
)
_INSERT_HOLDS = (
    f"INSERT INTO core.ledger_holds ({_HOLD_COLS}) SELECT {_HOLD_COLS} "
    "FROM json_populate_recordset(NULL::core.ledger_holds, %s::json)"
)
# The updates join their JSON rows to a table by key. PostgreSQL guesses 100 rows for any
# json_to_recordset and then hash-joins a sequential scan of the table (all 10,000 accounts for a
# batch touching 10); ``LIMIT %s`` with the real count, known when the statement is planned
# (custom plans), makes it look the rows up by key instead.
_RESOLVE_HOLDS = (
    "UPDATE core.ledger_holds h SET state = u.state, resolved_by = u.resolved_by, resolved_at = u.resolved_at "
    "FROM (SELECT * FROM json_to_recordset(%s::json) "
    "AS r(transfer_id text, state text, resolved_by text, resolved_at timestamptz) LIMIT %s) u "
    "WHERE h.transfer_id = u.transfer_id"
)
_UPDATE_BALANCES = (  # an Account's balances are nested under "balances"
    "UPDATE core.ledger_accounts a SET "
    + ", ".join(f"{c} = (u.balances->>'{c}')::bigint" for c in _BALANCE_COLUMNS)
    + ", entry_count = u.entry_count FROM (SELECT * FROM json_to_recordset(%s::json) "
    "AS r(id text, balances jsonb, entry_count bigint) LIMIT %s) u WHERE a.id = u.id"
)


def _transfer_row(t: Transfer) -> tuple:
    return (t.id, t.debit_account_id, t.credit_account_id, t.amount, t.currency, t.code,
            None if t.metadata is None else _json.encode(t.metadata).decode(), t.kind, t.pending_id,
            t.reverses_id, t.timeout_seconds, t.expires_at, t.timestamp)


def _entry_row(e: Entry) -> tuple:
    b = e.balances
    return (e.account_id, e.account_seq, e.transfer_id, e.event, e.timestamp, e.d_debits_posted, e.d_credits_posted,
            e.d_debits_pending, e.d_credits_pending, b.debits_posted, b.credits_posted, b.debits_pending,
            b.credits_pending)



class PostgresLedger:
    """LedgerRepository over one connection inside an open transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def insert_account(self, account: Account) -> Account | None:
        cur = await self._conn.execute(
            f"INSERT INTO core.ledger_accounts ({_ACCOUNT_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, 0, 0, 0, 0, 0) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            (account.id, account.currency, account.name, account.flags.debits_must_not_exceed_credits,
             account.flags.credits_must_not_exceed_debits, account.overdraft_limit,
             _json.encode(account.metadata).decode(), account.created_at),
        )
        if await cur.fetchone():
            return None
        return await self.get_account(account.id)

    async def lock_snapshot(self, items: Sequence[LedgerItem], now: datetime) -> LedgerSnapshot:
        async with self._conn.pipeline():
            snapshot = await self.queue_lock_snapshot(items, now)
        return await snapshot()

    async def queue_lock_snapshot(self, items: Sequence[LedgerItem], now: datetime):
        account_ids, transfer_ids = referenced_ids(items)
        named_accounts = sorted(account_ids)
        wanted_transfers = sorted(transfer_ids)
        conn = self._conn
        # One round trip: the lock and the two reads go out in the caller's pipeline (``lock_snapshot``
        # opens one). The server runs them in order, each statement with a fresh snapshot (READ
        # COMMITTED), so the reads see everything committed before the locks were granted. The set
        # to lock is computed in SQL (named accounts, accounts of named transfers, both accounts of
        # due holds on named accounts) instead of by a read before locking.
        referred = sorted({i.pending_id for i in items if isinstance(i, ResolvePending)}
                          | {i.original_id for i in items if isinstance(i, ReverseTransfer)})
        params = {"accounts": named_accounts, "transfers": wanted_transfers, "referred": referred, "now": now}
        to_lock = _to_lock(bool(referred))
        await conn.execute(CUSTOM_PLANS)
        account_rows = await conn.execute(
            f"{to_lock} SELECT {_ACCOUNT_COLS} FROM core.ledger_accounts WHERE id IN (SELECT id FROM to_lock) "
            "ORDER BY id FOR UPDATE OF ledger_accounts",
            params,
        )
        # Named transfers, and the reversals of the transfers items reverse, in one statement.
        transfer_rows = await conn.execute(
            f"SELECT {_TRANSFER_COLS} FROM core.ledger_transfers "
            "WHERE id = ANY(%(transfers)s) OR reverses_id = ANY(%(referred)s)", params
        ) if wanted_transfers else None
        # Holds of the pending transfers referred to, plus due holds whose accounts are both in
        # the set (a superset of the locked set's; filtered to the locked accounts below).
        hold_rows = await conn.execute(
            f"{to_lock} "
            + (f"SELECT {_HOLD_COLS} FROM core.ledger_holds WHERE transfer_id = ANY(%(referred)s) UNION "
               if referred else "")
            + f"SELECT {_HOLD_COLS} FROM core.ledger_holds WHERE state = 'pending' AND expires_at <= %(now)s "
            "AND debit_account_id IN (SELECT id FROM to_lock) AND credit_account_id IN (SELECT id FROM to_lock)",
            params,
        )

        async def snapshot() -> LedgerSnapshot:
            accounts = {row[0]: _account(row) for row in await account_rows.fetchall()}
            transfers: dict[str, Transfer] = {}
            reversals: dict[str, str] = {}
            for row in await transfer_rows.fetchall() if transfer_rows else ():
                if row[0] in transfer_ids:
                    transfers[row[0]] = _transfer(row)
                if row[9] is not None and row[9] in transfer_ids:  # reverses_id
                    reversals[row[9]] = row[0]
            holds, referred_set = {}, set(referred)
            for row in await hold_rows.fetchall():
                if row[0] in referred_set or (row[1] in accounts and row[2] in accounts):
                    holds[row[0]] = _hold(row)
            # A named transfer committed after the lock statement's snapshot but before the reads'
            # (a concurrent create of the pending transfer this batch resolves, say): lock its
            # accounts too, then read again under all the locks. Rare; a lock cycle it might close
            # is a deadlock the transaction runner retries.
            missing = {a for i in referred if (t := transfers.get(i)) for a in (t.debit_account_id, t.credit_account_id)
                       } - accounts.keys()
            if missing:
                accounts |= await self._lock_accounts(missing)
                return await self._snapshot_under_locks(accounts, wanted_transfers, now)
            return LedgerSnapshot(accounts=accounts, transfers=transfers, holds=holds, reversals=reversals)

        return snapshot

    async def lock_due_holds(self, now: datetime, limit: int, account_id: str | None = None) -> LedgerSnapshot:
        await self._conn.execute(CUSTOM_PLANS)
        cur = await self._conn.execute(
            "SELECT transfer_id, debit_account_id, credit_account_id FROM core.ledger_holds "
            "WHERE state = 'pending' AND expires_at <= %s AND (%s::text IS NULL OR debit_account_id = %s OR credit_account_id = %s) "
            "ORDER BY expires_at LIMIT %s",
            (now, account_id, account_id, account_id, limit),
        )
        rows = await cur.fetchall()
        accounts = await self._lock_accounts({a for row in rows for a in row[1:]})
        return await self._snapshot_under_locks(accounts, [], now)

    async def _lock_accounts(self, account_ids: set[str]) -> dict[str, Account]:
        cur = await self._conn.execute(
            f"SELECT {_ACCOUNT_COLS} FROM core.ledger_accounts WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            (sorted(account_ids),),
        )
        return {row[0]: _account(row) for row in await cur.fetchall()}

    async def _snapshot_under_locks(self, accounts: dict[str, Account], transfer_ids: list[str], now: datetime) -> LedgerSnapshot:
        locked = list(accounts)
        # Three independent reads in one round trip (pipeline mode); the two about named transfers
        # only when some are named.
        async with self._conn.pipeline():
            transfer_rows = await self._conn.execute(
                f"SELECT {_TRANSFER_COLS} FROM core.ledger_transfers WHERE id = ANY(%s)", (transfer_ids,)
            ) if transfer_ids else None
            # Holds of referenced pending transfers, plus due holds whose two accounts are both locked.
            hold_rows = await self._conn.execute(
                f"SELECT {_HOLD_COLS} FROM core.ledger_holds WHERE transfer_id = ANY(%s) "
                f"UNION SELECT {_HOLD_COLS} FROM core.ledger_holds WHERE state = 'pending' AND expires_at <= %s "
                "AND debit_account_id = ANY(%s) AND credit_account_id = ANY(%s)",
                (transfer_ids, now, locked, locked),
            )
            reversal_rows = await self._conn.execute(
                "SELECT reverses_id, id FROM core.ledger_transfers WHERE reverses_id = ANY(%s)", (transfer_ids,)
            ) if transfer_ids else None
        transfers = {row[0]: _transfer(row) for row in await transfer_rows.fetchall()} if transfer_rows else {}
        holds = {row[0]: _hold(row) for row in await hold_rows.fetchall()}
        reversals = dict(await reversal_rows.fetchall()) if reversal_rows else {}
        return LedgerSnapshot(accounts=accounts, transfers=transfers, holds=holds, reversals=reversals)

    async def save(self, outcome: BatchOutcome) -> None:
        conn = self._conn
        # Large batches insert by binary COPY (2-3x faster than JSON for thousands of rows); small
        # ones as one JSON parameter each, in the same pipeline as the rest, so a one-transfer batch
        # costs one round trip. Statement-level triggers see either as one statement. JSON because
        # msgspec encodes the domain's structs in C; psycopg's dumpers for text arrays (unnest)
        # escape every element in Python and cost ~1.5 us each, most of a batch's client CPU.
        # Called inside a pipeline the caller opened (``uow.writes()``), the writes join it: one
        # round trip for the caller's statements and these together (COPY cannot run there).
        in_pipeline = conn.pgconn.pipeline_status != pq.PipelineStatus.OFF
        large = len(outcome.entries) > _PIPELINED_ROWS and not in_pipeline
        if large:
            await self._copy(f"COPY core.ledger_transfers ({_TRANSFER_COLS}) FROM STDIN (FORMAT BINARY)",
                             _TRANSFER_TYPES, [_transfer_row(t) for t in outcome.transfers])
            await self._copy(f"COPY core.ledger_entries ({_ENTRY_COLS}) FROM STDIN (FORMAT BINARY)",
                             _ENTRY_TYPES, [_entry_row(e) for e in outcome.entries])
        async with nullcontext() if in_pipeline else conn.pipeline():
            if not large and outcome.transfers:
                await conn.execute(_INSERT_TRANSFERS, (_rows(outcome.transfers),))
            if not large and outcome.entries:
                await conn.execute(_INSERT_ENTRIES, (_rows(outcome.entries),))
            if outcome.holds_created:
                await conn.execute(_INSERT_HOLDS, (_rows(outcome.holds_created),))
            if outcome.holds_resolved:
                await conn.execute(_RESOLVE_HOLDS, (_rows(outcome.holds_resolved), len(outcome.holds_resolved)))
            if outcome.accounts:
                await conn.execute(_UPDATE_BALANCES, (_rows(list(outcome.accounts.values())), len(outcome.accounts)))

    async def _copy(self, statement: str, types: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        async with self._conn.cursor().copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                await copy.write_row(row)

    async def has_due_holds(self, account_id: str, now: datetime) -> bool:
        cur = await self._conn.execute(
            "SELECT EXISTS (SELECT 1 FROM core.ledger_holds WHERE state = 'pending' AND expires_at <= %s "
            "AND (debit_account_id = %s OR credit_account_id = %s))",
            (now, account_id, account_id),
        )
        row = await cur.fetchone()
        return bool(row and row[0])

    async def get_account(self, account_id: str) -> Account | None:
        cur = await self._conn.execute(f"SELECT {_ACCOUNT_COLS} FROM core.ledger_accounts WHERE id = %s", (account_id,))
        row = await cur.fetchone()
        return _account(row) if row else None

    async def get_transfer(self, transfer_id: str) -> Transfer | None:
        cur = await self._conn.execute(f"SELECT {_TRANSFER_COLS} FROM core.ledger_transfers WHERE id = %s", (transfer_id,))
        row = await cur.fetchone()
        return _transfer(row) if row else None

    async def get_hold(self, transfer_id: str) -> Hold | None:
        cur = await self._conn.execute(f"SELECT {_HOLD_COLS} FROM core.ledger_holds WHERE transfer_id = %s", (transfer_id,))
        row = await cur.fetchone()
        return _hold(row) if row else None

    async def balances_at(self, account_id: str, at: datetime) -> Balances:
        cur = await self._conn.execute(
            'SELECT debits_posted, credits_posted, debits_pending, credits_pending FROM core.ledger_entries '
            'WHERE account_id = %s AND "timestamp" <= %s ORDER BY "timestamp" DESC, account_seq DESC LIMIT 1',
            (account_id, at),
        )
        row = await cur.fetchone()
        if row is None:
            return Balances()
        return Balances(debits_posted=row[0], credits_posted=row[1], debits_pending=row[2], credits_pending=row[3])

    async def entries(self, account_id: str, after_seq: int, limit: int) -> list[Entry]:
        cur = await self._conn.execute(
            f"SELECT {_ENTRY_COLS} FROM core.ledger_entries WHERE account_id = %s AND account_seq > %s "
            "ORDER BY account_seq LIMIT %s",
            (account_id, after_seq, limit),
        )
        return [_entry(row) for row in await cur.fetchall()]
