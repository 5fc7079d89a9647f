"""The Wi-Fi keeper's look when the link is not simply up (loaded by link._radio for the moment, then dropped):
join the configured network (STA only: the access point is turned off), notice when it drops, join again with a
back-off from 5 s to 60 s; a radio error is ridden out. The link's state is link.wifi: connected, connecting,
not configured, down (why), radio error.

A network set from the page (switch) is tried first: kept in config.json once joined; if it cannot be joined, the
board goes back to the one it had (link.previous holds it meanwhile), and nothing is stored."""
import time

from firmware import app, link
from firmware.log import log
from micropython import const

_WHY = const(("wrong password", "network not found", "connection failed"))  # status 2, 3, 4


def look(conf, w):
    """One look: join the configured network, notice when it drops, join again with a back-off; never waits.
    w: link._w."""
    import network

    now = time.ticks_ms()
    try:
        sta = w[0]
        if sta is None:
            network.WLAN(network.AP_IF).active(False)
            sta = w[0] = network.WLAN(network.STA_IF)
            if not conf["ssid"]:  # set up from a phone: the setup's access point and page
                link.wifi = "not configured"
                log("wifi: not configured")
                import sys

                __import__("firmware.portal")  # (by its name as a string: "portal" is never interned on a board
                sys.modules["firmware.portal"].start()  # with a network: docs/heap.md, "Names")
                return
            sta.active(True)
        if sta.isconnected():
            if link.wifi != "connected":
                link.wifi = "connected"
                w[2] = 0
                log("wifi: connected to %s, ip %s, rssi %d" % (conf["ssid"], sta.ifconfig()[0], sta.status("rssi")))
                if link.previous:  # a network set from the page, joined: kept
                    link.previous = None
                    raw = app.load("config.json") or {}
                    raw["wifi"] = dict(raw.get("wifi") or {}, ssid=conf["ssid"], password=conf["password"])
                    try:
                        app.save("config.json", raw)
                        log("wifi: %s kept in config.json" % conf["ssid"])
                    except OSError as e:  # the flash full or failing: joined for now, not kept (not a radio error)
                        log("wifi: %s joined but not kept: config.json cannot be written (%r)" % (conf["ssid"], e))
            w[1] = time.ticks_add(now, 2000)
            return
        if link.wifi == "connecting":
            st = sta.status()
            if st != network.STAT_GOT_IP and not 2 <= st <= 4 and time.ticks_diff(now, w[3]) < 15000:
                w[1] = time.ticks_add(now, 250)
                return
            w[2] = min(w[2] * 2 or 5, 60)
            link.wifi = "down (%s)" % _WHY[st - 2] if 2 <= st <= 4 else "no answer"
            if link.previous:  # a network set from the page that cannot be joined: the one before, at once
                app.cfg["wifi"], link.previous = link.previous, None
                log("wifi: cannot join %s: %s; back to %s" % (conf["ssid"], link.wifi, app.cfg["wifi"]["ssid"]))
                w[1], w[2] = now, 0
                return
            log("wifi: cannot join %s: %s; retrying in %d s" % (conf["ssid"], link.wifi, w[2]))
            w[1] = time.ticks_add(now, w[2] * 1000)
            return
        if link.wifi == "connected":
            log("wifi: lost %s" % conf["ssid"])
        link.wifi = "connecting"
        if network.hostname() == "mpy-esp8266":  # the name the router lists: the strip's, unless boot.py set one
            network.hostname("multiprise-%02x%02x" % tuple(sta.config("mac")[-2:]))
        sta.connect(conf["ssid"], conf["password"])
        w[1] = time.ticks_add(now, 100)
        w[3] = now
    except OSError as e:  # the radio can fail for a moment: say so and try again
        w[2] = min(w[2] * 2 or 5, 60)
        link.wifi = "radio error"
        log("wifi: radio error %r; retrying in %d s" % (e, w[2]))
        w[1] = time.ticks_add(now, w[2] * 1000)


def setup():
    """The FLASH button held 5 s (link.run): the setup's access point and page, as on a board with no network
    (portal.py); the station leaves its network meanwhile. Nothing joined there in 5 minutes: the app restarts on the
    network it has."""
    import sys

    __import__("firmware.portal")  # first: without room for it, nothing has changed (the next look tries again)
    from firmware import loop, web

    if not [t for t in loop.tasks if t[2] == "web"]:  # a board without the web server: started for the setup
        web.start()
    link.wifi = "setup"
    if link._w[0]:
        link._w[0].disconnect()
    sys.modules["firmware.portal"].start()


def switch(ssid, password):
    """The page's Wi-Fi network: tried now (the board leaves the one it is on), kept once joined, else the one before
    comes back (look). What to say."""
    if not link.previous:  # tried twice in a row: the one to go back to is still the first
        link.previous = app.cfg["wifi"]
    app.cfg["wifi"] = dict(link.previous, ssid=ssid, password=password)
    w = link._w
    if w[0]:
        w[0].disconnect()
    link.wifi = "connecting to a new network"
    w[1], w[2] = time.ticks_ms(), 0
    log("wifi: joining %s (set on the page)" % ssid)
    return "joining %s; if it cannot be joined, the board goes back to %s" % (ssid, link.previous["ssid"] or "none")
