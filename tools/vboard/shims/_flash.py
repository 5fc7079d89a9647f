# The board's flash as LittleFS, when the bench asks for it (Bench(..., flash="littlefs"): VBOARD_FLASH names an image
# of the 4 MB NodeMCU's filesystem partition, beside the board folder). A block device over that file, as the
# ESP8266 port's flashbdev is over its flash, which mount() puts at / with vfs.VfsLfs2 as the port's _boot.py does.
# _boot.py imports this before the host's / goes, so the file stays open. Its methods run on the board's heap, called
# from C at every block LittleFS reads or programs, as flashbdev's are on the chip.
import uos
import vfs
from _wire import go

SEC_SIZE = 4096
_ERASED = b"\xff" * 512  # an erased sector is written in pieces of this
_f = open(uos.getenv("VBOARD_FLASH"), "r+b")  # the unix port's files are unbuffered: each write is in the host's file
_cut = int(uos.getenv("VBOARD_FLASH_CUT") or 0)  # the program (counted from 1 in this boot) the plug is pulled in


class FlashBdev:
    def __init__(self, blocks):
        self.blocks = blocks
        self.writes = 0

    def readblocks(self, n, buf, off=0):
        _f.seek(n * SEC_SIZE + off)
        _f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:  # the old protocol: whole sectors, erased first (as flashbdev does)
            self.ioctl(6, n)
            off = 0
        self.writes += 1
        _f.seek(n * SEC_SIZE + off)
        if self.writes == _cut:  # a power cut in the middle of this program: its first half reached the flash
            _f.write(memoryview(buf)[:len(buf) // 2])
            go("f flashcut", (), {})  # the bench kills this process before it answers
        _f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:  # MP_BLOCKDEV_IOCTL_BLOCK_COUNT
            return self.blocks
        if op == 5:  # MP_BLOCKDEV_IOCTL_BLOCK_SIZE
            return SEC_SIZE
        if op == 6:  # MP_BLOCKDEV_IOCTL_BLOCK_ERASE: the ESP8266's flash erases a sector to 0xFF
            _f.seek(arg * SEC_SIZE)
            for _ in range(SEC_SIZE // len(_ERASED)):
                _f.write(_ERASED)
            return 0
        return None  # init, deinit, sync: nothing to do (as flashbdev)


def mount():
    """Mount the image's LittleFS at /, as the port's _boot.py does; an image that holds none is formatted first, as
    the port's inisetup does at a board's first boot (without the boot.py it writes)."""
    _f.seek(0, 2)
    bdev = FlashBdev(_f.tell() // SEC_SIZE)
    try:
        vfs.mount(vfs.VfsLfs2(bdev), "/")  # the port lets vfs.mount find which filesystem: LittleFS v2 here
    except OSError:
        vfs.VfsLfs2.mkfs(bdev)
        vfs.mount(vfs.VfsLfs2(bdev), "/")
