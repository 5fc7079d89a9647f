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
        try:
            backoff = await _step(sta, conf, backoff)
        except OSError as e:  # the radio can fail for a moment: say so and try again
            backoff = min(backoff * 2 or 5, 60)
            state = "radio error"
            log("wifi: radio error %r; retrying in %d s" % (e, backoff))
            await asyncio.sleep(backoff)


async def _step(sta, conf, backoff):
    """One round: watch a live link for 2 s, or try to join; return the back-off to use next."""
    global state
    if sta.isconnected():
        if state != "connected":
            state = "connected"
            log("wifi: connected to %s, ip %s, rssi %d" % (conf["ssid"], sta.ifconfig()[0], sta.status("rssi")))
        await asyncio.sleep(2)
        return 0
    if state == "connected":
        log("wifi: lost %s" % conf["ssid"])
    state = "connecting"
    sta.connect(conf["ssid"], conf["password"])
    for _ in range(60):
        await asyncio.sleep_ms(250)
        st = sta.status()
        if st == network.STAT_GOT_IP or st in WHY:
            break
    if sta.isconnected():
        return 0
    backoff = min(backoff * 2 or 5, 60)
    state = "down (%s)" % WHY.get(sta.status(), "no answer")
    log("wifi: cannot join %s: %s; retrying in %d s" % (conf["ssid"], state, backoff))
    await asyncio.sleep(backoff)
    return backoff
