# Run on the virtual board's own interpreter, at its REPL once the app is stopped (tests/test_web.py): n malformed
# or hostile requests, each on a connection of its own to the web server's listening socket, served by the
# firmware's webconn.step() as the app's loop calls it, without the loop's 20 ms between steps. An exception out of a
# step ends the run (the test sees the traceback); every answer must be a status the server gives.
import gc
import random

import firmware
import time
import usocket as socket  # the client is on the board itself: no name to resolve through the bench's radio

from firmware import web, webconn

ALLOWED = (200, 304, 400, 401, 403, 404, 405, 408, 413, 414, 429, 431, 501, 503)
TEMPLATES = (
    b"GET /api/state HTTP/1.1\r\nHost: board\r\nCookie: mp=00112233445566778899aabbccddeeff\r\n\r\n",
    b'POST /api/login HTTP/1.1\r\nContent-Length: 25\r\n\r\n{"password": "not-it-123"}',
    b"POST /api/outlets/3/on HTTP/1.1\r\nAuthorization: Bearer 0123\r\nX-Multiprise: 1\r\nContent-Length: 0\r\n\r\n",
    b"POST /api/command HTTP/1.1\r\nContent-Length: 7\r\nConnection: close\r\n\r\noff all",
    b"GET / HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n",
)


def mutate(r):
    """A request changed at random: bytes flipped, cut, repeated, inserted, numbers made huge, paths climbed."""
    b = r
    for _ in range(random.randrange(1, 4)):
        k = random.randrange(12)
        i = random.randrange(len(b)) if b else 0
        if k == 0 and b:
            b = b[:i] + bytes((random.getrandbits(8),)) + b[i + 1:]
        elif k == 1:
            b = b[:i]
        elif k == 2:
            j = min(len(b), i + random.randrange(1, 16))
            b = b[:i] + b[i:j] * random.randrange(2, 64) + b[j:]
        elif k == 3:
            b = b[:i] + bytes(random.getrandbits(8) for _ in range(random.randrange(1, 40))) + b[i:]
        elif k == 4:
            b = b[:i] + b"\r\n" + b[i:]
        elif k == 5:
            b = b.replace(b"25", b"9999999999", 1).replace(b": 0", b": -1", 1)
        elif k == 6:
            b = b.replace(b" /", b" /../..", 1)
        elif k == 7:
            b = b.replace(b"HTTP/1.1", random.choice((b"HTTP/2.0", b"HTTP/1.1 x", b"", b"HTTP/1.0")), 1)
        elif k == 8:  # a long path
            b = b.replace(b" /", b" /" + b"a/" * random.randrange(130, 300), 1)
        elif k == 9:  # many or long header lines
            b = b.replace(b"\r\n", b"\r\n" + (b"X-A: 1\r\n" * random.randrange(33, 50) if random.getrandbits(1) else
                                              b"X-Long: " + b"z" * random.randrange(250, 400) + b"\r\n"), 1)
        elif k == 10:  # a body's length too big, or chunked
            b = b.replace(b"\r\n", random.choice((b"\r\nContent-Length: %d\r\n" % random.randrange(257, 1 << 30),
                                                 b"\r\nTransfer-Encoding: chunked\r\n")), 1)
        else:  # another method
            b = random.choice((b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"get")) + b[b.find(b" "):]
        b = b[:1200]  # the REPL's heap is in pieces: a request of a kilobyte is enough to pass every limit
    return b


def one(port, data):
    """The status the server answered data with (None: it closed without an answer)."""
    c = socket.socket()
    c.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    c.setblocking(False)
    sent = 0
    got = b""
    for _ in range(400):
        if sent < len(data):
            try:
                sent += c.write(data[sent:]) or 0
            except OSError:
                sent = len(data)
        webconn.step()
        try:
            d = c.read(512)
        except OSError:
            d = None
        if d == b"":
            break
        if d:
            got += d
            if b"\r\n\r\n" in got:
                break
    c.close()
    for _ in range(400):  # until the server has closed its side too
        if not web.conns:
            break
        webconn.step()
    if not got:
        return None
    code = int(got[9:12])
    if got[:9] != b"HTTP/1.1 " or code not in ALLOWED:
        raise ValueError("answer %r to %r" % (got[:40], data[:60]))
    return code


def settle():
    """The free heap once every connection is closed and a login being checked is done, webauth dropped (as web.run
    leaves it)."""
    while web.conns or web.job:
        webconn.step()
    firmware.drop("webauth")
    gc.collect()
    return gc.mem_free()


def run(port, seed, n, warm=200):
    """n requests after warm ones (those load the server's modules once, and their names stay interned, as on a
    board); the free heap after the warm ones, after half of the n and at the end."""
    random.seed(seed)
    seen = {c: 0 for c in (None,) + ALLOWED}  # made whole now: it never grows while the heap is compared
    t0 = time.ticks_ms()
    for i in range(warm + n):
        if i == warm:
            before = settle()
        if i == warm + n // 2:
            half = settle()
        gc.collect()
        code = one(port, mutate(TEMPLATES[i % len(TEMPLATES)]))  # (no local holds the request: the heap's figures
        seen[code] = seen.get(code, 0) + 1                       # are not to count the last one)
    after = settle()
    print("FUZZ", warm + n, "in", time.ticks_diff(time.ticks_ms(), t0), "ms; heap", before, half, after,
          "; statuses", sorted((k or 0, v) for k, v in seen.items() if v))
