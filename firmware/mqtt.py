"""MQTT: each outlet's state and why, the board's availability, telemetry and events published through a broker;
commands taken from it and handed to the arbiter (docs/mqtt.md). Loaded only when the configuration has `mqtt`.

The client is the firmware's own MQTT 3.1.1, not micropython-lib's umqtt.simple: that one blocks in connect() until
the broker answers, and once a packet's first byte is in, waits with no time limit for whatever length the broker
announces and asserts on what it did not expect: a slow or hostile broker would stop the whole board. Here the
socket never blocks: a step of the task reads what has come (for _BUDGET ms at most), whole packets of up to _RX
bytes into one buffer made once (a longer message is read past as it comes), sends what waits as far as the socket
takes it, and every wait has a deadline. Out: QoS 0 (state is retained, and all of it is published again at each
connection); in: commands subscribed at QoS 1.

This module stays on the heap while the app runs, so it holds only what runs often; the rest is loaded for the
moment: mqttlink.py (the connection, what goes wrong in words, command lines), hass.py (Home Assistant's discovery,
the telemetry)."""
import time

from micropython import const

import firmware
from firmware import app

_RX = const(192)  # the longest packet taken (a command is a few bytes on a topic of some 40)
_HALF = const(96)  # a longer one: its start kept (topic and packet id: ours are shorter), the rest read past it
_BUDGET = const(10)  # ms a step may spend reading and sending
_STEP = const(20)  # ms between two steps
_WAIT_MS = const(5000)  # the most a connection, a packet being read or one being sent may take
_EAGAIN = const(11)  # the same number on the ESP8266 (lwIP) and on Linux
_ENTITIES = const(13)  # Home Assistant's (hass.py): a switch for each of up to 8 outlets, 4 sensors, a binary sensor
_QUIET_MS = const(10000)  # refused commands: a log line at most this often
# Why a connection ends, when the broker is at fault: mqttlink.SAY says it in words (an OSError's errno is smaller)
_LOST = const(1000)  # the broker closed the connection
_SILENT = const(1001)  # the broker is silent
_STUCK = const(1002)  # the broker stopped in the middle of a packet
_FULL = const(1003)  # the broker takes nothing
_LENGTH = const(1004)  # a malformed packet: its length
_TOPIC = const(1005)  # a malformed PUBLISH: its topic or its QoS
_KIND = const(1006)  # a packet the broker never sends, or of the wrong length
_LATE = const(1007)  # no CONNACK in time
_NO_TCP = const(1008)  # cannot connect
# _c's slots
_SOCK = const(0)  # the socket, or None
_POLL = const(1)
_UP = const(2)  # 0: no connection; 1: the TCP connection under way; 2: waiting for CONNACK; 3: connected
_DUE = const(3)  # time.ticks_ms() of the next try
_WAIT = const(4)  # the back-off, s
_SINCE = const(5)  # when the connection (or the try) began
_RXT = const(6)  # when the broker last sent something
_TXT = const(7)  # when the board last sent something
_NEXT = const(8)  # what is published next after a connection: 0 availability, 1 subscription, 2... discovery
_TELL = const(9)  # time.ticks_ms() when the telemetry is due
_SHED = const(10)  # the shedding as last published (None: not yet)
_SECOND = const(11)  # time.ticks_ms() of the last look at the energy and the shedding
_NO = const(12)  # commands refused since the last line that said so
_NO_AT = const(13)  # when that line was written (None: never)
_WARNED = const(14)  # a retained command was said to be ignored on this connection
_SHEDDING = const(15)  # whether an outlet is shed now (_second)
_WHYS = const(16)  # outlets whose reason is to be published, after their state (bit i: outlet i)
_REPLY = const(17)  # the answer to a command line, to publish
_c = [None, None, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, None, 0, False, 0, None]
_out = [None, 0, 0, 0]  # the packet being sent: its parts, the part, the offset in it, when it began
_r = [-1, 0, 0, 0, 0]  # the packet being read: its first byte (-1: none yet), remaining length, shift, read, when
_buf = bytearray(_RX)
_mv = memoryview(_buf)
dirty = 0  # outlets whose state is to be published (bit i: outlet i)
told = []  # events to publish: (what, badge hash, text), 4 at most
energy = [0, 0]  # the estimate since boot: Wh, and what is over in W*ms


