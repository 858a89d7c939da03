from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from application.ports.cards import CardsRepository
from application.ports.compliance import ActivityLog
from application.ports.events import Outbox
from application.ports.ledger import LedgerRepository

T = TypeVar("T")


class UnitOfWork(Protocol):
    """One transaction and the repositories that work inside it."""

    ledger: LedgerRepository
    cards: CardsRepository
    outbox: Outbox
    """Events written here commit or roll back with the rest of the unit of work."""
    activity: ActivityLog
    """Approved authorizations for monitoring: they commit with the holds; their alert rules are
    evaluated afterwards."""

    def reads(self) -> AbstractAsyncContextManager[None]:
        """A block of ``queue_*`` calls whose statements travel to the database together (one round
        trip, run in the order queued) when the block ends; each call returns a function that
        gives its result, to be awaited after the block."""
        ...

    def writes(self, *, last: bool = False) -> AbstractAsyncContextManager[None]:
        """A block of writes that may travel to the database together (one round trip); nothing in
        it may read, and an error in any of them surfaces when the block ends. ``last``: the unit
        of work's final statements, which may carry its commit with them; it sends nothing after."""
        ...


class Transactions(Protocol):
    """Runs work in one transaction: commits when it returns, rolls back when it raises.

    Transient conflicts (deadlock, serialization failure, a concurrent insert of the same
    id) are retried here, at the unit-of-work boundary, and only here; ``work`` must therefore
    be safe to run again (it is: it only reads and writes through the unit of work).
    """

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T: ...
