"""The network keeper: join the configured Wi-Fi, notice when it drops, and join again with a back-off."""
import asyncio

import network

from firmware.log import log

state = "off"
WHY = {2: "wrong password", 3: "network not found", 4: "connection failed"}


async def keep(conf):
    global state
    network.WLAN(network.AP_IF).active(False)
    sta = network.WLAN(network.STA_IF)
    if not conf["ssid"]:
        sta.active(False)
        state = "not configured"
        log("wifi: not configured")
        return await asyncio.Event().wait()
    sta.active(True)
    backoff = 0
    while True:
        if sta.isconnected():
            if state != "connected":
                state = "connected"
                log("wifi: connected to %s, ip %s, rssi %d" % (conf["ssid"], sta.ifconfig()[0], sta.status("rssi")))
                backoff = 0
            await asyncio.sleep(2)
            continue
        if state == "connected":
            log("wifi: lost %s" % conf["ssid"])
        state = "connecting"
        sta.connect(conf["ssid"], conf["password"])
        for _ in range(60):
            await asyncio.sleep_ms(250)
            st = sta.status()
            if st == network.STAT_GOT_IP or st in WHY:
                break
        if not sta.isconnected():
            backoff = min(backoff * 2 or 5, 60)
            state = "down (%s)" % WHY.get(sta.status(), "no answer")
            log("wifi: cannot join %s: %s; retrying in %d s" % (conf["ssid"], state, backoff))
            await asyncio.sleep(backoff)
