"""The setup page's requests (portal.py, docs/web.md "Setup without a cable"): loaded for one request while the
setup's access point is open, then dropped, so that a board running from /lib holds its bytecode only then. Its
names are the setup's (tools/vboard/bench.py, SETUP_ONLY)."""
import time

from firmware import portal as p
from firmware import web, webconn
from firmware.log import log


def handle(c, r):
    """A request while the access point is open: the setup page and its API; any other site (a name in Host: what a
    phone asks to find out whether it is behind a portal) is sent to the page. Answered (None), or the name of the
    page webapi sends (lib/setup.html.gz)."""
    import json
    import os

    h = r[10] or b""
    if [1 for x in h.split(b":")[0] if not (48 <= x <= 57 or x == 46)]:  # not an address: another site
        return webconn.send(c, 302, "", "Location: http://%s/\r\n" % p.IP)
    m, path = r[0], r[1]
    if path == b"/" and m == b"GET":
        return "setup"
    try:
        os.stat("webpass.json")
        need = False
    except OSError:
        need = True
    if path == b"/api/setup" and m == b"GET":
        return webconn.send(c, 200, '{"state":%s,"ap":"%s","ip":%s,"web_password_needed":%s}' % (
            json.dumps(p.state), p.ap, json.dumps(p._join[2]), json.dumps(need)))
    if path == b"/api/scan" and m == b"GET":  # about 2 s on an ESP8266 (the radio listens on each channel)
        import network

        seen = {}
        for n in network.WLAN(network.STA_IF).scan():
            k = n[0].decode("utf-8", "replace")
            if k and (k not in seen or n[3] > seen[k][0]):
                seen[k] = (n[3], n[4] == 0)
        best = sorted(seen.items(), key=lambda x: -x[1][0])[:12]
        return webconn.send(c, 200, json.dumps([[k, v[0], v[1]] for k, v in best]))
    if path != b"/api/setup" or m != b"POST":
        return webconn.refused(c, 404, None, False)
    if not r[4]:
        return webconn.refused(c, 403, "a request from a page needs the X-Multiprise header (CSRF check)", False)
    j = webconn.network(c, r[7])
    if not j:
        return
    ssid, key, pw = j["ssid"], j["password"], j.get("web")
    if need and (type(pw) is not str or not 8 <= len(pw) <= 64):
        return webconn.refused(c, 400, "a web password of 8 to 64 characters is needed (there is none yet)", False)
    if p.state[:6] == "joined" or web.job:
        return webconn.refused(c, 409, "the board is busy with the last one", False)
    if need:
        web.password(pw)  # derived a slice at a time by the web task, then stored
    p.state = "joining " + ssid
    p._join[0], p._join[1], p._join[3], p._join[4] = ssid, time.ticks_ms(), key, time.time()
    import network

    network.WLAN(network.STA_IF).connect(ssid, key)
    log("wifi: joining %s from the setup page" % ssid)
    return webconn.send(c, 200, '{"ok":true,"answer":%s}' % json.dumps(p.state))
