"""The ESP8266's `machine`, `network`, `esp`, `os` and `time`, name by name, and what the virtual board has of them.

The data behind docs/esp8266-modules.md (`python -m tools.vboard.esp8266_api` writes it; tests/test_modules.py
checks it on the virtual board and that the document says the same). The names are those of MicroPython v1.28.0's
ports/esp8266 built as ESP8266_GENERIC, variant FLASH_2M_ROMFS, read from the C with its #if flags resolved:

- mpconfigport.h sets MACHINE_RESET, BARE_METAL_FUNCS, DISABLE_IRQ_ENABLE_IRQ, ADC (with ADC_READ), BITSTREAM,
  DHT_READINTO, PULSE, PWM (with PWM_DUTY), SOFTI2C, SPI, SOFTSPI, UART, WDT, OS_DUPTERM(_NOTIFY), OS_SYNC,
  OS_UNAME, OS_URANDOM, TIME_GMTIME_LOCALTIME_MKTIME, TIME_TIME_TIME_NS and ESP8266_APA102; py/mpconfig.h turns
  MEMX and SIGNAL on with MACHINE. Nothing defines BOOTLOADER, PIN_BASE, ADC_BLOCK, CAN, DAC, I2S, I2C_TARGET,
  USB_RUNTIME_DEVICE, WDT_TIMEOUT_MS, UART_SENDBREAK/READCHAR_WRITECHAR/IRQ, ADC_INIT/DEINIT/READ_UV/ATTEN_WIDTH,
  OS_ERRNO, OS_GETENV_PUTENV_UNSETENV or OS_SYSTEM for this port, so they are off. MACHINE_I2C is off: machine.I2C
  comes from the port's extra globals, as the SoftI2C class.
- mpconfigboard.h (MICROPY_ESP8266_2M, which the variant defines) turns EMIT_XTENSA on: esp.set_native_code_location.
- Not certain from the source alone: os.VfsFat and os.VfsLfs2 depend on the make variables MICROPY_VFS_FAT and
  MICROPY_VFS_LFS2, which the variant's .mk sets with `?=` (a build may turn them off; the released one has them).
  network.ipconfig is there either way: modnetwork_globals.h adds it whatever LWIP_VERSION_MAJOR says
  (the ESP8266's lwIP is 1.4, so extmod/modnetwork.c's own entry is left out).
- The constants' values are the NONOS SDK's (user_interface.h, gpio.h), which the checkout does not hold; the
  shims give those values.

Names that start with an underscore (`__name__`, a class's `__init__`...) are left out on both sides.

Each entry: the name, then "yes" (the virtual board has it and it behaves as the port's), "yes: ..." (it has it,
with that difference), or why it is missing. OWN lists what the virtual board has and a board does not.
"""

from pathlib import Path

# SPI and SoftSPI share one table of methods on a board (extmod/machine_spi.c), and on the bench.
_SPI = {
    "init": "yes: accepted, changes nothing (the bench's transfers have no rate or mode)",
    "deinit": "yes",
    "read": "yes",
    "readinto": "yes",
    "write": "yes",
    "write_readinto": "yes",
    "MSB": "yes",
    "LSB": "yes",
}

