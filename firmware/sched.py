"""Weekly schedules: which edge of an outlet's rules is due, and when to look next. Loaded only when an edge or a
timer is due, or the clock changed (clock.py calls tick()), so its code is not kept on the heap.

Times here are "wall" seconds: local time counted from 2000-01-01 00:00 local. An edge is an occurrence of a rule's
on or off time on a given date. It fires once, when the local clock first reaches it: the outlet takes the state of
the latest edge the clock has reached (on wins a tie, so back-to-back windows join). The clock reaches a wall time
at the first instant local time is at or past it, so an edge in the hour skipped in spring fires at the first
valid minute after it, and the hour repeated in autumn does not fire its edges again (see peak()). Each outlet
remembers the edge it fired last: an edge never fires twice, whatever the clock does (a clock set back waits until
it passes that edge again), and a clock set forward fires the latest edge it passed.

The zone z is anything with offset(t) (seconds east of UTC at the UTC instant t) and changes ([(instant, offset
from then on)] near the instants asked about): clock.py on the board."""
DAY = 86400


def latest(rules, m):
    """(wall, on) of the latest edge at or before the wall time m, or None."""
    bw = bs = -1  # the best so far, as plain integers: a look at 6 x 8 rules makes little garbage
    n0 = m // DAY
    for n in range(n0 - 8, n0 + 1):  # a week and a day back: an off may belong to the day before
        wd = (n + 5) % 7  # 2000-01-01 was a Saturday; 0 is Monday
        for r in rules:
            if r >> wd & 1:
                on = r >> 7 & 2047
                off = r >> 18
                if on:
                    w = n * DAY + on * 60 - 60
                    if w <= m and (w > bw or w == bw and bs < 1):
                        bw, bs = w, 1
                if off:
                    w = n * DAY + off * 60 - 60 + (DAY if off < on else 0)
                    if w <= m and w > bw:
                        bw, bs = w, 0
    return (bw, bs) if bs >= 0 else None


def after(rules, m):
    """The wall time of the first edge after the wall time m, or None."""
    best = None
    n0 = m // DAY
    for n in range(n0 - 1, n0 + 8):
        wd = (n + 5) % 7
        for r in rules:
            if r >> wd & 1:
                on = r >> 7 & 2047
                off = r >> 18
                for w in (n * DAY + on * 60 - 60 if on else -1,
                          n * DAY + off * 60 - 60 + (DAY if off < on else 0) if off else -1):
                    if w > m and (best is None or w < best):
                        best = w
    return best


def peak(t, z):
    """The latest wall time the local clock has shown up to the UTC instant t: in the autumn fold, the clock
    shows an hour again, but that hour has already been reached."""
    m = t + z.offset(t)
    for s, _ in z.changes:
        if t - 2 * DAY <= s <= t:
            m = max(m, s - 1 + z.offset(s - 1))
    return m


def instant(w, z):
    """The UTC instant the local clock first reaches the wall time w: in the spring gap, the change of offset."""
    t = [w - o for o in set(o for _, o in z.changes) | {z.offset(w)} if z.offset(w - o) == o]
    return min(t or [s for s, o in z.changes if w - 2 * DAY <= s and s + o >= w])


def zone(t):
    """Work out clock.changes: the changes of offset of the configured TZ string for five years around t."""
    import firmware
    from firmware import app, clock, tz

    import gc

    z = app.cfg["time"]["zone"]
    y = tz.local(t, z)[0]
    ch = sorted((c, tz.offset(c, z)[0]) for x in range(y - 2, y + 3) for c in tz.transitions(x, z) or ())
    base = tz.offset(ch[0][0] - 1, z)[0] if ch else z[0]
    firmware.drop("tz")
    clock.changes = ()
    gc.collect()  # what the working out left goes first: the result, kept for a year, is not scattered among it
    clock.changes = [(c, o) for c, o in ch]
    clock.base = base
    clock.span = (t - 300 * DAY, t + 300 * DAY)


def tick(now, cfg, outlets, fired, z):
    """Fire what is due at the UTC instant now; return the instant to call again (at the latest in an hour).
    fired[i] is the wall time of the edge outlet i fired last, None until its first look since boot: then its
    power-on behaviour "schedule" takes the state the rules give, any other keeps what power-on chose."""
    m = peak(now, z)
    nxt = now + 3600
    for i, rules in enumerate(cfg["schedule"]):
        if not rules:
            continue
        e = latest(rules, m)
        if e and (fired[i] is None or e[0] > fired[i]):
            if fired[i] is not None or cfg["power_on"][i] == "schedule":
                h, mi = divmod(e[0] % DAY // 60, 60)
                outlets.wish(i, e[1], "schedule %02d:%02d" % (h, mi))
            fired[i] = e[0]
        w = after(rules, m)
        if w is not None:
            nxt = min(nxt, instant(w, z))
    return nxt
