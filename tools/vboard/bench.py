"""The virtual NodeMCU's bench: the physical world around the real MicroPython process.

The device is the MicroPython unix port running boot.py and main.py from a board
folder (its flash) with thin `machine`/`network`/`time` shims; every pin, bus,
clock and radio operation comes here over a line protocol (the "wire").
"""

import fcntl
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import zlib
from pathlib import Path

from tools.build import BUILD, IMAGE, SHIMS, compile_file
from tools.ports import free_port

from . import heapmodel, hw, ntp, radio, rfid, webrepl
from .heapmodel import MICROPYTHON
from .ade7953 import ADE7953
from .hlw8012 import PulseChip
from .chips import DS1307, DS3231, PCF8574, Clock
from .mains import Mains

EPOCH2000 = 946684800
PWRON_RESET, WDT_RESET, EXCEPTION_RESET, SOFT_WDT_RESET, SOFT_RESET, HARD_RESET = (
    hw.PWRON_RESET, hw.WDT_RESET, hw.EXCEPTION_RESET, hw.SOFT_WDT_RESET, hw.SOFT_RESET, hw.HARD_RESET)
HOSTNAME = "mpy-esp8266"  # extmod/modnetwork.c with the ESP8266 port's MICROPY_PY_NETWORK_HOSTNAME_DEFAULT
SW_WDT_S = 3.2  # the SDK's software watchdog: a tick every 1.6 s, a reset at the second tick without a feed

# The two reference wirings of HARDWARE.md, as the bench builds them.
WIRINGS = {
    "seed": {"relays": [("gpio", p) for p in (16, 14, 12, 13, 0, 2)], "i2c": (5, 4), "reader": "pn532"},
    "expander": {"relays": [("pcf", 0x20, n) for n in range(6)], "i2c": (5, 4), "pcf": 0x20, "reader": "mfrc522",
                 "spi": (15, 16)},  # the MFRC522's CS and RST (NRSTPD)
    # a third (config.json's profile custom): relays behind the expander, a PN532 on I2C; GPIO 12, 13, 14 free for a
    # pulse-output metering chip's CF, CF1 and SEL
    "custom": {"relays": [("pcf", 0x20, n) for n in range(6)], "i2c": (5, 4), "pcf": 0x20, "reader": "pn532",
               "pulses": (12, 13, 14)},
}
IRQ_RISING, IRQ_FALLING = 1, 2  # machine.Pin's triggers (ports/esp8266/machine_pin.c)
EDGES_AT_ONCE = 64  # the most edges one "e" request carries (shims/_wire.py's buffer)

ROOT = Path(__file__).resolve().parents[2]
ROMFS_HEADER = b"\xd2\xcd\x31"  # how a ROMFS image starts
FS_BLOCK = 4096
FS_BLOCKS = 763  # a 4 MB NodeMCU's LittleFS: from 1 MB (the firmware, and the ROMFS partition of a FLASH_2M_ROMFS
# build) to the 20 KB the SDK keeps at the end of the flash (ports/esp8266/modules/flashbdev.py)
_shim_cost = {}


def heap_bytes(heap, meter=False):
    """Bytes of a heap given as None (the reference board's: heapmodel.reference_heap, with a metering chip when
    meter), or as 65536 or "64k" for the 64-bit board (heapmodel.scaled: the same board on a 32-bit interpreter)."""
    if heap is None:
        return heapmodel.reference_heap(meter=meter)
    heap = str(heap).lower()
    return heapmodel.scaled(int(heap[:-1]) * 1024 if heap.endswith("k") else int(heap))


# Names (qstrs). A board keeps its built-in and frozen names in ROM; the firmware's own names fill pools that start
# small and double, and heapmodel charges what the ESP8266's pools for them take. Here the shims' names come first
# and fill the small pools, and the firmware's names would land in larger pools allocated in one block at moments
# that depend on the shims. So the runner grows the pools before the firmware starts, up to a fresh pool of 640
# entries (the firmware's names go there: the unix port has most of them in ROM), and the calibration takes what
# that costs with the shims'.
NAMES_ROOM = 620  # names that fill the pools up to 320 entries: the next one starts the pool of 640


def free_at_start(heap):
    """gc.mem_free() of a bare interpreter with this heap: what the firmware would have with no shims."""
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=%d" % heap, "-c", "import gc;gc.collect();print(gc.mem_free())"],
                       capture_output=True, text=True, check=True)
    return int(r.stdout)


def boot_free(heap):
    """The free heap boot.py starts with on a board with this heap: a bare interpreter's, less what a board keeps
    before boot.py (heapmodel.board_charge, for the firmware's names)."""
    block = heapmodel.word_bits() // 2  # the GC's block: 4 words
    return (free_at_start(heap) - heapmodel.board_charge(len(firmware_names()))) // block * block


# Modules of which a board loads one at most, its wiring's: the RTC chip's driver, the RFID reader's, the metering
# chip's.
ALTERNATIVES = (("firmware.drivers.ds1307", "firmware.drivers.ds3231"),
                ("firmware.drivers.mfrc522", "firmware.drivers.pn532"),
                ("firmware.drivers.ade7953", "firmware.drivers.hlw8012"))
# The validator's modules: loaded only by valid.check, in a boot that then resets (soft, to apply a changed config.json,
# or hard, short of memory) or stays in the safe state, never beside the app; a soft reset starts the pools of names
# afresh (qstr_init in mp_init), so the running app never holds their names. test_heap checks the board has none.
BOOT_ONLY = ("firmware.config", "firmware.mqttconf", "firmware.webconf", "firmware.meterconf")
# The setup's module: loaded only on a board with no network to join (no MQTT, no server, nothing of the network's),
# which restarts once it has joined one: the app with a network never holds its names.
SETUP_ONLY = ("firmware.portal", "firmware.portalweb")


