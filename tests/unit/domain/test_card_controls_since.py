"""How far back usage must be summed for a set of limits (domain/cards/controls.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.cards.controls import Controls, CountLimit, SpendingLimit, earliest, usage_since
from domain.cards.model import tier_usage_since

NOW = datetime(2033, 6, 15, 13, 45, tzinfo=UTC)  # a Wednesday


def _limits(*intervals: str) -> Controls:
    return Controls(spending_limits=tuple(SpendingLimit(amount=1, interval=i) for i in intervals))


def test_no_window_means_nothing_to_sum():
    assert usage_since([Controls(), _limits("per_authorization")], NOW) == NOW


def test_the_earliest_window_of_all_the_limits():
    assert usage_since([_limits("daily")], NOW) == datetime(2033, 6, 15, tzinfo=UTC)
    assert usage_since([_limits("daily"), _limits("weekly")], NOW) == datetime(2033, 6, 13, tzinfo=UTC)
    assert usage_since([_limits("daily", "yearly")], NOW) == datetime(2033, 1, 1, tzinfo=UTC)
    counted = Controls(max_authorizations=CountLimit(count=3, interval="monthly"))
    assert usage_since([_limits("daily"), counted], NOW) == datetime(2033, 6, 1, tzinfo=UTC)


def test_an_all_time_limit_sums_everything():
    assert usage_since([_limits("daily"), _limits("all_time")], NOW) is None
    assert usage_since([Controls(max_authorizations=CountLimit(count=3, interval="all_time"))], NOW) is None


def test_the_tiers_look_back_to_the_start_of_the_month():
    assert tier_usage_since(NOW) == datetime(2033, 6, 1, tzinfo=UTC)


def test_earliest_treats_all_time_as_the_earliest():
    a, b = datetime(2033, 6, 1, tzinfo=UTC), datetime(2033, 6, 15, tzinfo=UTC)
    assert earliest(a, b) == a and earliest(b, a) == a
    assert earliest(None, a) is None and earliest(a, None) is None
