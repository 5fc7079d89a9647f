"""firmware/sched.py (weekly schedules) against a reference that walks time minute by minute through CPython's
zoneinfo, with rules written as text (firmware/rules.py), across DST changes in both hemispheres and clock
corrections either way. docs/firmware.md, "Weekly rules", states the rules checked here."""
import sys
from datetime import datetime, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

import upy
from test_tz import tzif

sys.path.insert(0, str(upy.ROOT))
from firmware import rules, sched, tz

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
DAY = 86400
# (zoneinfo name, the POSIX rule the board is given for it)
# POSIX rules the board is given: Paris, Sydney, New York, Lord Howe (half-hour DST), Santiago (changes at 24:00),
# Kolkata (no DST), Dublin (negative DST: winter is the "daylight" time)
ZONES = ['CET-1CEST,M3.5.0,M10.5.0/3', 'AEST-10AEDT,M10.1.0,M4.1.0/3', 'EST5EDT,M3.2.0,M11.1.0',
         '<+1030>-10:30<+11>-11,M10.1.0,M4.1.0', '<-04>4<-03>,M9.1.6/24,M4.1.6/24', 'IST-5:30',
         'IST-1GMT0,M10.5.0,M3.5.0/1']


def secs(dt):
    return int((dt - EPOCH).total_seconds())


def wall(t, zi):
    """Local wall seconds (since 2000-01-01 local) at the UTC instant t, as zoneinfo sees it."""
    d = (EPOCH + timedelta(seconds=t)).astimezone(zi)
    return secs(d.replace(tzinfo=UTC))


class Outlets:
    """The arbiter's wish(), recorded."""

    def __init__(self, n):
        self.want = [None] * n
        self.wishes = []

    def wish(self, i, on, why):
        self.want[i] = on
        self.wishes.append((i, on, why))


class Zone:
    """What sched.py needs of a zone (the board's clock.py gives the same): offset(t), and the changes of offset
    around the instants asked about, from tz.py."""

    def __init__(self, posix):
        self.rule = tz.parse(posix)
        self.changes = []
        self.span = (1, 0)

    def offset(self, t):
        if not self.span[0] <= t < self.span[1]:
            y = tz.local(t, self.rule)[0]
            self.changes = sorted((c, tz.offset(c, self.rule)[0]) for x in range(y - 2, y + 3)
                                  for c in tz.transitions(x, self.rule) or ())
            self.span = (t - 300 * DAY, t + 300 * DAY)
        return tz.offset(t, self.rule)[0]


def cfg(zone, rule_texts, power_on='schedule'):
    return {'zone': Zone(zone), 'schedule': [[rules.parse(r) for r in rule_texts]], 'power_on': [power_on]}


def tick(t, c, o, fired):
    return sched.tick(t, c, o, fired, c['zone'])


