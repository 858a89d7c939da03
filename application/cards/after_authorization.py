"""What follows an authorization: increments, reversals, clearings (and force posts), refunds, expiry.

Every message is idempotent by ``message_id`` (recorded raw with its answer) and runs in one
transaction with the authorization locked. An authorization has at most one live ledger hold;
changing its amount voids it and places a new one in a linked chain, so the chain (and the
message) fails as a whole when the balance cannot cover the new amount. An increment is checked as
an authorization is, up to the amount: the card's state and expiry and the cardholder's KYC and
sanctions status as they are now (``check_standing``), then the amount limits, then the balance.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from application.cards.card_fx import CardFx
from application.cards.common import publish, request_hash, require, same_request, usages
from application.ports.clock import Clock, IdGenerator
from application.ports.compliance import SubjectStatuses
from application.ports.unit_of_work import Transactions, UnitOfWork
from domain.cards.authorization import Merchant, check_standing
from domain.cards.controls import headroom
from domain.cards.model import Card, Cardholder, Program
from domain.cards.records import Authorization, CardTransaction
from domain.events import AUTHORIZATION_EXPIRED, AUTHORIZATION_REVERSED, TRANSACTION_CLEARED, TRANSACTION_REFUNDED
from domain.fx import Rate
from domain.ledger import CreateTransfer, LedgerItem, ResolvePending, execute_batch
from domain.shared.errors import Conflict, DomainError
from domain.shared.money import Money


class Increment(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    amount: int


class Reversal(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    amount: int | None = None  # merchant currency; None: all that is still held


class Clearing(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    card_token: str
    amount: int
    currency: str
    merchant: Merchant
    authorization_id: str | None = None


class Refund(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str
    card_token: str
    amount: int
    currency: str
    merchant: Merchant


class _Network:
    def __init__(self, transactions: Transactions, fx: CardFx, clock: Clock, ids: IdGenerator) -> None:
        self._transactions = transactions
        self._fx = fx
        self._clock = clock
        self._ids = ids

    async def _once(self, message_id: str, kind: str, raw: dict, work) -> dict[str, Any]:
        digest = request_hash(raw)

        async def run(uow: UnitOfWork) -> dict[str, Any]:
            earlier = await uow.cards.recall_message(message_id)
            if earlier is not None:
                same_request(earlier[0], raw, f"message_id {message_id}")
                return earlier[1]
            now = self._clock.now()
            response = await work(uow, now)
            await uow.cards.remember_message(message_id, kind, digest, raw, response, now)
            return response

        return await self._transactions.run(run)

    async def _priced(self, auth: Authorization | None, amount: int, currency: str, card: Card, program: Program,
                      now: datetime, markup: bool = True) -> tuple[int, int]:
        """(card amount with fee, fee) for ``amount`` of ``currency``. Same currency costs nothing; in the
        authorization's currency it is priced at the authorization's rate, so its legs reconcile;
        otherwise at the current rate."""
        if currency == card.currency:
            return amount, 0
        money, markup_bps = Money(amount=amount, currency=currency), program.fx_markup_bps if markup else 0
        if auth is not None and auth.rate is not None and auth.currency == currency:
            rate = Rate(base=currency, quote=card.currency, value=Decimal(auth.rate), source="authorization",
                        as_of=auth.created_at, fetched_at=auth.created_at)
            conversion = self._fx.convert_at(money, rate, markup_bps)
        else:
            conversion = await self._fx.convert(money, card.currency, markup_bps, now)
        return conversion.total.amount, conversion.fee.amount

    async def _load(self, uow: UnitOfWork, auth_id: str, *, with_holder: bool = False,
                    ) -> tuple[Authorization, Card, Program, Cardholder | None]:
        auth = require(await uow.cards.get_authorization(auth_id, lock=True), "authorization", auth_id,
                       "authorization_not_found")
        # Locked in the order an authorization locks them (the cardholder, then the card): this
        # serializes limit checks per card, and with the cardholder over all of the holder's cards.
        holder = await uow.cards.get_cardholder(auth.cardholder_id, lock=True) if with_holder else None
        card = await uow.cards.get_card(auth.card_id, lock=True)
        return auth, card, await uow.cards.get_program(card.program_id), holder


def _rehold(auth: Authorization, card: Card, program: Program, amount: int, message_id: str,
            now: datetime) -> tuple[list[LedgerItem], str | None]:
    """Void the live hold and, for a positive ``amount``, place a new one until the same expiry.

    The ledger takes whole seconds: rounding up keeps the new hold until at least the
    authorization's expiry (never released while the authorization is live, at most a second after)."""
    items: list[LedgerItem] = [ResolvePending(id=f"void:{auth.hold_transfer_id}:{message_id}",
                                              pending_id=auth.hold_transfer_id, action="void", linked=amount > 0)]
    if amount <= 0:
        return items, None
    new_id = f"hold:{auth.id}:{message_id}"
    remaining = max(1, math.ceil((auth.expires_at - now).total_seconds()))
    items.append(CreateTransfer(id=new_id, debit_account_id=card.account_id,
                                credit_account_id=program.settlement_for(card.id), amount=amount, currency=card.currency,
                                code="card_authorization", pending=True, timeout_seconds=remaining,
                                metadata={"authorization_id": auth.id}))
    return items, new_id


