"""Power and energy measured by the metering chip (drivers/ade7953.py; docs/metering.md): the strip's and each
outlet's, now, today and overall. Loaded only when the configuration has `meter`: without a chip, the places that
show power estimate it (each outlet's rated watts while it is on) and this module takes no heap. And the strip's
own protection from overload: above meter.max_watts for meter.over_s seconds, an outlet is shed, then another,
until the power is below; they come back one by one, meter.restore_s apart, when each fits again under 90 % of the
limit. An outlet with a limit of its own (meter.outlet_max_watts) above it for meter.over_s seconds is switched
off, as a breaker would be.

The chip measures the strip's total. Each outlet's share is its load fitted to every reading (the plateaus: the
time and energy of each set of outlets on lately, fitted by least squares, _solve), or until it has been on in
one, its learned load: the total's step when it switched (the mean of a few readings after the switch less the mean
before it, weighed with its steps before), or its rated watts until it has one. A small load beside a big one whose
power wanders is found from every reading, not from that wander at its switches; with one outlet on, its share is
the total, exact. The energy of the plateaus' readings is shared again by each new fit, so that the hours before the
loads could be told apart count each its own: what an outlet was given above its new share is taken from what it is
given next (a counter never goes back). A plateau's energy stays as shared when it is halved, replaced, or lost at a
power cut. The energy of a reading during which an outlet switched is the old total's up to the switch.

The counters are overall and today, per outlet and for the strip (the strip's also counts what no outlet took), in
Wh with the µWh beside: integers that never outgrow a small int. They are kept in the ESP8266's RTC memory every
10 s (it survives a reset, not a power cut), with what was learned of the loads, and in energy.json every 5
minutes: a power cut loses 5 minutes of counting at most, the flash sees 12 writes an hour.

A chip that does not answer for a while keeps counting: the first reading after it gives that energy, unless the
silence lasted over _SILENT_S, when the 24-bit register may have wrapped at full load. That energy, the energy a
chip loses when it starts again on its own, and a reading out of range are not counted, never guessed: the status
says how many seconds went without a reading.

This module stays on the heap, and its step runs every second: what it keeps is made once (lists of small ints
updated in place; volts, amps, power factor and frequency in fixed point), so that it leaves no small blocks
scattered over the heap."""
import sys
import time

from firmware import app
from firmware.log import log
from micropython import const

FILE = "energy.json"
_FLASH_S = const(300)  # energy.json written this often
_RTC_S = const(10)  # the RTC memory
_AFTER = const(4)  # a switch's step: the mean of this many readings after it (fewer when another switch comes first)
_WEIGH = const(8)  # a learned load: the mean of its last steps, each weighing 1/8 at least, unless one is far off
_SILENT_S = const(150)  # the energy register holds 233 Wh at the default scale: 182 s at 4.6 kW
_RECORD = const(3)  # RTC memory: the boot mark's 3 bytes (firmware.boot_count), then the counters' record
_MILLION = const(1000000)
_SETS = const(16)  # the fit's plateaus: the sets of outlets on seen lately, each with its time and energy
_HALVE = const(16384000)  # a plateau's time and energy are halved past this (ms: 4.5 hours): the fit follows
# slow changes
_FIT_S = const(10)  # the fit is solved again this often (readings)

chip = None  # the metering chip's driver (bringup)
fault = None  # why the chip's readings are not used just now, in words
lost = 0  # seconds without a reading (a fault) since boot
total = 0  # the strip's power now (W)
watts = []  # each outlet's (W)
reading = [0, 0, 0, 0]  # the chip's last reading: dV, mA, power factor in thousandths, cHz (0: none)
raw = [0] * 9  # the same in the chip's counts (the driver's order), when; the energy counted since the last switch,
# in counts and ms (calibrate: a window of several readings, whose timing jitter a single one would carry)
learned = []  # each outlet's load, learned from the total's steps when it switched (dW)
seen = []  # how many steps each learned load weighs (0: none yet, its rated watts stand in; _WEIGH at most)
fit = []  # each outlet's load fitted to every reading (dW; 0: none yet, the learned load stands in), then the strip's
# own draw with none on
sets = None  # the plateaus: sets of outlets on (bits), their time (ms), their energy (dW·s, 1/36 mWh: an integer, which
# the ESP8266's floats of 30 bits would bias as a sum of 16,384 readings; as shared by the fit now): _SETS of each
owed = []  # per outlet, then 0 for the strip: energy it was given before its share came down (µWh), taken from what
# it is given next, since a counter never goes back
hot = []  # per outlet: seconds its power has been above its own limit (meter.outlet_max_watts)
wh = []  # energy (Wh): overall per outlet, then the strip; the same for today
uwh = []  # and the µWh over each
day = 0  # the local day today counts (days since 2000), 0 while unknown
_c = [0, 0, 0, 0, None, 0, 0, 0, 0, 0]  # seconds above the limit, since the last shed or restore, to the next RTC
# and flash writes; a switch's step being measured: [outlet, on, total before (W), when, outlets on before (bits),
# another switch came before a reading, the mean before (dW), its learned load and weight before]; when energy was
# last counted (time.ticks_ms()); the total's mean since the last switch (dW: of the last _AFTER readings, nearly) and
# its readings; the last reading's power (dW); readings since the fit was solved


