"""The firmware on the virtual board: both reference wirings, outlets reaching the right relay pins, the REPL
helpers, the serial console, staggered switch-on, power-on behaviour across power cuts."""
import datetime
import itertools
import json
import re
import time

import pytest
from conftest import LAB, read_json, ready

SEED_PINS = [16, 14, 12, 13, 0, 2]  # HARDWARE.md, seed wiring: outlet 1..6, active-low relays


def wait_state(bench, ok, timeout=5.0):
    """Wait until state.json exists and ok(its content)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ok(read_json(bench.board_dir / "state.json")):
                return
        except FileNotFoundError:
            pass
        assert time.monotonic() < deadline, "state.json never showed the change"
        time.sleep(0.05)


def levels(bench):
    """What the relay inputs see: GPIO levels on the seed wiring, expander pin levels on the other."""
    if bench.wiring_name == "seed":
        return [bench.level(p) for p in SEED_PINS]
    return [(bench.pcf.levels() >> n) & 1 for n in range(6)]


@pytest.mark.parametrize("wiring", ["seed", "expander"])
def test_repl_helpers_drive_the_right_relay_pins(vboard, wiring):
    b = vboard({"board": {"profile": wiring}}, wiring=wiring)
    ready(b)
    assert b.relays() == [False] * 6
    assert levels(b) == [1] * 6  # active-low: high is off
    out = b.exec("from firmware.repl import *\non(3)\non(6)")
    assert "3 Outlet 3: on (repl)" in out and "6 Outlet 6: on (repl)" in out
    assert b.relays() == [False, False, True, False, False, True]
    assert levels(b) == [1, 1, 0, 1, 1, 0]
    out = b.exec("off(3)\nstatus()")
    assert re.search(r"3 Outlet 3: off \(repl\)", out)
    assert re.search(r"6 Outlet 6: on \(repl\)", out)
    assert levels(b) == [1, 1, 1, 1, 1, 0]
    assert "I2C 0x68 RTC" in b.exec("scan()")
    if wiring == "expander":
        assert "I2C 0x20 PCF8574" in b.exec("scan()")
    assert re.search(r"RTC ds3231: 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d", b.exec("rtc()"))


def test_serial_console_switches_outlets_while_the_app_runs(vboard):
    b = vboard({"stagger_ms": 100})
    ready(b)
    assert "2 Outlet 2: off (serial, switching on)" in b.command("on 2")
    b.wait_relays([False, True, False, False, False, False])
    b.command("toggle 2")
    b.wait_relays([False] * 6)
    b.command("on all", expect=r"6 Outlet 6[^\n]*\n")
    b.wait_relays([True] * 6)
    out = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert re.search(r"multiprise 0\.1\.0: up \dh\d\dm\d\ds, heap \d+ free", out)
    assert all("Outlet %d: on (serial)" % n in out for n in range(1, 7))
    b.command("off all", expect=r"6 Outlet 6[^\n]*\n")
    b.wait_relays([False] * 6)


def test_serial_console_refuses_bad_input_and_keeps_serving(vboard):
    b = vboard({})
    ready(b)
    assert "error: usage: on N|all, with N from 1 to 6" in b.command("on 9")
    assert "error: usage" in b.command("off")
    assert "error: usage" in b.command("toggle -1")
    assert "error: unknown command 'frobnicate'" in b.command("frobnicate now")
    b.serial.write(b"\x00\xff\xfe garbage \x1b[A\r")  # line noise on the UART
    b.serial.write("x" * 500 + "\r")  # longer than a line may be
    assert "3 Outlet 3" in b.command("on 3")
    b.wait_relays([False, False, True, False, False, False])


def test_switch_ons_are_staggered(vboard):
    b = vboard({"stagger_ms": 250})
    ready(b)
    m = len(b.relay_history)
    b.command("on all", expect=r"6 Outlet 6[^\n]*\n")
    b.wait_relays([True] * 6)
    ons = [t for t, i, on in b.relay_history[m:] if on]
    assert len(ons) == 6
    gaps = [b2 - a for a, b2 in itertools.pairwise(ons)]
    assert min(gaps) >= 0.24, gaps  # at least stagger_ms apart (ticks are whole milliseconds)
    m = len(b.relay_history)
    b.command("off all", expect=r"6 Outlet 6[^\n]*\n")
    b.wait_relays([False] * 6)
    offs = [t for t, i, on in b.relay_history[m:] if not on]
    assert offs[-1] - offs[0] < 0.2  # switch-offs are not delayed


def test_power_on_behaviour_across_a_power_cut(vboard):
    outlets = [{"power_on": p} for p in ("off", "on", "last", "last", "off", "on")]
    b = vboard({"outlets": outlets, "save_interval_s": 1, "stagger_ms": 0})
    ready(b)
    b.wait_relays([False, True, False, False, False, True])  # "last" with no saved state: off
    b.command("on 1")
    b.command("on 3")
    b.command("off 6")
    b.wait_relays([True, True, True, False, False, False])
    wait_state(b, lambda s: s["want"][2] == 1)  # the coalesced write lands
    m = b.serial.mark()
    b.power_cut()
    assert b.relays() == [False] * 6  # no power, no relay
    b.power_on()
    ready(b, since=m)
    # off stays off, on comes on, last comes back as it was.
    b.wait_relays([False, True, True, False, False, True])
    assert "3 Outlet 3: on (power-on last)" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")


def test_wifi_joins_notices_a_drop_and_rejoins(vboard):
    b = vboard({"wifi": LAB})
    ready(b)
    b.serial.expect(r"wifi: connected to multiprise-lab, ip 127\.0\.0\.1, rssi -58", 10, since=0)
    assert b.dhcp_name == "multiprise-" + b.uid[-2:].hex()  # the name the router lists: the end of the MAC
    m = b.serial.mark()
    b.set_wifi(False)
    b.serial.expect(r"wifi: lost multiprise-lab", 10, since=m)
    b.serial.expect(r"wifi: cannot join multiprise-lab: down \(network not found\)", 10, since=m)
    b.set_wifi(True)
    b.serial.expect(r"wifi: connected to multiprise-lab", 20, since=m)


def test_wrong_wifi_password_is_said_and_never_printed(vboard):
    b = vboard({"wifi": {"ssid": "multiprise-lab", "password": "not-the-password"}})
    ready(b)
    b.serial.expect(r"wifi: cannot join multiprise-lab: down \(wrong password\)", 10, since=0)
    assert "not-the-password" not in b.serial.text()


def test_a_configuration_kept_by_older_firmware_is_checked_again(vboard):
    """config.valid.json holds the validator's normalized result: one of another shape (a firmware before a key was
    added) is not taken as it is, whatever the SHA-256 of config.json says."""
    b = vboard({"name": "desk-strip"})
    ready(b)
    kept = read_json(b.board_dir / "config.valid.json")
    del kept["form"]
    for o in kept["cfg"]["outlets"]:
        del o["badge"]  # as a firmware without outlets[].badge wrote it
    (b.board_dir / "config.valid.json").write_text(json.dumps(kept))
    m = b.serial.mark()
    b.power_cycle()
    b.serial.expect(r"config: config\.json changed \(or the firmware did\) and is valid", 10, since=m)
    ready(b, since=m)
    assert read_json(b.board_dir / "config.valid.json")["cfg"]["outlets"][0]["badge"] is True


def test_log_lines_and_the_time_command_speak_the_same_local_time(vboard):
    """The log's timestamps are in the zone `time` and `status` show (CET/CEST by default), once the time is known."""
    b = vboard({"wifi": LAB})
    ready(b)
    b.serial.expect("clock: time from ntp", 15, since=0)
    said = b.command("time", expect=r"time [^\n]*\n")
    local = datetime.datetime.strptime(re.search(r"time (\S+ \S+)", said).group(1), "%Y-%m-%d %H:%M:%S")
    m = b.serial.mark()
    b.command("on 1")
    line = b.serial.expect(r"(\S+ \S+) outlet 1 on \(serial\)", 5, since=m)
    logged = datetime.datetime.strptime(line.group(1).decode(), "%Y-%m-%d %H:%M:%S")
    assert abs((logged - local).total_seconds()) < 60, (said, line.group(0))  # an hour apart when one is UTC


