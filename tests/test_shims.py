"""The ESP8266 API the virtual board offers the firmware (machine, network, time), checked on the device
against the bench, and every board file compiled as it will be deployed."""
import json
import socket
import subprocess

from conftest import ROOT

from tools.build import mpy_cross


def test_every_board_file_compiles_with_mpy_cross(tmp_path):
    files = [ROOT / "boot.py", ROOT / "main.py"] + sorted((ROOT / "firmware").rglob("*.py"))
    assert len(files) > 10
    for f in files:
        r = subprocess.run([mpy_cross(), "-o", str(tmp_path / "x.mpy"), str(f)], capture_output=True, text=True)
        assert r.returncode == 0, (f, r.stderr)


def test_machine_network_and_time_behave_like_the_esp8266(vboard):
    b = vboard(None)  # no configuration: the app stays out of the way, the REPL is free
    b.serial.expect(r">>> $", 10, since=0)
    b.adc = 512
    out = json.loads(b.exec("""
import json, machine, network, time
p = machine.Pin(12, machine.Pin.OUT, value=1)
s = machine.Signal(machine.Pin(13, machine.Pin.OUT), invert=True)
s.on()
r = {"pin": p.value(), "same_pin": machine.Pin(12) is p, "signal_pin": machine.Pin(13).value()}
i2c = machine.SoftI2C(scl=machine.Pin(5), sda=machine.Pin(4))
r["scan"] = i2c.scan()
try:
    i2c.writeto(0x50, b"x")
except OSError as e:
    r["nack"] = e.args[0]
buf = bytearray(1)
i2c.readfrom_mem_into(0x68, 0x0E, buf)
r["ds3231_control"] = buf[0]
spi = machine.SPI(1, baudrate=1000000)
r["spi"] = list(spi.read(2))
r["adc"] = machine.ADC(0).read()
rtc = machine.RTC()
rtc.datetime((2026, 3, 29, 6, 1, 59, 30, 0))
r["rtc"] = list(rtc.datetime()[:7])
r["time"] = list(time.localtime()[:6])
r["epoch"] = time.mktime((2000, 1, 1, 0, 0, 0, 5, 1))
rtc.memory(b"boot:3")
r["mem"] = rtc.memory().decode()
r["cause"] = machine.reset_cause()
r["uid"] = len(machine.unique_id())
r["freq"] = machine.freq()
sta = network.WLAN(network.STA_IF)
sta.active(True)
sta.connect("multiprise-lab", "lab-password")
t0 = time.ticks_ms()
while not sta.isconnected() and time.ticks_diff(time.ticks_ms(), t0) < 3000:
    time.sleep_ms(50)
r["wifi"] = [sta.isconnected(), sta.status(), sta.status("rssi"), sta.ifconfig()[0], sta.config("ssid"),
             len(sta.config("mac"))]
print(json.dumps(r))
""").strip().splitlines()[-1])
    assert out["pin"] == 1 and out["same_pin"] and b.level(12) == 1
    assert out["signal_pin"] == 0 and b.level(13) == 0  # inverted: on is low
    assert out["scan"] == [0x24, 0x68] and out["nack"] == 19  # the PN532, the RTC; ENODEV for a missing chip
    assert out["ds3231_control"] == 0x1C
    assert out["spi"] == [0xFF, 0xFF]  # nobody selected: MISO floats high
    assert out["adc"] == 512
    assert out["rtc"][:3] == [2026, 3, 29] and out["rtc"][4:6] == [1, 59]
    assert out["time"][:5] == [2026, 3, 29, 1, 59]
    assert out["epoch"] == 0  # the ESP8266's epoch is 2000-01-01
    assert out["mem"] == "boot:3"
    assert out["cause"] == 0 and out["uid"] == 4 and out["freq"] == 80000000
    assert out["wifi"] == [True, 5, -58, "127.0.0.1", "multiprise-lab", 6]


def test_rtc_memory_survives_a_reset_but_not_a_power_cut(vboard):
    b = vboard(None, start=False)
    for f in ("boot.py", "main.py"):  # stock MicroPython: nothing else writes RTC memory
        (b.board_dir / f).unlink()
    b.start()
    b.serial.expect(r">>> $", 10, since=0)
    b.exec("import machine\nmachine.RTC().memory(b'kept')")
    m = b.serial.mark()
    b.reset()
    b.serial.expect(r">>> $", 10, since=m)
    assert b.exec("import machine\nprint(machine.RTC().memory(), machine.reset_cause())").split() == ["b'kept'", "4"]
    m = b.serial.mark()
    b.power_cycle()
    b.serial.expect(r">>> $", 10, since=m)
    assert b.exec("import machine\nprint(machine.RTC().memory(), machine.reset_cause())").split() == ["b''", "0"]


