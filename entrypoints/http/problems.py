"""Every error leaves an app as RFC 9457 ``application/problem+json`` with a stable ``code``.

One exception handler per app turns whatever was raised into a problem: domain errors (their
``code``), litestar's HTTP errors (validation, 401, 403, 404, 405, 413...) and anything else
(500, with no internal detail: the traceback goes to the log, tagged with the request id).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound, Unavailable
from vault.errors import VaultError
from entrypoints.observability.logging import request_id_var

log = logging.getLogger("bursar.http")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://bursar.dev/problems/"

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not permitted"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
    503: ("service_unavailable", "Service unavailable"),
}


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    field: str
    message: str
    source: str = "body"


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    errors: list[FieldError] | None = None


class ApiError(HTTPException):
    """An HTTP error with a Bursar code, raised by the edge itself (auth, media type, idempotency)."""

    def __init__(self, status_code: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail=detail, status_code=status_code, headers=headers)
        self.code = code


def problem_response(status: int, code: str, title: str, detail: str, *, errors=None, headers=None) -> Response:
    body = Problem(
        type=TYPE_BASE + code.replace("_", "-"),
        title=title,
        status=status,
        detail=detail,
        code=code,
        request_id=request_id_var.get(),
        errors=errors,
    )
    return Response(
        content=msgspec.json.encode(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def domain_status(exc: DomainError, overrides: dict[str, int]) -> int:
    if exc.code in overrides:
        return overrides[exc.code]
    if isinstance(exc, Unavailable):
        return 503
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, InvalidInput):
        return 400
    return 422


def _validation_errors(extra: Any) -> list[FieldError]:
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, dict):
            errors.append(
                FieldError(
                    field=str(item.get("key") or "$"),
                    message=str(item.get("message", "invalid")),
                    source=str(item.get("source") or "body"),
                )
            )
    return errors


def make_exception_handler(status_overrides: dict[str, int] | None = None):
    overrides = status_overrides or {}

    def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DomainError):
            status = domain_status(exc, overrides)
            return problem_response(status, exc.code, exc.code.replace("_", " ").capitalize(), exc.message)
        if isinstance(exc, VaultError):
            return problem_response(
                exc.status, exc.code, exc.code.replace("_", " ").capitalize(), exc.message, headers=exc.headers
            )
        if isinstance(exc, ApiError):
            title = _HTTP_CODES.get(exc.status_code, ("", exc.code))[1]
            return problem_response(exc.status_code, exc.code, title, exc.detail, headers=exc.headers)
        if isinstance(exc.__cause__, SerializationException) or isinstance(exc, SerializationException):
            return problem_response(400, "malformed_json", "Malformed JSON", f"the request body is not valid JSON ({exc.__cause__ or exc})")
        if isinstance(exc, ValidationException):
            errors = _validation_errors(exc.extra)
            detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or exc.detail
            return problem_response(400, "validation_error", "Invalid request", detail, errors=errors or None)
        if isinstance(exc, HTTPException) and exc.status_code < 500:
            code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "Request refused"))
            detail = exc.detail if exc.detail and exc.detail != title else title
            return problem_response(exc.status_code, code, title, detail, headers=exc.headers)
        if isinstance(exc, HTTPException) and exc.status_code == 503:
            return problem_response(503, "service_unavailable", "Service unavailable", exc.detail)
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "internal_error", "Internal error", "an internal error occurred; quote the request id")

    return handle