def switched(i, on, why):
    """Outlet listener: its state is published at the next step."""
    global dirty
    dirty |= 1 << i


def heard(what, badge, text):
    """app.events listener: a badge tap (allowed, refused, ended) or a session ended, published as an event."""
    if len(told) >= 4:
        told.pop(0)
    told.append((what, badge, text))


def close(why=None):
    """Drop the connection (the broker publishes the last will: offline); why (an OSError's argument): logged, and
    a try again after the back-off."""
    c = _c
    if c[_SOCK]:
        try:
            c[_SOCK].close()
        except OSError:
            pass
    if why is not None:
        _job("mqttlink", "lost", why)
    c[_SOCK] = c[_POLL] = _out[0] = None
    c[_UP] = 0
    _r[0] = -1


def _job(mod, fn, *a):
    """mod.fn(*a), mod loaded for the moment (mqttlink, hass)."""
    try:
        return getattr(__import__("firmware." + mod, None, None, [fn]), fn)(*a)
    finally:
        firmware.drop(mod)


async def run():
    from firmware.loop import sleep_ms

    conf = app.cfg["mqtt"]
    _job("mqttlink", "start", conf)
    while True:
        await sleep_ms(_STEP)
        try:
            _step(conf)
        except OSError as e:
            close(e.args[0] if e.args else _LOST)
        except MemoryError:  # no room for this step just now: the next one (a connection half made: again in 1 s)
            if _c[_UP] < 3:
                close()
                _c[_DUE] = time.ticks_add(time.ticks_ms(), 1000)


def _step(conf):
    c = _c
    now = time.ticks_ms()
    if time.ticks_diff(now, c[_SECOND]) >= 1000:
        _second(now)
    if not c[_UP]:
        if time.ticks_diff(now, c[_DUE]) >= 0 and not app.busy():
            _job("mqttlink", "connect", conf)
        return
    s = c[_SOCK]
    if c[_UP] == 1:  # the TCP connection under way
        for _, ev in c[_POLL].ipoll(0):
            if ev & 0x18:  # POLLERR, POLLHUP
                raise OSError(_NO_TCP)
            c[_UP] = 2
            c[_RXT] = now
            _job("mqttlink", "hello", conf)  # the CONNECT packet
        if c[_UP] == 1:
            if time.ticks_diff(now, c[_SINCE]) > _WAIT_MS:
                raise OSError(_NO_TCP)
            return
    if _out[0] and not _send(s, now) or app.busy():  # what the broker sent may load a module: it waits too
        return
    _read(s, now)
    if c[_UP] == 2:
        if time.ticks_diff(now, c[_SINCE]) > _WAIT_MS:
            raise OSError(_LATE)
        return
    if time.ticks_diff(now, c[_RXT]) > conf["keepalive"] * 1500:
        raise OSError(_SILENT)
    while _out[0] is None and time.ticks_diff(time.ticks_ms(), now) < _BUDGET and _next(conf, now):
        _send(s, now)


def _second(now):
    """Once a second: the energy estimate (each outlet's rated watts while it is on: without a metering chip, when
    meter.py is not loaded), whether an outlet is shed (by the server, or by the overload protection)."""
    c = _c
    o = app.outlets
    dt = time.ticks_diff(now, c[_SECOND])
    c[_SECOND] = now
    e = energy
    c[_SHEDDING] = False
    for i in range(len(o)):
        if o.on[i]:
            e[1] += app.cfg["watts"][i] * dt
        if o.hold[i] & 6:  # outlets.SHED | OVER
            c[_SHEDDING] = True
    while e[1] >= 3600000:
        e[0] += 1
        e[1] -= 3600000


