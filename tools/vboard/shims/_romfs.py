# The ROMFS partition of an ESP8266 FLASH_2M_ROMFS build on the virtual board: `vfs.rom_ioctl` answers as that
# port's does (one partition, erase and write), and at_start() mounts it at /rom as the port does at start-up.
# The partition is a file beside the board folder (flash: it survives power cuts). The chip maps it into its
# address space; here it is read into one buffer that the bench counts with the shims, outside the firmware's heap.
# _boot.py imports this before the board folder replaces the host's /, so the file stays open.
import gc
import sys
import uctypes
import uos
import vfs as _vfs
from _wire import go

_f = open(uos.getenv("VBOARD_ROMFS"), "r+b")
_f.seek(0, 2)
_n = _f.tell()
_rom = bytes(_n)  # what the firmware sees: read-only, as memory-mapped flash is
_mem = uctypes.bytearray_at(uctypes.addressof(_rom), _n)  # the way the flash writes below reach it
_f.seek(0)
_f.readinto(_mem)
_seg = memoryview(_rom)


def rom_ioctl(op, *a):
    if op == 1:  # how many ROM partitions
        return 1
    if op == 2:  # the partition (the port has one, whatever the number asked)
        return _seg
    if op == 3:  # prepare a write of a[1] bytes: erase whole 4 KB sectors from the start
        n = min(_n, (a[1] + 4095) // 4096 * 4096)
        for i in range(n):
            _mem[i] = 255
        _save(0, n)
        return 4  # the smallest write
    if op == 4 and a[1] + len(a[2]) <= _n:  # write a[2] at offset a[1]: flash bits only go from 1 to 0
        o, b = a[1], a[2]
        for i in range(len(b)):
            _mem[o + i] &= b[i]
        _save(o, len(b))
        go("f romw", (), {})  # the bench counts the writes (a test may pull the plug after one)
        return 0
    return -22  # EINVAL, for anything else (the port has no "write complete" step)


def _save(o, n):
    _f.seek(o)
    _f.write(_seg[o:o + n])


def at_start():
    """As the port at start-up: mount the partition at /rom if it holds a ROMFS, then put /rom and /rom/lib on
    sys.path after .frozen (so before /lib)."""
    try:
        _vfs.mount(_vfs.VfsRom(_seg), "/rom")
        i = sys.path.index(".frozen") + 1
        sys.path[i:i] = ["/rom", "/rom/lib"]
    except Exception:
        pass
    gc.collect()  # what this module left over goes before the rest of the start-up allocates


# `import vfs` gives this module from now on: the built-in's names, and rom_ioctl
for _k in dir(_vfs):
    if _k[0] != "_":
        globals()[_k] = getattr(_vfs, _k)
sys.modules["vfs"] = sys.modules[__name__]
