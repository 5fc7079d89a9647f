"""Fixtures for the central server's tests: a throwaway PostgreSQL cluster, a database per test (SQLite or
PostgreSQL), the server as a real process."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
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
        pytest.skip("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
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


class Relay:
    """A TCP relay in front of a server on this machine (a man in the middle): `requests` gets what each connection
    sent, whole, once it is done; `report` (an Event) is set when a session report starts going through."""

    def __init__(self, target):
        self.target, self.requests, self.report = target, [], threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                board, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(board,), daemon=True).start()

    def _serve(self, board):
        try:
            server = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            board.close()
            return
        threading.Thread(target=self._pipe, args=(server, board, None), daemon=True).start()
        self._pipe(board, server, bytearray())

    def _pipe(self, src, dst, record):
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if record is not None:
                    if not record and data.startswith(b"POST /api/v1/device/sessions "):
                        self.report.set()
                    record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if record:
                self.requests.append(bytes(record))
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()
