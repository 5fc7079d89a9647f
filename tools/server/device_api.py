"""The API the boards call, under /api/v1/device: every request signed by the board, every answer signed back.

The routes below are FastAPI's, for the OpenAPI description, but DeviceAPI serves them: the boards' requests go
through no framework machinery, and an endpoint written `async def` runs on the event loop (it only reads memory),
while a plain `def` one runs off it."""
import asyncio
import inspect
import json
import re
import typing
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import TypeAdapter, ValidationError
from starlette.routing import Match

from tools.server import store as errors
from tools.server.ledger import Busy
from tools.server.schemas import (NONCE, AckIn, AuthorizeIn, AuthorizeOut, CommandsOut, Error,
                                  HeartbeatIn, HeartbeatOut, Ok, SessionIn, SessionOut)
from tools.server.signing import answer_signature, request_signature, same

PREFIX = "/api/v1/device"
BODY_MAX = 16 * 1024        # a board's largest request is some 1 KB (a heartbeat with 8 outlets metered)
BODY_S = 5                  # the whole body within this, once the headers are in
MAX_SKEW_S = 120
HEADER_FORMS = (("x-time", "X-Time", re.compile(r"[0-9]{1,10}")), ("x-nonce", "X-Nonce", re.compile(NONCE[1:-1])),
                ("x-signature", "X-Signature", re.compile(r"[0-9a-f]{64}")))
SIGNING = (("X-Device", "the device id"), ("X-Time", "unix time in seconds, within 120 s of the server's"),
           ("X-Nonce", "8-32 characters [0-9a-zA-Z], never used twice"),
           ("X-Signature", "hex HMAC-SHA256(device secret, METHOD\\nPATH\\nX-Time\\nX-Nonce\\nbody)"))
STATUS = {errors.NotFound: 404, errors.Conflict: 409, errors.Invalid: 422}


class Refused(Exception):
    """A request refused before its body is read whole: too large, too slow, or with a query string."""

    def __init__(self, status, text):
        super().__init__(text)
        self.status = status


