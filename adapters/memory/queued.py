"""Queued reads (``uow.reads()``) in memory: every read is immediate, its result ready at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def ready(value: T) -> Callable[[], Awaitable[T]]:
    """The result function of a queued read that already has its ``value``."""

    async def result() -> T:
        return value

    return result
