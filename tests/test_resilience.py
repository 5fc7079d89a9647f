"""Bad input, stalls, crashes and power cuts: the board keeps its outlets in a safe, explained state."""
import os
import random
import threading
import time

import pytest
from conftest import ready

from tools import soak
from tools.build import compile_file
from tools.vboard import bench as bench_module

STATE_CUTS = 40  # make soak cuts 1000 times

BROKEN = [
    # (what is wrong, config.json text, what the console must say)
    ("no file", None, r"config\.json: file not found"),
    ("empty file", "", r"config\.json: invalid JSON"),
    ("cut short", '{"name": "strip", "board": {"profile": "se', r"config\.json: invalid JSON"),
    ("not UTF-8", b"\xff\xfe{\x00}", r"config\.json: (invalid JSON|cannot be read)"),
    ("not an object", "[1, 2, 3]", r"config = \[1, 2, 3\]: expected an object"),
    ("typo in a key", '{"stager_ms": 100}', r"stager_ms: unknown key \(expected one of"),
    ("GPIO15 active-low relay", '{"board": {"relays": [16, 14, 12, 13, 15, 2]}}',
     r"board\.relays\[4\] = 15: expected .*GPIO15"),
    ("pin used twice", '{"board": {"relays": [16, 14, 12, 13, 5, 2]}}',
     r"board\.i2c\.scl = 5: expected each pin used once, but board\.relays\[4\] uses it too"),
    ("UART pin", '{"board": {"relays": [16, 14, 12, 13, 1, 2]}}', r"board\.relays\[4\] = 1: .*REPL"),
    ("outlets mismatch", '{"outlets": [{"name": "Lamp"}]}', r"outlets = .*: expected a list of 6 objects"),
    ("bad power-on", '{"outlets": [{}, {}, {"power_on": "sometimes"}, {}, {}, {}]}',
     r'outlets\[2\]\.power_on = "sometimes": expected one of off, on, last'),
    ("negative stagger", '{"stagger_ms": -5}', r"stagger_ms = -5: expected an integer from 0 to 10000"),
    ("expander without bus", '{"board": {"profile": "custom", "relays": [0, 1], "expander": 32}}',
     r"board\.expander = 32: expected .*i2c"),
    ("short Wi-Fi password", '{"wifi": {"ssid": "lab", "password": "secret1"}}', r"wifi\.password = \*\*\*: expected"),
]


def safe_state(b, since=0):
    b.serial.expect(r"SAFE STATE: outlets off, app not started, REPL free", 10, since=since)
    b.serial.expect(r">>> $", 5, since=since)
    assert b.relays() == [False] * 6
    assert b.exec("print(1 + 1)").strip() == "2"  # the REPL is there and works


@pytest.mark.parametrize("what,text,message", BROKEN, ids=[w for w, _, _ in BROKEN])
def test_broken_configuration_gives_a_safe_state_and_says_why(vboard, what, text, message):
    b = vboard(start=False)
    cfg = b.board_dir / "config.json"
    if text is None:
        cfg.unlink(missing_ok=True)
    else:
        cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    b.start()
    b.serial.expect(r"config: error: " + message, 10, since=0)
    safe_state(b)
    assert "secret1" not in b.serial.text()


def test_a_broken_configuration_turns_on_outlets_off(vboard):
    """Outlets that were on stay off when the configuration breaks: relays.json from the last good boot."""
    b = vboard({"outlets": [{"power_on": "on"}] * 6, "stagger_ms": 0})
    ready(b)
    b.wait_relays([True] * 6)
    (b.board_dir / "config.json").write_text('{"stagger_ms": "fast"}')
    m = b.serial.mark()
    b.serial.write("reboot\r")
    b.serial.expect(r'config: error: stagger_ms = "fast": expected an integer', 10, since=m)
    safe_state(b, since=m)


def test_a_stalled_loop_is_reset_by_the_watchdog(vboard):
    """The SDK's software watchdog, which the port's event loop feeds: C code that blocks (a stuck bus) starves it."""
    b = vboard({})
    ready(b)
    m = b.serial.mark()
    b.stall(8)  # every hardware access blocks, as on a stuck bus: the loop stops
    b.serial.expect(r"Soft WDT reset", 10, since=m)
    ready(b, since=m)
    assert b.wdt_resets == 1
    b.serial.expect(r"reset cause 3, boot \d in a row", 1, since=m)  # REASON_SOFT_WDT_RST


def test_a_dead_task_is_noticed_and_the_watchdog_resets(vboard):
    b = vboard({"wifi": {"ssid": "multiprise-lab", "password": "lab-password"}})
    ready(b)
    b.serial.expect("wifi: connected", 10, since=0)
    m = b.serial.mark()
    b.faults[("WLAN", "isconnected")] = ValueError("radio firmware bug")  # not an OSError: a bug, not weather
    b.serial.expect(r"app: task link died: ValueError\('radio firmware bug',?\)", 10, since=m)
    b.serial.expect(r"app: task link stopped: resetting the board", 5, since=m)
    b.faults.clear()
    ready(b, since=m)
    b.serial.expect(r"reset cause 4, boot \d in a row", 1, since=m)  # machine.reset()


def test_the_app_leaves_no_watchdog_to_bite_at_the_repl(vboard):
    """A machine.WDT, once made, is fed only by WDT.feed() until the chip resets, at the REPL too: the app makes
    none, so a person at the REPL keeps the board, its relays as they were."""
    b = vboard({"outlets": [{"power_on": "on"}] * 6, "stagger_ms": 0})
    ready(b)
    b.wait_relays([True] * 6)
    b.interrupt()
    time.sleep(2 * bench_module.SW_WDT_S)  # longer than the watchdog would wait
    assert "Soft WDT reset" not in b.serial.text() and b.wdt_resets == 0
    assert "42" in b.exec("print(6 * 7)") and b.relays() == [True] * 6


