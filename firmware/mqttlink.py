"""MQTT's rarer moments, loaded by mqtt.py for the moment, then dropped: the client's name, a connection begun and
its CONNECT packet, the broker's answer, a connection lost and the back-off (5 s to 5 min), a command line carried
out (orders.line), a refused or retained command said in the log, an event written as JSON. No secret is ever
logged."""
import time

import firmware
from firmware import app, mqtt
from firmware.log import log

# What goes wrong, in words: the broker's CONNACK refusals (1-5), then mqtt.py's codes from 1000 on
SAY = ("the broker refused the connection: unacceptable protocol version|the broker refused the connection: identifier"
       " rejected|the broker refused the connection: server unavailable|the broker refused the connection: bad user"
       " name or password|the broker refused the connection: not authorized|the broker refused the subscription to"
       " commands|the broker closed the connection|the broker is silent|the broker stopped in the middle of a packet"
       "|the broker takes nothing|the broker sent a malformed packet (its length)|the broker sent a malformed PUBLISH"
       " (its topic or QoS)|the broker sent a packet it never sends, or of a wrong length|the broker did not answer"
       " the connection|cannot connect to %s:%d")


def start(conf):
    """The client's id (multiprise- and the end of the MAC) and topic prefix when the configuration leaves them to
    the board."""
    c = mqtt._c
    if not conf["client_id"]:
        import network
        from binascii import hexlify

        conf["client_id"] = "multiprise-" + hexlify(network.WLAN(0).config("mac")[-2:]).decode()
    if not conf["prefix"]:
        conf["prefix"] = "multiprise/" + conf["client_id"]
    c[11] = c[3] = time.ticks_ms()  # mqtt._SECOND, _DUE
    c[9] = time.ticks_add(c[3], 1000)  # _TELL


def connect(conf):
    """Begin a connection to the broker (never waits: mqtt._step sees it through). Not while Wi-Fi is down: the Wi-Fi
    keeper joins, and the next look is in a second."""
    import network
    import select
    import socket

    c = mqtt._c
    c[5] = time.ticks_ms()  # _SINCE
    if not network.WLAN(0).isconnected():
        c[3] = time.ticks_add(c[5], 1000)  # _DUE
        return
    try:  # an IP address needs no DNS; a name is looked up here, and that blocks while it lasts
        a = socket.getaddrinfo(conf["host"], conf["port"], 0, socket.SOCK_STREAM)[0][-1]
    except (OSError, IndexError):
        return lost("no address for " + conf["host"])
    c[0] = s = socket.socket()  # _SOCK
    c[2] = 1  # _UP: the TCP connection under way
    s.setblocking(False)
    try:
        s.connect(a)
    except OSError as e:
        if e.args[0] != 115:  # EINPROGRESS, on the ESP8266 (lwIP) as on Linux
            return mqtt.close(1008)
    c[1] = p = select.poll()  # _POLL
    p.register(s, select.POLLOUT)


def hello(conf):
    """Queue the CONNECT packet: MQTT 3.1.1, a clean session (a command sent while the board was away is not carried
    out later), the keepalive, the last will (offline, retained, QoS 1), the user and password if any."""
    u, w = conf["user"], conf["password"]
    k = conf["keepalive"]
    _short = mqtt._short
    mqtt._packet(0x10, (b"\0\4MQTT\4", bytes((0x2E | (0x80 if u else 0) | (0x40 if w else 0), k >> 8, k & 255)),
                        _short(conf["client_id"]), _short(conf["prefix"] + "/status"), _short("offline"))
                 + ((_short(u),) if u else ()) + ((_short(w),) if w else ()))


def welcome(code):
    """The broker's CONNACK: connected (everything is published again), or refused (OSError: mqtt.close says why)."""
    if code:
        raise OSError(code if code <= 5 else 1006)
    c = mqtt._c
    c[2] = 3  # _UP: connected
    c[8] = c[14] = 0  # _NEXT: availability first; _WARNED
    c[10] = c[17] = None  # _SHED, _REPLY
    c[9] = time.ticks_ms()  # _TELL: at once
    mqtt.dirty = (1 << len(app.outlets)) - 1  # every outlet's state again
    conf = app.cfg["mqtt"]
    log("mqtt: connected to %s:%d as %s" % (conf["host"], conf["port"], conf["client_id"]))


def lost(why):
    """A connection that ended, or a try that failed (why: an errno, one of SAY's, or a text): said, and the next try
    after the back-off: 5 s, doubled at each failure up to 5 min; 5 s again after a connection that lasted."""
    c = mqtt._c
    now = time.ticks_ms()
    if c[2] == 3 and time.ticks_diff(now, c[5]) > 60000:  # _UP, _SINCE: it was up for a minute
        c[4] = 0
    c[4] = min(c[4] * 2 or 5, 300)  # _WAIT
    c[3] = time.ticks_add(now, c[4] * 1000)  # _DUE
    if type(why) is int:
        conf = app.cfg["mqtt"]
        why = (SAY.split("|")[why - 1 if why <= 5 else why - 994] if why <= 5 or why >= 1000 else
               "connection lost (errno %d)" % why)
        if "%" in why:
            why = why % (conf["host"], conf["port"])
    log("mqtt: %s; trying again in %d s" % (why, c[4]))


def say(k):
    log("mqtt: " + SAY.split("|")[k + 2])


def odd(topic, retained):
    """A message that is not a command: retained (said once a connection), or on a topic not ours."""
    c = mqtt._c
    if not retained:
        return mqtt._refused(0, topic)
    if not c[14]:  # _WARNED
        c[14] = 1
        log("mqtt: a retained command on %s ignored: commands are never carried out again at a connection"
            % topic[:64].decode("utf-8", "replace"))


def line(m):
    """A command line: carried out (orders.line), its answer published on prefix/reply."""
    if not 0 < len(m) <= 64 or [1 for x in m if not 32 <= x < 127]:
        r = "error: a command is a line of up to 64 printable characters"
    else:
        try:
            from firmware import orders

            r = orders.line(m.decode(), "mqtt")
        finally:
            firmware.drop("orders", "timecmd", "schedcmd", "sched")
    mqtt._c[17] = r  # _REPLY
    if type(r) is str and r[:6] == "error:":
        mqtt._refused(3, r[7:])


def refused(n, why):
    """Say a refused command in the log, with how many since the last line (n)."""
    k = why[0]
    what = ("a message on %r" % why[1][:40] if k == 0 else "outlet %d: %r is not ON, OFF or TOGGLE" % (
        why[1] + 1, why[2][:16]) if k == 1 else "a message of %d bytes (%d at most)" % (why[1], len(mqtt._buf))
        if k == 2 else why[1])
    log("mqtt: command refused: %s%s" % (what, "" if n < 2 else " (%d refused since the last line)" % n))


def event(t):
    """An event's JSON: {"event": what, "badge": its hash, "text": what the log said}."""
    import json

    return json.dumps({"event": t[0], "badge": t[1], "text": t[2]})
