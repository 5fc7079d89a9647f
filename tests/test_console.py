"""The `multiprise sim` console: its commands act on a real virtual board, its screen shows the board's world."""
import contextlib
import datetime
import fcntl
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

import pyte
import pytest
from conftest import LAB, ROOT, ready

from tools.vboard.console import (EXAMPLE_OUTLETS, Scrollback, example_config, handle, prepare, snapshot,
                                  status_lines, text)

NAMES = [name for name, _ in EXAMPLE_OUTLETS]


def shown(bench):
    return "\n".join(text(line) for line in status_lines(snapshot(bench, NAMES)))


def eventually(check, timeout=5.0):
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "still not true after %.1f s" % timeout
        time.sleep(0.05)


def board(vboard):
    b = vboard(config=example_config("seed", LAB["ssid"], LAB["password"]), meter="ade7953")
    ready(b)
    b.wait_relays([False, False, False, False, True, False])  # the example's Router is on at power-on
    return b


def measured(b, low, high):
    """The board's status says it measures between low and high watts."""
    m = re.search(r"power (\d+) W measured", b.command("status", expect=r"\n6 [^\n]*\n"))
    return m and low <= int(m[1]) <= high


def test_on_switches_the_outlet_and_the_status_shows_it(vboard):
    b = board(vboard)
    assert "3 Heater       off" in shown(b)
    m0 = b.serial.mark()
    assert handle(b, "on 3") == ""  # the board itself answers, on the serial output
    b.wait_relays([False, False, True, False, True, False])
    b.serial.expect(r"outlet 3 on \(serial\)", since=m0)
    s = shown(b)
    assert "3 Heater       ON" in s and "5 Router       ON" in s and "1 Lamp         off" in s
    assert "socket://127.0.0.1:%d" % b.serial.port in s


def test_a_load_plugged_in_is_measured_by_the_board(vboard):
    """load N WATTS [PF] puts a load on outlet N: switched on, the board's metering chip measures it."""
    b = board(vboard)
    assert handle(b, "load 3 1500 0.9") == "outlet 3 draws 1500 W at power factor 0.90 while it is on"
    assert handle(b, "load 7 10").startswith("usage: load N WATTS [PF], N from 1 to 6")
    assert handle(b, "load 3 -5").startswith("usage:") and handle(b, "load 3 100 1.5").startswith("usage:")
    handle(b, "on 3")
    b.wait_relays([False, False, True, False, True, False])
    eventually(lambda: measured(b, 1500, 1540), timeout=10)  # the heater, and the router's 10 W beside it


def test_a_kettle_switches_itself_off_with_its_outlet_on_and_the_board_measures_it(vboard):
    """load N WATTS kettle=S: the kettle's thermostat stops it after S seconds on, the outlet staying on; noise=R
    and inrush=KxMS give a load a wandering power and a surge at switch-on."""
    b = board(vboard)
    assert handle(b, "load 3 2000 kettle=12") == ("outlet 3 draws 2000 W at power factor 1.00 while it is on; its "
                                                 "thermostat switches it off after 12 s on, until the outlet is "
                                                 "switched off and on")
    assert handle(b, "load 4 150 0.8 noise=5% inrush=8x20ms") == (
        "outlet 4 draws 150 W at power factor 0.80 while it is on, its power wandering within 5 % of that; 8 times "
        "that for 20 ms after the relay closes")
    assert b.mains.loads[3].noise == 0.05 and (b.mains.loads[3].inrush, b.mains.loads[3].inrush_ms) == (8, 20)
    for wrong in ("load 3 2000 kettle=", "load 3 2000 noise=2", "load 3 kettle=5 2000", "load 3 2000 surge=3"):
        assert handle(b, wrong).startswith("usage: load N WATTS [PF], N from 1 to 6"), wrong
    handle(b, "on 3")
    b.wait_relays([False, False, True, False, True, False])
    eventually(lambda: measured(b, 2000, 2040), timeout=10)  # the kettle, and the router's 10 W beside it
    eventually(lambda: measured(b, 0, 20), timeout=15)  # its thermostat: the router alone
    assert b.relays()[2] and b.mains.watts(2) == 0


