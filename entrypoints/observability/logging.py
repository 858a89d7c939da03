"""Structured JSON logs, each record tagged with the request id, card numbers masked.

The masking filter sits on every handler Bursar installs, so it sees records from every
library (uvicorn, litestar, psycopg...) and not only Bursar's own loggers. It masks any run of
13 to 19 digits that passes the Luhn check, in the message, its arguments, extra fields and
formatted tracebacks, keeping only the last four digits.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_CANDIDATE = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_pans(text: str) -> str:
    """Replace every Luhn-valid 13-19 digit number with asterisks and its last four digits."""
    if len(text) < 13:
        return text
    return _CANDIDATE.sub(lambda m: "*" * (len(m[0]) - 4) + m[0][-4:] if luhn_valid(m[0]) else m[0], text)


class PanMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_pans(message)
        if masked is not message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info:
            record.exc_text = mask_pans(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_pans(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pans(record.stack_info)
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of the message
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, mask_pans(value))
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO", *, service: str, stream=None) -> None:
    """Send every log record to ``stream`` (stderr) as one JSON object per line."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
            timestamp=False,
        )
    )
    install_filters(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # Bursar logs each request itself
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per outgoing call is noise


def install_filters(handler: logging.Handler) -> None:
    handler.addFilter(RequestIdFilter())
    handler.addFilter(PanMaskingFilter())
