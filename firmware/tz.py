"""Local time from a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"), with no time-zone database.

Instants are ESP8266 epoch seconds (UTC since 2000-01-01). A rule is (std_east,) without DST, else
(std_east, dst_east, start, end) with each edge (m, w, d, secs): Mm.w.d/secs, or with w = 0 the day d of month m,
counting on past the month's end (the Jn and n forms)."""


def _hms(f, top):  # "[+-]h[:mm[:ss]]" with hours 0-top -> seconds; ValueError if malformed
    v = 0
    unit = 3600
    for n in f.lstrip("+-").split(":"):
        n = int(n)
        if not 0 <= n <= top or unit < 1:
            raise ValueError
        v += n * unit
        unit //= 60
        top = 59
    return -v if f[:1] == "-" else v


def _edge(f):  # "date[/time]" -> (m, w, d, secs); ValueError if malformed
    d, t = f.split("/") if "/" in f else (f, "2")
    t = _hms(t, 167)
    if d[:1] == "M":
        m, w, n = map(int, d[1:].split("."))
        if 0 < m < 13 and 0 < w < 6 and 0 <= n < 7:
            return m, w, n, t
    else:
        j = d[:1] == "J"
        n = int(d[j:])
        if j <= n < 366:  # Jn: 1-365, never counting Feb 29; n: 0-365, counting it
            return (3, 0, n - 59, t) if j and n > 59 else (1, 0, n + 1 - j, t)
    raise ValueError


def parse(s):
    """The rule of a POSIX TZ string; ValueError says what is wrong with it."""
    p = s.split(",")
    f = [""] * 5  # std name, std offset, DST name, DST offset, anything after
    k = q = 0
    for c in p[0]:  # names are letters, or anything in <...>; a change of kind starts the next field
        n = q or c == "<"
        q = n and c != ">"
        n = n or c.isalpha()
        k = min(k + (n == k % 2), 4)
        f[k] += c
    what = "a zone name first"
    try:
        if not f[0]:
            raise ValueError
        what = "an offset [+-]h[:mm[:ss]] (hours 0-24) after the zone name"
        std = -_hms(f[1], 24)
        if not f[2] and len(p) == 1:
            return (std,)
        what = "a DST zone name"
        if not f[2]:
            raise ValueError
        what = "a DST offset (hours 0-24), then the rules"
        dst = -_hms(f[3], 24) if f[3] else std + 3600
        if f[4]:
            raise ValueError
        what = ("two DST rules ,start[/time],end[/time] after the DST name",
                "a rule for the end of DST after the second comma")[len(p) == 2]
        if len(p) != 3:
            raise ValueError
        r = (std, dst)
        for d in p[1:]:
            what = "a date Mm.w.d (week 1-5, day 0-6), Jn or n, then /time, not '%s'" % d
            r += (_edge(d),)
        return r
    except ValueError:
        raise ValueError("'%s': expected %s" % (s, what))


def _days(y, m, d):  # days from 2000-01-01 to y-m-d (m may be 13: January of y + 1)
    if m < 3:
        y -= 1
        m += 12
    return 365 * y + y // 4 - y // 100 + y // 400 + (153 * m - 457) // 5 + d - 730426


def _ymd(n):  # days from 2000-01-01 -> (year, month, day)
    y = 1999 + n // 366
    while _days(y + 1, 1, 1) <= n:
        y += 1
    m = 1
    while _days(y, m + 1, 1) <= n:
        m += 1
    return y, m, n - _days(y, m, 1) + 1


def _at(y, edge, east):  # the UTC instant of a DST edge in year y, read on a clock east seconds ahead of UTC
    m, w, d, secs = edge
    a = _days(y, m, 1 if w else d)
    if w:
        a += (d - a - 6) % 7 + 7 * w - 7  # 2000-01-01 was a Saturday, weekday 6 counting from Sunday
        if a >= _days(y, m + 1, 1):
            a -= 7
    return a * 86400 + secs - east


def transitions(year, rule):
    """(start, end) of DST in that year as UTC instants, or None without DST."""
    if len(rule) > 2:
        return _at(year, rule[2], rule[0]), _at(year, rule[3], rule[1])


def offset(t, rule):
    """(seconds east of UTC, is_dst) in force at the UTC instant t."""
    if len(rule) < 3:
        return rule[0], False
    y = _ymd(t // 86400)[0]
    start = end = None  # the last start and end of DST at or before t
    for z in range(y - 1, y + 2):
        s, e = transitions(z, rule)
        if s <= t:
            start = s
        if e <= t:
            end = e
    on = start is not None and (end is None or start >= end)  # an end and a start at once: DST all year
    return rule[on], on


def local(t, rule):
    """(year, month, mday, hour, minute, second, weekday (0 = Monday), is_dst) at the UTC instant t."""
    o, dst = offset(t, rule)
    t += o
    n = t // 86400
    t %= 86400
    return _ymd(n) + (t // 3600, t // 60 % 60, t % 60, (n + 5) % 7, dst)


def to_utc(y, mo, d, h, mi, s, rule):
    """The UTC instants showing this wall time, in order: none in the spring-forward gap, two in the autumn fold."""
    w = _days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    r = []
    for o in rule[:2]:
        if offset(w - o, rule)[0] == o and w - o not in r:
            r.append(w - o)
    return sorted(r)