def occurrences(rule_texts, lo, hi):
    """Every edge (wall, on) of the rules with lo < wall <= hi, enumerated day by day from the text."""
    out = set()
    for text in rule_texts:
        days, times = text.split()
        on, off = times.split('-')
        names = sched_days(days)
        for n in range(lo // DAY - 2, hi // DAY + 2):
            if (n + 5) % 7 not in names:
                continue
            mins = [int(x[:2]) * 60 + int(x[3:]) if x else None for x in (on, off)]
            if mins[0] is not None:
                out.add((n * DAY + mins[0] * 60, 1))
            if mins[1] is not None:
                out.add((n * DAY + mins[1] * 60 + (DAY if mins[0] is not None and mins[1] < mins[0] else 0), 0))
    return sorted(e for e in out if lo < e[0] <= hi)


def sched_days(d):
    names = rules.DAYS
    if d == 'daily':
        return set(range(7))
    s = set()
    for part in d.split(','):
        a, b = (part.split('-') + [part])[:2]
        i = names.index(a)
        while True:
            s.add(i)
            if i == names.index(b):
                break
            i = (i + 1) % 7
    return s


def reference(rule_texts, zi, start, minutes):
    """Walk minute by minute: the peak wall time the clock has shown, and each edge the first minute it is
    reached. Returns [(utc minute, wall, on)]: on wins a tie, and edges reached the same minute act as the latest."""
    peak = max(wall(start - s, zi) for s in range(0, 3 * 3600, 60))  # what the clock showed in the last hours
    edges = {}
    for w, on in occurrences(rule_texts, peak, wall(start, zi) + 60 * minutes + 2 * DAY):
        edges[w] = max(edges.get(w, 0), on)
    todo = sorted(edges.items())
    fired = []
    for k in range(1, minutes + 1):
        t = start + 60 * k
        peak = max(peak, wall(t, zi))
        reached = []
        while todo and todo[0][0] <= peak:
            reached.append(todo.pop(0))
        if reached:  # edges the clock reaches at once (in the spring gap) act as one: the latest
            fired.append((t,) + reached[-1])
    return fired


def drive(c, start, end, extra=()):
    """Call tick() at the times it asks for, and at the extra times; returns [(time, wall fired, on)]."""
    o = Outlets(1)
    fired = [sched.latest(c['schedule'][0], sched.peak(start, c['zone']))[0]]
    seen = []
    t = start
    probes = sorted(x for x in extra if start < x < end)
    while t < end:
        before = fired[0]
        n = len(o.wishes)
        nxt = tick(t, c, o, fired)
        assert nxt > t
        if len(o.wishes) > n:
            seen.append((t, fired[0], o.wishes[-1][1]))
            assert fired[0] > before
        t = min([nxt] + [p for p in probes if p > t])
    return seen


rule_text = st.builds(
    lambda days, on, off, kind: '%s %s-%s' % (days, '%02d:%02d' % divmod(on, 60) if kind != 'off' else '',
                                              '%02d:%02d' % divmod(off, 60) if kind != 'on' else ''),
    st.sampled_from(['daily', 'mon-fri', 'sat,sun', 'sun', 'fri-mon', 'tue,thu']),
    st.integers(0, 1439), st.integers(0, 1439), st.sampled_from(['both', 'on', 'off'])).filter(
    lambda s: s.split()[1] not in ('-',) and s.split()[1].split('-')[0] != s.split()[1].split('-')[1])


def near_a_change(zone, year, which, minutes_before):
    r = tz.parse(zone)
    if len(r) < 3:
        return secs(datetime(year, 6, 1, tzinfo=UTC))
    return tz.transitions(year, r)[which] - 60 * minutes_before


@settings(max_examples=60, deadline=None)
@given(st.lists(rule_text, min_size=1, max_size=8), st.sampled_from(ZONES), st.integers(2000, 2099),
       st.integers(0, 1), st.integers(0, 36 * 60))
def test_every_edge_fires_once_at_the_first_minute_the_clock_reaches_it(texts, zone, year, which, before):
    posix = zone
    start = near_a_change(posix, year, which, before) // 60 * 60
    minutes = 3 * 24 * 60
    expect = reference(texts, ZoneInfo.from_file(tzif(posix)), start, minutes)  # zoneinfo applying the rule
    got = drive(cfg(posix, texts), start, start + 60 * minutes + 1)
    assert got == expect


@settings(max_examples=60, deadline=None)
@given(st.lists(rule_text, min_size=1, max_size=8), st.sampled_from(ZONES), st.integers(2000, 2099),
       st.lists(st.integers(-3 * DAY, 3 * DAY), min_size=1, max_size=20))
def test_clock_corrections_never_fire_an_edge_twice_nor_lose_one(texts, zone, year, jumps):
    """The clock is set back and forth: every edge fires at most once, and after each look the outlet is in
    the state of the latest edge the clock has ever reached (a clock set back waits for its edges)."""
    c = cfg(zone, texts)
    r = c['schedule'][0]
    z = c['zone']
    t = secs(datetime(year, 3, 20, tzinfo=UTC))
    o = Outlets(1)
    fired = [None]
    highest = None
    walls = []  # the wall time of each edge fired, in order
    for j in [0] + jumps:
        t += j
        n = len(o.wishes)
        tick(t, c, o, fired)
        if len(o.wishes) > n:
            walls.append(fired[0])
        e = sched.latest(r, sched.peak(t, z))
        highest = e if highest is None or e[0] > highest[0] else highest
        assert fired[0] == highest[0]  # nothing lost: the latest edge ever reached has fired
        assert o.want[0] == highest[1]
    assert walls == sorted(set(walls))  # nothing twice


def test_paris_spring_forward_edge_in_the_skipped_hour_fires_at_three():
    # 2026-03-29: clocks go from 02:00 to 03:00 (01:00 UTC); an on at 02:30 fires at 03:00 local
    c = cfg('CET-1CEST,M3.5.0,M10.5.0/3', ['sun 02:30-'])
    start = secs(datetime(2026, 3, 29, 0, 0, tzinfo=UTC))
    got = drive(c, start, start + 3 * 3600)
    assert [(EPOCH + timedelta(seconds=t)).strftime('%H:%M') for t, _, _ in got] == ['01:00']  # UTC


def test_paris_fall_back_edge_in_the_repeated_hour_fires_once():
    # 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice, the edge fires at the first
    c = cfg('CET-1CEST,M3.5.0,M10.5.0/3', ['sun 02:30-02:45'])
    start = secs(datetime(2026, 10, 24, 23, 0, tzinfo=UTC))
    got = drive(c, start, start + 4 * 3600)
    assert [((EPOCH + timedelta(seconds=t)).strftime('%H:%M'), on) for t, _, on in got] == [('00:30', 1), ('00:45', 0)]


def test_sydney_changes_are_the_other_way_round():
    # Sydney 2026: DST ends 5 April 03:00 -> 02:00 (16:00 UTC the 4th), starts 4 October 02:00 -> 03:00
    c = cfg('AEST-10AEDT,M10.1.0,M4.1.0/3', ['sun 02:15-'])
    start = secs(datetime(2026, 4, 4, 14, 0, tzinfo=UTC))
    assert [t - start for t, _, _ in drive(c, start, start + 5 * 3600)] == [75 * 60]  # 02:15 AEDT (15:15 UTC), once
    start = secs(datetime(2026, 10, 3, 14, 0, tzinfo=UTC))
    assert [t - start for t, _, _ in drive(c, start, start + 5 * 3600)] == [2 * 3600]  # 03:00 AEDT = 16:00 UTC


def test_a_window_across_midnight():
    c = cfg('UTC0', ['fri 22:00-02:00'])
    fri = secs(datetime(2026, 11, 20, 21, 0, tzinfo=UTC))  # a Friday
    got = drive(c, fri, fri + 6 * 3600)
    assert [(t - fri, on) for t, _, on in got] == [(3600, 1), (5 * 3600, 0)]


def test_at_boot_an_outlet_takes_what_its_rules_say_now_unless_power_on_says_otherwise():
    mid_window = secs(datetime(2026, 11, 20, 23, 30, tzinfo=UTC))
    for power_on, wished in (('schedule', [(0, 1, 'schedule 22:00')]), ('off', []), ('last', [])):
        c = cfg('UTC0', ['fri 22:00-02:00'], power_on)
        o = Outlets(1)
        fired = [None]
        tick(mid_window, c, o, fired)
        assert o.wishes == wished
        tick(mid_window + 3 * 3600, c, o, fired)  # the next edge acts, whatever power-on chose
        assert o.wishes[-1] == (0, 0, 'schedule 02:00')


def test_the_next_look_is_at_the_next_edge_or_within_the_hour():
    texts = ['mon-fri 07:%02d-22:%02d' % (k, k) for k in range(8)]
    c = cfg('CET-1CEST,M3.5.0,M10.5.0/3', texts)
    c['schedule'] *= 6
    c['power_on'] *= 6
    t = secs(datetime(2026, 11, 20, 20, 30, tzinfo=UTC))  # a Friday, 21:30 local
    assert tick(t, c, Outlets(6), [None] * 6) == t + 1800  # 22:00 local
    assert tick(t - 7200, c, Outlets(6), [None] * 6) == t - 3600  # nothing for hours: an hour


@pytest.mark.parametrize('text', ['mon-fri 07:30-22:00', 'sat,sun 09:00-', 'daily -23:00', 'fri-mon 22:00-02:00',
                                  'tue 00:00-23:59', 'mon,wed,fri 12:00-13:00'])
def test_rule_text_round_trips(text):
    r = rules.parse(text)
    assert rules.parse(rules.text(r)) == r
    assert sched_days(text.split()[0]) == {d for d in range(7) if r >> d & 1}


@pytest.mark.parametrize('bad', ['mon', 'mon 10:00-10:00', 'mon -', 'xyz 10:00-11:00', 'mon 24:00-', 'mon 7:30-',
                                 'mon 10:00-11:00 extra', '', 5, None])
def test_bad_rules_say_how_to_write_one(bad):
    with pytest.raises(ValueError, match="expected days then on-off times, like 'mon-fri 07:30-22:00'"):
        rules.parse(bad)
