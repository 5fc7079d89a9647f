"""The board's state as the web API gives it (GET /api/state): loaded by webapi.py for the moment, then dropped."""
import json
import time
from binascii import hexlify

from firmware import app, web


def state():
    """The board's state as JSON, in parts of a few hundred bytes at most (a tuple: webconn.send sends them one after
    the other, and a heap in pieces has room for them where it has none for the whole): the outlets, power, the
    energy today and overall with a metering chip (Wh; null without), Wi-Fi, uptime, version, free heap, time, the
    loop's longest step (ms, since the start or MQTT's last telemetry), the last badge events, the last 10 minutes of
    total power (oldest first, a point every graph_s seconds: 4 hex digits a point, the watts big-endian, ffff
    before the board had one)."""
    import gc
    import sys

    import network

    from firmware import VERSION, clock, loop

    o = app.outlets
    n = len(o)
    now = time.time()
    w, measured = web.watts()
    m = sys.modules.get("firmware.meter")
    e = m and m.wh  # the energy counters (Wh), with a metering chip: per outlet and the strip, overall, then today
    parts = ['{"name":%s,"version":"%s","power_total_w":%d,"measured":%s,"energy_today_wh":%s,"energy_wh":%s,'
             '"outlets":[' % (json.dumps(app.cfg["name"]), app.stats["version"] or VERSION, sum(w),
                              json.dumps(measured), e[2 * n + 1] if e else "null", e[n] if e else "null")]
    for i in range(n):
        t = clock.timers[i] if i < len(clock.timers) else None
        parts.append('%s{"name":%s,"on":%s,"why":%s,"power_w":%d,"today_wh":%s,"timer_s":%s,"timer_on":%s,'
                     '"shed":%s,"held":%s,"power_on":%s}' % (
            "," if i else "", json.dumps(o.names[i]), json.dumps(o.on[i]), json.dumps(o.reason(i)), w[i],
            e[n + 1 + i] if e else "null", max(0, t[0] - now) if t else "null", json.dumps(bool(t and t[1])),
            json.dumps(bool(o.hold[i] & 2)), json.dumps(bool(o.hold[i])), json.dumps(app.cfg["power_on"][i])))
    s = network.WLAN(0)
    wifi = []
    for k in ("essid", "channel", "mac", "rssi", "ip"):
        try:
            v = s.config(k) if k in ("essid", "channel", "mac") else s.status(k) if k == "rssi" else s.ifconfig()[0]
            wifi.append(json.dumps(k) + ":" + json.dumps(v if k != "mac" else ":".join("%02x" % x for x in v)))
        except (OSError, ValueError, TypeError, AttributeError):
            pass
    link = sys.modules.get("firmware.link")
    parts.append('],"wifi":{%s},"link":%s,' % (",".join(wifi), json.dumps(link and link.wifi)))
    parts.append('"uptime_s":%d,"time":"%s","time_trusted":%s,"clients":%d,"loop_ms":%d,"badges":[' % (
        time.ticks_diff(time.ticks_ms(), app.stats["t0"]) // 1000, clock.text(now), json.dumps(bool(clock.trust)),
        len(web.conns), loop.longest))
    for i in range(len(web.told)):  # each event a part of its own: a fragmented heap has room for small blocks
        parts.append(("," if i else "") + json.dumps(web.told[i]))
    gc.collect()
    d = memoryview(web.data)  # the points as they are kept, in hex, in four parts of 60 digits: a heap in pieces
    parts.append('],"graph_s":10,"graph":"')  # has room for those where it has none for 240 bytes, nor for a list of
    for k in range(0, 120, 30):  # 60 numbers
        parts.append(hexlify(d[k:k + 30]))
    parts.append('","heap":%d}' % gc.mem_free())
    return tuple(parts)  # 19 parts at most: their list takes 20 pointers
