"""Stateful property test: random ledger operations against a deliberately simple reference model.

The engine runs behind a small in-memory store that loads the minimal snapshot its contract
asks for. The reference model is written independently and plainly: balances are a fold over
a list of postings, linked chains are undone by restoring a copy, and holds expire
eagerly. After every step the two must agree, and the books must balance.

A store only expires the due holds of the accounts a batch touches, so other accounts may
still show a due hold as pending; comparisons with the reference therefore look through a
(not persisted) sweep of all due holds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.ledger import (
    Account,
    AccountFlags,
    Balances,
    BatchOutcome,
    CreateTransfer,
    Hold,
    LedgerItem,
    LedgerSnapshot,
    NewAccount,
    ResolvePending,
    ReverseTransfer,
    Transfer,
    execute_batch,
    expire_due_holds,
    open_account,
    referenced_ids,
)
from domain.ledger.model import Entry

START = datetime(2030, 1, 1, tzinfo=UTC)
CURRENCIES = ["USD", "EUR", "JPY"]
Result = tuple[str, str | None]

AMOUNTS = st.sampled_from([*range(1, 41), 0, -1])
CODES = st.sampled_from(["", "purchase"])
METADATA = st.sampled_from([None, {"k": "v"}])
PENDING_TIMEOUTS = st.sampled_from([None, None, None, 5, 10, 10, 30, 60, 0, -1])
SINGLE_TIMEOUTS = st.sampled_from([None] * 19 + [5])
MOSTLY = st.sampled_from([True] * 9 + [False])

# --- The reference model -------------------------------------------------------------------


@dataclass
class RefAccount:
    currency: str
    debit_limited: bool
    credit_limited: bool
    overdraft: int


@dataclass
class RefTransfer:
    kind: str
    debit: str
    credit: str
    amount: int
    currency: str
    code: str = ""
    metadata: dict[str, str] | None = None
    timeout: int | None = None
    expires_at: datetime | None = None
    pending_id: str | None = None
    reverses_id: str | None = None


@dataclass
class Reference:
    """The ledger as a list of postings: ``(account, d_debits_posted, d_credits_posted, d_debits_pending,
    d_credits_pending)``; an account's balances are their fold."""

    accounts: dict[str, RefAccount] = field(default_factory=dict)
    transfers: dict[str, RefTransfer] = field(default_factory=dict)
    hold_states: dict[str, str] = field(default_factory=dict)
    reversed: set[str] = field(default_factory=set)
    postings: list[tuple[str, int, int, int, int]] = field(default_factory=list)

    def balances(self, account_id: str) -> Balances:
        dp = cp = dq = cq = 0
        for account, d_dp, d_cp, d_dq, d_cq in self.postings:
            if account == account_id:
                dp, cp, dq, cq = dp + d_dp, cp + d_cp, dq + d_dq, cq + d_cq
        return Balances(debits_posted=dp, credits_posted=cp, debits_pending=dq, credits_pending=cq)

    def move(self, debit: str, credit: str, posted: int, pending: int) -> None:
        self.postings.append((debit, posted, 0, pending, 0))
        self.postings.append((credit, 0, posted, 0, pending))

    def limit_breach(self, debit: str, credit: str, amount: int) -> str | None:
        d, c = self.balances(debit), self.balances(credit)
        rd, rc = self.accounts[debit], self.accounts[credit]
        if rd.debit_limited and d.debits_posted + d.debits_pending + amount > d.credits_posted + rd.overdraft:
            return "insufficient_funds"
        if rc.credit_limited and c.credits_posted + c.credits_pending + amount > c.debits_posted + rc.overdraft:
            return "exceeds_debits"
        return None

    def expire(self, now: datetime) -> None:
        for pending_id, state in self.hold_states.items():
            pending = self.transfers[pending_id]
            if state == "pending" and pending.expires_at is not None and pending.expires_at <= now:
                self.hold_states[pending_id] = "expired"
                self.move(pending.debit, pending.credit, 0, -pending.amount)

    def run(self, items: Sequence[LedgerItem], now: datetime) -> list[Result]:
        self.expire(now)
        results: list[Result] = []
        chain: list[LedgerItem] = []
        for index, item in enumerate(items):
            chain.append(item)
            if item.linked and index < len(items) - 1:
                continue
            if len(chain) == 1 and not item.linked:
                results.append(self.apply(item, now))
            else:
                results.extend(self.run_chain(chain, now, open_=item.linked))
            chain = []
        return results

    def run_chain(self, chain: list[LedgerItem], now: datetime, *, open_: bool) -> list[Result]:
        saved = (dict(self.transfers), dict(self.hold_states), set(self.reversed), list(self.postings))
        results: list[Result] = []
        failed = False
        for index, item in enumerate(chain):
            if open_ and index == len(chain) - 1:
                result: Result = ("failed", "linked_event_chain_open")
            elif failed:
                result = ("failed", "linked_event_failed")
            else:
                result = self.apply(item, now)
            failed = failed or result[0] == "failed"
            results.append(result)
        if not failed:
            return results
        self.transfers, self.hold_states, self.reversed, self.postings = saved
        return [result if result[0] == "failed" else ("failed", "linked_event_failed") for result in results]

    def apply(self, item: LedgerItem, now: datetime) -> Result:
        if item.id in self.transfers:
            code = self.difference(item, self.transfers[item.id])
            return ("exists", None) if code is None else ("failed", code)
        if isinstance(item, CreateTransfer):
            code = self.create(item, now)
        elif isinstance(item, ResolvePending):
            code = self.resolve(item)
        else:
            code = self.reverse(item)
        return ("created", None) if code is None else ("failed", code)

    def create(self, t: CreateTransfer, now: datetime) -> str | None:
        if t.amount <= 0:
            return "amount_must_be_positive"
        if t.debit_account_id == t.credit_account_id:
            return "accounts_must_be_different"
        if t.timeout_seconds is not None and not t.pending:
            return "timeout_requires_pending"
        if t.timeout_seconds is not None and t.timeout_seconds <= 0:
            return "timeout_must_be_positive"
        if t.timeout_seconds is not None and t.timeout_seconds >= 2**32:
            return "timeout_too_large"
        if t.debit_account_id not in self.accounts:
            return "debit_account_not_found"
        if t.credit_account_id not in self.accounts:
            return "credit_account_not_found"
        if {self.accounts[t.debit_account_id].currency, self.accounts[t.credit_account_id].currency} != {t.currency}:
            return "currency_mismatch"
        if breach := self.limit_breach(t.debit_account_id, t.credit_account_id, t.amount):
            return breach
        expires_at = None if t.timeout_seconds is None else now + timedelta(seconds=t.timeout_seconds)
        self.transfers[t.id] = RefTransfer(
            "pending" if t.pending else "single",
            t.debit_account_id,
            t.credit_account_id,
            t.amount,
            t.currency,
            t.code,
            t.metadata,
            t.timeout_seconds,
            expires_at,
        )
        if t.pending:
            self.hold_states[t.id] = "pending"
            self.move(t.debit_account_id, t.credit_account_id, 0, t.amount)
        else:
            self.move(t.debit_account_id, t.credit_account_id, t.amount, 0)
        return None

    def resolve(self, r: ResolvePending) -> str | None:
        if r.amount is not None and r.amount <= 0:
            return "amount_must_be_positive"
        pending = self.transfers.get(r.pending_id)
        if pending is None:
            return "pending_transfer_not_found"
        if pending.kind != "pending":
            return "pending_transfer_not_pending"
        state = self.hold_states[r.pending_id]
        if state != "pending":
            return {"posted": "pending_transfer_already_posted", "voided": "pending_transfer_already_voided"}.get(
                state, "pending_transfer_expired"
            )
        if r.action == "post":
            posted = pending.amount if r.amount is None else r.amount
            if posted > pending.amount:
                return "exceeds_pending_amount"
            record_amount = posted
        else:
            if r.amount is not None and r.amount != pending.amount:
                return "void_amount_must_match"
            posted = 0
            record_amount = pending.amount
        kind = "post_pending" if r.action == "post" else "void_pending"
        self.transfers[r.id] = RefTransfer(
            kind, pending.debit, pending.credit, record_amount, pending.currency, pending.code, pending_id=r.pending_id
        )
        self.hold_states[r.pending_id] = "posted" if r.action == "post" else "voided"
        self.move(pending.debit, pending.credit, posted, -pending.amount)
        return None

    def reverse(self, r: ReverseTransfer) -> str | None:
        original = self.transfers.get(r.original_id)
        if original is None:
            return "transfer_not_found"
        if original.kind == "pending":
            return "cannot_reverse_pending"
        if original.kind == "void_pending":
            return "cannot_reverse_void"
        if original.kind == "reversal":
            return "cannot_reverse_reversal"
        if r.original_id in self.reversed:
            return "already_reversed"
        if breach := self.limit_breach(original.credit, original.debit, original.amount):
            return breach
        self.transfers[r.id] = RefTransfer(
            "reversal",
            original.credit,
            original.debit,
            original.amount,
            original.currency,
            original.code,
            r.metadata,
            reverses_id=r.original_id,
        )
        self.reversed.add(r.original_id)
        self.move(original.credit, original.debit, original.amount, 0)
        return None

    def difference(self, item: LedgerItem, existing: RefTransfer) -> str | None:
        if isinstance(item, CreateTransfer):
            if existing.kind not in ("single", "pending"):
                return "exists_with_different_kind"
            pairs = [
                ("debit_account_id", item.debit_account_id, existing.debit),
                ("credit_account_id", item.credit_account_id, existing.credit),
                ("amount", item.amount, existing.amount),
                ("currency", item.currency, existing.currency),
                ("code", item.code, existing.code),
                ("metadata", item.metadata, existing.metadata),
                ("pending", item.pending, existing.kind == "pending"),
                ("timeout_seconds", item.timeout_seconds, existing.timeout),
            ]
        elif isinstance(item, ResolvePending):
            if existing.kind not in ("post_pending", "void_pending"):
                return "exists_with_different_kind"
            full = self.transfers[item.pending_id].amount if item.pending_id in self.transfers else existing.amount
            pairs = [
                ("pending_id", item.pending_id, existing.pending_id),
                ("action", item.action, "post" if existing.kind == "post_pending" else "void"),
                ("amount", full if item.amount is None else item.amount, existing.amount),
            ]
        else:
            if existing.kind != "reversal":
                return "exists_with_different_kind"
            pairs = [
                ("original_id", item.original_id, existing.reverses_id),
                ("metadata", item.metadata, existing.metadata),
            ]
        for name, given, recorded in pairs:
            if given != recorded:
                return f"exists_with_different_{name}"
        return None


