"""Cards on PostgreSQL, inside the unit of work's transaction (one connection)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from adapters.postgres.ledger import CUSTOM_PLANS
from domain.cards.authorization import Merchant, WebhookVerdict
from domain.cards.controls import WINDOWS, Controls, Interval, Usage, window_start
from domain.cards.model import Card, Cardholder, DecisionWebhook, Program, ProgramAccounts
from domain.cards.records import Authorization, CardTransaction

_PROGRAM = ("id, name, bin, currency, expiry_months, controls, fx_markup_bps, hold_seconds, funding_account_id, "
            "settlement_account_id, fx_fee_account_id, created_at, decision_webhook, settlement_shards")
_HOLDER = "id, name, country, birth_date, email, kyc_status, kyc_tier, created_at, kyc_source, kyc_reason"
_CARD = ("id, cardholder_id, program_id, token, bin, last4, exp_month, exp_year, currency, state, controls, "
         "account_id, created_at, updated_at")
_AUTH = ("id, card_id, cardholder_id, message_id, status, approved, response_code, decline_reason, amount, "
         "currency, approved_amount, card_amount, card_currency, fee, rate::text, merchant, hold_transfer_id, "
         "held, cleared, counted, expires_at, decision_webhook, created_at, updated_at")
_AUTH_INSERT = _AUTH.replace("::text", "")
_TX = ("id, card_id, authorization_id, message_id, kind, amount, currency, card_amount, card_currency, fee, "
       "transfer_ids, shortfall, merchant, created_at")


_encode = msgspec.json.Encoder().encode


def _json(value: Any) -> Jsonb:
    return Jsonb(msgspec.to_builtins(value))


def _controls(raw: dict) -> Controls:
    return msgspec.convert(raw, Controls)


def _program(row) -> Program:
    (id_, name, bin_, currency, months, controls, markup, hold, funding, settlement, fees, created, webhook,
     shards) = row
    return Program(id=id_, name=name, bin=bin_, currency=currency, expiry_months=months, controls=_controls(controls),
                   fx_markup_bps=markup, hold_seconds=hold, created_at=created,
                   accounts=ProgramAccounts(funding=funding, settlement=settlement, fx_fees=fees),
                   decision_webhook=msgspec.convert(webhook, DecisionWebhook) if webhook else None,
                   settlement_shards=shards)


def _holder(row) -> Cardholder:
    id_, name, country, birth, email, status, tier, created, source, reason = row
    return Cardholder(id=id_, name=name, country=country, birth_date=birth, email=email, kyc_status=status,
                      kyc_tier=tier, created_at=created, kyc_source=source, kyc_reason=reason)


def _card(row) -> Card:
    names = _CARD.split(", ")
    data = dict(zip(names, row, strict=True))
    data["controls"] = _controls(data["controls"])
    return Card(**data)


def _authorization(row) -> Authorization:
    names = [n.split("::")[0] for n in _AUTH.split(", ")]
    data = dict(zip(names, row, strict=True))
    data["merchant"] = msgspec.convert(data["merchant"], Merchant)
    if data["decision_webhook"] is not None:
        data["decision_webhook"] = msgspec.convert(data["decision_webhook"], WebhookVerdict)
    return Authorization(**data)


def _transaction(row) -> CardTransaction:
    data = dict(zip(_TX.split(", "), row, strict=True))
    data["merchant"] = msgspec.convert(data["merchant"], Merchant)
    data["transfer_ids"] = tuple(data["transfer_ids"])
    return CardTransaction(**data)


def _usage_sql(column: str, now: datetime, since: datetime | None
               ) -> tuple[str, list[Any], tuple[Interval, ...]]:
    """Usage per ``column`` value (``= ANY`` of the last parameter), the windows' sums and counts,
    over the authorizations created from ``since`` on (all of them without); and the windows
    summed: those that begin before ``since`` are left out (they could not be exact)."""
    selects: list[str] = []
    params: list[Any] = []
    windows: list[Interval] = []
    for window in WINDOWS:
        start = window_start(window, now)
        if since is not None and (start is None or start < since):
            continue
        windows.append(window)
        if start is None:
            selects += ["coalesce(sum(counted), 0)", "count(*) FILTER (WHERE counted > 0)"]
        else:
            selects += ["coalesce(sum(counted) FILTER (WHERE created_at >= %s), 0)",
                        "count(*) FILTER (WHERE counted > 0 AND created_at >= %s)"]
            params += [start, start]
    bound = ""
    if since is not None:
        bound = " AND created_at >= %s"
        params.append(since)
    return (f"SELECT {column}, {', '.join(selects)} FROM core.card_authorizations "
            f"WHERE counted > 0{bound} AND {column} = ANY(%s) GROUP BY {column}"), params, tuple(windows)


def _usages(ids: list[str], rows, windows: tuple[Interval, ...]) -> dict[str, Usage]:
    """Every id's usage of ``windows`` (zero for ids without counted authorizations) from
    ``_usage_sql`` rows."""
    found = {row[0]: Usage(amounts={w: int(row[1 + 2 * i]) for i, w in enumerate(windows)},
                           counts={w: int(row[2 + 2 * i]) for i, w in enumerate(windows)}) for row in rows}
    empty = Usage(amounts=dict.fromkeys(windows, 0), counts=dict.fromkeys(windows, 0))
    return {i: found.get(i, empty) for i in ids}


def _lock(lock: bool) -> str:
    return " FOR UPDATE" if lock else ""


class PostgresCards:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _one(self, sql: str, params: tuple):
        return await (await self._conn.execute(sql, params)).fetchone()

    # -- programs, cardholders, cards ---------------------------------------------------

    async def add_program(self, p: Program) -> None:
        await self._conn.execute(
            f"INSERT INTO core.card_programs ({_PROGRAM}) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (p.id, p.name, p.bin, p.currency, p.expiry_months, _json(p.controls), p.fx_markup_bps, p.hold_seconds,
             p.accounts.funding, p.accounts.settlement, p.accounts.fx_fees, p.created_at,
             _json(p.decision_webhook) if p.decision_webhook else None, p.settlement_shards),
        )

    async def get_program(self, program_id: str) -> Program | None:
        row = await self._one(f"SELECT {_PROGRAM} FROM core.card_programs WHERE id = %s", (program_id,))
        return _program(row) if row else None

    async def add_cardholder(self, c: Cardholder) -> None:
        await self._conn.execute(
            f"INSERT INTO core.cardholders ({_HOLDER}, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (c.id, c.name, c.country, c.birth_date, c.email, c.kyc_status, c.kyc_tier, c.created_at, c.kyc_source,
             c.kyc_reason, c.created_at),
        )

    async def get_cardholder(self, cardholder_id: str, *, lock: bool = False) -> Cardholder | None:
        row = await self._one(f"SELECT {_HOLDER} FROM core.cardholders WHERE id = %s{_lock(lock)}", (cardholder_id,))
        return _holder(row) if row else None

    async def update_cardholder(self, c: Cardholder) -> None:
        await self._conn.execute(
            "UPDATE core.cardholders SET kyc_status = %s, kyc_tier = %s, kyc_source = %s, kyc_reason = %s, "
            "updated_at = now() WHERE id = %s",
            (c.kyc_status, c.kyc_tier, c.kyc_source, c.kyc_reason, c.id),
        )

    async def add_card(self, c: Card) -> None:
        await self._conn.execute(
            f"INSERT INTO core.cards ({_CARD}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (c.id, c.cardholder_id, c.program_id, c.token, c.bin, c.last4, c.exp_month, c.exp_year, c.currency,
             c.state, _json(c.controls), c.account_id, c.created_at, c.updated_at),
        )

    async def get_card(self, card_id: str, *, lock: bool = False) -> Card | None:
        row = await self._one(f"SELECT {_CARD} FROM core.cards WHERE id = %s{_lock(lock)}", (card_id,))
        return _card(row) if row else None

    async def card_by_token(self, token: str) -> Card | None:
        row = await self._one(f"SELECT {_CARD} FROM core.cards WHERE token = %s", (token,))
        return _card(row) if row else None

    async def update_card(self, c: Card) -> None:
        await self._conn.execute(
            "UPDATE core.cards SET state = %s, controls = %s, updated_at = %s WHERE id = %s",
            (c.state, _json(c.controls), c.updated_at, c.id),
        )

    # -- usage ----------------------------------------------------------------------------

    async def usage(self, *, card_id: str | None = None, cardholder_id: str | None = None, now: datetime,
                    since: datetime | None = None) -> Usage:
        column, value = ("card_id", card_id) if card_id is not None else ("cardholder_id", cardholder_id)
        return (await (await self._queue_usage(column, [value], now, since))())[value]

    async def _queue_usage(self, column: str, ids: list[str], now: datetime, since: datetime | None
                           ) -> Callable[[], Awaitable[dict[str, Usage]]]:
        """The usage statement (``_usage_sql``) for ``ids``, sent (or queued in a pipeline); its
        answer, every id's usage, once read."""
        sql, params, windows = _usage_sql(column, now, since)
        cur = await self._conn.execute(sql, (*params, ids)) if windows else None  # no window to sum

        async def usages() -> dict[str, Usage]:
            return _usages(ids, await cur.fetchall() if cur is not None else [], windows)

        return usages

    # -- authorizations and transactions -----------------------------------------------

    async def add_authorization(self, a: Authorization) -> None:
        await self._conn.execute(
            f"INSERT INTO core.card_authorizations ({_AUTH_INSERT}) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (a.id, a.card_id, a.cardholder_id, a.message_id, a.status, a.approved, a.response_code, a.decline_reason,
             a.amount, a.currency, a.approved_amount, a.card_amount, a.card_currency, a.fee, a.rate,
             _json(a.merchant), a.hold_transfer_id, a.held, a.cleared, a.counted, a.expires_at,
             _json(a.decision_webhook) if a.decision_webhook else None, a.created_at, a.updated_at),
        )

    async def get_authorization(self, authorization_id: str, *, lock: bool = False) -> Authorization | None:
        row = await self._one(
            f"SELECT {_AUTH} FROM core.card_authorizations WHERE id = %s{_lock(lock)}", (authorization_id,)
        )
        return _authorization(row) if row else None

    async def update_authorization(self, a: Authorization) -> None:
        await self._conn.execute(
            "UPDATE core.card_authorizations SET status = %s, held = %s, cleared = %s, counted = %s, "
            "card_amount = %s, fee = %s, approved_amount = %s, updated_at = %s WHERE id = %s",
            (a.status, a.held, a.cleared, a.counted, a.card_amount, a.fee, a.approved_amount, a.updated_at, a.id),
        )

    async def set_hold(self, authorization_id: str, hold_transfer_id: str) -> None:
        await self._conn.execute(
            "UPDATE core.card_authorizations SET hold_transfer_id = %s WHERE id = %s", (hold_transfer_id, authorization_id)
        )

    async def due_authorizations(self, now: datetime, limit: int) -> list[str]:
        cur = await self._conn.execute(
            "SELECT id FROM core.card_authorizations WHERE status = 'pending' AND expires_at <= %s "
            "ORDER BY expires_at LIMIT %s", (now, limit),
        )
        return [r[0] for r in await cur.fetchall()]

    async def authorizations(self, card_id: str, after: str | None, limit: int) -> list[Authorization]:
        cur = await self._conn.execute(
            f"SELECT {_AUTH} FROM core.card_authorizations WHERE card_id = %s AND id > %s ORDER BY id LIMIT %s",
            (card_id, after or "", limit),
        )
        return [_authorization(r) for r in await cur.fetchall()]

    async def add_transaction(self, t: CardTransaction) -> None:
        await self._conn.execute(
            f"INSERT INTO core.card_transactions ({_TX}) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (t.id, t.card_id, t.authorization_id, t.message_id, t.kind, t.amount, t.currency, t.card_amount,
             t.card_currency, t.fee, list(t.transfer_ids), t.shortfall, _json(t.merchant), t.created_at),
        )

    async def transactions(self, card_id: str, after: str | None, limit: int) -> list[CardTransaction]:
        cur = await self._conn.execute(
            f"SELECT {_TX} FROM core.card_transactions WHERE card_id = %s AND id > %s ORDER BY id LIMIT %s",
            (card_id, after or "", limit),
        )
        return [_transaction(r) for r in await cur.fetchall()]

    # -- idempotency ------------------------------------------------------------------------

    async def recall_message(self, message_id: str) -> tuple[str, dict[str, Any]] | None:
        row = await self._one(
            "SELECT request_hash, response FROM core.network_messages WHERE message_id = %s", (message_id,)
        )
        return (row[0], row[1]) if row else None

    async def remember_message(self, message_id: str, kind: str, request_hash: str, request: dict[str, Any],
                               response: dict[str, Any], at: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO core.network_messages (message_id, kind, request_hash, request, response, received_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (message_id, kind, request_hash, Jsonb(request), Jsonb(response), at),
        )

    # -- many at once (the batched authorization path, application/cards/authorize_batch.py) --------

    async def cards_by_tokens(self, tokens: list[str]) -> dict[str, Card]:
        cur = await self._conn.execute(f"SELECT {_CARD} FROM core.cards WHERE token = ANY(%s)", (sorted(set(tokens)),))
        return {card.token: card for card in map(_card, await cur.fetchall())}

    async def queue_recall_messages(self, message_ids: list[str]):
        cur = await self._conn.execute(
            "SELECT message_id, request_hash, response FROM core.network_messages WHERE message_id = ANY(%s)",
            (list(message_ids),))

        async def result() -> dict[str, tuple[str, dict[str, Any]]]:
            return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}

        return result

    async def queue_lock_for_authorizations(self, cardholder_ids: list[str], card_ids: list[str], now: datetime, *,
                                            card_since: datetime | None = None, holder_since: datetime | None = None,
                                            with_card_usage: bool = True):
        """Five statements, queued in the caller's pipeline and run in order: ``plan_cache_mode =
        force_custom_plan`` for the rest of the transaction (as the ledger's locking does: a generic
        plan for ``= ANY`` chosen while the tables were small would keep scanning them sequentially
        as they grow); lock the cardholders, then the cards, each in ascending id order; then the
        usage of every card (unless ``with_card_usage`` is false) and every holder."""
        holder_ids, card_ids = sorted(set(cardholder_ids)), sorted(set(card_ids))
        await self._conn.execute(CUSTOM_PLANS)
        holders = await self._conn.execute(
            f"SELECT {_HOLDER} FROM core.cardholders WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (holder_ids,))
        cards = await self._conn.execute(
            f"SELECT {_CARD} FROM core.cards WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (card_ids,))
        card_usage = await self._queue_usage("card_id", card_ids, now, card_since) if with_card_usage else None
        holder_usage = await self._queue_usage("cardholder_id", holder_ids, now, holder_since)

        async def result() -> tuple[dict[str, Cardholder], dict[str, Card], dict[str, Usage], dict[str, Usage]]:
            return ({h.id: h for h in map(_holder, await holders.fetchall())},
                    {c.id: c for c in map(_card, await cards.fetchall())},
                    await card_usage() if card_usage is not None else _usages(card_ids, [], WINDOWS),
                    await holder_usage())

        return result

    async def add_authorizations(self, authorizations: list[Authorization]) -> None:
        """One statement; the rows travel as one JSON document (msgspec encodes it in C, where
        psycopg would escape every element of two dozen text arrays in Python)."""
        if not authorizations:
            return
        await self._conn.execute(
            f"INSERT INTO core.card_authorizations ({_AUTH_INSERT}) SELECT {_AUTH_INSERT} "
            "FROM jsonb_populate_recordset(NULL::core.card_authorizations, %s::text::jsonb)",
            (_encode(authorizations).decode(),),
        )

    async def remember_messages(self, messages: list[tuple[str, str, str, dict[str, Any], dict[str, Any], datetime]]
                                ) -> None:
        """``(message_id, kind, request_hash, request, response, at)`` each, in one statement (one
        JSON document, as in ``add_authorizations``)."""
        if not messages:
            return
        await self._conn.execute(
            "INSERT INTO core.network_messages (message_id, kind, request_hash, request, response, received_at) "
            "SELECT message_id, kind, request_hash, request, response, received_at FROM jsonb_to_recordset(%s::text::jsonb) "
            "AS m(message_id text, kind text, request_hash text, request jsonb, response jsonb, received_at timestamptz)",
            (_encode([{"message_id": m[0], "kind": m[1], "request_hash": m[2], "request": m[3], "response": m[4],
                       "received_at": m[5]} for m in messages]).decode(),),
        )
