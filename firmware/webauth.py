"""The web password and logins (loaded by web.py while one is set or checked, then dropped): the password kept in
webpass.json as salted PBKDF2-HMAC-SHA256 (never the password), derived in slices of the loop's time, so that the
second or so it takes on an ESP8266 never holds a relay, a tap or a schedule edge (docs/web.md, "Authentication").
Names are few here, as in webapi.py."""
import hashlib
import json
import os
import time

from micropython import const

from firmware import app, web, webconn
from firmware.log import log

# About 0.6 s on an ESP8266 at 80 MHz: 4.2 us an iteration on the 32-bit unix port of the bench machine, times 150,
# the ratio assumed between the two (docs/web.md says why)
_ITERATIONS = const(1000)


def load():
    """The stored record [iterations, salt, key] (hex), or None when no password is set."""
    try:
        with open("webpass.json") as f:
            r = json.load(f)
        return r if type(r) is list and len(r) == 3 and type(r[0]) is int and len(r[2]) == 64 else None
    except (OSError, ValueError):
        return None


def start(password, r=None):
    """A derivation of password: with the stored record's salt and count (r: a login), or a new salt (a new
    password). [ipad key, opad key, U, T, iterations left, salt, count]."""
    k = password.encode()
    if len(k) > 64:
        k = hashlib.sha256(k).digest()
    k += bytes(64 - len(k))
    i = bytes(x ^ 0x36 for x in k)
    o = bytes(x ^ 0x5C for x in k)
    s = bytes.fromhex(r[1]) if r else os.urandom(16)
    n = r[0] if r else _ITERATIONS
    u = hmac(i, o, s + b"\0\0\0\1")
    return [i, o, u, int.from_bytes(u, "big"), n - 1, s, n]


def hmac(a, b, m):
    """HMAC-SHA256 of m with the key's inner and outer pads (a, b)."""
    h = hashlib.sha256(a)
    h.update(m)
    d = h.digest()
    h = hashlib.sha256(b)
    h.update(d)
    return h.digest()


def step():
    """A slice of the derivation under way (web.job, 10 ms at most); once done, the login answered, the new password
    derived next (a change, once the current one is checked), or the new password stored."""
    c, d, new = web.job
    i, o, u, t, n = d[0], d[1], d[2], d[3], d[4]
    t0 = time.ticks_ms()
    while n and time.ticks_diff(time.ticks_ms(), t0) < 10:
        for _ in range(min(n, 8)):
            u = hmac(i, o, u)
            t ^= int.from_bytes(u, "big")
            n -= 1
    d[2], d[3], d[4] = u, t, n
    if n:
        return
    key = t.to_bytes(32, "big")
    web.job = None
    from binascii import hexlify  # noqa: I001 (loaded for the moment)

    if new is True:  # a new password: stored (atomic replace), every session ended
        with open("webpass.json.tmp", "w") as f:
            json.dump([d[6], hexlify(d[5]).decode(), hexlify(key).decode()], f)
        os.rename("webpass.json.tmp", "webpass.json")
        web.sessions.clear()
        log("web: password set; every session ended")
        if c:
            webconn.send(c, 200, '{"ok":true}', "Set-Cookie: mp=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n")
        return
    r = load()
    f = web.fails
    if r and webconn.same(key, bytes.fromhex(r[2])):
        f[0] = 0
        if new:  # a change: the current password is right, the new one's derivation next
            web.job = [c, start(new), True]
            return
        log("web: logged in")
        if c:  # a session: a random token in a cookie
            t = hexlify(os.urandom(16))
            if len(web.sessions) >= 4:
                web.sessions.pop(0)
            h = app.cfg["web"]["session_h"]
            web.sessions.append([t, time.ticks_add(time.ticks_ms(), h * 3600000)])
            webconn.send(c, 200, '{"ok":true,"session_h":%d}' % h, "Set-Cookie: mp=%s; Path=/; HttpOnly; "
                         "SameSite=Strict; Max-Age=%d\r\n" % (t.decode(), h * 3600))
        return
    f[0] += 1
    n = min(1 << f[0] - 1, 300)
    f[1] = time.ticks_add(time.ticks_ms(), n * 1000)
    log("web: wrong password (%d in a row): the next login in %d s" % (f[0], n))
    if c:
        webconn.send(c, 401, '{"error":"wrong password; the next login in %d s"}' % n)


def password(p):
    """The console's webpass: a new password's derivation begun; what to say."""
    if not 8 <= len(p) <= 64:
        return "error: a web password has 8 to 64 characters; nothing changed"
    if web.job:
        return "error: a password is being checked just now; try again in a second"
    web.job = [None, start(p), True]
    return "web: setting the password"
