"""The strip's links: Wi-Fi, the RFID reader, the central server; and what outlives a request: badge sessions,
load shedding.

Resident and small: the task that keeps the Wi-Fi joined, polls the RFID reader and hands a new badge to badge.py,
ends sheddings on time and, when the server is due, loads remote.py (sessions delivered, commands fetched and carried
out, heartbeat) for the moment; the listener that ends a badge session when its outlet goes off, whatever switched
it off (a second tap, its granted time, a command, a shedding).

Sessions (docs/firmware.md, "Badges, sessions..."): the open ones are in open.json, one entry per outlet; a finished one
is a line of done.log, the very body the server is sent, kept until the server has it. A finished session is
appended to done.log before it leaves open.json: a power cut between the two leaves it in both, and the boot
finds its id in done.log (bringup.recover). The id is the server's idempotency key, so a session sent again after a
cut is stored once."""
import sys
import time

import firmware
from firmware import app
from firmware.log import log
from micropython import const

EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0  # board time + EPOCH = unix time
_POLL_MS = const(150)  # the reader is polled this often: a badge is seen within it
_GONE = const(2)  # empty polls in a row that end a card's tap
OPEN = "open.json"
DONE = "done.log"
sessions = []  # per outlet: None, or [id, badge hash, start (unix), watts]
shed = []  # per outlet: None, or the unix time its shedding ends (0: until it is lifted)
last = None  # what the last exchange with the server gave, for status
tapped = None  # what the last badge did, for status
due = 0  # time.ticks_ms() of the next round with the server (0: at once)
busy = False  # a tap or a round holds the heap it loaded for the moment: the clock's jobs wait
beat = 0  # time.ticks_ms() of the last heartbeat sent
wifi = "off"  # the Wi-Fi link: connected, connecting, not configured, down (why), radio error
_w = [None, 0, 0, 0]  # the station interface, when to look at it next, the back-off (s), when the join began
previous = None  # while a network set on the page is tried: the Wi-Fi configuration to go back to (wifi.py)


def ended(i, on, why):
    """Outlet listener: an outlet with a session went off: the session is finished and queued for the server."""
    s = sessions[i] if i < len(sessions) else None
    if on or not s:
        return
    finish(i, s, max(time.time() + EPOCH, s[2]))
    sessions[i] = None
    from firmware import clock

    clock.timers[i] = None  # its granted time ends with it
    app.save(OPEN, sessions)
    why = "session on outlet %d ended (%s)" % (i + 1, why)
    log("badge: " + why)
    for fn in app.events:
        fn("session", s[1], why)