def _next(conf, now):
    """Queue the next message that is due (in _out); False when none is."""
    global dirty
    c = _c
    k = c[_NEXT]
    if k < 2:  # availability, then the commands' subscription
        c[_NEXT] += 1
        if k:
            t = conf["prefix"]
            _packet(0x82, (b"\0\1", _short(t + "/outlet/+/set"), b"\1", _short(t + "/command"), b"\1"))
        else:
            publish("/status", "online", 1)
        return True
    r = c[_REPLY]
    if r is not None:  # a list of lines is sent line by line, never joined (see orders.line)
        c[_REPLY] = None
        return publish("/reply", r if type(r) is str else tuple(x for ln in r for x in (ln, "\n"))[:-1])
    o = app.outlets
    if dirty or c[_WHYS]:
        for i in range(len(o)):
            if dirty >> i & 1:  # its state, then why
                dirty &= ~(1 << i)
                c[_WHYS] |= 1 << i
                return publish("/outlet/" + str(i + 1) + "/state", "ON" if o.on[i] else "OFF", 1)
            if c[_WHYS] >> i & 1:
                c[_WHYS] &= ~(1 << i)
                return publish("/outlet/" + str(i + 1) + "/reason", o.reason(i), 1)
    if c[_SHEDDING] != c[_SHED]:
        c[_SHED] = c[_SHEDDING]
        return publish("/shed", "ON" if c[_SHED] else "OFF", 1)
    if told:
        publish("/event", _job("mqttlink", "event", told[0]))
        return told.pop(0)
    if k < 2 + _ENTITIES:  # Home Assistant's discovery, an entity a step
        _job("hass", "discovery", conf, k - 2)
        c[_NEXT] += 1
        return True
    if conf["telemetry_s"] and time.ticks_diff(now, c[_TELL]) >= 0:
        c[_TELL] = time.ticks_add(now, conf["telemetry_s"] * 1000)
        return publish("/telemetry", _job("hass", "telemetry"))
    if time.ticks_diff(now, c[_TXT]) >= conf["keepalive"] * 500:
        _packet(0xC0, ())  # PINGREQ
        return True
    return False


def _short(s):
    """A string as MQTT sends one: its length in 2 bytes, then it."""
    if type(s) is str:
        s = s.encode()
    return bytes((len(s) >> 8, len(s) & 255)) + s


def publish(topic, msg, retain=0, whole=False):
    """Queue a PUBLISH (QoS 0) of msg (str, bytes, or a tuple of them) on the prefix + topic (or on topic itself,
    whole); True."""
    t = (_short(topic if whole else app.cfg["mqtt"]["prefix"] + topic),)
    _packet(0x30 | retain, t + (msg if type(msg) is tuple else (msg,)))
    return True


def _packet(kind, parts):
    """Queue a packet: its fixed header, then parts (str or bytes)."""
    n = 0
    for p in parts:
        n += len(memoryview(p))
    h = bytearray(5)
    h[0] = kind
    i = 1
    while True:
        h[i] = n & 0x7F | (0x80 if n > 0x7F else 0)
        n >>= 7
        i += 1
        if not n:
            break
    _out[0] = (memoryview(h)[:i],) + parts
    _out[1] = _out[2] = 0
    _out[3] = time.ticks_ms()


def _send(s, now):
    """Send what the socket takes of the packet in _out; True once it is all sent."""
    o = _out
    while o[0]:
        parts = o[0]
        if o[1] == len(parts):
            o[0] = None
            _c[_TXT] = now
            return True
        mv = memoryview(parts[o[1]])
        try:
            n = s.send(mv[o[2]:]) if o[2] < len(mv) else 0
        except OSError as e:
            if e.args[0] != _EAGAIN:
                raise
            n = None
        if n is None:
            if time.ticks_diff(now, o[3]) > _WAIT_MS:
                raise OSError(_FULL)
            return False
        o[2] += n
        if o[2] >= len(mv):
            o[1] += 1
            o[2] = 0
    return True


