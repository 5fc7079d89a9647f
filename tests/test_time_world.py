"""The virtual board's time world: the bench's NTP server, the `ntptime` the firmware finds on the board, the
RTC chip kept between runs like its battery keeps it, and the ESP8266's own RTC (drift, 7 h 45 min wrap)."""
import contextlib
import socket
import time

import pytest
from conftest import LAB

from tools.vboard import ntp
from tools.vboard.bench import EPOCH2000, Bench
from tools.vboard.chips import Clock
from tools.vboard.hw import EspClock

START = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
TURN = 7 * 3600 + 45 * 60


class Tick:
    """A time source the test steps by hand."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


# The server, seen by a CPython client

def query(server, first=0x23, sent=b"\x12\x34\x56\x78\x9a\xbc\xde\xf0", timeout=2.0):
    """One SNTP exchange with `server`; returns the reply (None when no answer came)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(bytes([first]) + bytes(39) + sent, ("127.0.0.1", server.port))
        try:
            return s.recv(512)
        except TimeoutError:
            return None


@pytest.fixture
def server():
    s = ntp.Server(Clock(START))
    yield s
    s.close()


def test_the_server_answers_a_standard_sntp_reply_with_the_world_time(server):
    reply = query(server)
    assert len(reply) == 48
    first, stratum, poll, precision, delay, dispersion, refid, reference, origin, received, sent = \
        ntp.PACKET.unpack(reply)
    assert (first >> 6, first >> 3 & 7, first & 7) == (0, 4, 4)  # no leap warning, version 4, server
    assert stratum == 1 and refid == b"GPS\0" and precision < 0
    assert origin == b"\x12\x34\x56\x78\x9a\xbc\xde\xf0"  # our transmit time comes back: the reply is ours
    assert abs(ntp.unix_time(sent) - START) < 1 and abs(ntp.unix_time(received) - START) < 1
    assert ntp.unix_time(reference) <= ntp.unix_time(sent)
    assert query(server, first=0x1B)[0] == 0x1C  # a version 3 client gets a version 3 reply
    assert server.requests == 2


def test_offset_modes_and_reachability_of_the_server(server):
    server.offset = -3600
    assert abs(ntp.unix_time(query(server)[40:48]) - (START - 3600)) < 1
    server.mode = "kod"
    first, stratum, *_, refid, _, origin, received, sent = ntp.PACKET.unpack(query(server))
    assert first >> 6 == 3 and stratum == 0 and refid == b"RATE"
    assert origin == received == sent == b"\x12\x34\x56\x78\x9a\xbc\xde\xf0"  # no time of the server's in a kiss
    server.mode = "garbage"
    assert len(query(server)) < 48
    server.mode = "off"
    assert query(server, timeout=0.3) is None
    assert server.requests == 4
    server.mode = "on"
    assert query(server, first=0x24, timeout=0.3) is None  # another server's packet (mode 4) is no request
    server.reachable = lambda: False  # the board's Wi-Fi is down: nothing reaches the server
    assert query(server, timeout=0.3) is None
    assert server.requests == 5
    with pytest.raises(ValueError):
        server.mode = "silent"


def test_ntp_timestamps_wrap_in_2036_like_the_real_ones():
    assert ntp.timestamp(2085978496) == bytes(8)  # 2036-02-07 06:28:16 UTC: era 1 starts at 0
    assert ntp.timestamp(2085978495.5) == b"\xff\xff\xff\xff\x80\x00\x00\x00"


# ntptime on the board (the real MicroPython), against the bench's server

JOIN = """
import network, time, ntptime
sta = network.WLAN(network.STA_IF)
sta.active(True)
sta.connect(%r, %r)
while not sta.isconnected():
    time.sleep_ms(20)
""" % (LAB["ssid"], LAB["password"])


def ntp_time(b, setup=""):
    """ntptime.time() on the board, or the exception it raised (its repr), and how long it took (ms)."""
    out = b.exec(setup + """
t0 = time.ticks_ms()
try:
    r = ntptime.time()
except Exception as e:
    r = repr(e)
print(repr(r), time.ticks_diff(time.ticks_ms(), t0), sep="|")
""").strip().splitlines()[-1]
    r, _, ms = out.rpartition("|")
    return eval(r), int(ms)