def test_os_is_the_esp8266s(vboard):
    """A driver written for the ESP8266 may ask which board it runs on (from os import uname)."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    out = b.exec("from os import uname\nu = uname()\nprint(u.sysname, u[0] == u.sysname, u.machine)")
    assert out.strip() == "esp8266 True ESP module with ESP8266"


def test_spi_is_built_as_on_the_esp8266(vboard):
    """ports/esp8266/machine_spi.c and extmod/modmachine.h: SPI(1) takes baudrate, polarity and phase only; SPI with no
    id (or -1) is the old way to a SoftSPI, with a warning; SoftSPI wants its three pins; SPI(0) is the flash's."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    out = b.exec("""
from machine import SPI, SoftSPI, Pin
r = []
for make in (lambda: SPI(1, sck=Pin(14)), lambda: SPI(0), lambda: SoftSPI(baudrate=100000),
             lambda: SPI(baudrate=100000)):
    try:
        make()
        r.append("made")
    except (TypeError, ValueError) as e:
        r.append("%s: %s" % (type(e).__name__, e))
SPI(baudrate=100000, sck=Pin(14), mosi=Pin(13), miso=Pin(12)).read(1)
SPI(1, baudrate=1000000, polarity=0, phase=0).read(1)
print(r)
""")
    assert out.count("Warning: SPI(-1, ...) is deprecated, use SoftSPI(...) instead") == 2
    assert ("['TypeError: extra keyword arguments given', 'ValueError: ', 'ValueError: must specify all of "
            "sck/mosi/miso', 'ValueError: must specify all of sck/mosi/miso']") in out


def test_hardware_objects_print_and_refuse_as_on_the_esp8266(vboard):
    """What a user sees typing an object at the REPL, and the errors a driver written elsewhere meets: the port's
    print functions (machine_pin.c, machine_spi.c, machine_adc.c, extmod/machine_i2c.c, machine_spi.c) and
    py/argcheck.c's messages. The rates shown are the ones the chip gives, not the ones asked for (the HSPI divides
    40 MHz by whole numbers, so 3 MHz asked gives 3.08 MHz)."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    out = b.exec("""
import machine, network
from machine import Pin
print(repr(Pin(5)))
print(machine.I2C is machine.SoftI2C, machine.SoftI2C(Pin(5), Pin(4)), machine.I2C(scl=5, sda=4, freq=100000))
print(machine.SPI(1, baudrate=1000000, phase=1), machine.SPI(1, 3000000), machine.SPI(1))
print(machine.SoftSPI(baudrate=300000, polarity=1, sck=Pin(14), mosi=Pin(13), miso=Pin(12)))
print(machine.ADC(0), machine.RTC(), network.WLAN(network.STA_IF), machine.Signal(Pin(4)))
for make in (lambda: machine.I2C(-1, scl=Pin(5), sda=Pin(4)), lambda: machine.SoftI2C(scl=Pin(5)),
             lambda: machine.SoftI2C(Pin(5), Pin(4), 100000), lambda: machine.SoftI2C(scl=Pin(7), sda=Pin(4)),
             lambda: machine.SPI(1, 50000000), lambda: machine.SoftSPI(1000, 1, sck=Pin(14))):
    try:
        make()
        print("made")
    except (TypeError, ValueError) as e:
        print("%s: %s" % (type(e).__name__, e))
""")
    assert out.splitlines()[:5] == [
        "Pin(5)",
        "True SoftI2C(scl=5, sda=4, freq=500000) SoftI2C(scl=5, sda=4, freq=100000)",
        ("HSPI(id=1, baudrate=1000000, polarity=0, phase=1) HSPI(id=1, baudrate=3076923, polarity=0, phase=0)"
         " HSPI(id=1, baudrate=80000000, polarity=0, phase=0)"),
        "SoftSPI(baudrate=250000, polarity=1, phase=0, firstbit=0, sck=14, mosi=13, miso=12)",
        "ADC(0) <RTC> <WLAN> <Signal>",
    ], out
    assert out.splitlines()[5:11] == [
        "TypeError: extra keyword arguments given", "TypeError: 'sda' argument required",
        "TypeError: extra positional arguments given", "ValueError: invalid pin", "ValueError: impossible baudrate",
        "TypeError: extra positional arguments given"], out


def test_wlan_config_reads_what_the_esp8266_port_gives(vboard):
    """ports/esp8266/network_wlan.c, esp_config: the radio's channel, the PHY mode and the sleep type on any interface;
    the access point's own settings only on it (OSError "AP required" on the station); one parameter at a time."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    out = b.exec("""
