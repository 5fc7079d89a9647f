"""A load generator that taps badges like the boards do: a connection a request (`Connection: close`), each request
signed with a new nonce, each answer's signature and decision checked. For `make bench`, against a server on this
machine only; every run is bounded in requests and in time."""
import asyncio
import json
import secrets
import statistics
import time

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
