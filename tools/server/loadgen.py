"""A load generator that taps badges like the boards do: a connection a request (`Connection: close`), each request
signed with a new nonce, each answer's signature and decision checked. For `make bench`, against a server on this
machine only; every run is bounded in requests and in time."""
import asyncio
import json
import os
import secrets
import statistics
import time
from contextlib import contextmanager

import uvloop

from tools.server.client import NONCE_CHARS
from tools.server.signing import answer_signature, request_signature, same

PATH = "/api/v1/device/authorize"


class WrongAnswer(Exception):
    """An answer a board would refuse (bad signature) or that says something other than expected."""


def _request(device, secret, body):
    nonce = "".join(secrets.choice(NONCE_CHARS) for _ in range(16))
    stamp = str(int(time.time()))
    signature = request_signature(secret, "POST", PATH, stamp, nonce, body)
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Device: %s\r\nX-Time: %s\r\nX-Nonce: %s\r\nX-Signature: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
                PATH, device, stamp, nonce, signature, len(body)))
    return head.encode() + body, nonce


def _check(answer, secret, nonce, expect):
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    if not same(headers.get("x-signature", ""), answer_signature(secret, nonce, status, body)):
        raise WrongAnswer("unsigned or badly signed answer: %d %r" % (status, body[:80]))
    if status != 200 or json.loads(body) != expect:
        raise WrongAnswer("%d %r" % (status, body[:120]))


async def _tap(port, device, secret, body, expect):
    message, nonce = _request(device, secret, body)
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(message)
        answer = await reader.read()     # to the end: the server closes after the answer
    finally:
        writer.close()
    elapsed = time.perf_counter() - t0
    _check(answer, secret, nonce, expect)
    return elapsed


async def _run(port, device, secret, badge, expect, clients, requests, deadline_s):
    body = json.dumps({"badge": badge}, separators=(",", ":")).encode()
    latencies = []
    left = [requests]
    end = time.monotonic() + deadline_s

    async def client():
        while left[0] > 0 and time.monotonic() < end:
            left[0] -= 1
            latencies.append(await asyncio.wait_for(_tap(port, device, secret, body, expect), 10))

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - t0


def authorizations(port, device, secret, badge, expect, clients, requests, deadline_s=60):
    """Tap `badge` on `device` (with its `secret`) `requests` times from `clients` concurrent boards, against the
    server on 127.0.0.1:`port`, stopping early after `deadline_s`; every answer must be signed right and equal
    `expect`. Returns {"per_s", "p50_ms", "p99_ms", "requests"}."""
    latencies, elapsed = uvloop.run(_run(port, device, secret, badge, expect, clients, requests, deadline_s))
    ms = sorted(x * 1000 for x in latencies)
    return {"per_s": round(len(ms) / elapsed, 1), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2), "requests": len(ms)}


# Measured once with this generator at the commit before the server's fast path (5d469ed), on the 2-core machine
# the bench runs on: FastAPI routes, the ORM in three thread-pool hops a request, h11, SQLite.
SHIPPED_PER_S = {1: 166, 4: 195, 16: 204}
CLIENTS = (1, 4, 16)
WORKERS = (1, 2, 4)


def _cpu_s(pid):
    """CPU time (user + system) of a process and its children that have ended, seconds."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _demo_server(db, quick, args=()):
    """The demo server on `db`: yields (load, its process), load(clients, requests) running a load on it."""
    from tools.server import demo
    from tools.server.process import server_process
    from tools.server.signing import badge_hash

    alice = demo.BADGES[0]
    expect = {"allow": True, "outlets": [1, 2, 3, 4, 5, 6], "seconds": None, "name": alice.owner, "reason": "ok"}
    badge = badge_hash(demo.SITE_SECRET, alice.uid)
    with server_process("--demo", "--db", db, *args) as (port, proc):
        def load(clients, requests):
            return authorizations(port, demo.DEVICE_ID, demo.DEVICE_SECRET, badge, expect, clients, requests)

        load(4, 50 if quick else 300)   # warm up: imports, connections, the tables read once
        yield load, proc


def measure(res, folder, quick=False):
    """The bench's `server` figures (tools/benchmarks.py): SQLite with one worker at 1, 4 and 16 clients, and
    PostgreSQL with 1, 2 and 4 workers at 16 clients, in `folder`."""
    from tools.server.process import PG_BIN, postgres_cluster

    n = 300 if quick else 3000
    with _demo_server(os.path.join(folder, "bench-server.db"), quick) as (load, proc):
        for clients in CLIENTS:
            cpu = _cpu_s(proc.pid)
            r = load(clients, n)
            cpu = _cpu_s(proc.pid) - cpu
            suffix = "%d_client%s" % (clients, "s" if clients > 1 else "")
            res["server.authorize_per_s_" + suffix] = r["per_s"]
            res["server.p50_ms_" + suffix] = r["p50_ms"]
            res["server.p99_ms_" + suffix] = r["p99_ms"]
            res["server.cpu_ms_per_authorization_" + suffix] = round(cpu * 1000 / r["requests"], 3)
            res["server.times_shipped_" + suffix] = round(r["per_s"] / SHIPPED_PER_S[clients], 1)
    if not PG_BIN:
        return
    with postgres_cluster() as new_database:
        for workers in WORKERS:
            with _demo_server(new_database(), quick, ("--workers", str(workers))) as (load, _):
                r = load(16, n)
                res["server.postgresql_per_s_%d_worker%s" % (workers, "s" if workers > 1 else "")] = r["per_s"]
                res["server.postgresql_p99_ms_%d_worker%s" % (workers, "s" if workers > 1 else "")] = r["p99_ms"]