def test_a_watchdog_made_at_the_repl_bites_when_left_unfed(vboard):
    """What the ESP8266 port does with machine.WDT (machine_wdt.c): a fixed timeout, and no way to stop it."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    out = b.exec("import machine\nw = machine.WDT()\nw.feed()\ntry:\n    w.deinit()\nexcept AttributeError:\n"
                 "    print('no deinit')\ntry:\n    machine.WDT(timeout=2000)\nexcept ValueError:\n    print('fixed')")
    assert out.split() == ["no", "deinit", "fixed"], out
    m = b.serial.mark()
    b.serial.expect(r"Soft WDT reset", 10, since=m)  # nobody feeds it at the REPL
    assert b.wdt_resets == 1


def test_a_radio_error_is_ridden_out(vboard):
    b = vboard({"wifi": {"ssid": "multiprise-lab", "password": "lab-password"}})
    ready(b)
    b.serial.expect("wifi: connected", 10, since=0)
    m = b.serial.mark()
    b.faults[("WLAN", "isconnected")] = OSError(5, "EIO")
    b.serial.expect(r"wifi: radio error OSError\(5,?\); retrying in 5 s", 10, since=m)
    b.faults.clear()
    b.serial.expect("wifi: connected", 15, since=m)
    assert b.wdt_resets == 0


@pytest.mark.parametrize("wiring", ["seed", "expander"])  # the expander keeps its relays through the resets
def test_repeated_failed_boots_give_safe_mode(vboard, wiring):
    b = vboard({"board": {"profile": wiring}}, wiring=wiring, start=False, romfs=None)  # the firmware in /lib
    # A broken deploy: a firmware module that raises on import, so every boot crashes and resets.
    src = b.board_dir.parent / "console.py"
    src.write_text("raise RuntimeError('broken update')\n")
    compile_file(src, b.board_dir / "lib" / "firmware" / "console.mpy")
    b.start()
    b.serial.expect(r"app: crashed .*resetting", 10, since=0)
    safe = b.serial.expect(r"SAFE MODE \(3 boots in a row failed within 60 s\): app not started, outlets off, "
                           r"REPL free", 20, since=0)
    b.serial.expect(r">>> $", 5, since=safe.end())
    assert b.relays() == [False] * 6
    assert b.serial.text().count("app: crashed") == 3
    assert b.exec("print('repl ok')").strip() == "repl ok"


def test_flash_button_held_at_boot_gives_safe_mode(vboard):
    b = vboard({"outlets": [{"power_on": "on"}] * 6})
    ready(b)
    b.wait_relays([True] * 6)
    b.hold_button(True)
    m = b.serial.mark()
    b.power_cycle()
    b.serial.expect(r"SAFE MODE \(the FLASH button was held at boot\)", 10, since=m)
    b.serial.expect(r">>> $", 5, since=m)
    b.hold_button(False)
    time.sleep(0.5)
    assert b.relays() == [False] * 6
    assert "app: ready" not in b.serial.text(m)
    out = b.exec("from firmware.repl import *\nstatus()\non(1)")  # the helpers work in safe mode...
    assert "1 Outlet 1: off" in out
    assert b.relays() == [True] + [False] * 5  # ...switching what is asked, not the power-on behaviour
    b.exec("off(1)")
    m = b.serial.mark()
    b.reset()  # released: the next boot runs the app again
    ready(b, since=m)
    b.wait_relays([True] * 6)


class InodeWatch:
    """Counts replacements of a file on the virtual flash (each atomic write is a new inode)."""

    def __init__(self, path):
        self.path, self.count, self._stop = path, 0, False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _ino(self):
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def _run(self):
        last = self._ino()
        while not self._stop:
            ino = self._ino()
            if ino != last and ino is not None:
                self.count += 1
            last = ino
            time.sleep(0.003)

    def stop(self):
        self._stop = True
        self._t.join()
        return self.count


def test_state_writes_are_coalesced_and_none_when_nothing_changes(vboard):
    b = vboard({"save_interval_s": 2, "stagger_ms": 0})
    ready(b)
    w = InodeWatch(b.board_dir / "state.json")
    t0 = time.monotonic()
    for i in range(40):  # 40 changes in about 4 s
        b.command("toggle %d" % (i % 6 + 1))
        time.sleep(0.1)
    busy = time.monotonic() - t0
    time.sleep(2.5)
    during = w.count
    assert 1 <= during <= busy / 2 + 2, (during, busy)
    time.sleep(6)  # nothing changes: nothing is written
    assert w.stop() == during


@pytest.mark.parametrize("flash", ["host", "littlefs"])
def test_power_cuts_while_state_is_written_always_leave_a_valid_state(vboard, flash):
    """Cuts at random instants inside a storm of state writes (the firmware's own save path): make soak's storm
    (tools/soak.py, 1000 cuts), short; on the board folder, and on a real LittleFS (the write to state.json.tmp, then
    the rename over state.json, are LittleFS's own there)."""
    seed = int(os.environ.get("CUT_SEED", random.randrange(1 << 30)))
    fig = soak.state_write_cuts(lambda c: vboard(c, flash=flash), STATE_CUTS, seed)  # raises at the first torn
    # state, with the seed
    assert fig["state_files_checked"] == STATE_CUTS and fig["state_files_corrupt"] == 0, (seed, fig)
    assert fig["boots_checked"] == STATE_CUTS, (seed, fig)  # and the board booted with each state
