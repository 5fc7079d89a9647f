"""The ESP8266 peripherals as the bench implements them: what the firmware's `machine` and `network` proxies reach.

Each class mirrors the MicroPython API of its namesake on the ESP8266; a method that fills a
caller's buffer returns `Into(index, data)` so the proxy copies the data into that argument.
"""

import calendar
import time

from .chips import Nack

ENODEV, EIO = 19, 5
PWRON_RESET, WDT_RESET, EXCEPTION_RESET, SOFT_WDT_RESET, SOFT_RESET, HARD_RESET = 0, 1, 2, 3, 4, 6
EPOCH2000 = 946684800


class Into:
    def __init__(self, *fills):
        self.fills = fills  # (positional index, bytes)


REQUIRED, KW_ONLY = 1, 2


def parse(a, kw, allowed):
    """py/argcheck.c's mp_arg_parse_all, with the messages of the ESP8266 build (MICROPY_ERROR_REPORTING_NORMAL):
    `allowed` is ((name, flags, default), ...) in order; gives {name: value}."""
    out, found = {}, 0
    for i, (name, flags, default) in enumerate(allowed):
        if i < len(a):
            if flags & KW_ONLY:
                raise TypeError("extra positional arguments given")
            out[name] = a[i]
        elif name in kw:
            found += 1
            out[name] = kw[name]
        elif flags & REQUIRED:
            raise TypeError("'%s' argument required" % name)
        else:
            out[name] = default
    if len(a) > len(allowed):
        raise TypeError("extra positional arguments given")
    if found < len(kw):
        raise TypeError("extra keyword arguments given")
    return out


def pin_of(bench, p):
    """ports/esp8266/machine_pin.c's mp_obj_get_pin_obj: a Pin, or the number of one."""
    if isinstance(p, Pin):
        return p
    if type(p) is int and p in bench.USABLE_GPIO:
        return Pin(bench, p)
    raise ValueError("invalid pin")


class Pin:
    def __init__(self, bench, id, mode=-1, pull=-1, value=None, **kw):
        if id not in bench.USABLE_GPIO:
            raise ValueError("invalid pin")
        self.b, self.id = bench, id
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        st = self.b.pins.setdefault(self.id, [-1, 0, False])
        if value is not None:
            st[1] = 1 if value else 0
        if mode not in (-1, None):
            st[0] = mode
        if pull not in (-1, None):
            st[2] = pull == 1
        self.b.update_relays()

    def value(self, v=None):
        if v is None:
            return self.b.level(self.id)
        self.b.pins.setdefault(self.id, [-1, 0, False])[1] = 1 if v else 0
        self.b.update_relays()

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def toggle(self):  # ports/esp8266/machine_pin.c: the output register's level flipped, whatever the pin reads
        self.value(1 - self.b.pins.setdefault(self.id, [-1, 0, False])[1])

    def irq(self, handler=None, trigger=3, hard=False, configure=True):
        """ports/esp8266/machine_pin.c's pin.irq(handler=None, trigger=IRQ_FALLING|IRQ_RISING, hard=False): the
        device's shim keeps the handler (here handler is whether there is one; configure whether any argument was
        given) and is sent each edge of the pin that matches the trigger (bench._edges). Gives the pin's number."""
        if self.id == 16:
            raise OSError("pin does not have IRQ capabilities")
        if hard:
            raise ValueError("hard IRQ not supported")
        if type(trigger) is not int:
            raise TypeError("can't convert %s to int" % type(trigger).__name__)
        if configure:
            self.b.irqs[self.id] = trigger if handler else 0
        return self.id

    def __repr__(self):
        return "Pin(%d)" % self.id