def firmware_names(every=False):
    """The most names one board interns from the built firmware on an ESP8266: those its .mpy files hold (boot.py
    and main.py compiled as the board does), and those an import makes of a module's place (py/builtinimport.c):
    `firmware.app` for `from firmware import app`, each name of the dotted path. The path a module is imported from
    is its source name (tools/build.py), so it is among the first. Of ALTERNATIVES, the one that adds the most
    (every: all of them, the names some board may hold); none of BOOT_ONLY nor SETUP_ONLY."""
    rom = heapmodel.rom_names()
    per = {}  # module (dotted) -> its names
    for f in IMAGE.rglob("*.mpy"):
        if f.parent == IMAGE / "frozen":
            continue
        parts = f.relative_to(IMAGE / ("lib" if IMAGE / "lib" in f.parents else "")).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        places = {".".join(parts[:i + 1]) for i in range(len(parts))} | set(parts)
        if ".".join(parts) not in BOOT_ONLY + SETUP_ONLY:
            per[".".join(parts)] = (heapmodel.firmware_names([f]) | places) - rom
    for name in ("boot.py", "main.py"):
        out = BUILD / "names" / (name[:-3] + ".mpy")
        compile_file(IMAGE / name, out, name)
        per[name] = heapmodel.firmware_names([out])
    names = set().union(*(n for m, n in per.items() if not any(m in group for group in ALTERNATIVES)))
    for group in ALTERNATIVES:
        names |= set().union(*(per.get(m, set()) for m in group)) if every else max(
            (per.get(m, set()) for m in group), key=lambda n: len(n - names))
    return names


