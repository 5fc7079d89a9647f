"""The heap is the budget, stated for the chip: the firmware with every feature configured and running keeps at
least 6 KB free on an ESP8266 (38,912 bytes of heap). If the firmware grows past it, these fail."""
import re
import time

import pytest
from test_badge import BOB, config, online, site, tap, untap  # noqa: F401 (site: a fixture)

# Free heap the running app must leave, in bytes: the least the app saw itself (status, "min"), between its tasks'
# steps, after a collection. Stated for the chip; the CI board's cap (tools/vboard/heapmodel.py, CAP_64) gives the
# app the chip's steady free heap, and whatever the app holds beyond that costs more on 64 bits than on 32, so the
# same floor on the CI board is the chip's floor or stricter (docs/heap.md).
MIN_STEADY_FREE = 6144
RULES = ["mon-fri 07:30-22:00", "sat,sun 09:00-12:30", "daily 23:00-23:30"]


@pytest.mark.parametrize("where", ["romfs", "lib"])
def test_the_firmware_with_every_feature_keeps_its_budget_and_every_command_runs(vboard, site, where):  # noqa: F811
    """Both ways the firmware can be on a board: one image in the ROMFS partition, at an ESP8266's heap (the
    reference board), or .mpy files in /lib, whose bytecode takes heap: at LIB_HEAP. Every feature runs: the reader
    and badge sessions, rounds with the server, schedules on every outlet in a time zone with DST, NTP, the RTC."""
    conf = config(site)
    for outlet in conf["outlets"]:
        outlet["schedule"] = RULES
    conf["time"] = {"tz": "CET-1CEST,M3.5.0,M10.5.0/3"}
    b = vboard(conf, romfs="320k" if where == "romfs" else None)
    online(b)
    assert "outlet 1,2,3 on for 1800 s (server)" in tap(b, BOB, r"badge \w+ \(Bob\): [^\n]*\n")
    untap(b)
    assert "session ended on outlet 1,2,3" in tap(b, BOB, r"badge \w+: session ended[^\n]*\n")
    untap(b)
    for line, expect in (("status", r"6 Outlet 6[^\n]*\n"), ("on all", r"6 Outlet 6[^\n]*\n"),
                         ("scan", r"I2C 0x68 RTC\r?\n"), ("rtc", r"RTC ds3231: [^\n]*\n"),
                         ("log", r"session ended on outlet 1,2,3[^\n]*\n"),
                         ("time", r"time [^\n]*\n"), ("sched 1", r"1 Outlet 1[^\n]*\n"),
                         ("sched 2 add daily 07:00-08:00", r"  4\) [^\n]*\n"), ("timer 3 for 1h", r"3 off at [^\n]*\n"),
                         ("timer 3 cancel", None), ("off all", r"6 Outlet 6[^\n]*\n"),
                         ("help", r"commands: [^\n]*\n")):
        out = b.command(line, expect=expect)
        assert "MemoryError" not in out and "error" not in out, out
    time.sleep(11)  # the watchdog task collects and measures the heap every 10 s, between the tasks' steps
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    steady = int(re.search(r"heap \d+ free \(min (\d+)\)", out).group(1))
    print("%s: least free heap seen by the app %d bytes (floor %d); console lines typed again %d, taps presented "
          "again %d" % (where, steady, MIN_STEADY_FREE, b.memory_retries, b.serial.text().count("present it again")))
    assert steady >= MIN_STEADY_FREE, "least free heap %d bytes, under the floor of %d:\n%s" % (
        steady, MIN_STEADY_FREE, out)
    assert "MemoryError" not in b.serial.text()


def test_a_smaller_heap_is_refused_loudly_not_silently(vboard):
    """Below the budget the board must fail visibly (and reset), never run half-broken."""
    b = vboard({}, heap="24k")
    b.serial.expect(r"MemoryError|SAFE MODE", 20)