def test_unknown_console_command_gets_the_boards_error(vboard):
    b = board(vboard)
    m0 = b.serial.mark()
    handle(b, "frobnicate 7")
    b.serial.expect(r"error: unknown command 'frobnicate'; commands: on N\|all", since=m0)


def test_wifi_down_and_up_show_in_the_status(vboard):
    b = board(vboard)
    b.serial.expect(r"wifi: connected to multiprise-lab", since=0)
    assert "AP multiprise-lab up, board: got IP as multiprise-%s" % b.uid[-2:].hex() in shown(b)  # its DHCP name
    m0 = b.serial.mark()
    assert "down" in handle(b, "wifi down")
    eventually(lambda: "AP multiprise-lab DOWN, board: AP not found" in shown(b))
    b.serial.expect(r"wifi: lost multiprise-lab", since=m0)
    handle(b, "wifi up")
    eventually(lambda: "AP multiprise-lab up, board: got IP" in shown(b), timeout=10)


def test_cut_and_restore_the_power(vboard):
    b = board(vboard)
    assert "power cut" in handle(b, "cut")
    assert not b.powered and b.relays() == [False] * 6
    assert "power CUT" in shown(b) and "board: no power" in shown(b)
    assert "no power" in handle(b, "on 2")
    assert "already cut" in handle(b, "cut")
    m0 = b.serial.mark()
    assert "restored" in handle(b, "restore")
    ready(b, since=m0)
    b.wait_relays([False, False, False, False, True, False])  # Router's power-on is "on"
    assert "power on" in shown(b) and "boots 3" in shown(b)


def test_button_held_then_reset_gives_safe_mode(vboard):
    b = board(vboard)
    assert "safe mode" in handle(b, "button")
    assert b.button and "FLASH button HELD" in shown(b)
    m0 = b.serial.mark()
    handle(b, "reset")
    b.serial.expect(r"SAFE MODE \(the FLASH button was held at boot\)", since=m0)
    assert "released" in handle(b, "button")
    assert not b.button and "FLASH button released" in shown(b)


def test_world_and_jump_move_the_world_clock_and_the_boards_commands_go_through(vboard):
    b = board(vboard)
    for line, answer in (("time", r"time 20\d\d-[^\n]*\n"), ("help", r"commands: [^\n]*\n")):
        m0 = b.serial.mark()
        assert handle(b, line) == ""  # the firmware's own commands reach it
        b.serial.expect(answer, since=m0)
    assert "world YYYY-MM-DD" in handle(b, "?")
    target = datetime.datetime(2030, 1, 2, 3, 4, tzinfo=datetime.UTC).timestamp()
    m0 = b.serial.mark()
    assert "2030-01-02 03:04:00" in handle(b, "world 2030-01-02 03:04")
    b.serial.expect(r"time sync", since=m0)  # the board is asked to sync with the world
    assert abs(b.clock.now() - target) < 2
    assert "world 2030-01-02 03:04:0" in shown(b)
    handle(b, "jump -90m")
    assert abs(b.clock.now() - (target - 5400)) < 2
    before = b.clock.now()
    for bad in ("world tomorrow", "world 2030-13-01 00:00", "jump soon"):
        assert "usage:" in handle(b, bad)
    assert abs(b.clock.now() - before) < 2


