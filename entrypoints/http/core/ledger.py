"""Ledger routes (roles ``app`` and ``ops``): accounts, balances, entries, transfer batches, reversals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from msgspec import Meta

from application.ledger.open_account import OpenAccount
from application.ledger.post_transfers import PostTransfers
from application.ledger.read_ledger import ReadLedger
from domain.ledger import (
    Account,
    AccountFlags,
    Balances,
    CreateTransfer,
    Entry,
    Hold,
    LedgerItem,
    NewAccount,
    ResolvePending,
    ReverseTransfer,
    Transfer,
)
from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound
from entrypoints.http.security import roles

Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic code")]
Amount = Annotated[int, Meta(le=2**62, description="integer minor units of the currency")]
Metadata = Annotated[dict[str, Annotated[str, Meta(max_length=512)]], Meta(max_length=32)]


class FlagsIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False


class AccountIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    currency: Currency
    flags: FlagsIn = FlagsIn()
    overdraft_limit: Annotated[int, Meta(ge=0, le=2**62)] | None = None
    metadata: Metadata = {}


class AccountOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    currency: str
    flags: AccountFlags
    overdraft_limit: int | None
    metadata: dict[str, str]
    created_at: datetime
    balances: Balances

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(id=a.id, name=a.name, currency=a.currency, flags=a.flags, overdraft_limit=a.overdraft_limit,
                   metadata=a.metadata, created_at=a.created_at, balances=a.balances)


class BalanceOut(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    currency: str
    at: datetime
    balances: Balances


class EntryOut(msgspec.Struct, frozen=True, kw_only=True):
    account_seq: int
    transfer_id: str
    event: str
    timestamp: datetime
    change: dict[str, int]
    balances: Balances

    @classmethod
    def of(cls, e: Entry) -> EntryOut:
        return cls(
            account_seq=e.account_seq, transfer_id=e.transfer_id, event=e.event, timestamp=e.timestamp,
            change={"debits_posted": e.d_debits_posted, "credits_posted": e.d_credits_posted,
                    "debits_pending": e.d_debits_pending, "credits_pending": e.d_credits_pending},
            balances=e.balances,
        )


class EntryList(msgspec.Struct, frozen=True):
    data: list[EntryOut]
    next_cursor: str | None


class TransferItemIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A transfer, or (with ``pending_id`` and ``action``) the resolution of a pending one."""

    id: Id
    debit_account_id: Id | None = None
    credit_account_id: Id | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    code: Annotated[str, Meta(max_length=64)] = ""
    metadata: Metadata | None = None
    pending: bool = False
    timeout_seconds: Annotated[int, Meta(ge=0, le=10 * 365 * 86400)] | None = None
    linked: bool = False
    pending_id: Id | None = None
    action: Literal["post", "void"] | None = None


class TransferBatchIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    transfers: list[TransferItemIn]


