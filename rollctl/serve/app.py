"""The HTTP face of `rollctl serve` (Starlette): what rollout controllers ask, and what they get back.

Routes:
- `GET /healthz`: liveness, no token needed, no work done.
- `GET /v1/decide?plan=NAME&stage=S`: the `decide --json` object (200), whatever the verdict: a controller
  reads `verdict`. Argo Rollouts' web metric does exactly this (see `deploy/argo/`): GO is its success
  condition, ROLLBACK its failure condition, and HOLD matches neither, so the measurement is inconclusive
  and the rollout pauses instead of aborting.
- `POST /v1/flagger/confirm-promotion` and `POST /v1/flagger/rollback`: Flagger's webhooks. Flagger acts on
  the status only: 200 approves the promotion (GO) or triggers the rollback (ROLLBACK); any other verdict
  answers 412, which Flagger reads as "not now". The canary is mapped to a plan by `metadata.plan` in the
  webhook's payload, else by `namespace/name`, else by `name`.

Errors are the `--json` error object with a 4xx status: 400 a bad request (an unknown stage, a payload that
is not Flagger's), 401 a missing or wrong bearer token, 404 an unknown plan, 422 inputs that cannot be
decided on (the message names the file and the fix, as on the command line), 503 when the sources cannot be
read and no earlier verdict exists. Access logs are one JSON object per line on stderr with the route, the
plan, the stage, the status, the verdict, the cache outcome and the time taken: never trace content, never
the query string as sent, never the token.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rollctl.errors import RollctlError, UsageError
from rollctl.render.jsonout import error_code, error_object
from rollctl.serve.decisions import Answer, DecisionService, encode

ACCESS_LOG = logging.getLogger("rollctl.serve.access")
MAX_WEBHOOK_BYTES = 64 * 1024
"""Flagger's payloads are a few hundred bytes; anything far bigger is not Flagger's."""


def _json(body: dict[str, Any] | str, status: int, headers: dict[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else encode(body)
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def _error(status: int, exc: RollctlError) -> Response:
    return _json(error_object(error_code(exc), exc.one_line(), exc), status)


def _status_for(exc: RollctlError) -> int:
    if isinstance(exc, UsageError):
        return 404 if exc.field == "plan" else 400
    return 422


def _answer_headers(answer: Answer) -> dict[str, str]:
    age = max(time.monotonic() - answer.computed_at, 0.0)
    return {"X-Rollctl-Cache": answer.cache, "Age": str(int(age))}


def create_app(service: DecisionService, *, token: str | None = None) -> Starlette:
    """The ASGI application; `token`: the bearer token every route but /healthz requires (None: none)."""

    def authorised(request: Request) -> bool:
        if token is None:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())

    async def answer_for(plan: str, stage: str | None) -> Answer:
        """A cache hit on the event loop; a computation (seconds of DuckDB) on a worker thread."""
        hit = service.cached(plan, stage)
        if hit is not None:
            return hit
        answer: Answer = await run_in_threadpool(service.verdict, plan, stage)
        return answer

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok", "plans": sorted(service.plans)}, 200)

    async def decide(request: Request) -> Response:
        plan = request.query_params.get("plan")
        if plan is None:
            return _error(400, UsageError("the plan is missing", field="plan",
                                          fix="ask /v1/decide?plan=NAME; known plans: "
                                              + ", ".join(sorted(service.plans))))
        request.state.plan = plan if plan in service.plans else None
        stage = request.query_params.get("stage")
        try:
            answer = await answer_for(plan, stage)
        except RollctlError as exc:
            return _error(_status_for(exc), exc)
        request.state.stage = stage
        request.state.verdict = answer.body.get("verdict")
        request.state.cache = answer.cache
        return _json(answer.text, 200, _answer_headers(answer))

    async def flagger(request: Request, wanted: str) -> Response:
        raw = await request.body()
        try:
            if len(raw) > MAX_WEBHOOK_BYTES:
                raise ValueError
            payload = json.loads(raw)
            if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
                raise ValueError
        except ValueError:
            return _error(400, UsageError("the body is not a Flagger webhook payload", field="body",
                                          fix="send Flagger's JSON: {name, namespace, phase, metadata}"))
        given = payload.get("metadata")
        metadata: dict[str, Any] = given if isinstance(given, dict) else {}
        name, namespace = payload["name"], payload.get("namespace")
        candidates = [metadata.get("plan"), f"{namespace}/{name}" if isinstance(namespace, str) else None, name]
        plan = next((c for c in candidates if isinstance(c, str) and c in service.plans), None)
        if plan is None:
            return _error(404, UsageError(f"no plan for canary {name!r}", field="plan",
                                          fix="name the plan in the webhook's metadata (plan: NAME), or serve a "
                                              "plan named after the canary; known plans: "
                                              + ", ".join(sorted(service.plans))))
        request.state.plan = plan
        stage = metadata.get("stage")
        try:
            stage_text = None if stage is None else str(stage)
            answer = await answer_for(plan, stage_text)
        except RollctlError as exc:
            return _error(_status_for(exc), exc)
        verdict = answer.body.get("verdict")
        request.state.stage = stage
        request.state.verdict = verdict
        request.state.cache = answer.cache
        return _json(answer.text, 200 if verdict == wanted else 412, _answer_headers(answer))

    async def confirm_promotion(request: Request) -> Response:
        return await flagger(request, "go")

    async def rollback(request: Request) -> Response:
        return await flagger(request, "rollback")

    async def access_log_and_token(request: Request, call_next: RequestResponseEndpoint) -> Response:
        start = time.perf_counter()
        if request.url.path != "/healthz" and not authorised(request):
            response: Response = _error(401, UsageError("a bearer token is required", field="authorization",
                                                        fix="send Authorization: Bearer TOKEN"))
            response.headers["WWW-Authenticate"] = "Bearer"
        else:
            response = await call_next(request)
        state = request.state
        ACCESS_LOG.info(json.dumps({
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": request.method,
            "route": request.url.path if request.url.path in KNOWN_ROUTES else "(unknown)",
            "status": response.status_code,
            "plan": getattr(state, "plan", None),
            "stage": _loggable_stage(getattr(state, "stage", None)),
            "verdict": getattr(state, "verdict", None),
            "cache": getattr(state, "cache", None),
            "ms": round((time.perf_counter() - start) * 1000, 2),
        }))
        return response

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/v1/decide", decide, methods=["GET"]),
            Route("/v1/flagger/confirm-promotion", confirm_promotion, methods=["POST"]),
            Route("/v1/flagger/rollback", rollback, methods=["POST"]),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=access_log_and_token)],
    )


KNOWN_ROUTES = frozenset({"/healthz", "/v1/decide", "/v1/flagger/confirm-promotion", "/v1/flagger/rollback"})


def _loggable_stage(stage: Any) -> float | None:
    """A stage as a number (a stage that is not one never reaches the log as text)."""
    try:
        value = float(stage)
    except (TypeError, ValueError):
        return None
    return value if value == value else None
