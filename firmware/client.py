"""The board's client of the central server (docs/protocol.md): signed requests, and signed answers
checked before anything in them is used. Loaded when a request is due, then dropped (firmware.drop("client")).

`await call(srv, method, path, body=None)` -> (status, obj), srv being {"url": "http://host:port", "device": id,
"secret": str, "timeout_ms": 2000}. A signed answer is returned whatever its status: 401 {"error": "clock skew",
"time": ...}, 404, 409, 422... Anything else raises an OSError whose str() is a short reason, for the log: the
network's own error, "timeout" (the whole call is bounded by timeout_ms), "cannot connect", "no answer",
"no address for HOST", "url: not http://host[:port]"; or Refused, an OSError too, for an answer that is not
taken: "unsigned answer: STATUS", "bad answer signature" (forged, or replayed from another request), "not HTTP",
"truncated answer", "answer too big", "answer head too long", "answer without Content-Length", "signed answer
not JSON". No secret, key, signature or UID ever goes into a message."""
import time

from micropython import const

from firmware.loop import sleep_ms

_PREFIX = const("/api/v1/device")
_LINE = const(128)   # the longest header line looked at (X-Signature takes 78)
_HEAD = const(1024)  # most head bytes taken from an answer (the reference server sends about 200)
_BODY = const(2048)  # most body bytes taken (a full commands list is about 700)
_STEP = const(10)    # ms between two looks at the socket, the loop running other tasks meanwhile
_EAGAIN = const(11)  # the same numbers on the ESP8266 (lwIP) and on Linux
_EINPROGRESS = const(115)
_Y2K = const(946684800)  # 2000-01-01 in unix time: the ESP8266's time.time() counts from there
# Why a call failed, all in one constant: while the module is loaded, each string constant keeps a block of heap
_WHY = const(("unsigned answer: %d|bad answer signature|signed answer not JSON|url: not http://host[:port]"
              "|no address for %s"
        "|cannot connect|connection lost|truncated answer|answer head too long|answer without Content-Length"
        "|answer too big"))
_UNSIGNED = const(0)
_FORGED = const(1)
_NOT_JSON = const(2)
_URL = const(3)
_NO_ADDRESS = const(4)
_NO_CONNECT = const(5)
_LOST = const(6)
_TRUNCATED = const(7)
_LONG_HEAD = const(8)
_NO_LENGTH = const(9)
_BIG = const(10)


class Refused(OSError):
    """An answer not taken: not signed for the request just sent (forged, replayed, from a server without our
    secret), or not a well-formed one."""


def _why(i, *a):
    s = _WHY.split("|")[i]
    return s % a if a else s


def hmac(key, *msg):
    """HMAC-SHA256 (RFC 2104) of the parts of msg (bytes or str, hashed one after the other) -> 32 bytes."""
    from hashlib import sha256

    if isinstance(key, str):
        key = key.encode()
    if len(key) > 64:  # never for the protocol's keys (64 bytes at most); kept for RFC 2104's sake
        key = sha256(key).digest()
    k = bytearray(64)
    k[:len(key)] = key
    for i in range(64):
        k[i] ^= 0x36
    h = sha256(k)
    for m in msg:
        h.update(m)
    d = h.digest()
    for i in range(64):
        k[i] ^= 0x6A  # 0x36 ^ 0x5C: the inner pad becomes the outer one
    h = sha256(k)
    h.update(d)
    return h.digest()


