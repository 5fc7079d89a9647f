"""The web application: the device and admin APIs on one FastAPI app, with its OpenAPI description."""
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match

from tools.server import admin_api, device_api
from tools.server.store import Conflict, Invalid, NotFound


def create_app(store, admin_token=None):
    """The app over `store` (a Store). Without `admin_token` the admin API refuses every request."""
    app = FastAPI(title="multiprise central server", version="1",
                  description="Badges, authorization rules, sessions and statistics, remote commands for multiprise "
                              "power strips. Device requests and answers are signed: see the README, Central server.")
    app.state.store = store
    app.state.admin_token = admin_token
    app.include_router(device_api.router)
    app.include_router(admin_api.router)
    app.openapi_schema = device_api.describe_signing(FastAPI.openapi(app))
    app.add_exception_handler(NotFound, lambda _request, e: JSONResponse({"detail": str(e)}, 404))
    app.add_exception_handler(Conflict, lambda _request, e: JSONResponse({"detail": str(e)}, 409))
    # the same shape as FastAPI's own 422 answers
    app.add_exception_handler(Invalid, lambda _request, e: JSONResponse(
        {"detail": [{"type": "value_error", "loc": ["body"], "msg": str(e)}]}, 422))

    @app.middleware("http")
    async def allow_header(request: Request, call_next):
        """A 405 answer lists every method of the path (HTTP says so), not only those of the route that matched."""
        response = await call_next(request)
        if response.status_code == 405:
            methods = set()
            for route in app.routes:
                if route.matches(request.scope)[0] != Match.NONE:
                    methods.update(getattr(route, "methods", ()))
            response.headers["Allow"] = ", ".join(sorted(methods))
        return response

    return app
