"""The heap the virtual board gives the firmware, stated for the chip: the ESP8266's 38,912 bytes on a 32-bit
interpreter, a calibrated cap on the 64-bit one, less what a real board keeps before boot.py (docs/heap.md)."""
import codecs
import functools
import os
import subprocess
import sys
from pathlib import Path

from tools.build import mpy_vuint

MICROPYTHON = os.environ.get("MICROPYTHON") or str(Path(sys.executable).parent / "micropython")
CHIP_HEAP = 38912  # ports/esp8266/main.c: static char heap[38 * 1024]
# The 64-bit unix port's cap at which the running app's steady free heap is the 32-bit build's at CHIP_HEAP, with
# the same firmware (docs/heap.md, "Calibration"). Byte buffers cost the same on both and objects with pointers
# cost more on 64 bits, so the CI board is never easier than the chip. Re-derive it with `make bench
# MICROPYTHON=<32-bit build>` whenever that run's `heap.calibration_gap` passes 1 KB.
CAP_64 = 55168
# What a board with the metering chip adds to it: meter.py and its driver stay resident, their globals and lists
# cost the 64-bit board about twice what they cost the chip, and their requests' peaks
# find a heap in smaller pieces. The least addition at which the 64-bit board runs the page scenario with the chip
# as the 32-bit build runs it at CHIP_HEAP: every tap, command and NTP request done (docs/heap.md, "Calibration").
METER_64 = 5248
# What a board holds before boot.py and the unix port does not (measured on ESP8266 boards, 32-bit bytes): the
# LittleFS mount, and flashbdev with its block device object. A board on a real LittleFS (Bench(..., flash="littlefs"))
# mounts it before the runner's calibration: the interpreter's mount is counted with the shims and given back, so
# these stand for the chip's once on every board.
BOARD_KEEPS = {"littlefs_mount": 640, "flashbdev": 750}
# Names (qstrs) not in the ESP8266's ROM live in pools that the port allocates as it needs them (py/qstr.c): the
# first of 20 entries, each next one twice the last; a pool of n entries takes 24 + 7n bytes on the ESP8266 (a
# pointer, 2 bytes of hash and 1 of length an entry: MICROPY_QSTR_BYTES_IN_HASH is 2 at its ROM level), in the
# GC's blocks of 16 bytes.
POOL_FIRST, POOL_HEAD, POOL_ENTRY, BLOCK = 20, 24, 7, 16
ROM_NAMES = Path(__file__).with_name("esp8266_rom_qstrs.txt")  # docs/heap.md: how the list was made


@functools.cache
def word_bits(micropython=MICROPYTHON):
    """32 or 64: the interpreter's pointer width."""
    r = subprocess.run([micropython, "-c", "import sys;print(sys.maxsize)"], capture_output=True, text=True,
                       check=True)
    return 32 if int(r.stdout) < 2 ** 32 else 64


def reference_heap(micropython=MICROPYTHON, meter=False):
    """The heap cap that stands for an ESP8266's on this interpreter (with a metering chip on the bench: meter)."""
    return CHIP_HEAP if word_bits(micropython) == 32 else CAP_64 + (METER_64 if meter else 0)


def scaled(heap, micropython=MICROPYTHON):
    """A heap stated for the 64-bit board (the tests' "64k" board for the firmware in /lib, "24k" too small), as
    the same board on this interpreter."""
    return heap if word_bits(micropython) == 64 else heap * CHIP_HEAP // CAP_64


def pools_bytes(names):
    """Heap the ESP8266's pools take to hold this many names."""
    total, size, held = 0, POOL_FIRST, 0
    while held < names:
        total += -(-(POOL_HEAD + POOL_ENTRY * size) // BLOCK) * BLOCK
        held += size
        size *= 2
    return total


@functools.cache
def rom_names():
    return {codecs.decode(s, "unicode_escape") if "\\" in s else s for s in ROM_NAMES.read_text().splitlines()}


def mpy_names(data):
    """The names (qstrs) a .mpy file interns when it loads, leaving out the ones every port has in ROM."""
    if data[:2] != b"M\x06":
        raise ValueError("not a .mpy of format 6")

    i = 4
    count, i = mpy_vuint(data, i)
    _, i = mpy_vuint(data, i)  # the constants' count
    names = set()
    for _ in range(count):
        n, i = mpy_vuint(data, i)
        if n & 1:  # a static name: in every port's ROM
            continue
        names.add(data[i:i + (n >> 1)].decode("utf-8", "replace"))
        i += (n >> 1) + 1
    return names


def firmware_names(files):
    """The names these .mpy files intern on an ESP8266: those of theirs that are not in its ROM."""
    names = set()
    for f in files:
        names |= mpy_names(Path(f).read_bytes())
    return names - rom_names()


def board_charge(names):
    """What a board holds before boot.py that the virtual board's interpreter does not, in bytes."""
    return sum(BOARD_KEEPS.values()) + pools_bytes(names)
