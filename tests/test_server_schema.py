"""Schemathesis against the central server's own OpenAPI description: generated requests, valid and not, to every
operation, admin ones with the token and device ones signed as a board signs them."""
import secrets
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis import HealthCheck, settings

from tools.server import demo
from tools.server.app import create_app
from tools.server.signing import request_signature
from tools.server.store import Store

TOKEN = "schema-test-token"


def demo_site():
    """The app over the demo site, in a folder removed when the tests end."""
    store = Store(str(Path(FOLDER.name) / "server.db"), demo.SITE_SECRET)
    demo.seed(store)
    return create_app(store, TOKEN)


FOLDER = tempfile.TemporaryDirectory(prefix="multiprise-schema-")
schema = schemathesis.openapi.from_asgi("/openapi.json", demo_site())
UNSIGNED = "0" * 64
# Rules between fields that JSON Schema cannot state, so schema-valid data may be refused with 422: a session
# ending before it starts, a rule's start without its end, a command's outlets and class together.
CROSS_FIELD = {(method, path): [schemathesis.checks.positive_data_acceptance] for method, path in (
    ("POST", "/api/v1/device/sessions"), ("POST", "/api/v1/admin/rules"), ("PATCH", "/api/v1/admin/rules/{rule_id}"),
    ("POST", "/api/v1/admin/commands"))}


@schema.auth()
class Credentials:
    """The admin token on admin operations, the demo strip's signature headers on device operations; left out
    where schemathesis leaves credentials out on purpose (then the server must refuse)."""

    def get(self, case, context):
        return True

    def set(self, case, data, context):
        if case.path.startswith("/api/v1/admin"):
            case.headers["Authorization"] = "Bearer " + TOKEN
        else:
            case.headers.update({"X-Device": demo.DEVICE_ID, "X-Time": str(int(time.time())),
                                 "X-Nonce": secrets.token_hex(8), "X-Signature": UNSIGNED})


class Signature(requests.auth.AuthBase):
    """Signs, over the bytes actually sent, a device request that Credentials gave headers to."""

    def __call__(self, r):
        if r.headers.get("X-Signature") == UNSIGNED:
            body = r.body or b""
            r.headers["X-Signature"] = request_signature(
                demo.DEVICE_SECRET, r.method, urlsplit(r.url).path, r.headers["X-Time"], r.headers["X-Nonce"],
                body.encode() if isinstance(body, str) else body)
        return r


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_server_keeps_its_openapi_promises(case):
    case.call_and_validate(auth=Signature(), excluded_checks=CROSS_FIELD.get((case.method, case.path), []))