def start():
    """At bring-up: the counters back from RTC memory (a reset) or energy.json (a power cut), the chip set up; after
    a reset, the loads learned and fitted and the plateaus too, so that the outlets on keep their shares."""
    global watts, learned, seen, fit, sets, owed, hot, wh, uwh, day
    n = len(app.outlets)
    k = 2 * (n + 1)
    watts, learned, seen, fit, owed, hot, wh, uwh = [0] * n, [0] * n, [0] * n, [0] * (n + 1), [0] * (n + 1), \
        [0] * n, [0] * k, [0] * k
    from array import array

    sets = (bytearray(_SETS), array("i", bytes(4 * _SETS)), array("i", bytes(4 * _SETS)))
    got = _from_rtc(k) or app.load(FILE)
    if got and len(got.get("wh") or ()) == k and len(got.get("uwh") or ()) == k:
        wh[:] = got["wh"]
        uwh[:] = got["uwh"]
        day = got["day"]
    _start()
    _c[5] = time.ticks_ms()


def _start():
    global fault
    try:
        chip.start()
        fault = None
    except OSError:
        fault = "the metering chip does not answer"


def _from_rtc(k):
    import machine
    import struct
    from binascii import crc32

    global sets
    from array import array

    m = machine.RTC().memory()[_RECORD:]
    c = 8 + 8 * k  # the counters' record, then the learning's (keep)
    if len(m) < c or struct.unpack("<I", m[c - 4:c])[0] != crc32(m[:c - 4]):
        return None
    v = struct.unpack("<%dI" % (2 * k + 1), m[:c - 4])
    n = len(watts)
    p = c + 12 * n + 4
    if len(m) == p + n + 9 * _SETS + 4 and struct.unpack("<I", m[-4:])[0] == crc32(m[c:-4]):
        w = struct.unpack("<%di" % (3 * n + 1), m[c:p])
        learned[:], fit[:], owed[:n] = w[:n], w[n:2 * n + 1], w[2 * n + 1:]
        seen[:] = list(m[p:p + n])
        p += n
        sets = (bytearray(m[p:p + _SETS]), array("i", m[p + _SETS:p + 5 * _SETS]), array("i", m[p + 5 * _SETS:-4]))
    return {"day": v[0], "wh": list(v[1:k + 1]), "uwh": list(v[k + 1:])}


def keep(flash=False):
    """The counters into RTC memory (and energy.json); the learning beside them in RTC memory only (the loads learned,
    their weights, the fit, what is owed, the plateaus: 230 bytes for six outlets, 353 with the counters of the 492
    an ESP8266 has), each record with its CRC."""
    import machine
    import struct
    from binascii import crc32

    rtc = machine.RTC()
    n = len(watts)
    m = struct.pack("<%dI" % (2 * len(wh) + 1), day, *(wh + uwh))
    ms, ns, es = sets
    s = struct.pack("<%di" % (3 * n + 1), *(learned + fit + owed[:n])) + bytes(seen) + ms + bytes(ns) + bytes(es)
    rtc.memory(bytes(rtc.memory()[:_RECORD]) + m + struct.pack("<I", crc32(m)) + s + struct.pack("<I", crc32(s)))
    if flash:
        app.save(FILE, {"day": day, "wh": wh, "uwh": uwh})