def test_chip_and_ntp_commands_set_the_time_world(vboard):
    b = vboard(None, start=False)  # these act on the bench alone
    b.rtc.lose()
    assert "battery ok, time lost (OSF set)" in shown(b)  # as the firmware will read it
    assert "the RTC chip reads 2030-01-02 03:04:00" in handle(b, "chip 2030-01-02 03:04")
    assert "world 20" in shown(b) and "RTC DS3231 2030-01-02 03:04:0" in shown(b) and "time lost" not in shown(b)
    assert "the RTC chip reads 2030-01-02 02:04:0" in handle(b, "chip -1h")
    assert abs(b.clock.now() - time.time()) < 2  # the world's clock did not move
    assert "lost" in handle(b, "chip lost")
    b.rtc.write(bytes([0x0F]))
    assert b.rtc.read(1)[0] & 0x80 and b.rtc.time().year == 2000  # OSF set: the firmware sees a lost time
    assert "NTP server on, +0 s, 0 requests" in shown(b)
    assert handle(b, "ntp +3600").startswith("NTP server on, +3600 s, 0 requests, at 127.0.0.1:%d" % b.ntp.port)
    assert b.ntp.offset == 3600
    for mode in ("off", "garbage", "kod", "on"):
        assert handle(b, "ntp " + mode).startswith("NTP server %s," % mode) and b.ntp.mode == mode
    handle(b, "ntp 0")
    b.ntp.requests = 3
    assert "NTP server on, +0 s, 3 requests" in handle(b, "ntp") and "NTP server on, +0 s, 3 requests" in shown(b)
    for bad in ("chip yesterday", "ntp sometimes"):
        assert "usage:" in handle(b, bad)


def test_serial_output_is_decoded_cleaned_and_bounded():
    log = Scrollback(keep=2)
    text_in = "outlet 1 on\r\nchauffe-eau \u00e9teint\r\n".encode()
    for i in range(len(text_in)):  # worst case: one byte at a time, the é split in two
        log.feed(text_in[i:i + 1])
    log.feed(b"bad \xff byte\r\n>>> ab\x08 \x08")
    assert [t for t, _ in log.view()] == ["chauffe-eau \u00e9teint", "bad \ufffd byte", ">>> a"]


def test_a_persons_config_is_kept_and_a_wrong_wiring_is_pointed_out(tmp_path):
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    mine = {"board": {"profile": "expander"}, "outlets": [{"name": "Aquarium"}] + [{}] * 5}
    (board_dir / "config.json").write_text(json.dumps(mine))
    names, notes = prepare(board_dir, "seed", LAB)
    assert json.loads((board_dir / "config.json").read_text()) == mine
    assert names == ["Aquarium"] + ["Outlet %d" % n for n in range(2, 7)]
    assert any("expander wiring but the bench is wired seed" in n for n in notes)
    names, notes = prepare(tmp_path / "fresh", "expander", LAB)
    assert names == NAMES and notes == []
    assert json.loads((tmp_path / "fresh" / "config.json").read_text())["board"] == {"profile": "expander"}


def sim(board_dir, *more, **kw):
    return subprocess.Popen([sys.executable, "-m", "tools.cli", "sim", "--board", str(board_dir), "--port", "0", *more],
                            cwd=str(ROOT), **kw)


