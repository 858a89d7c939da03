"""No card number reaches a log line, whichever way it is logged."""

from __future__ import annotations

import io
import json
import logging

import pytest

from entrypoints.observability.logging import configure_logging, luhn_valid, mask_pans, request_id_var

PAN = "4111111111111111"  # a well-known test number


@pytest.fixture
def captured():
    stream = io.StringIO()
    configure_logging("DEBUG", service="test", stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_luhn():
    assert luhn_valid(PAN) and luhn_valid("79927398713") and not luhn_valid("4111111111111112")


@pytest.mark.parametrize("length", range(13, 20))
def test_every_length_is_masked(length):
    digits = "4" * (length - 1)
    check = next(str(d) for d in range(10) if luhn_valid(digits + str(d)))
    assert mask_pans(f"x{digits + check}y") == "x" + "*" * (length - 4) + (digits + check)[-4:] + "y"


def test_non_luhn_and_short_numbers_survive():
    assert mask_pans("order 4111111111111112 and 123456789012") == "order 4111111111111112 and 123456789012"


def test_masks_message_args_extras_and_tracebacks(captured):
    log = logging.getLogger("bursar.test")
    token = request_id_var.set("rid-1")
    try:
        log.info("direct %s", PAN)
        log.info(f"inline {PAN}")
        log.warning("extra", extra={"card": PAN})
        try:
            raise ValueError(f"bad card {PAN}")
        except ValueError:
            log.exception("failed")
    finally:
        request_id_var.reset(token)
    text = captured.getvalue()
    assert PAN not in text
    records = lines(captured)
    assert records[0]["message"] == "direct ************1111"
    assert records[2]["card"] == "************1111"
    assert "************1111" in records[3]["exc_info"]
    assert all(r["request_id"] == "rid-1" for r in records)


def test_third_party_loggers_are_masked_too(captured):
    logging.getLogger("uvicorn.error").error("peer sent %s", PAN)
    assert PAN not in captured.getvalue()
