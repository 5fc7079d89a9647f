"""The real mpremote, over the virtual board's serial port (socket://), as a person debugging a board would use it.
The boards' flash is a real LittleFS (flash="littlefs"): sizes, free space and files are LittleFS's own."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ready

from tools.build import IMAGE, build
from tools.vboard.bench import FS_BLOCK, FS_BLOCKS

MPREMOTE = str(Path(sys.executable).parent / "mpremote")


def mpremote(bench, *args, timeout=30):
    r = subprocess.run([MPREMOTE, "connect", "socket://127.0.0.1:%d" % bench.serial.port, *args],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def lfs_board(vboard, config=None, **kw):
    return vboard(config, flash="littlefs", **kw)


def test_mpremote_lists_copies_and_runs_code(vboard, tmp_path):
    config = {"name": "desk-strip", "stagger_ms": 0}
    b = lfs_board(vboard, config)
    ready(b)
    listing = mpremote(b, "fs", "ls", ":")
    for name in ("boot.py", "main.py", "config.json", "lib/"):
        assert name in listing
    size = len(json.dumps(config))  # config.json as written: its size, as LittleFS lists it
    assert "%12d config.json" % size in listing.splitlines()
    assert "firmware/" in mpremote(b, "fs", "ls", ":rom/lib")  # the reference board runs it from ROMFS
    src = tmp_path / "notes.txt"
    src.write_text("tap badge 4\n")
    mpremote(b, "fs", "cp", str(src), ":notes.txt")
    assert "Up to date: notes.txt" in mpremote(b, "fs", "cp", str(src), ":notes.txt")  # unchanged: not copied again
    assert mpremote(b, "fs", "cat", ":notes.txt") == "tap badge 4\n"
    assert "          12 notes.txt" in mpremote(b, "fs", "ls", ":").splitlines()
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(10000))  # three blocks and some: back whole
    mpremote(b, "fs", "cp", str(blob), ":blob.bin")
    mpremote(b, "fs", "cp", ":blob.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == blob.read_bytes()
    assert "       10000 blob.bin" in mpremote(b, "fs", "ls", ":").splitlines()
    assert mpremote(b, "exec", "print(6 * 7)").strip() == "42"
    script = tmp_path / "probe.py"
    script.write_text("from firmware.repl import *\non(2)\n")
    assert "2 Outlet 2: on (repl)" in mpremote(b, "run", str(script))
    assert b.relays() == [False, True, False, False, False, False]
    b.power_cut()  # what mpremote wrote is on the board's flash, read back by the host
    assert b.flash_read("/notes.txt") == b"tap badge 4\n" and b.flash_read("/blob.bin") == blob.read_bytes()
    assert json.loads(b.flash_read("/config.json")) == config


def test_mpremote_df_shows_the_boards_littlefs(vboard, tmp_path):
    """mpremote df: the 763 blocks of 4 KB of a 4 MB NodeMCU's LittleFS (3,052 KB), not the host's disk; a file
    copied to the board takes its blocks, and gives them back when removed."""
    b = lfs_board(vboard, {})
    ready(b)

    def df():
        for line in mpremote(b, "df").splitlines():
            m = re.fullmatch(r"(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+/", line)
            if m:
                assert m.group(1) == "<VfsLfs2>", line
                return [int(x) for x in m.groups()[1:]]
        raise AssertionError("no / in mpremote df")

    size, used, avail = df()
    assert size == FS_BLOCKS * FS_BLOCK and size // 1024 == 3052 and used + avail == size
    assert used < 100 * FS_BLOCK  # the firmware's few files (its modules are in ROMFS)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(40 * 1024))
    mpremote(b, "fs", "cp", str(big), ":big.bin")
    size2, used2, avail2 = df()
    assert size2 == size and used2 - used >= 10 * FS_BLOCK  # 40 KB: ten blocks at least
    mpremote(b, "fs", "rm", ":big.bin")
    assert df()[1] <= used + 2 * FS_BLOCK  # the blocks are free again (LittleFS may keep a metadata block more)


def test_mpremote_soft_reset_boots_again_and_does_not_count_as_a_failed_boot(vboard):
    b = lfs_board(vboard, {})
    ready(b)
    for _ in range(5):  # more than the 3 failed boots that give safe mode
        mpremote(b, "soft-reset")
    assert mpremote(b, "exec", "import firmware.early as e; print(e.safe)").strip() == "None"
    m = b.serial.mark()
    mpremote(b, "reset")  # machine.reset(): the board boots and starts the app, boot messages on the port
    b.serial.expect(r"multiprise 0\.1\.0, reset cause 4, boot 1 in a row", 10, since=m)
    ready(b, since=m)


def test_the_readme_deploy_puts_the_app_on_an_empty_board(vboard, tmp_path):
    """docs/deploy.md, "Plain mpremote": the built image and a config copied with mpremote onto stock MicroPython."""
    build()
    b = lfs_board(vboard, None, romfs=None, start=False)
    for p in list(b.board_dir.iterdir()):  # stock firmware just flashed: an empty filesystem
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    b.start()
    b.serial.expect(r">>> $", 10, since=0)
    assert mpremote(b, "fs", "ls", ":").splitlines() == ["ls :"]
    cfg = tmp_path / "config.json"
    cfg.write_text('{"name": "desk-strip"}')
    mpremote(b, "fs", "cp", "-r", str(IMAGE / "lib"), str(IMAGE / "boot.py"), str(IMAGE / "main.py"), ":",
             "+", "fs", "cp", str(cfg), ":config.json", "+", "soft-reset", "+", "exec", "--no-follow", "import main",
             timeout=60)
    ready(b)
    assert "desk-strip 0.1.0" in b.command("status", expect=r"6 Outlet 6[^\n]*\n")


def test_mpremote_mount_needs_more_heap_than_the_board_has_at_its_repl_and_touches_no_outlet(vboard, tmp_path):
    """docs/deploy.md, "mpremote mount": mpremote's helper is compiled on the board, and needs about 30 KB free at the
    REPL; with the firmware's boot.py an ESP8266 has about 28 (32-bit build at 38,912: 27,856), so the mount fails with
    a MemoryError, and the outlets stay as they were."""
    (tmp_path / "hello.py").write_text("print('hello from the host')\n")
    b = lfs_board(vboard, {})
    ready(b)
    b.command("on 2", expect=r"outlet 2 on")
    r = subprocess.run([MPREMOTE, "connect", "socket://127.0.0.1:%d" % b.serial.port, "mount", str(tmp_path), "exec",
                        "import hello"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "MemoryError" in r.stderr, (r.stdout, r.stderr)
    assert b.relays() == [False, True, False, False, False, False]


def test_mpremote_mount_carries_every_byte_value_with_its_interrupt_character_off(vboard, tmp_path):
    """mpremote's mount sends sizes, times and file data in binary after `micropython.kbd_intr(-1)`: a 0x03 byte among
    them is data, as on an ESP8266, not a Ctrl-C (a board with heap enough for the mount: docs/deploy.md)."""
    blob = bytes(range(256)) * 4
    (tmp_path / "blob.bin").write_bytes(blob)
    (tmp_path / "check.py").write_text("print('same' if open('blob.bin', 'rb').read() == bytes(range(256)) * 4"
                                       " else 'differs')\n")
    for f in (tmp_path / "blob.bin", tmp_path / "check.py", tmp_path):
        os.utime(f, (0x03030303, 0x03030303))  # a time of 0x03 bytes
    b = lfs_board(vboard, {}, heap="64k")
    ready(b)
    b.command("on 2", expect=r"outlet 2 on")
    assert "same" in mpremote(b, "mount", str(tmp_path), "exec", "import check", timeout=120)
    assert b.relays() == [False, True, False, False, False, False]
