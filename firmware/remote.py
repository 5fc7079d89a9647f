"""A round with the central server (loaded by link.run when one is due, then dropped): finished sessions
delivered, pending commands carried out (orders.py, loaded only when there are some) and acknowledged, the
heartbeat."""
import os
import time

import firmware
from firmware import app, link
from firmware.log import log
from micropython import const

_MAX_DONE = const(64)  # finished sessions kept for the server; beyond, the oldest are dropped (and counted)
PATH = "/api/v1/device/"
# The rare lines of the log, in one constant: while the module is loaded, each string constant keeps a block of heap
_SAY = const(("server: our clock is not trusted and the server's says %d: taken|server: session refused (%d %s): %s"
        "|badge: %d finished session(s) dropped: more than %d waiting for the server"))


def _say(i, a):
    log(_SAY.split("|")[i] % a)


async def round():
    """True when the server answered everything as it should."""
    from firmware import client

    srv = app.cfg["server"]
    try:
        await _deliver(client, srv)
        st, ans = await client.call(srv, "GET", PATH + "commands")
        if st == 200:
            cs = ans.get("commands") if type(ans) is dict else None
            if cs:
                from firmware import orders

                done = orders.run(cs)  # [(id, ok, result)], each logged
                cs = ans = orders = None
                firmware.drop("orders")
                for c in done:
                    await client.call(srv, "POST", PATH + "commands/%d/ack" % c[0], {"ok": c[1], "result": c[2]})
        elif _skew(st, ans):
            return False
        if not link.beat or time.ticks_diff(time.ticks_ms(), link.beat) >= srv["heartbeat_s"] * 1000:
            st, ans = await client.call(srv, "POST", PATH + "heartbeat", _state())
            link.beat = time.ticks_ms()
        link.last = "ok" if st == 200 else "answered %d" % st
        return st == 200
    except (OSError, ValueError) as e:  # unreachable, too slow, unsigned or garbled: the next round
        link.last = "unreachable: %s" % (e.args[0] if e.args else e)
        return False


def _skew(st, ans):
    """A signed clock skew answer: a board whose time is not trusted takes the server's."""
    import sys

    clock = sys.modules["firmware.clock"]
    if st == 401 and type(ans) is dict and ans.get("error") == "clock skew" and type(ans.get("time")) is int:
        t = ans["time"] - link.EPOCH
        if not clock.T_MIN <= t < clock.T_MAX:  # signed, yet no time a server can have
            link.last = "clock skew, with a time not taken (%d)" % ans["time"]
            return True
        if not clock.trust:
            clock.ask = [t, "server"]
            _say(0, ans["time"])
        link.last = "clock skew"
        return True
    link.last = "answered %d" % st
    return False


async def _deliver(client, srv):
    """Send done.log's sessions, oldest first, until one is not taken; then keep only those not delivered (and
    at most _MAX_DONE of them)."""
    try:
        f = open(link.DONE)
    except OSError:  # nothing waits
        return
    n = sent = 0
    try:
        for line in f:
            if line == "\n":
                continue
            n += 1
            if sent < n - 1:  # one was not taken: the rest wait for the next round (in order)
                continue
            if not line.endswith("}\n"):  # a line cut by a power cut: not a session
                sent += 1
                continue
            st, ans = await client.call(srv, "POST", PATH + "sessions", line[:-1])  # the line is the JSON
            if st == 200 or st in (400, 409, 422):  # taken, or refused for good: never to be sent again
                sent += 1
                if st != 200:
                    _say(1, (st, ans, line[:40]))
    finally:
        for line in f:  # the rest, when a call failed: counted too, for the bound
            if line != "\n":
                n += 1
        f.close()
        _bound(n, sent)


def _bound(n, sent=0):
    """done.log holds n sessions, the first `sent` of them delivered: keep the rest, the newest _MAX_DONE at most."""
    drop = max(0, n - sent - _MAX_DONE)
    if sent or drop:
        _keep(sent + drop)
    if drop:
        _say(2, (drop, _MAX_DONE))


def trim():
    """Keep done.log within _MAX_DONE sessions while no round can deliver them (link.finish, when it grows)."""
    with open(link.DONE) as f:
        n = sum(1 for line in f if line != "\n")
    _bound(n)


def _keep(skip):
    """Rewrite done.log without its first `skip` lines (atomically: a copy renamed over it)."""
    with open(link.DONE) as f, open(link.DONE + ".tmp", "w") as g:
        for line in f:
            if line == "\n":
                continue
            if skip:
                skip -= 1
            elif line.endswith("}\n"):
                g.write(line)
    os.rename(link.DONE + ".tmp", link.DONE)


def _state():
    """The heartbeat's body, written here in pieces (a tuple: client.call sends them one after the other, and a heap
    in pieces has room for each where the whole might find none; a dict of dicts would take more). With a metering chip
    (meter.py loaded), each outlet's power and energy counter, and the strip's, voltage, current, power factor; and
    `shed` true while the server's order or the board's own overload protection holds an outlet off."""
    import gc
    import sys

    from firmware import VERSION

    o = app.outlets
    n = len(o)
    m = sys.modules.get("firmware.meter")
    return ('{"version":"%s","uptime":%d,"heap":%d,"outlets":[' % (
        VERSION, time.ticks_diff(time.ticks_ms(), app.stats["t0"]) // 1000, gc.mem_free()),) + tuple(
        '%s{"on":%s,"why":"%s"%s}' % (
            "," if i else "", "true" if o.on[i] else "false", o.reason(i)[:32].replace('"', "'"),
            ',"power_w":%d,"energy_wh":%d.%03d' % (m.watts[i], m.wh[i], m.uwh[i] // 1000) if m else "")
        for i in range(n)) + ('],"shed":%s%s}' % (
            "true" if [1 for u in link.shed if u is not None] or [1 for h in o.hold if h & 4] else "false",
            ',"power_w":%d,"energy_wh":%d.%03d,"measured":true,%s' % (m.total, m.wh[n], m.uwh[n] // 1000, m.rms())
            if m else ""),)