import network
sta, ap = network.WLAN(network.STA_IF), network.WLAN(network.AP_IF)
r = [sta.config("channel"), sta.config("protocol") == network.MODE_11N, sta.config("pm"), ap.config("hidden"),
     ap.config("authmode") == network.AUTH_OPEN]
for call in (lambda: sta.config("hidden"), lambda: sta.config("channel", "mac"), lambda: sta.config("colour")):
    try:
        call()
    except Exception as e:
        r.append("%s: %s" % (type(e).__name__, e))
print(r)
""")
    assert out.strip().splitlines()[-1] == (
        "[6, True, 2, False, True, 'OSError: AP required', 'TypeError: can query only one param', "
        "'ValueError: unknown config param']")


def test_the_host_name_is_the_chips_until_a_reset_and_the_access_point_hears_it_at_connect(vboard):
    """extmod/modnetwork.c and network_wlan.c: `network.hostname()` and `network.country()` (the deprecated
    `config("hostname")` and `config(dhcp_hostname=...)` too, on the station only) are kept in the chip's RAM: a soft
    reboot keeps them, a reset gives back "mpy-esp8266" and "XX"; the station gives the host name to the access
    point's DHCP at each connect()."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    out = b.exec("""
import network
sta, ap = network.WLAN(network.STA_IF), network.WLAN(network.AP_IF)
r = [network.hostname(), sta.config("hostname")]
sta.config(dhcp_hostname="desk-strip")
network.country("FR")
r.append(network.hostname())
for call in (lambda: ap.config("hostname"), lambda: network.hostname("x" * 33)):
    try:
        call()
    except Exception as e:
        r.append("%s: %s" % (type(e).__name__, e))
sta.active(True)
sta.connect("multiprise-lab", "")
print(r)
""")
    assert out.strip().splitlines()[-1] == (
        "['mpy-esp8266', 'mpy-esp8266', 'desk-strip', 'OSError: STA required', 'ValueError: ']")
    assert b.dhcp_name == "desk-strip"
    b.friendly()
    m = b.serial.mark()
    b.serial.write(b"\x04")  # a soft reboot
    b.serial.expect(r">>> $", 10, since=m)
    assert "desk-strip FR" in b.exec("import network; print(network.hostname(), network.country())")
    b.reset()
    b.serial.expect(r">>> $", 10, since=b.serial.mark())
    assert "mpy-esp8266 XX" in b.exec("import network; print(network.hostname(), network.country())")


def test_the_flash_answers_stat_and_ilistdir_as_littlefs(vboard):
    """extmod/vfs_lfsx.c: `os.stat` gives no inode, device, links or owner, a folder's size as 0 and the file's time
    counted from 2000; `os.ilistdir` gives (name, type, 0, size). The ROMFS partition answers as its own."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    (b.board_dir / "notes.txt").write_text("x" * 5000)
    (b.board_dir / "sub").mkdir()
    out = b.exec("""
import os
print(os.stat('notes.txt')[:7], os.stat('sub')[:7], sorted(e for e in os.ilistdir() if e[0] in ('notes.txt', 'sub')))
print(os.stat('notes.txt')[8])
""")
    first, when = out.strip().splitlines()[-2:]
    assert first == ("(32768, 0, 0, 0, 0, 0, 5000) (16384, 0, 0, 0, 0, 0, 0) "
                     "[('notes.txt', 32768, 0, 5000), ('sub', 16384, 0, 0)]")
    assert abs(int(when) - ((b.board_dir / "notes.txt").stat().st_mtime - 946684800)) < 2


def test_a_line_that_is_no_request_is_answered_and_the_wire_serves_on(vboard, capsys):
    """The wire (tools/vboard/bench.py, _wire_serve) answers every line: one it cannot read or parse gets a ValueError
    answer ("!"), and the next request is served. Such a line is no device's but a client's come to the wrong port:
    a test's MQTT client whose broker has stopped, its port since taken by a bench's wire, sends its CONNECT there
    (0xc2: user, password, clean session, not UTF-8)."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    connect = b"\x10\x32\x00\x04MQTT\x04\xc2\x00\x1e\x00\x0ewatcher-home-1\x00\x04home\x00\x10home-assistant-7"
    with socket.create_connection(("127.0.0.1", b.wire_port), timeout=10) as s:
        f = s.makefile("rb")
        codec = b"'utf-8' codec can't decode byte "
        for line, answer in ((connect, codec + b"0xc2 in position 9: invalid continuation byte"),
                             (b"\xff 7 t", codec + b"0xff in position 0: invalid start byte"),
                             (b"8", b"''"), (b"9 12345 on", b"'12345 on'"), (b"10 new", b"'new'")):
            s.sendall(line + b"\n")
            assert f.readline() == line.partition(b" ")[0] + b" !not a wire request: " + answer + b"\n"
        s.sendall(b"11 t\n")
        seq, t = f.readline().split()
        assert seq == b"11" and abs(int(t) - b.esp_time()) < 5
    assert "Pin(12)" in b.exec("import machine\nprint(repr(machine.Pin(12)))")  # the board's own wire serves on
    assert "vboard: wire request" not in capsys.readouterr().err  # no bench bug


def test_strings_with_surrogates_cross_the_wire_as_on_the_board(vboard):
    """A MicroPython string may hold surrogates (chr(0xdc80)), which it keeps as their 3 bytes, not UTF-8 to CPython:
    the wire carries them both ways, in a value as in a method's or a keyword's name, and the board answers as the
    ESP8266 does (AttributeError, TypeError; network.hostname keeps any string of 32 bytes at most)."""
    b = vboard(None)
    b.serial.expect(r">>> $", 10, since=0)
    out = b.exec("""
