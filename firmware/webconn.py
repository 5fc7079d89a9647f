"""The web server's connections (docs/web.md), loaded by web.py while there is one (or a login is being checked),
dropped when there is none: no client, no heap for this code.

Sockets never block: each step accepts, reads what has come and sends what the socket takes, for _BUDGET ms at most.
At most _MAX connections are served at once; one more is answered 503 and closed (counted), unless a kept-alive
connection is idle between requests: that one is closed for it. Every read is bounded: the request line (414), a
header line or their number (431), the body (413), the whole request (408 after _WAIT_MS); a request that is not
HTTP/1.x is refused (400), a method other than GET or POST too (405). What a request asks is answered by
webapi.py, loaded for the moment."""
import sys
import time

from micropython import const

import firmware
from firmware import app, web

_MAX = const(2)  # connections served at once
_LINE = const(256)  # the longest request line or header line; the longest body
_HEADERS = const(32)  # the most header lines a request may have
_WAIT_MS = const(5000)  # the longest a request may take to come whole, and a kept-alive connection may stay idle
_BUDGET = const(10)  # ms a step may spend
_STEP = const(20)  # ms between two steps
_EAGAIN = const(11)  # the same number on the ESP8266 (lwIP) and on Linux
_EVERY = const(1000)  # ms between two states on a WebSocket when nothing switched (power, timers, reasons move)
# a connection's slots
_SOCK = const(0)
_STATE = const(1)  # 0 request line, 1 headers, 2 body, 3 waiting for its answer, 4 sending, 5 a WebSocket (_deliver),
# 6 an update's body being taken (webota.py)
_BUF = const(2)  # bytearray(_LINE): what has come and is not yet taken; the chunks of a file being sent
_N = const(3)  # bytes in _BUF
_DUE = const(4)  # time.ticks_ms() by which the request must be whole (or the idle connection closes)
_REQ = const(5)  # the request: method, path, body length, session token, CSRF header seen, close, ETag, headers
_OUT = const(6)  # what is sent: [parts, part, offset]; a part is bytes, str or an open file
_CLOSE = const(7)  # close once sent
_WS = const(8)  # a WebSocket's (_deliver): [session token, time.ticks_ms() of its last state, state changes seen]
# the statuses' reasons: code and words, a line each (a dict would stay on the heap)
_WHY = const(("200 OK\n302 Found\n304 Not Modified\n400 Bad Request\n401 Unauthorized\n403 Forbidden\n404 Not Found\n"
        "405 Method Not Allowed\n408 Request Timeout\n409 Conflict\n413 Content Too Large\n414 URI Too Long\n"
        "426 Upgrade Required\n429 Too Many Requests\n431 Request Header Fields Too Large\n501 Not Implemented\n"
        "503 Service Unavailable"))


def why(code):
    """The status line's code and reason: "404 Not Found"."""
    i = _WHY.find(str(code))
    return _WHY[i:_WHY.find("\n", i) % (len(_WHY) + 1)] if i >= 0 else str(code)


def step():
    """A step of the server: a connection accepted, each one's step, a slice of the login or password being derived.
    Called by web.run while there are connections or a derivation."""
    now = time.ticks_ms()
    try:
        s = web.srv.accept()[0]
    except OSError:
        s = None
    if s:
        s.setblocking(False)
        idle = [c for c in web.conns if c[_STATE] == 0 and not c[_N] and c[_REQ] is None]
        if len(web.conns) < _MAX or idle:
            if len(web.conns) >= _MAX:
                close(idle[0])
            web.conns.append([s, 0, bytearray(_LINE), 0, time.ticks_add(now, _WAIT_MS), None, None, False, None])
        else:
            web.stats[1] += 1
            try:
                s.send(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
                       b"Connection: close\r\n\r\n")
            except OSError:
                pass
            s.close()
    for c in web.conns[:]:  # (a copy: a connection may close in its step)
        try:
            _step(c, now)
        except OSError:
            close(c)
        except MemoryError:
            if c[_STATE] == 5:  # a WebSocket's step that found no room: tried again at the next step
                continue
            c[_STATE] = 3  # a request: the client is told there is no room (if there is room for that)
            firmware.drop("webapi", "webstate", "orders", "timecmd", "schedcmd", "sched")
            try:
                refused(c, 503, "not enough memory just now: try again")
            except MemoryError:
                close(c)
    if web.job:
        from firmware import webauth

        webauth.step()


