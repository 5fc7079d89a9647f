"""What a request to the board's web server asks, answered (loaded by webconn.py for one request, then dropped): the
JSON API under /api/ and the page (docs/web.md). Every switch goes through the arbiter with the reason `web`.

Each name a module holds is interned on the board for good, and the firmware's names are near the step where the
ESP8266 allocates 4.5 KB more for them (docs/heap.md, "Names"): functions and strings here reuse names the firmware
has anyway, and short strings (10 characters or fewer, which mpy-cross interns) are avoided."""
import json
import os
import sys
import time

from micropython import const

from firmware import web, webconn

# a connection's slots, as webconn.py has them
_STATE = const(1)
_DUE = const(4)
_OUT = const(6)
_WS = const(8)

def run(c, r):
    m, path = r[0], r[1].decode()
    name = "web"  # lib/web.html.gz (a name the firmware has anyway)
    p = sys.modules.get("firmware.portal")
    if p:  # no network yet: the setup's access point serves only the setup (its page's name, or answered)
        name = p.handle(c, r)
        if not name:
            return
    if path == "/" and m == b"GET":  # a page: gzip-compressed in the image, a buffer at a time; 304: it is known
        for p in ("/rom/lib/%s.html.gz" % name, "/lib/%s.html.gz" % name):  # the ROMFS image first, as on sys.path
            try:
                n = os.stat(p)[6]
                break
            except OSError:
                pass
        else:
            return webconn.refused(c, 404, "the page is not on this board", False)
        from firmware import VERSION

        tag = b'"%s-%d"' % (VERSION, n)
        head = "Content-Encoding: gzip\r\nETag: %s\r\n" % tag.decode()
        if r[6] == tag:
            return webconn.send(c, 304, "", head, "text/html; charset=utf-8")
        webconn.send(c, 200, open(p, "rb"), "Content-Length: %d\r\n" % n + head, "text/html; charset=utf-8")
        return
    w = path[5:].split("/")
    if path[:5] != "/api/":
        return webconn.refused(c, 404, None, False)
    if w == ["login"] and m == b"POST":
        return password(c, r[7], False)
    try:
        os.stat("webpass.json")
    except OSError:
        return webconn.refused(c, 403, "no web password yet: set one at the serial console (webpass)", False)
    if not allowed(r):
        return webconn.refused(c, 401, "log in first", False)
    if m == b"GET":
        if r[1] == b"/api/ws":  # the page's live updates
            return accept(c, r)
        if w != ["state"]:
            return webconn.refused(c, 404, None, False)
        from firmware import webstate

        return webconn.send(c, 200, webstate.state())
    if not r[4]:
        return webconn.refused(c, 403, "a request from a page needs the X-Multiprise header (CSRF check)", False)
    if w == ["logout"]:
        for s in web.sessions[:]:
            if webconn.same(s[0], r[3]):
                web.sessions.remove(s)
        return webconn.send(c, 200, '{"ok":true}', "Set-Cookie: mp=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n")
    if w == ["update"]:  # an update uploaded: written into stage/ as it comes
        from firmware import webota

        return webota.start(c, r)
    b = r[7]
    if w == ["password"]:
        return password(c, b, True)
    if w == ["wifi"]:  # the Wi-Fi network: tried, kept once joined (wifi.py)
        j = webconn.network(c, b)
        if not j:
            return
        import firmware
        from firmware import wifi

        try:
            return webconn.send(c, 200, '{"ok":true,"answer":%s}' % json.dumps(wifi.switch(j["ssid"], j["password"])))
        finally:
            firmware.drop("wifi")
    if len(b) > 64 or [1 for x in b if not 32 <= x < 127]:
        return webconn.refused(c, 400, "the body is a command line of printable characters", False)
    if w == ["command"]:
        line = b.decode()
    elif w[0] == "outlets" and len(w) == 3 and w[2] in ("on", "off", "toggle", "timer"):
        line = w[2] + " " + w[1] + (" " + b.decode() if w[2] == "timer" else "")
    else:
        return webconn.refused(c, 404, None, False)
    from firmware import orders

    a = orders.line(line, "web")
    if type(a) is not list:
        a = [a]
    if a[0][:6] == "error:":
        return webconn.refused(c, 400, json.dumps(a[0][7:])[1:-1], False)
    parts = ['{"ok":true,"answer":"']  # a part a line (the log's are up to 88 bytes each): a heap in pieces has room
    for i in range(len(a)):           # for those where it has none for the whole answer, nor for its copies
        if i:
            parts.append(b"\\n")
        parts.append(json.dumps(a[i])[1:-1])
    parts.append(b'"}')
    webconn.send(c, 200, tuple(parts))


def allowed(r):
    """The request's session is open (its token compared in constant time with each); sessions past their end are
    dropped."""
    now = time.ticks_ms()
    ok = False
    for s in web.sessions[:]:
        if time.ticks_diff(now, s[1]) > 0:
            web.sessions.remove(s)
        elif r[3] and webconn.same(r[3], s[0]):
            ok = True
    return ok


def password(c, body, new):
    """A login, or with new a change of the password ({"password": the current one, "new": ...}, from a session): the
    back-off first (a wrong current password counts as a wrong login), then the password's derivation, a slice at
    each step of the web task (webauth.step answers)."""
    from firmware import webauth

    f = web.fails
    wait = (time.ticks_diff(f[1], time.ticks_ms()) + 999) // 1000
    if f[0] and wait > 0:
        return webconn.send(c, 429, '{"error":"too many wrong passwords: the next login in %d s"}' % wait,
                            "Retry-After: %d\r\n" % wait)
    if web.job:
        return webconn.send(c, 429, '{"error":"another login is being checked"}', "Retry-After: 1\r\n")
    rec = webauth.load()
    if not rec:
        return webconn.refused(c, 403, "no web password yet: set one at the serial console (webpass)", False)
    try:
        r = json.loads(body)
        p = r["password"]
        new = r["new"] if new else None
    except (ValueError, KeyError, TypeError):
        p = None
    if type(p) is not str or not 1 <= len(p) <= 64:
        return webconn.refused(c, 400, "the body is JSON with password%s" % (" and new" if new else ""), False)
    if new is not None and (type(new) is not str or not 8 <= len(new) <= 64):
        return webconn.refused(c, 400, "a web password has 8 to 64 characters; nothing changed", False)
    web.job = [c, webauth.start(p, rec), new]


def accept(c, r):
    """GET /api/ws from a session: the handshake's answer queued, the connection a WebSocket once it is sent (served by
    webconn._deliver then)."""
    from binascii import b2a_base64
    from hashlib import sha1

    for x in web.conns:
        if x[_WS]:
            return webconn.refused(c, 503, "another page has the live updates: this one polls", False)
    k = r[8]
    if not k or len(k) != 24:
        return webconn.send(c, 426, '{"error":"a WebSocket of version 13 only"}',
                            "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n")
    if r[9] is not None and r[9] != r[10]:  # a page of another site (the cookie is SameSite=Strict all the same)
        return webconn.refused(c, 403, "a page of another site", False)
    a = b2a_base64(sha1(k + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())[:-1]
    c[_STATE] = 4
    c[_DUE] = time.ticks_add(time.ticks_ms(), 5000)
    c[_OUT] = [(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: " + a + b"\r\n\r\n",), 0, 0]
    c[_WS] = [r[3], time.ticks_add(time.ticks_ms(), -1000), web.changes - 1]  # the first state at once
