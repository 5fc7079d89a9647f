"""What a request to the board's web server asks, answered (loaded by web.py for one request, then dropped): the
JSON API under /api/ and the page (docs/web.md). Every switch goes through the arbiter with the reason `web`."""
import json
import time

from firmware import web, webconn

_PAGE = ("/rom/lib/page.html.gz", "/lib/page.html.gz")  # the ROMFS image first, as on sys.path


def answer(c, r):
    m, path = r[0], r[1].decode()
    if path == "/" and m == b"GET":
        return page(c, r)
    if path[:5] != "/api/":
        return _no(c, 404)
    if path == "/api/login" and m == b"POST":
        return login(c, r[7])
    if not _password_set():
        return _no(c, 403, "no web password yet: set one at the serial console (webpass)")
    if not authorized(r):
        return _no(c, 401, "log in first")
    if m == b"GET":
        if path == "/api/state":
            from firmware import webstate

            return webconn.respond(c, 200, webstate.state())
        return _no(c, 404)
    if not r[4]:
        return _no(c, 403, "a request from a page needs the X-Multiprise header (CSRF check)")
    if path == "/api/logout":
        t = r[3]
        for s in web.sessions[:]:
            if webconn.same(s[0], t):
                web.sessions.remove(s)
        return webconn.respond(c, 200, '{"ok":true}', "Set-Cookie: mp=; Path=/; HttpOnly; SameSite=Strict; "
                                                      "Max-Age=0\r\n")
    w = path[5:].split("/")
    if w[0] == "command" and len(w) == 1:
        line = _text(r[7])
    elif w[0] == "outlets" and len(w) == 3 and w[2] in ("on", "off", "toggle", "timer"):
        line = "%s %s" % (w[2], w[1]) if w[2] != "timer" else "timer %s %s" % (w[1], _text(r[7]))
    else:
        return _no(c, 404)
    if line is None:
        return _no(c, 400, "the body is a command line of printable characters")
    from firmware import orders

    a = orders.line(line, "web")
    if a[:6] == "error:":
        return _no(c, 400, json.dumps(a[7:])[1:-1])
    webconn.respond(c, 200, '{"ok":true,"answer":%s}' % json.dumps(a))


def authorized(r):
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


def _password_set():
    import os

    try:
        return bool(os.stat("webpass.json"))  # webauth.FILE (not loaded for that)
    except OSError:
        return False


def _no(c, code, why=None):
    """A request understood and refused: its status and why (the connection is kept)."""
    webconn.respond(c, code, '{"error":"%s"}' % (why or webconn.why(code)[4:].lower()))


def _text(b):
    if len(b) > 64 or [1 for x in b if not 32 <= x < 127]:
        return None
    return b.decode()


def login(c, body):
    """A password to check: the back-off first, then the derivation, a slice at each step of the web task (webauth.step
    answers)."""
    from firmware import webauth

    f = web.fails
    wait = time.ticks_diff(f[1], time.ticks_ms())
    if f[0] and wait > 0:
        return webconn.respond(c, 429, '{"error":"too many wrong passwords: the next login in %d s"}' % (
            (wait + 999) // 1000), "Retry-After: %d\r\n" % ((wait + 999) // 1000))
    if web.job:
        return webconn.respond(c, 429, '{"error":"another login is being checked"}', "Retry-After: 1\r\n")
    rec = webauth.stored()
    if not rec:
        return _no(c, 403, "no web password yet: set one at the serial console (webpass)")
    try:
        p = json.loads(body)["password"]
    except (ValueError, KeyError, TypeError):
        p = None
    if type(p) is not str or not 1 <= len(p) <= 64:
        return _no(c, 400, 'the body is {"password": "..."}')
    web.job = [c, webauth.begin(p, rec)]


def page(c, r):
    """The page: gzip-compressed in the firmware's image, sent a buffer at a time; 304 when the browser has it."""
    import os

    for p in _PAGE:
        try:
            st = os.stat(p)
            break
        except OSError:
            pass
    else:
        return _no(c, 404, "the page is not on this board")
    from firmware import VERSION

    tag = b'"%s-%d"' % (VERSION, st[6])
    if r[6] == tag:
        return webconn.respond(c, 304, "", "ETag: %s\r\n" % tag.decode(), "text/html")
    webconn.respond(c, 200, open(p, "rb"), "Content-Length: %d\r\nContent-Encoding: gzip\r\nETag: %s\r\n" % (
        st[6], tag.decode()), "text/html; charset=utf-8")
