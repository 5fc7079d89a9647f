"""The API the boards call, under /api/v1/device: every request signed by the board, every answer signed back."""
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from tools.server import store as errors
from tools.server.schemas import (NONCE, AckIn, AuthorizeIn, AuthorizeOut, CommandsOut, Error,
                                  HeartbeatIn, HeartbeatOut, Ok, SessionIn, SessionOut)
from tools.server.signing import answer_signature, request_signature, same

MAX_SKEW_S = 120
HEADER_FORMS = (("X-Time", r"[0-9]{1,10}"), ("X-Nonce", NONCE[1:-1]), ("X-Signature", r"[0-9a-f]{64}"))
SIGNING = (("X-Device", "the device id"), ("X-Time", "unix time in seconds, within 120 s of the server's"),
           ("X-Nonce", "8-32 characters [0-9a-zA-Z], never used twice"),
           ("X-Signature", "hex HMAC-SHA256(device secret, METHOD\\nPATH\\nX-Time\\nX-Nonce\\nbody)"))
STATUS = {errors.NotFound: 404, errors.Conflict: 409, errors.Invalid: 422}


def _error(status, text, **extra):
    return JSONResponse({"error": text, **extra}, status)


def _check(store, method, path, headers, body):
    """(refusal or None, device id, the device's secret when the answer is to be signed)."""
    device = headers.get("x-device")
    if not device:
        return _error(401, "missing X-Device"), None, None
    secret = store.device_secret(device)
    if secret is None:
        return _error(401, "unknown device"), None, None
    for name, form in HEADER_FORMS:
        if not re.fullmatch(form, headers.get(name, "")):
            return _error(401, "missing or malformed " + name), None, None
    stamp, nonce = headers["x-time"], headers["x-nonce"]
    if not same(request_signature(secret, method, path, stamp, nonce, body), headers["x-signature"]):
        return _error(401, "bad signature"), None, None
    now = store.now()
    if abs(now - int(stamp)) > MAX_SKEW_S:
        return _error(401, "clock skew", time=now), device, secret
    if not store.remember_nonce(device, nonce):
        return _error(401, "replayed nonce"), device, secret
    return None, device, secret


def _describe(exc):
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"][1:]) or str(err["loc"][0])
    return ("%s: %s" % (where, err["msg"].removeprefix("Value error, ")))[:120]


class SignedRoute(APIRoute):
    """Checks the board's signature, timestamp and nonce before the endpoint runs, answers errors as small
    {"error": ...} bodies, and signs the answer with the board's secret and nonce."""

    def get_route_handler(self):
        endpoint = super().get_route_handler()

        async def signed(request: Request):
            store = request.app.state.store
            body = await request.body()
            path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
            answer, device, secret = await run_in_threadpool(_check, store, request.method, path, request.headers,
                                                             body)
            if answer is None:
                request.state.device = device
                try:
                    answer = await endpoint(request)
                except RequestValidationError as e:
                    answer = _error(422, _describe(e))
                except HTTPException as e:
                    answer = _error(e.status_code, str(e.detail))
                except tuple(STATUS) as e:
                    answer = _error(STATUS[type(e)], str(e))
            if secret is not None:
                answer.headers["X-Signature"] = answer_signature(secret, request.headers["x-nonce"],
                                                                 answer.status_code, answer.body)
            return answer

        return signed


def describe_signing(schema):
    """Declare the signature headers as the device operations' security in an OpenAPI description: all four go
    together. SignedRoute checks them; the endpoints never see them."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(
        {name: {"type": "apiKey", "in": "header", "name": name, "description": what} for name, what in SIGNING})
    for path, operations in schema["paths"].items():
        if path.startswith(router.prefix):
            for operation in operations.values():
                operation["security"] = [{name: [] for name, _ in SIGNING}]
    return schema


def this_device(request: Request):
    return request.state.device


Device = Annotated[str, Depends(this_device)]

router = APIRouter(prefix="/api/v1/device", tags=["device"], route_class=SignedRoute,
                   responses={400: {"model": Error, "description": "a body that is not JSON"},
                              401: {"model": Error, "description": "refused: the error says why"},
                              422: {"model": Error, "description": "a field is missing or wrong"}})


@router.post("/authorize", response_model=AuthorizeOut)
def authorize(body: AuthorizeIn, device: Device, request: Request):
    """May this badge power outlets of this device now? Which ones, for how long."""
    decision, name = request.app.state.store.authorize(device, body.badge)
    return AuthorizeOut(allow=decision.allow, outlets=decision.outlets, seconds=decision.seconds,
                        name=name, reason=decision.reason)


@router.post("/sessions", response_model=SessionOut, responses={409: {"model": Error}})
def session(body: SessionIn, device: Device, request: Request):
    """A finished session; sending it again (same id and content) is harmless."""
    return SessionOut(ok=True, duplicate=request.app.state.store.record_session(device, body))


@router.get("/commands", response_model=CommandsOut, response_model_by_alias=True)
def commands(device: Device, request: Request):
    """Commands not yet acknowledged, oldest first, at most 8."""
    return CommandsOut(commands=request.app.state.store.pending_commands(device))


@router.post("/commands/{command_id}/ack", response_model=Ok, responses={404: {"model": Error}})
def ack(command_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: AckIn, device: Device, request: Request):
    """The board carried out (ok) or refused a command."""
    request.app.state.store.ack(device, command_id, body.ok, body.result)
    return Ok(ok=True)


@router.post("/heartbeat", response_model=HeartbeatOut)
def heartbeat(body: HeartbeatIn, device: Device, request: Request):
    """The board's state; the answer carries the server's time."""
    return HeartbeatOut(ok=True, time=request.app.state.store.heartbeat(device, body))