async def _post(uow: UnitOfWork, items: list[LedgerItem], now: datetime) -> bool:
    snapshot = await uow.ledger.lock_snapshot(items, now)
    outcome = execute_batch(items, snapshot, now)
    if any(r.status == "failed" for r in outcome.results):
        return False
    await uow.ledger.save(outcome)
    return True


def _live(auth: Authorization, now: datetime) -> bool:
    return auth.status == "pending" and auth.expires_at is not None and auth.expires_at > now


def _closed_reason(auth: Authorization) -> str:
    """Why an authorization no longer takes increments or reversals."""
    return f"authorization_{'expired' if auth.status == 'pending' else auth.status}"


def _answer(auth: Authorization, approved: bool, code: str, reason: str | None = None) -> dict[str, Any]:
    return {"authorization_id": auth.id, "approved": approved, "response_code": code,
            "approved_amount": auth.approved_amount, "card_amount": auth.held, "card_currency": auth.card_currency,
            "status": auth.status, "decline_reason": reason}


class IncrementAuthorization(_Network):
    def __init__(self, transactions: Transactions, fx: CardFx, statuses: SubjectStatuses, clock: Clock,
                 ids: IdGenerator) -> None:
        super().__init__(transactions, fx, clock, ids)
        self._statuses = statuses

    async def __call__(self, auth_id: str, msg: Increment) -> dict[str, Any]:
        # The sanctions status is read before the transaction, as an authorization reads it: no card
        # lock is held, nor a second connection taken, while compliance answers. (No authorization:
        # the work below answers authorization_not_found.)
        found = await self._transactions.run(lambda uow: uow.cards.get_authorization(auth_id))
        sanctions = await self._statuses.subject_status(found.cardholder_id) if found is not None else "review"

        async def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            auth, card, program, holder = await self._load(uow, auth_id, with_holder=True)
            if not _live(auth, now):
                return _answer(auth, False, "12", _closed_reason(auth))
            # The card and its holder as they are now: paused, closed or expired since, KYC or sanctions changed.
            standing = check_standing(card, holder, sanctions, now)
            if standing is not None:
                return _answer(auth, False, standing.response_code, standing.decline_reason)
            extra, extra_fee = await self._priced(auth, msg.amount, auth.currency, card, program, now)
            # The card's limits (per authorization: this one grown by the extra) and the holder's tier.
            card_usage, holder_usage = await usages(uow, card, holder, program, now)
            rooms = (headroom(card.controls.merged_over(program.controls), card_usage, this_authorization=auth.counted),
                     headroom(holder.tier_controls(card.currency), holder_usage))
            if any(room is not None and extra > room for room in rooms):
                return _answer(auth, False, "61", "spending_limit_exceeded")
            items, new_hold = _rehold(auth, card, program, auth.held + extra, msg.message_id, now)
            if not await _post(uow, items, now):
                return _answer(auth, False, "51", "insufficient_funds")
            updated = msgspec.structs.replace(
                auth, held=auth.held + extra, counted=auth.counted + extra, card_amount=auth.card_amount + extra,
                fee=auth.fee + extra_fee, approved_amount=auth.approved_amount + msg.amount, hold_transfer_id=new_hold,
                updated_at=now)
            await _update(uow, updated, new_hold)
            return _answer(updated, True, "00")

        return await self._once(msg.message_id, "increment", {"authorization_id": auth_id, **msgspec.to_builtins(msg)},
                                work)


