"""Weekly schedule rules as text ("mon-fri 07:30-22:00") and as the small integers the board keeps.

A rule is days, then on-off times: "sat,sun 09:00-" is on-only, "daily -23:00" off-only, and an off time earlier
than the on time ends the window the next day ("fri 22:00-02:00" ends Saturday 02:00). Days are names (mon ... sun),
ranges that may wrap ("fri-mon"), or "daily". Loaded only to read or write rules (config, commands)."""

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX = 8  # rules per outlet


def _min(s):  # "HH:MM" -> minute of the day + 1, "" -> 0 (no edge)
    if not s:
        return 0
    h, m = s.split(":")
    if len(h) == 2 and len(m) == 2 and h.isdigit() and m.isdigit() and int(h) < 24 and int(m) < 60:
        return int(h) * 60 + int(m) + 1
    raise ValueError


def parse(s):
    """The integer of a rule: bits 0-6 the days (Monday first), then on and off minute + 1 (0: none)."""
    try:
        d, t = s.split()
        days = 0
        for p in ("mon-sun" if d == "daily" else d).split(","):
            a, b = p.split("-") if "-" in p else (p, p)
            a, b = DAYS.index(a), DAYS.index(b)
            while True:
                days |= 1 << a
                if a == b:
                    break
                a = (a + 1) % 7
        on, off = t.split("-")
        on, off = _min(on), _min(off)
        if on != off:  # both missing, or the same minute, is no rule
            return days | on << 7 | off << 18
    except (ValueError, AttributeError):
        pass
    raise ValueError("%r: expected days then on-off times, like 'mon-fri 07:30-22:00', 'sat,sun 09:00-' or "
                     "'daily -23:00'" % (s,))


def text(r):
    """The rule's text, normalized: parse(text(r)) == r."""
    days = r & 127
    if days == 127:
        d = "daily"
    else:
        d = []
        i = 0
        while i < 7:
            if days >> i & 1:
                j = i
                while j < 6 and days >> j + 1 & 1:
                    j += 1
                d.append(DAYS[i] + ("-" if j - i > 1 else ",") + DAYS[j] if j > i else DAYS[i])
                i = j
            i += 1
        d = ",".join(d)
    return "%s %s-%s" % (d, _hm(r >> 7 & 2047), _hm(r >> 18))


def _hm(m):
    return "%02d:%02d" % divmod(m - 1, 60) if m else ""
