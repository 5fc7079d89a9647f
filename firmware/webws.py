"""The page's live updates: a WebSocket (RFC 6455) on GET /api/ws, from a logged-in page (docs/web.md; the handshake
is webapi.accept's). Loaded by webconn.py while one is open, dropped when it closes.

The board sends the state, as GET /api/state gives it, in a text message: at once when an outlet switches, a badge
event comes or the graph has a point (web.changes counts them), and every second otherwise. What the page sends is
read and left: a ping is answered, a close closes; a frame not masked, longer than 125 bytes, with reserved bits, an
unknown opcode or a control frame in pieces is a protocol error: the board says so in a close frame and closes. One
page at a time has them (another is answered 503 and polls); a session that ends (a logout, a new password, its
expiry) ends its socket."""
import time

from micropython import const

import firmware
from firmware import app, web, webconn

_EVERY = const(1000)  # ms between two states when nothing switched (the power, the timers, the reasons move)
_WAIT_MS = const(5000)  # as webconn's: a page that takes nothing of a message for that long is closed
# a connection's slots, as webconn.py has them
_SOCK = const(0)
_STATE = const(1)
_BUF = const(2)
_N = const(3)
_DUE = const(4)
_OUT = const(6)
_CLOSE = const(7)
_WS = const(8)


def step(c, now):
    """The WebSocket's step: the page's frames read, then the state sent when it changed or is due."""
    buf, n = c[_BUF], c[_N]
    r = c[_SOCK].readinto(memoryview(buf)[n:])
    if r == 0:  # the page is gone
        return webconn.close(c)
    if r:
        c[_N] = n = n + r
    while n >= 2:
        b, k = buf[0], buf[1] & 127
        op = b & 15
        if b & 0x70 or not buf[1] & 128 or k > 125 or op > 7 and not b & 128 or op not in (0, 1, 2, 8, 9, 10):
            return _send(c, 1009 if k > 125 and op < 8 else 1002)
        if n < 6 + k:
            return  # the frame's end is still on its way
        if op == 8:
            return _send(c, 1000)
        p = bytes(buf[6 + i] ^ buf[2 + i % 4] for i in range(k)) if op == 9 else b""
        buf[:n - 6 - k] = buf[6 + k:n]
        c[_N] = n = n - 6 - k
        if op == 9:  # a ping: its pong
            return _send(c, (bytes((0x8A, k)) + p,))
    w = c[_WS]
    ok = False
    for s in web.sessions:
        if webconn.same(s[0], w[0]) and time.ticks_diff(s[1], now) > 0:
            ok = True
    if not ok:
        return _send(c, 1008)  # logged out, or the password changed, or the session is over
    if w[2] == web.changes and time.ticks_diff(now, w[1]) < _EVERY or app.busy():
        return
    try:
        from firmware import webstate

        parts = webstate.state()
    except MemoryError:  # no room just now: the next step tries again
        return
    finally:
        firmware.drop("webstate")
    w[1], w[2] = now, web.changes
    n = 0
    for p in parts:
        n += len(memoryview(p))  # bytes, not characters: a name may have letters of more than one byte
    _send(c, (bytes((0x81, 126, n >> 8, n & 255)),) + parts)


def _send(c, parts):
    """Queue a message's parts, or (an int) the close frame with that status (1000: the page closed; 1002: a protocol
    error; 1008: no session; 1009: a message too long), the connection closed once it is sent."""
    if type(parts) is int:
        c[_CLOSE] = True
        parts = (bytes((0x88, 2, parts >> 8, parts & 255)),)
    c[_OUT] = [parts, 0, 0]
    c[_STATE] = 4
    c[_DUE] = time.ticks_add(time.ticks_ms(), _WAIT_MS)