def finish(i, s, end):
    """Queue the finished session s of outlet i: one line, after a newline of its own (a line cut by a power cut
    ends there, and is ignored)."""
    import os

    meter = sys.modules.get("firmware.meter")
    m = len(s) > 4 and s[4] is not None and meter and meter.wh and meter.now_mwh(i) >= s[4]
    wh = (meter.now_mwh(i) - s[4]) // 10 if m else s[3] * (end - s[2]) // 36  # hundredths of a watt-hour: measured, or
    with open(DONE, "a") as f:                                            # the outlet's rated watts for its time
        f.write('\n{"id":"%s","badge":"%s","outlet":%d,"start":%d,"end":%d,"energy_wh":%d.%02d,"measured":%s}\n' % (
            s[0], s[1], i + 1, s[2], end, wh // 100, wh % 100, "true" if m else "false"))
    if os.stat(DONE)[6] > 12000:  # more than about 80 waiting (no round to deliver them): the oldest go
        try:
            from firmware import remote

            remote.trim()
        except MemoryError:  # the next session tries again
            pass
        finally:
            firmware.drop("remote")


def unshed(i, why):
    shed[i] = None
    app.outlets.set_hold(i, 2, False)  # outlets.SHED
    log("shed: outlet %d restored (%s)" % (i + 1, why))


async def run():
    """The task: the Wi-Fi kept joined; the reader polled every _POLL_MS, and a new badge handed to badge.py; every
    second, sheddings that are over; a round with the server as soon as the link is up, then every poll_s. One task
    for all, so that a tap and a round never hold the heap at the same time (each loads a client of the server for
    the moment); busy tells the clock's task."""
    global due
    from firmware.loop import sleep_ms

    r = app.reader
    b = app.cfg["board"]["button"]
    k = 0
    held = None  # time.ticks_ms() since the button is held
    while True:
        await sleep_ms(_POLL_MS if r else 250)
        k += 1
        try:
            if b:  # the FLASH button held 5 s: the setup's access point and page (wifi.setup)
                held = None if b.value() else held or time.ticks_ms()
                if held and time.ticks_diff(time.ticks_ms(), held) >= 5000 and "firmware.portal" not in sys.modules:
                    _wifi(1)
            _radio(app.cfg["wifi"])
            uid = r and _poll(r)
            if uid:
                await _job(_tap(uid))
            if k >= 1000 // (_POLL_MS if r else 250):
                k = 0
                _second()
            srv = app.cfg["server"]
            if srv["url"] and wifi == "connected" and time.ticks_diff(time.ticks_ms(), due) >= 0:  # at once when
                ok = await _job(_round())  # the link comes up, then every poll_s
                due = time.ticks_add(time.ticks_ms(), (srv["poll_s"] if ok else 2 if ok is None else
                                                       min(srv["poll_s"], 30)) * 1000)
        except MemoryError:  # no room for this look just now: the next one
            pass


async def _job(coro):
    """A tap or a round: busy while it runs (the web takes no new client, the clock and the console wait); it starts
    once a web answer being sent or a password being derived is done (web.holding), 1 s at most (a client slow to
    take it)."""
    import sys

    from firmware.loop import sleep_ms

    global busy
    busy = True
    try:
        web = sys.modules.get("firmware.web")
        t = time.ticks_ms()
        while web and web.holding() and time.ticks_diff(time.ticks_ms(), t) < 1000:
            await sleep_ms(20)
        return await coro
    finally:
        coro = None
        busy = False


def _second():
    """Every second: sheddings whose end time has come are over."""
    import sys

    if [u for u in shed if u] and sys.modules["firmware.clock"].trust:  # an end time needs a trusted clock
        now = time.time() + EPOCH
        for i, u in enumerate(shed):
            if u and u <= now:
                unshed(i, "its end time")
                app.save_state()


def _radio(conf):
    """The Wi-Fi keeper, one look when due (wifi.py, loaded only when the link is not up: joining, dropped, failing);
    never waits."""
    w = _w
    if wifi == "not configured" or wifi == "setup" or time.ticks_diff(time.ticks_ms(), w[1]) < 0:
        return
    try:  # the usual looks: up, as it was; or still joining (STAT_CONNECTING), not for too long
        up = w[0] and w[0].isconnected()
        if up and wifi == "connected" or not up and wifi == "connecting" and w[0].status() == 1 \
                and time.ticks_diff(time.ticks_ms(), w[3]) < 15000:
            w[1] = time.ticks_add(time.ticks_ms(), 2000 if up else 100)
            return
    except OSError:  # the radio failing: the look says so
        pass
    _wifi(0, conf)


def _wifi(setup, conf=None):
    """wifi.py for the moment: a look (wifi.look), or the setup opened (wifi.setup)."""
    try:
        from firmware import wifi as x

        x.setup() if setup else x.look(conf, _w)
    finally:
        firmware.drop("wifi")


async def _round():
    global last
    try:
        from firmware import remote

        return await remote.round()
    except MemoryError:  # None: tried again in 2 s (the heap is in pieces for a moment: a page's state being sent...)
        last = "not enough memory for a round just now"
    finally:
        firmware.drop("remote", "client")


# The reader (app.reader, built by bringup from board.reader): a card left on it is one tap; it must leave (_GONE
# empty polls in a row) before it taps again. A reader that stops answering is said once, and tried again.
_seen = [None, 0, None]  # the UID on the reader as last seen, empty polls since, the reader answered its set-up


def _poll(r):
    """The UID of a badge just presented, or None."""
    s = _seen
    try:
        if not s[2]:
            if s[1] > 0:  # after a failure, a new try every 5 s
                s[1] -= 1
                return None
            r.init()
            log("rfid: reader ready")
            s[2] = True
        uid = r.read()
    except OSError as e:
        if s[2] is not False:
            log("rfid: the reader does not answer (%r); trying again every 5 s" % e)
        s[1], s[2] = 5000 // _POLL_MS, False
        return None
    except MemoryError:  # the heap is in pieces just now: the next poll
        return None
    if uid is None:
        s[1] += 1
        if s[1] >= _GONE:
            s[0] = None
        return None
    s[1] = 0
    if uid == s[0]:
        return None
    s[0] = uid
    return uid


async def _tap(uid):
    """A badge presented: the server asked (client.py), then what it says done (badge.py), one module on the heap
    at a time."""
    srv = app.cfg["server"]
    h = res = None
    try:
        if srv["url"]:
            from firmware import client

            h = client.badge(srv["site_secret"], uid)
            if not [s for s in sessions if s and s[1] == h]:  # else its second tap: no question to ask
                try:
                    res = await client.call(srv, "POST", "/api/v1/device/authorize", {"badge": h})
                except OSError as e:
                    res = e.args[0] if e.args and type(e.args[0]) is str else repr(e)
            client = None
            firmware.drop("client")
        from firmware import badge

        badge.tap(h, res)
    except MemoryError:
        log("rfid: not enough memory for that badge just now: present it again")
    except Exception as e:  # a tap never stops the reader
        log("rfid: badge not handled: %r" % e)
    finally:
        firmware.drop("client", "badge", "grants")