class ReverseAuthorization(_Network):
    async def __call__(self, auth_id: str, msg: Reversal) -> dict[str, Any]:
        async def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            auth, card, program, _ = await self._load(uow, auth_id)
            if not _live(auth, now):
                return _answer(auth, False, "12", _closed_reason(auth))
            if msg.amount is None or msg.amount >= auth.approved_amount:
                release, merchant_left = auth.held, 0
            else:
                release, _ = await self._priced(auth, msg.amount, auth.currency, card, program, now)
                release, merchant_left = min(release, auth.held), auth.approved_amount - msg.amount
            left = auth.held - release
            items, new_hold = _rehold(auth, card, program, left, msg.message_id, now)
            if not await _post(uow, items, now):
                raise Conflict("the ledger refused the reversal", code="reversal_failed")
            updated = msgspec.structs.replace(
                auth, held=left, counted=max(0, auth.counted - release), approved_amount=merchant_left,
                status="pending" if left > 0 else "reversed", hold_transfer_id=new_hold or auth.hold_transfer_id,
                updated_at=now)
            await _update(uow, updated, new_hold)
            await publish(uow, self._ids, AUTHORIZATION_REVERSED, now, updated)
            return _answer(updated, True, "00")

        return await self._once(msg.message_id, "reversal", {"authorization_id": auth_id, **msgspec.to_builtins(msg)},
                                work)


async def _update(uow: UnitOfWork, auth: Authorization, new_hold: str | None) -> None:
    await uow.cards.update_authorization(auth)
    if new_hold is not None:
        await uow.cards.set_hold(auth.id, new_hold)


class ClearTransaction(_Network):
    """A clearing posts what the merchant settles. Against a live hold: less than held releases the
    rest, more posts the extra if the balance allows; otherwise (no authorization, an expired or
    already cleared one: a force post) it posts directly. What the balance cannot cover is kept as a
    ``shortfall`` for ops, never as a negative balance."""

    async def __call__(self, msg: Clearing) -> dict[str, Any]:
        async def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            card = require(await uow.cards.card_by_token(msg.card_token), "card", "with this token", "card_not_found")
            program = await uow.cards.get_program(card.program_id)
            auth = None
            if msg.authorization_id is not None:
                auth = require(await uow.cards.get_authorization(msg.authorization_id, lock=True), "authorization",
                               msg.authorization_id, "authorization_not_found")
                if auth.card_id != card.id:
                    raise Conflict("the authorization belongs to another card", code="authorization_card_mismatch")
            amount, fee = await self._priced(auth, msg.amount, msg.currency, card, program, now)
            tx_id = f"txn_{self._ids.new_id()}"

            def settle(suffix: str, value: int) -> CreateTransfer:
                return CreateTransfer(id=f"{tx_id}:{suffix}", debit_account_id=card.account_id,
                                      credit_account_id=program.settlement_for(card.id), amount=value,
                                      currency=card.currency, code="card_clearing",
                                      metadata={"transaction_id": tx_id}, linked=fee > 0)

            fee_leg = [CreateTransfer(id=f"{tx_id}:fx_fee", debit_account_id=program.settlement_for(card.id),
                                      credit_account_id=program.fx_fees_for(card.id), amount=fee, currency=card.currency,
                                      code="fx_fee", metadata={"transaction_id": tx_id})] if fee > 0 else []
            shortfall, kind = 0, "clearing"
            if auth is not None and _live(auth, now) and auth.approved:
                posted = min(amount, auth.held)
                items: list[LedgerItem] = [ResolvePending(id=f"{tx_id}:post", pending_id=auth.hold_transfer_id,
                                                          action="post", amount=posted, linked=True)]
                extra = [settle("extra", amount - posted)] if amount > posted else []
                if not await _post(uow, _unlink([*items, *extra, *fee_leg]), now):
                    shortfall, extra = amount - posted, []  # the extra is beyond the balance: post the hold alone
                    if not await _post(uow, _unlink([*items, *fee_leg]), now):
                        raise DomainError("the ledger refused to post the hold", code="clearing_failed")
                transfer_ids = [i.id for i in (*items, *extra, *fee_leg)]
                auth = msgspec.structs.replace(auth, status="closed", held=0, cleared=auth.cleared + amount,
                                               counted=auth.cleared + amount, updated_at=now)
                await uow.cards.update_authorization(auth)
            else:
                # No hold to post from. Without an authorization, or after it expired, this is a force post.
                kind = "force_post" if auth is None or auth.status in ("pending", "expired") else "clearing"
                items = [settle("post", amount), *fee_leg]
                if await _post(uow, _unlink(items), now):
                    transfer_ids = [i.id for i in items]
                else:
                    transfer_ids, shortfall = [], amount
                if auth is not None:
                    if auth.status == "pending":  # expired before the expiry task marked it: mark it as that would
                        auth = msgspec.structs.replace(auth, status="expired", held=0, counted=auth.cleared,
                                                       updated_at=now)
                        await publish(uow, self._ids, AUTHORIZATION_EXPIRED, now, auth)
                    auth = msgspec.structs.replace(auth, cleared=auth.cleared + amount, held=0,
                                                   counted=auth.cleared + amount, updated_at=now)
                    await uow.cards.update_authorization(auth)
            tx = CardTransaction(id=tx_id, card_id=card.id, authorization_id=auth.id if auth else None,
                                 message_id=msg.message_id, kind=kind, amount=msg.amount, currency=msg.currency,
                                 card_amount=amount, card_currency=card.currency, fee=fee,
                                 transfer_ids=tuple(transfer_ids), shortfall=shortfall, merchant=msg.merchant,
                                 created_at=now)
            await uow.cards.add_transaction(tx)
            await publish(uow, self._ids, TRANSACTION_CLEARED, now, tx)
            return _transaction_view(tx)

        return await self._once(msg.message_id, "clearing", msgspec.to_builtins(msg), work)


