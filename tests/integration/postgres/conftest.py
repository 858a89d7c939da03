"""Fixtures for the PostgreSQL integration tests of this folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from tests.integration.postgres.card_world import CardWorld


@pytest.fixture
def card_world(stack_env) -> Iterator[Callable[..., CardWorld]]:
    """Make a ``CardWorld`` whose clock starts at the given UTC instant, with ``env`` over the
    session's settings (e.g. ``{"BURSAR_FX_ROUNDING": "half_up"}``); closed after the test."""
    opened: list[CardWorld] = []

    def make(start: datetime, env: dict[str, str] | None = None) -> CardWorld:
        world = CardWorld({**stack_env, **(env or {})}, start)
        opened.append(world)
        return world

    yield make
    for world in opened:
        world.close()
