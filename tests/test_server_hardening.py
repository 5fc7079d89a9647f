"""The server against clients that misbehave, a real process over TCP: bodies too large (announced, streamed or
chunked), a wrong admin token with a body behind it, slow headers, a body promised and not sent, too many
connections, a query string on a signed route; and its files and secrets: the database 0600, secrets from variables
and files, the site secret's length and its slow check value."""
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from serverkit import ROOT, server_process
from tools.server import demo
from tools.server.client import DeviceClient, http_transport
from tools.server.signing import badge_hash
from tools.server.store import Conflict, Store, site_check

ALICE = badge_hash(demo.SITE_SECRET, demo.BADGES[0].uid)
DEVICE = "/api/v1/device/authorize"
ADMIN = "/api/v1/admin/devices"


@pytest.fixture
def site(tmp_path):
    with server_process("--db", str(tmp_path / "server.db"), "--demo") as (port, proc):
        yield port, proc


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def answer_of(s):
    """The whole answer, read until the server closes the connection."""
    got = b""
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            return got
        if not data:
            return got
        got += data


def status_of(answer):
    return int(answer.split(b" ", 2)[1])


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def head(path, *lines):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, "".join(line + "\r\n" for line in lines))).encode()


@pytest.mark.parametrize("path, limit, auth", [(DEVICE, 16 * 1024, ()),
                                               (ADMIN, 256 * 1024, ("Authorization: Bearer " + demo.ADMIN_TOKEN,)),
                                               ("/api/v1/device/nothing", 16 * 1024, ()), ("/docs", 16 * 1024, ())])
