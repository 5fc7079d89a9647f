"""Trusted time and schedules on the virtual board: the real firmware, the DS3231 and DS1307 models, the bench's NTP
server, and the relay pins, with the world clock put where each case needs it (DST days, midnight, a week-end)."""
import json
import re
import time
from datetime import datetime, UTC

import pytest

from conftest import LAB, ready

PARIS = "CET-1CEST,M3.5.0,M10.5.0/3"


def unix(*a):
    return datetime(*a, tzinfo=UTC).timestamp()


def config(rules=None, tz=PARIS, wifi=True, rtc="ds3231", **time_conf):
    outlets = [{} for _ in range(6)]
    for i, r in (rules or {}).items():
        outlets[i - 1] = {"schedule": r} if isinstance(r, list) else r
    return {"wifi": LAB if wifi else {}, "outlets": outlets, "time": dict({"tz": tz}, **time_conf),
            "board": {"rtc": rtc}}


@pytest.fixture
def strip(vboard):
    """strip(config, world=unix seconds, chip=True (set to the world's time) | "lost" | None (fresh), rtc=...)"""

    def make(conf, world=None, chip=True, rtc="ds3231", ntp="on", **kw):
        b = vboard(conf, rtc=rtc, start=False, romfs="320k", romfs_firmware=True, **kw)
        if world is not None:
            b.clock.set(world)
        if chip is True:
            b.rtc.set(b.clock.now())
        elif chip == "lost":
            b.rtc.lose()
        b.ntp.mode = ntp
        b.start()
        ready(b, 20)
        return b

    return make


def edge_latency(b, i, on, edge, after=0.0):
    """Seconds from the world clock reaching `edge` to relay i switching to `on` (relay_history is monotonic), of
    the switches after the monotonic time `after` (not a power cut's, say)."""
    at = edge - (b.clock.now() - time.monotonic())
    hits = [t for t, j, v in b.relay_history if j == i and v == on and t >= max(at - 5, after)]
    assert hits, (b.relay_history, b.serial.text()[-1500:])
    return hits[0] - at


def wait_for(ok, timeout):
    end = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < end, "not within %s s" % timeout
        time.sleep(0.1)


def wait_log(b, pattern, timeout=10.0):
    return b.serial.expect(pattern, timeout, since=0)


@pytest.mark.parametrize("rtc", ["ds3231", "ds1307"])
def test_the_relay_switches_within_a_second_of_a_schedule_edge(strip, rtc):
    edge = unix(2026, 11, 20, 21, 0, 0)  # a Friday, 22:00 in Paris
    b = strip(config({1: ["fri 22:00-23:00"]}, wifi=False, rtc=rtc), world=edge - 6, rtc=rtc)
    wait_log(b, "clock: time from %s" % rtc)
    b.wait_relays([True, False, False, False, False, False], timeout=12)
    assert 0 <= edge_latency(b, 0, True, edge) < 1.0


def test_an_edge_in_the_hour_skipped_in_spring_fires_at_three(strip):
    change = unix(2026, 3, 29, 1, 0, 0)  # 02:00 CET becomes 03:00 CEST
    b = strip(config({2: ["sun 02:30-04:00"]}, wifi=False), world=change - 5)
    b.wait_relays([False, True, False, False, False, False], timeout=12)
    assert 0 <= edge_latency(b, 1, True, change) < 1.0
    assert "schedule 02:30" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")


def test_an_edge_in_the_hour_repeated_in_autumn_fires_once(strip):
    # 2026-10-25 03:00 CEST becomes 02:00 CET at 01:00 UTC: 02:30 happens at 00:30 UTC, and again at 01:30 UTC
    b = strip(config({3: ["sun 02:30-02:31"]}, wifi=False), world=unix(2026, 10, 25, 0, 29, 57))
    b.wait_relays([False, False, True, False, False, False], timeout=10)
    b.clock.set(unix(2026, 10, 25, 1, 29, 57))  # on to the repeated half hour (the board's clock follows the world)
    b.wait_relays([False] * 6, timeout=5)  # 02:31 CEST was passed: its off fires
    time.sleep(6)  # 02:30 CET: the same wall time, already reached
    assert b.relay_state == [False] * 6
    assert b.serial.text().count("outlet 3 on (schedule 02:30)") == 1


