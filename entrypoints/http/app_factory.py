"""What both HTTP apps share: health probes, OpenAPI, problem+json, auth, request context."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.exceptions import SerializationException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Response

from entrypoints.http.middleware import RequestContextMiddleware
from entrypoints.http.problems import ApiError, make_exception_handler
from entrypoints.http.security import PUBLIC, Authenticator, authorize

ReadinessCheck = Callable[[], Awaitable[None]]
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@get("/healthz", opt=PUBLIC, tags=["health"], summary="Liveness: the process serves requests")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", opt=PUBLIC, tags=["health"], summary="Readiness: every dependency answers")
async def readyz(state: State) -> Response[dict[str, Any]]:
    checks: dict[str, ReadinessCheck] = state.readiness
    results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    ready = all(result == "ok" for result in report.values())
    return Response({"status": "ready" if ready else "not_ready", "checks": report}, status_code=200 if ready else 503)


async def _run_check(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), timeout=3)
    except Exception as exc:  # readiness reports, it never raises
        return f"error: {type(exc).__name__}"
    return "ok"


async def admit(request: Request) -> None:
    """Every matched route's first step (litestar's app-wide ``before_request``, which runs before
    the body or any parameter is read): authorize the caller, then refuse a body that is not JSON.

    Authorization runs here rather than as a litestar guard: litestar hands each guard a copy of
    the route handler, made on every request, which cost more than the rest of authorization."""
    await authorize(request, request.route_handler)
    await require_json_body(request)


async def require_json_body(request: Request) -> None:
    """415 for a body that is not JSON: every Bursar API speaks JSON only."""
    if request.method not in _BODY_METHODS:
        return
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > request.app.request_max_body_size:  # type: ignore[operator]
        raise ApiError(413, "payload_too_large", f"request bodies are limited to {request.app.request_max_body_size} bytes")
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if not has_body:
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the request body as application/json")


_decoders: dict[Any, msgspec.json.Decoder | None] = {}


def _body_decoder(handler: Any) -> msgspec.json.Decoder | None:
    """A strict decoder for the type a route declares for its JSON body (its ``data``
    parameter), built once per route: building one per request costs more than decoding."""
    key = handler.fn  # the route's function: the same for every copy of the handler, never reused
    if key not in _decoders:
        field = handler.parsed_fn_signature.parameters.get("data")
        _decoders[key] = None if field is None else msgspec.json.Decoder(field.raw, strict=True)
    return _decoders[key]


class StrictJSONRequest(Request):
    """Decodes a JSON body straight into the route's declared type with msgspec's strict mode.

    litestar decodes the body to Python objects and then converts them leniently (strict=False,
    since query strings need it), so the JSON string "10" or the number 1.0 passed for an
    integer, or "true" for a boolean. Strict decoding refuses them: a 400 validation_error naming
    the field, raised before the handler runs, so nothing is written. The typed value then passes
    litestar's own conversion unchanged (and decoding once into structs is faster too).
    """

    async def json(self) -> Any:
        decoder = _body_decoder(self.route_handler)
        if decoder is None:
            return await super().json()
        body = await self.body()
        try:
            return decoder.decode(body or b"null")
        except msgspec.ValidationError as exc:
            message, _, where = str(exc).partition(" - at `")
            field = where.rstrip("`").removeprefix("$").removeprefix(".") or "$"
            raise ValidationException(
                detail="invalid request body", extra=[{"key": field, "message": message, "source": "body"}]
            ) from exc
        except msgspec.DecodeError as exc:
            raise SerializationException(str(exc)) from exc


def build_app(
    *,
    title: str,
    description: str,
    route_handlers: Sequence[Any],
    authenticator: Authenticator,
    readiness: dict[str, ReadinessCheck],
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]],
    max_body_bytes: int,
    status_overrides: dict[str, int] | None = None,
    state: dict[str, Any] | None = None,
) -> Litestar:
    app = Litestar(
        route_handlers=[healthz, readyz, *route_handlers],
        before_request=admit,  # no route sets its own: it would replace this one
        request_class=StrictJSONRequest,
        exception_handlers={Exception: make_exception_handler(status_overrides)},
        lifespan=list(lifespan),
        request_max_body_size=max_body_bytes,
        state=State({"authenticator": authenticator, "readiness": readiness, **(state or {})}),
        openapi_config=OpenAPIConfig(
            title=title,
            version="1",
            description=description,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={"apiKey": SecurityScheme(type="http", scheme="bearer", description="Bursar API key")}
            ),
            security=[{"apiKey": []}],
        ),
        debug=False,
        logging_config=None,  # logging is configured once per process (entrypoints.observability)
    )
    _check_every_route_admits(app)
    # Outermost, so that requests refused while routing (404, 405) get a request id and an
    # access-log line too; litestar applies app-level middleware only to matched routes.
    app.asgi_handler = RequestContextMiddleware(app.asgi_handler)
    return app




def _check_every_route_admits(app: Litestar) -> None:
    """Deny by default depends on ``admit`` running first on every route: litestar lets a route or
    controller set a ``before_request`` of its own, which would replace it. Refuse to build such an app."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.resolve_before_request() is not admit:
                raise RuntimeError(f"{route.path}: its before_request replaces the app's authorization")
