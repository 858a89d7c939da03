"""Webhook dispatcher settings: defaults, every variable read, bad values refused at start."""

from __future__ import annotations

import pytest

from entrypoints.settings import ConfigError, Settings, WebhookSettings


def webhooks(**env: str) -> WebhookSettings:
    return Settings.from_env(env).webhooks


def test_defaults() -> None:
    assert webhooks() == WebhookSettings(poll_seconds=1.0, timeout_seconds=10.0, max_attempts=12,
                                         backoff_base_seconds=5.0, backoff_max_seconds=3600.0, batch_size=100)


def test_every_webhook_setting_is_read() -> None:
    assert webhooks(BURSAR_WEBHOOK_POLL_SECONDS="0.25", BURSAR_WEBHOOK_TIMEOUT_SECONDS="3",
                    BURSAR_WEBHOOK_MAX_ATTEMPTS="4", BURSAR_WEBHOOK_BACKOFF_BASE_SECONDS="2",
                    BURSAR_WEBHOOK_BACKOFF_MAX_SECONDS="30", BURSAR_WEBHOOK_BATCH_SIZE="7") == WebhookSettings(
        poll_seconds=0.25, timeout_seconds=3.0, max_attempts=4, backoff_base_seconds=2.0, backoff_max_seconds=30.0,
        batch_size=7)
    assert webhooks(BURSAR_WEBHOOK_POLL_SECONDS="0").poll_seconds == 0  # this process does not dispatch


@pytest.mark.parametrize(("name", "value", "message"), [
    ("BURSAR_WEBHOOK_POLL_SECONDS", "-1", "0 \\(off\\) or positive"),
    ("BURSAR_WEBHOOK_POLL_SECONDS", "soon", "must be a number"),
    ("BURSAR_WEBHOOK_POLL_SECONDS", "nan", "finite"),
    ("BURSAR_WEBHOOK_TIMEOUT_SECONDS", "0", "above 0"),
    ("BURSAR_WEBHOOK_TIMEOUT_SECONDS", "301", "at most 300"),
    ("BURSAR_WEBHOOK_MAX_ATTEMPTS", "0", "1 to 100"),
    ("BURSAR_WEBHOOK_MAX_ATTEMPTS", "2.5", "integer"),
    ("BURSAR_WEBHOOK_BACKOFF_BASE_SECONDS", "7200", "at most BURSAR_WEBHOOK_BACKOFF_MAX_SECONDS"),
    ("BURSAR_WEBHOOK_BACKOFF_BASE_SECONDS", "0", "positive"),
    ("BURSAR_WEBHOOK_BATCH_SIZE", "0", "1 to 1000"),
])
def test_bad_values_are_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        webhooks(**{name: value})