def close(c):
    try:
        c[_SOCK].close()
    except OSError:
        pass
    if c[_OUT] and hasattr(c[_OUT][0][-1], "readinto"):
        c[_OUT][0][-1].close()
    if c in web.conns:
        web.conns.remove(c)
    ota = sys.modules.get("firmware.webota")
    if ota:  # an upload's end: a whole update restarts the app, one cut short is removed
        ota.ended(c)
        if not ota.up:
            firmware.drop("webota")
    if web.job and web.job[0] is c:
        web.job[0] = False  # the derivation goes on (a login's failure counts all the same), its answer to no one


def _step(c, now):
    st = c[_STATE]
    if st == 5:  # a WebSocket: the page's live updates
        _deliver(c, now)
    elif st == 6:  # an update being uploaded
        from firmware import webota

        webota.step(c, now)
    elif st < 4:
        _read(c, now)
    if c[_STATE] == 4 and c in web.conns:  # an answer, sent now as far as the socket takes it: its parts are held
        _out(c, now)                         # for as short a time as can be


def _read(c, now):
    """What has come of a request taken, and the request answered once it is whole."""
    if c[_STATE] == 3:
        return
    if time.ticks_diff(now, c[_DUE]) > 0:
        if c[_N] or c[_REQ] is not None:
            return refused(c, 408)
        return close(c)  # an idle kept-alive connection
    buf, n = c[_BUF], c[_N]
    if n < _LINE and not c[_CLOSE]:
        r = c[_SOCK].readinto(memoryview(buf)[n:])
        if r == 0:  # the client sent all it will: what is whole is answered, then the connection ends
            c[_CLOSE] = True
        elif r:
            if not n and c[_REQ] is None:  # a request begins: it has _WAIT_MS to come whole
                c[_DUE] = time.ticks_add(now, _WAIT_MS)
            c[_N] = n = n + r
    while c[_STATE] < 3:
        if c[_STATE] == 2:  # the body (an update's is taken as it comes: answered at once)
            if n >= c[_REQ][2] or c[_REQ][1] == b"/api/update":
                return _answer(c)
        else:
            i = buf.find(b"\n", 0, n)
            if i >= 0:
                text = bytes(buf[:i - 1 if i and buf[i - 1] == 13 else i])
                buf[:n - i - 1] = buf[i + 1:n]
                c[_N] = n = n - i - 1
                if line(c, text):
                    continue
                return
            if n >= _LINE:
                return refused(c, 414 if c[_STATE] == 0 else 431)
        if c[_CLOSE]:  # the client is gone before its request was whole
            return close(c)
        return


def line(c, text):
    """A line of the request's head taken; False when the request is refused or complete."""
    if c[_STATE] == 0:
        if not text:  # blank lines before a request are allowed (RFC 9112, 2.2)
            return True
        w = text.split(b" ")
        if len(w) != 3 or w[2][:7] != b"HTTP/1." or len(w[2]) != 8 or w[1][:1] != b"/" or \
                [1 for x in w[1] if x <= 32 or x >= 127]:
            refused(c, 400)
            return False
        if w[0] not in (b"GET", b"POST"):
            refused(c, 405)
            return False
        # method, path, body length, token, CSRF header, close, If-None-Match, header lines; a WebSocket's key
        # (False: not version 13), the Origin's host, the Host
        c[_REQ] = [w[0], w[1], 0, None, False, w[2] == b"HTTP/1.0", None, 0, None, None, None]
        c[_STATE] = 1
        return True
    r = c[_REQ]
    if not text:  # the head is whole
        if r[0] == b"GET" and r[2]:
            refused(c, 400)
            return False
        c[_STATE] = 2
        return True
    r[7] += 1
    k = text.find(b":")
    if r[7] > _HEADERS or k < 1:
        refused(c, 431 if k > 0 else 400)
        return False
    name = text[:k].lower()
    v = text[k + 1:].strip()
    if name == b"content-length":
        if not v.isdigit() or len(v) > 6:
            refused(c, 400)
            return False
        r[2] = int(v)
        if r[2] > _LINE and r[1] != b"/api/update":  # an update's body is written as it comes (webota.py)
            refused(c, 413)
            return False
    elif name == b"transfer-encoding":
        refused(c, 501)  # no chunked bodies: a body is short, and its length said
        return False
    elif name == b"authorization" and v[:7] == b"Bearer ":  # a script's: no page sends it (no CSRF check)
        r[3] = v[7:]
        r[4] = True
    elif name == b"cookie":
        i = v.find(b"mp=")
        if i >= 0:
            r[3] = v[i + 3:i + 35]
    elif name == b"x-multiprise":  # the CSRF check: a page of another site cannot send it (no CORS here)
        r[4] = True
    elif name == b"connection":
        r[5] = v.lower() == b"close"
    elif name == b"if-none-match":
        r[6] = v
    elif name == b"expect" and v.lower() == b"100-continue" and not r[5]:  # curl's before a body over 1 KB; never
        try:  # to HTTP/1.0 (r[5] holds its close until a Connection header)
            c[_SOCK].send(b"HTTP/1.1 100 Continue\r\n\r\n")  # the body may come (a refusal still follows it)
        except OSError:
            pass  # a client that waits for none sends its body after a second
    elif name == b"sec-websocket-key":
        r[8] = v if r[8] is None else False
    elif name == b"sec-websocket-version" and v != b"13":
        r[8] = False
    elif name == b"origin":
        r[9] = v[v.find(b"://") + 3:]
    elif name == b"host":
        r[10] = v
    return True


