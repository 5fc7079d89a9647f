"""The virtual board's LittleFS flash as the host reads and writes it (Bench(..., flash="littlefs")): an image file of
the 4 MB NodeMCU's filesystem partition, formatted and mounted with the parameters MicroPython's `vfs.VfsLfs2` uses
on the ESP8266, so the board's interpreter and the host read each other's files. Only while no device process runs:
the board's mount keeps state of its own in its heap (docs/virtual-board.md)."""
import os
import time
from pathlib import Path

from littlefs import LittleFS, LittleFSError, UserContext

from .bench import FS_BLOCK, FS_BLOCKS
# extmod/vfs_lfs.c and vfs_lfsx.c: VfsLfs2(bdev) and VfsLfs2.mkfs(bdev) with their defaults (readsize, progsize and
# lookahead 32), a cache of 4 times the larger of read and program size, wear levelling every 100 erases.
PARAMS = {"block_size": FS_BLOCK, "block_count": FS_BLOCKS, "read_size": 32, "prog_size": 32, "lookahead_size": 32,
          "cache_size": 128, "block_cycles": 100}
LFS_TYPE_DIR = 2  # lfs.h: a folder, in a stat's type
ATTR_MTIME = 1  # extmod/vfs_lfs.c: a file's time, 8 bytes little-endian, nanoseconds since 1970


class Image:
    """A LittleFS image file, mounted in the host's memory for the time of a `with`; written back (whole, by a
    rename) at its end if anything changed. format=True makes a fresh, formatted one."""

    def __init__(self, path, format=False):
        self.path = Path(path)
        self._format = format

    def __enter__(self):
        if self._format:
            self._ctx = UserContext(buffsize=FS_BLOCK * FS_BLOCKS)
            self.fs = LittleFS(context=self._ctx, mount=False, **PARAMS)
            self.fs.format()
        else:
            self._ctx = UserContext(buffer=bytearray(self.path.read_bytes()))
            self.fs = LittleFS(context=self._ctx, mount=False, **PARAMS)
        self._before = None if self._format else bytes(self._ctx.buffer)
        try:
            self.fs.mount()
        except LittleFSError as e:
            raise OSError("%s holds no LittleFS the board could mount (%s): remove it, and the board's flash is made "
                          "again from its folder" % (self.path, e)) from None
        return self

    def __exit__(self, exc, *_):
        self.fs.unmount()
        if exc is None and bytes(self._ctx.buffer) != self._before:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_bytes(self._ctx.buffer)
            os.replace(tmp, self.path)

    def read(self, path):
        with self.fs.open(path, "rb") as f:
            return f.read()

    def write(self, path, data):
        """Write a file (its folders made as needed), with its time as the board's VfsLfs2 keeps it."""
        parent = path.rsplit("/", 1)[0]
        if parent.strip("/"):
            self.fs.makedirs(parent, exist_ok=True)
        with self.fs.open(path, "wb") as f:
            f.write(data)
        self.fs.setattr(path, ATTR_MTIME, time.time_ns().to_bytes(8, "little"))

    def listdir(self, path="/"):
        return sorted(self.fs.listdir(path))

    def exists(self, path):
        try:
            self.fs.stat(path)
            return True
        except LittleFSError:
            return False

    def remove(self, path):
        """Remove a file, or a folder and all it holds; nothing when there is none."""
        if not self.exists(path):
            return
        if self.fs.stat(path).type == LFS_TYPE_DIR:
            for name in self.fs.listdir(path):
                self.remove(path.rstrip("/") + "/" + name)
        self.fs.remove(path)

    def copy_in(self, folder):
        """Put a host folder's files and folders on the image, as a flasher would."""
        folder = Path(folder)
        for p in sorted(folder.rglob("*")):
            rel = "/" + p.relative_to(folder).as_posix()
            if p.is_dir():
                self.fs.makedirs(rel, exist_ok=True)
            elif p.is_file():
                self.write(rel, p.read_bytes())
