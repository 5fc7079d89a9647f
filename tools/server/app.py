"""The web application: the device and admin APIs on one FastAPI app, with its OpenAPI description, behind a front
that serves the boards' requests directly and refuses what should not reach the app."""
import json

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.routing import Match

from tools.server import admin_api, dashboard, device_api
from tools.server.device_api import Refused, answer, read_body
from tools.server.store import Conflict, Invalid, NotFound


class Front:
    """What every request meets first, as plain ASGI: the device routes served by device_api.DeviceAPI; on the admin
    API the token checked before the body is read, and the body refused past its limit; a 405 answer made to list
    every method of its path (HTTP says so), not only those of the route that matched. Other bodies are held to the
    device API's limit."""

    def __init__(self, app, store, body_s):
        self.app, self.devices, self.body_s = app, device_api.DeviceAPI(store, body_s), body_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.startswith(device_api.PREFIX + "/") and await self.devices(scope, receive, send):
            return
        admin = path.startswith(admin_api.PREFIX + "/")
        try:
            if admin:
                header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
                why = admin_api.refusal(self.app.state.admin_token, header)
                if why:
                    raise Refused(401, why)
            body = await read_body(scope, receive, admin_api.BODY_MAX if admin else device_api.BODY_MAX, self.body_s)
        except Refused as e:
            extra = [(b"www-authenticate", b"Bearer")] if e.status == 401 else []
            await answer(send, e.status, json.dumps({"detail": str(e)}).encode(), extra)
            return
        await self.app(scope, _replay(body, receive), self._allow(scope, send))

    def _allow(self, scope, send):
        async def allow(message):
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = set()
                for route in self.app.routes:
                    if route.matches(scope)[0] != Match.NONE:
                        methods.update(getattr(route, "methods", ()))
                message["headers"] = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"] + [
                    (b"allow", ", ".join(sorted(methods)).encode())]
            await send(message)

        return allow


def _replay(body, receive):
    """A receive() that gives the body already read, then waits as the server's does (for the client to leave)."""
    given = False

    async def replay():
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def create_app(store, admin_token=None, body_s=device_api.BODY_S):
    """The app over `store` (a Store). Without `admin_token` the admin API refuses every request. A request's body
    must come whole within `body_s` seconds."""
    # /docs loads Swagger UI from the server itself (a pinned package's files), not a CDN: it works on a LAN without
    # internet. No /redoc: ReDoc's script loads its logo from its maker's site.
    app = FastAPIOffline(title="multiprise central server", version="1", static_url="/static/docs", redoc_url=None,
                         description="Badges, authorization rules, sessions and statistics, remote commands for "
                                     "multiprise power strips. Device requests and answers are signed: see "
                                     "docs/server.md and docs/protocol.md. The site's dashboard: /dashboard.")
    app.state.store = store
    app.state.admin_token = admin_token
    app.include_router(device_api.router)
    app.include_router(admin_api.router)
    dashboard.install(app)
    app.openapi_schema = device_api.describe_signing(FastAPI.openapi(app))
    app.add_exception_handler(NotFound, lambda _request, e: JSONResponse({"detail": str(e)}, 404))
    app.add_exception_handler(Conflict, lambda _request, e: JSONResponse({"detail": str(e)}, 409))
    # the same shape as FastAPI's own 422 answers
    app.add_exception_handler(Invalid, lambda _request, e: JSONResponse(
        {"detail": [{"type": "value_error", "loc": ["body"], "msg": str(e)}]}, 422))
    return Front(app, store, body_s)