class ItemResultOut(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    status: Literal["created", "exists", "failed"]
    code: str | None = None


class TransferBatchOut(msgspec.Struct, frozen=True):
    results: list[ItemResultOut]


class TransferOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    code: str
    metadata: dict[str, str] | None
    kind: str
    pending_id: str | None
    reverses_id: str | None
    timeout_seconds: int | None
    expires_at: datetime | None
    timestamp: datetime
    state: str | None = None

    @classmethod
    def of(cls, t: Transfer, hold: Hold | None = None) -> TransferOut:
        return cls(
            id=t.id, debit_account_id=t.debit_account_id, credit_account_id=t.credit_account_id, amount=t.amount,
            currency=t.currency, code=t.code, metadata=t.metadata, kind=t.kind, pending_id=t.pending_id,
            reverses_id=t.reverses_id, timeout_seconds=t.timeout_seconds, expires_at=t.expires_at,
            timestamp=t.timestamp, state=hold.state if hold else None,
        )


class ReversalIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Id
    metadata: Metadata | None = None


def to_item(index: int, item: TransferItemIn) -> LedgerItem:
    if item.pending_id is not None or item.action is not None:
        if item.pending_id is None or item.action is None:
            raise _field(index, "pending_id" if item.pending_id is None else "action", "a resolution needs pending_id and action")
        for name in ("debit_account_id", "credit_account_id", "currency"):
            if getattr(item, name) is not None:
                raise _field(index, name, "not allowed in a resolution (it comes from the pending transfer)")
        return ResolvePending(id=item.id, pending_id=item.pending_id, action=item.action, amount=item.amount, linked=item.linked)
    for name in ("debit_account_id", "credit_account_id", "amount", "currency"):
        if getattr(item, name) is None:
            raise _field(index, name, "required for a transfer")
    return CreateTransfer(
        id=item.id, debit_account_id=item.debit_account_id, credit_account_id=item.credit_account_id,  # type: ignore[arg-type]
        amount=item.amount, currency=item.currency, code=item.code, metadata=item.metadata,  # type: ignore[arg-type]
        pending=item.pending, timeout_seconds=item.timeout_seconds, linked=item.linked,
    )


def _field(index: int, name: str, message: str) -> InvalidInput:
    return InvalidInput(f"transfers[{index}].{name}: {message}", code="validation_error")


# Single-item failures surfaced as problems (reversals): how each engine code maps to a status.
_REVERSAL_STATUS = {"transfer_not_found": NotFound, "already_reversed": Conflict}


class LedgerController(Controller):
    path = "/v1/ledger"
    tags = ["ledger"]
    opt = roles("app", "ops")

    @post("/accounts", summary="Open an account (idempotent on id)")
    async def open_account(self, state: State, data: JSONBody[AccountIn]) -> Response[AccountOut]:
        use_case: OpenAccount = state.ledger_open_account
        opened = await use_case(
            NewAccount(
                id=data.id or "", currency=data.currency, name=data.name,
                flags=AccountFlags(debits_must_not_exceed_credits=data.flags.debits_must_not_exceed_credits,
                                   credits_must_not_exceed_debits=data.flags.credits_must_not_exceed_debits),
                overdraft_limit=data.overdraft_limit, metadata=data.metadata,
            )
        )
        return Response(AccountOut.of(opened.account), status_code=201 if opened.created else 200)

    @get("/accounts/{account_id:str}", summary="An account and its balances")
    async def get_account(self, state: State, account_id: FromPath[str]) -> AccountOut:
        reader: ReadLedger = state.ledger_read
        return AccountOut.of(await reader.account(account_id))

    @get("/accounts/{account_id:str}/balance", summary="Balances as of an instant (default: now)")
    async def balance(self, state: State, account_id: FromPath[str], at: FromQuery[datetime | None] = None) -> BalanceOut:
        reader: ReadLedger = state.ledger_read
        if at is None:
            account = await reader.account(account_id)
            return BalanceOut(account_id=account.id, currency=account.currency, at=state.clock.now(), balances=account.balances)
        if at.tzinfo is None:
            raise InvalidInput("at: give an RFC 3339 time with an offset, e.g. 2026-01-31T12:00:00Z", code="validation_error")
        account, balances = await reader.balances_at(account_id, at)
        return BalanceOut(account_id=account.id, currency=account.currency, at=at, balances=balances)

    @get("/accounts/{account_id:str}/entries", summary="Postings with running balances, oldest first")
    async def entries(
        self,
        state: State,
        account_id: FromPath[str],
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Parameter(pattern=r"^\d{1,18}$")] = None,
    ) -> EntryList:
        reader: ReadLedger = state.ledger_read
        page = await reader.entries(account_id, int(cursor or 0), limit)
        return EntryList(
            data=[EntryOut.of(e) for e in page.entries],
            next_cursor=None if page.next_after is None else str(page.next_after),
        )

    @post("/transfers", status_code=200, summary="Post 1 to 8,190 transfers or resolutions, in order")
    async def post_transfers(self, state: State, data: JSONBody[TransferBatchIn]) -> TransferBatchOut:
        use_case: PostTransfers = state.ledger_post_transfers
        items = [to_item(i, item) for i, item in enumerate(data.transfers)]
        results = await use_case(items)
        return TransferBatchOut(results=[ItemResultOut(id=r.id, status=r.status, code=r.code) for r in results])

    @get("/transfers/{transfer_id:str}", summary="A transfer (with its hold's state when pending)")
    async def get_transfer(self, state: State, transfer_id: FromPath[str]) -> TransferOut:
        reader: ReadLedger = state.ledger_read
        transfer, hold = await reader.transfer(transfer_id)
        return TransferOut.of(transfer, hold)

    @post("/transfers/{transfer_id:str}/reversals", summary="Reverse a posted transfer (at most once)")
    async def reverse(self, state: State, transfer_id: FromPath[str], data: JSONBody[ReversalIn]) -> Response[TransferOut]:
        use_case: PostTransfers = state.ledger_post_transfers
        reader: ReadLedger = state.ledger_read
        [result] = await use_case([ReverseTransfer(id=data.id, original_id=transfer_id, metadata=data.metadata)])
        if result.status == "failed":
            code = result.code or "reversal_failed"
            error = _REVERSAL_STATUS.get(code) or (Conflict if code.startswith("exists_with_") else DomainError)
            raise error(f"cannot reverse {transfer_id}: {code.replace('_', ' ')}", code=code)
        reversal, _ = await reader.transfer(data.id)
        return Response(TransferOut.of(reversal), status_code=201 if result.status == "created" else 200)