MODULES = {
    "machine": {
        "mem8": "yes: the GPIO registers only, read; any other address, and every write, is refused",
        "mem16": "yes: as mem8",
        "mem32": "yes: as mem8",
        "unique_id": "yes",
        "soft_reset": "yes",
        "reset": "yes",
        "reset_cause": "yes",
        "idle": "yes",
        "freq": "yes: 80 or 160 MHz, kept until a reset; the code runs no faster",
        "lightsleep": "yes: waits, as a board with its radio on does",
        "sleep": "yes: lightsleep's other name",
        "deepsleep": "not modelled: the bench has no deep sleep and no wake-up",
        "disable_irq": "yes: masks nothing (the pins' handlers run at the firmware's calls into the bench, not "
                       "between bytecodes)",
        "enable_irq": "yes: as disable_irq",
        "bitstream": "not modelled: the bench has no pin timing",
        "dht_readinto": "not modelled: no DHT sensor on the bench",
        "time_pulse_us": "not modelled: the bench has no pin timing",
        "Signal": "yes",
        "SoftI2C": "yes",
        "SoftSPI": "yes",
        "ADC": "yes",
        "PWM": "not modelled: no PWM on the bench",
        "SPI": "yes",
        "UART": "not modelled: the serial line is the REPL's, with no UART object",
        "WDT": "yes",
        "RTC": "yes",
        "Timer": "not modelled: no hardware timers on the bench",
        "Pin": "yes",
        "I2C": "yes: SoftI2C, as on the ESP8266",
        "DEEPSLEEP": "yes",
        "PWRON_RESET": "yes",
        "HARD_RESET": "yes",
        "DEEPSLEEP_RESET": "yes",
        "WDT_RESET": "yes",
        "SOFT_RESET": "yes",
    },
    "machine.Pin": {
        "init": "yes",
        "value": "yes",
        "off": "yes",
        "on": "yes",
        "toggle": "yes",
        "irq": "yes: the handler is called with the pin for each edge of its trigger on a pin the bench drives "
               "(the metering chip's CF and CF1), at the firmware's next call into the bench, time.ticks_us() in "
               "it the edge's instant; hard=True and GPIO16 refused as on the ESP8266",
        "IN": "yes",
        "OUT": "yes",
        "OPEN_DRAIN": "yes",
        "PULL_UP": "yes",
        "IRQ_RISING": "yes",
        "IRQ_FALLING": "yes",
    },
    "machine.Signal": {
        "value": "yes",
        "on": "yes",
        "off": "yes",
    },
    "machine.SoftI2C": {
        "init": "yes",
        "scan": "yes",
        "start": "not modelled: the bench's bus moves whole transfers",
        "stop": "not modelled: as start",
        "readinto": "not modelled: as start",
        "write": "not modelled: as start",
        "readfrom": "yes",
        "readfrom_into": "yes",
        "writeto": "yes",
        "writevto": "yes",
        "readfrom_mem": "yes",
        "readfrom_mem_into": "yes",
        "writeto_mem": "yes",
    },
    "machine.SoftSPI": _SPI,
    "machine.SPI": _SPI,
    "machine.ADC": {
        "read_u16": "yes",
        "read": "yes",
    },
    "machine.PWM": {name: "not modelled: no PWM on the bench"
                    for name in ("init", "deinit", "freq", "duty", "duty_u16", "duty_ns")},
    "machine.UART": {name: "not modelled: no UART object"
                     for name in ("init", "deinit", "flush", "read", "readline", "readinto", "write", "any",
                                  "txdone")},
    "machine.RTC": {
        "datetime": "yes",
        "memory": "yes",
        "alarm": "not modelled: no deep sleep to wake from",
        "alarm_left": "not modelled: as alarm",
        "irq": "not modelled: as alarm",
        "ALARM0": "yes",
    },
    "machine.WDT": {
        "feed": "yes",
    },
    "machine.Timer": {name: "not modelled: no hardware timers on the bench"
                      for name in ("deinit", "init", "ONE_SHOT", "PERIODIC")},
    "network": {
        "country": "yes: the bench's, kept at a soft reboot, 'XX' again at a reset",
        "hostname": "yes: the bench's, kept at a soft reboot, 'mpy-esp8266' again at a reset",
        "WLAN": "yes",
        "phy_mode": "not modelled: the bench's radio has no PHY mode",
        "ipconfig": "not modelled: the bench's addresses are fixed (see WLAN.ifconfig)",
        "STA_IF": "yes",
        "AP_IF": "yes",
        "STAT_IDLE": "yes",
        "STAT_CONNECTING": "yes",
        "STAT_WRONG_PASSWORD": "yes",
        "STAT_NO_AP_FOUND": "yes",
        "STAT_CONNECT_FAIL": "yes",
        "STAT_GOT_IP": "yes",
        "MODE_11B": "yes",
        "MODE_11G": "yes",
        "MODE_11N": "yes",
        "AUTH_OPEN": "yes",
        "AUTH_WEP": "yes",
        "AUTH_WPA_PSK": "yes",
        "AUTH_WPA2_PSK": "yes",
        "AUTH_WPA_WPA2_PSK": "yes",
    },
    "network.WLAN": {
        "active": "yes",
        "connect": "yes",
        "disconnect": "yes",
        "status": "yes: no argument, or 'rssi'",
        "scan": "yes: the bench's one access point, while it is up",
        "isconnected": "yes",
        "config": "yes: reads 'mac', 'ssid', 'essid', 'channel' (the bench access point's), 'protocol', 'pm', and on"
                  " the access point 'hidden' and 'authmode' (OSError 'AP required' elsewhere), on the station"
                  " 'hostname' and 'dhcp_hostname' (network.hostname()'s; OSError 'STA required' elsewhere);"
                  " of the settings, 'hostname' and 'dhcp_hostname' set network.hostname(), the others are"
                  " accepted and change nothing",
        "ifconfig": "yes: the station's address is the host's loopback, the access point's 192.168.4.1; "
                    "a new one is accepted and changes nothing",
        "ipconfig": "not modelled: as network.ipconfig",
        "IF_STA": "yes",
        "IF_AP": "yes",
        "SEC_OPEN": "yes",
        "SEC_WEP": "yes",
        "SEC_WPA": "yes",
        "SEC_WPA2": "yes",
        "SEC_WPA_WPA2": "yes",
        "PM_NONE": "yes",
        "PM_PERFORMANCE": "yes",
        "PM_POWERSAVE": "yes",
    },
    "esp": {
        "osdebug": "yes: there is no SDK output to turn on or off",
        "sleep_type": "not modelled: the bench's radio does not sleep",
        "deepsleep": "not modelled: as machine.deepsleep",
        "flash_id": "yes: a Winbond W25Q32's (boards carry several makers' chips)",
        "flash_read": "not modelled: the virtual board's flash is a folder, or an image of the LittleFS partition "
                      "alone, not a chip",
        "flash_write": "not modelled: as flash_read",
        "flash_erase": "not modelled: as flash_read",
        "flash_size": "yes: a 4 MB board's",
        "flash_user_start": "not modelled: it depends on the firmware image's size",
        "apa102_write": "not modelled: no APA102 LEDs on the bench",
        "freemem": "not modelled: the SDK's heap, which the virtual board does not have",
        "meminfo": "not modelled: as freemem",
        "check_fw": "not modelled: no firmware image to check",
        "malloc": "not modelled: as freemem",
        "free": "not modelled: as freemem",
        "esf_free_bufs": "not modelled: as freemem",
        "set_native_code_location": "not modelled: the unix port runs no Xtensa code",
        "SLEEP_NONE": "yes",
        "SLEEP_LIGHT": "yes",
        "SLEEP_MODEM": "yes",
    },
    "os": {
        "sync": "yes: every write is already in the host's file",
        "uname": "yes: an ESP8266's answer, with the interpreter's version",
        "urandom": "yes",
        "sep": "yes",
        "chdir": "yes",
        "getcwd": "yes",
        "listdir": "yes",
        "mkdir": "yes",
        "remove": "yes",
        "rename": "yes",
        "rmdir": "yes",
        "unlink": "yes",
        "stat": "yes: as LittleFS answers (the type, the size, the time from 2000: the host's time of the write)",
        "statvfs": "yes: a 763-block LittleFS: LittleFS's own (flash=\"littlefs\"), or worked out from the board "
                   "folder",
        "dupterm": "yes: kept in the shim (slot 0 is not WebREPL's)",
        "dupterm_notify": "yes: what the streams give is typed on the serial line",
        "ilistdir": "yes: (name, type, 0, size), as LittleFS",
        "mount": "yes",
        "umount": "yes",
        "VfsFat": "yes",
        "VfsLfs2": "yes",
    },
    "time": {
        "gmtime": "yes",
        "localtime": "yes",
        "mktime": "yes",
        "time": "yes",
        "time_ns": "yes",
        "sleep": "yes",
        "sleep_ms": "yes",
        "sleep_us": "yes",
        "ticks_ms": "yes",
        "ticks_us": "yes",
        "ticks_cpu": "yes: the host's count, not the CPU's cycles",
        "ticks_add": "yes",
        "ticks_diff": "yes",
    },
}

