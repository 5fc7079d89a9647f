"""`multiprise server` as a process of its own, on a port of this machine: what the virtual board's console starts
beside the board (`multiprise sim`), and what the tests start."""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from tools.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def wait_for_port(port, proc=None, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout
            if out and out.seekable():  # a log file the process wrote: from its start
                out.seek(0)
            raise RuntimeError("the process ended:\n" + (out.read() if out else ""))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on port %d" % port)


@contextmanager
def server_process(*args, env=None, port=None, output=None):
    """`multiprise server ARGS` on a free port (or on port), as a user starts it; yields (port, process). output: an
    open file for its log; by default a temporary file, which proc.stdout reads (not a pipe: a server that logs
    every request would fill a pipe nobody reads, and stop)."""
    port = port or free_port()
    log = output or tempfile.TemporaryFile("w+")
    proc = subprocess.Popen([sys.executable, "-m", "tools.cli", "server", "--port", str(port), *args], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    if output is None:
        proc.stdout = log  # read from its start
    try:
        wait_for_port(port, proc)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if output is None:
            log.seek(0)  # proc.stdout reads the whole log


@contextmanager
def postgres_cluster():
    """A PostgreSQL cluster of its own, in a temporary folder, on a free port of 127.0.0.1: yields a function giving
    the URL of a fresh database. PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres
    user. Needs PostgreSQL's server binaries (apt-get install postgresql): RuntimeError without them."""
    if not PG_BIN:
        raise RuntimeError("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
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