def same(a, b):
    """a == b in a time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def _answer(c):
    """A whole request: answered by webapi.py (loaded for the moment; it waits while a tap or a round holds the
    heap). Its body, taken from the buffer, is in its slot of the header lines' count. When there is no room to load
    what answers it (nothing done yet), it is tried again at the next step, until its deadline (then 503)."""
    if app.busy():
        return
    r = c[_REQ]
    buf, k = c[_BUF], r[2]
    if r[1] == b"/api/update":  # its body is not taken here, and the connection ends with it
        c[_CLOSE] = True
    elif type(r[7]) is int:
        r[7] = bytes(buf[:k])
        buf[:c[_N] - k] = buf[k:c[_N]]
        c[_N] -= k
    try:
        from firmware import webapi
    except MemoryError:  # nothing done yet: tried again at the next step, until the request's deadline
        firmware.drop("webapi")
        if time.ticks_diff(time.ticks_ms(), c[_DUE]) > 0:
            refused(c, 503, "not enough memory just now: try again")
        return
    c[_STATE] = 3
    try:  # a MemoryError in the answer (it may have done something) is answered 503 by step(), never tried again;
        webapi.run(c, r)  # but a GET changes nothing: one with nothing queued yet is tried again, until its deadline
    except MemoryError:
        if r[0] != b"GET" or c[_STATE] != 3 or time.ticks_diff(time.ticks_ms(), c[_DUE]) > 0:
            raise
        c[_STATE] = 2
        return
    finally:
        firmware.drop("webapi", "webstate", "orders", "timecmd", "schedcmd", "sched")
    web.stats[0] += 1


def send(c, code, body="", head="", kind="application/json"):
    """Queue an answer: its status, extra header lines (head, each ending in CRLF), and body: str or bytes, a tuple of
    them (sent one after the other: no big block for the whole), or an open file whose Content-Length is in head."""
    r = c[_REQ]
    f = hasattr(body, "readinto")
    if type(body) is not tuple:
        body = (body,)
    c[_CLOSE] = close_it = c[_CLOSE] or r is None or r[5] or f and c[_N]  # a file takes the buffer
    n = 0
    for p in () if f else body:
        n += len(memoryview(p))
    c[_OUT] = [("HTTP/1.1 %s\r\n%s%sContent-Type: %s\r\nCache-Control: no-cache\r\n%s\r\n" % (
        why(code), "" if f else "Content-Length: %d\r\n" % n, head, kind,
        "Connection: close\r\n" if close_it else ""),) + body, 0, 0]
    c[_STATE] = 4
    c[_DUE] = time.ticks_add(time.ticks_ms(), _WAIT_MS)


def network(c, b):
    """The body of a Wi-Fi network to join (the page's POST /api/wifi, the setup's POST /api/setup): its JSON, with
    ssid (1 to 32 characters) and password (8 to 63, or empty for an open network); None once 400 is answered."""
    import json

    try:
        j = json.loads(b)
        ssid, key = j["ssid"], j["password"]
    except (ValueError, KeyError, TypeError):
        ssid = None
    if type(ssid) is not str or type(key) is not str or not 1 <= len(ssid) <= 32 or key and not 8 <= len(key) <= 63:
        refused(c, 400, "the body is JSON with ssid (1 to 32 characters) and password (8 to 63, or empty for an open"
                " network)", False)
        return None
    return j


def refused(c, code, text=None, close=True):
    """A request refused: its status and why (text, or the status's words); the connection closed unless it was
    understood (close False: a request refused for what it asks, not for its form)."""
    if close:
        web.stats[2] += 1
        c[_CLOSE] = True
    send(c, code, '{"error":"%s"}' % (text or why(code)[4:].lower()),
            "Retry-After: 1\r\n" if code == 503 else "Allow: GET, POST\r\n" if code == 405 else "")


def _out(c, now):
    """Send what the socket takes, for _BUDGET ms at most; then the next request (kept alive) or the end. A client
    that takes nothing for _WAIT_MS is closed."""
    o = c[_OUT]
    s = c[_SOCK]
    while time.ticks_diff(time.ticks_ms(), now) < _BUDGET:
        if o[1] == len(o[0]):  # all sent: the connection closes, or waits for the next request
            if c[_CLOSE]:
                try:  # what the client sent and was not read goes first: closed with it unread, the socket would
                    while c[_SOCK].readinto(c[_BUF]):  # reset the connection, and the client lose the answer
                        pass
                except OSError:
                    pass
                return close(c)
            if hasattr(o[0][-1], "readinto"):
                o[0][-1].close()
                c[_N] = 0
            c[_STATE], c[_REQ], c[_OUT] = 5 if c[_WS] else 0, None, None
            c[_DUE] = time.ticks_add(time.ticks_ms(), _WAIT_MS)
            return
        p = o[0][o[1]]
        f = hasattr(p, "readinto")
        if f:  # a file, a buffer at a time: o[2] is what is left of the buffer's c[_N] bytes
            if not o[2]:
                c[_N] = o[2] = p.readinto(c[_BUF]) or 0
                if not o[2]:
                    o[1] += 1
                    continue
            mv = memoryview(c[_BUF])[c[_N] - o[2]:c[_N]]
        else:
            mv = memoryview(p)[o[2]:]
            if not mv:
                o[1] += 1
                o[2] = 0
                continue
        try:
            n = s.send(mv)
        except OSError as e:
            if e.args[0] != _EAGAIN:
                raise
            n = 0
        if not n:
            if time.ticks_diff(now, c[_DUE]) > 0:
                close(c)
            return
        c[_DUE] = time.ticks_add(now, _WAIT_MS)
        o[2] += -n if f else n


def _deliver(c, now):
    """A WebSocket's step (the page's live updates, docs/web.md): the page's frames read, then the state sent when it
    changed (web.changes: an outlet switched, a badge event, a graph point) or every _EVERY ms. A ping is answered, a
    close closes; a frame not masked, longer than 125 bytes, with reserved bits, an unknown opcode or a control frame
    in pieces is a protocol error: said in a close frame, then the end. A session that ends (a logout, a new
    password, its expiry) ends its socket."""
    buf, n = c[_BUF], c[_N]
    r = c[_SOCK].readinto(memoryview(buf)[n:])
    if r == 0:  # the page is gone
        return close(c)
    if r:
        c[_N] = n = n + r
    while n >= 2:
        b, k = buf[0], buf[1] & 127
        op = b & 15
        if b & 0x70 or not buf[1] & 128 or k > 125 or op > 7 and not b & 128 or op not in (0, 1, 2, 8, 9, 10):
            return _say(c, 1009 if k > 125 and op < 8 else 1002)
        if n < 6 + k:
            return  # the frame's end is still on its way
        if op == 8:
            return _say(c, 1000)
        p = bytes(buf[6 + i] ^ buf[2 + i % 4] for i in range(k)) if op == 9 else b""
        buf[:n - 6 - k] = buf[6 + k:n]
        c[_N] = n = n - 6 - k
        if op == 9:  # a ping: its pong
            return _say(c, (bytes((0x8A, k)) + p,))
    w = c[_WS]
    ok = False
    for s in web.sessions:
        if same(s[0], w[0]) and time.ticks_diff(s[1], now) > 0:
            ok = True
    if not ok:
        return _say(c, 1008)  # logged out, or the password changed, or the session is over
    if w[2] == web.changes and time.ticks_diff(now, w[1]) < _EVERY or app.busy():
        return
    try:
        from firmware import webstate

        parts = webstate.state()
    except MemoryError:  # no room just now: tried again in a second (not at each step: each try takes the heap)
        parts = None
    finally:
        firmware.drop("webstate")
    w[1], w[2] = now, web.changes
    if not parts:
        return
    n = 0
    for p in parts:
        n += len(memoryview(p))  # bytes, not characters: a name may have letters of more than one byte
    _say(c, (bytes((0x81, 126, n >> 8, n & 255)),) + parts)


def _say(c, parts):
    """Queue a message's parts, or (an int) the close frame with that status (1000: the page closed; 1002: a protocol
    error; 1008: no session; 1009: a message too long), the connection closed once it is sent."""
    if type(parts) is int:
        c[_CLOSE] = True
        parts = (bytes((0x88, 2, parts >> 8, parts & 255)),)
    c[_OUT] = [parts, 0, 0]
    c[_STATE] = 4
    c[_DUE] = time.ticks_add(time.ticks_ms(), _WAIT_MS)
