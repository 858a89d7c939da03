"""Card usage sums the windows its limits can read: those that begin at or after ``since``."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.postgres.cards import _usage_sql
from domain.cards.controls import WINDOWS, window_start
from domain.cards.model import tier_usage_since

NOW = datetime(2026, 5, 14, 10, 30, tzinfo=UTC)  # a Thursday: its week began in May


def test_usage_sums_only_the_windows_that_begin_at_or_after_since() -> None:
    assert _usage_sql("card_id", NOW, None)[2] == WINDOWS
    assert _usage_sql("card_id", NOW, window_start("monthly", NOW))[2] == ("daily", "weekly", "monthly")
    assert _usage_sql("card_id", NOW, window_start("daily", NOW))[2] == ("daily",)
    sunday = datetime(2026, 5, 3, tzinfo=UTC)  # its week began in April: not exact from May 1 on
    assert _usage_sql("cardholder_id", sunday, tier_usage_since(sunday))[2] == ("daily", "monthly")


def test_each_window_summed_has_its_sum_and_count() -> None:
    sql, params, windows = _usage_sql("cardholder_id", NOW, window_start("weekly", NOW))
    assert windows == ("daily", "weekly")
    assert sql.count("sum(counted)") == sql.count("count(*)") == 2
    assert params == [window_start("daily", NOW)] * 2 + [window_start("weekly", NOW)] * 2 + [window_start("weekly", NOW)]