def test_an_outlet_is_named_and_its_power_on_set_at_the_console_and_both_hold_after_a_power_cut(vboard):
    b = vboard({})
    ready(b)
    assert b.command("name 3 Desk lamp", expect=r"3 [^\n]*\n").startswith("3 Desk lamp: off")
    for line, why in (("name 3", "1 to 24 characters"), ("name 3 " + "x" * 25, "1 to 24 characters"),
                      ("poweron 3 sometimes", "off, on, last or schedule"),
                      ("poweron 3 schedule", "outlet 3 has no schedule"), ("poweron 9 on", "no outlet 9")):
        out = b.command(line, expect=r"error[^\n]*\n")
        assert why in out and "usage: " + line.split()[0] + " N" in out, out
    assert b.command("poweron 3 on", expect=r"3 at power-on[^\n]*\n").startswith("3 at power-on: on")
    conf = json.loads((b.board_dir / "config.json").read_text())["outlets"][2]
    assert conf["name"] == "Desk lamp" and conf["power_on"] == "on"
    assert b.relays() == [False] * 6  # a setting switches nothing
    m = b.serial.mark()
    b.power_cycle()
    ready(b, since=m)
    b.wait_relays([False, False, True, False, False, False], timeout=5)
    assert "3 Desk lamp: on (power-on on)" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")