# --- A store that loads exactly what the snapshot contract asks for ------------------------


class Store:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.transfers: dict[str, Transfer] = {}
        self.holds: dict[str, Hold] = {}
        self.reversals: dict[str, str] = {}
        self.entries: list[Entry] = []

    def snapshot_for(self, items: Sequence[LedgerItem], now: datetime) -> LedgerSnapshot:
        account_ids, transfer_ids = referenced_ids(items)
        transfers = {i: self.transfers[i] for i in transfer_ids if i in self.transfers}
        involved = {i for i in account_ids if i in self.accounts}
        for t in transfers.values():
            involved |= {t.debit_account_id, t.credit_account_id}
        holds = {i: self.holds[i] for i in transfers if i in self.holds}
        for hold in self.holds.values():
            if hold.is_due(now) and {hold.debit_account_id, hold.credit_account_id} & involved:
                holds[hold.transfer_id] = hold
        for hold in holds.values():
            involved |= {hold.debit_account_id, hold.credit_account_id}
        return LedgerSnapshot(
            accounts={i: self.accounts[i] for i in involved},
            transfers=transfers,
            holds=holds,
            reversals={o: r for o, r in self.reversals.items() if o in transfer_ids},
        )

    def due_snapshot(self, now: datetime) -> LedgerSnapshot:
        """What a sweeper loads: every due hold and its accounts."""
        holds = {i: h for i, h in self.holds.items() if h.is_due(now)}
        ids = {a for h in holds.values() for a in (h.debit_account_id, h.credit_account_id)}
        return LedgerSnapshot(accounts={i: self.accounts[i] for i in ids}, holds=holds)

    def apply(self, outcome: BatchOutcome) -> None:
        self.accounts.update(outcome.accounts)
        for transfer in outcome.transfers:
            assert transfer.id not in self.transfers, "a transfer id was created twice"
            self.transfers[transfer.id] = transfer
            if transfer.reverses_id is not None:
                assert transfer.reverses_id not in self.reversals, "a transfer was reversed twice"
                self.reversals[transfer.reverses_id] = transfer.id
        for hold in outcome.holds_created:
            assert hold.transfer_id not in self.holds
            self.holds[hold.transfer_id] = hold
        for hold in outcome.holds_resolved:
            assert self.holds[hold.transfer_id].state == "pending", "a hold was resolved twice"
            self.holds[hold.transfer_id] = hold
        self.entries.extend(outcome.entries)