def _read(s, now):
    """Read and act on what the broker sent, packet by packet, for _BUDGET ms at most, and only while nothing waits
    to be sent (an acknowledgement then has its place)."""
    r = _r  # the packet's first byte (-1: none yet), remaining length, its shift (-1: known), bytes read, when
    while _out[0] is None and time.ticks_diff(time.ticks_ms(), now) < _BUDGET:
        if r[0] < 0 or r[2] >= 0:  # the fixed header, a byte at a time: the type, then the remaining length
            n = s.readinto(_mv[:1])
        elif r[1] <= _RX:
            n = s.readinto(_mv[r[3]:r[1]])
        else:  # too long: its start kept, the rest read past it
            a = r[3] if r[3] < _RX else _HALF
            n = s.readinto(_mv[a:a + min(r[1] - r[3], _RX - a)])
        if n is None:
            if r[0] >= 0 and time.ticks_diff(now, r[4]) > _WAIT_MS:
                raise OSError(_STUCK)
            return
        if not n:
            raise OSError(_LOST)
        _c[_RXT] = now
        if r[0] < 0:
            r[0], r[1], r[2], r[3], r[4] = _buf[0], 0, 0, 0, now
            continue
        if r[2] >= 0:
            b = _buf[0]
            r[1] |= (b & 0x7F) << r[2]
            r[2] = r[2] + 7 if b & 0x80 else -1
            if r[2] > 21:
                raise OSError(_LENGTH)
            if r[2] < 0 and r[1] > _RX and r[0] >> 4 != 3:  # only a PUBLISH may be long
                raise OSError(_KIND)
            if r[2] >= 0 or r[1]:
                continue
        else:
            r[3] += n
            if r[3] < r[1]:
                continue
        h = r[0]
        r[0] = -1
        _packet_in(h, r[1])


def _packet_in(h, n):
    """A whole packet from the broker: its first byte h, its n bytes in _buf (a PUBLISH over _RX: its start)."""
    global dirty
    kind = h >> 4
    b = _buf
    c = _c
    if kind == 3 and c[_UP] == 3:  # PUBLISH
        q = h >> 1 & 3
        t = b[0] << 8 | b[1]
        if q > 1 or 2 + t + 2 * q > n:
            raise OSError(_TOPIC)
        if q and 4 + t <= (n if n <= _RX else _HALF):
            _packet(0x40, (bytes(b[2 + t:4 + t]),))  # PUBACK, whatever the message
        if n > _RX:
            return _refused(2, n)
        p = app.cfg["mqtt"]["prefix"].encode()
        topic = bytes(_mv[2:2 + t])
        m = bytes(_mv[2 + t + 2 * q:n])
        k = len(p)
        if topic[:k] != p or h & 1:  # not ours, or retained: kept by the broker, it would come again at each
            return _job("mqttlink", "odd", topic, h & 1)  # connection
        topic = topic[k:]
        o = app.outlets
        if topic == b"/command":
            try:
                return _job("mqttlink", "line", m)
            except MemoryError:  # answered, never lost in silence (it may have been carried out in part)
                c[_REPLY] = "error: not enough memory just now: see the state, then try again"
                return
        i = topic[8:-4]
        if topic[:8] != b"/outlet/" or topic[-4:] != b"/set" or not i.isdigit() or not 0 < int(i) <= len(o):
            return _refused(0, topic)
        i = int(i) - 1
        if m in (b"ON", b"OFF", b"TOGGLE"):
            o.wish(i, not o.want[i] if m == b"TOGGLE" else m == b"ON", "mqtt")
            dirty |= 1 << i  # said again, even when nothing changes
        else:
            _refused(1, i, m)
    elif kind == 2 and n == 2 and c[_UP] == 2:  # CONNACK
        _job("mqttlink", "welcome", b[1])
    elif kind == 9 and 3 <= n <= _RX and c[_UP] == 3:  # SUBACK
        for i in range(2, n):
            if b[i] == 0x80:
                return _job("mqttlink", "say", 3)
    elif not (kind in (4, 11) and n == 2 or kind == 13 and n == 0):  # PUBACK, UNSUBACK, PINGRESP: nothing to do
        raise OSError(_KIND)


def _refused(*why):
    """A command not taken: the first one said at once, then a line every _QUIET_MS at most, with the count
    (mqttlink.refused says it)."""
    c = _c
    c[_NO] += 1
    if c[_NO_AT] is None or time.ticks_diff(time.ticks_ms(), c[_NO_AT]) >= _QUIET_MS:
        _job("mqttlink", "refused", c[_NO], why)
        c[_NO] = 0
        c[_NO_AT] = time.ticks_ms()