class Serial:
    """The board's UART0 as the outside sees it: a byte log with expect(), and a TCP port (socket://)."""

    def __init__(self, write):
        self._write = write
        self.buf = bytearray()
        self.cond = threading.Condition()
        self.listeners = []
        self.client = None
        self.port = None
        self.quiet = False  # the bench talks to the raw REPL itself (webrepl.py): kept in the log, shown to no one

    def feed(self, data):
        with self.cond:
            self.buf += data
            self.cond.notify_all()
        if self.quiet:
            return
        for fn in list(self.listeners):
            try:
                fn(data)
            except Exception as e:  # a listener's failure (a client gone) must never stop the board's UART
                sys.stderr.write("vboard: serial listener failed: %r\n" % (e,))
        c = self.client
        if c:
            try:
                c.sendall(data)
            except OSError:
                pass

    def write(self, data):
        self._write(data.encode() if isinstance(data, str) else data)

    def mark(self):
        return len(self.buf)

    def text(self, since=0):
        return self.buf[since:].decode("utf-8", "replace")

    def expect(self, pattern, timeout=10.0, since=None):
        """Wait until `pattern` (a regex) appears in the output after `since`; return the match."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern, re.S)
        start = self.mark() if since is None else since
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search(self.buf, start)
                if m:
                    return m
                left = end - time.monotonic()
                if left <= 0:
                    tail = self.buf[max(start, len(self.buf) - 2000):].decode("utf-8", "replace")
                    raise TimeoutError("serial: %r not seen in %.1f s; output was:\n%s" % (pattern, timeout, tail))
                self.cond.wait(left)

    def serve(self, port=0):
        """Listen for one serial client at a time on 127.0.0.1:port (mpremote connect socket://...)."""
        srv = socket.create_server(("127.0.0.1", port))
        self.port = srv.getsockname()[1]
        self._srv = srv
        threading.Thread(target=self._accept, daemon=True).start()
        return self.port

    def _accept(self):
        while True:
            try:
                c, _ = self._srv.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            old, self.client = self.client, c
            if old:
                old.close()
            threading.Thread(target=self._pump, args=(c,), daemon=True).start()

    def _pump(self, c):
        while True:
            try:
                data = c.recv(4096)
            except OSError:
                data = b""
            if not data:
                if self.client is c:
                    self.client = None
                c.close()
                return
            self.write(data)

    def close(self):
        if getattr(self, "_srv", None):
            self._srv.close()
        if self.client:
            self.client.close()


class Bench:
    """One virtual NodeMCU and the world around it. Use as a context manager, or start()/stop()."""

    USABLE_GPIO = (0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16)

    def __init__(self, board_dir, wiring="seed", rtc="ds3231", heap=None, ssid="multiprise-lab",
                 password="lab-password", serial_port=0, webrepl_port=0, fresh_rtc=False, romfs=None,
                 reader="wiring", http_port=0, meter=None, flash="host"):
        self.board_dir = Path(board_dir)
        if flash not in ("host", "littlefs"):
            raise ValueError("flash: host or littlefs, not %r" % (flash,))
        self.flash = flash  # "host": the board folder is the board's /; "littlefs": an image of the flash (flash_file)
        self.cut_at_flash_write = None  # littlefs: a test's power cut, in the middle of this block program of a boot
        self.heap = heap
        self.romfs = romfs and heap_bytes(romfs)  # the ROMFS partition's size (a FLASH_2M_ROMFS build has 320k)
        if self.romfs:
            self._prepare_romfs()
        self.wiring_name = wiring
        w = WIRINGS[wiring]
        self.clock = Clock()
        self.lock = threading.RLock()
        self._last_intr = 0.0  # when a Ctrl-C was last passed on (_to_device)
        self.changed = threading.Condition(self.lock)
        # pins: gpio -> [mode (-1 reset/input, 0 in, 1 out, 2 open drain), out level, pull-up]
        self.pins = {}
        self.button = False
        self.adc = 0
        self.buses = {w["i2c"]: {}}
        self.rtc = None
        if rtc:
            self.rtc = (DS3231 if rtc == "ds3231" else DS1307)(self.clock)
            self.buses[w["i2c"]][self.rtc.addr] = self.rtc
            self._load_rtc(fresh_rtc)
        self.pcf = None
        if "pcf" in w:
            self.pcf = PCF8574(w["pcf"])
            self.buses[w["i2c"]][self.pcf.addr] = self.pcf
        self.relay_wires = w["relays"]
        self.mains = Mains(len(self.relay_wires))  # the loads the relays power, and the energy they really take
        self.irqs = {}  # gpio -> the triggers of the device's handler on it (Pin.irq)
        self.pulses = None  # a pulse-output metering chip (its CF, CF1 and SEL on pins: hlw8012.py)
        self.pin_watch = {}  # gpio -> [level, fn(level)]: a chip that follows a pin (an SPI chip's CS, its reset)
        self.meter = None  # the metering chip: meter "ade7953" (on the I2C bus), "hlw8012" or "bl0937", or None
        if meter == "ade7953":
            self.meter = ADE7953(self.mains.measure, pieces=self.mains.pieces)
            self.buses[w["i2c"]][self.meter.addr] = self.meter
        elif meter in ("hlw8012", "bl0937"):
            if "pulses" not in w:
                raise ValueError("a %s needs three free pins: wiring custom" % meter)
            self.meter = self.pulses = PulseChip(self.mains.pieces, meter, w["pulses"])
            self.pin_watch[w["pulses"][2]] = [None, self.pulses.select]
        elif meter is not None:
            raise ValueError("meter: ade7953, hlw8012, bl0937 or None, not %r" % (meter,))
        if self.meter:
            self.mains.listeners.append(self.meter.sync)
        self.relay_active_low = [True] * len(self.relay_wires)
        self.relay_state = [False] * len(self.relay_wires)
        self.relay_history = []  # (monotonic time, outlet index from 0, on)
        self.spi_devices = {}  # cs gpio -> device with transfer(bytes) -> bytes (its CS edges: pin_watch)
        self.faults = {}  # (peripheral class, method) -> exception the device gets instead of an answer
        self._wire_reader(w, w.get("reader") if reader == "wiring" else reader)
        # radio
        self.ap = {"ssid": ssid, "password": password, "up": True, "rssi": -58, "since": 0.0}
        self.join_s = 0.3  # how long the access point takes to let the station in (a test may hurry it)
        self.sta = {"active": False, "ssid": None, "key": None, "since": 0.0}
        self.ap_if_active = False
        self.ap_conf = {}  # the board's own access point's settings (essid, authmode, password...), as it set them
        self.networks = []  # other networks around, as a scan sees them: (ssid, rssi, authmode)
        self.dns_port = free_port()  # host port (127.0.0.1, UDP) for the board's 53 (shims/socket.py)
        self.hostname, self.country = HOSTNAME, "XX"  # network.hostname(), country(): in the chip's RAM, kept at a
        # soft reboot, not at a reset
        self.dhcp_name = None  # the host name the station gave the access point's DHCP when it last joined
        self.webrepl = None  # the WebREPL server, once the firmware started it
        self.webrepl_port = webrepl_port  # host port for the board's 8266 (0: any free port)
        self.http_port = http_port or free_port()  # host port (127.0.0.1) for the board's 80 (shims/socket.py)
        self.ntp = ntp.Server(self.clock, lambda: self.wifi_status() == 5)  # reached through the access point
        self.unknown_hosts = set()  # names the access point's DNS does not resolve (any other name is the bench)
        self.radio = radio.Radio(lambda: self.wifi_status() == 5)  # the board's TCP connections, while joined
        # ESP8266 state that survives a reset but not a power cut
        self.rtc_mem = b""
        self.esp_rtc = hw.EspClock(self.clock)
        self.reset_cause = PWRON_RESET
        self.wdt_on = False
        self.wdt_fed = 0.0
        self._in_call = None  # (wire connection, since when) of a hardware call the device waits on
        self.wdt_resets = 0
        self.crashes = 0  # fatal interpreter exits, each followed by an exception reset
        self.hangs = 0  # interpreters hung by the unix port's SIGINT handling, each replaced as by a soft reboot
        self.stall_until = 0.0
        self.rom_writes = 0  # writes into the ROMFS partition (vfs.rom_ioctl op 4) since the bench was made
        self.cut_at_rom_write = None  # a test's power cut, just after the write that makes rom_writes this
        self.uid = zlib.crc32(str(self.board_dir.resolve()).encode()).to_bytes(4, "big")
        # device process
        self.proc = None
        self.powered = False
        self._expect_exit = False
        self._raw = False
        self._want_raw = False
        self._tail = b""
        self._master, self._slave = pty.openpty()
        self._tty0 = termios.tcgetattr(self._slave)
        self.serial = Serial(self._to_device)
        self.serial_port = serial_port
        self._wire_srv = socket.create_server(("127.0.0.1", 0))
        self.wire_port = self._wire_srv.getsockname()[1]
        self._closed = False
        self.boots = 0
        threading.Thread(target=self._wire_accept, daemon=True).start()
        threading.Thread(target=self._read_serial, daemon=True).start()
        threading.Thread(target=self._watchdog, daemon=True).start()

    # ---- life cycle -------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if self.flash == "littlefs" and not self.flash_file.exists():
            self._prepare_flash()
        self.serial.serve(self.serial_port)
        self.power_on()
        return self

    def stop(self):
        with self.lock:  # not while a soft reboot is starting the next interpreter
            self._closed = True
            self._kill()
        self._save_rtc()
        self.serial.close()
        self._wire_srv.close()
        self.ntp.close()
        self.radio.close()
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def power_on(self):
        with self.lock:
            for dev in self._chips():
                dev.power(True)
            self.powered = True
            self.reset_cause = PWRON_RESET
            self.hostname, self.country = HOSTNAME, "XX"
            self.esp_rtc.power_on()  # the ESP8266's RTC starts at 2000-01-01
            self._glitch_boot_pins()
            self._spawn()

    def power_cut(self):
        """Pull the plug at this instant: the device dies mid-instruction; flash and battery-backed chips stay."""
        with self.lock:
            self._kill()
            self.powered = False
            self.rtc_mem = b""
            self.sta.update(active=False, ssid=None, key=None)
            self.ap_if_active = False
            for dev in self._chips():
                dev.power(False)
            self._save_rtc()
            self._reset_pins()

    def power_cycle(self, off_time=0.0):
        self.power_cut()
        if off_time:
            time.sleep(off_time)
        self.power_on()

    def reset(self, cause=SOFT_RESET):
        """A reset that keeps RTC memory and the ESP8266's RTC (reset button, machine.reset(), watchdog)."""
        with self.lock:
            self._kill()
            self._reset_pins()
            self.sta.update(active=False)
            self.esp_rtc.reset()
            self.reset_cause = cause
            self.hostname, self.country = HOSTNAME, "XX"
            self._glitch_boot_pins()
            self._spawn()

    def _chips(self):
        return [d for bus in self.buses.values() for d in bus.values()] + list(self.spi_devices.values())

    def _wire_reader(self, w, kind):
        """The RFID reader (reader: "pn532" or "mfrc522-i2c" on the I2C bus, "mfrc522" on SPI(1), None) and the
        field in front of it (field): tests and the sim place cards there (field.place, field.remove)."""
        self.field = rfid.Field(self.lock)
        self.reader_kind, self.reader = kind, None
        if kind in ("pn532", "mfrc522-i2c"):
            self.reader = rfid.PN532(self.field) if kind == "pn532" else rfid.MFRC522(self.field)
            self.buses[w["i2c"]][self.reader.addr] = self.reader
        elif kind == "mfrc522":
            cs, rst = w.get("spi", (15, 16))
            self.reader = chip = rfid.MFRC522(self.field)
            self.spi_devices[cs] = chip
            self.pin_watch[cs] = [None, lambda level: chip.select(level == 0)]
            if ("gpio", rst) not in self.relay_wires:  # else its NRSTPD is taken as tied high
                self.pin_watch[rst] = [None, chip.reset_pin]
            self._pins_moved()
        elif kind is not None:
            raise ValueError("reader: pn532, mfrc522, mfrc522-i2c or None, not %r" % (kind,))

    def _pins_moved(self):
        for pin, watch in self.pin_watch.items():
            level = self.level(pin)
            if level != watch[0]:
                watch[0] = level
                watch[1](level)

    def _reset_pins(self):
        self.pins.clear()
        self.irqs.clear()
        self.wdt_on = False  # a reset of the chip: the port's event loop feeds the watchdog again
        self._in_call = None
        self.stall_until = 0.0
        self.update_relays()

    def webrepl_start(self, port=8266, password=""):
        """The board's WebREPL server, on the same host port for the life of the bench (a board's is always on 8266);
        its port, for the board to say."""
        self.webrepl_stop()
        self.webrepl = webrepl.Server(self, password, self.webrepl_port)
        self.webrepl_port = self.webrepl.port
        return self.webrepl.port

    def webrepl_stop(self):
        if self.webrepl:
            self.webrepl.close()
            self.webrepl = None

    def _kill(self):
        self.webrepl_stop()  # the device's sockets die with it
        self.radio.drop()
        p = self.proc
        if p and p.poll() is None:
            self._expect_exit = True
            p.kill()
            p.wait()
        self.proc = None

    def device_heap(self):
        """The heap the device process gets: the cap asked for plus what the shims and the runner keep,
        measured once, so that boot.py starts with the free heap a board with that heap would give it (boot_free).
        A ROMFS partition's image and its mount at /rom count with the shims (the mount only when the partition
        holds a ROMFS). The GC's tables take their share of what is added and the heap grows by steps of
        128 bytes: the heap is searched for, then a ballast (VBOARD_BALLAST bytes) takes the free heap down
        to that figure exactly."""
        want = heap_bytes(self.heap, self.meter is not None)
        self.boot_free = target = boot_free(want)
        key = (want, target, self.romfs, self.romfs and self.romfs_file.read_bytes()[:3] == ROMFS_HEADER, self.flash)
        if key not in _shim_cost:
            heap, ballast = want + (self.romfs or 0) * 102 // 100 + 65536, 0
            self.names = 0
            self.names = max(0, NAMES_ROOM + 1 - self._free_after_shims(heap * 2, 0, "n_qstr"))
            for _ in range(20):
                free = self._free_after_shims(heap, ballast)
                if free is None:  # the runner ran out of heap on its way (growing the pools of names): more
                    heap, ballast, over = heap + 8192, 0, None
                    continue
                over = free - target
                if over == 0:
                    if self._largest < free - 1024:  # boot.py would find the heap in pieces: not what a board gives
                        raise RuntimeError("virtual board: the heap at boot.py is in pieces (%d free, the largest "
                                           "block %d)" % (free, self._largest))
                    break
                if ballast + over > 0:  # the ballast takes up what is over, either way
                    ballast += over
                else:  # too little heap: aim half a kilobyte above, then ballast
                    heap += (512 - over - ballast) * 102 // 100
                    ballast = 0
            else:
                raise RuntimeError("virtual board: calibration did not settle (%s bytes off)" % over)
            _shim_cost[key] = heap - want, ballast, self.names
        _, self.ballast, self.names = _shim_cost[key]
        return want + _shim_cost[key][0]

    def _free_after_shims(self, heap, ballast, what="vboard-free"):
        r = subprocess.run([MICROPYTHON, "-X", "heapsize=%d" % heap, str(SHIMS / "_boot.py")],
                           env=self._env(VBOARD_CALIBRATE="1", VBOARD_BALLAST=str(ballast),
                                         VBOARD_NAMES=str(self.names)), capture_output=True,
                           text=True, timeout=30, cwd=str(self.board_dir))
        m = re.search(what + r"[ =](\d+)", r.stdout)
        if not m and "MemoryError" in r.stdout + r.stderr:
            return None
        if not m:
            raise RuntimeError("virtual board: calibration run failed:\n" + r.stdout + r.stderr)
        self._largest = int((re.search(r"vboard-largest (\d+)", r.stdout) or m).group(1))
        return int(m.group(1))

    def _env(self, **more):
        """The device process's environment: the wire, the board folder, the shims, the ROMFS partition."""
        env = dict(os.environ, VBOARD_WIRE=str(self.wire_port), VBOARD_DIR=str(self.board_dir.resolve()),
                   MICROPYPATH=str(SHIMS), VBOARD_HTTP=str(self.http_port), VBOARD_DNS=str(self.dns_port), TZ="UTC",
                   **more)
        for k in ("VBOARD_ROMFS", "VBOARD_FLASH", "VBOARD_FLASH_CUT"):
            env.pop(k, None)
        if self.romfs:
            env["VBOARD_ROMFS"] = str(self.romfs_file)
        if self.flash == "littlefs":
            env["VBOARD_FLASH"] = str(self.flash_file)
        return env

    @property
    def romfs_file(self):
        """The ROMFS partition's flash, kept beside the board folder (the folder is the board's /)."""
        d = self.board_dir.resolve()
        return d.parent / (d.name + ".romfs")

    def _prepare_romfs(self):
        """The partition at its size: erased flash (0xFF) where there was none."""
        f = self.romfs_file
        data = f.read_bytes()[:self.romfs] if f.exists() else b""
        if len(data) != self.romfs:
            f.write_bytes(data + b"\xff" * (self.romfs - len(data)))

    def flash_romfs(self, image):
        """Write a ROMFS image into the partition from outside, as a flasher would (the board off)."""
        if len(image) > self.romfs:
            raise ValueError("a %d-byte image in a %d-byte partition" % (len(image), self.romfs))
        self.romfs_file.write_bytes(image + b"\xff" * (self.romfs - len(image)))

    def rom_written(self):
        """The device wrote into its ROMFS partition: at the write a test chose (cut_at_rom_write), the plug is
        pulled before the device hears that it is done."""
        self.rom_writes += 1
        if self.rom_writes == self.cut_at_rom_write:
            self.power_cut()

    @property
    def flash_file(self):
        """flash="littlefs": the image of the board's LittleFS partition, kept beside the board folder (which then
        only gives the image its first files: _prepare_flash)."""
        d = self.board_dir.resolve()
        return d.parent / (d.name + ".lfs")

    def _prepare_flash(self):
        """A fresh LittleFS image holding what the board folder holds, as a flasher leaves a board."""
        from . import lfsimage  # the test tools' littlefs-python: only a board on LittleFS needs it

        with lfsimage.Image(self.flash_file, format=True) as im:
            im.copy_in(self.board_dir)

    def flash_image(self):
        """The image, mounted on the host for the time of a `with` (lfsimage.Image: read, write, listdir, exists,
        remove; written back once at its end). Only while no device process runs (before start(), after stop(),
        while the power is cut): a running board's LittleFS keeps state in its heap that the image does not show
        yet, and would not see what the host changes (Ctrl-C leaves it running, at the REPL)."""
        if self.flash != "littlefs":
            raise ValueError("the board's flash is its folder (flash=\"host\"): read board_dir")
        p = self.proc
        if p and p.poll() is None:
            raise RuntimeError("the board is running: cut its power or stop it before touching its flash")
        if not self.flash_file.exists():
            self._prepare_flash()
        from . import lfsimage

        return lfsimage.Image(self.flash_file)

    def flash_read(self, path):
        """The bytes of a file on the board's LittleFS (the board not running: flash_image)."""
        with self.flash_image() as im:
            return im.read(path)

    def flash_write(self, path, data):
        """Write a file on the board's LittleFS, its folders made as needed (the board not running)."""
        with self.flash_image() as im:
            im.write(path, data.encode() if isinstance(data, str) else data)

    def flash_listdir(self, path="/"):
        """The names in a folder of the board's LittleFS, sorted (the board not running)."""
        with self.flash_image() as im:
            return im.listdir(path)

    def flash_cut(self):
        """The device is in the middle of the block program a test chose (cut_at_flash_write; its first half is on
        the flash): the plug is pulled before it goes on. Once: the next boot runs on."""
        self.cut_at_flash_write = None
        threading.Thread(target=self.power_cut, daemon=True).start()

    def statvfs(self):
        """os.statvfs("/") as a 4 MB NodeMCU's LittleFS answers it, worked out from the board folder: a block for
        each started 4 KB of a file, two for each folder (LittleFS keeps a folder in a pair of blocks)."""
        used = 0
        for folder, _, files in os.walk(self.board_dir):
            used += 2 + sum(-(-os.path.getsize(os.path.join(folder, f)) // FS_BLOCK) for f in files)
        free = max(0, FS_BLOCKS - used)
        return (FS_BLOCK, FS_BLOCK, FS_BLOCKS, free, free, 0, 0, 0, 0, 255)

    def _spawn(self, raw=False):
        if self._closed:
            return
        a = [list(x) if isinstance(x, list) else x for x in self._tty0]  # as the UART is at reset, whatever the
        a[0] &= ~(termios.ICRNL | termios.IXON | termios.INLCR)          # last interpreter left behind
        a[1] &= ~termios.OPOST
        a[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)  # Ctrl-C: _to_device
        a[6][termios.VMIN], a[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self._slave, termios.TCSANOW, a)
        env = self._env()
        env.pop("VBOARD_RAW", None)
        if self.cut_at_flash_write:
            env["VBOARD_FLASH_CUT"] = str(self.cut_at_flash_write)
        if raw:
            env["VBOARD_RAW"] = "1"
        self._raw = False
        self._want_raw = raw
        self._tail = b""  # markers are looked for in this boot's output only
        self._last_intr = 0.0  # a new interpreter has no Ctrl-C pending: the next one is passed on at once
        self._expect_exit = False
        self.irqs.clear()  # a soft reset too clears the pins' handlers (machine_pin.c's pin_init0)
        self.boots += 1
        cmd = [MICROPYTHON, "-X", "heapsize=%d" % self.device_heap(), "-i", str(SHIMS / "_boot.py")]
        env["VBOARD_BALLAST"] = str(self.ballast)
        env["VBOARD_NAMES"] = str(self.names)
        slave = self._slave

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=str(self.board_dir), preexec_fn=ctty, close_fds=True)
        threading.Thread(target=self._reap, args=(self.proc,), daemon=True).start()

    def _glitch_boot_pins(self):
        # The boot ROM pulses GPIO0/GPIO2 at a reset of the chip (not at a soft reset, which never leaves
        # MicroPython): an active-low relay there clicks briefly.
        now = time.monotonic()
        for i, w in enumerate(self.relay_wires):
            if w[0] == "gpio" and w[1] in (0, 2) and not self.relay_state[i]:
                self.relay_history += [(now, i, True), (now + 0.002, i, False)]

    def _reap(self, proc):
        code = proc.wait()
        lost = code != 0 and self._lost_to_sigint()
        with self.lock:
            if proc is not self.proc or self._expect_exit or self._closed:
                return
            if lost:  # the unix port's own failure, not the board's: a new interpreter as _unhang gives
                self.hangs += 1
                self.serial.feed(b"MPY: soft reboot\r\n")
                self.stall_until = 0.0
                self._spawn()
                return
            if code != 0:  # the interpreter died (a fatal error): the chip takes an exception reset
                self.crashes += 1
                self.serial.feed(b"\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n")
                self.reset(EXCEPTION_RESET)
                return
            # The interpreter ended by itself (Ctrl-D at the REPL, sys.exit): a soft reboot.
            raw = self._raw
            self.serial.feed(b"MPY: soft reboot\r\n")
            self.stall_until = 0.0  # a soft reboot keeps the pins (the chip is not reset), and the watchdog
            self._spawn(raw=raw)


    # ---- serial -------------------------------------------------------------------------------

    # The unix port ends itself at a second SIGINT that comes before it has handled the first (its signal handler
    # calls exit(), which can also hang the process for good, waiting on a lock the interrupted code holds); an
    # ESP8266 takes a Ctrl-C that comes while one is pending as the same one. Ctrl-C is passed on here once per
    # INTR_GAP_S: tools that press it twice (mpremote) never end the interpreter. interrupt() presses again only
    # after PRESS_AGAIN_S, as a loaded machine may not run the interpreter for some hundreds of milliseconds.
    INTR_GAP_S = 0.3
    PRESS_AGAIN_S = 1.0

    def _to_device(self, data):
        """Bytes from the serial port's host to the board. A 0x03 is Ctrl-C while the board takes it as one (as the
        port's UART does while `micropython.kbd_intr(3)`, the default, is in force): the unix port takes Ctrl-C as a
        SIGINT, which the bench sends itself. Otherwise (`kbd_intr(-1)`, as mpremote's mount sets it, or the REPL's
        line editor, which reads it itself) the byte is data, as on the board. The pseudo-terminal's own ISIG is off:
        it would signal the interpreter whatever the board set (and end it, where its handler is the default)."""
        if b"\x02" in data:
            self._raw = False
        self._intr_taken()
        while b"\x03" in data and self._takes_intr():
            i = data.index(b"\x03")
            self._write_tty(data[:i])
            data = data[i + 1:]
            now = time.monotonic()
            if now - self._last_intr >= self.INTR_GAP_S:
                self._last_intr = now
                try:
                    self.proc.send_signal(signal.SIGINT)
                except (OSError, AttributeError):
                    pass
        self._write_tty(data)

    def _write_tty(self, data):
        if data:
            try:
                os.write(self._master, data)
            except OSError:
                pass

    def _signals(self, *fields):
        """Whether SIGINT is in the interpreter's masks of /proc/PID/status (any of these fields)."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                masks = [int(ln.split()[1], 16) for ln in f if ln.split(":")[0] in fields]
            return any(m & (1 << (signal.SIGINT - 1)) for m in masks)
        except (OSError, AttributeError, ValueError):
            return False

    def _takes_intr(self):
        """Whether the interpreter has its SIGINT handler in place (the board's interrupt character is Ctrl-C)."""
        return self._signals("SigCgt")

    def _intr_taken(self):
        """Bytes that follow a Ctrl-C wait until the interpreter has taken its signal (1 s at most): a board's UART
        takes the interrupt as the byte arrives, before those after it; a loaded host may not run the interpreter
        for a while, and the code it interrupts would read them (mpremote's Ctrl-A right after its Ctrl-C)."""
        end = self._last_intr + 1.0
        while time.monotonic() < end and self._signals("SigPnd", "ShdPnd"):
            time.sleep(0.005)

    def _read_serial(self):
        while not self._closed:
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if not data:
                return
            t = self._tail + data
            if b"raw REPL; CTRL-B to exit" in t:
                self._raw = True
            if self._want_raw and b">>> " in t:
                self._want_raw = False
                os.write(self._master, b"\x01")
            self._tail = t[-32:]
            self.serial.feed(data)

    # ---- watchdog -----------------------------------------------------------------------------

    def _watchdog(self):
        """The SDK's software watchdog. The port's event loop feeds it (the interpreter runs it every so often, at
        the REPL too), so it bites when C code blocks: here, a hardware call that does not return. Once the
        firmware made a machine.WDT, only WDT.feed() feeds it, until the chip resets (hw.WDT)."""
        while not self._closed:
            time.sleep(0.05)
            with self.lock:
                now = time.monotonic()
                call = self._in_call
                stuck = call is not None and now - call[1] > SW_WDT_S
                starved = self.wdt_on and now - self.wdt_fed > SW_WDT_S
                if self.proc and (stuck or starved):
                    self.wdt_resets += 1
                    self.serial.feed(b"\r\nSoft WDT reset\r\n\r\n ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n")
                    self.reset(SOFT_WDT_RESET)

    # ---- the wire ----------------------------------------------------------------------------

    def _wire_accept(self):
        while True:
            try:
                c, _ = self._wire_srv.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._wire_serve, args=(c,), daemon=True).start()

    def _wire_serve(self, c):
        f = c.makefile("rwb", buffering=0)
        handles = {}
        edges = []  # (gpio, time.ticks_us() of the edge) for the device's pin handlers, not yet sent
        call = None
        try:
            for line in f:
                self._in_call = call = (c, time.monotonic())  # the device's C code waits for this answer
                delay = self.stall_until - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                line = line.rstrip(b"\n")
                n, _, req = line.partition(b" ")
                self._edges(edges)  # up to this call: its own effect (SEL switched, say) comes after them
                if req == b"e":  # the edges, at most EDGES_AT_ONCE: their count, then a line of 9 bytes each (the
                    now, edges[:EDGES_AT_ONCE] = edges[:EDGES_AT_ONCE], []  # gpio, 48 bits of ticks in 6-bit digits)
                    out = b"".join(bytes([65 + g] + [48 + (t >> k & 63) for k in range(0, 48, 6)]) for g, t in now)
                    out += b"\n"  # printable, and a line: a read that a Ctrl-C cut leaves a line the shim skips
                    c.sendall((b"e\n" if edges else b"") + n + b" i%d\n" % len(now) + out)
                else:  # "e" first when edges wait: the device asks for them once it has its answer
                    c.sendall((b"e\n" if edges else b"") + n + b" " + self._answer(line, handles) + b"\n")
                if self._in_call is call:
                    self._in_call = None
        except OSError:
            pass
        finally:
            if self._in_call is call:
                self._in_call = None
            f.close()  # c.close() alone leaves the connection open while f is held (socket.makefile)
            c.close()

    def _edges(self, into):
        """The pulse chip's edges since the last call that a device's handler takes (its pin's trigger), added to
        into as (gpio, microseconds): the unix port's ticks_us is CLOCK_MONOTONIC's microseconds, as
        time.monotonic(), wrapped at its small ints' range (2**62 on a 64-bit build, 2**30 on a 32-bit one, as on
        the ESP8266): the shim wraps it."""
        if not self.pulses:
            return
        with self.lock:
            for t, gpio, level in self.pulses.edges():
                if self.irqs.get(gpio, 0) & (IRQ_RISING if level else IRQ_FALLING):
                    into.append((gpio, int(t * 1e6)))

    def _answer(self, line, handles):
        """The answer to a request line (after its number), as bytes. Every line is answered: a request that fails
        gets the error the device then raises (shims/_wire.py), and the wire serves on."""
        try:
            # MicroPython's strings are UTF-8, but may hold surrogates (chr(0xdc80)), which it keeps as their
            # 3 bytes, as "surrogatepass" does. A line that is not UTF-8 even so is no device's: a client that
            # came to the wrong port (the port of a service that stopped, since taken by a wire).
            try:
                req = line.decode("utf-8", "surrogatepass").partition(" ")[2]
            except UnicodeDecodeError as e:
                raise ValueError("not a wire request: %s" % e) from None
            out = self._handle(req.split(" "), handles)
        except OSError as e:
            out = "-%d" % e.errno if e.errno is not None else "^%s" % e.args[0]
        except ValueError as e:
            out = "!%s" % e
        except TypeError as e:
            out = "~%s" % e
        except Exception as e:  # a bench bug must show, not hang the device
            sys.stderr.write("vboard: wire request %r failed: %r\n" % (line, e))
            out = "-%d" % hw.EIO
        return out.encode("utf-8", "surrogatepass")

    def _handle(self, a, handles):
        if a[0] in ("t", "T"):  # time.time(), time.time_ns()
            with self.lock:
                t = self.esp_rtc.read()
            return str(int(t) if a[0] == "t" else int(t * 1e9))
        if len(a) < 2 or a[0] not in ("f", "new") and not (a[0].isdecimal() and int(a[0]) in handles):
            raise ValueError("not a wire request: %r" % " ".join(a))
        args, kw = [], {}
        for tok in a[2:]:
            if "=" in tok:  # name=value; a positional token never holds "="
                k, v = tok.split("=", 1)
                kw[k] = hw.decode(v, handles)
            elif tok:
                args.append(hw.decode(tok, handles))
        if a[0] == "f":
            if a[1] in ("reset", "flashcut"):  # outside the lock: the reset or the cut kills this very device
                return hw.encode(hw.module_function(self, a[1], args))
            with self.lock:
                return hw.encode(hw.module_function(self, a[1], args))
        with self.lock:
            if a[0] == "new":
                h = len(handles) + 1
                handles[h] = hw.KINDS[a[1]](self, *args, **kw)
                return "i%d" % h
            obj = handles[int(a[0])]
            fault = self.faults.get((type(obj).__name__, a[1]))
            if fault:
                raise fault
            kind = type(obj)
            if a[1] == "__dir__":  # the methods the object answers, which the device's dir() of a proxy cannot see
                return hw.encode([n for n in dir(kind) if n[0] != "_" and callable(getattr(kind, n))])
            if not callable(getattr(kind, a[1], None)):  # as on a board: the object has no such method
                return "?'%s' object has no attribute '%s'" % (kind.__name__, a[1])
            r = getattr(obj, a[1])(*args, **kw)
        if isinstance(r, hw.Into):
            return "n " + " ".join("%d=%s" % (i, bytes(d).hex()) for i, d in r.fills)
        return hw.encode(r)

    def request_reset(self, cause):
        threading.Thread(target=self.reset, args=(cause,), daemon=True).start()

    def spi_transfer(self, out):
        for cs, dev in self.spi_devices.items():
            if self.level(cs) == 0:
                return dev.transfer(out)
        return b"\xff" * len(out)  # nobody selected: MISO floats high

    # ---- radio ---------------------------------------------------------------------------------

    def wifi_status(self):
        """STAT_* of the station interface as the ESP8266 would report it now."""
        ap, sta = self.ap, self.sta
        if not sta["active"] or not sta["ssid"]:
            return 0
        waited = time.monotonic() - max(sta["since"], ap["since"])
        if not ap["up"] or sta["ssid"] != ap["ssid"]:
            return 1 if waited < 1.0 else 3
        if sta["key"] != ap["password"]:
            return 1 if waited < 1.0 else 2
        return 1 if waited < self.join_s else 5

    def set_wifi(self, up):
        with self.lock:
            if up and not self.ap["up"]:
                self.ap["since"] = time.monotonic()
            self.ap["up"] = up

    # ---- the world as tests and the console see it -------------------------------------------

    def esp_time(self):
        """The ESP8266's own RTC: the seconds since 2000-01-01 it would give if read now."""
        with self.lock:
            return self.esp_rtc.time()

    @property
    def esp_rtc_ppm(self):
        """How fast the ESP8266's RTC runs against the world, in parts per million (+20000: 2 % fast)."""
        return self.esp_rtc.ppm

    @esp_rtc_ppm.setter
    def esp_rtc_ppm(self, ppm):
        with self.lock:
            self.esp_rtc.set_ppm(ppm)

    @property
    def rtc_file(self):
        """Where the RTC chip's battery-backed state is kept between runs: beside the board folder, out of
        the firmware's sight (the folder is the board's /)."""
        d = self.board_dir.resolve()
        return d.parent / (d.name + ".rtc.json")

    def _load_rtc(self, fresh):
        if fresh:
            self.rtc_file.unlink(missing_ok=True)
            return
        try:
            self.rtc.restore(json.loads(self.rtc_file.read_text()))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as e:  # another chip's, or damaged: a fresh chip
            sys.stderr.write("vboard: %s not used, the RTC chip starts fresh: %r\n" % (self.rtc_file, e))
            self.rtc.lose()

    def _save_rtc(self):
        state = self.rtc and self.rtc.state()
        try:
            if state is None:
                if self.rtc:
                    self.rtc_file.unlink(missing_ok=True)
                return
            tmp = self.rtc_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.rtc_file)
        except OSError as e:  # the folder went away: the next run gets a fresh chip
            sys.stderr.write("vboard: cannot keep the RTC chip's state: %r\n" % (e,))

    def level(self, pin):
        st = self.pins.get(pin)
        if st and (st[0] == 1 or (st[0] == 2 and st[1] == 0)):
            return st[1]
        if pin == 0 and self.button:
            return 0
        if self.pulses and pin in self.pulses.pins[:2]:  # the metering chip's CF and CF1 drive these
            return self.pulses.output(pin)
        if pin == 15:
            return 0  # the NodeMCU's pull-down
        relay_input = any(w == ("gpio", pin) for w in self.relay_wires)
        return 1 if (pin in (0, 2) or relay_input or (st and st[2])) else 0

    # The ESP8266's GPIO registers (eagle_soc.h, gpio_register.h): GPIO0-15's output levels, output enables and
    # input levels, and GPIO16's (in the RTC block, bit 0).
    REGISTERS = {0x60000300: "out", 0x6000030C: "enable", 0x60000318: "in",
                 0x60000768: "rtc out", 0x60000774: "rtc enable", 0x6000078C: "rtc in"}

    def register(self, addr, width, value=None):
        """machine.mem8/16/32[addr] (read; a write is not modelled): what the pins are, as the chip's registers
        say it. The virtual board models the GPIO registers only."""
        if addr % width:
            raise ValueError("address %08x not aligned to %d bytes" % (addr, width))
        what = self.REGISTERS.get(addr & ~3)
        if what is None or value is not None:
            raise ValueError("the virtual board models reading the GPIO registers only, not %s 0x%08x"
                             % ("writing" if value is not None else "reading", addr))
        word = 0
        for pin in (16,) if what.startswith("rtc") else range(16):
            st = self.pins.get(pin)
            if what.endswith("out"):
                bit = bool(st and st[1])
            elif what.endswith("enable"):
                bit = bool(st and (st[0] == 1 or (st[0] == 2 and st[1] == 0)))
            else:
                bit = pin in self.USABLE_GPIO and self.level(pin) == 1
            word |= bit << (0 if pin == 16 else pin)
        shift = 8 * (addr & 3)
        return word >> shift & ((1 << 8 * width) - 1)

    def update_relays(self):
        self._pins_moved()  # a pin changed: the chips that follow one see it first
        now = time.monotonic()
        pcf = self.pcf.levels() if self.pcf else 0xFF
        changed = False
        for i, w in enumerate(self.relay_wires):
            lvl = self.level(w[1]) if w[0] == "gpio" else (pcf >> w[2]) & 1
            on = (lvl == 0) if self.relay_active_low[i] else (lvl == 1)
            if on != self.relay_state[i]:
                self.relay_state[i] = on
                self.mains.switch(i, on)
                self.relay_history.append((now, i, on))
                changed = True
        if changed:
            self.changed.notify_all()

    def relays(self):
        """Which outlets have their relay closed, outlet 1 first."""
        with self.lock:
            return list(self.relay_state)

    def wait_relays(self, expected, timeout=5.0):
        """Wait until relays() == expected (a list of bools); return the time it took."""
        t0 = time.monotonic()
        with self.changed:
            while self.relay_state != list(expected):
                left = t0 + timeout - time.monotonic()
                if left <= 0:
                    raise TimeoutError("relays are %s, expected %s" % (self.relay_state, list(expected)))
                self.changed.wait(left)
        return time.monotonic() - t0

    def hold_button(self, held=True):
        with self.lock:
            self.button = held

    def stall(self, seconds):
        """Hold every answer on the wire for `seconds`: the firmware's loop blocks like on a stuck bus."""
        self.stall_until = time.monotonic() + seconds

    def interrupt(self, timeout=5.0):
        """Ctrl-C, as a person at the serial port: stop main.py and wait for the REPL prompt.

        Like a person (and mpremote), press again if nothing happens: a Ctrl-C that lands while the
        unix port collects garbage can be lost, or end the interpreter (the board then resets)."""
        m0 = self.serial.mark()
        end = time.monotonic() + timeout
        while True:
            self.serial.write(b"\r\x03")
            try:
                return self.serial.expect(r">>> $", min(self.PRESS_AGAIN_S, max(0.1, end - time.monotonic())), since=m0)
            except TimeoutError:
                if self._hung():
                    self._unhang()
                elif time.monotonic() >= end:
                    raise

    def _hung(self):
        """The unix port's own hang, which no ESP8266 has: a SIGINT can land while the interpreter holds a lock its
        signal path takes again, and the process then waits on that futex for good. The interpreter is single-threaded,
        so one that waits on a futex can never wake."""
        p = self.proc
        try:
            return len(os.listdir("/proc/%d/task" % p.pid)) == 1 and "futex" in open("/proc/%d/wchan" % p.pid).read()
        except (OSError, AttributeError):
            return False

    def _lost_to_sigint(self):
        """The interpreter ended with the unix port's "FATAL: uncaught NLR" within 3 s of a Ctrl-C passed on to it.
        Seen now and then in pushes on a loaded machine: the KeyboardInterrupt finds the heap locked
        ("MemoryError: memory allocation failed, heap is locked") and the unix port ends with no handler to jump to.
        The unix port takes Ctrl-C as a SIGINT, which interrupts system calls (EINTR, after which it raises pending
        exceptions); an ESP8266's Ctrl-C only sets a pending exception from the UART's interrupt, and no such end
        of the board is known there. Counted with the hangs."""
        if time.monotonic() - self._last_intr > 3.0:
            return False
        end = time.monotonic() + 0.5  # the last of its output may still be on its way from the pseudo-terminal
        while "FATAL: uncaught NLR" not in self.serial.text()[-2000:]:
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    def _unhang(self):
        """A new interpreter in place of a hung one, as a soft reboot: the pins, RTC memory and the chips as they are
        (the outlets keep their state); counted in `hangs`."""
        with self.lock:
            self.hangs += 1
            self._kill()
            self.serial.feed(b"MPY: soft reboot\r\n")
            self._spawn()

    def exec(self, code, timeout=10.0):
        """Run code in the raw REPL (interrupting main.py first if it runs); return its output.
        Raises RuntimeError with the device's traceback if the code raised."""
        if not self._raw:
            self.interrupt(timeout)
            m0 = self.serial.mark()
            self.serial.write(b"\x01")
            self.serial.expect(r"raw REPL; CTRL-B to exit\r?\n>", timeout, since=m0)
        m0 = self.serial.mark()
        self.serial.write(code.encode() + b"\x04")
        m = self.serial.expect(rb"OK(.*?)\x04(.*?)\x04>", timeout, since=m0)
        out, err = m.group(1).decode(), m.group(2).decode()
        if err:
            raise RuntimeError("device raised:\n" + err)
        return out

    def friendly(self):
        """Leave the raw REPL for the friendly one (Ctrl-B)."""
        m0 = self.serial.mark()
        self.serial.write(b"\r\x02")
        self.serial.expect(r">>> $", 5, since=m0)

    NO_ROOM = "error: not enough memory for that just now"

    def command(self, line, expect=None, timeout=5.0):
        """Type a line on the firmware's serial console; return the output up to `expect` (a regex) or the first
        reply line, or up to the board's NO_ROOM answer (the line did not run: the caller sees why)."""
        m0 = self.serial.mark()
        self.serial.write(line + "\r")
        echo = self.serial.expect(re.escape(line) + r"\r?\n", timeout, since=m0)
        m = self.serial.expect((expect or r"[^\n]*\n") + "|" + re.escape(self.NO_ROOM) + r"[^\n]*\n", timeout,
                               since=echo.end())
        return self.serial.buf[echo.end():m.end()].decode("utf-8", "replace")