def _unlink(items: list[LedgerItem]) -> list[LedgerItem]:
    """The chain's last item must not be linked (it closes the chain)."""
    if items and items[-1].linked:
        items = [*items[:-1], msgspec.structs.replace(items[-1], linked=False)]
    return items


def _transaction_view(tx: CardTransaction) -> dict[str, Any]:
    return {"id": tx.id, "kind": tx.kind, "authorization_id": tx.authorization_id, "amount": tx.amount,
            "currency": tx.currency, "card_amount": tx.card_amount, "card_currency": tx.card_currency,
            "fee": tx.fee, "shortfall": tx.shortfall, "transfer_ids": list(tx.transfer_ids)}


class RefundTransaction(_Network):
    """Credit a merchant's refund back to the card (converted at the current rate, no markup)."""

    async def __call__(self, msg: Refund) -> dict[str, Any]:
        async def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
            card = require(await uow.cards.card_by_token(msg.card_token), "card", "with this token", "card_not_found")
            program = await uow.cards.get_program(card.program_id)
            amount, _ = await self._priced(None, msg.amount, msg.currency, card, program, now, markup=False)
            tx_id = f"txn_{self._ids.new_id()}"
            item = CreateTransfer(id=f"{tx_id}:refund", debit_account_id=program.settlement_for(card.id),
                                  credit_account_id=card.account_id, amount=amount, currency=card.currency,
                                  code="card_refund", metadata={"transaction_id": tx_id})
            if not await _post(uow, [item], now):
                raise DomainError("the ledger refused the refund", code="refund_failed")
            tx = CardTransaction(id=tx_id, card_id=card.id, authorization_id=None, message_id=msg.message_id,
                                 kind="refund", amount=msg.amount, currency=msg.currency, card_amount=amount,
                                 card_currency=card.currency, transfer_ids=(item.id,), merchant=msg.merchant,
                                 created_at=now)
            await uow.cards.add_transaction(tx)
            await publish(uow, self._ids, TRANSACTION_REFUNDED, now, tx)
            return _transaction_view(tx)

        return await self._once(msg.message_id, "refund", msgspec.to_builtins(msg), work)


class ExpireAuthorizations:
    """Mark authorizations whose hold expired; the ledger releases the hold itself at expiry."""

    def __init__(self, transactions: Transactions, clock: Clock, ids: IdGenerator, batch: int = 500) -> None:
        self._transactions = transactions
        self._clock = clock
        self._ids = ids
        self._batch = batch

    async def __call__(self) -> int:
        async def work(uow: UnitOfWork) -> int:
            now = self._clock.now()
            expired = 0
            for auth_id in await uow.cards.due_authorizations(now, self._batch):
                auth = await uow.cards.get_authorization(auth_id, lock=True)
                if auth is None or auth.status != "pending":
                    continue
                expired_auth = msgspec.structs.replace(auth, status="expired", held=0, counted=auth.cleared,
                                                       updated_at=now)
                await uow.cards.update_authorization(expired_auth)
                await publish(uow, self._ids, AUTHORIZATION_EXPIRED, now, expired_auth)
                expired += 1
            return expired

        return await self._transactions.run(work)
