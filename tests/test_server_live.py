"""The server's fast path as boards meet it, real processes over TCP on SQLite and PostgreSQL: a change made by
another process is seen by the very next tap, a request replayed to another server on the same database is refused,
and a database held by another writer does not stop the server answering."""
import sqlite3
import subprocess
import sys
import threading

from serverkit import ROOT, database, postgres, server_process  # noqa: F401 (fixtures)
from tools.server import demo
from tools.server.client import DeviceClient, http_transport
from tools.server.signing import badge_hash

ALICE, BOB = (badge_hash(demo.SITE_SECRET, b.uid) for b in demo.BADGES[:2])


def cli(db, *args):
    """`multiprise server admin ...` in a process of its own, as an administrator types it."""
    subprocess.run([sys.executable, "-m", "tools.server", "--db", db, "--site-secret", demo.SITE_SECRET, "admin",
                    *args], cwd=ROOT, check=True, capture_output=True, timeout=60)


def strip(port):
    return DeviceClient(http_transport("127.0.0.1", port), demo.DEVICE_ID, demo.DEVICE_SECRET)


def test_a_change_made_by_the_command_line_is_seen_by_the_very_next_tap(database):  # noqa: F811
    with server_process("--db", database, "--demo") as (port, _):
        board = strip(port)
        assert board.authorize(ALICE)[1]["allow"] is True
        rules = subprocess.run([sys.executable, "-m", "tools.server", "--db", database, "admin", "rule", "list"],
                               cwd=ROOT, check=True, capture_output=True, text=True).stdout
        alice_rule = next(line.split()[0] for line in rules.splitlines() if ALICE[:12] in line)  # hashes shown short
        cli(database, "rule", "disable", alice_rule)
        assert board.authorize(ALICE)[1] == {"allow": False, "outlets": [], "seconds": None, "name": "Alice",
                                             "reason": "disabled"}
        cli(database, "rule", "add", "--badge", BOB, "--device", demo.DEVICE_ID, "--outlets", "6")
        assert board.authorize(BOB)[1]["outlets"] == [1, 2, 3, 6]
        cli(database, "badge", "remove", BOB)
        assert board.authorize(BOB)[1]["reason"] == "unknown badge"
        cli(database, "device", "remove", demo.DEVICE_ID)
        assert board.request("POST", "/authorize", {"badge": ALICE}, check=False) == (401, {"error": "unknown device"})


def test_a_request_replayed_to_another_server_on_the_same_database_is_refused(database):  # noqa: F811
    with server_process("--db", database, "--demo") as (first, _), \
            server_process("--db", database, "--demo") as (second, _):
        sent = []

        def record(send):
            def keep(method, path, headers, body):
                sent.append((method, path, headers, body))
                return send(method, path, headers, body)

            return keep

        board = DeviceClient(record(http_transport("127.0.0.1", first)), demo.DEVICE_ID, demo.DEVICE_SECRET)
        assert board.authorize(ALICE)[0] == 200
        replay = DeviceClient(lambda *_: http_transport("127.0.0.1", second)(*sent[0]), demo.DEVICE_ID,
                              demo.DEVICE_SECRET)
        assert replay.request("POST", "/authorize", {"badge": ALICE}, nonce=sent[0][2]["X-Nonce"],
                              stamp=sent[0][2]["X-Time"]) == (401, {"error": "replayed nonce"})


def test_several_workers_share_one_port_and_the_nonces(postgres):  # noqa: F811
    with server_process("--db", postgres(), "--demo", "--workers", "2") as (port, _):
        board = strip(port)
        for _ in range(20):
            assert board.authorize(ALICE)[1]["allow"] is True
        assert board.request("GET", "/commands", nonce="OnceOnly1")[0] == 200
        assert [board.request("GET", "/commands", nonce="OnceOnly1")[1] for _ in range(6)] == [
            {"error": "replayed nonce"}] * 6


def test_a_database_held_by_another_writer_does_not_stop_the_server(tmp_path):
    db = str(tmp_path / "server.db")
    with server_process("--db", db, "--demo") as (port, _):
        board = strip(port)
        assert board.authorize(ALICE)[0] == 200
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")       # the write lock, as a long admin transaction would hold it
        waiting = {}
        tap = threading.Thread(target=lambda: waiting.update(answer=board.authorize(ALICE)))
        tap.start()
        try:
            # the tap waits for the lock off the event loop: meanwhile the server answers others
            for _ in range(5):
                assert board.request("POST", "/authorize", {"badge": ALICE}, check=False, stamp=0)[0] == 401
                assert http_transport("127.0.0.1", port)("GET", "/openapi.json", {}, b"")[0] == 200
            assert tap.is_alive()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        tap.join(30)
        assert waiting["answer"][1]["allow"] is True


def test_the_server_reconnects_when_postgresql_drops_its_connections(postgres):  # noqa: F811
    import psycopg
    from sqlalchemy import make_url

    db = postgres()
    with server_process("--db", db, "--demo") as (port, _):
        board = strip(port)
        assert board.authorize(ALICE)[1]["allow"] is True
        url = make_url(db)
        with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres",
                             autocommit=True) as c:
            dropped = c.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                                (url.database,)).fetchone()[0]
        assert dropped >= 1
        assert board.authorize(ALICE)[1]["allow"] is True
        assert board.heartbeat()[0] == 200