def mwh(k):
    """Counter k in mWh."""
    return wh[k] * 1000 + uwh[k] // 1000


def rms():
    """The reading's voltage, current and power factor as JSON members (the telemetry's, the heartbeat's)."""
    r = reading
    if not r[0]:
        return '"volts":null,"amps":null,"pf":null'
    return '"volts":%d.%d,"amps":%d.%03d,"pf":%.3f' % (r[0] // 10, r[0] % 10, r[1] // 1000, r[1] % 1000, r[2] / 1000)


def switched(i, on, why):
    """Outlet listener: the total's step after a switch is the outlet's load; the reading it falls in counts the
    energy before it for the outlets on then. Two switches with no reading between them (on all, say): no load is
    learned, the energy before the first is still theirs."""
    c = _c
    t = c[4]
    raw[7] = raw[8] = 0
    before = c[6] if c[7] else total * 10
    c[6] = c[7] = 0  # the mean starts again at the new level
    if t and time.ticks_diff(c[5], t[3]) <= 0:
        t[5] = True
        return
    o = app.outlets
    m = 0
    for k in range(len(o)):
        if o.on[k] != (k == i):
            m |= 1 << k
    c[4] = [i, on, total, time.ticks_ms(), m, False, before, learned[i], seen[i]]


def share(i):
    """Outlet i's part of the strip's power (dW): its fitted load, its learned load (0.1 W at least), its rated
    watts, or 1 W."""
    return fit[i] or (max(1, learned[i]) if seen[i] else app.cfg["watts"][i] * 10 or 10)


def _solve():
    """Each outlet's load, and what the strip takes with none on, fitted to the plateaus by least squares (every
    second weighs the same), one sweep over the unknowns at a time from the fit before (no matrix kept: the fit
    comes closer at each solve); each learned load weighs as 4 readings more, so that an outlet with few readings,
    or one never on apart from another, keeps its learned load. A small load beside a big one whose power wanders
    is found from all the readings, not from a few at its switches. Then the energy of the plateaus' readings is
    shared again by the new fit: what the outlets were given at the shares before is given again at the new ones
    (owed where a share came down), so that the energy of the hours before the loads could be told apart is theirs
    once they can."""
    n = len(watts)
    ms, ns, es = sets
    was = [share(i) for i in range(n)]
    u = 0  # the outlets on in some plateau
    for j in range(_SETS):
        if ns[j]:
            u |= ms[j]
    for i in range(n + 1):  # the outlets, then the strip's own draw (in every plateau)
        if i < n and not u >> i & 1:
            fit[i] = 0
            continue
        p = (learned[i] if seen[i] else app.cfg["watts"][i] * 10) if i < n else 0
        num, den = 4000.0 * p, 4000.0  # (4 readings: 4 s)
        for j in range(_SETS):
            m = ms[j] | 1 << n
            if ns[j] and m >> i & 1:
                r = es[j] * 1000 / ns[j]  # what the others of the plateau leave of its mean power (dW)
                for q in range(n + 1):
                    if q != i and m >> q & 1:
                        r -= fit[q] or (share(q) if q < n else 0)
                num += ns[j] * r
                den += ns[j]
        fit[i] = max(1, int(num / den + 0.5)) if i < n else int(num / den + 0.5)
    for j in range(_SETS):
        m = ms[j]
        if ns[j] and m:
            old = new = 0
            for i in range(n):
                if m >> i & 1:
                    old += was[i]
                    new += share(i)
            for i in range(n):
                if m >> i & 1:
                    _add(i, es[j] / 36 * (share(i) / new - was[i] / old))


def _round(x, k):
    """x / k, an integer rounded to the nearest (a floor would bias every mean down)."""
    return (2 * x + k) // (2 * k)


def _add(k, x):
    """x mWh into counter k, overall and today (k: an outlet, or the strip's len(watts)), less what it owes; x below 0:
    owed (an outlet's energy shared again at a share come down)."""
    x = int(x * 1000) - owed[k]
    owed[k] = max(0, -x)
    if x > 0:
        for k in (k, k + len(owed)):  # overall, then today's
            r = uwh[k] + x
            wh[k] += r // _MILLION
            uwh[k] = r % _MILLION


def _split(e, m):
    """e mWh shared among the outlets of the mask m (bit i: outlet i), each for its share, into their counters."""
    n = len(watts)
    whole = 0
    for i in range(n):
        if m >> i & 1:
            whole += share(i)
    for i in range(n):
        if m >> i & 1:
            _add(i, e * share(i) / whole)


def _read(dt):
    """The chip's reading: the energy of the last dt seconds (mWh), or None (fault says why)."""
    global fault, lost, total
    r = raw
    try:
        ok = chip.read(r)
    except OSError:
        ok = fault = "the metering chip does not answer"
    if ok is False:
        fault = "the metering chip started again: its energy since the last reading is lost"
        _start()
        _c[5] = time.ticks_ms()
    elif ok is None:
        fault = "a reading garbled on the I2C bus: its energy is lost, not counted wrong"
    if ok is not True:
        lost += 1
        r[7] = r[8] = 0
        return None
    r[6] = time.ticks_ms()
    r[7] += r[5]  # (whatever the scale makes of it: calibrate corrects a scale that puts readings out of range)
    r[8] += time.ticks_diff(r[6], _c[5])
    if r[8] > 60000:  # a minute is window enough; the counts stay small ints
        r[7] //= 2
        r[8] //= 2
    s = app.cfg["meter"]["scale"]
    v, a, w, e = r[0] / s[0], r[1] / s[1], r[2] / s[2], r[5] * 1000 / s[3]
    _c[5] = r[6]
    if dt > _SILENT_S:
        e = 0
    if not (v <= 300 and a <= 20 and abs(w) <= 4600 and abs(e) <= 4600 * dt / 3.6):
        fault = "a reading out of range (%d V, %d A, %d W): not counted" % (v, a, w)
        lost += 1
        return None
    fault = None
    total = int(max(0, w))
    _c[8] = int(max(0, w) * 10)
    m = reading
    m[0], m[1], m[2], m[3] = int(v * 10), int(a * 1000), r[3] * 1000 // 32768, 22375000 // (r[4] + 1) if r[4] else 0
    return max(0, e)


def count(t):
    """A reading (t: time.ticks_ms()): power now, the energy counted; False when the chip gave none."""
    global total, day
    o = app.outlets
    n = len(o)
    prev = _c[5]  # when energy was last counted
    dt = time.ticks_diff(t, prev) / 1000
    e0 = 0
    e = _read(dt)
    if e is None:
        total = 0
        for i in range(n):
            watts[i] = 0
        return False
    c = _c
    s = c[4]
    m = 0  # the outlets on (bits)
    for i in range(n):
        if o.on[i]:
            m |= 1 << i
    if not s or time.ticks_diff(prev, s[3]) >= 0:  # the mean of the readings wholly after the last switch (one
        c[7] += 1                                   # across it is a blend: a filter's lag, a pulse period)
        c[6] += _round(c[8] - c[6], min(c[7], _AFTER))
        ms, ns, es = sets  # the reading into the plateau of the outlets on (a new one takes an empty place, or
        k = 0  # the one with the fewest readings: the energy it held stays as shared)
        for j in range(_SETS):
            if ns[j] and ms[j] == m:
                k = j
                break
            if ns[j] < ns[k]:
                k = j
        if ms[k] != m or not ns[k]:
            ms[k], ns[k], es[k] = m, 0, 0
        ns[k] += time.ticks_diff(raw[6], prev)  # the energy's own time, from the read before to this one (ms; not
        # dt, which leaves out the time the reads take: a bias of 0.3 % in a virtual board's plateaus)
        es[k] += round(e * 36)
        if ns[k] >= _HALVE:  # and half its energy stays as shared
            ns[k] //= 2
            es[k] //= 2
        c[9] += 1
    if s:  # a switch: its step is the outlet's load, learned over _AFTER readings
        i = s[0]
        if s[5]:  # another switch came before a reading: no step
            pass
        elif c[7]:  # weighed with the steps before; one far from them is another load: they do not count
            d = c[6] - s[6] if s[1] else s[6] - c[6]
            far = abs(d - s[7]) > max(500, s[7] // 2)
            w = 1 if far else min(s[8] + 1, _WEIGH)
            learned[i] = s[7] + _round(d - s[7], w)
            seen[i] = w
            if far and s[8]:  # another load: the plateaus with it on say nothing of it now (their energy stays
                ms, ns = sets[:2]  # as shared)
                for j in range(_SETS):
                    if ms[j] >> i & 1:
                        ns[j] = 0
                fit[i] = 0
        else:  # only the reading across the switch yet: its step, for the moment
            learned[i] = 10 * (total - s[2] if s[1] else s[2] - total)
            seen[i] = max(s[8], 1)
        if s[5] or c[7] >= _AFTER:
            c[4] = None
        if time.ticks_diff(s[3], prev) > 0:  # within this reading: before it, the energy is the old total's
            e0 = min(e, s[2] * time.ticks_diff(s[3], prev) / 3600)
            _split(e0, s[4])
    clock = sys.modules.get("firmware.clock")
    if clock and clock.trust:
        d = (time.time() + clock.offset(time.time())) // 86400
        if d != day:
            if day:
                for k in range(n + 1, 2 * n + 2):
                    wh[k] = uwh[k] = 0
            day = d
    whole = 0
    for i in range(n):
        if o.on[i]:
            whole += share(i)
    for i in range(n):
        watts[i] = total * share(i) // whole if o.on[i] else 0
    _split(e - e0, m)
    _add(n, e)
    if c[9] >= _FIT_S:
        c[9] = 0
        _solve()
    return True


def now_mwh(i):
    """Outlet i's counter at this instant: the energy since the last reading at its power then, added (a session that
    ends between two readings)."""
    return mwh(i) + watts[i] * time.ticks_diff(time.ticks_ms(), _c[5]) // 3600


def _guard(o, n):
    """An outlet above its own limit (outlet_max_watts) for over_s seconds is switched off, as a breaker would: it
    stays off until it is switched on again. The strip over its limit (max_watts) for over_s seconds: the outlet on
    with the highest class (9 goes first; never_shed: never), the biggest load first, is shed. Under it: those shed
    come back, one every restore_s, the lowest class first of those whose load fits with the total under 90 % of
    the limit."""
    conf = app.cfg["meter"]
    lim = conf["outlet_max_watts"]
    for i in range(n):
        hot[i] = hot[i] + 1 if lim[i] and o.on[i] and watts[i] > lim[i] else 0
        if hot[i] >= conf["over_s"]:
            log("overload: outlet %d drew %d W, over its own %d W, for %d s: switched off" % (
                i + 1, watts[i], lim[i], hot[i]))
            hot[i] = 0
            o.wish(i, False, "overload")
    mx = conf["max_watts"]
    if not mx:
        return
    cl = app.cfg["class"]
    c = _c
    c[1] += 1
    c[0] = c[0] + 1 if total > mx else 0
    if c[0] >= conf["over_s"]:
        k = -1
        for i in range(n):
            if o.on[i] and cl[i] < 10 and (
                    k < 0 or (cl[i], share(i)) > (cl[k], share(k))):
                k = i
        if k >= 0:
            o.set_hold(k, 4)  # outlets.OVER
            log("overload: %d W over %d W for %d s: outlet %d shed" % (total, mx, c[0], k + 1))
        c[0] = c[1] = 0
    elif not c[0] and c[1] >= conf["restore_s"]:
        k = -1
        for i in range(n):
            if o.hold[i] & 4 and total + share(i) // 10 <= mx * 9 // 10 and (k < 0 or cl[i] < cl[k]):
                k = i
        if k >= 0:
            o.set_hold(k, 4, False)
            log("overload: outlet %d restored (%d W now, limit %d W)" % (k + 1, total, mx))
            c[1] = 0


async def run():
    from firmware.loop import sleep_ms

    c = _c
    c[2] = c[3] = 0
    guard = app.cfg["meter"]["max_watts"] or max(app.cfg["meter"]["outlet_max_watts"])
    while True:
        await sleep_ms(1000 - time.ticks_diff(time.ticks_ms(), c[5]) % 1000)
        try:
            if count(time.ticks_ms()) and guard:
                _guard(app.outlets, len(watts))
            c[2] += 1
            c[3] += 1
            if c[2] >= _RTC_S:
                keep(c[3] >= _FLASH_S)
                c[2] = 0
                if c[3] >= _FLASH_S:
                    c[3] = 0
        except MemoryError:  # no room this second: the chip holds its energy for the next reading
            pass
        except OSError as e:  # the flash full or failing: counted on, said
            log("meter: cannot write %s (%r)" % (FILE, e))
