"""Events and the life of a webhook delivery: validation, routing filters, secrets, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from domain.events import (
    CARD_CREATED,
    CARD_UPDATED,
    EVENT_TYPES,
    TRANSACTION_CLEARED,
    Delivery,
    Event,
    RetryPolicy,
    Subscription,
    after_attempt,
    cancel,
    deactivate,
    new_delivery,
    new_subscription,
    retry,
    rotate_secret,
    succeeded,
)
from domain.shared.errors import Conflict, InvalidInput

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Card(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    state: str
    created_at: datetime


def subscription(**kw) -> Subscription:
    return new_subscription(id=kw.pop("id", "sub-1"), url=kw.pop("url", "https://app.example/hooks"),
                            event_types=kw.pop("event_types", ()), description="", secret=kw.pop("secret", SECRET),
                            now=NOW, **kw)


def event(type: str = CARD_CREATED, id: str = "0196-e1") -> Event:
    return Event(id=id, type=type, created_at=NOW, data={"id": "card-1"})


def pending() -> Delivery:
    return new_delivery(id="d-1", event=event(), subscription=subscription(), now=NOW)


def test_the_eight_event_types_of_issue_7() -> None:
    assert EVENT_TYPES == (
        "card.created", "card.updated", "authorization.approved", "authorization.declined",
        "authorization.reversed", "authorization.expired", "transaction.cleared", "transaction.refunded",
    )


def test_event_of_a_struct_snapshot_is_json_ready() -> None:
    e = Event.of(id="e1", type=CARD_UPDATED, at=NOW, resource=Card(id="c1", state="paused", created_at=NOW))
    assert e.data == {"id": "c1", "state": "paused", "created_at": "2026-03-01T12:00:00Z"}
    assert msgspec.json.decode(msgspec.json.encode(e), type=Event) == e


def test_event_data_is_always_json_ready_builtins() -> None:
    from decimal import Decimal

    e = Event(id="e1", type=CARD_UPDATED, created_at=NOW, data={"at": NOW, "rate": Decimal("1.25"), "n": 3})
    assert e.data == {"at": "2026-03-01T12:00:00Z", "rate": "1.25", "n": 3}
    assert msgspec.json.decode(msgspec.json.encode(e), type=Event) == e


def test_unknown_event_type_naive_time_and_empty_id_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown event type"):
        Event(id="e1", type="card.exploded", created_at=NOW, data={})
    with pytest.raises(InvalidInput, match="time zone"):
        Event(id="e1", type=CARD_CREATED, created_at=NOW.replace(tzinfo=None), data={})
    with pytest.raises(InvalidInput, match="id"):
        Event(id="", type=CARD_CREATED, created_at=NOW, data={})
    with pytest.raises(InvalidInput, match="object"):
        Event.of(id="e1", type=CARD_CREATED, at=NOW, resource=[1, 2])  # type: ignore[arg-type]


def test_a_subscription_without_types_wants_every_type_and_a_filter_only_its_own() -> None:
    every = subscription()
    assert all(every.wants(t) for t in EVENT_TYPES)
    only = subscription(event_types=[TRANSACTION_CLEARED, CARD_CREATED, CARD_CREATED])
    assert only.event_types == (CARD_CREATED, TRANSACTION_CLEARED)
    assert only.wants(CARD_CREATED) and not only.wants(CARD_UPDATED)
    assert not deactivate(every, NOW).wants(CARD_CREATED)


def test_subscriptions_refuse_unknown_types_other_schemes_and_bad_secrets() -> None:
    with pytest.raises(InvalidInput, match="card.deleted"):
        subscription(event_types=["card.deleted"])
    with pytest.raises(InvalidInput, match="http"):
        subscription(url="ftp://example/hooks")
    with pytest.raises(InvalidInput, match="whsec_"):
        subscription(secret="MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


def test_repr_never_shows_secrets() -> None:
    s = rotate_secret(subscription(), "whsec_bmV3LXNlY3JldA==", NOW)
    assert "whsec_" not in repr(s) and "whsec_" not in str(s)


def test_rotation_keeps_the_previous_secret_signing_for_the_grace_period() -> None:
    rotated = rotate_secret(subscription(), "whsec_bmV3", NOW, grace=timedelta(hours=24))
    assert rotated.signing_secrets(NOW) == ("whsec_bmV3", SECRET)
    assert rotated.signing_secrets(NOW + timedelta(hours=24) - timedelta(seconds=1)) == ("whsec_bmV3", SECRET)
    assert rotated.signing_secrets(NOW + timedelta(hours=24)) == ("whsec_bmV3",)
    twice = rotate_secret(rotated, "whsec_dGhpcmQ=", NOW + timedelta(hours=1))
    assert twice.signing_secrets(NOW + timedelta(hours=1)) == ("whsec_dGhpcmQ=", "whsec_bmV3")
    with pytest.raises(Conflict):
        rotate_secret(deactivate(rotated, NOW), "whsec_eA==", NOW)


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_base=5, backoff_max=60)
    ceilings = [policy.delay(n, 0.999999).total_seconds() for n in range(1, 7)]
    assert ceilings == pytest.approx([5, 10, 20, 40, 60, 60], rel=1e-5)
    assert [policy.delay(n, 0.0).total_seconds() for n in range(1, 7)] == [2.5, 5, 10, 20, 30, 30]
    assert policy.delay(3, 0.5) == timedelta(seconds=15)
    assert policy.delay(10_000, 0.0) == timedelta(seconds=30)  # no overflow
    for bad in ((0, 0.5), (1, 1.0), (1, -0.1)):
        with pytest.raises(InvalidInput):
            policy.delay(*bad)
    with pytest.raises(InvalidInput):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidInput):
        RetryPolicy(backoff_base=10, backoff_max=5)


def test_2xx_delivers_everything_else_fails() -> None:
    assert [succeeded(c) for c in (200, 204, 299)] == [True] * 3
    assert [succeeded(c) for c in (None, 199, 301, 400, 410, 500)] == [False] * 6


def test_a_failed_attempt_schedules_the_next_and_a_success_delivers() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_base=10, backoff_max=100)
    later = NOW + timedelta(seconds=2)
    d1, a1 = after_attempt(pending(), policy=policy, started_at=NOW, finished_at=later, status_code=503,
                           error=None, jitter=0.0)
    assert (d1.status, d1.attempts, d1.next_attempt_at, d1.last_status_code, d1.last_error) == (
        "pending", 1, later + timedelta(seconds=5), 503, "HTTP 503")
    assert (a1.attempt, a1.succeeded, a1.status_code, a1.started_at, a1.finished_at) == (1, False, 503, NOW, later)
    d2, a2 = after_attempt(d1, policy=policy, started_at=later, finished_at=later, status_code=None,
                           error="no response within 10 s", jitter=0.0)
    assert (d2.status, d2.attempts, d2.next_attempt_at, d2.last_status_code) == (
        "pending", 2, later + timedelta(seconds=10), None)
    d3, a3 = after_attempt(d2, policy=policy, started_at=later, finished_at=later, status_code=204, error=None,
                           jitter=0.0)
    assert (d3.status, d3.attempts, d3.next_attempt_at, d3.delivered_at, d3.last_error) == (
        "delivered", 3, None, later, None)
    assert a3.succeeded and a3.attempt == 3


def test_the_last_allowed_failure_fails_the_delivery_and_a_retry_starts_a_new_round() -> None:
    policy = RetryPolicy(max_attempts=2, backoff_base=1, backoff_max=1)
    d = pending()
    for _ in range(2):
        d, _ = after_attempt(d, policy=policy, started_at=NOW, finished_at=NOW, status_code=500, error=None, jitter=0)
    assert (d.status, d.attempts, d.next_attempt_at) == ("failed", 2, None)
    with pytest.raises(Conflict):
        after_attempt(d, policy=policy, started_at=NOW, finished_at=NOW, status_code=200, error=None, jitter=0)
    again = retry(d, NOW + timedelta(hours=1))
    assert (again.status, again.round_start, again.next_attempt_at) == ("pending", 2, NOW + timedelta(hours=1))
    d, a = after_attempt(again, policy=policy, started_at=NOW, finished_at=NOW, status_code=500, error=None, jitter=0)
    assert (d.status, d.attempts, a.attempt) == ("pending", 3, 3)  # a full new round: 2 more attempts
    d, _ = after_attempt(d, policy=policy, started_at=NOW, finished_at=NOW, status_code=500, error=None, jitter=0)
    assert d.status == "failed"


def test_errors_are_truncated_and_cancelled_deliveries_cannot_be_retried() -> None:
    d, a = after_attempt(pending(), policy=RetryPolicy(), started_at=NOW, finished_at=NOW, status_code=None,
                         error="x" * 2000, jitter=0)
    assert len(d.last_error or "") == 500 and a.error == d.last_error
    cancelled = cancel(d, NOW)
    assert (cancelled.status, cancelled.next_attempt_at) == ("cancelled", None)
    with pytest.raises(Conflict):
        retry(cancelled, NOW)