@contextlib.contextmanager
def piped_sim(board_dir, *more):
    """`multiprise sim` without a terminal: yields (proc, wait_line); wait_line(pattern, timeout=10) returns the next
    line it prints that matches (AssertionError with all it printed, if none does in time). Killed at the end if it
    is still running."""
    proc = sim(board_dir, *more, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
               bufsize=1)
    seen = []
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def wait_line(pattern, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                seen.append(lines.get(timeout=max(end - time.monotonic(), 0.01)))
            except queue.Empty:
                break
            if re.search(pattern, seen[-1]):
                return seen[-1]
        raise AssertionError("never printed %r; printed:\n%s" % (pattern, "".join(seen)))

    try:
        yield proc, wait_line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()


def test_without_a_terminal_commands_come_line_by_line(tmp_path):
    """On the folder (--flash folder, the escape hatch: its files edited by hand), no LittleFS image is made."""
    with piped_sim(tmp_path / "board", "--no-server", "--flash", "folder") as (proc, wait_line):
        assert wait_line(r"^multiprise sim ").endswith("board %s\n" % (tmp_path / "board"))
        wait_line(r"^outlets  1 Lamp\s+off")
        wait_line(r"app: ready in")
        proc.stdin.write("on 4\n")
        wait_line(r"outlet 4 on \(serial\)")
        proc.stdin.write("cut\n")
        wait_line(r"^power cut: the board is dead")
        proc.stdin.write("quit\n")
        assert proc.wait(timeout=5) == 0
    assert (tmp_path / "board" / "state.json").exists() and not (tmp_path / "board.lfs").exists()


def state_writes(proc, wait_line):
    proc.stdin.write("status\n")
    return int(wait_line(r"\d+ state writes").split(" state writes")[0].split()[-1])


def test_the_sims_littlefs_flash_keeps_the_board_between_runs(tmp_path):
    """The sim's board runs on LittleFS by default, in an image beside the folder that outlives the run, as a board's
    flash: an outlet switched on (Lamp: power_on last) is on again at the next run; a config.json copied with mpremote
    is the board's at the next run (its names on the console's screen); --config given on a later run reaches it."""
    from test_mpremote import MPREMOTE

    board_dir, lfs = tmp_path / "board", tmp_path / "board.lfs"
    with piped_sim(board_dir, "--no-server") as (proc, wait_line):
        assert "made now from %s" % board_dir in wait_line(r"the board's flash: LittleFS in %s" % re.escape(str(lfs)))
        assert wait_line(r"^multiprise sim ").endswith("board %s\n" % lfs)
        port = re.search(r"socket://127\.0\.0\.1:(\d+)", wait_line(r"^serial  mpremote connect")).group(1)
        wait_line(r"app: ready in", 20)
        written = state_writes(proc, wait_line)
        proc.stdin.write("on 1\n")
        wait_line(r"outlet 1 on \(serial\)")
        deadline = time.monotonic() + 15
        while state_writes(proc, wait_line) == written:  # the coalesced write of the outlets' state
            assert time.monotonic() < deadline, "state.json never written"
            time.sleep(0.5)
        mine = example_config("seed", LAB["ssid"], LAB["password"])
        mine["outlets"][1]["name"] = "Aquarium"
        (tmp_path / "mine.json").write_text(json.dumps(mine))
        r = subprocess.run([MPREMOTE, "connect", "socket://127.0.0.1:%s" % port, "fs", "cp",
                            str(tmp_path / "mine.json"), ":config.json"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r
        proc.stdin.write("quit\n")
        assert proc.wait(timeout=10) == 0
    assert lfs.exists() and not (board_dir / "state.json").exists()  # the board wrote its flash, not the folder

    with piped_sim(board_dir, "--no-server") as (proc, wait_line):
        assert "as the last run left it" in wait_line(r"the board's flash: LittleFS in ")
        wait_line(r"^outlets  1 Lamp\s+off  2 Aquarium")  # its config.json, read from its flash before it starts
        wait_line(r"outlet 1 on \(power-on last\)", 20)
        proc.stdin.write("status\n")
        wait_line(r"^2 Aquarium: off")
        proc.stdin.write("quit\n")
        assert proc.wait(timeout=10) == 0

    mine["outlets"][0]["name"] = "Kettle"
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    with piped_sim(board_dir, "--no-server", "--config", str(tmp_path / "mine.json")) as (proc, wait_line):
        wait_line(r"^outlets  1 Kettle\s+off  2 Aquarium")
        wait_line(r"outlet 1 on \(power-on last\)", 20)
        proc.stdin.write("status\n")
        wait_line(r"^1 Kettle: on \(power-on last\)")
        proc.stdin.write("quit\n")
        assert proc.wait(timeout=10) == 0


def test_the_sim_runs_the_demo_server_and_its_badges_work_from_the_console(tmp_path):
    """A newcomer's first run: the central server with the demo site starts beside the board; a known badge powers
    the outlets it may, an enrolled badge without a rule and an unknown one are refused; the server's database and
    log are beside the board folder; quitting stops the server too."""
    with piped_sim(tmp_path / "board") as (proc, wait_line):
        started = wait_line(r"central server", 60)  # after the build and the board's calibration: slow beside hogs
        url = re.search(r"central server http://127\.0\.0\.1:(\d+) with the demo site", started)
        assert "tap 04A1B2C3 (Alice" in wait_line(r"^badges: ")
        wait_line(r"app: ready in", 20)
        wait_line(r"rfid: reader ready", 10)
        wait_line(r"clock: time from ntp", 15)
        for uid, said in (("DEADBEEF", r" \(Mallory\): refused by the server: no rule"),
                          ("0A0B0C0D", r": refused by the server: unknown badge"),
                          ("04D5E6F7A1B2C3", r" \(Bob\): outlet 1,2,3 on for 1800 s \(server\)")):
            proc.stdin.write("tap %s\n" % uid)
            wait_line(r"badge \w+" + said, 10)
            proc.stdin.write("untap\n")
            wait_line(r"taken off the reader")
        wait_line(r"outlet 3 on \(badge\)")  # one after the other (stagger_ms)
        proc.stdin.write("status\n")
        wait_line(r"3 Heater: on \(badge\)")
        proc.stdin.write("jump +3h\n")  # the server follows the world's clock, and the board syncs with it
        wait_line(r"the board asked to sync")
        wait_line(r"clock: set \+1080\d s", 15)  # NTP, on the world's time
        proc.stdin.write("tap 04A1B2C3\n")
        assert "clock skew" not in wait_line(r"badge \w+ \(Alice\): ", 10)
        assert (tmp_path / "board-server.db").exists() and (tmp_path / "board-server.log").exists()
        proc.stdin.write("quit\n")
        assert proc.wait(timeout=15) == 0
        with pytest.raises(OSError):  # the server went with the console
            socket.create_connection(("127.0.0.1", int(url.group(1))), timeout=1).close()


def _screen_text(screen):
    return "\n".join(line.rstrip() for line in screen.display)


@pytest.mark.parametrize("leave", [b"quit\r", b"\x03"], ids=["quit", "ctrl-c"])
def test_the_console_in_a_terminal(tmp_path, leave):
    """A person runs `multiprise sim` in a 100x30 terminal, types `on 2`, sees it, then quits (or Ctrl-C)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    typed = termios.tcgetattr(slave)

    def terminal_of_its_own():  # the pty becomes the controlling terminal: Ctrl-C is a SIGINT
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as in a person's shell, even when pytest runs in the background

    # pyte emulates the Linux console; it lacks xterm's scroll-up (CSI S) that ncurses would use
    env = dict(os.environ, TERM="linux", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    proc = sim(tmp_path / "board", "--no-server", stdin=slave, stdout=slave, stderr=slave, env=env,
               preexec_fn=terminal_of_its_own)
    screen = pyte.Screen(100, 30)
    stream = pyte.ByteStream(screen)
    lock = threading.Lock()

    def pump():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            with lock:
                stream.feed(data)

    threading.Thread(target=pump, daemon=True).start()

    def wait_screen(pattern, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with lock:
                now = _screen_text(screen)
            if re.search(pattern, now):
                return now
            time.sleep(0.05)
        raise AssertionError("screen never showed %r; it shows:\n%s" % (pattern, now))

    try:
        wait_screen(r"app: ready in \d+ ms")
        before = wait_screen(r"5 Router\s+ON")
        assert re.search(r"2 Desk\s+off", before) and before.rstrip().endswith("sim>")
        port = int(re.search(r"mpremote connect socket://127\.0\.0\.1:(\d+)", before).group(1))
        os.write(master, b"on 2\r")
        wait_screen(r"2 Desk\s+ON")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as serial_client:  # what mpremote does
            serial_client.sendall(b"on 3\r")
            wait_screen(r"3 Heater\s+ON")
        print(wait_screen(r"outlet 2 on \(serial\)"))
        assert termios.tcgetattr(slave)[3] & termios.ECHO == 0  # curses has the terminal
        os.write(master, leave)
        assert proc.wait(timeout=5) == 0
        cooked = termios.ECHO | termios.ICANON
        assert termios.tcgetattr(slave)[3] & cooked == typed[3] & cooked  # the terminal is given back as it was
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(slave)
        os.close(master)
