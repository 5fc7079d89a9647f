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

ALLOWED = (101, 200, 304, 400, 401, 403, 404, 405, 408, 413, 414, 426, 429, 431, 501, 503)
TOKEN = b"00112233445566778899aabbccddeeff"  # a session the run opens: the WebSocket's handshake gets through
WS = (b"GET /api/ws HTTP/1.1\r\nHost: board\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: mp=%s\r\n\r\n" % TOKEN)
TEMPLATES = (
    b"GET /api/state HTTP/1.1\r\nHost: board\r\nCookie: mp=00112233445566778899aabbccddeeff\r\n\r\n",
    b'POST /api/login HTTP/1.1\r\nContent-Length: 25\r\n\r\n{"password": "not-it-123"}',
    b"POST /api/outlets/3/on HTTP/1.1\r\nAuthorization: Bearer 0123\r\nX-Multiprise: 1\r\nContent-Length: 0\r\n\r\n",
    b"POST /api/command HTTP/1.1\r\nContent-Length: 7\r\nConnection: close\r\n\r\noff all",
    b"GET / HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n",
    b"POST /api/login HTTP/1.1\r\nContent-Length: 300\r\n\r\n",  # a body longer than any but an update's
    # an update whose file's SHA-256 is wrong (so that no mutation makes it one the board installs)
    b"POST /api/update HTTP/1.1\r\nCookie: mp=00112233445566778899aabbccddeeff\r\nX-Multiprise: 1\r\n"
    b"Content-Length: 95\r\n\r\nMPU1 v\nall lib/x.mpy 3 " + b"0" * 64 + b"\nabcEND\n",
    b"POST /api/update HTTP/1.1\r\nExpect: 100-continue\r\nX-Multiprise: 1\r\nContent-Length: 9\r\n\r\nMPU1 v\nEND",
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # before the answer, to an Expect: 100-continue


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


def frame(op, payload, mask=True, fin=True, rsv=0):
    """A WebSocket frame as a page sends it (masked), or with its flaws."""
    k = len(payload)
    m = bytes(random.getrandbits(8) for _ in range(4))
    head = bytes(((0x80 if fin else 0) | rsv | op, (0x80 if mask else 0) | (k if k < 126 else 126)))
    if k >= 126:
        head += bytes((k >> 8, k & 255))
    return head + (m + bytes(p ^ m[i % 4] for i, p in enumerate(payload)) if mask else payload)


def frames():
    """A page's frames after the handshake, some hostile, then mutated: bytes flipped, cut, repeated, inserted."""
    out = b""
    for _ in range(random.randrange(1, 6)):
        k = random.randrange(10)
        p = bytes(random.getrandbits(8) for _ in range(random.choice((0, 1, 4, 40, 125, 126, 300))))
        if k == 0:
            out += frame(9, p[:125])  # a ping
        elif k == 1:
            out += frame(1, p)  # text, which the board reads and leaves (or refuses when too long)
        elif k == 2:
            out += frame(8, b"\x03\xe8")  # a close
        elif k == 3:
            out += frame(random.choice((1, 9)), p, mask=False)  # not masked
        elif k == 4:
            out += frame(1, p[:20], rsv=random.choice((0x10, 0x20, 0x40)))
        elif k == 5:
            out += frame(random.choice((3, 7, 11, 15)), p[:20])  # an opcode RFC 6455 does not have
        elif k == 6:
            out += frame(9, p[:20], fin=False)  # a control frame in pieces
        elif k == 7:
            out += frame(2, p[:125], fin=False) + frame(0, p[:10])  # a message in two pieces
        elif k == 8:
            out += bytes((0x81, 0xFF)) + bytes(random.getrandbits(8) for _ in range(12))  # a 64-bit length
        else:
            out += frame(10, p[:125])  # a pong nobody asked for
    b = out
    for _ in range(random.randrange(0, 3)):
        i = random.randrange(len(b)) if b else 0
        k = random.randrange(4)
        if k == 0 and b:
            b = b[:i] + bytes((random.getrandbits(8),)) + b[i + 1:]
        elif k == 1:
            b = b[:i]
        elif k == 2:
            b = b[:i] + b[i:i + 8] * random.randrange(2, 8) + b[i:]
        else:
            b = b[:i] + bytes(random.getrandbits(8) for _ in range(random.randrange(1, 20))) + b[i:]
    return b[:1200]


ws = [0, None]  # what the board sends after its 101: the bytes of a frame still to come, the close's status


def take(got):
    """What the board sent after its 101, read as it comes: frames of a server (FIN, not masked, text, pong or close;
    a close is the last), each left as soon as its head is read (a state is 1.5 KB: the REPL's heap is in pieces);
    the bytes of a head not whole yet are kept."""
    n = min(ws[0], len(got))
    ws[0] -= n
    i = n
    while i + 2 <= len(got):
        b, k = got[i], got[i + 1]
        if ws[1] is not None or b not in (0x81, 0x88, 0x8A) or k & 0x80 or k == 127 or b != 0x81 and k > 125:
            raise ValueError("frame %r" % got[i:i + 8])
        h = 2
        if k == 126:
            if i + 4 > len(got):
                break
            k = got[i + 2] << 8 | got[i + 3]
            h = 4
        if b == 0x88:
            if k != 2 or i + 4 > len(got):
                break
            ws[1] = got[i + 2] << 8 | got[i + 3]
        i += h + k
        if i > len(got):
            ws[0] = i - len(got)
            return b""
    return got[i:]


def pump(c, got, data, steps, head):
    """The server stepped, data sent as the socket takes it and what the board answers read (added to got), for steps
    steps at most: until the board closes, or (head) an answer's head has come; once it came, what follows is a
    WebSocket's (take)."""
    sent = 0
    for _ in range(steps):
        if sent < len(data):
            try:
                sent += c.write(data[sent:]) or 0
            except OSError:
                sent = len(data)
        webconn.step()
        try:
            d = c.read(256)
        except OSError:
            d = None
        if d == b"":
            break
        if d:
            got += d
            if not head:
                got = take(got)
            elif b"\r\n\r\n" in got:
                break
    return got


seen = {}  # how many times each status came (and each WebSocket close's), None: closed without an answer


def one(port, data):
    """The status the server answered data with (None: it closed without an answer)."""
    c = socket.socket()
    c.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    c.setblocking(False)
    got = pump(c, b"", data, 400, True)
    if got[:12] == b"HTTP/1.1 101":  # a WebSocket: the page's frames, and what the board sends back
        ws[0], ws[1] = 0, None
        pump(c, take(got[got.find(b"\r\n\r\n") + 4:]), frames(), 60, False)
        if ws[1]:
            seen[ws[1]] += 1
    c.close()
    for _ in range(400):  # until the server has closed its side too
        if not web.conns:
            break
        webconn.step()
    if got[:len(CONTINUE)] == CONTINUE:
        got = got[len(CONTINUE):]
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
    seen.update({c: 0 for c in (None,) + ALLOWED + (1000, 1002, 1008, 1009)})  # made whole now: it never grows
    web.sessions.append([TOKEN, time.ticks_add(time.ticks_ms(), 3600000)])
    t0 = time.ticks_ms()
    for i in range(warm + n):
        if i == warm:
            before = settle()
        if i == warm + n // 2:
            half = settle()
        gc.collect()
        k = i % (len(TEMPLATES) + 1)  # the page's WebSocket, whole (its frames fuzzed) or mutated, a time in 8
        ws = random.getrandbits(1)  # (no local holds the request: the heap's figures are not to count the last one)
        try:
            data = mutate(TEMPLATES[k]) if k < len(TEMPLATES) else WS if ws else mutate(WS)
        except MemoryError:  # the REPL's heap is in pieces: a mutation that grew too long is left out
            data = TEMPLATES[k] if k < len(TEMPLATES) else WS
        code = one(port, data)
        data = None
        seen[code] = seen.get(code, 0) + 1
    after = settle()
    print("FUZZ", warm + n, "in", time.ticks_diff(time.ticks_ms(), t0), "ms; heap", before, half, after,
          "; statuses", sorted((k or 0, v) for k, v in seen.items() if v))