def test_ntptime_on_the_board_gets_the_bench_servers_time(vboard):
    b = vboard(None)  # no configuration: the REPL is free
    b.serial.expect(r">>> $", 10, since=0)
    r, _ = ntp_time(b, "import time, ntptime\nprint(ntptime.host, ntptime.timeout)\n")
    assert r == "OSError(-2,)" and b.ntp.requests == 0  # no Wi-Fi: the name is not resolved, as on an ESP8266
    before = b.clock.now() - EPOCH2000
    r, _ = ntp_time(b, JOIN)
    assert before - 1 <= r <= b.clock.now() - EPOCH2000 and b.ntp.requests == 1
    b.ntp.offset = 86400 * 365
    before = b.clock.now() - EPOCH2000
    out = b.exec("ntptime.settime()\nprint(time.time())")
    assert before + 86400 * 365 - 1 <= int(out) <= b.clock.now() - EPOCH2000 + 86400 * 365 + 1
    assert abs(b.esp_time() - (b.clock.now() - EPOCH2000 + 86400 * 365)) < 2  # settime set the ESP8266's RTC
    b.unknown_hosts.add("ntp.invalid")
    assert ntp_time(b, "ntptime.host = 'ntp.invalid'\n")[0] == "OSError(-2,)"
    assert ntp_time(b, "ntptime.host = 'fr.pool.ntp.org'\n")[0] > 0  # any other name is the bench's server
    b.set_wifi(False)
    assert ntp_time(b)[0] == "OSError(-2,)"
    assert b.ntp.requests == 3


def test_a_silent_or_broken_server_is_an_error_on_the_board_not_a_time(vboard):
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    b.exec(JOIN)
    b.ntp.mode = "off"
    r, ms = ntp_time(b)
    assert r == "OSError(110,)" and 900 <= ms <= 2000  # ETIMEDOUT after ntptime.timeout (1 s), as on an ESP8266
    r, ms = ntp_time(b, "ntptime.timeout = 0.3\n")
    assert r == "OSError(110,)" and ms < 900
    b.ntp.mode = "garbage"
    assert ntp_time(b)[0].startswith("ValueError(")
    # A kiss-of-death carries no time: the stock ntptime reads its zero transmit time as 2036-02-07 06:28:16.
    b.ntp.mode = "kod"
    assert ntp_time(b)[0] == 2085978496 - EPOCH2000
    assert b.ntp.requests == 4


def test_ntptime_crosses_2036_like_the_stock_module(vboard):
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    b.clock.set(2100000000.0)  # 2036-07-18: NTP's 32-bit seconds have wrapped
    r, _ = ntp_time(b, JOIN)
    assert abs(r - (2100000000 - EPOCH2000)) <= 2


# The RTC chip: kept between runs, out of the firmware's sight

def test_the_chip_keeps_its_time_and_registers_between_two_runs(vboard):
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    b.rtc.set(START)
    b.rtc.write(bytes([0x03, 3]))  # the weekday register counts whatever the driver wrote (a Friday, here)
    b.rtc.write(bytes([0x0E, 0x04]))  # control register
    world = b.clock.now()
    b.stop()
    assert b.rtc_file.exists() and b.board_dir not in b.rtc_file.parents
    time.sleep(1.2)  # the board is unplugged; the chip runs on its battery
    again = Bench(b.board_dir)
    try:
        again.start()
        again.serial.expect(r">>> $", 10, since=0)
        out = again.exec("""
import os, machine
i2c = machine.SoftI2C(scl=machine.Pin(5), sda=machine.Pin(4))
print("|".join(os.listdir('/')))
print(i2c.readfrom_mem(0x68, 0, 19).hex())
""").split()
        assert not any("rtc" in name for name in out[0].split("|"))  # the firmware cannot see the chip's file
        regs = bytes.fromhex(out[1])
        elapsed = again.clock.now() - world
        assert abs(again.rtc.unix() - (START + elapsed)) <= 1
        assert regs[3] == 3 and regs[0x0E] == 0x04 and regs[0x0F] & 0x80 == 0  # weekday, control; OSF still clear
    finally:
        again.stop()
    with bench_only(b.board_dir, fresh_rtc=True) as fresh:
        assert fresh.rtc.time().year == 2000  # asked for: a chip as new


@contextlib.contextmanager
def bench_only(board_dir, **kw):
    """A bench on `board_dir` whose board is not started (the chips are the bench's alone)."""
    b = Bench(board_dir, **kw)
    try:
        yield b
    finally:
        b.stop()


