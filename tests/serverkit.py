"""Fixtures for the central server's tests: a throwaway PostgreSQL cluster, a database per test (SQLite or
PostgreSQL), the server as a real process."""
from pathlib import Path

import pytest

from tools.server.process import (PG_BIN, free_port, postgres_cluster, server_process,  # noqa: F401 (imported
                                  wait_for_port)                                          # from here)

ROOT = Path(__file__).resolve().parents[1]


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
