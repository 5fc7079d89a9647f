"""Fixtures for the central server's tests: a throwaway PostgreSQL cluster, a database per test (SQLite or
PostgreSQL), the server in process on a clock of the test's, the server as a real process."""
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from tools.server.process import (PG_BIN, free_port, postgres_cluster, server_process,  # noqa: F401 (imported
                                  wait_for_port)                                          # from here)

ROOT = Path(__file__).resolve().parents[1]
SITE = "site-secret-for-tests"
TOKEN = "admin-token-for-tests"
NEW_YEAR = 1767225600           # 2026-01-01 00:00 UTC, a Thursday


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster of its own (tools/server/process.py): yields a function giving the URL of a fresh
    database."""
    if not PG_BIN:
        pytest.fail("PostgreSQL's server binaries are not installed: `make test` installs them (tools/sysdeps.sh), "
                    "or apt-get install postgresql")
    with postgres_cluster() as new_database:
        yield new_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        return "sqlite:///%s" % (tmp_path / "server.db")
    return request.getfixturevalue("postgres")()


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def transport_for(http):
    def send(method, path, headers, body):
        r = http.request(method, path, headers=headers, content=body)
        return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content

    return send


def in_process(database):
    """For a fixture to yield from: the app in process (Starlette's test client) on `database`, its clock at NEW_YEAR
    until the test moves it; `admin(method, path, body)` calls the admin API, `device(id, power)` creates a device
    and gives a board's client for it."""
    from starlette.testclient import TestClient     # here: the other tests that import this module need none of it

    from tools.server.app import create_app
    from tools.server.client import DeviceClient
    from tools.server.store import Store

    clock = Clock(NEW_YEAR)
    store = Store(database, SITE, ZoneInfo("UTC"), clock)
    with TestClient(create_app(store, TOKEN)) as http:
        def admin(method, path, body=None, token=TOKEN):
            return http.request(method, "/api/v1/admin" + path, json=body,
                                headers={"Authorization": "Bearer " + token} if token else {})

        def device(device_id="strip", power=None):
            r = admin("POST", "/devices", {"id": device_id, **({"power": power} if power else {})})
            assert r.status_code == 201, r.text
            return DeviceClient(transport_for(http), device_id, r.json()["secret"], clock)

        yield SimpleNamespace(store=store, clock=clock, http=http, admin=admin, device=device, db=database)
