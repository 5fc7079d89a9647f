"""No maintenance tool switches an outlet: a soft reset, Ctrl-C, the raw REPL and plain mpremote commands leave every
relay as it was and badge sessions running, count no failed boot, and the app comes back. Only a reset of the chip
(power-on, the reset pin, the watchdog) starts GPIO relays from off."""
import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest
from conftest import ROOT, ready
from test_badge import BOB, config, online, sessions, tap
from test_boot import SEED_PINS
from test_deploy import port
from test_mpremote import MPREMOTE

from tools import deploy
from tools.vboard.hw import HARD_RESET

ON = [True, False, True, False, True, True]  # outlet 5 is GPIO0 on the seed wiring: the FLASH button's pin


def switch_on(b, outlets):
    for i, on in enumerate(outlets):
        if on:
            b.command("on %d" % (i + 1))
    b.wait_relays(outlets)


def mpremote(b, *args):
    r = subprocess.run([MPREMOTE, "connect", "socket://127.0.0.1:%d" % b.serial.port, *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@pytest.mark.parametrize("wiring", ["seed", "expander"])
def test_a_soft_reset_at_the_repl_keeps_every_relay_and_the_app_comes_back(vboard, wiring):
    b = vboard({"board": {"profile": wiring}, "outlets": [{"power_on": "off"}] * 6, "stagger_ms": 0}, wiring=wiring)
    ready(b)
    switch_on(b, ON)
    moves = len(b.relay_history)
    b.interrupt()  # Ctrl-C: the app stops, the outlets keep their state
    m = b.serial.mark()
    b.serial.write(b"\x04")  # Ctrl-D at the friendly REPL: a soft reset, boot.py then main.py
    b.serial.expect("MPY: soft reboot", 5, since=m)
    ready(b, since=m)
    assert "boot 1 in a row, outlets kept as they were" in b.serial.text(since=m)  # Ctrl-C: a good run, no failed boot
    assert b.relay_history[moves:] == [] and b.relays() == ON
    status = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert "1 Outlet 1: on (kept through a soft reset)" in status
    assert "2 Outlet 2: off (kept through a soft reset)" in status
    b.command("off 1")  # the app drives them again, from where they are
    b.wait_relays([False] + ON[1:])


def test_a_reset_of_the_chip_starts_gpio_relays_from_off(vboard):
    """The chip's reset makes every pin an input: the relays drop, and the app applies each outlet's power_on."""
    b = vboard({"outlets": [{"power_on": "off"}] * 6, "stagger_ms": 0})
    ready(b)
    switch_on(b, ON)
    m = b.serial.mark()
    b.reset(HARD_RESET)
    ready(b, since=m)
    b.serial.expect(r"reset cause 6, boot 2 in a row\n", 1, since=m)
    assert b.relays() == [False] * 6


def test_the_chip_tells_which_pins_it_drives(vboard):
    """reset.driven reads the ESP8266's GPIO registers through machine.mem32, as on a board."""
    b = vboard({"outlets": [{"power_on": "off"}] * 6})
    ready(b)
    pins = ", ".join(map(str, SEED_PINS))
    out = b.exec("from firmware.reset import driven\nfrom machine import Pin, mem32\nPin(4, Pin.IN)\n"
                 "print([driven(p) for p in (%s, 4)], hex(mem32[0x6000030C]))" % pins)
    enable = sum(1 << p for p in SEED_PINS if p != 16)
    assert out.split() == ["[1,", "1,", "1,", "1,", "1,", "1,", "None]", hex(enable)]
    with pytest.raises(RuntimeError, match="ValueError: the virtual board models reading the GPIO registers only"):
        b.exec("from machine import mem32\nmem32[0x60000300] = 0")


def test_plain_mpremote_never_moves_a_relay_nor_ends_a_badge_session(vboard, site):
    """README, "Maintenance": the commands a person types, one after the other, with and without resume; then the
    app brought back as the README says. Bob's badge session (outlets 1-3) runs through all of it."""
    b = vboard(dict(config(site), stagger_ms=0))
    online(b)
    assert "outlet 1,2,3 on" in tap(b, BOB, r"badge \w+ \(Bob\): [^\n]*\n")
    b.wait_relays([True, True, True, False, False, False])
    b.field.remove()
    moves = len(b.relay_history)
    assert "config.json" in mpremote(b, "fs", "ls")
    assert mpremote(b, "exec", "print(6 * 7)").strip() == "42"
    mpremote(b, "soft-reset")
    assert "boot.py" in mpremote(b, "resume", "fs", "ls")
    assert "'state_writes'" in mpremote(b, "resume", "exec", "import firmware.app as a; print(a.stats)")
    mpremote(b, "fs", "cat", "boot.py")
    assert b.relay_history[moves:] == []
    m = b.serial.mark()
    mpremote(b, "exec", "--no-follow", "import main")  # the README's way back, without a reset of the chip
    ready(b, since=m)
    assert "boot 1 in a row, outlets kept as they were" in b.serial.text(since=m)
    assert b.relay_history[moves:] == []
    status = b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert "1 Outlet 1: on (badge)" in status and "4 Outlet 4: off (kept through a soft reset)" in status
    assert "ended by the restart" not in b.serial.text(since=m)
    t0 = time.time()
    assert "session ended on outlet 1,2,3" in tap(b, BOB, r"badge \w+: session ended[^\n]*\n")  # still running
    b.wait_relays([False] * 6)
    got = sessions(site, 3)
    assert [s["outlet"] for s in got] == [1, 2, 3] and all(abs(s["end"] - t0) < 5 for s in got)


def test_deploy_with_a_new_configuration_keeps_every_relay(vboard, tmp_path):
    """multiprise deploy: the files copied, the changed configuration checked and applied by a soft reset, the app
    back; the outlets never move."""
    b = vboard({"outlets": [{"power_on": "off"}] * 6, "stagger_ms": 0}, romfs=None)
    ready(b)
    switch_on(b, ON)
    moves = len(b.relay_history)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"name": "desk-strip", "outlets": [{"power_on": "off"}] * 6, "stagger_ms": 0}))
    m = b.serial.mark()
    deploy.deploy(port(b), str(cfg), wait=15)
    b.serial.expect(r"config: config\.json changed \(or the firmware did\) and is valid; restarting", 1, since=m)
    ready(b, since=b.serial.text(m).index("restarting to apply") + m)
    assert "desk-strip" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")
    assert b.relay_history[moves:] == [] and b.relays() == ON


