"""The heap is the budget: at the 40k cap (about 28 KB on an ESP8266) the firmware must boot, run every
console command and leave room to work. If the firmware grows past it, these fail."""
import re
import time

import pytest
from conftest import LAB, ready

# Free heap the running app must leave at the cap, in bytes of the 64-bit unix port (README, "Heap budget"): the
# least the app saw itself (status, "min"), between its tasks' steps, after a collection, with nothing loaded
# for a moment.
MIN_STEADY_FREE = 4096


@pytest.mark.parametrize("where", ["romfs", "lib"])
def test_the_firmware_fits_its_heap_and_every_command_runs(vboard, where):
    """Both ways the firmware can be on a board: one image in the ROMFS partition, at the 40k cap (the reference
    board), or .mpy files in /lib, whose bytecode takes heap: at LIB_HEAP."""
    b = vboard({"wifi": LAB}, romfs="320k" if where == "romfs" else None)
    ready(b)
    b.serial.expect("wifi: connected", 10)
    b.serial.expect("clock: time from ntp", 10)
    for line, expect in (("status", r"6 Outlet 6[^\n]*\n"), ("on all", r"6 Outlet 6[^\n]*\n"),
                         ("scan", r"I2C 0x68 RTC\r?\n"), ("rtc", r"RTC ds3231: [^\n]*\n"), ("log", r"ready in[^\n]*\n"),
                         ("time", r"time [^\n]*\n"), ("sched 1", r"1 Outlet 1[^\n]*\n"),
                         ("sched 2 add daily 07:00-08:00", r"  1\) [^\n]*\n"), ("timer 3 for 1h", r"3 off at [^\n]*\n"),
                         ("timer 3 cancel", r"no timers\r?\n"), ("off all", r"6 Outlet 6[^\n]*\n"),
                         ("help", r"commands: [^\n]*\n")):
        out = b.command(line, expect=expect)
        assert "MemoryError" not in out and "error" not in out, out
    b.wait_relays([False] * 6)
    time.sleep(11)  # the watchdog task collects and measures the heap every 10 s, between the tasks' steps
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    steady = int(re.search(r"heap \d+ free \(min (\d+)\)", out).group(1))
    print("%s: least free heap seen by the app %d bytes; console lines typed again %d" % (where, steady,
                                                                                          b.memory_retries))
    assert steady >= MIN_STEADY_FREE, out
    assert "MemoryError" not in b.serial.text()


def test_a_smaller_heap_is_refused_loudly_not_silently(vboard):
    """Below the budget the board must fail visibly (and reset), never run half-broken."""
    b = vboard({}, heap="24k")
    b.serial.expect(r"MemoryError|SAFE MODE", 20)
