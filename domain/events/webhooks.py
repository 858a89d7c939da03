"""Webhooks: who receives which events, and the life of one delivery (Standard Webhooks).

A subscription is an internal app's endpoint: a URL, a signing secret and the event types it
wants (none named: all). Routing an event creates one delivery per matching active
subscription. A delivery is attempted until the receiver answers 2xx; each failure schedules
the next attempt after an exponential, jittered delay, until the policy's maximum number of
attempts, when the delivery is ``failed`` (ops can retry it, which starts a new round).

Every request carries the Standard Webhooks headers (https://www.standardwebhooks.com):
``webhook-id`` (the event id, the same on every attempt), ``webhook-timestamp`` (Unix seconds)
and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per
valid secret, space-separated, while a rotated secret is still honoured).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

import msgspec

from domain.events.model import EVENT_TYPES, Event
from domain.shared.errors import Conflict, InvalidInput

HEADER_ID: Final = "webhook-id"
HEADER_TIMESTAMP: Final = "webhook-timestamp"
HEADER_SIGNATURE: Final = "webhook-signature"
SECRET_PREFIX: Final = "whsec_"

SECRET_GRACE: Final = timedelta(hours=24)
"""How long the secret a rotation replaced still signs deliveries, alongside the new one."""

MAX_ERROR_CHARS: Final = 500

DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]
DELIVERY_STATUSES: Final[tuple[str, ...]] = ("pending", "delivered", "failed", "cancelled")


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    """The event types delivered; empty: every type."""
    secret: str
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    active: bool = True
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None = None
    """Scoped to the credential that created it: a repeated creation returns this subscription."""

    def __repr__(self) -> str:  # never the secrets
        return (f"Subscription(id={self.id!r}, url={self.url!r}, event_types={self.event_types!r}, "
                f"active={self.active!r})")

    def wants(self, event_type: str) -> bool:
        return self.active and (not self.event_types or event_type in self.event_types)

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets that sign a delivery made at ``now``: the current one, and the one a rotation
        replaced until its grace period ends."""
        if self.previous_secret and self.previous_secret_expires_at and now < self.previous_secret_expires_at:
            return (self.secret, self.previous_secret)
        return (self.secret,)

    def same_definition(self, url: str, event_types: tuple[str, ...], description: str) -> bool:
        return (self.url, self.event_types, self.description) == (url, event_types, description)


def new_subscription(
    *, id: str, url: str, event_types: tuple[str, ...] | list[str], description: str, secret: str, now: datetime,
    idempotency_key: str | None = None,
) -> Subscription:
    if not url.startswith(("https://", "http://")):
        raise InvalidInput("url: a webhook endpoint is an http(s) URL", code="validation_error")
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(f"events: unknown event types {', '.join(unknown)}", code="validation_error")
    _check_secret(secret)
    return Subscription(
        id=id, url=url, description=description, event_types=tuple(sorted(set(event_types))), secret=secret,
        created_at=now, updated_at=now, idempotency_key=idempotency_key,
    )


def rotate_secret(subscription: Subscription, new_secret: str, now: datetime, grace: timedelta = SECRET_GRACE) -> Subscription:
    """The subscription signing with ``new_secret``; the replaced secret also signs for ``grace``."""
    if not subscription.active:
        raise Conflict(f"subscription {subscription.id} is deleted", code="subscription_deleted")
    _check_secret(new_secret)
    return msgspec.structs.replace(
        subscription, secret=new_secret, previous_secret=subscription.secret,
        previous_secret_expires_at=now + grace, updated_at=now,
    )


def deactivate(subscription: Subscription, now: datetime) -> Subscription:
    return msgspec.structs.replace(subscription, active=False, updated_at=now)