class Signal:
    def __init__(self, bench, pin, *a, invert=False, **kw):
        self.pin, self.invert = pin, bool(invert)

    def __repr__(self):
        return "<Signal>"  # no print of its own (extmod/machine_signal.c): the type's name

    def value(self, v=None):
        if v is None:
            return self.pin.value() ^ self.invert
        self.pin.value(bool(v) ^ self.invert)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class SoftI2C:
    """extmod/machine_i2c.c's SoftI2C, which is also the ESP8266's machine.I2C (it has no hardware I2C): scl and
    sda required, by position or name; freq and timeout by name only."""

    def __init__(self, bench, *a, **kw):
        p = parse(a, kw, (("scl", REQUIRED, None), ("sda", REQUIRED, None), ("freq", KW_ONLY, 400000),
                          ("timeout", KW_ONLY, 50000)))
        scl, sda = pin_of(bench, p["scl"]), pin_of(bench, p["sda"])
        self.b, self.key = bench, (scl.id, sda.id)
        self.us_delay = max(500000 // p["freq"], 1)  # what the bit-banging keeps: repr() shows the rate it gives

    def __repr__(self):
        return "SoftI2C(scl=%d, sda=%d, freq=%d)" % (self.key + (500000 // self.us_delay,))

    def init(self, *a, **kw):  # the constructor's arguments, parsed again
        self.__init__(self.b, *a, **kw)

    def _dev(self, addr):
        dev = self.b.buses.get(self.key, {}).get(addr)
        if dev is None:
            raise OSError(ENODEV, "ENODEV")
        return dev

    def _write(self, addr, data):
        try:
            self._dev(addr).write(bytes(data))
        except Nack:
            raise OSError(ENODEV, "ENODEV") from None
        self.b.update_relays()

    def _read(self, addr, n):
        try:
            return self._dev(addr).read(n)
        except Nack:
            raise OSError(ENODEV, "ENODEV") from None

    def scan(self):
        return sorted(a for a, d in self.b.buses.get(self.key, {}).items() if getattr(d, "_powered", True))

    def writeto(self, addr, buf, stop=True):
        self._write(addr, buf)
        return len(buf)

    def writevto(self, addr, bufs, stop=True):
        return self.writeto(addr, b"".join(bytes(x) for x in bufs))

    def readfrom(self, addr, n, stop=True):
        return self._read(addr, n)

    def readfrom_into(self, addr, buf, stop=True):
        return Into((1, self._read(addr, len(buf))))

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        self._write(addr, _memaddr(reg, addrsize) + bytes(buf))

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        self._write(addr, _memaddr(reg, addrsize))
        return self._read(addr, n)

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        self._write(addr, _memaddr(reg, addrsize))
        return Into((2, self._read(addr, len(buf))))


def _memaddr(reg, addrsize):
    """extmod/machine_i2c.c, fill_memaddr_buf: the register's address in addrsize bits (a uint8_t there), most
    significant byte first (an ADE7953's 16-bit register numbers: addrsize=16)."""
    addrsize &= 0xFF
    if addrsize & 7 or addrsize > 32:
        raise ValueError("invalid addrsize")
    return (reg & (1 << addrsize) - 1).to_bytes(addrsize // 8, "big")


class SoftSPI:
    """extmod/machine_spi.c's SoftSPI: sck, mosi and miso required, 8 bits."""

    def __init__(self, bench, *a, **kw):
        p = parse(a, kw, (("baudrate", 0, 500000),) + tuple(
            (n, KW_ONLY, d) for n, d in (("polarity", 0), ("phase", 0), ("bits", 8), ("firstbit", 0), ("sck", None),
                                         ("mosi", None), ("miso", None))))
        delay = 500000 // p["baudrate"] + (1 if 500000 % p["baudrate"] else 0)  # rounded up: never faster than asked
        if p["bits"] != 8:
            raise ValueError("bits must be 8")
        if p["sck"] is None or p["mosi"] is None or p["miso"] is None:
            raise ValueError("must specify all of sck/mosi/miso")
        self.b = bench
        self.shown = "SoftSPI(baudrate=%d, polarity=%d, phase=%d, firstbit=%d, sck=%d, mosi=%d, miso=%d)" % (
            500000 // delay, p["polarity"], p["phase"], p["firstbit"],
            *(pin_of(bench, p[n]).id for n in ("sck", "mosi", "miso")))

    def __repr__(self):
        return self.shown

    def init(self, *a, **kw):
        pass

    def deinit(self):  # a SoftSPI holds nothing to release; the HSPI's protocol has no deinit either
        pass

    def _xfer(self, out):
        return self.b.spi_transfer(bytes(out))

    def write(self, buf):
        self._xfer(buf)

    def read(self, n, write=0):
        return self._xfer(bytes((write,)) * n)

    def readinto(self, buf, write=0):
        return Into((0, self._xfer(bytes((write,)) * len(buf))))

    def write_readinto(self, out, into):
        return Into((1, self._xfer(out)))


class SPI(SoftSPI):
    """ports/esp8266/machine_spi.c: SPI(1), the HSPI (SCK 14, MOSI 13, MISO 12), and only baudrate, polarity,
    phase (SPI(0) is the flash's: ValueError with no message)."""

    def __init__(self, bench, id, *a, **kw):
        if id != 1:
            raise ValueError("")
        p = parse(a, kw, (("baudrate", 0, 80000000), ("polarity", 0, 0), ("phase", 0, 0)))
        rate = p["baudrate"]
        if rate > 40000000 and rate != 80000000:
            raise ValueError("impossible baudrate")
        if rate != 80000000:  # the clock divides 80 MHz: a pre-divider up to 8192 and an even count up to 64
            pre = min(40000000 // rate, 8192)
            count = (40000000 // rate // pre) * 2
            if not pre or not 0 < count <= 64:
                raise ValueError("impossible baudrate")
            rate = 80000000 // (pre * count)
        self.b, self.shown = bench, "HSPI(id=1, baudrate=%d, polarity=%d, phase=%d)" % (
            rate, p["polarity"], p["phase"])


class ADC:
    def __init__(self, bench, id=0):
        self.b, self.id = bench, id

    def __repr__(self):
        return "ADC(%d)" % self.id

    def read(self):
        return int(self.b.adc)

    def read_u16(self):
        return int(self.b.adc) * 64


class RTC:
    """The ESP8266's own RTC: seconds since 2000, kept across resets, lost with the power."""

    def __init__(self, bench):
        self.b = bench

    def __repr__(self):
        return "<RTC>"  # no print of its own: the type's name

    def datetime(self, t=None):
        if t is None:
            g = time.gmtime(int(self.b.esp_rtc.read()) + EPOCH2000)
            return (g.tm_year, g.tm_mon, g.tm_mday, g.tm_wday, g.tm_hour, g.tm_min, g.tm_sec, 0)
        self.b.esp_rtc.set(calendar.timegm(tuple(t[:3]) + tuple(t[4:7]) + (0, 0, 0)) - EPOCH2000)

    def memory(self, data=None):
        if data is None:
            return self.b.rtc_mem
        if len(data) > 492:
            raise ValueError("buffer too long")
        self.b.rtc_mem = bytes(data)


class EspClock:
    """The time the ESP8266's RTC gives, as MicroPython's esp8266 port keeps it (ports/esp8266/machine_rtc.c):
    a 32-bit count of the chip's RTC ticks, plus a delta kept in RTC memory; each read compares the count with
    the last one read and adds one turn of the counter when it went back. The counter turns about every 7 h
    45 min ("the internal real-time clock (RTC) will overflow every 7:45h. If a long-term working RTC time is
    required then time() or localtime() must be called at least once within 7 hours": MicroPython's ESP8266
    docs, Known Issues). So a gap of more than one turn between two reads loses whole turns, and a reset
    forgets the last count read (it reads the counter afresh at start-up without comparing).

    `ppm` is how fast the counter runs against the world (+20000: 2 % fast). The counter keeps running
    through resets and restarts from 0 (2000-01-01 00:00:00) when the power comes back. Setting the
    world's clock back moves this clock back by as much (the world's clock is the test's, not a time that
    passes)."""

    TURN = 7 * 3600 + 45 * 60  # seconds: 2^32 ticks

    def __init__(self, clock):
        self.clock = clock
        self.ppm = 0.0
        self.power_on()

    def power_on(self):
        self._count, self._at = 0.0, self.clock.now()  # ticks as seconds since power-on; world instant
        self._last = 0.0  # the counter's value at the last read (rtc_last_ticks)
        self._delta = 0.0  # the time = delta + counter

    def _sample(self):
        """Bring the counter up to now; return its value (seconds within a turn)."""
        now = self.clock.now()
        elapsed = (now - self._at) * (1 + self.ppm / 1e6)
        if elapsed < 0:
            self._delta += elapsed
        else:
            self._count += elapsed
        self._at = now
        return self._count % self.TURN

    def set_ppm(self, ppm):
        self._sample()  # the old rate up to now, the new one from now on
        self.ppm = ppm

    def time(self):
        """Seconds since 2000 a read would give now, without reading (the counter's last value is kept)."""
        value = self._sample()
        return self._delta + value + (self.TURN if value < self._last else 0)

    def read(self):
        """time.time(), RTC.datetime(): the firmware reads the clock (a turn of the counter is noticed)."""
        value = self._sample()
        if value < self._last:
            self._delta += self.TURN
        self._last = value
        return self._delta + value

    def set(self, seconds):
        """RTC.datetime(tuple): seconds since 2000."""
        self._last = self._sample()
        self._delta = seconds - self._last

    def reset(self):
        """The chip resets: the port's start-up takes the counter's value as the last one read."""
        self._last = self._sample()


class WDT:
    """ports/esp8266/machine_wdt.c: watchdog 0, its timeout fixed (anything but 5000 ms is a ValueError). Making one
    stops the port's event loop feeding the SDK's software watchdog (ets_loop_dont_feed_sw_wdt) until the chip
    resets: from then on only feed() does, at the REPL too, and nothing stops it (no deinit)."""

    def __init__(self, bench, *a, **kw):
        p = parse(a, kw, (("id", 0, 0), ("timeout", 0, 5000)))
        if p["timeout"] != 5000 or p["id"] != 0:
            raise ValueError("")
        self.b = bench
        bench.wdt_on, bench.wdt_fed = True, time.monotonic()

    def __repr__(self):
        return "<WDT>"  # no print of its own: the type's name

    def feed(self):
        self.b.wdt_fed = time.monotonic()


class Timer:
    def __init__(self, bench, id=-1, *a, **kw):
        raise ValueError("machine.Timer is not modelled by the virtual board")


class WLAN:
    def __init__(self, bench, i=0):
        self.b, self.i = bench, i

    def __repr__(self):
        return "<WLAN>"  # no print of its own: the type's name

    def active(self, on=None):
        sta = self.b.sta
        if on is not None:
            if self.i == 0:
                sta["active"] = bool(on)
                if not on:
                    sta["ssid"] = None
            else:
                self.b.ap_if_active = bool(on)
        return sta["active"] if self.i == 0 else self.b.ap_if_active

    def connect(self, ssid=None, key=None, **kw):
        if self.i or not self.b.sta["active"]:
            raise OSError(EIO, "EIO")
        self.b.sta.update(ssid=ssid, key=key or "", since=time.monotonic())
        self.b.dhcp_name = self.b.hostname  # network_wlan.c: wifi_station_set_hostname at each connect

    def disconnect(self):
        self.b.sta["ssid"] = None

    def status(self, param=None):
        if param == "rssi":
            return self.b.ap["rssi"] if self.b.wifi_status() == 5 else -100
        if param is not None:
            raise ValueError("unknown status param")
        return self.b.wifi_status() if self.i == 0 else 0

    def isconnected(self):
        return self.b.wifi_status() == 5 if self.i == 0 else self.b.ap_if_active

    def ifconfig(self, cfg=None):
        if cfg:
            return None
        if self.i == 1:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "192.168.4.1")
        if self.b.wifi_status() == 5:  # the virtual board's traffic is the host's loopback
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return ("0.0.0.0",) * 4

    def scan(self):
        """(ssid, bssid, channel, RSSI, authmode, hidden) of the networks around: the bench's access point (WPA2)
        and bench.networks' (ssid, rssi, authmode)."""
        ap = self.b.ap
        return ([(ap["ssid"].encode(), b"\0" * 6, 1, ap["rssi"], 3, 0)] if ap["up"] else []) + [
            (n.encode(), bytes((2, 0, 0, 0, 0, i)), 6, rssi, auth, 0)
            for i, (n, rssi, auth) in enumerate(self.b.networks)]

    def config(self, *a, **kw):
        """ports/esp8266/network_wlan.c, esp_config: a setting (keywords) or one parameter read, with the port's
        errors. The radio's channel is the bench access point's (the SDK reports the one the radio is on)."""
        if kw:
            for k in ("hostname", "dhcp_hostname"):  # deprecated there: network.hostname(name)'s
                if k in kw:
                    module_function(self.b, "hostname", (kw[k],))
            for k, v in kw.items():  # the access point's own settings (the port's SOFTAP_IF parameters)
                if k in ("essid", "ssid", "authmode", "security", "password", "key", "channel", "hidden"):
                    if self.i != 1:
                        raise OSError("AP required")
                    self.b.ap_conf[{"ssid": "essid", "security": "authmode", "key": "password"}.get(k, k)] = v
            return None
        if len(a) != 1:
            raise TypeError("can query only one param")
        key = a[0]
        need = {"hidden": 1, "security": 1, "authmode": 1, "hostname": 0, "dhcp_hostname": 0}.get(key)
        if key == "mac":
            return b"\x5c\xcf\x7f" + self.b.uid[1:]
        if key in ("ssid", "essid"):  # the access point's: the port's default, MicroPython- and the MAC's end
            return (self.b.sta["ssid"] or "") if self.i == 0 else self.b.ap_conf.get(
                "essid", "MicroPython-" + self.b.uid[1:].hex())
        if key == "channel":
            return self.b.ap.get("channel", 6)
        if key == "protocol":
            return 3  # MODE_11N
        if key == "pm":
            return 2  # MODEM_SLEEP_T, the SDK's default for a station
        if need is None:
            raise ValueError("unknown config param")
        if need != self.i:
            raise OSError("AP required" if need else "STA required")
        if need == 0:
            return self.b.hostname
        return bool(self.b.ap_conf.get("hidden")) if key == "hidden" else self.b.ap_conf.get("authmode", 0)


KINDS = {c.__name__: c for c in (Pin, Signal, SoftI2C, SoftSPI, SPI, ADC, RTC, WDT, Timer, WLAN)}


def module_function(bench, name, args):
    """machine.* and network.* functions."""
    if name == "reset":
        bench.request_reset(SOFT_RESET)
        time.sleep(30)  # the device process is killed meanwhile, like a real reset
        return None
    if name == "flashcut":  # shims/_flash.py, at the block program a test cuts the power in
        bench.flash_cut()
        time.sleep(30)  # the device process is killed meanwhile
        return None
    if name == "reset_cause":
        return bench.reset_cause
    if name == "mem":
        return bench.register(*args)
    if name == "keys":  # os.dupterm_notify: what a duplicate terminal has for the REPL's input
        bench.serial.write(args[0])
        return None
    if name == "unique_id":
        return bench.uid
    if name == "freq":
        return None if args else 80000000
    if name == "idle":
        time.sleep(0.001)
        return None
    if name == "trigger":  # a pin's irq object's trigger([new]): the triggers it had
        old = bench.irqs.get(args[0], 0)
        if len(args) > 1:
            bench.irqs[args[0]] = args[1]
        return old
    if name == "disable_irq":
        return 0
    if name == "enable_irq":
        return None
    if name == "webrepl_start":
        return bench.webrepl_start(*args)
    if name == "webrepl_stop":
        bench.webrepl_stop()
        return None
    if name == "getaddrinfo":  # DNS through the bench's access point: every known name is the bench
        host, port = args
        if bench.wifi_status() != 5 or host in bench.unknown_hosts:
            raise OSError(-2, "name not resolved")  # what the ESP8266's lwIP getaddrinfo raises
        return ("127.0.0.1", bench.ntp.port if port == 123 else bench.radio.route(port))
    if name == "romw":
        return bench.rom_written()
    if name == "statvfs":
        return bench.statvfs()
    if name == "country":  # extmod/modnetwork.c: two characters
        if args:
            if len(args[0]) != 2:
                raise ValueError()
            bench.country = args[0]
            return None
        return bench.country
    if name == "hostname":  # extmod/modnetwork.c: up to 32 characters
        if args:
            if len(args[0].encode("utf-8", "surrogatepass")) > 32:  # the bytes the device's string holds
                raise ValueError()
            bench.hostname = args[0]
            return None
        return bench.hostname
    raise ValueError("no function " + name)


def encode(v, sep=","):
    """A value as the wire carries it; a list or tuple's items apart by sep, those of one inside it by ";" (two
    levels: a scan's list of tuples)."""
    if v is None:
        return "n"
    if isinstance(v, bool):  # a bool on the board too (isconnected(), config("hidden"))
        return "o%d" % v
    if isinstance(v, int):
        return "i%d" % v
    if isinstance(v, str):  # as the device keeps it: UTF-8, and a surrogate as its 3 bytes (bench._answer)
        return "s" + v.encode("utf-8", "surrogatepass").hex()
    if isinstance(v, (bytes, bytearray)):
        return "b" + bytes(v).hex()
    if isinstance(v, (tuple, list)) and sep == ",":
        return ("t" if isinstance(v, tuple) else "l") + sep.join(encode(x, ";") for x in v)
    if isinstance(v, (tuple, list)) and sep:
        return ("t" if isinstance(v, tuple) else "l") + sep.join(encode(x, None) for x in v)
    raise TypeError("cannot send %r to the device" % (v,))


def decode(tok, handles):
    k, v = tok[0], tok[1:]
    if k == "n":
        return None
    if k == "i":
        return int(v)
    if k == "s":
        return bytes.fromhex(v).decode("utf-8", "surrogatepass")
    if k == "b":
        return bytes.fromhex(v)
    if k == "h":
        return handles[int(v)]
    if k == "t":
        return tuple(decode(x, handles) for x in v.split(",")) if v else ()
    raise ValueError("bad token " + tok)