def test_the_repl_command_works_on_the_virtual_board_and_leaves_the_app_running(vboard):
    """multiprise repl (make repl) in a terminal: Ctrl-C, a line run, Ctrl-] to leave; the app comes back."""
    b = vboard({"outlets": [{"power_on": "off"}] * 6, "stagger_ms": 0})
    ready(b)
    switch_on(b, ON)
    moves = len(b.relay_history)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command in a terminal, as a person runs it
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "tools.cli", "repl", "--port", port(b)])
    seen = bytearray()

    def until(text, timeout=10):
        end = time.monotonic() + timeout
        while text not in seen:
            assert time.monotonic() < end, "%r not seen in %r" % (text, bytes(seen[-500:]))
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen.extend(os.read(fd, 4096))
                except OSError:  # the command ended
                    break
        assert text in seen, "%r not seen in %r" % (text, bytes(seen[-500:]))

    try:
        until(b"Ctrl-] leaves")
        time.sleep(0.5)  # the terminal program has the port open
        m = b.serial.mark()
        os.write(fd, b"\x03")
        until(b">>> ")
        os.write(fd, b"print(6 * 7)\r")
        until(b"42")
        os.write(fd, b"\x1d")  # Ctrl-]
        until(b"restarted it with a soft reset")
        assert os.waitpid(pid, 0)[1] == 0
        ready(b, since=m)
    finally:
        os.close(fd)
    assert b.relay_history[moves:] == [] and b.relays() == ON


def test_restarts_on_purpose_never_add_up_to_safe_mode(vboard):
    """Three starts in a row that do not stay up 60 s give safe mode, but a start ended on purpose (the console's
    reboot, Ctrl-C, a tool) is a good run: four reboots in a row leave the app running, the outlets as they were."""
    b = vboard({"outlets": [{"power_on": "off"}] * 6, "stagger_ms": 0})
    ready(b)
    switch_on(b, ON)
    moves = len(b.relay_history)
    for _ in range(4):
        m = b.serial.mark()
        b.serial.write("reboot\r")
        ready(b, since=m)
        assert "boot 1 in a row, outlets kept as they were" in b.serial.text(since=m)
    assert b.relay_history[moves:] == [] and b.relays() == ON