def test_a_window_across_midnight_and_a_reboot_in_the_middle_of_it(strip):
    b = strip(config({4: ["sat 23:58-00:00"]}, wifi=False), world=unix(2026, 11, 21, 22, 59, 52))  # 23:59:52
    b.wait_relays([False, False, False, True, False, False], timeout=5)  # in the window at boot: on
    mark = b.serial.mark()
    b.power_cut()
    on = time.monotonic()  # the cut's own switch-off comes before: beside a loaded machine, within 5 s of the edge
    b.power_on()  # the chip kept the time: the outlet takes what its rule says now
    ready(b, 20, since=mark)
    b.wait_relays([False, False, False, True, False, False], timeout=5)
    b.wait_relays([False] * 6, timeout=10)  # 00:00 Sunday, local
    assert 0 <= edge_latency(b, 3, False, unix(2026, 11, 21, 23, 0, 0), on) < 1.0
    wait_log(b, r"outlet 4 off \(schedule 00:00\)", 2)


def test_power_on_behaviour_beats_the_schedule_at_boot(strip):
    b = strip(config({5: {"schedule": ["daily 00:00-23:59"], "power_on": "off"}}, wifi=False),
              world=unix(2026, 11, 21, 12, 0, 0))
    time.sleep(2)
    assert b.relay_state == [False] * 6
    assert "power-on off" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")


@pytest.mark.parametrize("rtc,flag", [("ds3231", "OSF"), ("ds1307", "CH")])
def test_a_chip_that_lost_its_time_and_no_ntp_suspends_schedules(strip, rtc, flag):
    b = strip(config({1: ["daily 00:00-23:59"]}, rtc=rtc), world=unix(2026, 11, 21, 12, 0, 0), chip="lost", rtc=rtc,
              ntp="off")
    wait_log(b, r"time NOT trusted: RTC chip %s lost its time \(%s set" % (rtc, flag))
    wait_log(b, r"clock: NTP pool.ntp.org: no good answer", 15)
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert re.search(r"time 2000-01-01 [^\n]*NOT TRUSTED: RTC chip %s lost its time[^\n]*NTP has not answered;"
                     r" schedules wait" % rtc, out), out
    assert b.relay_state == [False] * 6  # no schedule fires at a wrong hour
    b.ntp.mode = "on"
    b.command("time sync", expect=r"time: asking NTP[^\n]*\n")
    b.wait_relays([True, False, False, False, False, False], timeout=5)  # trusted now: the rules apply
    wait_for(lambda: abs(b.rtc.unix() - b.clock.now()) < 2, 5)  # and the chip was set, at the next second
    assert not b.command("rtc", expect=r"RTC [^\n]*\n").count("TIME LOST")


def test_ntp_that_answers_far_from_the_chip(strip):
    world = unix(2026, 11, 21, 12, 29, 50)  # 13:29:50 in Paris
    b = strip(config({1: ["daily 15:30-16:00"]}), world=world)
    b.ntp.offset = 2 * 3600  # the server says 15:29:50: the board follows NTP (the top source), the chip too
    wait_log(b, r"clock: set \+7\d\d\d s", 15)
    b.wait_relays([True, False, False, False, False, False], timeout=15)
    wait_for(lambda: abs(b.rtc.unix() - b.clock.now() - 7200) < 2, 5)
    b.ntp.offset = 0
    b.command("time sync", expect=r"time: asking NTP[^\n]*\n")  # back two hours: 13:30 again
    wait_log(b, r"clock: set -7\d\d\d s")
    b.command("off 1", expect=r"1 Outlet 1[^\n]*\n")
    b.clock.jump(7200 - 15)  # 15:29:5x comes again, in the world: 15:30 has fired already, 16:00 not yet
    time.sleep(8)
    assert b.relay_state[0] is False
    assert b.serial.text().count("outlet 1 on (schedule 15:30)") == 1


def test_ntp_unreachable_keeps_the_chip_time(strip):
    b = strip(config({}), world=unix(2026, 11, 21, 12, 0, 0), ntp="off")
    wait_log(b, "clock: time from ds3231")
    wait_log(b, r"clock: NTP pool.ntp.org: no good answer \(OSError", 15)
    assert "from ds3231" in b.command("time", expect=r"time [^\n]*\n")


