"""Fixtures for the PostgreSQL integration tests of this folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from tests.integration.postgres.card_world import CardWorld


@pytest.fixture
def card_world(stack_env) -> Iterator[Callable[[datetime], CardWorld]]:
    """Make a ``CardWorld`` whose clock starts at the given UTC instant; closed after the test."""
    opened: list[CardWorld] = []

    def make(start: datetime) -> CardWorld:
        world = CardWorld(stack_env, start)
        opened.append(world)
        return world

    yield make
    for world in opened:
        world.close()