# --- The state machine ---------------------------------------------------------------------


def pending_by_account(accounts: dict[str, Account]) -> dict[str, tuple[int, int]]:
    return {i: (a.balances.debits_pending, a.balances.credits_pending) for i, a in accounts.items()}


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = Store()
        self.ref = Reference()
        self.now = START
        self.history: list[LedgerItem] = []
        self.next_id = 0

    # --- Drawing items ---

    def fresh_id(self) -> str:
        self.next_id += 1
        return f"t{self.next_id}"

    def draw_create(self, data: st.DataObject, *, pending: bool | None = None) -> CreateTransfer:
        """Mostly valid transfers between accounts of one currency, sometimes broken on purpose."""
        accounts = list(self.ref.accounts)
        debit = data.draw(st.sampled_from([*accounts * 4, "ghost"]), label="debit")
        currency = self.ref.accounts[debit].currency if debit in self.ref.accounts else "USD"
        same_currency = [a for a in accounts if self.ref.accounts[a].currency == currency and a != debit]
        sensible = same_currency and data.draw(MOSTLY, label="sensible")
        credit = data.draw(st.sampled_from(same_currency if sensible else [*accounts, "ghost"]), label="credit")
        if pending is None:
            pending = data.draw(st.booleans(), label="pending")
        return CreateTransfer(
            id=self.fresh_id(),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=data.draw(AMOUNTS, label="amount"),
            currency=currency if data.draw(MOSTLY, label="sensible") else data.draw(st.sampled_from(CURRENCIES)),
            code=data.draw(CODES, label="code"),
            metadata=data.draw(METADATA, label="metadata"),
            pending=pending,
            timeout_seconds=data.draw(PENDING_TIMEOUTS if pending else SINGLE_TIMEOUTS, label="timeout"),
        )

    def draw_resolve(
        self, data: st.DataObject, batch_ids: list[str], hold: CreateTransfer | None = None
    ) -> ResolvePending:
        """Resolve ``hold``, or mostly an open hold; sometimes a resolved one, a non-pending or unknown id."""
        if hold is None:
            open_holds = [i for i, s in self.ref.hold_states.items() if s == "pending"]
            candidates = [*open_holds * 4, *self.ref.hold_states, *batch_ids * 2, "fund-USD", "ghost"]
            pending_id = data.draw(st.sampled_from(candidates), label="pending_id")
            full = self.ref.transfers[pending_id].amount if pending_id in self.ref.transfers else 10
        else:
            pending_id, full = hold.id, hold.amount
        amounts = [None, None, None, full, full - 1, full + 1, 1, 0]
        return ResolvePending(
            id=self.fresh_id(),
            pending_id=pending_id,
            action=data.draw(st.sampled_from(["post", "void"]), label="action"),
            amount=data.draw(st.sampled_from(amounts), label="resolve_amount"),
        )

    def draw_reverse(self, data: st.DataObject, batch_ids: list[str]) -> ReverseTransfer:
        reversible = [i for i, t in self.ref.transfers.items() if t.kind in ("single", "post_pending")]
        others = [i for i, t in self.ref.transfers.items() if t.kind not in ("single", "post_pending")]
        candidates = [*reversible * 3, *self.ref.reversed, *others, *batch_ids, "ghost"]
        return ReverseTransfer(
            id=self.fresh_id(),
            original_id=data.draw(st.sampled_from(candidates), label="original_id"),
            metadata=data.draw(st.sampled_from([None, {"why": "refund"}]), label="metadata"),
        )

    def draw_changed(self, data: st.DataObject, item: LedgerItem, batch_ids: list[str]) -> LedgerItem:
        """``item`` with one field changed, or another kind of item under its id."""
        if isinstance(item, CreateTransfer):
            changes = {
                "debit_account_id": item.credit_account_id,
                "credit_account_id": item.debit_account_id,
                "amount": item.amount + 1,
                "currency": "EUR" if item.currency != "EUR" else "USD",
                "code": item.code + "x",
                "metadata": None if item.metadata else {"k": "changed"},
                "pending": not item.pending,
                "timeout_seconds": (item.timeout_seconds or 0) + 1,
            }
        elif isinstance(item, ResolvePending):
            changes = {
                "pending_id": item.pending_id + "x",
                "action": "void" if item.action == "post" else "post",
                "amount": (item.amount or 0) + 1,
            }
        else:
            changes = {"original_id": item.original_id + "x", "metadata": None if item.metadata else {"k": "v"}}
        name = data.draw(st.sampled_from([*changes, "kind"]), label="changed_field")
        if name != "kind":
            return msgspec.structs.replace(item, **{name: changes[name]})
        other = data.draw(st.sampled_from(["create", "resolve", "reverse"]), label="other_kind")
        drawn = {
            "create": lambda: self.draw_create(data),
            "resolve": lambda: self.draw_resolve(data, batch_ids),
            "reverse": lambda: self.draw_reverse(data, batch_ids),
        }[other]()
        return msgspec.structs.replace(drawn, id=item.id)

    def draw_item(self, data: st.DataObject, batch: list[LedgerItem]) -> LedgerItem:
        """A new item of any kind, or a replay (as is or changed) of an earlier one, even from ``batch``."""
        batch_ids = [item.id for item in batch]
        kinds = ["single", "single", "single", "pending", "pending", "resolve", "resolve", "reverse"]
        if self.history or batch:
            kinds += ["replay", "replay", "changed", "changed"]
        kind = data.draw(st.sampled_from(kinds), label="kind")
        if kind in ("single", "pending"):
            return self.draw_create(data, pending=kind == "pending")
        if kind == "resolve":
            return self.draw_resolve(data, batch_ids)
        if kind == "reverse":
            return self.draw_reverse(data, batch_ids)
        accepted = [item for item in self.history if item.id in self.ref.transfers]
        earlier = data.draw(st.sampled_from(accepted * 3 + self.history + batch * 3), label="earlier")
        if kind == "changed":
            return self.draw_changed(data, earlier, batch_ids)
        return earlier

    # --- Running ---

    def execute(self, items: list[LedgerItem]) -> BatchOutcome:
        before = pending_by_account(self.store.accounts)
        outcome = execute_batch(items, self.store.snapshot_for(items, self.now), self.now)
        expected = self.ref.run(items, self.now)
        actual = [(result.status, result.code) for result in outcome.results]
        assert actual == expected, f"items={items}\nengine={actual}\nreference={expected}"
        assert [r.id for r in outcome.results] == [i.id for i in items]
        for status, code in actual:
            event(code or status)  # see --hypothesis-show-statistics
        check_entries_balance(outcome, self.store.accounts)
        assert all(hold.state != "pending" for hold in outcome.holds_resolved)
        self.store.apply(outcome)
        check_pending_moves_with_holds(before, self.store.accounts, outcome)
        self.history.extend(msgspec.structs.replace(item, linked=False) for item in items)
        return outcome

    @initialize()
    def open_house_accounts(self) -> None:
        """Per currency: an unconstrained house account, a funded customer and a credit-limited payable."""
        for currency in CURRENCIES:
            self.open(f"house-{currency}", currency, AccountFlags(), None)
            self.open(f"customer-{currency}", currency, AccountFlags(debits_must_not_exceed_credits=True), 10)
            self.open(f"payable-{currency}", currency, AccountFlags(credits_must_not_exceed_debits=True), 5)
        self.execute(
            [
                CreateTransfer(
                    id=f"fund-{currency}",
                    debit_account_id=f"house-{currency}",
                    credit_account_id=f"customer-{currency}",
                    amount=100,
                    currency=currency,
                )
                for currency in CURRENCIES
            ]
        )

    def open(self, account_id: str, currency: str, flags: AccountFlags, overdraft: int | None) -> None:
        account = open_account(
            NewAccount(id=account_id, currency=currency, name=account_id, flags=flags, overdraft_limit=overdraft),
            self.now,
        )
        self.store.accounts[account.id] = account
        self.ref.accounts[account.id] = RefAccount(
            currency, flags.debits_must_not_exceed_credits, flags.credits_must_not_exceed_debits, overdraft or 0
        )

    @rule(
        currency=st.sampled_from(CURRENCIES),
        limit=st.sampled_from(["none", "debits", "credits"]),
        overdraft=st.none() | st.integers(0, 30),
    )
    def open_an_account(self, currency: str, limit: str, overdraft: int | None) -> None:
        flags = AccountFlags(
            debits_must_not_exceed_credits=limit == "debits", credits_must_not_exceed_debits=limit == "credits"
        )
        self.open(f"acct-{len(self.ref.accounts)}", currency, flags, None if limit == "none" else overdraft)

    @rule(data=st.data())
    def run_a_batch(self, data: st.DataObject) -> None:
        size = data.draw(st.integers(1, 6), label="size")
        items: list[LedgerItem] = []
        for _ in range(size):
            item = self.draw_item(data, items)
            linked = data.draw(st.sampled_from([False, False, False, True]), label="linked")
            items.append(msgspec.structs.replace(item, linked=linked))
        self.execute(items)

    @rule(data=st.data())
    def run_a_chain_with_a_failing_member(self, data: st.DataObject) -> None:
        size = data.draw(st.integers(2, 4), label="size")
        items: list[LedgerItem] = []
        for _ in range(size):
            items.append(msgspec.structs.replace(self.draw_item(data, items), linked=True))
        saboteur = data.draw(st.integers(0, size - 1), label="saboteur")
        broken = fresh = msgspec.structs.replace(items[saboteur], id=self.fresh_id())
        if isinstance(fresh, CreateTransfer):
            broken = msgspec.structs.replace(fresh, amount=0)
        elif isinstance(fresh, ResolvePending):
            broken = msgspec.structs.replace(fresh, pending_id="ghost")
        else:
            broken = msgspec.structs.replace(fresh, original_id="ghost")
        items[saboteur] = broken
        items[-1] = msgspec.structs.replace(items[-1], linked=False)
        # Retrying chain members in the same batch must find no trace of the rolled-back chain.
        retries = data.draw(st.lists(st.sampled_from(items), max_size=2), label="retries")
        retried = {item.id for item in retries}

        outcome = self.execute(items + [msgspec.structs.replace(item, linked=False) for item in retries])

        codes = [result.code for result in outcome.results[:size]]
        assert all(code is not None for code in codes), codes
        assert sum(code != "linked_event_failed" for code in codes) == 1, codes
        assert {transfer.id for transfer in outcome.transfers} <= retried
        assert all(entry.event == "expire_pending" or entry.transfer_id in retried for entry in outcome.entries)

    @rule(data=st.data())
    def hold_and_resolve_in_one_batch(self, data: st.DataObject) -> None:
        hold = self.draw_create(data, pending=True)
        resolution = self.draw_resolve(data, [], hold)
        linked = data.draw(st.booleans(), label="linked")
        self.execute([msgspec.structs.replace(hold, linked=linked), resolution])

    @rule(seconds=st.integers(1, 40))
    def advance_the_clock(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.ref.expire(self.now)  # the reference expires holds the moment they fall due

    @rule()
    def sweep(self) -> None:
        before = pending_by_account(self.store.accounts)
        outcome = expire_due_holds(self.store.due_snapshot(self.now), self.now)
        assert outcome.results == outcome.transfers == outcome.holds_created == []
        assert all(hold.state == "expired" for hold in outcome.holds_resolved)
        check_entries_balance(outcome, self.store.accounts)
        self.store.apply(outcome)
        check_pending_moves_with_holds(before, self.store.accounts, outcome)
        self.ref.expire(self.now)

    # --- Invariants ---

    @invariant()
    def books_balance_per_currency(self) -> None:
        totals: dict[str, Counter[str]] = defaultdict(Counter)
        for account in self.store.accounts.values():
            b = account.balances
            totals[account.currency].update(
                dp=b.debits_posted, cp=b.credits_posted, dq=b.debits_pending, cq=b.credits_pending
            )
        for currency, t in totals.items():
            assert t["dp"] == t["cp"], (currency, t)
            assert t["dq"] == t["cq"], (currency, t)

    @invariant()
    def balances_are_the_fold_of_entries(self) -> None:
        folds = {i: [0, 0, 0, 0] for i in self.store.accounts}
        seqs: dict[str, int] = Counter()
        for entry in self.store.entries:
            fold = folds[entry.account_id]
            for k, delta in enumerate(
                (entry.d_debits_posted, entry.d_credits_posted, entry.d_debits_pending, entry.d_credits_pending)
            ):
                fold[k] += delta
            seqs[entry.account_id] += 1
            assert entry.account_seq == seqs[entry.account_id]
            assert entry.balances == Balances(
                debits_posted=fold[0], credits_posted=fold[1], debits_pending=fold[2], credits_pending=fold[3]
            )
        for account_id, account in self.store.accounts.items():
            b = account.balances
            assert [b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending] == folds[account_id]
            assert account.entry_count == seqs[account_id]
            assert min(folds[account_id]) >= 0

    @invariant()
    def no_flagged_account_beyond_its_limit(self) -> None:
        for account in self.store.accounts.values():
            b, room = account.balances, account.overdraft_limit or 0
            if account.flags.debits_must_not_exceed_credits:
                assert b.debits_posted + b.debits_pending <= b.credits_posted + room, account
            if account.flags.credits_must_not_exceed_debits:
                assert b.credits_posted + b.credits_pending <= b.debits_posted + room, account

    @invariant()
    def agrees_with_the_reference(self) -> None:
        swept = expire_due_holds(self.store.due_snapshot(self.now), self.now)
        accounts = {**self.store.accounts, **swept.accounts}
        holds = {**self.store.holds, **{h.transfer_id: h for h in swept.holds_resolved}}
        for account_id, account in accounts.items():
            assert account.balances == self.ref.balances(account_id), account_id
        assert {i: h.state for i, h in holds.items()} == self.ref.hold_states
        assert {i: as_reference(t) for i, t in self.store.transfers.items()} == self.ref.transfers
        assert self.store.reversals.keys() == self.ref.reversed


def as_reference(t: Transfer) -> RefTransfer:
    return RefTransfer(
        t.kind,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        t.currency,
        t.code,
        t.metadata,
        t.timeout_seconds,
        t.expires_at,
        t.pending_id,
        t.reverses_id,
    )


def check_entries_balance(outcome: BatchOutcome, accounts: dict[str, Account]) -> None:
    """Every balance change is a debit-side and a credit-side entry whose deltas balance, per currency."""
    accounts = {**accounts, **outcome.accounts}
    changes: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    per_currency: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in outcome.entries:
        changes[(entry.transfer_id, entry.event)].append(entry)
        per_currency[accounts[entry.account_id].currency].update(
            dp=entry.d_debits_posted, cp=entry.d_credits_posted, dq=entry.d_debits_pending, cq=entry.d_credits_pending
        )
    for pair in changes.values():
        assert len(pair) == 2, pair
        assert sum(e.d_debits_posted for e in pair) == sum(e.d_credits_posted for e in pair)
        assert sum(e.d_debits_pending for e in pair) == sum(e.d_credits_pending for e in pair)
        assert len({accounts[e.account_id].currency for e in pair}) == 1
    for currency, t in per_currency.items():
        assert (t["dp"], t["dq"]) == (t["cp"], t["cq"]), currency


def check_pending_moves_with_holds(
    before: dict[str, tuple[int, int]], accounts: dict[str, Account], outcome: BatchOutcome
) -> None:
    """Each account's pending totals change by exactly the holds opened minus the holds resolved."""
    expected = {i: list(before.get(i, (0, 0))) for i in accounts}
    opened = [(h, +1) for h in outcome.holds_created]
    closed = [(h, -1) for h in [*outcome.holds_created, *outcome.holds_resolved] if h.state != "pending"]
    for hold, sign in opened + closed:
        expected[hold.debit_account_id][0] += sign * hold.amount
        expected[hold.credit_account_id][1] += sign * hold.amount
    assert {i: tuple(v) for i, v in expected.items()} == pending_by_account(accounts)


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