# What the virtual board has that a board does not, and why.
OWN = {}

# How the device makes an object of each class the virtual board has (its methods are asked of the bench).
MAKE = {
    "machine.Pin": "machine.Pin(5)",
    "machine.Signal": "machine.Signal(machine.Pin(5))",
    "machine.SoftI2C": "machine.SoftI2C(scl=machine.Pin(5), sda=machine.Pin(4))",
    "machine.SoftSPI": "machine.SoftSPI(sck=machine.Pin(14), mosi=machine.Pin(13), miso=machine.Pin(12))",
    "machine.SPI": "machine.SPI(1)",
    "machine.ADC": "machine.ADC(0)",
    "machine.RTC": "machine.RTC()",
    "machine.WDT": "machine.WDT()",
    "network.WLAN": "network.WLAN(network.STA_IF)",
}

DOC = Path(__file__).resolve().parents[2] / "docs" / "esp8266-modules.md"


def provided(note):
    return note == "yes" or note.startswith("yes: ")


def counts():
    """{module or class: (names on a board, provided, missing)}"""
    return {k: (len(v), sum(provided(n) for n in v.values()), sum(not provided(n) for n in v.values()))
            for k, v in MODULES.items()}


def tables():
    """The document's tables, one a module or class, from the data."""
    out = []
    for where, names in MODULES.items():
        board, have, lack = counts()[where]
        out += ["### `%s`" % where, "", "%d names on a board; the virtual board has %d, lacks %d." % (
            board, have, lack), "", "| name | on the board | on the virtual board | note |", "|---|---|---|---|"]
        for name, note in names.items():
            yes = provided(note)
            out.append("| `%s` | yes | %s | %s |" % (name, "yes" if yes else "no", note[5:] if yes else note))
        for name, why in OWN.get(where, {}).items():
            out.append("| `%s` | no | yes | %s |" % (name, why))
        out.append("")
    return "\n".join(out)


BEGIN, END = "<!-- tables: python -m tools.vboard.esp8266_api -->", "<!-- end of tables -->"


def write():
    """Put the tables between the markers of docs/esp8266-modules.md."""
    text = DOC.read_text()
    head, rest = text.split(BEGIN)
    DOC.write_text(head + BEGIN + "\n\n" + tables() + "\n" + END + rest.split(END)[1])


if __name__ == "__main__":
    write()