def test_a_body_over_the_limit_is_refused_before_it_is_read(site, path, limit, auth):
    port, proc = site
    before = rss_kb(proc.pid)
    # announced: answered at once, the body never sent
    with connect(port) as s:
        s.sendall(head(path, "Content-Length: 1000000000", "Content-Type: application/json", *auth))
        assert status_of(answer_of(s)) == 413
    # announced and streamed: the server answers and closes long before 200 MB have gone
    with connect(port) as s:
        s.sendall(head(path, "Content-Length: 200000000", "Content-Type: application/json", *auth))
        sent, chunk = 0, b"x" * 65536
        try:
            while sent < 200_000_000:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 50_000_000
    # chunked: counted as it comes
    with connect(port) as s:
        s.sendall(head(path, "Transfer-Encoding: chunked", "Content-Type: application/json", *auth))
        try:
            for _ in range(limit // 4096 + 2):
                s.sendall(b"1000\r\n" + b"y" * 4096 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert status_of(answer_of(s)) == 413
    assert rss_kb(proc.pid) - before < 30_000
    board = DeviceClient(http_transport("127.0.0.1", port), demo.DEVICE_ID, demo.DEVICE_SECRET)
    assert board.authorize(ALICE)[1]["allow"] is True        # and it serves on


def test_the_admin_token_is_checked_before_the_body_is_read(site):
    port, _ = site
    for auth in ((), ("Authorization: Bearer wrong-token",)):
        with connect(port) as s:
            s.sendall(head(ADMIN, "Content-Length: 100000", "Content-Type: application/json", *auth))
            answer = answer_of(s)       # the body never comes: only a refusal made before reading it can arrive
            assert status_of(answer) == 401 and b"www-authenticate: Bearer" in answer


def test_slow_headers_and_a_missing_body_are_cut_off(site):
    port, _ = site
    request = head(DEVICE, "X-Device: demo-strip", "Content-Length: 2", "Content-Type: application/json") + b"{}"
    with connect(port) as s:
        sent, closed = 0, False
        deadline = time.monotonic() + 60
        while sent < len(request) and time.monotonic() < deadline:
            try:
                s.sendall(request[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sent += 1
            s.settimeout(2)     # a byte every 2 s, unless the server closes meanwhile
            try:
                if s.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed and sent < len(request)
    with connect(port) as s:
        s.sendall(head(DEVICE, "X-Device: demo-strip", "Content-Length: 50", "Content-Type: application/json"))
        assert status_of(answer_of(s)) == 408


def test_connections_past_the_cap_are_turned_away(tmp_path):
    with server_process("--db", str(tmp_path / "server.db"), "--demo", "--max-connections", "4",
                        "--client-timeout", "60") as (port, _):
        board = DeviceClient(http_transport("127.0.0.1", port), demo.DEVICE_ID, demo.DEVICE_SECRET)
        idle = [connect(port) for _ in range(4)]
        try:
            with connect(port) as s:
                s.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert status_of(answer_of(s)) == 503
        finally:
            for s in idle:
                s.close()
        deadline = time.monotonic() + 30    # the server sees the idle ones go
        while board.authorize(ALICE)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert board.authorize(ALICE)[1]["allow"] is True


def test_a_signed_route_with_a_query_string_is_refused_before_any_check(site):
    port, _ = site
    send = http_transport("127.0.0.1", port)
    with_query = DeviceClient(lambda m, p, h, b: send(m, p + "?badge=other", h, b), demo.DEVICE_ID, demo.DEVICE_SECRET)
    assert with_query.request("POST", "/authorize", {"badge": ALICE}, nonce="QueryNonce1", check=False) == (
        400, {"error": "a query string is not signed: none is allowed"})
    board = DeviceClient(send, demo.DEVICE_ID, demo.DEVICE_SECRET)
    assert board.request("POST", "/authorize", {"badge": ALICE}, nonce="QueryNonce1")[1]["allow"] is True


def test_the_database_and_its_journal_are_private(tmp_path):
    db = tmp_path / "server.db"
    db.touch(0o644)
    os.chmod(db, 0o644)
    with server_process("--db", str(db), "--demo") as (port, _):
        board = DeviceClient(http_transport("127.0.0.1", port), demo.DEVICE_ID, demo.DEVICE_SECRET)
        assert board.authorize(ALICE)[0] == 200
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["server.db", "server.db-shm", "server.db-wal"]
        for name in files:
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_secrets_come_from_variables_and_files_and_stay_out_of_the_output(tmp_path):
    token, site_secret = "token-from-a-file-0123", "site-secret-from-a-file"
    for name, value in (("token", token), ("site", site_secret)):
        (tmp_path / name).write_text(value + "\n")
        os.chmod(tmp_path / name, 0o600)
    db = str(tmp_path / "site.db")
    env = {"MULTIPRISE_DB": db, "MULTIPRISE_ADMIN_TOKEN_FILE": str(tmp_path / "token"),
           "MULTIPRISE_SITE_SECRET_FILE": str(tmp_path / "site")}
    with server_process(env=env) as (port, proc):
        with connect(port) as s:
            body = b'{"uid":"04C0FFEE","owner":"Carol"}'
            s.sendall(head("/api/v1/admin/badges", "Authorization: Bearer " + token, "Connection: close",
                           "Content-Type: application/json", "Content-Length: %d" % len(body)) + body)
            answer = answer_of(s)
        assert status_of(answer) == 201 and badge_hash(site_secret, "04C0FFEE").encode() in answer
    out = proc.stdout.read()
    assert "database sqlite:///" + db in out
    assert token not in out and site_secret not in out
    with sqlite3.connect(db) as c:
        (check,) = c.execute("SELECT value FROM meta WHERE key = 'site_check'").fetchone()
    assert check.startswith("scrypt$") and site_secret not in check


def test_a_short_site_secret_is_refused_and_an_old_check_value_is_upgraded(tmp_path):
    short = subprocess.run([sys.executable, "-m", "tools.server", "--db", str(tmp_path / "a.db"), "--site-secret",
                            "only-15-letters", "admin", "badge", "list"], cwd=ROOT, capture_output=True, text=True)
    assert short.returncode == 2 and "16 to 64 characters" in short.stderr
    assert not (tmp_path / "a.db").exists()
    db = str(tmp_path / "b.db")
    Store(db).close()
    old = site_check(demo.SITE_SECRET, "not scrypt")     # what a database made before the slow check holds
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO meta VALUES ('site_check', ?)", (old,))
    Store(db, demo.SITE_SECRET).close()
    with sqlite3.connect(db) as c:
        (check,) = c.execute("SELECT value FROM meta WHERE key = 'site_check'").fetchone()
    assert check.startswith("scrypt$")
    Store(db, demo.SITE_SECRET).close()
    with pytest.raises(Conflict):
        Store(db, "another-site-secret")