def _check_secret(secret: str) -> None:
    if not secret.startswith(SECRET_PREFIX) or len(secret) <= len(SECRET_PREFIX):
        raise InvalidInput(f"a signing secret starts with {SECRET_PREFIX}")


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Exponential backoff with jitter: after the n-th failed attempt of a round the next one waits
    between half and all of ``min(backoff_max, backoff_base * 2**(n-1))`` seconds."""

    max_attempts: int = 12
    backoff_base: float = 5.0
    backoff_max: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInput("max_attempts must be at least 1")
        if not 0 < self.backoff_base <= self.backoff_max:
            raise InvalidInput("backoff_base must be positive and at most backoff_max")

    def delay(self, failed_attempts: int, jitter: float) -> timedelta:
        """The wait after ``failed_attempts`` failures in a row (>= 1); ``jitter`` in [0, 1)."""
        if failed_attempts < 1 or not 0 <= jitter < 1:
            raise InvalidInput("delay needs failed_attempts >= 1 and jitter in [0, 1)")
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(failed_attempts - 1, 62))
        return timedelta(seconds=ceiling * (0.5 + jitter / 2))


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One event on its way to one subscription."""

    id: str
    event_id: str
    event_type: str
    subscription_id: str
    status: DeliveryStatus
    attempts: int = 0
    """Attempts made so far, over every round; also the number of the latest attempt."""
    round_start: int = 0
    """``attempts`` when the current round began (0, or when ops last retried it)."""
    next_attempt_at: datetime | None
    """When the next attempt is due; set only while ``pending``."""
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class DeliveryAttempt(msgspec.Struct, frozen=True, kw_only=True):
    delivery_id: str
    attempt: int
    started_at: datetime
    finished_at: datetime
    status_code: int | None
    """The receiver's HTTP status; None when no response came (timeout, refused connection...)."""
    error: str | None
    succeeded: bool


def new_delivery(*, id: str, event: Event, subscription: Subscription, now: datetime) -> Delivery:
    return Delivery(
        id=id, event_id=event.id, event_type=event.type, subscription_id=subscription.id, status="pending",
        next_attempt_at=now, created_at=now, updated_at=now,
    )


def succeeded(status_code: int | None) -> bool:
    """A 2xx answer delivers; anything else (redirects included) is a failure to retry."""
    return status_code is not None and 200 <= status_code < 300


def after_attempt(
    delivery: Delivery,
    *,
    policy: RetryPolicy,
    started_at: datetime,
    finished_at: datetime,
    status_code: int | None,
    error: str | None,
    jitter: float,
) -> tuple[Delivery, DeliveryAttempt]:
    """The delivery after one attempt, and the record of that attempt."""
    if delivery.status != "pending":
        raise Conflict(f"delivery {delivery.id} is {delivery.status}, not pending", code="delivery_not_pending")
    ok = succeeded(status_code)
    if not ok and error is None:
        error = f"HTTP {status_code}"
    error = None if error is None else error[:MAX_ERROR_CHARS]
    number = delivery.attempts + 1
    attempt = DeliveryAttempt(
        delivery_id=delivery.id, attempt=number, started_at=started_at, finished_at=finished_at,
        status_code=status_code, error=error, succeeded=ok,
    )
    common = dict(attempts=number, last_attempt_at=started_at, last_status_code=status_code, last_error=error,
                  updated_at=finished_at)
    if ok:
        return msgspec.structs.replace(delivery, status="delivered", next_attempt_at=None, delivered_at=finished_at,
                                       **common), attempt
    in_round = number - delivery.round_start
    if in_round >= policy.max_attempts:
        return msgspec.structs.replace(delivery, status="failed", next_attempt_at=None, **common), attempt
    due = finished_at + policy.delay(in_round, jitter)
    return msgspec.structs.replace(delivery, status="pending", next_attempt_at=due, **common), attempt


def retry(delivery: Delivery, now: datetime) -> Delivery:
    """Ops asks for another round: due now, with a fresh budget of attempts."""
    if delivery.status == "cancelled":
        raise Conflict(f"delivery {delivery.id} was cancelled with its subscription", code="delivery_cancelled")
    return msgspec.structs.replace(
        delivery, status="pending", round_start=delivery.attempts, next_attempt_at=now, updated_at=now,
    )


def cancel(delivery: Delivery, now: datetime) -> Delivery:
    """A pending delivery of a deleted subscription: never attempted again."""
    return msgspec.structs.replace(delivery, status="cancelled", next_attempt_at=None, updated_at=now)