def same(a, b):
    """a == b (bytes or str of ASCII) in a time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def _hex(d):
    from binascii import hexlify

    return hexlify(d).decode()


def badge(site_secret, uid):
    """The badge's keyed hash the server knows it by: hex HMAC-SHA256(site secret, the UID's bytes)."""
    return _hex(hmac(site_secret, uid))


def now():
    """Unix time (s), on the ESP8266 (epoch 2000) as on the unix port (epoch 1970)."""
    return int(time.time()) + (_Y2K if time.gmtime(0)[0] == 2000 else 0)


async def _io(s, p, t0, ms, mv=None):
    """Without mv: the socket's events, as soon as there are some. With mv: the bytes read into it, 0 at the end
    of the stream. OSError once ms have passed since t0. Looks without blocking, and sleeps between looks so the
    other tasks run."""
    while True:
        if time.ticks_diff(time.ticks_ms(), t0) >= ms:
            raise OSError("timeout")
        for _, ev in p.ipoll(0):
            if mv is None:
                return ev
            n = s.readinto(mv)
            if n is not None:
                return n
        await sleep_ms(_STEP)


async def call(srv, method, path, body=None):
    """One signed request -> (status, the answer's JSON). path: under /api/v1/device ("/authorize"), or the full
    path. body: a dict or list sent as compact JSON, JSON already written (a str, or a tuple of str: its pieces), or
    None. The work is shared between small coroutines: each
    one's frame is a block of the heap, and a heap in pieces has room for small ones."""
    import json
    import select
    import socket

    t0 = time.ticks_ms()
    ms = srv.get("timeout_ms", 2000)
    addr, req, nonce = _request(srv, method, path, body)
    body = None
    s = socket.socket()
    try:
        s.setblocking(False)
        try:
            s.connect(addr)
        except OSError as e:
            if e.errno != _EINPROGRESS:
                raise
        p = select.poll()
        p.register(s, select.POLLOUT)
        await _send(s, p, t0, ms, req)
        req = None
        p.modify(s, select.POLLIN)
        status, sig, data = await _answer(s, p, t0, ms)
    finally:
        s.close()
    if sig is None:
        raise Refused(_why(_UNSIGNED, status))
    if not same(sig, _hex(hmac(srv["secret"], nonce, "\n", str(status), "\n", data))):
        raise Refused(_why(_FORGED))
    try:
        return status, json.loads(data) if data else None
    except (ValueError, MemoryError, RuntimeError):  # RuntimeError, MemoryError: nested too deep for the parser
        raise Refused(_why(_NOT_JSON))


def _request(srv, method, path, body):
    """(address, the request in pieces (its body's pieces the last one), its nonce)."""
    import json
    import os
    import socket

    url = srv["url"]
    host = url[7:].rstrip("/")
    h, _, port = host.partition(":")
    try:
        if url[:7] != "http://" or not h or "/" in host:
            raise ValueError
        port = int(port or 80)
    except ValueError:
        raise OSError(_why(_URL))
    # Blocks the board while it lasts, once per call: an IP address in the configuration needs no DNS.
    try:
        addr = socket.getaddrinfo(h, port, 0, socket.SOCK_STREAM)[0][-1]
    except (OSError, IndexError):
        raise OSError(_why(_NO_ADDRESS, h))
    if path[:5] != "/api/":
        path = _PREFIX + path
    if body is None:
        body = ("",)
    elif type(body) is str:  # JSON the caller wrote; a tuple: the same in pieces
        body = (body,)
    elif type(body) is not tuple:
        body = (json.dumps(body, separators=(",", ":")),)
    n = 0
    for x in body:
        n += len(memoryview(x))  # UTF-8 length
    nonce = _hex(os.urandom(8))
    stamp = str(now())
    # sent in pieces, none of them big: a heap in pieces has room for each
    return addr, (method, " ", path, " HTTP/1.1\r\nHost: ", host, "\r\nX-Device: ", srv["device"], "\r\nX-Time: ",
                  stamp, "\r\nX-Nonce: ", nonce, "\r\nX-Signature: ",
                  _hex(hmac(srv["secret"], method, "\n", path, "\n", stamp, "\n", nonce, "\n", *body)),
                  "\r\nContent-Type: application/json" if n else "", "\r\nContent-Length: ", str(n),
                  "\r\nConnection: close\r\n\r\n", body), nonce


async def _send(s, p, t0, ms, req):
    import select

    sent = 0
    k = len(req) - 1  # the head's pieces, then the body's (a tuple, the last)
    for j in range(k + len(req[k])):
        mv = memoryview(req[j] if j < k else req[k][j - k])  # a str's bytes (UTF-8): no encoded copy
        i = 0
        while i < len(mv):
            if await _io(s, p, t0, ms) & (select.POLLERR | select.POLLHUP):
                raise OSError(_why(_LOST if sent else _NO_CONNECT))
            try:
                n = s.send(mv[i:]) or 0
            except OSError as e:
                if e.errno != _EAGAIN:
                    raise
                n = 0
            i += n
            sent += n


async def _answer(s, p, t0, ms):
    """(status, X-Signature, body): the head line by line through a small buffer (a heap in pieces has room for
    it): buf[a:n] is what has not been looked at yet; a line longer than the buffer is none we need, and is
    skipped."""
    buf = bytearray(_LINE)
    mv = memoryview(buf)
    a = n = got = 0
    status = size = sig = None
    skip = False
    try:
        while True:
            i = a
            while i < n and buf[i] != 10:
                i += 1
            if i < n:
                line = bytes(mv[a:i]).rstrip(b"\r")
                a = i + 1
                if skip:
                    skip = False
                elif not line:
                    break
                elif status is None:
                    if line[:7] != b"HTTP/1." or line[8:9] != b" " or line[12:13] not in (b"", b" ") \
                            or not line[9:12].isdigit():  # HTTP/1.1 2000 is no 200
                        raise Refused("not HTTP")
                    status = int(line[9:12])
                else:
                    k, _, v = line.partition(b":")
                    k = k.strip().lower()
                    if k == b"content-length":
                        size = int(v)
                    elif k == b"x-signature":
                        sig = v.strip()
                continue
            if a:  # move the start of the next line to the front
                for i in range(a, n):
                    buf[i - a] = buf[i]
                n -= a
                a = 0
            if n == _LINE:
                if status is None:
                    raise Refused("not HTTP")
                skip = True
                n = 0
            r = await _io(s, p, t0, ms, mv[n:])
            if not r:
                if got:
                    raise Refused(_why(_TRUNCATED))
                raise OSError("no answer")
            got += r
            if got > _HEAD:
                raise Refused(_why(_LONG_HEAD))
            n += r
    except ValueError:
        raise Refused("not HTTP")
    if status is None:  # a blank line first
        raise Refused("not HTTP")
    if size is None:
        raise Refused(_why(_NO_LENGTH))
    if not 0 <= size <= _BODY:
        raise Refused(_why(_BIG))
    data = bytearray(size)
    j = min(n - a, size)  # body bytes read with the head
    data[:j] = mv[a:a + j]
    buf = mv = line = None
    mv = memoryview(data)
    while j < size:
        r = await _io(s, p, t0, ms, mv[j:])
        if not r:
            raise Refused(_why(_TRUNCATED))
        j += r
    return status, sig, data
