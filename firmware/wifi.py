"""The Wi-Fi keeper's look when the link is not simply up (loaded by link._radio for the moment, then dropped):
join the configured network (STA only: the access point is turned off), notice when it drops, join again with a
back-off from 5 s to 60 s; a radio error is ridden out. The link's state is link.wifi: connected, connecting,
not configured, down (why), radio error."""
import time

from firmware import link
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
            if not conf["ssid"]:
                sta.active(False)
                link.wifi = "not configured"
                log("wifi: not configured")
                return
            sta.active(True)
        if sta.isconnected():
            if link.wifi != "connected":
                link.wifi = "connected"
                w[2] = 0
                log("wifi: connected to %s, ip %s, rssi %d" % (conf["ssid"], sta.ifconfig()[0], sta.status("rssi")))
            w[1] = time.ticks_add(now, 2000)
            return
        if link.wifi == "connecting":
            st = sta.status()
            if st != network.STAT_GOT_IP and not 2 <= st <= 4 and time.ticks_diff(now, w[3]) < 15000:
                w[1] = time.ticks_add(now, 250)
                return
            w[2] = min(w[2] * 2 or 5, 60)
            link.wifi = "down (%s)" % _WHY[st - 2] if 2 <= st <= 4 else "no answer"
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
