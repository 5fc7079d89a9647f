"""The web password and logins (loaded by web.py while one is set or checked, then dropped): the password kept in
webpass.json as salted PBKDF2-HMAC-SHA256 (never the password), derived in slices of the loop's time, so that the second or so it
takes on an ESP8266 never holds a relay, a tap or a schedule edge (docs/web.md, "Authentication")."""
import hashlib
import json
import os
import time

from firmware import app, web, webconn
from firmware.log import log

FILE = "webpass.json"
# About 0.6 s on an ESP8266 at 80 MHz: 4.2 us an iteration on the 32-bit unix port of the bench machine, times 150,
# the ratio assumed between the two (docs/web.md says why)
ITERATIONS = 1000


def stored():
    """The stored record {"n", "salt", "key"}, or None when no password is set."""
    try:
        with open(FILE) as f:
            r = json.load(f)
        return r if type(r) is dict and type(r.get("n")) is int and len(r.get("key", "")) == 64 else None
    except (OSError, ValueError):
        return None


def begin(password, rec=None):
    """A derivation of password: with the stored record's salt and count (a login), or a new salt (rec None: a new
    password). [ipad key, opad key, U, T, iterations left, salt, count]."""
    k = password.encode()
    if len(k) > 64:
        k = hashlib.sha256(k).digest()
    k += bytes(64 - len(k))
    ipad = bytes(x ^ 0x36 for x in k)
    opad = bytes(x ^ 0x5C for x in k)
    salt = bytes.fromhex(rec["salt"]) if rec else os.urandom(16)
    n = rec["n"] if rec else ITERATIONS
    u = _hmac(ipad, opad, salt + b"\0\0\0\1")
    return [ipad, opad, u, int.from_bytes(u, "big"), n - 1, salt, n]


def _hmac(ipad, opad, m):
    h = hashlib.sha256(ipad)
    h.update(m)
    d = h.digest()
    h = hashlib.sha256(opad)
    h.update(d)
    return h.digest()


def derive(d, ms):
    """Iterate for ms at most; the derived key (32 bytes) once done, else None."""
    ipad, opad, u, t, left = d[0], d[1], d[2], d[3], d[4]
    t0 = time.ticks_ms()
    while left and time.ticks_diff(time.ticks_ms(), t0) < ms:
        for _ in range(min(left, 8)):
            u = _hmac(ipad, opad, u)
            t ^= int.from_bytes(u, "big")
            left -= 1
    d[2], d[3], d[4] = u, t, left
    return None if left else t.to_bytes(32, "big")


def save(d, key):
    """Store a new password's record (atomic replace)."""
    from binascii import hexlify

    tmp = FILE + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"n": d[6], "salt": hexlify(d[5]).decode(), "key": hexlify(key).decode()}, f)
    os.rename(tmp, FILE)


def step():
    """A slice of the derivation under way (web.job); once done, the login answered or the new password stored."""
    key = derive(web.job[1], 10)
    if key is None:
        return
    c, d = web.job
    web.job = None
    if c is None:
        save(d, key)
        web.sessions.clear()
        log("web: password set; every session ended")
        return
    rec = stored()
    f = web.fails
    if rec and webconn.same(key, bytes.fromhex(rec["key"])):
        f[0] = 0
        if c:
            _open_session(c)
        log("web: logged in")
        return
    f[0] += 1
    wait = min(1 << f[0] - 1, 300)
    f[1] = time.ticks_add(time.ticks_ms(), wait * 1000)
    log("web: wrong password (%d in a row): the next login in %d s" % (f[0], wait))
    if c:
        webconn.respond(c, 401, '{"error":"wrong password; the next login in %d s"}' % wait)


def _open_session(c):
    import os
    from binascii import hexlify

    t = hexlify(os.urandom(16))
    if len(web.sessions) >= 4:
        web.sessions.pop(0)
    h = app.cfg["web"]["session_h"]
    web.sessions.append([t, time.ticks_add(time.ticks_ms(), h * 3600000)])
    webconn.respond(c, 200, '{"ok":true,"session_h":%d}' % h,
            "Set-Cookie: mp=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d\r\n" % (t.decode(), h * 3600))


def password(p):
    """The console's webpass: a new password's derivation begun; what to say."""
    if not 8 <= len(p) <= 64:
        return "error: a web password has 8 to 64 characters; nothing changed"
    if web.job:
        return "error: a password is being checked just now; try again in a second"
    web.job = [None, begin(p)]
    return "web: setting the password"