@pytest.mark.parametrize("mode", ["garbage", "kod"])
def test_a_garbled_ntp_answer_is_refused(strip, mode):
    b = strip(config({}), world=unix(2026, 11, 21, 12, 0, 0), ntp=mode)
    wait_log(b, r"clock: NTP pool.ntp.org: no good answer", 15)
    assert "from ds3231" in b.command("time", expect=r"time [^\n]*\n")
    assert abs(b.rtc.unix() - b.clock.now()) < 2


def test_schedules_change_at_run_time_and_are_stored(strip):
    b = strip(config({}, wifi=False), world=unix(2026, 11, 21, 12, 0, 0))
    out = b.command("sched 2 add mon-fri 07:30-22:00", expect=r"  1\) [^\n]*\n")
    assert "mon-fri 07:30-22:00" in out
    out = b.command("sched 2 add sat,sun 25:00-", expect=r"error[^\n]*\n")
    assert "expected days then on-off times" in out
    conf = json.loads((b.board_dir / "config.json").read_text())
    assert conf["outlets"][1]["schedule"] == ["mon-fri 07:30-22:00"]
    mark = b.serial.mark()
    b.command("reboot", expect=r"\n")
    ready(b, 20, since=mark)
    assert "mon-fri 07:30-22:00" in b.command("sched 2", expect=r"  1\) [^\n]*\n")


def test_timers_and_pulse(strip):
    b = strip(config({6: {"pulse_s": 2}}, wifi=False), world=unix(2026, 11, 21, 12, 0, 0))
    b.command("timer 1 for 3s", expect=r"\n")
    b.wait_relays([True, False, False, False, False, False], timeout=2)
    b.wait_relays([False] * 6, timeout=5)
    b.command("on 6", expect=r"6 Outlet 6[^\n]*\n")
    b.wait_relays([False, False, False, False, False, True], timeout=2)
    b.wait_relays([False] * 6, timeout=4)  # the pulse
    wait_log(b, r"outlet 6 off \(timer\)", 2)


def test_time_set_by_hand_timers_at_a_time_of_day_and_rule_edits(strip):
    b = strip(config({}, wifi=False), world=unix(2026, 11, 21, 12, 0, 0))  # 13:00 in Paris
    out = b.command("time set 2026-03-29 02:30", expect=r"error[^\n]*\n")
    assert "does not exist here" in out  # the hour skipped in spring
    b.command("time set 2026-11-21 15:00", expect=r"time: set to 2026-11-21 15:00:00 UTC\+01:00[^\n]*\n")
    wait_log(b, "clock: time from manual", 5)
    wait_for(lambda: abs(b.rtc.unix() - unix(2026, 11, 21, 14, 0, 0)) < 5, 5)  # the chip follows, in UTC
    assert "from manual" in b.command("time", expect=r"time [^\n]*\n")
    assert "2 off at 2026-11-21 23:00:00 UTC+01:00" in b.command("timer 2 off 23:00", expect=r"2 off at [^\n]*\n")
    b.command("sched 3 add daily 08:00-09:00", expect=r"  1\) [^\n]*\n")
    b.command("sched 3 add sat -12:00", expect=r"  2\) [^\n]*\n")
    out = b.command("sched 3 del 1", expect=r"  1\) [^\n]*\n")
    assert "sat -12:00" in out and "08:00" not in out
    assert "no schedule" in b.command("sched 3 clear", expect=r"3 Outlet 3[^\n]*\n")
    assert b.command("pulse 4 7", expect=r"4 pulse[^\n]*\n").startswith("4 pulse 7 s")
    conf = json.loads((b.board_dir / "config.json").read_text())["outlets"]
    assert conf[2]["schedule"] == [] and conf[3]["pulse_s"] == 7
    state = b.board_dir / "state.json"
    wait_for(lambda: state.exists() and "timers" in state.read_text(), 7)  # saved within save_interval_s
    mark = b.serial.mark()
    b.power_cut()
    b.power_on()  # the chip kept the time: the timer goes on
    ready(b, 20, since=mark)
    assert "2 off at 2026-11-21 23:00:00" in b.command("timer", expect=r"2 off at [^\n]*\n")
