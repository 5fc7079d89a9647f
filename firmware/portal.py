"""Setting a board up without a cable (docs/web.md, "Setup without a cable"): with no Wi-Fi network in config.json,
the board opens an access point, multiprise-XXXX (XXXX: the end of its MAC), open, with only the setup page; a DNS
server that answers every name with the board's address, and the web server's redirect of any other site to it, make
a phone open the page by itself (a captive portal). The page lists the networks around, takes the one to join, its
key and the web password (when none is set yet). Once joined, the network is kept in config.json (with the web
server), the page and the console say the board's address, and 15 s later the access point goes off and the app
restarts (a soft reset: the outlets keep their state) on its network.

Loaded by wifi.py when there is no network to join, or when the FLASH button is held 5 s (wifi.setup), and only
then: its names are the setup's (tools/vboard/bench.py, SETUP_ONLY), and the modules that reach it name it by
strings, which are not interned until they run. The app runs meanwhile: outlets, schedules on the RTC, the
console."""
import time

from micropython import const

from firmware import app, web
from firmware.log import log

IP = "192.168.4.1"  # the access point's address (the ESP8266's default)
_WAIT_MS = const(15000)  # a join's longest; the access point stays this long after one
ap = None  # the access point's name, while it is open
state = "waiting"  # then "joining SSID", "joined SSID", or "failed: why"
_join = [None, 0, None, None, 0]  # the network being joined: its ssid, when the join began or ended
# (time.ticks_ms()), the board's address once joined, its key until it is kept; when the access point opened or a join
# was last tried (time.time(): a board with a network goes back to it 5 minutes later if none is joined here)


def start():
    """The access point, the DNS server and the setup's task."""
    global ap
    import network

    from firmware import loop

    a = network.WLAN(network.AP_IF)
    m = a.config("mac")
    ap = "multiprise-%02x%02x" % (m[-2], m[-1])
    a.active(True)
    a.config(essid=ap, authmode=network.AUTH_OPEN)
    network.WLAN(network.STA_IF).active(True)  # to see the networks around, and join one
    _join[4] = time.time()
    log("wifi: %s: open access point %s, its setup page at http://%s/" % (
        "the FLASH button held 5 s" if app.cfg["wifi"]["ssid"] else "no network configured", ap, IP))
    loop.spawn("setup", run())


async def run():
    """The DNS server's answers, a join's progress; the app restarted 15 s after a network is joined."""
    import socket

    import network

    from firmware.loop import sleep_ms

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(socket.getaddrinfo("0.0.0.0", 53)[0][-1])
    s.setblocking(False)
    sta = network.WLAN(network.STA_IF)
    while True:
        await sleep_ms(50)
        for _ in range(8):  # the queries that came, 8 at most a step
            try:
                q, who = s.recvfrom(512)
            except OSError:
                break
            r = answer(q)
            if r:
                try:
                    s.sendto(r, who)
                except OSError:
                    pass
        if state[:4] == "join" and state[:6] != "joined":
            _joining(sta)
            continue
        if state[:6] == "joined":
            done = time.ticks_diff(time.ticks_ms(), _join[1]) > _WAIT_MS and not web.job
            why = _join[0]
        else:  # a board with a network (the FLASH button opened the setup): back to it when nothing is joined here
            done = app.cfg["wifi"]["ssid"] and time.time() - _join[4] > 300
            why = "%s (nothing joined from the setup page in 5 minutes)" % app.cfg["wifi"]["ssid"]
        if done:
            network.WLAN(network.AP_IF).active(False)
            log("wifi: access point %s off; the app restarts on %s" % (ap, why))
            s.close()
            raise SystemExit  # as the console's reboot: a soft reset, the outlets keep their state


def answer(q):
    """The DNS answer to a query (RFC 1035): every name is the board (an A record of IP); other types get no record.
    None for what is not one well-formed query."""
    if len(q) < 17 or q[2] & 0xF8 or q[4:6] != b"\0\1":  # a query (QR 0, opcode 0) of one question
        return None
    i = 12
    while i < len(q) and q[i]:
        if q[i] > 63:  # a label's length (no compression in a question)
            return None
        i += q[i] + 1
    i += 5  # the root's 0, the type, the class
    if i > len(q):
        return None
    a = q[i - 4:i] == b"\0\1\0\1"  # type A, class IN
    r = q[:2] + b"\x81\x80\0\1\0" + (b"\1" if a else b"\0") + b"\0\0\0\0" + q[12:i]
    if a:
        r += b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4" + bytes(int(x) for x in IP.split("."))
    return r


def _joining(sta):
    global state
    st = sta.status()
    if sta.isconnected():
        try:
            raw = app.load("config.json") or {}
            raw["wifi"] = {"ssid": _join[0], "password": _join[3]}
            if "web" not in raw:
                raw["web"] = {}
            app.save("config.json", raw)
        except OSError as e:  # the flash full or failing: the board stays in its setup, and says why
            state = "failed: config.json cannot be written (%r)" % e
            sta.disconnect()
            log("wifi: " + state)
            return
        _join[1], _join[2], _join[3] = time.ticks_ms(), sta.ifconfig()[0], None
        state = "joined " + _join[0]
        log("wifi: joined %s from the setup page, ip %s; kept in config.json" % (_join[0], _join[2]))
    elif 2 <= st <= 4 or time.ticks_diff(time.ticks_ms(), _join[1]) > _WAIT_MS:
        state = "failed: " + (("wrong password", "network not found", "connection failed")[st - 2] if 2 <= st <= 4
                              else "no answer")
        sta.disconnect()
        log("wifi: cannot join %s from the setup page: %s" % (_join[0], state[8:]))


def handle(c, r):
    """A request while the access point is open: answered by portalweb.py, loaded for the request (a board running
    from /lib holds its bytecode only then). Answered (None), or the name of the page webapi sends."""
    import sys

    import firmware

    try:
        __import__("firmware.portalweb")
        return sys.modules["firmware.portalweb"].handle(c, r)
    finally:
        firmware.drop("portalweb")
