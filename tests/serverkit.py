"""Fixtures for the central server's tests: a throwaway PostgreSQL cluster, a database per test (SQLite or
PostgreSQL), the server as a real process."""
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tools.server.process import free_port, server_process, wait_for_port  # noqa: F401 (imported from here)

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster of its own, in a temporary folder on a free port: yields a function giving the URL of a
    fresh database. PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres user."""
    if not PG_BIN:
        pytest.fail("PostgreSQL's server binaries are not installed: `make test` installs them (tools/sysdeps.sh), "
                    "or apt-get install postgresql")
    bindir = Path(PG_BIN[-1]).parent
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="multiprise-pg-"))
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    run = dict(check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    subprocess.run(as_user + [bindir / "initdb", "-D", folder / "data", "-U", "postgres", "-A", "trust", "--no-sync",
                              "-E", "UTF8"], **run)
    subprocess.run(as_user + [bindir / "pg_ctl", "-D", folder / "data", "-l", folder / "log", "-w", "-o",
                              "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" % (port, folder), "start"],
                   **run)
    base = "postgresql+psycopg://postgres@127.0.0.1:%d/" % port

    def new_database():
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect("host=127.0.0.1 port=%d user=postgres dbname=postgres" % port, autocommit=True) as c:
            c.execute("CREATE DATABASE %s" % name)
        return base + name

    try:
        yield new_database
    finally:
        subprocess.run(as_user + [bindir / "pg_ctl", "-D", folder / "data", "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        return "sqlite:///%s" % (tmp_path / "server.db")
    return request.getfixturevalue("postgres")()