import machine, network
p = machine.Pin(12, machine.Pin.OUT, value=0)
r = []
for call in (lambda: getattr(p, chr(0xdc80))(), lambda: p.value(**{chr(0xdc80): 1}), lambda: p.on(0)):
    try:
        call()
    except Exception as e:
        r.append(type(e).__name__ + " " + str(chr(0xdc80) in e.args[0]))
network.hostname("desk-" + chr(0xdc80) * 9)
r.append(network.hostname() == "desk-" + chr(0xdc80) * 9)
try:
    network.hostname("desk-" + chr(0xdc80) * 10)
except ValueError:
    r.append("ValueError")
p.on()
print(r)
""")
    assert out.strip().splitlines()[-1] == (
        "['AttributeError True', 'TypeError True', 'TypeError False', True, 'ValueError']"), out
    assert b.level(12) == 1  # the wire serves on


def test_pin_interrupts_call_the_handler_for_each_edge_of_its_trigger(vboard):
    """A pin the bench drives (the HLW8012's CF and CF1 on the custom wiring) calls its handler with the pin for
    each edge its trigger names, at the next call the firmware makes into the bench, in order; time.ticks_us() in
    the handler is the edge's instant. As on the ESP8266: no hard IRQ, none on GPIO16, irq(None) stops them."""
    b = vboard(None, wiring="custom", meter="hlw8012")
    b.serial.expect(r">>> $", 10, since=0)
    b.mains.set_load(2, 2000)
    b.mains.switch(2, True)
    b.pulses.history = seen = []
    out = json.loads(b.exec("""
import json, machine, time
cf, cf1 = machine.Pin(12, machine.Pin.IN), machine.Pin(13, machine.Pin.IN)
ts, n, who = [], [0, 0], []
def on_cf(p):
    ts.append(time.ticks_us())
    if not who:
        who.append(p is cf)
def on_cf1(p):
    n[0] += 1
r = {"irq": repr(type(cf.irq(on_cf, machine.Pin.IRQ_RISING)))}
cf1.irq(handler=on_cf1, trigger=machine.Pin.IRQ_FALLING)
r["trigger"] = cf1.irq().trigger()
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 1000:
    machine.idle()
cf.irq(None)
cf1.irq(on_cf1, machine.Pin.IRQ_RISING | machine.Pin.IRQ_FALLING)
k = n[0]
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < 500:
    machine.idle()
cf1.irq(None)
machine.idle()
r.update(ts=ts, falling=k, both=n[0] - k, quiet=len(ts), who=who)
for args in ((machine.Pin(16), (on_cf,)), (cf, (on_cf, 1, True))):
    try:
        args[0].irq(*args[1])
    except Exception as e:
        r[repr(args[0])] = repr(e)
print(json.dumps(r))
""").strip().splitlines()[-1])
    assert out["irq"] == "<class 'IRQ'>" and out["trigger"] == 2 and out["who"] == [True]
    ts = out["ts"]
    assert 150 <= len(ts) <= 250 and out["quiet"] == len(ts)  # 193 Hz at 2000 W; none after irq(None)
    rising = [int(t * 1e6) for t, gpio, level in seen if gpio == 12 and level]
    k = rising.index(ts[0])
    assert ts == rising[k:k + len(ts)]  # every edge, in order, each at its instant
    assert 400 <= out["falling"] <= 700 and 2 * 250 <= out["both"] <= 2 * 350  # 563 Hz: CF1 gives the voltage
    assert out["Pin(16)"] == "OSError('pin does not have IRQ capabilities',)"
    assert out["Pin(12)"] == "ValueError('hard IRQ not supported',)"