async def read_body(scope, receive, limit, seconds=BODY_S):
    """The request's body, refused (413) past `limit` bytes, announced or counted as it comes (chunked bodies too),
    or when it has not all come within `seconds` (408)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise Refused(413, "body over %d bytes" % limit)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise Refused(400, "the client left")
                size += len(message.get("body", b""))
                if size > limit:
                    raise Refused(413, "body over %d bytes" % limit)
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    return b"".join(chunks)
    except TimeoutError:
        raise Refused(408, "body not sent within %d s" % seconds) from None


async def answer(send, status, body, headers=()):
    """Send a whole answer; one that refuses a body unread also closes the connection (the rest is never read)."""
    head = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers]
    if status in (400, 408, 413):
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def _json(status, text, **extra):
    return status, json.dumps({"error": text, **extra}, separators=(",", ":")).encode()


def _check(store, wait, method, path, headers, body):
    """(refusal (status, body) or None, device id, the device's secret when the answer is to be signed)."""
    device = headers.get("x-device")
    if not device:
        return _json(401, "missing X-Device"), None, None
    secret = store.device_secret(device, wait)
    if secret is None:
        return _json(401, "unknown device"), None, None
    for key, name, form in HEADER_FORMS:
        if not form.fullmatch(headers.get(key, "")):
            return _json(401, "missing or malformed " + name), None, None
    stamp, nonce = headers["x-time"], headers["x-nonce"]
    if not same(request_signature(secret, method, path, stamp, nonce, body), headers["x-signature"]):
        return _json(401, "bad signature"), None, None
    now = store.now()
    if abs(now - int(stamp)) > MAX_SKEW_S:
        return _json(401, "clock skew", time=now), device, secret
    if not store.remember_nonce(device, nonce, wait):
        return _json(401, "replayed nonce"), device, secret
    return None, device, secret


def _not_json(constant):
    """NaN, Infinity and -Infinity, which Python's json module reads but JSON does not have, are refused."""
    raise ValueError(constant)


def _describe(e, where=None):
    err = e.errors()[0]
    where = ".".join(str(part) for part in ((where,) if where else ()) + tuple(err["loc"])) or "body"
    return ("%s: %s" % (where, err["msg"].removeprefix("Value error, ")))[:120]


class _Operation:
    """A device route as DeviceAPI calls it: its endpoint, how its path parameters and body are checked."""

    def __init__(self, route):
        self.route, self.endpoint = route, route.endpoint
        hints = typing.get_type_hints(route.endpoint, include_extras=True)
        self.body = hints.get("body")
        self.params = {name: TypeAdapter(hints[name]) for name in route.param_convertors}
        self.on_loop = inspect.iscoroutinefunction(route.endpoint)
        self.wants_time = "sent" in hints

    async def __call__(self, store, device, sent, params, body):
        """(status, answer body). `sent`: the request's X-Time."""
        kwargs = {"device": device, "store": store, **({"sent": sent} if self.wants_time else {})}
        try:
            for name, adapter in self.params.items():
                try:
                    kwargs[name] = adapter.validate_python(params[name])
                except ValidationError as e:
                    return _json(422, _describe(e, name))
            if self.body is not None:
                try:
                    kwargs["body"] = self.body.model_validate(json.loads(body, parse_constant=_not_json)
                                                              if body else None)
                except ValueError as e:     # not JSON, or not valid (pydantic's ValidationError is a ValueError)
                    return _json(422, _describe(e) if isinstance(e, ValidationError) else "body: not JSON")
            if self.on_loop:
                result = await self.endpoint(**kwargs)
            else:
                result = await asyncio.get_running_loop().run_in_executor(None, partial(self.endpoint, **kwargs))
        except tuple(STATUS) as e:
            return _json(STATUS[type(e)], str(e))
        return 200, result.model_dump_json(by_alias=True).encode()


class DeviceAPI:
    """Serves the device routes: checks the board's signature, timestamp and nonce before the endpoint runs, answers
    errors as small {"error": ...} bodies, and signs the answer with the board's secret and nonce."""

    def __init__(self, store, body_s=BODY_S):
        self.store, self.body_s = store, body_s
        self.operations = [_Operation(route) for route in router.routes]

    async def __call__(self, scope, receive, send):
        """Serve the request and return True, or return False for a path or method that is none of the device
        routes (the app answers 404 or 405)."""
        for operation in self.operations:
            match, child = operation.route.matches(scope)
            if match == Match.FULL:
                break
        else:
            return False
        try:
            if scope["query_string"]:
                raise Refused(400, "a query string is not signed: none is allowed")
            body = await read_body(scope, receive, BODY_MAX, self.body_s)
        except Refused as e:
            await answer(send, *_json(e.status, str(e)))
            return True
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        request, checked = (scope["method"], path, headers, body), None
        if self.store.ledger.inline:
            try:
                checked = _check(self.store, False, *request)
            except Busy:
                pass    # another writer holds the database: asked again off the loop, where it may wait
        if checked is None:
            checked = await asyncio.get_running_loop().run_in_executor(
                self.store.ledger.off_loop, partial(_check, self.store, True, *request))
        refusal, device, secret = checked
        status, out = refusal or await operation(self.store, device, int(headers["x-time"]), child["path_params"],
                                                 body)
        signed = () if secret is None else (
            (b"x-signature", answer_signature(secret, headers["x-nonce"], status, out).encode()),)
        await answer(send, status, out, signed)
        return True


def describe_signing(schema):
    """Declare the signature headers as the device operations' security in an OpenAPI description: all four go
    together. DeviceAPI checks them; the endpoints never see them."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(
        {name: {"type": "apiKey", "in": "header", "name": name, "description": what} for name, what in SIGNING})
    for path, operations in schema["paths"].items():
        if path.startswith(router.prefix):
            for operation in operations.values():
                operation["security"] = [{name: [] for name, _ in SIGNING}]
    return schema


def this_device(request: Request):
    """Declared for the description only: DeviceAPI passes the device whose signature it checked."""
    return request.state.device


def this_store(request: Request):
    return request.app.state.store


def this_time(request: Request):
    """Declared for the description only: DeviceAPI passes the request's X-Time to an endpoint that asks for it."""
    return request.state.sent


Device = Annotated[str, Depends(this_device)]
Sent = Annotated[int, Depends(this_time)]
Store = Annotated[object, Depends(this_store)]

router = APIRouter(prefix=PREFIX, tags=["device"],
                   responses={400: {"model": Error, "description": "a body that is not JSON"},
                              401: {"model": Error, "description": "refused: the error says why"},
                              408: {"model": Error, "description": "the body did not come in time"},
                              413: {"model": Error, "description": "a body over 16 KB"},
                              422: {"model": Error, "description": "a field is missing or wrong"}})


@router.post("/authorize", response_model=AuthorizeOut)
async def authorize(body: AuthorizeIn, device: Device, store: Store):
    """May this badge power outlets of this device now? Which ones, for how long."""
    decision, name = store.authorize(device, body.badge)
    return AuthorizeOut(allow=decision.allow, outlets=decision.outlets, seconds=decision.seconds,
                        name=name, reason=decision.reason)


@router.post("/sessions", response_model=SessionOut, responses={409: {"model": Error}})
def session(body: SessionIn, device: Device, store: Store):
    """A finished session; sending it again (same id and content) is harmless."""
    return SessionOut(ok=True, duplicate=store.record_session(device, body))


@router.get("/commands", response_model=CommandsOut, response_model_by_alias=True)
def commands(device: Device, store: Store):
    """Commands not yet acknowledged, oldest first, at most 8."""
    return CommandsOut(commands=store.pending_commands(device))


@router.post("/commands/{command_id}/ack", response_model=Ok, responses={404: {"model": Error}})
def ack(command_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: AckIn, device: Device, store: Store):
    """The board carried out (ok) or refused a command."""
    store.ack(device, command_id, body.ok, body.result)
    return Ok(ok=True)


@router.post("/heartbeat", response_model=HeartbeatOut)
def heartbeat(body: HeartbeatIn, device: Device, sent: Sent, store: Store):
    """The board's state; the answer carries the server's time."""
    return HeartbeatOut(ok=True, time=store.heartbeat(device, body, sent))