def test_chip_state_is_saved_at_a_power_cut_and_a_flat_battery_loses_it(tmp_path):
    d = tmp_path / "flash"
    d.mkdir()
    with bench_only(d, rtc="ds1307") as b:
        assert b.rtc.time().year == 2000 and b.rtc.read(1)[0] & 0x80  # no saved chip: fresh, CH set
        b.rtc.set(START)
        b.rtc.write(bytes([0x08]) + bytes(range(56)))  # the DS1307's RAM
        b.power_cut()
        with bench_only(d, rtc="ds1307") as saved:  # the bench process died after the cut: the next run
            assert abs(saved.rtc.unix() - START) <= 1
            saved.rtc.write(bytes([0x08]))
            assert saved.rtc.read(56) == bytes(range(56))
    with bench_only(d, rtc="ds1307") as b:
        b.rtc.lose()  # the battery ran flat while the board was off
        b.rtc.write(bytes([0]))
        assert b.rtc.read(1)[0] & 0x80 and b.rtc.time().year == 2000
        b.rtc.set(START)
        b.rtc.battery = False
    assert not b.rtc_file.exists()  # unplugged without a battery: nothing kept
    with bench_only(d, rtc="ds1307") as b:
        assert b.rtc.time().year == 2000
        b.rtc.set(START)
    with bench_only(d, rtc="ds3231") as b:
        assert b.rtc.read(0x10)[0x0F] & 0x80  # another chip model on the board: a fresh one, OSF set


# The ESP8266's own RTC: drift and the 7 h 45 min wrap

def esp_clock():
    tick = Tick()
    return EspClock(Clock(START, source=tick)), tick


def test_the_esp_rtc_starts_at_2000_and_drifts_as_set():
    esp, tick = esp_clock()
    assert esp.read() == 0
    esp.set(1000.0)
    esp.set_ppm(20000)  # 2 % fast
    tick.t += 3600
    assert esp.read() == pytest.approx(1000 + 3672)
    esp.set_ppm(-50000)
    tick.t += 100
    assert esp.read() == pytest.approx(1000 + 3672 + 95)


def test_the_esp_rtc_read_within_7_hours_keeps_time_across_wraps():
    esp, tick = esp_clock()
    esp.set(5000.0)
    for _ in range(20):
        tick.t += 7 * 3600
        esp.read()
    assert esp.read() == pytest.approx(5000 + 20 * 7 * 3600)


def test_the_esp_rtc_left_unread_for_more_than_7h45_loses_a_turn():
    esp, tick = esp_clock()
    esp.set(5000.0)
    tick.t += 8 * 3600
    assert esp.time() == pytest.approx(5000 + 8 * 3600 - TURN)  # what a read would say: 15 min later
    assert esp.read() == pytest.approx(5000 + 15 * 60)
    tick.t += 16 * 3600
    assert esp.read() == pytest.approx(5000 + 15 * 60 + 16 * 3600 - 2 * TURN)  # each missed turn is lost


def test_a_reset_between_a_read_and_a_wrap_loses_the_turn():
    esp, tick = esp_clock()
    tick.t += TURN - 10
    assert esp.read() == pytest.approx(TURN - 10)
    tick.t += 20  # the counter turns over, then the board resets before reading again
    esp.reset()
    assert esp.read() == pytest.approx(10)
    tick.t += 60
    esp.reset()  # a reset with no wrap since the last read changes nothing
    assert esp.read() == pytest.approx(70)


def test_the_esp_rtc_on_the_board_drifts_and_wraps(vboard):
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    b.esp_rtc_ppm = 20000
    b.exec("import time, machine\nmachine.RTC().datetime((2027, 1, 15, 4, 8, 0, 0, 0))")
    set_at = START - EPOCH2000
    b.clock.jump(3600)
    assert abs(int(b.exec("print(time.time())")) - (set_at + 3672)) <= 2
    b.clock.jump(8 * 3600)  # nobody reads the clock for 8 hours
    assert abs(int(b.exec("print(time.time())")) - (set_at + 3672 + 8 * 3600 * 1.02 - TURN)) <= 2
    m = b.serial.mark()
    b.power_cycle()
    b.serial.expect(r">>> $", 10, since=m)
    assert int(b.exec("import time\nprint(time.time())")) < 5  # lost with the power: 2000-01-01 again
