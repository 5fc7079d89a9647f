"""The arbiter's decisions, on the real MicroPython interpreter: precedence, holds, reasons, stagger, driver faults."""
import json

from upy import run

PRELUDE = """
import json, time
from firmware.outlets import Outlets, SAFETY, SHED

class Relays:
    def __init__(self):
        self.log = []
        self.broken = False
    def set(self, i, on):
        if self.broken:
            raise OSError(19)
        self.log.append((i, on))

r = Relays()
o = Outlets(r.set, ["A", "B", "C"], stagger_ms=%d)
"""


def device(body, stagger_ms=0):
    return json.loads(run(PRELUDE % stagger_ms + body).strip().splitlines()[-1])


def test_latest_wish_wins_and_says_who():
    out = device("""
o.wish(0, True, "schedule")
o.wish(0, False, "serial")
o.wish(1, True, "badge")
print(json.dumps([o.on, [o.reason(i) for i in range(3)], r.log]))
""")
    assert out == [[False, True, False], ["serial", "badge", "boot"], [[0, True], [0, False], [1, True]]]


def test_a_hold_beats_every_wish_and_what_was_wished_comes_back():
    out = device("""
o.wish(0, True, "serial")
o.set_hold(0, SHED)
a = [o.on[0], o.reason(0)]
o.wish(0, True, "schedule")   # wished during the hold: remembered, not applied
b = [o.on[0], o.reason(0)]
o.set_hold(0, SAFETY)
o.set_hold(0, SHED, False)    # one hold lifted, the other stays
c = [o.on[0], o.reason(0)]
o.set_hold(0, SAFETY, False)
print(json.dumps([a, b, c, [o.on[0], o.reason(0)]]))
""")
    assert out == [[False, "held off: shed"], [False, "held off: shed"], [False, "held off: safety"],
                   [True, "schedule"]]


def test_switch_ons_wait_for_the_stagger_and_offs_do_not():
    out = device("""
o.wake = True              # as when the loop's task applies changes
for i in range(3):
    o.wish(i, True, "serial")
first = o.step()
on_after_first = list(o.on)
time.sleep_ms(first + 5)
o.step()
on_after_second = list(o.on)
o.wish(0, False, "serial")
o.step()
print(json.dumps([first, on_after_first, on_after_second, o.on]))
""", stagger_ms=200)
    first, a, b, c = out
    assert 150 <= first <= 200
    assert a == [True, False, False]
    assert b == [True, True, False]
    assert c == [False, True, False]  # the off did not wait for the stagger


def test_without_a_loop_changes_apply_at_once_staggered():
    out = device("""
t0 = time.ticks_ms()
o.wish(0, True, "repl")
o.wish(1, True, "repl")
o.wish(2, True, "repl")
print(json.dumps([o.on, time.ticks_diff(time.ticks_ms(), t0)]))
""", stagger_ms=50)
    assert out[0] == [True, True, True]
    assert out[1] >= 100  # two gaps of 50 ms


def test_a_relay_driver_that_stops_answering_is_reported_and_retried():
    out = device("""
o.wake = True
r.broken = True
o.wish(2, True, "serial")
wait = o.step()
a = [o.on[2], o.fault, wait, o.reason(2)]
r.broken = False
o.step()
print(json.dumps([a, o.on[2], o.fault]))
""")
    (on, fault, wait, reason), on_after, fault_after = out
    assert not on and "relay driver" in fault and wait == 1000 and reason == "serial, switching on"
    assert on_after and fault_after is None
